"""The msgspec mirrors read nothing the pydantic models refuse, and what they read is the same event."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from stream.codec import BatchDecoder
from stream.codec_fast import MIRRORS, FastFeatureEvent, FastLabelEvent, FastPredictionEvent, FastReader
from stream.events import FeatureEvent, LabelEvent, PredictionEvent


def typed(value: Any) -> Any:
    """A value with the type of every part spelled out: 1.0 and 1 and True differ, as they do to the monitors."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), value.utcoffset())
    return (type(value).__name__, value)


def fields(event: Any) -> dict[str, Any]:
    """The fields of a model or of its mirror, typed."""
    if isinstance(event, BaseModel):
        return {name: typed(getattr(event, name)) for name in type(event).model_fields}
    return {name: typed(getattr(event, name)) for name in event.__struct_fields__}


def mirror_reads(event_type: type[BaseModel], raw: bytes) -> Any | None:
    """The event the mirror reads from one message, or None where it leaves the message to the model."""
    events, _, _ = FastReader(event_type).decode([raw], 1_000_000)
    return events[0] if events else None


def model_reads(event_type: type[BaseModel], raw: bytes) -> BaseModel | None:
    try:
        return TypeAdapter(event_type).validate_json(raw)
    except ValidationError:
        return None


def test_each_mirror_has_exactly_its_models_fields():
    """A field added to the contract must be added to its mirror, or the mirror would refuse every event that has it."""
    for model, mirror in MIRRORS.items():
        assert set(mirror.__struct_fields__) == set(model.model_fields), model.__name__


def test_the_usual_messages_take_the_mirror():
    t = "2026-01-01T00:00:00.123456+00:00"
    usual = {
        FeatureEvent: {"event_id": "e", "model_id": "m", "timestamp": t, "features": {"x": 1.5, "n": 2, "c": "a"}},
        PredictionEvent: {"event_id": "e", "model_id": "m", "timestamp": t, "model_version": "v2", "prediction": 1,
                          "score": 0.7, "probabilities": {"0": 0.3, "1": 0.7}, "segment": {"country": "BR"}},
        LabelEvent: {"event_id": "e", "model_id": "m", "timestamp": t, "label": True},
    }
    mirrors = {FeatureEvent: FastFeatureEvent, PredictionEvent: FastPredictionEvent, LabelEvent: FastLabelEvent}
    for model, obj in usual.items():
        decoded = BatchDecoder(model).decode([orjson.dumps(obj)])
        assert [type(e) for e in decoded.events] == [mirrors[model]]
        assert fields(decoded.events[0]) == fields(model.model_validate_json(orjson.dumps(obj)))


# Messages the contract takes, and the same with one field refused or coerced (or missing, or one
# too many). Either reading could get the edges wrong: integers past 64 bits, times past the
# microsecond, lengths in characters, escaped text.
_scalar = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.integers(2**63, 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4), st.none())
_number = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False))
_not_a_number = st.one_of(st.just("1.5"), st.booleans(), st.text(max_size=2), st.just(1e400), st.just([1]))
_not_a_value = st.one_of(st.lists(st.integers(-5, 5), max_size=2), st.just({"a": 1}), st.just(1e400))
_stamp = st.one_of(st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(lambda d: d.isoformat()),
                   st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01 00:00:00+02:00", "2026-01-01t00:00:00z",
                                    "2026-01-01T00:00:00.1234567Z", "2026-01-01T00:00:00.9999999Z",
                                    "2026-01-01T00:00Z", "2026-01-01T00:00:00-00:00", "2026-01-01T00:00:00+0100"]))
_not_a_stamp = st.one_of(st.sampled_from(["2026-01-01T00:00:00,5Z", "2026-01-01", "2026-01-01T23:59:60Z",
                                          "1767225600", "2026-01-01T00:00:00+24:00", "2026-13-01T00:00:00Z",
                                          "yesterday", ""]),
                         st.integers(0, 2**33), st.floats(0, 2e9, allow_nan=False), st.none())
_id = st.one_of(st.text(min_size=1, max_size=5), st.sampled_from(["x" * 256, "é" * 256, "😀" * 256]))
_not_an_id = st.one_of(st.sampled_from(["", "x" * 257, "😀" * 257]), st.integers(0, 9), st.none())
_values = st.dictionaries(st.text(max_size=4), _scalar, max_size=6)
_not_values = st.one_of(st.none(), st.just([1]), st.dictionaries(st.text(max_size=4), _not_a_value, min_size=1))
_segment = st.dictionaries(st.text(max_size=4), st.one_of(st.text(max_size=3), st.booleans(), _number), max_size=3)
_not_a_segment = st.one_of(st.just([1]), st.dictionaries(st.text(max_size=4), st.one_of(st.none(), _not_a_value),
                                                         min_size=1))
_COMMON = {"event_id": (_id, _not_an_id), "model_id": (_id, _not_an_id), "timestamp": (_stamp, _not_a_stamp),
           "schema_version": (st.just(1), st.sampled_from([1.0, 2, "1", True, None]))}
_ROLES = {   # per model: its fields, each (taken, refused or coerced), and which of them may be left out
    FeatureEvent: ({"features": (_values, _not_values), "segment": (_segment, _not_a_segment)},
                   {"schema_version", "segment"}),
    PredictionEvent: ({"prediction": (st.one_of(st.booleans(), _number, st.text(max_size=3)), _not_a_value),
                       "model_version": (_id, _not_an_id), "score": (_number, _not_a_number),
                       "probabilities": (st.dictionaries(st.text(max_size=3), _number, max_size=3), _not_values),
                       "features": (_values, _not_values), "segment": (_segment, _not_a_segment)},
                      {"schema_version", "model_version", "score", "probabilities", "features", "segment"}),
    LabelEvent: ({"label": (st.one_of(st.booleans(), _number, st.text(max_size=3)), _not_a_value)},
                 {"schema_version"}),
}


@st.composite
def messages(draw, model: type[BaseModel]) -> bytes:
    own, optional = _ROLES[model]
    spec = _COMMON | own
    obj = {k: draw(taken) for k, (taken, _) in spec.items() if k not in optional or draw(st.booleans())}
    change = draw(st.sampled_from(["nothing", "refuse", "drop", "add"]))
    field = draw(st.sampled_from(sorted(spec)))
    if change == "refuse":
        obj[field] = draw(spec[field][1])
    elif change == "drop":
        obj.pop(field, None)
    elif change == "add":
        obj["unexpected"] = 1
    return json.dumps(obj, ensure_ascii=draw(st.booleans())).encode()   # json: integers past 64 bits too


@pytest.mark.parametrize("model", [FeatureEvent, PredictionEvent, LabelEvent], ids=["features", "predictions", "labels"])
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_what_a_mirror_reads_the_model_reads_as_the_same_event(model, data):
    raw = data.draw(messages(model))
    mirrored = mirror_reads(model, raw)
    if mirrored is not None:
        validated = model_reads(model, raw)
        assert validated is not None, f"the mirror read a message the model refuses: {raw!r}"
        assert fields(mirrored) == fields(validated)


@pytest.mark.parametrize("stamp", ["2026-01-01T00:00:00.1234567Z", "2026-01-01T00:00:00.9999999+02:00",
                                   "2026-01-01T00:00:00.123456\\u0037Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z"])
def test_event_times_are_parsed_as_the_model_parses_them(stamp):
    """msgspec's own parser rounds digits past the microsecond where pydantic's truncates: the mirror reads text."""
    raw = b'{"event_id":"e","model_id":"m","timestamp":"%s","features":{}}' % stamp.encode()
    decoded = BatchDecoder(FeatureEvent).decode([raw])
    assert [fields(e) for e in decoded.events] == [fields(FeatureEvent.model_validate_json(raw))]
    assert decoded.events[0].timestamp.tzinfo is not None


def test_messages_the_mirror_leaves_are_read_by_the_model_in_their_place():
    def message(i: int, stamp: Any, x: Any = 1.0) -> bytes:
        return orjson.dumps({"event_id": str(i), "model_id": "m", "timestamp": stamp, "features": {"x": x}})

    values = [message(0, "2026-01-01T00:00:00Z"),
              message(1, 1767225600),                         # a Unix time: the model's, not the mirror's
              message(2, "2026-01-01T00:00:02Z", x="7"),
              message(3, "2026-02-30T00:00:00Z"),              # no such day: refused, with its reason
              message(4, "2026-01-01T00:00:04Z"),
              message(5, "2026-01-01T00:00:05Z", x=[1])]       # refused by both
    decoded = BatchDecoder(FeatureEvent).decode(values)
    assert decoded.indices == [0, 1, 2, 4]
    assert [e.event_id for e in decoded.events] == ["0", "1", "2", "4"]
    assert [type(e) for e in decoded.events] == [FastFeatureEvent, FeatureEvent, FastFeatureEvent, FastFeatureEvent]
    assert decoded.events[1].timestamp == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert [(r.index, r.reason) for r in decoded.rejected] == [(3, "invalid_event"), (5, "invalid_event")]
    assert decoded.rejected[0].detail.startswith("timestamp:")


def test_mirrors_hold_no_cycle_so_the_collector_skips_them():
    event = msgspec.json.decode(b'{"event_id":"e","model_id":"m","timestamp":"t","features":{"x":1}}',
                                type=FastFeatureEvent)
    import gc
    assert not gc.is_tracked(event)

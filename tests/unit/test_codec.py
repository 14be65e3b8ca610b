"""Decoding a batch: valid events in order, every bad message singled out with its reason."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.codec import REASONS, BatchDecoder, encode
from stream.events import FeatureEvent, PredictionEvent
from tests.unit.test_codec_fast import fields

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def good(i: int) -> bytes:
    return encode(FeatureEvent(event_id=str(i), model_id="m", timestamp=T0, features={"x": float(i), "c": "a"}))


def test_each_kind_of_bad_message_gets_its_reason_and_the_rest_survive():
    values = [good(0), b"\xff\xfe", good(1), b"{", b"[1]", b'{"schema_version": 2}',
              b'{"event_id":"1","model_id":"m","timestamp":"2026-01-01T00:00:00Z","features":{"x":[1]}}',
              b'{"event_id":"1","model_id":"m","timestamp":"2026-01-01T00:00:00Z","features":{"x":NaN}}',
              b'{"event_id":"1","model_id":"m","timestamp":"2026-01-01T00:00:00Z","features":{"x":1e999}}',
              None, b"x" * 2000, good(2)]
    result = BatchDecoder(FeatureEvent, max_bytes=1000).decode(values)
    assert [e.event_id for e in result.events] == ["0", "1", "2"]
    assert result.indices == [0, 2, 11]
    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "invalid_utf8"), (3, "invalid_json"), (4, "not_an_object"), (5, "unknown_schema_version"),
        (6, "invalid_event"), (7, "invalid_json"), (8, "invalid_json"), (9, "invalid_json"), (10, "oversized")]
    assert "features.x" in result.rejected[4].detail


def test_a_missing_field_is_named():
    result = BatchDecoder(PredictionEvent).decode([b'{"event_id":"1","model_id":"m","timestamp":"2026-01-01T00:00:00Z"}'])
    assert result.rejected[0].reason == "invalid_event"
    assert result.rejected[0].detail.startswith("prediction: Field required")


def test_naive_timestamps_are_read_as_utc():
    raw = b'{"event_id":"1","model_id":"m","timestamp":"2026-01-01T00:00:00","features":{}}'
    assert BatchDecoder(FeatureEvent).decode([raw]).events[0].timestamp == T0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=60), st.integers(0, 50).map(good)), max_size=30))
def test_every_message_is_either_decoded_or_rejected_exactly_once(values):
    result = BatchDecoder(FeatureEvent).decode(values)
    positions = sorted(result.indices + [r.index for r in result.rejected])
    assert positions == list(range(len(values)))
    assert all(r.reason in REASONS for r in result.rejected)
    for event, i in zip(result.events, result.indices):
        assert orjson.loads(values[i])["event_id"] == event.event_id


_value = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=5), st.none(), st.lists(st.integers(-5, 5), max_size=2), st.just({"a": 1}))


@settings(max_examples=300, deadline=None)
@given(features=st.dictionaries(st.text(max_size=4), _value, max_size=6),
       stamp=st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00+02:00",
                              "2026-13-01T00:00:00Z", 1767225600, "yesterday"]),
       version=st.sampled_from([1, 1.0, 2, "1", None]),
       event_id=st.sampled_from(["e1", "", 7]))
def test_what_the_one_pass_path_accepts_the_step_by_step_path_accepts_as_the_same_event(features, stamp, version,
                                                                                       event_id):
    """Messages are read in one pass (the msgspec mirror, else pydantic's JSON mode); only refused ones
    go through orjson and the Python-mode validator. Both must agree, or a message could be accepted
    that the step-by-step contract refuses."""
    obj = {"event_id": event_id, "model_id": "m", "timestamp": stamp, "features": features}
    if version is not None:
        obj["schema_version"] = version
    raw = orjson.dumps(obj)
    decoder = BatchDecoder(FeatureEvent)
    fast = decoder.decode([raw])
    step_by_step = decoder._diagnose(raw)
    if fast.events:
        assert [fields(step_by_step)] == [fields(e) for e in fast.events]
    else:
        assert isinstance(step_by_step, tuple) and (fast.rejected[0].reason, fast.rejected[0].detail) == step_by_step


def test_feature_values_keep_their_json_types_in_both_validation_modes():
    raw = b'{"event_id":"1","model_id":"m","timestamp":"2026-01-01T00:00:00Z","features":' \
          b'{"b":true,"i":3,"f":2.5,"s":"2.5","n":null}}'
    event = BatchDecoder(FeatureEvent).decode([raw]).events[0]
    step_by_step = BatchDecoder(FeatureEvent)._diagnose(raw)
    for e in (event, step_by_step):
        assert [(k, type(v)) for k, v in e.features.items()] == [("b", bool), ("i", float), ("f", float), ("s", str),
                                                                  ("n", type(None))]

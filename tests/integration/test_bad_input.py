"""Hostile input, generated: every bad message dead-lettered with its reason, every valid one processed."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from consumers.dead_letter import REASON_HEADER, SOURCE_HEADER
from consumers.service import MonitorService
from tests.conftest import running
from stream.codec import REASONS
from tests.integration.helpers import make_config, read_to_end, wait_for
from tests.integration.service_process import detector_counts, final_snapshots

pytestmark = [pytest.mark.integration, pytest.mark.recovery]

MAX_BYTES = 4096
T0 = "2026-01-01T00:00:00Z"
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


def valid_event(event_id: str, model_id: str = "m") -> dict:
    return {"schema_version": 1, "event_id": event_id, "model_id": model_id, "timestamp": T0,
            "features": {"x": 1.0, "c": "a"}}


def dumps(obj) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


# Each strategy yields (message bytes, the reason the service must give).
invalid_utf8 = st.binary(max_size=40).map(lambda b: (b"\xff\xfe" + b, "invalid_utf8"))
invalid_json = names.map(lambda t: (f'{{"{t}": '.encode(), "invalid_json"))
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")]).map(
    lambda v: (dumps({**valid_event("nf"), "features": {"x": v}}), "invalid_json"))
wrong_types = st.sampled_from([("event_id", 17), ("timestamp", "yesterday"), ("features", [1, 2]),
                               ("features", {"x": [1]}), ("model_id", None), ("segment", "gold")]).map(
    lambda kv: (dumps({**valid_event("wt"), kv[0]: kv[1]}), "invalid_event"))
missing_field = st.sampled_from(["event_id", "model_id", "timestamp", "features"]).map(
    lambda k: (dumps({f: v for f, v in valid_event("mf").items() if f != k}), "invalid_event"))
oversized = st.integers(MAX_BYTES + 1, MAX_BYTES * 3).map(
    lambda n: (dumps({**valid_event("big"), "features": {"x": 1.0, "pad": "p" * n}}), "oversized"))
unknown_version = st.integers().filter(lambda v: v != 1).map(
    lambda v: (dumps({**valid_event("uv"), "schema_version": v}), "unknown_schema_version"))
unknown_model = names.map(lambda m: (dumps(valid_event("um", model_id="other-" + m)), "unknown_model"))
not_an_object = st.sampled_from([b"[]", b"17", b'"text"', b"null", b"true"]).map(lambda b: (b, "not_an_object"))
bad_messages = st.one_of(invalid_utf8, invalid_json, non_finite, wrong_types, missing_field, oversized,
                         unknown_version, unknown_model, not_an_object)
# One of each kind for sure, whatever hypothesis draws.
ONE_OF_EACH = [(b"\xff\xfe\x00", "invalid_utf8"), (b'{"x": ', "invalid_json"),
               (dumps({**valid_event("wt"), "event_id": 17}), "invalid_event"),
               (dumps({**valid_event("big"), "features": {"pad": "p" * (MAX_BYTES + 1)}}), "oversized"),
               (dumps({**valid_event("uv"), "schema_version": 2}), "unknown_schema_version"),
               (dumps(valid_event("um", model_id="other")), "unknown_model"), (b"[]", "not_an_object")]


def test_generated_bad_input_is_dead_lettered_with_its_reason_and_valid_events_all_count(kafka_bootstrap, unique):
    config = make_config(kafka_bootstrap, unique, [{"model_id": "m", "features": [{"name": "x"},
                                                                                  {"name": "c", "type": "categorical"}]}],
                         consumer={"group_id": f"g{unique}", "poll_timeout_ms": 100, "max_message_bytes": MAX_BYTES})
    service = MonitorService(config)
    raw = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2_000_000)
    sent: dict[int, tuple[bytes, str]] = {}      # offset -> (bytes, expected reason)
    state = {"valid": 0, "bad": 0}

    def send(messages):
        for (value, reason), valid_before in messages:
            for _ in range(valid_before):
                state["valid"] += 1
                raw.send(config.topics.features, key=b"m", partition=0, value=dumps(valid_event(f"v{state['valid']}")))
            offset = raw.send(config.topics.features, key=b"m", partition=0, value=value).get(timeout=30).offset
            sent[offset] = (value, reason)
            state["bad"] += 1
        raw.flush()
        # >=: counters count processing, and a replayed batch counts again; the topics tell exactly.
        wait_for(lambda: service.metrics.events.labels("features", "m")._value.get() >= state["valid"]
                 and sum(s.value for s in service.metrics.dead_letters.collect()[0].samples
                         if s.name.endswith("_total")) >= state["bad"],
                 what="the service to catch up")

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(bad_messages, st.integers(0, 3)), min_size=1, max_size=12))
    def scenario(messages):
        send(messages)

    with running(service) as thread:
        send([(message, 1) for message in ONE_OF_EACH])
        scenario()
        assert thread.is_alive(), f"the service must survive every input: {thread.errors}"
    raw.close()
    counts = detector_counts(final_snapshots(config))
    assert counts[("m", "feature:x", "ks")] == state["valid"], "every valid event reached the detectors once"

    assert {reason for _, reason in sent.values()} == set(REASONS), "every kind of bad input was tried"
    dead = read_to_end(kafka_bootstrap, config.topics.dead_letter)
    assert len(dead) == len(sent), "each bad message dead-lettered exactly once"
    for record in dead:
        headers = dict(record.headers)
        offset = int(headers[SOURCE_HEADER].decode().rsplit("/", 1)[1])
        value, reason = sent[offset]
        assert headers[REASON_HEADER].decode() == reason, (value[:80], headers)
        assert record.value == value, "the original bytes travel untouched"

"""The walking skeleton end to end against a real broker: events in, alerts out, metrics up."""

from __future__ import annotations

import urllib.request
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from consumers.dead_letter import REASON_HEADER, SOURCE_HEADER
from consumers.service import MonitorService
from producers import EventProducer
from stream.codec import BatchDecoder
from stream.kafka_clients import ensure_topics
from stream.events import DriftAlert, FeatureEvent, LabelEvent, PredictionEvent
from tests.conftest import running
from tests.integration.helpers import make_config, read_to_end, read_topic, wait_for
from tests.integration.service_process import committed
from tests.unit.test_codec_fast import fields

pytestmark = pytest.mark.integration

FEATURES = [{"name": "shifted"}, {"name": "steady"}, {"name": "steady_skewed"}]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def publish_features(producer: EventProducer, model_id: str, n: int, shift: float, start: int, rng) -> None:
    shifted = rng.normal(shift, 1.0, n)
    steady = rng.normal(0.0, 1.0, n)
    skewed = rng.lognormal(0.0, 1.0, n)
    for i in range(n):
        producer.features(model_id, {"shifted": shifted[i], "steady": steady[i], "steady_skewed": skewed[i]},
                          event_id=f"e{start + i}", timestamp=T0 + timedelta(milliseconds=start + i))


@pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
def test_a_shift_in_one_feature_alerts_on_that_feature_only(kafka_bootstrap, unique, delivery):
    config = make_config(kafka_bootstrap, unique, [{"model_id": "m1", "features": FEATURES}],
                         consumer={"group_id": f"g{unique}", "poll_timeout_ms": 100, "delivery": delivery})
    service = MonitorService(config)
    rng = np.random.default_rng(1)
    with running(service), EventProducer(config.kafka, config.topics) as producer:
        publish_features(producer, "m1", 4000, 0.0, 0, rng)
        publish_features(producer, "m1", 4000, 1.0, 4000, rng)
        producer.flush()
        wait_for(lambda: service.metrics.events.labels("features", "m1")._value.get() >= 8000,
                 what="8000 feature events to be consumed")
    records = read_to_end(kafka_bootstrap, config.topics.alerts)
    alerts = [DriftAlert.model_validate_json(r.value) for r in records]
    drift = [a for a in alerts if a.kind == "data_drift"]
    assert {a.signal for a in drift} == {"shifted"}, [a.line() for a in alerts]
    first = min(drift, key=lambda a: a.window.last_offset)
    assert first.detected_at >= T0 + timedelta(milliseconds=4000), "alerted before the shift happened"
    assert first.statistic >= first.threshold


def test_malformed_messages_are_dead_lettered_and_valid_ones_all_processed(kafka_bootstrap, unique):
    from kafka import KafkaProducer

    config = make_config(kafka_bootstrap, unique, [{"model_id": "m1", "features": [{"name": "x"}]}])
    valid = [FeatureEvent(event_id=f"v{i}", model_id="m1", timestamp=T0, features={"x": float(i)})
             for i in range(50)]
    bad = [b"{not json", b"\xff\xfe\x00", b'{"event_id": "b", "model_id": "m1"}', b"[1, 2]",
           b'{"schema_version": 99, "event_id": "b", "model_id": "m1", "timestamp": "2026-01-01T00:00:00Z", '
           b'"features": {}}',
           FeatureEvent(event_id="u", model_id="nobody", timestamp=T0, features={"x": 1.0}).model_dump_json().encode()]
    raw = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    service = MonitorService(config)
    with running(service) as thread:
        for i, event in enumerate(valid):
            raw.send(config.topics.features, key=b"m1", value=event.model_dump_json().encode())
            if i % 8 == 0 and bad:
                raw.send(config.topics.features, key=b"m1", value=bad.pop(0))
        raw.flush()
        wait_for(lambda: service.metrics.events.labels("features", "m1")._value.get() >= 50,
                 what="all 50 valid events to be counted")
        dead = read_topic(kafka_bootstrap, config.topics.dead_letter, until=lambda r: len(r) >= 6)
        assert thread.is_alive(), f"the service died on bad input: {thread.errors}"
    raw.close()
    reasons = sorted(dict(r.headers)[REASON_HEADER].decode() for r in dead)
    assert reasons == sorted(["invalid_json", "invalid_utf8", "invalid_event", "not_an_object",
                              "unknown_schema_version", "unknown_model"])
    assert all(dict(r.headers)[SOURCE_HEADER].startswith(config.topics.features.encode()) for r in dead)
    assert b"\xff\xfe\x00" in [r.value for r in dead], "the original bytes must be kept untouched"
    assert service.metrics.events.labels("features", "m1")._value.get() >= 50
    assert service.metrics.dead_letters.labels("invalid_json")._value.get() >= 1


def test_metrics_endpoint_counts_events_and_alerts(kafka_bootstrap, unique):
    config = make_config(kafka_bootstrap, unique, [{"model_id": "m2", "features": [{"name": "shifted"}]}])
    service = MonitorService(config)
    port = service.serve_metrics()
    rng = np.random.default_rng(2)
    with running(service), EventProducer(config.kafka, config.topics) as producer:
        for i, x in enumerate(np.concatenate([rng.normal(0, 1, 3000), rng.normal(3, 1, 3000)])):
            producer.features("m2", {"shifted": float(x)}, event_id=str(i), timestamp=T0 + timedelta(seconds=i))
        producer.flush()
        # Both counters: a scrape may fall between the two increments of one batch.
        wait_for(lambda: service.metrics.events.labels("features", "m2")._value.get() >= 6000
                 and service.metrics.detector_events.labels("m2", "shifted", "all", "ks")._value.get() >= 6000,
                 what="events counted and fed to the detector")
        wait_for(lambda: (service.metrics.alerts.labels("m2", "data_drift", "shifted", "critical")._value.get()
                          + service.metrics.alerts.labels("m2", "data_drift", "shifted", "warning")._value.get()) >= 1,
                 what="a drift alert")
        counted = service.metrics.events.labels("features", "m2")._value.get()
        fed = service.metrics.detector_events.labels("m2", "shifted", "all", "ks")._value.get()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    # Counters count processing: a batch replayed after a rebalance counts again (the state does
    # not; test_recovery.py checks that), so the scrape must show what was counted, at least 6000.
    assert counted >= 6000 and fed >= 6000
    assert f'streamdrift_events_total{{model="m2",role="features"}} {counted}' in text
    assert f'streamdrift_detector_events_total{{detector="ks",model="m2",scope="all",signal="shifted"}} {fed}' in text
    alert_lines = [line for line in text.splitlines()
                   if line.startswith("streamdrift_alerts_total{") and 'signal="shifted"' in line]
    assert alert_lines and sum(float(line.rsplit(" ", 1)[1]) for line in alert_lines) >= 1
    assert "streamdrift_up 1.0" in text


def test_sdk_round_trip_is_what_the_service_decodes(kafka_bootstrap, unique):
    config = make_config(kafka_bootstrap, unique, [{"model_id": "m3", "features": [{"name": "x"}]}])
    ensure_topics(config.kafka, config.topics)
    sent = []
    with EventProducer(config.kafka, config.topics) as producer:
        producer.features("m3", {"x": 1.5, "city": "Oslo", "flag": True, "gone": None}, event_id="f1",
                          timestamp=T0, segment={"tier": "gold"})
        producer.prediction("m3", "approve", event_id="f1", model_version="v2", score=0.93, timestamp=T0)
        producer.label("m3", "f1", "decline", timestamp=T0)
        sent = ["features", "predictions", "labels"]
    decoded = {}
    for role, cls in (("features", FeatureEvent), ("predictions", PredictionEvent), ("labels", LabelEvent)):
        records = read_topic(kafka_bootstrap, getattr(config.topics, role), until=lambda r: len(r) >= 1)
        assert [r.key for r in records] == [b"m3"], "events are keyed by model_id"
        result = BatchDecoder(cls).decode([r.value for r in records])
        assert not result.rejected
        decoded[role] = result.events[0]
    assert sent == list(decoded)
    # The service reads them through the models' msgspec mirrors: the same fields, the same values and types.
    assert fields(decoded["features"]) == fields(FeatureEvent(
        event_id="f1", model_id="m3", timestamp=T0, segment={"tier": "gold"},
        features={"x": 1.5, "city": "Oslo", "flag": True, "gone": None}))
    assert fields(decoded["predictions"]) == fields(PredictionEvent(
        event_id="f1", model_id="m3", model_version="v2", timestamp=T0, prediction="approve", score=0.93))
    assert fields(decoded["labels"]) == fields(LabelEvent(event_id="f1", model_id="m3", timestamp=T0, label="decline"))


@pytest.mark.parametrize("alert_seconds", [0.0, 600.0])
def test_an_alert_is_committed_when_found_not_at_the_next_checkpoint_interval(kafka_bootstrap, unique, alert_seconds):
    """Checkpoints every 120 s here. With checkpoint.alert_seconds 0 (the default) the transaction carrying an
    alert commits at the end of the batch that found it; with 600 s (the negative control: longer than the
    interval) the alert stays in the open transaction, unseen by read_committed consumers, until the interval is up.
    (checkpoint.when_idle is off: it would commit the alert as soon as the input went quiet.)"""
    config = make_config(kafka_bootstrap, unique, [{"model_id": "m1", "features": FEATURES}],
                         consumer={"group_id": f"g{unique}", "poll_timeout_ms": 100, "transaction_timeout_ms": 300_000},
                         checkpoint={"every_events": 1_000_000, "every_seconds": 120.0, "alert_seconds": alert_seconds,
                                     "when_idle": False})
    found: list[DriftAlert] = []
    service = MonitorService(config, on_alert=found.append)
    rng = np.random.default_rng(3)

    def on_topic(alert_id: str, committed: bool) -> bool:
        return any(DriftAlert.model_validate_json(r.value).alert_id == alert_id
                   for r in read_to_end(kafka_bootstrap, config.topics.alerts, committed=committed))

    with running(service), EventProducer(config.kafka, config.topics) as producer:
        publish_features(producer, "m1", 4000, 0.0, 0, rng)
        publish_features(producer, "m1", 4000, 1.0, 4000, rng)
        producer.flush()
        wait_for(lambda: any(a.kind == "data_drift" for a in found), what="a data_drift alert to be found")
        alert = next(a for a in found if a.kind == "data_drift")
        wait_for(lambda: on_topic(alert.alert_id, committed=False), 30, "the alert record to be sent")
        if alert_seconds > 120:
            assert not on_topic(alert.alert_id, committed=True), "committed before the checkpoint interval"
        else:
            records = read_topic(kafka_bootstrap, config.topics.alerts, timeout_s=30, until=lambda rs: any(
                DriftAlert.model_validate_json(r.value).alert_id == alert.alert_id for r in rs))
            assert alert.alert_id in {DriftAlert.model_validate_json(r.value).alert_id for r in records}


@pytest.mark.parametrize("when_idle", [True, False])
def test_a_quiet_input_is_checkpointed_at_once_not_at_the_next_interval(kafka_bootstrap, unique, when_idle):
    """Checkpoints every 120 s or 1,000,000 events here. With checkpoint.when_idle (the default) the first poll
    that finds nothing new commits what was processed; off (the negative control), nothing is committed by then."""
    config = make_config(kafka_bootstrap, unique, [{"model_id": "m1", "features": FEATURES}],
                         consumer={"group_id": f"g{unique}", "poll_timeout_ms": 100, "transaction_timeout_ms": 300_000},
                         checkpoint={"every_events": 1_000_000, "every_seconds": 120.0, "alert_seconds": 600.0,
                                     "when_idle": when_idle})
    service = MonitorService(config)
    n, seen, quiet = 600, [0], [0]   # records polled; empty polls since all of them were

    with running(service), EventProducer(config.kafka, config.topics) as producer:
        poll = service._consumer.poll   # the real poll, counted: the loop looks it up on every turn

        def counted_poll(*args, **kwargs):
            records = poll(*args, **kwargs)
            seen[0] += sum(len(batch) for batch in records.values())
            quiet[0] += not records and seen[0] >= n
            return records

        service._consumer.poll = counted_poll
        publish_features(producer, "m1", n, 0.0, 0, np.random.default_rng(5))
        producer.flush()
        # The turn of the first empty poll checkpoints (or not) before the second empty poll returns.
        wait_for(lambda: quiet[0] >= 2, 60, "two empty polls after all events")
        done = committed(kafka_bootstrap, config.consumer.group_id, config.topics.features, config.topics.partitions)
    assert done == (n if when_idle else 0)

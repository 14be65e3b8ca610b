"""The service's operating metrics on a real broker: consumer lag counts exactly the records not yet processed,
latencies and event-time lag follow the records, and after a rebalance an instance stops reporting the partitions
and models it gave up."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from kafka import TopicPartition

from consumers.service import MonitorService
from producers import EventProducer
from tests.conftest import running
from tests.integration.helpers import make_config, wait_for

pytestmark = pytest.mark.integration


def lag_samples(service: MonitorService) -> dict[tuple[str, int], float]:
    return {(s.labels["topic"], int(s.labels["partition"])): s.value
            for s in service.metrics.consumer_lag.collect()[0].samples}


def test_consumer_lag_is_the_count_of_records_not_yet_processed(kafka_bootstrap, unique):
    config = make_config(kafka_bootstrap, unique, [{"model_id": "lagging", "features": [{"name": "x"}]}])
    config = config.model_copy(update={"consumer": config.consumer.model_copy(update={"max_poll_records": 100})})
    published_at = datetime.now(timezone.utc) - timedelta(seconds=30)   # event times: 30 s ago and earlier
    total = 1000
    service = MonitorService(config)
    service.connect()
    with EventProducer(config.kafka, config.topics) as producer:
        for i in range(total):
            producer.features("lagging", {"x": float(i % 7)}, event_id=str(i),
                              timestamp=published_at - timedelta(seconds=total - i))
    processed = 0
    try:
        # The service's loop, one step at a time: poll, route, hand over, measure.
        deadline = time.monotonic() + 60
        while processed < total:
            assert time.monotonic() < deadline, f"only {processed} of {total} records came back"
            records = service._consumer.poll(timeout_ms=500, max_records=100)
            if not records:
                continue
            routed = service.router.route(records)
            service.handle(routed)
            service._measure_latency(records, routed)
            service._measure_lag()
            processed += sum(len(batch) for batch in records.values())
            (tp,) = records   # one model: one partition of the features topic
            assert lag_samples(service)[(tp.topic, tp.partition)] == total - processed
        value = service.registry.get_sample_value
        assert value("streamdrift_end_to_end_latency_seconds_count") == total
        assert value("streamdrift_end_to_end_latency_seconds_bucket", {"le": "60.0"}) == total   # published just now
        lag = value("streamdrift_event_time_lag_seconds", {"model": "lagging"})
        assert 30 <= lag < 90   # the latest event time was 31 s ago when published
        service.checkpoint()
    finally:
        service.close()


def test_an_instance_stops_reporting_what_a_rebalance_took_from_it(kafka_bootstrap, unique):
    models = [f"m{i}" for i in range(8)]
    base = make_config(kafka_bootstrap, unique, [{"model_id": m, "features": [{"name": "x"}]} for m in models])

    def instance(name: str) -> MonitorService:
        return MonitorService(base.model_copy(update={"consumer": base.consumer.model_copy(
            update={"instance_id": name, "session_timeout_ms": 6000})}))

    first, second = instance("first"), instance("second")
    t0 = datetime.now(timezone.utc)

    def publish(round_: int) -> None:
        with EventProducer(base.kafka, base.topics) as producer:
            for m in models:
                for i in range(50):
                    producer.features(m, {"x": float(i)}, event_id=f"{round_}-{i}", timestamp=t0)

    def reported(service: MonitorService) -> set[str]:
        return {s.labels["model"] for s in service.metrics.event_time_lag.collect()[0].samples}

    def statistics(service: MonitorService) -> set[str]:
        return {s.labels["model"] for s in service.metrics.statistic.collect()[0].samples}

    with running(first):
        publish(1)
        wait_for(lambda: reported(first) == set(models), 60, "the first instance to process every model")
        assert statistics(first) == set(models)
        with running(second):
            wait_for(lambda: first._consumer is not None and second._consumer is not None
                     and first._consumer.assignment() and second._consumer.assignment(), 60,
                     "both instances to hold partitions")
            publish(2)

            def counted(model: str) -> float:
                return sum(s.registry.get_sample_value("streamdrift_events_total", {"role": "features",
                                                                                    "model": model}) or 0
                           for s in (first, second))

            wait_for(lambda: all(counted(m) >= 100 for m in models), 60, "the two instances to process round 2")
            mine = {m for state in first.router.partitions.values() for m in state.monitors}
            assert mine and mine != set(models)
            assert reported(first) == mine and statistics(first) == mine   # the others' gauges are gone
            held = first._consumer.assignment()
            assert {TopicPartition(t, p) for t, p in lag_samples(first)} <= held
            processed = {s.labels["model"] for s in first.metrics.events.collect()[0].samples
                         if s.name.endswith("_total") and s.value > 0}
            assert processed == set(models)   # counters keep what this instance processed

"""The broker dies while the service is processing, with an alert in an open transaction, and stays down
longer than the transaction timeout: the broker aborts that transaction, the service's commit fails,
state and positions rewind to the last checkpoint, and the result equals an uninterrupted run."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from consumers.service import MonitorService
from stream.broker import LocalKafka
from stream.events import DriftAlert
from stream.kafka_clients import ensure_topics
from tests.conftest import running
from tests.integration.helpers import make_config, read_to_end, wait_for
from tests.integration.service_process import committed, detector_counts, final_snapshots
from tests.integration.test_recovery import FEATURES, event_log, publish_paced

pytestmark = [pytest.mark.integration, pytest.mark.recovery]

N = 16_000
TXN_TIMEOUT_MS = 2_000   # twice the checkpoint interval, and shorter than the outage: the open transaction expires


@pytest.fixture
def own_broker():
    """A broker of this test's own: restarting the session's broker would disturb the other tests."""
    broker = LocalKafka(extra_properties={"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"})
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def config_for(bootstrap: str, suffix: str, run: str):
    config = make_config(bootstrap, suffix, [{"model_id": "solo", "features": FEATURES}],
                         checkpoint={"every_events": 100_000, "every_seconds": 1.0, "alert_seconds": 600.0,
                                     "when_idle": False},
                         consumer={"group_id": f"g{suffix}.{run}", "poll_timeout_ms": 100, "max_poll_records": 500,
                                   "transaction_timeout_ms": TXN_TIMEOUT_MS},
                         # kafka-python's transactional sender retries an unreachable node once per request timeout.
                         kafka={"bootstrap_servers": bootstrap, "request_timeout_ms": 5_000})
    topics = config.topics.model_copy(update={"alerts": f"t{suffix}.alerts.{run}", "state": f"t{suffix}.state.{run}"})
    return config.model_copy(update={"topics": topics})


def value(metric) -> float:
    return metric._value.get()


def test_a_broker_killed_mid_processing_loses_nothing_and_doubles_nothing(own_broker, unique):
    bootstrap = own_broker.bootstrap
    config = config_for(bootstrap, unique, "outage")
    ensure_topics(config.kafka, config.topics)
    group, topic, parts = config.consumer.group_id, config.topics.features, config.topics.partitions
    publisher = publish_paced(bootstrap, topic, event_log(["solo"], N, seed=3), rate=2_000, idempotent=True)
    killed_at: list[float] = []

    def kill_with_the_first_alert_in_flight(alert: DriftAlert) -> None:
        """Runs in the service's thread, before its next checkpoint: the alert's transaction is open."""
        if killed_at:
            return
        wait_for(lambda: alert.alert_id in {DriftAlert.model_validate_json(r.value).alert_id for r in
                                            read_to_end(bootstrap, config.topics.alerts, committed=False)},
                 what="the alert to reach the broker inside its transaction")
        own_broker.kill()
        killed_at.append(time.monotonic())

    service = MonitorService(config, CollectorRegistry(), on_alert=kill_with_the_first_alert_in_flight)
    with running(service) as thread:
        wait_for(lambda: killed_at, what="the broker to be killed with an alert in flight")
        # The scenario: an outage longer than the transaction timeout (a JVM restart takes longer anyway).
        wait_for(lambda: time.monotonic() > killed_at[0] + TXN_TIMEOUT_MS / 1000, what="the transaction timeout")
        own_broker.restart()
        wait_for(lambda: value(service.metrics.checkpoint_failures) >= 1, timeout_s=180,
                 what="the expired transaction's commit to fail")
        assert thread.is_alive(), f"the service must ride out a broker outage: {thread.errors}"
        publisher.join()
        wait_for(lambda: committed(bootstrap, group, topic, parts) >= N, timeout_s=180,
                 what="every event to be committed")
    outage_alerts = sorted(DriftAlert.model_validate_json(r.value).alert_id
                           for r in read_to_end(bootstrap, config.topics.alerts))
    outage_counts = detector_counts(final_snapshots(config))

    reference = config_for(bootstrap, unique, "reference")
    with running(MonitorService(reference, CollectorRegistry())):
        wait_for(lambda: committed(bootstrap, reference.consumer.group_id, topic, parts) >= N, timeout_s=120,
                 what="the uninterrupted run to commit every event")
    expected_alerts = sorted(DriftAlert.model_validate_json(r.value).alert_id
                             for r in read_to_end(bootstrap, reference.topics.alerts))
    assert expected_alerts, "the log's drift must be seen"
    assert outage_alerts == expected_alerts
    assert outage_counts == detector_counts(final_snapshots(reference))
    assert set(outage_counts.values()) == {N}

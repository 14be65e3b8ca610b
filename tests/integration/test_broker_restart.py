"""The broker goes away mid-stream and comes back: the service reconnects and loses nothing."""

from __future__ import annotations

import time

import pytest

from consumers.service import MonitorService
from stream.broker import LocalKafka
from stream.kafka_clients import ensure_topics
from tests.conftest import running
from tests.integration.helpers import make_config, wait_for
from tests.integration.service_process import committed, detector_counts, final_snapshots
from tests.integration.test_recovery import event_log, publish

pytestmark = [pytest.mark.integration, pytest.mark.recovery]


@pytest.fixture
def own_broker():
    """A broker of this test's own: restarting the session's broker would disturb the other tests."""
    broker = LocalKafka()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_service_reconnects_after_a_broker_restart_and_loses_no_event(own_broker, unique):
    bootstrap = own_broker.bootstrap
    n = 6_000
    config = make_config(bootstrap, unique, [{"model_id": "solo", "features": [{"name": "x"}, {"name": "y"},
                                                                              {"name": "z", "type": "categorical"}]}],
                         checkpoint={"every_events": 1000, "every_seconds": 1.0})
    ensure_topics(config.kafka, config.topics)
    events = event_log(["solo"], n, seed=3)
    publish(bootstrap, config.topics.features, events[: n // 2])
    service = MonitorService(config)
    group, topic, parts = config.consumer.group_id, config.topics.features, config.topics.partitions
    with running(service) as thread:
        wait_for(lambda: committed(bootstrap, group, topic, parts) >= n // 2, what="the first half to be committed")
        own_broker.kill()
        time.sleep(3)
        assert thread.is_alive(), "the service must ride out a broker outage"
        own_broker.restart()
        publish(bootstrap, config.topics.features, events[n // 2:])
        # Offsets commit only with the state that reflects them, so this means: all in the snapshots.
        wait_for(lambda: committed(bootstrap, group, topic, parts) >= n, timeout_s=120,
                 what="every event to be committed")
        assert thread.is_alive()
    counts = detector_counts(final_snapshots(config))
    assert counts and set(counts.values()) == {n}, counts

"""Exactly-once is what keeps alerts single: a crash while an alert sits in an open transaction.

The service is killed right after it has written an alert that its next checkpoint has not yet
committed. Read uncommitted, the alert topic then holds that alert twice (the aborted copy and the
one written again after the restart); read committed, once. The negative control runs the same
harness with at_least_once delivery, which must show the duplicate: proof the harness can fail.
"""

from __future__ import annotations

from collections import Counter

import pytest

from stream.events import DriftAlert
from stream.kafka_clients import ensure_topics
from tests.integration.helpers import make_config, read_to_end
from tests.integration.service_process import (ServiceProcess, pause_with_an_alert_in_flight, wait_until_committed,
                                               write_config)
from tests.integration.test_recovery import FEATURES, event_log, publish_paced

pytestmark = [pytest.mark.integration, pytest.mark.recovery]

MODELS, N = ["alpha", "beta"], 8_000
BAD_EVERY = 997          # a malformed message now and then: dead letters must be single too


def config_for(bootstrap: str, suffix: str, run: str, delivery: str):
    config = make_config(bootstrap, suffix, [{"model_id": m, "features": FEATURES} for m in MODELS],
                         # Checkpoints by count only, every 4 s of the paced log: an alert waits seconds for its commit.
                         checkpoint={"every_events": 4_000, "every_seconds": 5.0, "alert_seconds": 600.0,
                                     "when_idle": False},
                         consumer={"group_id": f"g{suffix}.{run}", "poll_timeout_ms": 100, "delivery": delivery,
                                   "max_poll_records": 500})
    topics = config.topics.model_copy(update={"alerts": f"t{suffix}.alerts.{run}",
                                              "dead_letter": f"t{suffix}.dead.{run}", "state": f"t{suffix}.state.{run}"})
    return config.model_copy(update={"topics": topics})


def the_log() -> list:
    events = event_log(MODELS, N, seed=21)
    interleaved = [e for pair in zip(events[:N], events[N:]) for e in pair]
    return [(e.model_id.encode(), b"{broken json") if i % BAD_EVERY == BAD_EVERY - 1 else e
            for i, e in enumerate(interleaved)]


def alerts_in(bootstrap: str, topic: str, committed: bool) -> list[DriftAlert]:
    return [DriftAlert.model_validate_json(r.value) for r in read_to_end(bootstrap, topic, committed=committed)]


def crash_with_an_alert_in_flight(bootstrap: str, suffix: str, tmp_path, delivery: str):
    """Returns (alert ids read uncommitted, read committed, the id in flight at the kill, dead letters committed)."""
    config = config_for(bootstrap, suffix, "crash", delivery)
    ensure_topics(config.kafka, config.topics)
    path = write_config(config, tmp_path / "crash.yaml")
    log = the_log()
    publisher = publish_paced(bootstrap, config.topics.features, log, rate=1_000)
    service = ServiceProcess(path, tmp_path / "crash.log").start()
    service.wait_assigned()
    killed_at = pause_with_an_alert_in_flight(service, bootstrap, config)
    service.kill()                                   # a crash with that alert in its open transaction
    group, features, parts = config.consumer.group_id, config.topics.features, config.topics.partitions

    publisher.join()
    # The restart checkpoints every second, so that it commits the end of the log without being stopped.
    quick = config.model_copy(update={"checkpoint": config.checkpoint.model_copy(update={"every_seconds": 1.0})})
    service = ServiceProcess(write_config(quick, tmp_path / "restart.yaml"), tmp_path / "crash.log").start()
    service.wait_assigned()
    wait_until_committed(bootstrap, group, features, parts, len(log), [service])
    assert service.terminate() == 0, service.log_tail()
    uncommitted = [a.alert_id for a in alerts_in(bootstrap, config.topics.alerts, committed=False)]
    committed_ids = [a.alert_id for a in alerts_in(bootstrap, config.topics.alerts, committed=True)]
    dead = read_to_end(bootstrap, config.topics.dead_letter)
    return uncommitted, committed_ids, killed_at.alert_id, dead, len(log) // BAD_EVERY


def test_an_alert_in_an_open_transaction_at_a_crash_is_aborted_and_published_once(kafka_bootstrap, unique, tmp_path):
    uncommitted, committed_ids, in_flight, dead, bad = crash_with_an_alert_in_flight(
        kafka_bootstrap, unique, tmp_path, "exactly_once")
    assert Counter(uncommitted)[in_flight] >= 2, "the alert of the killed process was not in an aborted transaction"
    assert Counter(committed_ids)[in_flight] == 1
    assert len(committed_ids) == len(set(committed_ids)), Counter(committed_ids).most_common(3)
    assert len(dead) == bad, f"{len(dead)} dead letters committed for {bad} bad messages"

    # And the same alerts as one uninterrupted run of the same log.
    reference = config_for(kafka_bootstrap, unique, "reference", "exactly_once")   # same data topics
    service = ServiceProcess(write_config(reference, tmp_path / "reference.yaml"), tmp_path / "reference.log").start()
    service.wait_assigned()
    wait_until_committed(kafka_bootstrap, reference.consumer.group_id, reference.topics.features,
                         reference.topics.partitions, len(the_log()), [service])
    assert service.terminate() == 0, service.log_tail()
    expected = [a.alert_id for a in alerts_in(kafka_bootstrap, reference.topics.alerts, committed=True)]
    assert sorted(committed_ids) == sorted(expected)


def test_negative_control_at_least_once_publishes_that_alert_twice(kafka_bootstrap, unique, tmp_path):
    """The same crash under at_least_once: the harness sees the duplicate exactly-once prevents."""
    _, committed_ids, in_flight, dead, bad = crash_with_an_alert_in_flight(
        kafka_bootstrap, unique, tmp_path, "at_least_once")
    assert Counter(committed_ids)[in_flight] == 2, Counter(committed_ids)
    assert len(dead) > bad, "the dead letters before the kill were not repeated"

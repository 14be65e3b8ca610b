"""A zombie instance: paused (SIGSTOP) past its session timeout with an alert in an open transaction,
so its partitions move to the other instance, then resumed. Its late transaction must be fenced
(KIP-447: offsets sent with a stale group generation are refused) and nothing may appear twice."""

from __future__ import annotations

from collections import Counter

import pytest

from stream.events import DriftAlert
from stream.kafka_clients import ensure_topics
from tests.integration.helpers import read_to_end
from tests.integration.service_process import (ServiceProcess, detector_counts, final_snapshots,
                                               pause_with_an_alert_in_flight, wait_until_committed, write_config)
from tests.integration.test_recovery import event_log, publish_paced, run_config, single_run

pytestmark = [pytest.mark.integration, pytest.mark.recovery]

MODELS, N = [f"m{i}" for i in range(6)], 4_000


def alerts_in(bootstrap: str, topic: str, committed: bool) -> list[DriftAlert]:
    return [DriftAlert.model_validate_json(r.value) for r in read_to_end(bootstrap, topic, committed=committed)]


def test_a_paused_instance_is_fenced_when_it_wakes_and_nothing_is_doubled(kafka_bootstrap, unique, tmp_path):
    total = len(MODELS) * N
    events = event_log(MODELS, N, seed=31)
    log = [events[m * N + i] for i in range(N) for m in range(len(MODELS))]   # the models interleaved
    config = run_config(kafka_bootstrap, unique, "pair", MODELS, partitions=6)
    config = config.model_copy(update={
        "consumer": config.consumer.model_copy(update={"session_timeout_ms": 6_000}),
        "checkpoint": config.checkpoint.model_copy(update={"every_events": 3_000, "every_seconds": 5.0,
                                                           "alert_seconds": 600.0,
                                                           "when_idle": False})})
    ensure_topics(config.kafka, config.topics)
    path = write_config(config, tmp_path / "pair.yaml")
    zombie = ServiceProcess(path, tmp_path / "zombie.log").start()
    other = ServiceProcess(path, tmp_path / "other.log", instance_id="instance-1").start()
    zombie.wait_assigned()
    other.wait_assigned()
    publisher = publish_paced(kafka_bootstrap, config.topics.features, log, rate=1_500)

    taken_all = "assigned partitions [0, 1, 2, 3, 4, 5]"
    in_flight = pause_with_an_alert_in_flight(zombie, kafka_bootstrap, config).alert_id
    try:
        # The other instance takes every partition once the zombie's session has expired (it may have held
        # them all once already, before the zombie joined).
        other.wait_for_log(taken_all, timeout_s=60, seen=len(other.lines_with(taken_all)))
    finally:
        zombie.resume()
    publisher.join()
    wait_until_committed(kafka_bootstrap, config.consumer.group_id, config.topics.features, 6, total, [zombie, other])
    assert zombie.terminate() == 0, zombie.log_tail()
    assert other.terminate() == 0, other.log_tail()
    assert "checkpoint failed" in zombie.log_since_start(), "the zombie's late transaction was not refused"

    committed_ids = [a.alert_id for a in alerts_in(kafka_bootstrap, config.topics.alerts, committed=True)]
    assert Counter(a.alert_id for a in alerts_in(kafka_bootstrap, config.topics.alerts, committed=False))[in_flight] >= 2
    assert Counter(committed_ids)[in_flight] == 1
    expected_ids, expected_counts = single_run(kafka_bootstrap, unique, MODELS, total, tmp_path, partitions=6)
    assert sorted(committed_ids) == expected_ids
    assert detector_counts(final_snapshots(config)) == expected_counts

"""The batch router without a broker: records in; alerts, dead letters and positions out.

Batch edges, snapshots and the order topics arrive in must not change what is raised: the
service, a crash-restarted service and an offline backtest all rely on that.
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import numpy as np
from prometheus_client import CollectorRegistry

from consumers.router import Record, Router
from stream.codec import encode
from stream.config import Config
from stream.events import FeatureEvent, LabelEvent, PredictionEvent
from stream.metrics import ServiceMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CONFIG = Config.model_validate({"models": [
    {"model_id": "m", "features": [{"name": "x"}, {"name": "y"}, {"name": "c", "type": "categorical"}],
     "prediction": {"type": "categorical", "error_detectors": [{"kind": "ddm"}]}},
]})
TOPICS = CONFIG.topics


def router(registry: CollectorRegistry | None = None) -> Router:
    return Router(CONFIG, ServiceMetrics(registry or CollectorRegistry()))


def stream_records(n: int = 12_000, seed: int = 4) -> dict[str, list[Record]]:
    """Features, predictions and labels of one model: x shifts at 40%, the error rate jumps at 60%."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Record]] = {TOPICS.features: [], TOPICS.predictions: [], TOPICS.labels: []}
    for i in range(n):
        t = T0 + timedelta(seconds=i)
        features = {"x": float(rng.normal(1.0 if i >= 0.4 * n else 0.0)), "y": float(rng.lognormal()),
                    "c": str(rng.choice(["a", "b"]))}
        prediction = str(rng.choice(["yes", "no"]))
        wrong = rng.random() < (0.4 if i >= 0.6 * n else 0.05)
        label = ("no" if prediction == "yes" else "yes") if wrong else prediction
        for topic, event in ((TOPICS.features, FeatureEvent(event_id=str(i), model_id="m", timestamp=t,
                                                             features=features)),
                             (TOPICS.predictions, PredictionEvent(event_id=str(i), model_id="m", timestamp=t,
                                                                  model_version="v1", prediction=prediction)),
                             (TOPICS.labels, LabelEvent(event_id=str(i), model_id="m", timestamp=t, label=label))):
            out[topic].append(Record(topic, 0, len(out[topic]), b"m", encode(event)))
    return out


def feed(r: Router, records: dict[str, list[Record]], size: int, start: int = 0, stop: int | None = None) -> list:
    """Poll-like batches of `size` records per topic, all three topics in each batch."""
    alerts = []
    stop = stop if stop is not None else max(len(v) for v in records.values())
    for s in range(start, stop, size):
        batch = {(topic, 0): recs[s:min(s + size, stop)] for topic, recs in records.items()}
        alerts += r.route(batch).alerts
    return alerts


def keys(alerts) -> list[tuple[str, str, str, int]]:
    return sorted((a.alert_id, a.kind, a.signal, a.window.last_offset) for a in alerts)


def test_a_drifting_feature_and_a_rising_error_rate_alert_after_their_change_only():
    alerts = feed(router(), stream_records(), size=1000)
    found = {(a.kind, a.signal) for a in alerts}
    assert found == {("data_drift", "x"), ("concept_drift", "error_rate")}, [a.line() for a in alerts]
    assert all(a.window.last_offset >= 4800 for a in alerts if a.signal == "x")
    assert all(a.window.last_offset >= 7200 for a in alerts if a.signal == "error_rate")


def test_any_batching_of_the_same_records_raises_the_same_alerts():
    records = stream_records()
    expected = keys(feed(router(), records, size=1000))
    assert expected
    assert keys(feed(router(), records, size=137)) == expected
    assert keys(feed(router(), records, size=5000)) == expected


def test_a_snapshot_taken_mid_stream_resumes_to_the_same_alerts():
    records = stream_records()
    expected = keys(feed(router(), records, size=500))
    first = router()
    before = feed(first, records, size=500, stop=5500)
    snapshot = pickle.loads(pickle.dumps(first.snapshots()[0]))   # what the state topic would hold
    assert snapshot.offsets == {TOPICS.features: 5500, TOPICS.predictions: 5500, TOPICS.labels: 5500}
    second = router()
    second.adopt(0, snapshot)
    after = feed(second, records, size=500, start=5500)
    assert keys(before + after) == expected


def test_bad_messages_are_dead_lettered_with_their_reason_and_the_rest_is_routed():
    registry = CollectorRegistry()
    r = router(registry)
    good = FeatureEvent(event_id="1", model_id="m", timestamp=T0, features={"x": 1.0, "y": 2.0, "c": "a"})
    stranger = FeatureEvent(event_id="2", model_id="nobody", timestamp=T0, features={"x": 1.0})
    values = [encode(good), b"\xff\xfe", b"{not json", b"[1]", b'{"schema_version": 9}',
              b'{"event_id": "3", "model_id": "m"}', encode(stranger), encode(good)]
    records = [Record(TOPICS.features, 2, 100 + i, b"m", v) for i, v in enumerate(values)]
    routed = r.route({(TOPICS.features, 2): records})
    assert [(d.record.offset, d.reason) for d in routed.dead_letters] == [
        (101, "invalid_utf8"), (102, "invalid_json"), (103, "not_an_object"), (104, "unknown_schema_version"),
        (105, "invalid_event"), (106, "unknown_model")]
    assert "timestamp" in routed.dead_letters[4].detail
    assert routed.positions == {(TOPICS.features, 2): 108} and routed.records == 8
    assert registry.get_sample_value("streamdrift_events_total", {"role": "features", "model": "m"}) == 2
    assert registry.get_sample_value("streamdrift_dead_letters_total", {"reason": "unknown_model"}) == 1
    dead = dict(routed.dead_letters[0].headers())
    assert dead["streamdrift.reason"] == b"invalid_utf8" and dead["streamdrift.source"] == b"%s/2/101" % TOPICS.features.encode()


def test_a_partition_taken_on_without_a_snapshot_remembers_where_it_began():
    r = router()
    records = stream_records(n=300)
    r.route({(TOPICS.features, 0): records[TOPICS.features][100:200]})
    r.route({(TOPICS.features, 0): records[TOPICS.features][200:300]})
    state = r.partitions[0]
    assert state.starts == {TOPICS.features: 100} and state.positions == {TOPICS.features: 300}
    r.adopt(0, None)   # a rewind with no snapshot yet goes back to where processing began
    assert r.partitions[0].starts == {TOPICS.features: 100} and r.partitions[0].positions == {}


# -- labels wait for their predictions and features ---------------------------------------------------
def unread(partition: int) -> bool:
    """The consumer still has predictions and features of the partition to return."""
    return False


def pending_and_positions(r: Router) -> tuple[tuple[int, int], dict[str, int]]:
    state = r.partitions[0]
    return state.monitors["m"].join.pending, dict(state.positions)


def test_labels_fetched_before_their_predictions_are_held_until_the_predictions_catch_up():
    records = stream_records(n=300)
    r = router()
    r.route({(TOPICS.labels, 0): records[TOPICS.labels]}, unread)
    assert r.held(TOPICS.labels, 0) == 300 and r.holding
    assert TOPICS.labels not in r.partitions[0].positions, "a held label's offset is not a position yet"
    r.route({(TOPICS.features, 0): records[TOPICS.features][:200],
             (TOPICS.predictions, 0): records[TOPICS.predictions][:200]}, unread)
    assert r.held(TOPICS.labels, 0) == 100                      # labels up to the 200th event time went
    (waiting_predictions, waiting_labels), positions = pending_and_positions(r)
    assert (waiting_predictions, waiting_labels) == (0, 0)      # each met its prediction: none waits
    assert positions[TOPICS.labels] == 200
    r.route({(TOPICS.features, 0): records[TOPICS.features][200:],
             (TOPICS.predictions, 0): records[TOPICS.predictions][200:]}, lambda partition: True)
    assert not r.holding and pending_and_positions(r)[1][TOPICS.labels] == 300


def test_labels_also_wait_for_lagging_features():
    records = stream_records(n=300)
    r = router()
    r.route({(TOPICS.features, 0): records[TOPICS.features][:50],
             (TOPICS.predictions, 0): records[TOPICS.predictions],
             (TOPICS.labels, 0): records[TOPICS.labels]}, unread)
    assert r.held(TOPICS.labels, 0) == 250, "labels later than the features processed wait"
    r.route({(TOPICS.features, 0): records[TOPICS.features][50:]}, unread)
    assert not r.holding


def test_without_anything_left_to_read_labels_are_not_held():
    records = stream_records(n=100)
    r = router()
    r.route({(TOPICS.labels, 0): records[TOPICS.labels]})   # default: upstream read
    assert not r.holding
    assert pending_and_positions(r)[0] == (0, 100)   # orphan labels wait in the join for predictions instead


def test_features_alone_do_not_release_labels_before_any_prediction_is_processed():
    records = stream_records(n=100)
    r = router()
    r.route({(TOPICS.features, 0): records[TOPICS.features], (TOPICS.labels, 0): records[TOPICS.labels]}, unread)
    assert r.held(TOPICS.labels, 0) == 100


def test_the_service_keeps_no_completed_quality_windows_and_a_backtest_keeps_them_for_its_report():
    records = stream_records(3_000)
    kept = {}
    for windows in (0, 64):
        r = Router(CONFIG, ServiceMetrics(CollectorRegistry()), quality_windows=windows)
        feed(r, records, 500)
        kept[windows] = {name: q.drain() for name, q in r.partitions[0].monitor("m").quality.items()}
    assert all(done == [] for done in kept[0].values())
    # 3,000 events make three windows of 1,000 per feature, each with its rate of every problem.
    assert {name: len(done) for name, done in kept[64].items()} == {"x": 3, "y": 3, "c": 3}
    assert set(kept[64]["x"][0][1]) == {"missing", "out_of_range", "wrong_type"}

"""The prediction-label join on its own: symmetric, shadow-aware, bounded, and its state survives a snapshot."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

from consumers.label_join import LabelJoin

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_labels_join_their_predictions_in_either_order():
    join = LabelJoin()
    assert join.add_predictions(["a", "b"], ["yes", "no"], ["v1", "v2"], at(0, 1), [None, None]) == ([], [])
    joined = join.add_labels(["b", "c"], ["no", "yes"], at(5, 6))          # c overtakes its prediction
    assert [(j.row, j.prediction, j.version, j.label) for j in joined] == [(0, "no", "v2", "no")]
    assert joined[0].labelled_at - joined[0].predicted_at == timedelta(seconds=4)
    late, _ = join.add_predictions(["x", "c"], [1, "yes"], ["v1", "v1"], at(7, 7), [None, ("fr",)])
    assert [(j.row, j.prediction, j.label, j.segment) for j in late] == [(1, "yes", "yes", ("fr",))]
    assert join.pending == (2, 1)    # a and x wait for their labels; c's label waits for other versions


def test_shadow_versions_of_one_request_are_siblings_and_each_joins_the_label():
    join = LabelJoin()
    join.add_predictions(["r1"], ["yes"], ["champion"], at(0), [None])
    _, siblings = join.add_predictions(["r1", "r2"], ["no", "yes"], ["shadow", "shadow"], at(0, 0), [None, None])
    assert [(s.row, s.version, s.other, s.agree) for s in siblings] == [(0, "shadow", "champion", False)]
    joined = join.add_labels(["r1"], ["yes"], at(9))
    assert sorted((j.version, j.prediction) for j in joined) == [("champion", "yes"), ("shadow", "no")]


def test_what_waits_longer_than_the_ttl_is_dropped_and_counted():
    join = LabelJoin(ttl_seconds=60)
    join.add_predictions(["a", "b"], ["y", "y"], ["v", "v"], at(0, 30), [None, None])
    join.add_labels(["orphan"], ["y"], at(5))
    join.add_labels(["b"], ["y"], at(70))          # the labels reached 70: a is past its TTL
    join.add_predictions(["c"], ["y"], ["v"], at(66), [None])   # the predictions reached 66: so is the orphan
    expired = join.expire()
    assert (expired.unlabelled, expired.orphaned) == (1, 1)
    assert join.coverage == 0.5 and join.pending == (1, 0)


def test_predictions_read_far_ahead_of_their_labels_wait_for_the_labels_clock():
    """A consumer may read a day of predictions before the labels an hour behind them: each prediction
    still waits until the labels have passed its time plus the TTL, so the pairs do not depend on how
    the two topics' fetches interleaved."""
    def pairs(chunk: int) -> tuple[list[str], int]:
        join, joined, unlabelled = LabelJoin(ttl_seconds=7200), [], 0
        ids = [f"r{i}" for i in range(400)]
        times = at(*(600 * i for i in range(400)))            # a prediction every 10 minutes
        label_times = [t + timedelta(hours=1) for t in times]
        for start in range(0, 400, chunk):                   # predictions `chunk` ahead of the labels
            join.add_predictions(ids[start:start + chunk], ["y"] * chunk, ["v"] * chunk,
                                 times[start:start + chunk], [None] * chunk)
            unlabelled += join.expire().unlabelled
            kept = [i for i in range(start, start + chunk) if i % 4]   # every fourth label never comes
            joined += [j.event_id for j in join.add_labels([ids[i] for i in kept], ["y"] * len(kept),
                                                           [label_times[i] for i in kept])]
            unlabelled += join.expire().unlabelled
        return joined, unlabelled

    interleaved, ahead = pairs(1), pairs(200)
    assert len(interleaved[0]) == 300 and interleaved[1] == 99   # the last missing label has not expired yet
    assert ahead == interleaved


def test_each_side_is_bounded_and_the_oldest_go_first():
    join = LabelJoin(max_pending=3)
    join.add_predictions(list("abcde"), [0] * 5, ["v"] * 5, at(*range(5)), [None] * 5)
    assert join.expire().unlabelled == 2 and join.pending == (3, 0)
    assert join.add_labels(["a", "b"], [0, 0], at(6, 6)) == []            # dropped: they wait as labels now
    assert [j.row for j in join.add_labels(["c", "e"], [0, 0], at(7, 7))] == [0, 1]


def test_state_round_trips_through_pickle():
    join = LabelJoin()
    join.add_predictions(["a", "b"], ["yes", "no"], ["v1", "v1"], at(0, 0), [None, None])
    join.add_labels(["z"], ["no"], at(1))
    restored = LabelJoin()
    restored.load(pickle.loads(pickle.dumps(join.state())))
    assert restored.pending == (2, 1)
    assert [j.label for j in restored.add_labels(["a"], ["yes"], at(2))] == ["yes"]
    assert [j.prediction for j in restored.add_predictions(["z"], ["no"], ["v1"], at(3), [None])[0]] == ["no"]

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
    join.add_labels(["b"], ["y"], at(70))          # now = 70: a and the orphan label are past their TTL
    expired = join.expire()
    assert (expired.unlabelled, expired.orphaned) == (1, 1)
    assert join.coverage == 0.5 and join.pending == (0, 0)


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

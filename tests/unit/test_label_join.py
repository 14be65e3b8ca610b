"""The prediction-label join on its own: symmetric, bounded, and its state survives a snapshot."""

from __future__ import annotations

import pickle

from consumers.label_join import LabelJoin


def test_labels_join_their_predictions_in_either_order():
    join = LabelJoin()
    assert join.add_predictions(["a", "b"], ["yes", "no"], ["v1", "v2"]) == []
    joined = join.add_labels(["b", "c"], ["no", "yes"])          # c overtakes its prediction
    assert [(j.row, j.prediction, j.version, j.label) for j in joined] == [(0, "no", "v2", "no")]
    late = join.add_predictions(["x", "c"], [1, "yes"], ["v1", "v1"])
    assert [(j.row, j.prediction, j.label) for j in late] == [(1, "yes", "yes")]
    assert join.pending == (2, 0)    # a and x wait for their labels


def test_each_side_is_bounded_and_the_oldest_go_first():
    join = LabelJoin(max_pending=3)
    join.add_predictions(list("abcde"), [0] * 5, ["v"] * 5)
    assert join.pending == (3, 0)
    assert join.add_labels(["a", "b"], [0, 0]) == []            # dropped: they wait as labels now
    assert [j.row for j in join.add_labels(["c", "e"], [0, 0])] == [0, 1]


def test_state_round_trips_through_pickle():
    join = LabelJoin()
    join.add_predictions(["a", "b"], ["yes", "no"], ["v1", "v1"])
    join.add_labels(["z"], ["no"])
    restored = LabelJoin()
    restored.load(pickle.loads(pickle.dumps(join.state())))
    assert restored.pending == (2, 1)
    assert [j.label for j in restored.add_labels(["a"], ["yes"])] == ["yes"]
    assert [j.prediction for j in restored.add_predictions(["z"], ["no"], ["v1"])] == ["no"]

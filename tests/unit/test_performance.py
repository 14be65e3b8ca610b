"""Rolling performance: per-class figures that accuracy hides, both windows, bounded classes, exact replay."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from consumers.performance import (
    OTHER,
    TIME_BUCKETS,
    ClassificationPerformance,
    ClassScores,
    RegressionPerformance,
    residuals,
)


def _traffic(rng, n: int, rare_recall: float, rare_share: float = 0.02):
    """Three classes; the common ones are recognised 95% of the time, the rare one ("fraud") rare_recall."""
    labels = rng.choice(["ok", "review", "fraud"], size=n, p=[0.8 - rare_share, 0.2, rare_share])
    right = rng.random(n) < np.where(labels == "fraud", rare_recall, 0.95)
    wrong = np.where(labels == "ok", "review", "ok")
    return np.where(right, labels, wrong), labels


def _reference(predictions, labels) -> dict:
    """Textbook definitions, pair by pair, for comparison."""
    classes = sorted(set(predictions) | set(labels))
    out = {"accuracy": sum(p == a for p, a in zip(predictions, labels)) / len(labels)}
    for c in classes:
        tp = sum(p == c and a == c for p, a in zip(predictions, labels))
        support, predicted = list(labels).count(c), list(predictions).count(c)
        precision = tp / predicted if predicted else math.nan
        recall = tp / support if support else math.nan
        f1 = 2 * precision * recall / (precision + recall) if predicted and support and tp else 0.0
        out[c] = (precision, recall, f1, support, predicted)
    out["macro_f1"] = float(np.mean([out[c][2] for c in classes]))
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


# -- what the figures say ---------------------------------------------------------------------------
def test_a_rare_class_whose_recall_collapses_barely_moves_accuracy_but_shows_in_its_recall():
    rng = np.random.default_rng(11)
    perf = ClassificationPerformance(window_events=5_000, positive_class="fraud")
    perf.update(*_traffic(rng, 5_000, rare_recall=0.9))
    before = perf.summary()["events"]
    perf.update(*_traffic(rng, 5_000, rare_recall=0.1))
    after = perf.summary()["events"]
    assert abs(before.accuracy - after.accuracy) < 0.025          # within a 1,000-pair window's noise (~0.007 sd x 3)
    assert before.classes["fraud"].recall > 0.85 and after.classes["fraud"].recall < 0.15
    assert 70 <= after.classes["fraud"].support <= 130              # 2% of 5,000: the recall is worth something
    assert after.positive == after.classes["fraud"]
    assert after.macro_f1 < before.macro_f1 - 0.2
    assert after.classes["ok"].recall > 0.93                         # the common classes are untouched


def test_figures_match_the_textbook_definitions_over_the_last_window_events_pairs():
    rng = np.random.default_rng(12)
    predictions, labels = _traffic(rng, 3_000, rare_recall=0.5, rare_share=0.05)
    perf = ClassificationPerformance(window_events=1_200)
    for start in range(0, 3_000, 700):
        perf.update(predictions[start:start + 700].tolist(), labels[start:start + 700].tolist())
    s = perf.summary()["events"]
    expected = _reference(predictions[-1_200:].tolist(), labels[-1_200:].tolist())
    assert s.pairs == 1_200 and s.accuracy == pytest.approx(expected["accuracy"])
    assert s.macro_f1 == pytest.approx(expected["macro_f1"])
    assert set(s.classes) == {"ok", "review", "fraud"} and s.other is None
    for name, scores in s.classes.items():
        got = (scores.precision, scores.recall, scores.f1)
        assert all(_same(g, e) for g, e in zip(got, expected[name][:3])), name
        assert (scores.support, scores.predicted) == expected[name][3:]


def test_a_class_never_predicted_has_no_precision_and_zero_f1():
    perf = ClassificationPerformance(positive_class="yes")
    perf.update(["no", "no", "no"], ["yes", "no", "no"])
    s = perf.summary()["events"]
    assert math.isnan(s.positive.precision) and s.positive.recall == 0.0 and s.positive.f1 == 0.0
    assert s.positive.support == 1 and s.classes["no"].precision == pytest.approx(2 / 3)
    empty = ClassificationPerformance(positive_class="yes").summary()["events"]
    assert empty.pairs == 0 and math.isnan(empty.accuracy) and math.isnan(empty.positive.recall)


def test_classes_are_compared_by_their_text_and_missing_sides_are_left_out():
    perf = ClassificationPerformance()
    perf.update([1, 1.0, True, None, "a", float("nan")], ["1", 1, "True", "x", "a", "b"])
    s = perf.summary()["events"]
    assert (s.pairs, s.accuracy) == (4, 1.0)
    assert set(s.classes) == {"1", "True", "a"}


# -- bounded classes ----------------------------------------------------------------------------------
def test_classes_beyond_max_classes_are_pooled_and_never_match_each_other():
    perf = ClassificationPerformance(max_classes=3, positive_class="z")
    perf.update(["a", "b", "c", "d", "c"], ["a", "b", "d", "c", "c"])   # c, d arrive after a, b (z is first)
    s = perf.summary()["events"]
    assert list(s.classes) == ["a", "b"] and s.positive.support == 0
    assert s.other == ClassScores(precision=1 / 3, recall=1 / 3, f1=1 / 3, support=3, predicted=3)
    assert s.accuracy == pytest.approx(3 / 5)                            # c for d and d for c are errors
    perf.update([f"new-{i}" for i in range(10_000)], [f"new-{i}" for i in range(10_000)])
    assert len(perf.state()["names"]) == 3


def test_the_first_classes_seen_keep_their_names_whatever_the_batching():
    stream_p = ["x", "y", "y", "q", "r", "x", "s"]
    stream_l = ["y", "x", "p", "q", "s", "x", "r"]
    whole = ClassificationPerformance(max_classes=4)
    whole.update(stream_p, stream_l)
    one_by_one = ClassificationPerformance(max_classes=4)
    for p, a in zip(stream_p, stream_l):
        one_by_one.update([p], [a])
    assert whole.state()["names"] == one_by_one.state()["names"] == ["x", "y", "p", "q"]


# -- the event-time window ----------------------------------------------------------------------------
def test_the_time_window_keeps_the_last_window_seconds_of_event_time():
    perf = ClassificationPerformance(window_events=10_000, window_seconds=600)
    t0 = 1_700_000_400.0                       # a multiple of the 10 s bucket
    times = t0 + np.arange(1_200)              # one pair a second for 20 minutes
    predictions = np.where(np.arange(1_200) < 600, "a", "b")
    perf.update(predictions, np.full(1_200, "a"), times)
    s = perf.summary()
    assert s["events"].pairs == 1_200 and s["events"].accuracy == 0.5
    time_window = s["time"]
    assert time_window.pairs == 600 and time_window.accuracy == 0.0      # the last 10 minutes only
    assert (time_window.start, time_window.end) == (t0 + 600, t0 + 1_199)
    assert (s["events"].start, s["events"].end) == (t0, t0 + 1_199)


def test_the_time_window_edge_moves_in_whole_buckets_and_late_pairs_stay_out():
    perf = ClassificationPerformance(window_seconds=60)     # 1 s buckets
    perf.update(["a"] * 3, ["a"] * 3, [100.0, 100.5, 130.0])
    assert perf.summary()["time"].pairs == 3
    perf.update(["a"], ["a"], [159.9])                    # bucket 159: the window is buckets 100..159
    assert perf.summary()["time"].pairs == 4
    perf.update(["a"], ["a"], [160.0])                    # buckets 101..160: both pairs of bucket 100 leave
    assert perf.summary()["time"].pairs == 3
    perf.update(["a", "a"], ["a", "a"], [50.0, 140.0])    # 50 is older than the window: out of it, not the other
    assert perf.summary()["time"].pairs == 4
    assert perf.summary()["events"].pairs == 7
    perf.update(["a"], ["a"], [10_000.0])                 # far ahead: everything else leaves
    assert perf.summary()["time"].pairs == 1


def test_datetimes_and_epoch_seconds_give_the_same_window():
    base = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    times = [base + timedelta(seconds=s) for s in range(0, 3_000, 3)]
    naive = [t.replace(tzinfo=None) for t in times]      # read as UTC, as the events are
    results = []
    for given in (times, naive, [t.timestamp() for t in times], np.array(naive, dtype="datetime64[us]")):
        perf = ClassificationPerformance(window_seconds=900)
        perf.update(["a", "b"] * 500, ["a"] * 1_000, given)
        results.append(perf.summary()["time"])
    assert all(r == results[0] for r in results)
    assert results[0].pairs == 300


def test_a_time_window_needs_times():
    perf = ClassificationPerformance(window_seconds=60)
    with pytest.raises(ValueError, match="times is None but window_seconds=60"):
        perf.update(["a"], ["a"])
    with pytest.raises(ValueError, match="2 times for 1 pairs"):
        perf.update(["a"], ["a"], [1.0, 2.0])
    with pytest.raises(ValueError, match="2 predictions and 1 labels"):
        perf.update(["a", "b"], ["a"], [1.0])


# -- replay and snapshots ---------------------------------------------------------------------------------
def _classification_stream(seed: int, n: int):
    rng = np.random.default_rng(seed)
    predictions, labels = _traffic(rng, n, rare_recall=0.6, rare_share=0.05)
    extra = rng.random(n) < 0.01                            # a sprinkle of classes beyond max_classes
    labels = np.where(extra, [f"odd-{i}" for i in rng.integers(0, 20, size=n)], labels)
    times = 1_700_000_000 + np.cumsum(rng.exponential(0.5, size=n)) + rng.normal(0, 5, size=n)   # out of order
    return predictions.tolist(), labels.tolist(), times


def test_any_batching_gives_the_same_summaries():
    predictions, labels, times = _classification_stream(13, 8_000)
    whole = ClassificationPerformance(window_events=1_500, window_seconds=600, positive_class="fraud", max_classes=8)
    whole.update(predictions, labels, times)
    cut = ClassificationPerformance(window_events=1_500, window_seconds=600, positive_class="fraud", max_classes=8)
    edges = sorted(np.random.default_rng(0).choice(np.arange(1, 8_000), size=300, replace=False).tolist())
    for a, b in zip([0, *edges], [*edges, 8_000]):
        cut.update(predictions[a:b], labels[a:b], times[a:b])
    assert cut.summary() == whole.summary()
    assert whole.summary()["time"].other is not None


def test_state_round_trips_through_pickle_and_continues_exactly():
    predictions, labels, times = _classification_stream(14, 6_000)
    kwargs = {"window_events": 1_000, "window_seconds": 300, "positive_class": "fraud", "max_classes": 6}
    original = ClassificationPerformance(**kwargs)
    original.update(predictions[:2_500], labels[:2_500], times[:2_500])
    state = original.state()
    frozen = pickle.dumps(state)
    restored = ClassificationPerformance(**kwargs)
    restored.load(pickle.loads(frozen))
    assert restored.summary() == original.summary()
    original.update(predictions[2_500:], labels[2_500:], times[2_500:])
    restored.update(predictions[2_500:], labels[2_500:], times[2_500:])
    assert restored.summary() == original.summary()
    assert pickle.dumps(state) == frozen           # neither updating nor loading touched the state handed out
    again = ClassificationPerformance(**kwargs)
    again.load(state)
    again.update(predictions[2_500:], labels[2_500:], times[2_500:])
    assert again.summary() == original.summary()


def test_a_window_whose_configuration_changed_since_the_snapshot_starts_empty():
    old = ClassificationPerformance(window_events=1_000)
    old.update(["a", "b"] * 100, ["a", "a"] * 100)
    new = ClassificationPerformance(window_events=500, window_seconds=60)
    new.load(pickle.loads(pickle.dumps(old.state())))
    assert new.summary()["events"].pairs == 0 and new.summary()["time"].pairs == 0
    assert new.state()["names"] == ["a", "b"]
    new.update(["c"], ["c"], [1.0])
    assert list(new.summary()["time"].classes) == ["c"]


# -- regression ---------------------------------------------------------------------------------------------
def test_residuals_are_label_minus_prediction_and_nan_where_not_numbers():
    r = residuals(np.array([1.0, 2.0, 3.0]), [2, 2, 1])
    assert r.tolist() == [1.0, 0.0, -2.0] and r.dtype == np.float64
    assert np.isnan(residuals(["2.5", None], [1.0, 1.0])).all()      # text is not parsed
    assert RegressionPerformance.residuals is residuals
    with pytest.raises(ValueError, match="2 predictions and 1 labels"):
        residuals([1, 2], [1])


def test_regression_figures_over_both_windows():
    rng = np.random.default_rng(15)
    n = 5_000
    labels = rng.normal(50, 5, size=n)
    predictions = labels - rng.normal(0, 1, size=n) - np.where(np.arange(n) >= 4_000, 2.0, 0.0)
    times = 1_700_000_000.0 + np.arange(n)            # one a second
    perf = RegressionPerformance(window_events=1_000, window_seconds=1_200)
    for start in range(0, n, 333):
        perf.update(predictions[start:start + 333], labels[start:start + 333], times[start:start + 333])
    s = perf.summary()
    r = labels - predictions
    recent = r[-1_000:]
    assert s["events"].pairs == 1_000
    assert s["events"].mae == pytest.approx(np.abs(recent).mean())
    assert s["events"].rmse == pytest.approx(np.sqrt((recent ** 2).mean()))
    assert s["events"].bias == pytest.approx(recent.mean()) and s["events"].bias > 1.8
    start = (times[-1] // 20 - TIME_BUCKETS + 1) * 20    # 20 s buckets: the last 60, the latest one partly filled
    in_time = r[times >= start]
    assert s["time"].start == start and s["time"].pairs == len(in_time) > 1_180
    assert s["time"].bias == pytest.approx(in_time.mean())
    assert s["time"].rmse == pytest.approx(np.sqrt((in_time ** 2).mean()))


def test_regression_leaves_out_pairs_with_a_missing_side_and_replays_exactly():
    perf = RegressionPerformance(window_events=10)
    perf.update([1.0, None, 3.0, float("nan")], [2.0, 5.0, 1.0, 4.0])
    s = perf.summary()["events"]
    assert (s.pairs, s.mae, s.bias) == (2, 1.5, -0.5)
    restored = RegressionPerformance(window_events=10)
    restored.load(pickle.loads(pickle.dumps(perf.state())))
    for p in (perf, restored):
        p.update(list(range(20)), list(range(1, 21)))
    assert restored.summary() == perf.summary() and perf.summary()["events"].bias == 1.0


def test_regression_batching_changes_the_events_window_not_at_all_and_the_time_window_by_rounding_only():
    rng = np.random.default_rng(16)
    n = 7_000
    predictions, labels = rng.normal(size=n), rng.normal(size=n)
    times = 1_700_000_000 + np.cumsum(rng.exponential(0.3, size=n))
    whole = RegressionPerformance(window_events=2_000, window_seconds=900)
    whole.update(predictions, labels, times)
    cut = RegressionPerformance(window_events=2_000, window_seconds=900)
    edges = sorted(rng.choice(np.arange(1, n), size=150, replace=False).tolist())
    for a, b in zip([0, *edges], [*edges, n]):
        cut.update(predictions[a:b], labels[a:b], times[a:b])
    assert cut.summary()["events"] == whole.summary()["events"]
    got, expected = cut.summary()["time"], whole.summary()["time"]
    assert got.pairs == expected.pairs and (got.start, got.end) == (expected.start, expected.end)
    assert got.mae == pytest.approx(expected.mae, rel=1e-12) and got.bias == pytest.approx(expected.bias, abs=1e-12)


@pytest.mark.parametrize("make, named", [
    (lambda: ClassificationPerformance(window_events=0), "window_events=0"),
    (lambda: ClassificationPerformance(window_seconds=-5), "window_seconds=-5"),
    (lambda: ClassificationPerformance(max_classes=0), "max_classes=0"),
    (lambda: RegressionPerformance(window_events=1.5), "window_events=1.5"),
    (lambda: RegressionPerformance(window_seconds=float("inf")), "window_seconds=inf"),
])
def test_bad_parameters_are_refused_by_name(make, named):
    with pytest.raises(ValueError, match=named):
        make()


def test_time_buckets_constant_is_what_the_docs_say():
    assert TIME_BUCKETS == 60 and OTHER == "other"

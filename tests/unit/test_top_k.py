"""Which segment values get monitors of their own: heavy values tracked, memory bounded, slots sticky, replay exact."""

from __future__ import annotations

import pickle
from itertools import pairwise

import numpy as np
import pytest

from consumers.top_k import OTHER, TopK


def _stream(rng, n: int, heavy: dict[str, float], rare: int) -> list[str]:
    """n values: each heavy value at its share, the rest spread over `rare` distinct ids."""
    names = [*heavy, "rare"]
    picks = rng.choice(len(names), size=n, p=[*heavy.values(), 1 - sum(heavy.values())])
    ids = rng.integers(0, rare, size=n)
    return [names[p] if p < len(heavy) else f"user-{i}" for p, i in zip(picks.tolist(), ids.tolist())]


def _feed(top: TopK, values: list[str], batch: int) -> list[str]:
    mapped = []
    for start in range(0, len(values), batch):
        mapped += top.update(values[start:start + batch])
    return mapped


def test_a_five_percent_value_among_thousands_of_rare_ones_is_tracked_and_they_are_not():
    values = _stream(np.random.default_rng(0), 60_000, {"vip": 0.05}, rare=5_000)
    top = TopK(k=20)
    mapped = _feed(top, values, 700)
    assert top.tracked == ("vip",)
    assert set(mapped[-10_000:]) == {"vip", OTHER}
    assert all(m == v for m, v in zip(mapped[-10_000:], values[-10_000:]) if v == "vip")
    # Negative control: without the heavy value nothing is tracked at all.
    quiet = TopK(k=20)
    _feed(quiet, _stream(np.random.default_rng(0), 60_000, {}, rare=5_000), 700)
    assert quiet.tracked == ()


def test_the_heaviest_values_get_the_slots():
    shares = {"a": 0.3, "b": 0.2, "c": 0.1, "d": 0.05, "e": 0.02}
    top = TopK(k=3)
    _feed(top, _stream(np.random.default_rng(1), 50_000, shares, rare=10_000), 1_000)
    assert set(top.tracked) == {"a", "b", "c"}
    assert top.count("a") > top.count("b") > top.count("c") > top.count("d")


def test_the_map_is_deterministic_and_the_same_however_the_stream_is_cut():
    values = _stream(np.random.default_rng(2), 30_000, {"x": 0.2, "y": 0.1, "z": 0.03}, rare=2_000)
    whole = TopK(k=2, every=500)
    expected = whole.update(values)
    again = TopK(k=2, every=500)
    assert again.update(values) == expected
    rng = np.random.default_rng(3)
    edges = sorted(rng.choice(np.arange(1, 30_000), size=200, replace=False).tolist())
    cut = TopK(k=2, every=500)
    mapped = []
    for a, b in zip([0, *edges], [*edges, 30_000]):
        mapped += cut.update(values[a:b])
    assert mapped == expected
    assert cut.state() == whole.state()


def test_memory_is_bounded_whatever_the_number_of_distinct_values():
    top = TopK(k=20, every=1_000)
    sizes = []
    for i in range(500):     # 500,000 values, all distinct (a user id per request)
        top.update([f"user-{i * 1_000 + j}" for j in range(1_000)])
        sizes.append(len(pickle.dumps(top.state())))
    assert len(top.state()["counts"]) <= top.capacity == 200
    assert max(sizes) < 60_000
    assert top.tracked == ()


def test_two_values_of_equal_share_do_not_flap():
    values = _stream(np.random.default_rng(4), 400_000, {"left": 0.3, "right": 0.3}, rare=50_000)
    top = TopK(k=1, every=1_000)
    holders = []
    for start in range(0, len(values), 1_000):
        top.update(values[start:start + 1_000])
        holders.append(top.tracked)
    assert holders[0] in {("left",), ("right",)}
    assert set(holders) == {holders[0]}      # tracked at the first decision, never swapped in 400 of them
    # Negative control: without hysteresis the same stream swaps the slot again and again.
    eager = TopK(k=1, every=1_000, hysteresis=1.0)
    eager_holders = []
    for start in range(0, len(values), 1_000):
        eager.update(values[start:start + 1_000])
        eager_holders.append(eager.tracked)
    assert sum(a != b for a, b in pairwise(eager_holders)) > 5


def test_a_clearly_heavier_newcomer_takes_the_weakest_slot_and_the_loser_is_reported_once():
    rng = np.random.default_rng(5)
    top = TopK(k=2, every=1_000, half_life=10_000)
    _feed(top, _stream(rng, 30_000, {"old": 0.3, "weak": 0.05}, rare=10_000), 1_000)
    assert top.tracked == ("old", "weak")
    evicted, step = [], 0
    while "new" not in top.tracked:
        top.update(_stream(rng, 1_000, {"old": 0.3, "weak": 0.05, "new": 0.3}, rare=10_000))
        evicted += top.evicted()
        step += 1
    assert top.tracked == ("old", "new")        # "new" took the weakest one's slot, in its position
    assert evicted == ["weak"]
    top.update(_stream(rng, 1_000, {"old": 0.3, "new": 0.3}, rare=10_000))
    assert top.evicted() == []                  # reported for the update that evicted it only
    # "weak" counts about 0.05 * 14,400 = 720 at half-life 10,000; "new" gains 300 a decision, decayed by
    # 0.933, and must pass 1.5 * 720: 4 decisions.
    assert step == 4


def test_a_value_that_stops_appearing_fades_out():
    rng = np.random.default_rng(6)
    top = TopK(k=5, every=1_000, half_life=5_000, min_count=100)
    _feed(top, _stream(rng, 20_000, {"gone": 0.2, "stays": 0.2}, rare=10_000), 1_000)
    assert set(top.tracked) == {"gone", "stays"}
    lost_at = None
    for step in range(50):
        top.update(_stream(rng, 1_000, {"stays": 0.2}, rare=10_000))
        if top.evicted():
            assert top.evicted() == ["gone"] and lost_at is None
            lost_at = step
    assert top.tracked == ("stays",)
    # 0.2 share: count ~1,440 at half-life 5,000; below min_count / hysteresis = 66.7 after ~4.4 half-lives.
    assert 18 <= lost_at <= 25


def test_the_pool_name_is_never_tracked():
    top = TopK(k=3, every=100, min_count=10)
    mapped = top.update([OTHER] * 500 + ["real"] * 500)
    assert top.tracked == ("real",)
    assert set(mapped) == {OTHER, "real"}


def test_values_map_to_themselves_only_from_the_decision_that_tracks_them():
    top = TopK(k=1, every=10, min_count=5)
    assert top.update(["a"] * 15) == [OTHER] * 10 + ["a"] * 5


def test_state_round_trips_through_pickle_and_continues_exactly():
    values = _stream(np.random.default_rng(7), 20_000, {"p": 0.1, "q": 0.08}, rare=3_000)
    original = TopK(k=1, every=400, half_life=4_000)
    original.update(values[:10_321])
    restored = TopK(k=1, every=400, half_life=4_000)
    restored.load(pickle.loads(pickle.dumps(original.state())))
    assert restored.evicted() == original.evicted() and restored.tracked == original.tracked
    assert restored.update(values[10_321:]) == original.update(values[10_321:])
    assert restored.state() == original.state()


def test_a_smaller_k_after_a_restart_keeps_the_heaviest_holders():
    wide = TopK(k=3, every=1_000)
    wide.update(_stream(np.random.default_rng(9), 5_000, {"a": 0.1, "b": 0.3, "c": 0.2}, rare=1_000))
    assert set(wide.tracked) == {"a", "b", "c"}
    narrow = TopK(k=2, every=1_000)
    narrow.load(wide.state())
    assert set(narrow.tracked) == {"b", "c"} and narrow.evicted() == ["a"]


@pytest.mark.parametrize("kwargs, named", [({"k": 0}, "k=0"), ({"min_count": 0}, "min_count=0"),
                                           ({"half_life": -1}, "half_life=-1"), ({"every": 2.5}, "every=2.5"),
                                           ({"hysteresis": 0.9}, "hysteresis=0.9"),
                                           ({"k": 30, "capacity": 10}, "capacity=10")])
def test_bad_parameters_are_refused_by_name(kwargs, named):
    with pytest.raises(ValueError, match=named):
        TopK(**kwargs)

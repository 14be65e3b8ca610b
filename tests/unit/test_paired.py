"""Champion against challenger: the sequential test's calibration and power, by exact computation and simulation."""

from __future__ import annotations

import math
import pickle
from statistics import NormalDist

import numpy as np
import pytest

from consumers.paired import PairedComparison, log_e_value


# -- exact false-alarm probability ----------------------------------------------------------------
def _boundary(alpha: float, n_max: int) -> np.ndarray:
    """b*(n) for n = 1..n_max: the fewest "challenger wrong" among n discordant pairs at which the test's own
    e-value reaches 1 / alpha (n + 1: never). The e-value grows with b at fixed n, so a bisection finds it."""
    n = np.arange(1, n_max + 1)
    lo, hi = np.zeros(n_max, dtype=np.int64), n + 1
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        reached = (mid <= n) & (log_e_value(mid, n - mid) >= math.log(1 / alpha))
        hi = np.where(reached, mid, hi)
        lo = np.where(reached, lo, np.minimum(mid + 1, hi))
    return lo


def exact_false_alarm(alpha: float, n_max: int) -> float:
    """P(the e-value reaches 1 / alpha within n_max discordant pairs) when each is a fair coin: the
    probability mass of the random walk that crosses the boundary, step by step (exact up to float rounding)."""
    boundary = _boundary(alpha, n_max)
    alive = np.zeros(n_max + 2)
    alive[0] = 1.0
    crossed = 0.0
    for n in range(1, n_max + 1):
        alive[1:n + 1] = 0.5 * (alive[1:n + 1] + alive[:n])
        alive[0] *= 0.5
        b = boundary[n - 1]
        if b <= n:
            crossed += alive[b:n + 1].sum()
            alive[b:n + 1] = 0.0
    return crossed


@pytest.mark.parametrize("alpha", [0.05, 0.01, 1e-4])
def test_exact_false_alarm_probability_stays_under_alpha(alpha):
    probability = exact_false_alarm(alpha, 10_000)
    assert probability <= alpha
    assert probability >= 0.5 * alpha     # and the test is not needlessly deaf (0.042, 0.0078, 0.00007)


def test_the_exact_computation_sees_a_miscalibrated_boundary():
    # Negative control: the same computation for a threshold of 1 / (2 alpha) exceeds alpha.
    assert exact_false_alarm(0.1, 10_000) > 0.05


# -- simulations through the public API -------------------------------------------------------------
def _pairs(rng, n: int, champion_error: float, challenger_error: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
    champion_wrong = rng.random(n) < champion_error
    if kind == "independent":
        challenger_wrong = rng.random(n) < challenger_error
    elif kind == "nested":       # the challenger also fails every request the champion fails
        challenger_wrong = champion_wrong | (rng.random(n) < (challenger_error - champion_error) / (1 - champion_error))
    else:                        # "shared": hard requests; P(challenger wrong | champion wrong) = 0.6
        rest = (challenger_error - 0.6 * champion_error) / (1 - champion_error)
        challenger_wrong = np.where(champion_wrong, rng.random(n) < 0.6, rng.random(n) < rest)
    return ~champion_wrong, ~challenger_wrong


def test_a_stream_of_fair_coins_alarms_as_often_as_the_exact_computation_says():
    """Every pair discordant, a fair coin: the class's false alarms over 6,000 pairs match the exact
    probability (so the class computes the test the exact computation analyses)."""
    alpha, length, seeds = 0.05, 6_000, 2_000
    alarms = 0
    for seed in range(seeds):
        champion = np.random.default_rng(seed).random(length) < 0.5
        test = PairedComparison(min_pairs=1, alpha=alpha)
        alarms += any(test.update(champion[i:i + 2_000], ~champion[i:i + 2_000]).concluded
                      for i in range(0, length, 2_000))
    exact = exact_false_alarm(alpha, length)
    assert abs(alarms / seeds - exact) <= 4 * math.sqrt(exact * (1 - exact) / seeds)
    assert alarms / seeds <= alpha


@pytest.mark.parametrize("kind", ["independent", "shared"])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_no_difference_raises_false_alarms_at_most_alpha_over_long_streams(kind, alpha):
    """1,000 seeds x 30,000 pairs at equal error rates (30%), errors independent or shared: the test's false
    alarms stay under alpha, while a one-sided z-test of the same counts checked after every batch (the
    negative control: a fixed-n test looked at again and again) exceeds it several times over."""
    seeds, length, batch = 1_000, 30_000, 1_000
    z = NormalDist().inv_cdf(1 - alpha)
    alarms = naive = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        test = PairedComparison(min_pairs=100, alpha=alpha)
        hit = naive_hit = False
        for _ in range(0, length, batch):
            hit |= test.update(*_pairs(rng, batch, 0.3, 0.3, kind)).concluded
            s = test.summary()
            naive_hit |= (s.challenger_worse - s.challenger_better) > z * math.sqrt(
                s.challenger_worse + s.challenger_better)
        alarms += hit
        naive += naive_hit
    print(f"{kind} alpha={alpha}: sequential {alarms / seeds}, repeated z-test {naive / seeds}")
    assert alarms / seeds <= alpha
    assert naive / seeds > 3 * alpha


def test_a_better_challenger_is_never_called_worse():
    alarms = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        test = PairedComparison(min_pairs=100, alpha=0.05)
        alarms += any(test.update(*_pairs(rng, 5_000, 0.10, 0.08, "independent")).concluded for _ in range(20))
    assert alarms <= 2     # the bound is alpha = 5% (15 of 300); a better challenger makes it far rarer


@pytest.mark.parametrize("alpha, median_within, all_within", [(0.01, 200, 700), (1e-4, 350, 900)])
def test_six_against_eighteen_percent_errors_is_detected_within_a_few_hundred_pairs(alpha, median_within, all_within):
    """Errors 6% (champion) and 18% (challenger), independent, 1,000 seeds: measured median 171 and 320 pairs,
    slowest 576 and 764 (docs/performance.md)."""
    delays = []
    for seed in range(1_000):
        rng = np.random.default_rng(seed)
        test = PairedComparison(min_pairs=100, alpha=alpha)
        for _ in range(20):
            verdict = test.update(*_pairs(rng, 500, 0.06, 0.18, "independent"))
            if verdict.concluded:
                delays.append(verdict.pairs)
                break
    assert len(delays) == 1_000
    assert np.median(delays) <= median_within
    assert max(delays) <= all_within


# -- behaviour -------------------------------------------------------------------------------------
def test_it_concludes_once_at_the_pair_that_crossed_and_rearms_after_reset():
    champion = np.ones(400, dtype=bool)
    challenger = np.ones(400, dtype=bool)
    challenger[::10] = False                        # 40 discordant pairs, every one "challenger wrong"
    test = PairedComparison(min_pairs=50, alpha=0.01)
    verdict = test.update(champion, challenger)
    worse = np.cumsum(~challenger)
    first = int(np.flatnonzero((log_e_value(worse, 0) >= math.log(100)) & (np.arange(1, 401) >= 50))[0])
    assert (verdict.concluded, verdict.position, verdict.pairs) == (True, first, first + 1)
    assert verdict.statistic >= verdict.threshold == 100.0
    assert not test.update(champion, challenger).concluded
    assert test.concluded and test.summary().concluded_at == first + 1
    test.reset()
    assert test.summary().pairs == 0 and not test.concluded
    assert test.update(champion, challenger).concluded


def test_min_pairs_delays_a_conclusion_to_the_pair_that_reaches_it():
    champion = np.ones(300, dtype=bool)
    challenger = np.zeros(300, dtype=bool)           # the challenger is wrong on every request
    verdict = PairedComparison(min_pairs=250, alpha=0.01).update(champion, challenger)
    assert (verdict.position, verdict.pairs) == (249, 250)


def test_any_batching_concludes_at_the_same_pair():
    rng = np.random.default_rng(5)
    champion, challenger = _pairs(rng, 5_000, 0.06, 0.12, "independent")
    whole = PairedComparison(alpha=1e-3)
    expected = whole.update(champion, challenger)
    cut = PairedComparison(alpha=1e-3)
    edges = np.sort(rng.choice(np.arange(1, 5_000), size=40, replace=False))
    verdicts = [cut.update(champion[a:b], challenger[a:b]) for a, b in zip([0, *edges], [*edges, 5_000])]
    concluded = [(v, a) for v, a in zip(verdicts, [0, *edges]) if v.concluded]
    assert len(concluded) == 1
    verdict, start = concluded[0]
    assert (start + verdict.position, verdict.pairs, verdict.statistic) == (expected.position, expected.pairs,
                                                                               expected.statistic)
    assert cut.summary() == whole.summary()


def test_state_round_trips_through_pickle_and_continues_exactly():
    rng = np.random.default_rng(8)
    champion, challenger = _pairs(rng, 3_000, 0.1, 0.14, "shared")
    original = PairedComparison(alpha=1e-3)
    original.update(champion[:1_000], challenger[:1_000])
    restored = PairedComparison(alpha=1e-3)
    restored.load(pickle.loads(pickle.dumps(original.state())))
    assert restored.update(champion[1_000:], challenger[1_000:]) == original.update(champion[1_000:],
                                                                                    challenger[1_000:])
    assert restored.summary() == original.summary()


def test_summary_reports_rates_on_the_same_requests():
    test = PairedComparison()
    assert math.isnan(test.summary().champion_error_rate) and test.summary().statistic == 1.0
    test.update([True, True, False, False, True], [True, False, False, True, False])
    s = test.summary()
    assert (s.pairs, s.champion_error_rate, s.challenger_error_rate, s.disagreement_rate) == (5, 0.4, 0.6, 0.6)
    assert (s.challenger_worse, s.challenger_better) == (2, 1)
    assert s.statistic == pytest.approx(math.exp(float(log_e_value(2, 1))))


@pytest.mark.parametrize("kwargs, named", [({"min_pairs": 0}, "min_pairs=0"), ({"alpha": 0.5}, "alpha=0.5"),
                                           ({"alpha": 0}, "alpha=0"), ({"min_pairs": 1.5}, "min_pairs=1.5")])
def test_bad_parameters_are_refused_by_name(kwargs, named):
    with pytest.raises(ValueError, match=named):
        PairedComparison(**kwargs)


def test_bad_pairs_are_refused():
    test = PairedComparison()
    with pytest.raises(ValueError, match="champion_correct"):
        test.update(["yes", "no"], [True, False])
    with pytest.raises(ValueError, match="2 values"):
        test.update([True, False], [True])
    assert test.update([1, 0], [0, 0]).pairs == 2

"""The statistics behind the detectors: exact distances, calibration and its storage, transforms, categories."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal, stats

import detectors
from detectors import _calibration_store as store
from detectors import _ks_calibration as calibration
from detectors._ks_windows import GridReference, WindowGeometry, stride_rows
from detectors._reference import EarlyInflation, LongRunVariance, ReferenceSample, window_counts
from detectors.categorical import chi2_quantile
from detectors.ks import KS, calibrated_level, calibration_size
from detectors.page_hinkley import cusum_threshold


@pytest.fixture(autouse=True, scope="module")
def calibration_cache(tmp_path_factory):
    """Calibrations the shipped table lacks go to a private cache, not the user's."""
    previous = os.environ.get("STREAMDRIFT_CACHE")
    os.environ["STREAMDRIFT_CACHE"] = str(tmp_path_factory.mktemp("calibration"))
    yield
    if previous is None:
        del os.environ["STREAMDRIFT_CACHE"]
    else:
        os.environ["STREAMDRIFT_CACHE"] = previous


def window_distances(ref: GridReference, xs: np.ndarray, sizes: tuple[int, ...], stride: int) -> np.ndarray:
    """The detector's distances (tests, windows, [gap, shift, spread]) at every row where all windows fit."""
    zero = (np.zeros(ref.n_codes, dtype=np.int64), 0, 0)
    rows, shift, spread = stride_rows(ref, ref.codes(xs), stride, zero)
    rows = np.vstack([zero[0], rows])
    shift, spread = np.concatenate([[0], shift]), np.concatenate([[0], spread])
    spans = np.asarray(sizes) // stride
    first = int(spans[0])
    return WindowGeometry(ref, sizes).distances(rows, shift, spread, first, len(rows) - first, spans)


def direct_distances(ref_values: np.ndarray, window: np.ndarray) -> tuple[float, float, float]:
    """KS distance (scipy), mean mid-rank CDF shift and spread shift, computed the obvious way."""
    ref = np.sort(ref_values)

    def u(x):
        return (np.searchsorted(ref, x, "left") + np.searchsorted(ref, x, "right")) / (2.0 * len(ref))

    return (stats.ks_2samp(window, ref_values).statistic, abs(u(window).mean() - 0.5),
            abs(np.abs(2 * u(window) - 1).mean() - np.abs(2 * u(ref) - 1).mean()))


@pytest.mark.parametrize("discrete", [False, True])
def test_window_distances_equal_the_direct_ones_when_the_reference_has_few_values(discrete):
    rng = np.random.default_rng(0)
    draw = (lambda n: rng.poisson(3.0, n).astype(float)) if discrete else (lambda n: rng.normal(size=n).round(1))
    ref_values = draw(700)
    ref = GridReference(ref_values, grid=128)
    assert len(ref.points) == len(np.unique(ref_values))  # few distinct values: all are points, exact
    stream = np.concatenate([draw(3000), draw(2000) + (1 if discrete else 0.3)])
    sizes, stride = (400, 200, 100), 20
    ours = window_distances(ref, stream, sizes, stride)
    for t, end in enumerate(range(400, len(stream) + 1, stride)):
        for j, w in enumerate(sizes):
            np.testing.assert_allclose(ours[t, j], direct_distances(ref_values, stream[end - w:end]), atol=1e-12)


def test_with_many_distinct_values_the_ks_distance_is_within_one_cell_of_exact():
    rng = np.random.default_rng(1)
    ref_values = rng.lognormal(size=2000)
    ref = GridReference(ref_values, grid=128)
    assert len(ref.points) == 128
    stream = np.concatenate([rng.lognormal(size=2000), rng.lognormal(0.3, 1.2, 2000)])
    ours = window_distances(ref, stream, (500,), 50)[:, 0, 0]
    exact = np.array([stats.ks_2samp(stream[e - 500:e], ref_values).statistic for e in range(500, 4001, 50)])
    cell = ref.counts.max() / ref.size
    assert np.all(ours <= exact + 1e-12) and np.all(exact <= ours + cell + 1e-12)
    assert cell < 2.0 / 128


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=25, max_size=60), st.lists(st.integers(-1, 8), min_size=40, max_size=90))
def test_ks_distance_with_ties_and_unseen_values(ref, stream):
    sample = GridReference(np.asarray(ref, float), grid=128)
    xs = np.asarray(stream, float)
    ours = window_distances(sample, xs, (20,), 1)[:, 0, 0]
    theirs = [stats.ks_2samp(xs[e - 20:e], ref).statistic for e in range(20, len(xs) + 1)]
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.integers(1, 30), st.data())
def test_window_counts_match_direct_histograms(n_codes, window, data):
    codes = np.asarray(data.draw(st.lists(st.integers(0, n_codes - 1), min_size=window, max_size=window + 60)))
    ends = np.asarray(sorted(set(data.draw(st.lists(st.integers(window - 1, len(codes) - 1), min_size=1)))))
    got = window_counts(codes, n_codes, window, ends)
    want = [np.bincount(codes[e - window + 1:e + 1], minlength=n_codes) for e in ends]
    np.testing.assert_array_equal(got, want)


def test_mid_cdf_is_centred_with_ties():
    sample = ReferenceSample(np.repeat([1.0, 2.0, 3.0], [10, 30, 60]))
    np.testing.assert_allclose(sample.mid_cdf(np.array([0.5, 1.0, 2.0, 3.0, 9.0])), [0, 0.05, 0.25, 0.7, 1.0])
    codes = sample.codes(np.array([0.5, 1.0, 1.5, 3.0, 9.0]))
    np.testing.assert_allclose(sample.mid_cdf_at_code[codes], sample.mid_cdf(np.array([0.5, 1.0, 1.5, 3.0, 9.0])))
    grid = GridReference(np.repeat([1.0, 2.0, 3.0], [10, 30, 60]), grid=128)
    assert grid.counts @ grid.rank2 == 0  # the shift score is centred on the reference itself


def test_growing_the_reference_is_adding_its_values():
    rng = np.random.default_rng(2)
    first, more = rng.normal(size=1000), rng.normal(size=1500)
    grown = GridReference(first, grid=128)
    grown.grow(np.bincount(grown.codes(more), minlength=grown.n_codes))
    whole = np.concatenate([first, more])
    assert grown.size == 2500
    np.testing.assert_array_equal(grown.cum_ref[1::2], np.searchsorted(np.sort(whole), grown.points, "right"))


def test_calibration_is_cached_deterministic_and_monotone():
    a = calibrated_level((200,), 10, 400, 1e6, 0)
    assert calibrated_level((200,), 10, 400, 1e6, 0) == a
    assert calibrated_level((200,), 10, 400, 1e8, 0) > a  # longer run length, higher level
    assert calibrated_level((200, 100), 10, 400, 1e6, 0) > a  # more windows tested, higher level
    assert abs(calibrated_level((200,), 10, 400, 1e6, 1) - a) < 0.6  # the seed moves the estimate a little
    # -log of a tail probability: one false alarm per 1e6 values among ~1e5 tests sits near log(1e6 / 10)
    assert 10.0 < a < 15.0


def test_calibrated_rate_holds_where_it_can_be_measured():
    """A target of one false alarm per 20,000 values, checked on 1,000,000 fresh values, both re-arm modes.

    The simulation keeps one reference per run and restarts the windows after an alarm, as
    rearm="keep" does; the relearning detector takes a new reference after each alarm. Either
    must stay under the target and within a factor of a few of it (the estimate of the level is
    a little conservative, and autocorrelation is never estimated below none).
    """
    rng = np.random.default_rng(11)
    for rearm, low in (("keep", 10), ("relearn", 10)):
        alarms = 0
        for _ in range(10):
            det = detectors.create("ks", window=200, reference=rng.standard_t(5, size=400), arl=2e4, stride=10,
                                   reference_size=400, rearm=rearm)
            alarms += len(det.update_many(rng.standard_t(5, size=100_000)))
        assert low <= alarms <= 55, (rearm, alarms)  # 1e6 / 2e4 = 50 expected


def test_a_quantile_reference_keeps_the_false_alarm_guarantee():
    """2,000 evenly spaced quantiles of a large training set are treated as a 2,000-value sample.

    Quantiles are less noisy than a sample of their size, so the rate can only be lower than
    the target; checked against the target, and against a random sample of the same size.
    """
    rng = np.random.default_rng(12)
    training = rng.gamma(2.0, size=200_000)
    quantiles = np.quantile(training, np.linspace(0, 1, 2000))
    counts = {}
    for name, ref in (("quantiles", quantiles), ("sample", rng.choice(training, 2000))):
        alarms = 0
        for _ in range(10):
            det = detectors.create("ks", window=200, reference=ref, arl=2e4, stride=10, rearm="keep")
            alarms += len(det.update_many(rng.gamma(2.0, size=100_000)))
        counts[name] = alarms
    assert counts["quantiles"] <= 50 and counts["quantiles"] <= counts["sample"] + 10, counts


def test_a_sorted_reference_does_not_pass_for_autocorrelation():
    """A supplied reference may come sorted (quantiles, a sorted column): its order says nothing of the stream."""
    rng = np.random.default_rng(13)
    ref = np.sort(rng.normal(size=2000))
    stream = np.concatenate([rng.normal(size=4000), rng.normal(1.0, 1.0, 2000)])
    for kind in ("ks", "page_hinkley"):
        alarms = detectors.create(kind, reference=ref).update_many(stream)
        assert len(alarms) == 1 and 4000 <= alarms[0] < 4400, (kind, alarms)


def test_ks_threshold_has_an_effect_size_floor():
    det = detectors.create("ks", window=20_000, stride=1000, scales=2, reference=np.arange(5000.0),
                           min_distance=0.08, arl=1e4)
    assert det.threshold == pytest.approx(0.08)


def test_calibration_size_rounds_down():
    assert [calibration_size(m) for m in (20, 999, 1000, 1234, 98765)] == [20, 990, 1000, 1200, 98000]


def test_ks_is_quiet_on_autocorrelated_noise():
    rng = np.random.default_rng(3)
    e = rng.normal(size=300_000) * np.sqrt(1 - 0.8**2)
    x = np.empty_like(e)
    x[0] = 0.0
    for i in range(1, len(x)):
        x[i] = 0.8 * x[i - 1] + e[i]
    assert len(detectors.create("ks", arl=1e6).update_many(x)) <= 1


def test_autocorrelation_estimate_sees_autocorrelation_but_not_a_shift_of_level():
    rng = np.random.default_rng(4)
    iid = LongRunVariance(0.0, 31)
    iid.add_many(rng.normal(size=310))
    step = np.concatenate([rng.normal(size=170), rng.normal(3.0, 1.0, size=140)])
    shifted, globally_centred = LongRunVariance(0.0, 31), LongRunVariance(0.0, 310)
    shifted.add_many(step)
    globally_centred.add_many(step)  # the negative control: one mean for everything
    ma = LongRunVariance(0.0, 31)
    ma.add_many(np.convolve(rng.normal(size=3100), [1.0, 0.8, 0.6, 0.4], "same"))
    assert iid.inflation < 1.4
    assert shifted.inflation < 2.2 < 4.0 < globally_centred.inflation  # the 3-sd step counts in one span only
    assert ma.inflation > 4.0  # neighbouring blocks correlated: gamma0 2.16 + 2 gamma1 1.52 = 5.2


def test_ks_reports_the_test_that_crossed():
    rng = np.random.default_rng(5)
    det = detectors.create("ks", window=500, stride=25, reference=rng.normal(size=1000))
    alarms = det.update_many(np.concatenate([rng.normal(size=2000), rng.normal(3.0, 1.0, 2000)]))
    assert len(alarms) == 1
    assert (alarms[0] + 1) % 25 == 0  # on the stride grid, counted from the first value
    assert 2000 < alarms[0] < 2100
    assert det.alarm_statistic > det.alarm_threshold


@pytest.mark.parametrize("sd", [2.0, 0.5])
def test_ks_detects_a_pure_variance_change(sd):
    rng = np.random.default_rng(6)
    det = detectors.create("ks", reference=rng.normal(size=2000))
    alarms = det.update_many(np.concatenate([rng.normal(size=5000), rng.normal(0, sd, 5000)]))
    assert len(alarms) == 1 and 5000 <= alarms[0] < 5600


def test_ks_detects_a_spread_change_that_keeps_the_median_of_skewed_data():
    rng = np.random.default_rng(7)
    det = detectors.create("ks")
    alarms = det.update_many(np.concatenate([rng.lognormal(0, 1.0, 6000), rng.lognormal(0, 1.5, 3000)]))
    assert len(alarms) == 1 and 6000 <= alarms[0] < 6600


def test_a_warmed_up_reference_grows_with_values_that_passed_the_tests():
    rng = np.random.default_rng(8)
    det = detectors.create("ks")
    sizes = []
    for _ in range(10):
        det.update_many(rng.normal(size=1000))
        sizes.append(det._ref.size)
    assert sizes[0] == 1000 and sizes[-1] == 8000
    assert {calibration_size(s) for s in sizes} == {1000, 2000, 4000, 8000}  # doublings, in the shipped table
    kept = detectors.create("ks", rearm="keep")
    kept.update_many(rng.normal(size=10_000))
    assert kept._ref.size == 1000  # a kept reference stays as it was
    supplied = detectors.create("ks", reference=rng.normal(size=1000))
    supplied.update_many(rng.normal(size=10_000))
    assert supplied._ref.size == 1000


@pytest.mark.parametrize("kind", ["ks", "adwin", "page_hinkley"])
def test_numeric_detectors_do_not_care_about_units(kind):
    rng = np.random.default_rng(8)
    base = np.concatenate([rng.lognormal(size=6000), rng.lognormal(0.6, 1.0, 4000)])
    alarms = [detectors.create(kind).update_many(base * scale + shift).tolist()
              for scale, shift in ((1, 0), (1e6, -3e6), (1e-3, 7))]
    assert alarms[0] == alarms[1] == alarms[2] and alarms[0]


def test_ks_batch_equals_loop_when_autocorrelation_raises_the_threshold():
    """Tests above the uninflated threshold but below the inflated one must not end the batch early."""
    rng = np.random.default_rng(13)
    e = rng.normal(size=30_000) * np.sqrt(1 - 0.9**2)
    x = np.empty_like(e)
    x[0] = 0.0
    for i in range(1, len(x)):
        x[i] = 0.9 * x[i - 1] + e[i]
    x[20_000:] += 1.5
    params = {"window": 400, "reference_size": 400, "arl": 1e4}
    looped = detectors.create("ks", **params)
    expected = [i for i, v in enumerate(x) if looped.update(v)]
    assert expected
    assert detectors.create("ks", **params).update_many(x).tolist() == expected


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series with unit variance: N(0, 1) is its distribution, whatever phi."""
    e = rng.normal(size=n) * np.sqrt(1 - phi * phi)
    return signal.lfilter([1.0], [1.0, -phi], e, zi=[phi * rng.normal()])[0]


NORMAL_PROFILE = stats.norm.ppf((np.arange(2000) + 0.5) / 2000)  # a training profile: 2,000 quantiles of N(0, 1)


def test_a_stream_drifted_from_its_first_value_alarms_within_its_first_1000():
    """With a supplied reference the shorter windows are tested before the longest is full.

    Until the autocorrelation estimate is ready (about 2,000 values) the thresholds are raised by
    a cautious inflation (EarlyInflation, at least 1.5), which needs 8 blocks: 256 values, so
    the first test is at value 275. Before, the first test came at value 2,000.
    """
    rng = np.random.default_rng(21)
    det = detectors.create("ks", reference=NORMAL_PROFILE, rearm="keep")
    alarms = det.update_many(rng.normal(0.8, 1.0, 3000))
    assert alarms[0] == 274, alarms  # value 275, the first test; 0.8 sd
    assert det.alarm_statistic > det.alarm_threshold
    firsts = [detectors.create("ks", reference=NORMAL_PROFILE, rearm="keep")
              .update_many(rng.normal(0.5, 1.0, 3000))[0] for _ in range(20)]
    assert max(firsts) < 1000, firsts  # 0.5 sd: 274 in 77 runs of 100, at most 549
    kept = detectors.create("ks", reference=NORMAL_PROFILE, rearm="keep").update_many(rng.normal(0.8, 1.0, 5000))
    assert len(kept) <= 6, kept  # then "still drifting" about once per window, not once per short window


def test_a_supplied_reference_stays_quiet_on_autocorrelated_noise_from_its_first_value():
    """AR(1) at phi 0.9 against its own distribution: quiet from the first value, and over a long run.

    Its variance inflation is about 19; the block estimate from 8 blocks alone is under 2 in one
    start in 600, which the value-level AR(1) bound prevents (next test).
    """
    rng = np.random.default_rng(22)
    for rearm in ("keep", "relearn"):
        for _ in range(150):  # the first 2,500 values of many starts: where the estimate is not ready yet
            det = detectors.create("ks", reference=NORMAL_PROFILE, rearm=rearm)
            assert det.update_many(ar1(rng, 2500, 0.9)).size == 0
    det = detectors.create("ks", reference=NORMAL_PROFILE, rearm="keep")
    assert det.update_many(ar1(rng, 500_000, 0.9)).size == 0
    shifted = detectors.create("ks", reference=NORMAL_PROFILE, rearm="keep").update_many(ar1(rng, 3000, 0.9) + 2.0)
    assert shifted.size and shifted[0] < 1000, shifted  # the negative control: a drift of 2 sd is seen early


def test_the_early_inflation_is_not_fooled_by_a_quiet_stretch_of_autocorrelated_values():
    """AR(1) at phi 0.9 (inflation about 19), 256 values: where the block estimate says under 2, the bound does not."""
    rng = np.random.default_rng(25)
    ref = GridReference(NORMAL_PROFILE, grid=128)
    blocks_only, bounds = [], []
    for _ in range(3000):
        ranks = ref.rank2[ref.codes(ar1(rng, 256, 0.9))]
        scores = (ranks.reshape(8, 32).sum(axis=1) * (np.sqrt(3 / 32) / ref.size)).tolist()
        pooled = LongRunVariance(0.0, 31)
        pooled.add_many(scores)
        blocks_only.append(pooled.provisional_inflation)
        early = EarlyInflation(block=32, span=31, floor=1.5, min_blocks=8)
        early.add(scores, ranks, ref.size)
        bounds.append(early.at(8))
    assert min(blocks_only) < 2.0  # the negative control: from 8 blocks, the block estimate alone can be far off
    assert min(bounds) > 8.0 and np.median(bounds) > 19.0
    iid = EarlyInflation(block=32, span=31, floor=1.5, min_blocks=8)
    ranks = ref.rank2[ref.codes(rng.normal(0.8, 1.0, 256))]  # drifted from the first value, independent
    iid.add((ranks.reshape(8, 32).sum(axis=1) * (np.sqrt(3 / 32) / ref.size)).tolist(), ranks, ref.size)
    assert iid.at(7) is None and iid.at(8) < 2.0


@pytest.mark.parametrize("rearm", ["keep", "relearn"])
def test_early_tests_batch_and_snapshot_like_the_loop(rearm):
    rng = np.random.default_rng(23)
    xs = np.concatenate([ar1(rng, 4000, 0.5) + 0.7, ar1(rng, 3000, 0.5)])
    xs[rng.choice(len(xs), 100, replace=False)] = np.nan
    params = {"reference": NORMAL_PROFILE, "rearm": rearm}
    looped = detectors.create("ks", **params)
    expected = [i for i, x in enumerate(xs) if looped.update(x)]
    assert expected and expected[0] < 1000, expected
    for cuts in ((130, 300, 777, 1500, 2100), (1, 2, 3, 260, 5000), tuple(range(0, 7000, 37))):
        batched, got = detectors.create("ks", **params), []
        for a, b in itertools.pairwise([0, *cuts, len(xs)]):
            got += (batched.update_many(xs[a:b]) + a).tolist()
        assert got == expected and batched.statistic == looped.statistic
    for cut in (130, 290, 777, 1999):
        first = detectors.create("ks", **params)
        head = first.update_many(xs[:cut]).tolist()
        tail = (detectors.restore(first.snapshot()).update_many(xs[cut:]) + cut).tolist()
        assert head + tail == expected


def test_a_snapshot_from_before_early_tests_goes_on_waiting_for_the_estimate():
    """Snapshots written by the previous release lack the early-test state; they restore and test as they did."""
    rng = np.random.default_rng(24)
    det = detectors.create("ks", reference=NORMAL_PROFILE, rearm="keep")
    det.update_many(rng.normal(size=300))
    del det._early, det._opening  # what the previous release pickled
    old = detectors.restore(det.snapshot())
    alarms = old.update_many(rng.normal(1.0, 1.0, 3000))
    assert alarms.tolist() == [2699], alarms  # as the previous release gives (its 300 undrifted values
    # raise its first autocorrelation estimate, so its first alarm is at value 3,000; checked against it)


# ---------------------------------------------------------------- calibration storage

def test_the_default_configuration_is_in_the_shipped_table(monkeypatch):
    def simulate(_):
        raise AssertionError("simulated instead of read from the shipped table")

    monkeypatch.setattr(calibration, "simulate_level", simulate)
    monkeypatch.setattr(store, "_known", {})
    detectors.prepare("ks")
    detectors.prepare("ks", reference=np.arange(2000.0))
    detectors.prepare("ks", window=500, scales=3, arl=1e8)
    table = json.loads(store.TABLE.read_text())
    assert table["generator"]["calibration_version"] == calibration.VERSION
    assert table["generator"]["simulated_events"] == calibration.SIMULATED_EVENTS


def test_the_shipped_table_holds_what_the_simulation_gives():
    setting = calibration.Setting((1000, 500, 250, 125), 25, 1000, 1e7, 0, 128)
    assert store.shipped_levels()[setting.key] == calibration.simulate_level(setting)


def test_other_configurations_are_simulated_once_then_read_from_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("STREAMDRIFT_CACHE", str(tmp_path))
    monkeypatch.setattr(store, "_known", {})
    calls = []

    def compute():
        calls.append(1)
        return 12.5

    assert store.stored_level("v0-test-a", compute) == 12.5
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text()) == {"key": "v0-test-a", "level": 12.5}
    monkeypatch.setattr(store, "_known", {})  # a new process
    assert store.stored_level("v0-test-a", compute) == 12.5 and len(calls) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # written atomically, nothing left


@pytest.mark.parametrize("content", ["{not json", '{"key": "v0-other", "level": 1.0}', '{"key": "v0-test-b"}',
                                     '{"key": "v0-test-b", "level": "nan"}'])
def test_a_corrupt_or_stale_cache_file_is_ignored_and_rewritten(monkeypatch, tmp_path, content):
    monkeypatch.setenv("STREAMDRIFT_CACHE", str(tmp_path))
    monkeypatch.setattr(store, "_known", {})
    store._path("v0-test-b").write_text(content)
    assert store.stored_level("v0-test-b", lambda: 9.0) == 9.0
    assert json.loads(store._path("v0-test-b").read_text())["level"] == 9.0


def test_an_unwritable_cache_only_costs_the_simulation(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("STREAMDRIFT_CACHE", str(blocked / "cache"))
    monkeypatch.setattr(store, "_known", {})
    assert store.stored_level("v0-test-c", lambda: 7.0) == 7.0


def test_the_cache_key_changes_with_everything_the_level_depends_on():
    base = calibration.Setting((1000, 500), 25, 1000, 1e7, 0, 128)
    variants = [calibration.Setting((1000, 500, 250), 25, 1000, 1e7, 0, 128),
                calibration.Setting((1000, 500), 50, 1000, 1e7, 0, 128),
                calibration.Setting((1000, 500), 25, 2000, 1e7, 0, 128),
                calibration.Setting((1000, 500), 25, 1000, 1e8, 0, 128),
                calibration.Setting((1000, 500), 25, 1000, 1e7, 1, 128),
                calibration.Setting((1000, 500), 25, 1000, 1e7, 0, 64),
                calibration.Setting((1000, 500), 25, 1000, 1e7, 0, 128, 10**6)]
    assert len({base.key, *(v.key for v in variants)}) == len(variants) + 1
    assert f"v{calibration.VERSION}-" in base.key


def test_ks_defaults_and_windows():
    det = KS()
    assert (det.window, det.stride, det.scales, det._sizes) == (1000, 25, 4, (1000, 500, 250, 125))
    assert KS(window=500)._sizes == (500, 250, 120, 60)


def test_ks_holds_only_the_rows_and_codes_its_windows_need_whatever_the_batch():
    """Between batches a ks detector holds its longest window's rows and codes, not the batch's (a slice
    of the batch's arrays would keep all of them alive: 84 KB of rows become up to 610 KB)."""
    rng = np.random.default_rng(9)
    det = detectors.create("ks")
    det.update_many(rng.normal(size=12_000))   # past warm-up and the reference's growth
    det.update_many(rng.normal(size=6_000))    # one batch of 240 strides

    def held(a: np.ndarray) -> int:
        while a.base is not None:
            a = a.base
        return a.nbytes

    rows = int(det._spans[0]) + 1
    assert det._rows.shape == (rows, det._ref.n_codes)
    assert held(det._rows) == det._rows.nbytes
    assert held(det._shift) + held(det._spread) == 2 * rows * 8
    assert held(det._codes) == det._codes.nbytes <= det.window * 8
    assert held(det._block_part) == det._block_part.nbytes < det.block * 8


# ---------------------------------------------------------------- other kinds

def test_cusum_threshold_follows_siegmund():
    h = cusum_threshold(0.5, 1e6)
    b = 2 * 0.5 * (h + 1.166)
    assert (np.exp(b) - b - 1) / (2 * 0.25) == pytest.approx(1e6, rel=1e-6)
    assert cusum_threshold(0.5, 1e7) > h


@pytest.mark.parametrize("df", [1, 2, 3, 10, 51])
def test_chi2_quantile_matches_scipy(df):
    for tail in (1e-2, 1e-5, 1e-9):
        assert chi2_quantile(df, tail) == pytest.approx(stats.chi2.isf(tail, df), rel=1e-9)


def test_categorical_reports_unseen_categories_and_pools_rare_ones():
    ref = ["a"] * 600 + ["b"] * 395 + ["rare"] * 5
    det = detectors.create("categorical", reference=ref, window=200, stride=20)
    assert det.update_many(["a", "b", "new", None, float("nan"), "new", "other"]).tolist() == []
    assert det.unseen == {"new": 2, "other": 1}
    assert det.n_seen == 5
    det.reset()
    assert det.unseen == {} and det.n_seen == 0


def test_categorical_unseen_is_bounded():
    det = detectors.create("categorical", reference=["a"] * 50, window=20, max_unseen=3)
    det.update_many([f"c{i}" for i in range(10)])
    assert len(det.unseen) == 3


def test_categorical_alarms_on_a_flood_of_new_categories():
    rng = np.random.default_rng(9)
    ref = rng.choice(["a", "b", "c"], 2000)
    stream = np.concatenate([rng.choice(["a", "b", "c"], 3000), rng.choice(["a", "b", "c", "z"], 3000)])
    det = detectors.create("categorical", reference=ref)
    alarms = det.update_many(stream)
    assert len(alarms) == 1 and 3000 <= alarms[0] < 3600
    assert det.unseen["z"] > 20


def test_categorical_frequency_table_is_the_same_reference_as_its_sample():
    rng = np.random.default_rng(10)
    sample = rng.choice(["a", "b", "c", "d"], 3000, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    table = {c: sample.count(c) for c in set(sample)}
    stream = np.concatenate([rng.choice(["a", "b", "c", "d"], 3000, p=[0.4, 0.3, 0.2, 0.1]),
                             rng.choice(["a", "b", "c", "d", "e"], 3000, p=[0.3, 0.3, 0.2, 0.1, 0.1])])
    from_table = detectors.create("categorical", reference=table)
    from_sample = detectors.create("categorical", reference=sample)
    assert from_table.update_many(stream).tolist() == from_sample.update_many(stream).tolist() != []
    assert from_table.unseen == from_sample.unseen == {"e": from_sample.unseen["e"]}
    assert detectors.restore(from_table.snapshot()).reference == table
    assert detectors.create("categorical", reference={"a": 30.0, "b": 0, "c": 12}).reference == {"a": 30, "c": 12}


def test_error_rate_detectors_reject_non_binary_values():
    det = detectors.create("ddm")
    with pytest.raises(ValueError, match="0.5"):
        det.update_many([0, 1, 0.5])


def test_adwin_statistic_is_a_mean_difference():
    rng = np.random.default_rng(10)
    det = detectors.create("adwin", reference=rng.normal(size=1000))
    assert det.update_many(np.concatenate([rng.normal(size=4000), rng.normal(2.0, 1.0, 2000)])).size == 1
    assert 0.2 < det.statistic < 0.9  # CDF values moved from about 1/2 to about 0.95
    assert 0 < det.threshold < det.statistic

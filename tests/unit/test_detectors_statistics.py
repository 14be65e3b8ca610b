"""The statistics behind the detectors: exact KS distances, calibration, transforms, categories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import detectors
from detectors._ks_calibration import calibrated_threshold, ks_distances
from detectors._reference import ReferenceSample, window_counts
from detectors.categorical import chi2_quantile
from detectors.ks import calibration_size
from detectors.page_hinkley import cusum_threshold


@pytest.mark.parametrize("discrete", [False, True])
def test_ks_distance_equals_scipy_two_sample(discrete):
    rng = np.random.default_rng(0)
    draw = (lambda n: rng.poisson(3.0, n).astype(float)) if discrete else (lambda n: rng.normal(size=n))
    ref = draw(700)
    stream = np.concatenate([draw(3000), draw(2000) + (1 if discrete else 0.3)])
    sample = ReferenceSample(ref)
    assert sample.has_ties == discrete
    ends = np.arange(399, len(stream), 37)
    ours = ks_distances(sample, sample.codes(stream), (400, 123), ends)
    for j, w in enumerate((400, 123)):
        theirs = [stats.ks_2samp(stream[e - w + 1:e + 1], ref).statistic for e in ends]
        np.testing.assert_allclose(ours[:, j], theirs, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=25, max_size=60), st.lists(st.integers(-1, 8), min_size=30, max_size=90))
def test_ks_distance_with_ties_and_unseen_values(ref, stream):
    sample = ReferenceSample(np.asarray(ref, float))
    xs = np.asarray(stream, float)
    ends = np.arange(19, len(xs))
    ours = ks_distances(sample, sample.codes(xs), (20,), ends)[:, 0]
    theirs = [stats.ks_2samp(xs[e - 19:e + 1], ref).statistic for e in ends]
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


def test_calibration_is_cached_deterministic_and_monotone():
    a = calibrated_threshold((200,), 400, 10, 1e6, 0)
    assert calibrated_threshold((200,), 400, 10, 1e6, 0) == a
    assert calibrated_threshold((200,), 400, 10, 1e8, 0) > a  # longer run length, higher threshold
    assert calibrated_threshold((200, 100), 400, 10, 1e6, 0) > a  # more windows tested, higher threshold
    assert abs(calibrated_threshold((200,), 400, 10, 1e6, 1) - a) < 0.05  # the seed moves the estimate a little
    # Distribution-free scale: the level is about 2.4-2.8 standard deviations of sqrt(nm/(n+m)) D.
    assert 2.0 < a < 3.2


def test_calibrated_rate_holds_where_it_can_be_measured():
    """A target of one false alarm per 20,000 values, checked on 1,000,000 fresh values.

    The simulation keeps one reference per run while the detector takes a new one after each
    alarm, so unlucky references alarm less often in practice: the calibration errs on the quiet
    side (about 4x here) but must stay within an order of magnitude of the target.
    """
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(10):
        det = detectors.create("ks", window=200, reference=rng.normal(size=400), arl=2e4, stride=10,
                               reference_size=400)
        alarms += len(det.update_many(rng.standard_t(5, size=100_000)))
    assert 5 <= alarms <= 50  # at most 1e6 / 2e4 = 50


def test_ks_threshold_has_an_effect_size_floor():
    det = detectors.create("ks", window=20_000, stride=1000, reference=np.arange(5000.0), min_distance=0.08,
                           arl=1e4)
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


def test_ks_reports_the_test_that_crossed():
    rng = np.random.default_rng(5)
    det = detectors.create("ks", window=500, stride=25, reference=rng.normal(size=1000))
    alarms = det.update_many(np.concatenate([rng.normal(size=2000), rng.normal(3.0, 1.0, 2000)]))
    assert len(alarms) == 1
    assert (alarms[0] + 1 - 500) % 25 == 0  # on the stride grid, counted from the first full window
    assert 2000 < alarms[0] < 2300


def test_ks_detects_a_pure_variance_change():
    rng = np.random.default_rng(6)
    det = detectors.create("ks", reference=rng.normal(size=2000))
    alarms = det.update_many(np.concatenate([rng.normal(size=5000), rng.normal(0, 2.0, 5000)]))
    assert len(alarms) == 1 and 5000 <= alarms[0] < 6500


@pytest.mark.parametrize("kind", ["ks", "adwin", "page_hinkley"])
def test_numeric_detectors_do_not_care_about_units(kind):
    rng = np.random.default_rng(8)
    base = np.concatenate([rng.lognormal(size=6000), rng.lognormal(0.6, 1.0, 4000)])
    alarms = [detectors.create(kind).update_many(base * scale + shift).tolist()
              for scale, shift in ((1, 0), (1e6, -3e6), (1e-3, 7))]
    assert alarms[0] == alarms[1] == alarms[2] and alarms[0]


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

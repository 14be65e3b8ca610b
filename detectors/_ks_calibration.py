"""Simulate the KS threshold that gives a target mean run length between false alarms.

Against a fixed reference, with continuous data, the KS distance depends only on ranks, so one
simulation on uniforms serves every feature with the same (window, reference size, stride, arl):
the result is cached in-process. The simulation runs the same sliding windows, stride and
re-arming as the detector, so the overlap between successive tests is accounted for. With ties
the KS distance is stochastically smaller, so the continuous threshold is conservative there.
"""

from __future__ import annotations

import functools

import numpy as np

from detectors._reference import ReferenceSample, window_counts

SIMULATED_EVENTS = 2_000_000
_CHUNK_EVALS = 256


def ks_distances(ref: ReferenceSample, codes: np.ndarray, windows: tuple[int, ...], ends: np.ndarray,
                 stop_above: np.ndarray | None = None) -> np.ndarray:
    """KS distances, shape (len(ends), len(windows)), of each window ``codes[e-w+1 : e+1]`` to the reference.

    Stops after the chunk of tests where a distance first exceeds ``stop_above`` (shaped like the
    result: one level per test and window), so the result may have fewer rows than ``ends``.
    """
    out = []
    for start in range(0, len(ends), _CHUNK_EVALS):
        part = ends[start:start + _CHUNK_EVALS]
        chunk = np.empty((len(part), len(windows)))
        for j, w in enumerate(windows):
            counts = window_counts(codes, ref.n_codes, w, part)
            cdf = np.cumsum(counts, axis=1) / w
            chunk[:, j] = np.abs(cdf - ref.cdf_at_code).max(axis=1)
        out.append(chunk)
        if stop_above is not None and (chunk > stop_above[start:start + len(part)]).any():
            break
    return np.concatenate(out) if out else np.empty((0, len(windows)))


def effective_sizes(windows: tuple[int, ...], ref_size: int) -> np.ndarray:
    """n m / (n + m): the sample size that scales a two-sample KS distance."""
    n = np.asarray(windows, dtype=np.float64)
    return n * ref_size / (n + ref_size)


def _alarm_count(series: list[np.ndarray], level: float, gap: int) -> int:
    """Alarms above ``level`` when each alarm restarts the window (next test ``gap`` tests later)."""
    total = 0
    for d in series:
        hits = np.flatnonzero(d > level)
        next_ok = -1
        for h in hits:
            if h >= next_ok:
                total += 1
                next_ok = h + gap
    return total


@functools.lru_cache(maxsize=128)
def calibrated_threshold(windows: tuple[int, ...], ref_size: int, stride: int, arl: float, seed: int) -> float:
    """Level for max over windows of D * sqrt(n m / (n + m)), for a mean of ``arl`` values between false alarms.

    ``windows[0]`` is the largest; a window of size n alarms when its KS distance D exceeds the
    level divided by sqrt(n m / (n + m)).
    """
    window = windows[0]
    rng = np.random.default_rng([seed, *windows, ref_size, stride])
    length = max(50 * window, 50_000)
    replicates = max(4, SIMULATED_EVENTS // length)
    series = []
    for _ in range(replicates):
        ref = ReferenceSample(rng.random(ref_size))
        codes = ref.codes(rng.random(length))
        ends = np.arange(window - 1, length, stride)
        scaled = ks_distances(ref, codes, windows, ends) * np.sqrt(effective_sizes(windows, ref_size))
        series.append(scaled.max(axis=1))
    events = replicates * length
    gap = window // stride
    pooled = np.concatenate(series)
    levels = np.unique(np.quantile(pooled, np.linspace(0.9, 1.0, 81)[:-1]))
    rates = np.array([_alarm_count(series, c, gap) for c in levels]) / events
    target = 1.0 / arl
    if rates.min() <= target:  # observed directly: interpolate
        above = np.flatnonzero(rates <= target)[0]
        return float(levels[above])
    # Extrapolate the tail: log(rate) is close to linear in level**2 (KS tails are Gaussian-like).
    counts = rates * events
    tail = np.flatnonzero(counts >= 8)[-12:]
    x, y, w = levels[tail] ** 2, np.log(rates[tail]), np.sqrt(counts[tail])
    slope, intercept = np.polyfit(x, y, 1, w=w)
    if slope >= 0:  # degenerate simulation; fall back to the most extreme observed level
        return float(levels[-1])
    return float(max(np.sqrt((np.log(target) - intercept) / slope), levels[tail[-1]]))

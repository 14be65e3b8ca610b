"""Performance before labels arrive: the champion's accuracy estimated from its confidence, calibrated online
by the labels that do arrive (in the spirit of NannyML's CBPE).

Each prediction's `score` (the model's confidence in the class it predicted) falls in one of `bins` equal
bins of [0, 1]. Per bin, the labelled predictions count right and wrong, starting from a prior of
`PRIOR_LABELS` pseudo-labels at the bin's middle (a score means what it says until labels say otherwise);
the bins' rates are then made non-decreasing in the score (pool adjacent violators: a higher confidence
is never less often right). The estimated accuracy of a window of predictions is the mean calibrated
rate of their bins. The reference is the first window's histogram of bins, and it is estimated with the
*current* calibration too, so that the two differ only by where the scores fell: when the estimate of a
window falls `margin` or more below the reference's, the model is being asked about cases it is less
often right on, and it alerts before the labels of those cases come in.

Valid while P(right | score) does not change (covariate shift, no concept drift); see docs/river.md.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from stream.config import EstimatedAccuracyConfig

from .label_join import Joined, same
from .river_challenger import chosen
from .river_signal import ModelDetector

KIND = "confidence_based"
PRIOR_LABELS = 5.0        # pseudo-labels per bin at the bin's middle score
BIN_MEMORY = 5_000        # a bin's counts are halved when they reach this many labels: calibration follows change


def calibrated(right: np.ndarray, total: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """P(right) per bin: counts with the prior, pooled where a higher bin would be less often right.

    >>> # 8 of 10 right in the middle bin, 2 of 10 in the top one: pooled, (8 + 3 + 2 + 3.5) / 30
    >>> calibrated(np.array([0., 8., 2.]), np.array([0., 10., 10.]), np.array([.5, .6, .7])).round(3).tolist()
    [0.5, 0.55, 0.55]
    """
    weights = total + PRIOR_LABELS
    rates = (right + PRIOR_LABELS * prior) / weights
    # Pool adjacent violators: blocks of (rate, weight, bins covered), merged while out of order.
    blocks: list[list[float]] = []
    for rate, weight in zip(rates.tolist(), weights.tolist()):
        blocks.append([rate, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            r2, w2, n2 = blocks.pop()
            r1, w1, n1 = blocks[-1]
            blocks[-1] = [(r1 * w1 + r2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    return np.concatenate([np.full(n, rate) for rate, _, n in blocks])


class EstimatedAccuracy(ModelDetector):
    """A detector over score bins (one per champion prediction): fires when a window's estimated accuracy
    falls `margin` below the reference window's. Its snapshot holds the calibration counts, the reference and
    open window, the bins of predictions waiting for their labels."""

    def __init__(self, config: EstimatedAccuracyConfig):
        self.config = config
        self.names = None
        self._edges = np.linspace(0.0, 1.0, config.bins + 1)[1:-1]
        self._prior = (np.arange(config.bins) + 0.5) / config.bins
        self.restart(None)

    def restart(self, version: str | None) -> None:
        """A new champion: its own calibration, reference and window."""
        bins = self.config.bins
        self.version = version
        self._right = np.zeros(bins)
        self._total = np.zeros(bins)
        self._reference: np.ndarray | None = None   # bin counts of the first window
        self._window = np.zeros(bins)                # bin counts of the open window
        self._pending: OrderedDict[str, int] = OrderedDict()   # event_id -> bin, waiting for its label
        self.estimate = math.nan            # latest complete window
        self.reference_estimate = math.nan
        self._statistic = math.nan          # the reference's estimated accuracy minus the latest window's
        self._alarm_statistic = math.nan
        self.explanations: dict[int, str] = {}

    # -- inputs -------------------------------------------------------------------------------------
    def bins_of(self, scores: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
        """The bin of each usable score (a confidence in [0, 1]) and the positions it came from."""
        raw = np.array([math.nan if s is None else s for s in scores], dtype=float)
        usable = np.flatnonzero((raw >= 0.0) & (raw <= 1.0))
        return np.searchsorted(self._edges, raw[usable], side="right"), usable

    def remember(self, event_ids: Sequence[str], bins: np.ndarray) -> None:
        """The bins of a sample of predictions wait for their labels (at most max_pending; the oldest go first)."""
        rate, pending = self.config.sample_rate, self._pending
        for event_id, b in zip(event_ids, bins.tolist()):
            if chosen(event_id, rate):
                pending[event_id] = b
                pending.move_to_end(event_id)
        while len(pending) > self.config.max_pending:
            pending.popitem(last=False)

    def calibrate(self, joined: Sequence[Joined]) -> int:
        """Labelled champion predictions whose bin waited: right or wrong, per bin. Returns how many."""
        learned = 0
        for j in joined:
            if j.version != self.version:
                continue
            b = self._pending.pop(j.event_id, None)
            if b is None:
                continue
            self._total[b] += 1
            self._right[b] += same(j.prediction, j.label)
            if self._total[b] >= BIN_MEMORY:
                self._total[b] /= 2
                self._right[b] /= 2
            learned += 1
        return learned

    def rates(self) -> np.ndarray:
        return calibrated(self._right, self._total, self._prior)

    # -- the detector contract the signal lifecycle reads (the rest is ModelDetector's) -------------
    @property
    def threshold(self) -> float:
        return self.config.margin

    def update_many(self, bins: np.ndarray) -> np.ndarray:
        """Tumbling windows of `window` predictions; labels never arrive inside a batch of predictions, so
        one calibration serves every window the batch closes."""
        self.explanations = {}
        bins = np.asarray(bins, dtype=np.int64)
        window, n_bins = self.config.window, self.config.bins
        rates = None
        fired = []
        start = 0
        while start < len(bins):
            need = window - int(self._window.sum())
            chunk = bins[start:start + need]
            self._window += np.bincount(chunk, minlength=n_bins)
            start += len(chunk)
            if len(chunk) < need:
                break
            if self._reference is None:
                self._reference, self._window = self._window, np.zeros(n_bins)
                continue
            rates = self.rates() if rates is None else rates
            self.estimate = float(self._window @ rates) / window
            self.reference_estimate = float(self._reference @ rates) / window
            self._statistic = self.reference_estimate - self.estimate
            self._window = np.zeros(n_bins)
            if self._statistic >= self.config.margin:
                self._alarm_statistic = self._statistic
                fired.append(start - 1)
                self.explanations[start - 1] = (
                    f"fell to an estimated {self.estimate:.1%} from {self.reference_estimate:.1%} over the last "
                    f"{window} predictions, from their confidence alone (calibrated on {int(self._total.sum())} "
                    "labels): the model is asked about cases it is less often right on")
        return np.asarray(fired, dtype=np.int64)

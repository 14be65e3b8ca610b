"""Champion against challenger on the same requests: an anytime-valid sequential test that the challenger errs more.

Shadow and champion-challenger deployments answer the same requests with two models. Comparing the
two error rates as if they came from different traffic wastes the pairing: both models get the easy
requests right and the hard ones wrong, and only the *discordant* pairs (one right, the other wrong)
say which is better. With no difference between the models (equal error rates on the same
requests), each discordant pair is "challenger wrong" with probability 1/2, a fair coin, whatever the
error rates themselves and however correlated the two models' errors are (McNemar's observation).

The test bets against that coin: for each bet size lam in ``BETS`` a gambler starts with 1 and, at
each discordant pair, multiplies its wealth by ``1 + lam`` if the challenger was the one wrong and by
``1 - lam`` otherwise. The e-value is the mean wealth of the gamblers,

    E = mean over lam of (1 + lam) ** worse * (1 - lam) ** better,

a mixture sequential probability ratio of "challenger wrong with probability (1 + lam) / 2" against
"a fair coin". While the challenger is no worse (at most a fair coin, given the past), E is a
nonnegative supermartingale starting at 1, so by Ville's inequality it *ever* reaches 1 / alpha with
probability at most alpha: the test may be looked at after every pair, forever, and its false-alarm
probability over the whole unbounded stream stays below ``alpha``. A fixed-n test (a z-test of the
two error rates) checked after every batch has no such bound: its false alarms grow without limit
as it is looked at again and again.

E depends only on the counts (worse, better) of discordant pairs, so the verdict is the same however
the stream is cut into batches, and a snapshot holds a handful of integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Bet sizes, a factor 2 apart: the smallest keeps the test consistent down to a challenger wrong in
# about 51.3% of discordant pairs; a factor 2 between bets costs at most ~17% of the best bet's growth.
BETS = np.array([0.025, 0.05, 0.1, 0.2, 0.4, 0.8])
_WIN = np.log1p(BETS)
_LOSE = np.log1p(-BETS)
_LOG_BETS = math.log(len(BETS))
_WIN_LOSE = tuple(zip(_WIN.tolist(), _LOSE.tolist()))


def log_e_value(worse, better) -> np.ndarray:
    """The test's log e-value after ``worse`` discordant pairs where the challenger alone was wrong and
    ``better`` where the champion alone was; element-wise over arrays of counts.

    >>> print(np.round(log_e_value([0, 10, 30], [0, 2, 10]), 3))
    [0.    1.718 3.438]
    """
    worse = np.asarray(worse, dtype=np.float64)
    better = np.asarray(better, dtype=np.float64)
    logs = np.multiply.outer(worse, _WIN) + np.multiply.outer(better, _LOSE)
    top = logs.max(axis=-1)
    return top + np.log(np.exp(logs - top[..., None]).sum(axis=-1)) - _LOG_BETS


def _log_e(worse: int, better: int) -> float:
    """log_e_value of one pair of counts, without numpy's per-call overhead."""
    logs = [worse * win + better * lose for win, lose in _WIN_LOSE]
    top = max(logs)
    return top + math.log(sum(math.exp(x - top) for x in logs)) - _LOG_BETS


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one :meth:`PairedComparison.update` concluded.

    ``concluded`` is True only for the update at which the test first concluded "challenger worse";
    ``position`` is then the index, in that batch, of the pair at which it did (the event an alert
    points at), ``pairs`` the number of pairs seen up to it, and ``statistic``/``threshold`` the
    e-value there and 1 / alpha: quote them in the alert. Otherwise ``position`` is None and
    ``statistic`` is the e-value after the batch.
    """

    concluded: bool
    position: int | None
    pairs: int
    statistic: float
    threshold: float


@dataclass(frozen=True, slots=True)
class PairedSummary:
    """Pairs since creation or :meth:`PairedComparison.reset`, and where the test stands."""

    pairs: int
    champion_error_rate: float      # nan before the first pair
    challenger_error_rate: float
    disagreement_rate: float        # discordant pairs (one right, the other wrong) / pairs
    challenger_worse: int           # discordant pairs where the challenger alone was wrong
    challenger_better: int          # discordant pairs where the champion alone was wrong
    statistic: float                # e-value now
    threshold: float                # 1 / alpha
    concluded_at: int | None        # pair count at which "challenger worse" was concluded, if it was


class PairedComparison:
    """Is the challenger wrong more often than the champion on the same requests? Decided sequentially.

    Feed batches of pairs: ``champion_correct[i]`` and ``challenger_correct[i]`` say whether each
    model answered request i right (the monitor joins both models' predictions and the label by
    event id). :meth:`update` returns a :class:`Verdict`; its ``concluded`` is True once, at the batch
    in which the e-value first reaches 1 / ``alpha`` with at least ``min_pairs`` pairs seen. The test
    then stays quiet until :meth:`reset` re-arms it (counts and e-value start afresh).

    The false-alarm probability, when the challenger is no worse, is at most ``alpha`` over the whole
    stream however long it runs (see the module docstring and docs/performance.md for the
    simulations). ``min_pairs`` only delays a conclusion, never adds one, so it cannot raise false
    alarms: it keeps an alert from quoting error rates measured on a handful of requests.

    Parameters
    ----------
    min_pairs
        Pairs before a conclusion is allowed.
    alpha
        False-alarm probability over the whole stream when the challenger is no worse.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> champion = rng.random(2000) >= 0.06          # right 94% of the time
    >>> challenger = rng.random(2000) >= 0.18        # right 82% of the time
    >>> test = PairedComparison(min_pairs=100, alpha=0.01)
    >>> verdict = test.update(champion[:1000], challenger[:1000])
    >>> verdict.concluded, verdict.position, round(verdict.statistic, 1), verdict.threshold
    (True, 111, 120.0, 100.0)
    >>> test.update(champion[1000:], challenger[1000:]).concluded     # concluded once only
    False
    >>> s = test.summary()
    >>> s.pairs, round(s.champion_error_rate, 3), round(s.challenger_error_rate, 3), s.concluded_at
    (2000, 0.067, 0.184, 112)
    """

    def __init__(self, min_pairs: int = 100, alpha: float = 0.01):
        if isinstance(min_pairs, bool) or not isinstance(min_pairs, int) or min_pairs < 1:
            raise ValueError(f"PairedComparison: min_pairs={min_pairs!r} is invalid; min_pairs must be an integer "
                             f">= 1 (for example min_pairs=100)")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 < alpha < 0.5:
            raise ValueError(f"PairedComparison: alpha={alpha!r} is invalid; alpha must be a number in (0, 0.5) "
                             f"(for example alpha=0.01)")
        self.min_pairs = min_pairs
        self.alpha = float(alpha)
        self.reset()

    def reset(self) -> None:
        """Forget every pair and re-arm the test, as if just created."""
        self._pairs = 0
        self._champion_errors = 0
        self._challenger_errors = 0
        self._worse = 0
        self._better = 0
        self._concluded_at: int | None = None

    @property
    def threshold(self) -> float:
        return 1.0 / self.alpha

    @property
    def statistic(self) -> float:
        """The e-value now (1 before any discordant pair)."""
        return _e_value(_log_e(self._worse, self._better))

    @property
    def concluded(self) -> bool:
        return self._concluded_at is not None

    def update(self, champion_correct: Sequence[Any] | np.ndarray,
               challenger_correct: Sequence[Any] | np.ndarray) -> Verdict:
        """Feed pairs in stream order; see :class:`Verdict` for what comes back."""
        champion = _booleans(champion_correct, "champion_correct")
        challenger = _booleans(challenger_correct, "challenger_correct")
        if len(champion) != len(challenger):
            raise ValueError(f"PairedComparison.update: champion_correct has {len(champion)} values and "
                             f"challenger_correct {len(challenger)}; pass one value of each per request")
        n = len(champion)
        worse = champion & ~challenger
        better = challenger & ~champion
        verdict = None
        n_worse = int(np.count_nonzero(worse))
        # The e-value grows with "challenger wrong" and shrinks with "champion wrong": if even all of this
        # batch's "challenger wrong" pairs first cannot reach the threshold, no pair of it can (the common case).
        if (self._concluded_at is None and n and self._pairs + n >= self.min_pairs
                and _log_e(self._worse + n_worse, self._better) >= math.log(self.threshold) - 1e-9):
            # The e-value after every pair of the batch; it moves only at discordant pairs.
            worse_so_far = self._worse + np.cumsum(worse)
            better_so_far = self._better + np.cumsum(better)
            logs = log_e_value(worse_so_far, better_so_far)
            pairs_so_far = self._pairs + np.arange(1, n + 1)
            hits = np.flatnonzero((logs >= math.log(self.threshold)) & (pairs_so_far >= self.min_pairs))
            if len(hits):
                at = int(hits[0])
                self._concluded_at = int(pairs_so_far[at])
                verdict = Verdict(True, at, self._concluded_at, _e_value(float(logs[at])), self.threshold)
        self._pairs += n
        self._champion_errors += int(n - np.count_nonzero(champion))
        self._challenger_errors += int(n - np.count_nonzero(challenger))
        self._worse += n_worse
        self._better += int(np.count_nonzero(better))
        return verdict or Verdict(False, None, self._pairs, self.statistic, self.threshold)

    def summary(self) -> PairedSummary:
        n = self._pairs
        rate = (lambda count: count / n) if n else (lambda count: math.nan)
        return PairedSummary(
            pairs=n, champion_error_rate=rate(self._champion_errors),
            challenger_error_rate=rate(self._challenger_errors),
            disagreement_rate=rate(self._worse + self._better), challenger_worse=self._worse,
            challenger_better=self._better, statistic=self.statistic, threshold=self.threshold,
            concluded_at=self._concluded_at)

    def state(self) -> tuple[int, int, int, int, int, int | None]:
        return (self._pairs, self._champion_errors, self._challenger_errors, self._worse, self._better,
                self._concluded_at)

    def load(self, state: Sequence) -> None:
        (self._pairs, self._champion_errors, self._challenger_errors, self._worse, self._better,
         self._concluded_at) = state


def _e_value(log_e: float) -> float:
    # Capped below float overflow: a challenger far worse for a long time would reach inf.
    return math.exp(min(log_e, 700.0))


def _booleans(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        return arr.ravel()
    if arr.dtype.kind in "iuf":
        flat = arr.ravel()
        if np.all((flat == 0) | (flat == 1)):
            return flat == 1
    if arr.size == 0:
        return np.zeros(0, dtype=bool)
    raise ValueError(f"PairedComparison.update: {name} holds {arr.ravel()[:3].tolist()!r}...; it must hold "
                     f"booleans (or 0/1), True where that model's prediction equals the label")

"""Rolling model performance over joined (prediction, label) pairs: over the last N pairs and over recent event time.

Two windows, both reported by ``summary()``:

- ``"events"``: the last ``window_events`` pairs, in the order they were joined;
- ``"time"`` (when ``window_seconds`` is set): the pairs whose event time lies in the last
  ``window_seconds`` before the latest event time seen, in whole buckets of ``window_seconds /
  TIME_BUCKETS`` (so the window spans between 59/60 and all of ``window_seconds``). Pairs are counted
  into their bucket, so memory does not grow with traffic; a pair older than the window when it
  arrives is left out of it. The latest event time seen moves the window: a timestamp from the
  future empties it, so timestamps should be validated before they get here.

Both windows depend only on the pairs in stream order, never on how the stream was cut into batches,
and ``state()``/``load()`` continue exactly.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import Any

import numpy as np

TIME_BUCKETS = 60    # resolution of the event-time window: its edge is exact to 1/60 of its length
OTHER = "other"      # name of the pool of classes beyond max_classes
_PLAIN_NUMBERS = {float, int, bool}
_TZINFO = operator.attrgetter("tzinfo")


# -- summaries -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClassScores:
    """One class against the rest, over one window."""

    precision: float    # right among the predictions of this class; nan if never predicted
    recall: float       # right among the labels of this class; nan if it has no label (support 0)
    f1: float           # 2 tp / (support + predicted); nan if neither
    support: int        # labels of this class in the window
    predicted: int      # predictions of this class in the window


@dataclass(frozen=True, slots=True)
class ClassificationSummary:
    window: str                        # "events" or "time"
    pairs: int
    accuracy: float                    # nan when the window is empty
    macro_f1: float                    # mean F1 over the named classes present in the window
    classes: dict[str, ClassScores]    # named classes present (labelled or predicted), first seen first
    other: ClassScores | None          # the pooled classes beyond max_classes, if any are present
    positive: ClassScores | None       # positive_class against the rest, when positive_class is set
    start: float                       # event time (epoch seconds) the window starts at; nan if unknown
    end: float                         # latest event time in the window; nan if unknown


@dataclass(frozen=True, slots=True)
class RegressionSummary:
    window: str          # "events" or "time"
    pairs: int
    mae: float           # mean |label - prediction|; nan when the window is empty
    rmse: float          # root mean squared residual
    bias: float          # mean residual (label - prediction): > 0 when the model predicts too low
    start: float
    end: float


# -- classification --------------------------------------------------------------------------------
class ClassificationPerformance:
    """Accuracy, per-class precision, recall, F1 and support, and macro-F1 over rolling windows.

    ``update(predictions, labels, times)`` feeds a batch of joined pairs: predictions and labels are
    classes, compared by their text (a whole float is written as an integer, so a label 1 and a
    prediction 1.0 agree; None or NaN on either side leaves the pair out). ``times`` are event times
    (datetimes, naive ones read as UTC, or epoch seconds); they are needed only with
    ``window_seconds``. ``summary()`` returns ``{"events": ClassificationSummary, "time": ...}`` (the
    second only with ``window_seconds``).

    Why per class: accuracy is dominated by the frequent classes. A class with 2% of the labels whose
    recall collapses from 0.9 to 0.1 (the model stops catching fraud, say) moves accuracy by about
    1.6 points, within the noise of a 1,000-pair window, while its own recall says exactly what
    happened. Its support (how many of its labels the window holds) says how much that recall is
    worth: 20 labels is evidence, 2 is not. When ``positive_class`` is set its one-against-the-rest
    precision, recall and F1 are reported as ``positive`` too (present or not in the window).

    Bounded: the first ``max_classes`` classes seen (``positive_class`` first) keep their names for
    the life of the monitor; later ones are pooled as ``other`` (reported apart, left out of
    macro-F1). Correctness is judged on the real classes, so two different pooled classes never count
    as a match.

    Examples
    --------
    A rare class ("fraud", 2% of labels) stops being recognised; accuracy barely moves:

    >>> rng = np.random.default_rng(1)
    >>> def traffic(n, fraud_recall):
    ...     labels = rng.choice(["ok", "review", "fraud"], size=n, p=[0.78, 0.2, 0.02])
    ...     right = rng.random(n) < np.where(labels == "fraud", fraud_recall, 0.95)
    ...     return np.where(right, labels, np.where(labels == "ok", "review", "ok")), labels
    >>> perf = ClassificationPerformance(window_events=1000, positive_class="fraud")
    >>> perf.update(*traffic(1000, fraud_recall=0.9))
    >>> before = perf.summary()["events"]
    >>> perf.update(*traffic(1000, fraud_recall=0.1))
    >>> after = perf.summary()["events"]
    >>> round(before.accuracy, 3), round(after.accuracy, 3)
    (0.947, 0.934)
    >>> round(before.positive.recall, 2), round(after.positive.recall, 2), after.positive.support
    (0.94, 0.06, 17)
    >>> round(before.macro_f1, 2), round(after.macro_f1, 2)
    (0.94, 0.65)
    """

    def __init__(self, window_events: int = 1000, window_seconds: float | None = None,
                 positive_class: Any = None, max_classes: int = 50):
        self.window_events = _check_window_events("ClassificationPerformance", window_events)
        self.window_seconds = _check_window_seconds("ClassificationPerformance", window_seconds)
        if isinstance(max_classes, bool) or not isinstance(max_classes, (int, np.integer)) or max_classes < 1:
            raise ValueError(f"ClassificationPerformance: max_classes={max_classes!r} is invalid; max_classes must "
                             f"be an integer >= 1 (for example max_classes=50)")
        self.max_classes = int(max_classes)
        self.positive_class = None if positive_class is None else _name(positive_class)
        self._codes: dict[str, int] = {}      # class -> code 1, 2, ...; code 0 is the pool
        self._names = [OTHER]
        if self.positive_class is not None:
            self._register([self.positive_class])
        self._recent = _Recent(self.window_events, {"predicted": np.int32, "label": np.int32, "correct": np.bool_,
                                                    "time": np.float64})
        self._buckets = None if self.window_seconds is None else _Buckets(self.window_seconds, self._cells)

    @property
    def _cells(self) -> int:
        return 3 * len(self._names)   # per class code: support, predicted, right

    def update(self, predictions: Sequence[Any] | np.ndarray, labels: Sequence[Any] | np.ndarray,
               times: Sequence[Any] | np.ndarray | None = None) -> None:
        predicted, actual = _names(predictions), _names(labels)
        seconds = _pair_times(self, len(predicted), len(actual), times)
        if None in predicted or None in actual:
            keep = [i for i, (p, a) in enumerate(zip(predicted, actual)) if p is not None and a is not None]
            predicted, actual, seconds = [predicted[i] for i in keep], [actual[i] for i in keep], seconds[keep]
        n = len(predicted)
        if n == 0:
            return
        p, a = self._encode(predicted), self._encode(actual)
        if len(self._codes) < self.max_classes and not (p.all() and a.all()):
            # Code 0 means "unknown" while there is room: new classes get codes, in order of first appearance.
            self._register(chain.from_iterable(zip(predicted, actual)))
            if self._buckets is not None:
                self._buckets.grow(self._cells)
            p, a = self._encode(predicted), self._encode(actual)
        right = np.fromiter(map(operator.eq, predicted, actual), dtype=np.bool_, count=n)
        self._recent.push({"predicted": p, "label": a, "correct": right, "time": seconds})
        if self._buckets is not None:
            hits = np.flatnonzero(right)
            pairs = np.concatenate([np.arange(n), np.arange(n), hits])
            cells = np.concatenate([3 * a, 3 * p + 1, 3 * a[hits] + 2])
            self._buckets.add(seconds, pairs, cells)

    def _encode(self, names: list[str]) -> np.ndarray:
        return np.fromiter(map(self._codes.get, names, repeat(0)), dtype=np.int32, count=len(names))

    def _register(self, names) -> None:
        """Codes for classes not seen before, in order of first appearance, while there is room."""
        for name in dict.fromkeys(names):
            if name not in self._codes and len(self._codes) < self.max_classes:
                self._codes[name] = len(self._names)
                self._names.append(name)

    def summary(self) -> dict[str, ClassificationSummary]:
        recent = self._recent.held()
        k = len(self._names)
        counts = np.stack([np.bincount(recent["label"], minlength=k),
                           np.bincount(recent["predicted"], minlength=k),
                           np.bincount(recent["label"][recent["correct"]], minlength=k)], axis=1)
        out = {"events": self._summarise("events", counts, *_span(recent["time"]))}
        if self._buckets is not None:
            out["time"] = self._summarise("time", self._buckets.totals().reshape(k, 3), *self._buckets.span())
        return out

    def _summarise(self, window: str, counts: np.ndarray, start: float, end: float) -> ClassificationSummary:
        support, predicted, right = counts.T
        pairs = int(support.sum())

        def scores(c: int) -> ClassScores:
            return ClassScores(_ratio(right[c], predicted[c]), _ratio(right[c], support[c]),
                               _ratio(2 * right[c], support[c] + predicted[c]), int(support[c]), int(predicted[c]))

        classes = {name: scores(c) for c, name in enumerate(self._names) if c and support[c] + predicted[c]}
        f1s = [s.f1 for s in classes.values()]
        return ClassificationSummary(
            window=window, pairs=pairs, accuracy=_ratio(right.sum(), pairs),
            macro_f1=float(np.mean(f1s)) if f1s else math.nan, classes=classes,
            other=scores(0) if support[0] + predicted[0] else None,
            positive=None if self.positive_class is None else scores(self._codes[self.positive_class]),
            start=start, end=end)

    def state(self) -> dict[str, Any]:
        return {"names": list(self._names[1:]), "recent": self._recent.state(),
                "buckets": None if self._buckets is None else self._buckets.state()}

    def load(self, state: dict[str, Any]) -> None:
        self._names = [OTHER, *state["names"]]
        self._codes = {name: code for code, name in enumerate(self._names) if code}
        self._recent.load(state["recent"])
        if self._buckets is not None:
            self._buckets.load(state["buckets"])
            self._buckets.grow(self._cells)


# -- regression ------------------------------------------------------------------------------------
def residuals(predictions: Sequence[Any] | np.ndarray, labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """label - prediction as float64, NaN where either side is missing or not a number.

    Feed these to a numeric drift detector (``ks``, ``page_hinkley``): for a regression model "was the
    prediction right" is meaningless, but a change in the residuals' distribution is concept drift.
    The detectors skip NaN.

    >>> residuals([1.0, 2.5, None, 4], [1.5, 2.0, 3.0, "n/a"])
    array([ 0.5, -0.5,  nan,  nan])
    """
    predicted, actual = _numbers(predictions), _numbers(labels)
    if len(predicted) != len(actual):
        raise ValueError(f"residuals: {len(predicted)} predictions and {len(actual)} labels; pass one label per "
                         f"prediction")
    return actual - predicted


class RegressionPerformance:
    """MAE, RMSE and bias (mean residual, label - prediction) over rolling windows.

    Same windows as :class:`ClassificationPerformance`: ``summary()`` returns ``{"events":
    RegressionSummary, "time": ...}``. Pairs with a missing or non-numeric side are left out. The
    events window is recomputed from its residuals at each summary (exact); the time window keeps
    sums per bucket, so a different cutting of the stream into batches may change its figures in the
    last bits of rounding, never more.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> labels = rng.normal(100, 10, size=3000)
    >>> perf = RegressionPerformance(window_events=1000)
    >>> perf.update(labels[:2000] + rng.normal(0, 2, size=2000), labels[:2000])
    >>> s = perf.summary()["events"]
    >>> round(s.mae, 2), round(s.rmse, 2), round(s.bias, 2)
    (1.61, 1.99, -0.11)
    >>> perf.update(labels[2000:] + rng.normal(-3, 2, size=1000), labels[2000:])   # now predicts 3 too low
    >>> s = perf.summary()["events"]
    >>> round(s.mae, 2), round(s.rmse, 2), round(s.bias, 2)
    (3.0, 3.48, 2.89)
    """

    residuals = staticmethod(residuals)

    def __init__(self, window_events: int = 1000, window_seconds: float | None = None):
        self.window_events = _check_window_events("RegressionPerformance", window_events)
        self.window_seconds = _check_window_seconds("RegressionPerformance", window_seconds)
        self._recent = _Recent(self.window_events, {"residual": np.float64, "time": np.float64})
        self._buckets = None if self.window_seconds is None else _Buckets(self.window_seconds, 4)

    def update(self, predictions: Sequence[Any] | np.ndarray, labels: Sequence[Any] | np.ndarray,
               times: Sequence[Any] | np.ndarray | None = None) -> None:
        r = residuals(predictions, labels)
        seconds = _pair_times(self, len(r), len(r), times)
        keep = np.isfinite(r)
        if not keep.all():
            r, seconds = r[keep], seconds[keep]
        n = len(r)
        if n == 0:
            return
        self._recent.push({"residual": r, "time": seconds})
        if self._buckets is not None:
            pairs = np.tile(np.arange(n), 4)
            cells = np.repeat(np.arange(4), n)
            self._buckets.add(seconds, pairs, cells, np.concatenate([np.ones(n), r, np.abs(r), r * r]))

    def summary(self) -> dict[str, RegressionSummary]:
        recent = self._recent.held()
        r = recent["residual"]
        sums = np.array([len(r), r.sum(), np.abs(r).sum(), (r * r).sum()])
        out = {"events": _regression("events", sums, *_span(recent["time"]))}
        if self._buckets is not None:
            out["time"] = _regression("time", self._buckets.totals(), *self._buckets.span())
        return out

    def state(self) -> dict[str, Any]:
        return {"recent": self._recent.state(),
                "buckets": None if self._buckets is None else self._buckets.state()}

    def load(self, state: dict[str, Any]) -> None:
        self._recent.load(state["recent"])
        if self._buckets is not None:
            self._buckets.load(state["buckets"])


def _regression(window: str, sums: np.ndarray, start: float, end: float) -> RegressionSummary:
    n, total, absolute, squares = (float(x) for x in sums)
    return RegressionSummary(window=window, pairs=int(n), mae=_ratio(absolute, n), rmse=math.sqrt(_ratio(squares, n)),
                             bias=_ratio(total, n), start=start, end=end)


# -- windows ---------------------------------------------------------------------------------------
class _Recent:
    """The last ``size`` pairs, column by column, in a ring where the pair of stream index i sits at i % size:
    the layout, hence every sum over it, does not depend on how the stream was cut into batches."""

    def __init__(self, size: int, dtypes: dict[str, Any]):
        self.size = size
        self._columns = {name: np.zeros(size, dtype=dtype) for name, dtype in dtypes.items()}
        self._next = 0      # pairs ever pushed, modulo size
        self._count = 0

    def push(self, columns: dict[str, np.ndarray]) -> None:
        n = len(next(iter(columns.values())))
        kept = min(n, self.size)
        at = (self._next + n - kept + np.arange(kept)) % self.size
        for name, values in columns.items():
            self._columns[name][at] = values[n - kept:]
        self._next = (self._next + n) % self.size
        self._count = min(self._count + n, self.size)

    def held(self) -> dict[str, np.ndarray]:
        """The pairs held, in ring order (views: read, do not keep)."""
        return {name: col[:self._count] for name, col in self._columns.items()}

    def state(self) -> dict[str, Any]:
        return {"size": self.size, "held": {name: col.copy() for name, col in self.held().items()},
                "next": self._next}

    def load(self, state: dict[str, Any]) -> None:
        """A window of another size (the configuration changed since the snapshot) starts empty."""
        self._next = self._count = 0
        for name, col in self._columns.items():
            col[:] = 0
            if state["size"] == self.size:
                values = state["held"][name]
                col[:len(values)] = values
                self._count, self._next = len(values), state["next"]


class _Buckets:
    """Sums per pair cell over the last TIME_BUCKETS buckets of event time, in a ring of buckets."""

    def __init__(self, seconds: float, cells: int):
        self.width = seconds / TIME_BUCKETS
        self._sums = np.zeros((TIME_BUCKETS, cells))
        self._latest: int | None = None      # bucket of the latest event time seen
        self._end = math.nan                 # the latest event time seen

    def grow(self, cells: int) -> None:
        if cells > self._sums.shape[1]:
            self._sums = np.pad(self._sums, ((0, 0), (0, cells - self._sums.shape[1])))

    def add(self, times: np.ndarray, pairs: np.ndarray, cells: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add weights[j] (default 1) to cell cells[j] of the bucket of pair pairs[j], whose time is times[pairs[j]]."""
        known = np.isfinite(times)
        if not known.any():
            return
        buckets = np.floor(times / self.width)
        top = int(buckets[known].max())
        if self._latest is None or top > self._latest:
            self._advance(top)
        self._end = float(np.fmax(self._end, times[known].max()))
        inside = known & (buckets > self._latest - TIME_BUCKETS)
        take = inside[pairs]
        slots = buckets[pairs[take]].astype(np.int64) % TIME_BUCKETS
        width = self._sums.shape[1]
        flat = np.bincount(slots * width + cells[take], weights=None if weights is None else weights[take],
                           minlength=self._sums.size)
        self._sums += flat.reshape(self._sums.shape)

    def _advance(self, top: int) -> None:
        """The window now ends at bucket `top`: empty the slots of the buckets it leaves behind."""
        if self._latest is not None:
            if top - self._latest >= TIME_BUCKETS:
                self._sums[:] = 0.0
            else:
                self._sums[np.arange(self._latest + 1, top + 1) % TIME_BUCKETS] = 0.0
        self._latest = top

    def totals(self) -> np.ndarray:
        return self._sums.sum(axis=0)

    def span(self) -> tuple[float, float]:
        if self._latest is None:
            return math.nan, math.nan
        return (self._latest - TIME_BUCKETS + 1) * self.width, self._end

    def state(self) -> dict[str, Any]:
        return {"width": self.width, "sums": self._sums.copy(), "latest": self._latest, "end": self._end}

    def load(self, state: dict[str, Any] | None) -> None:
        """A window of another length, or none at the snapshot (the configuration changed), starts empty."""
        if state is None or state["width"] != self.width:
            self._sums[:] = 0.0
            self._latest, self._end = None, math.nan
            return
        self._sums = np.array(state["sums"], dtype=np.float64)
        self._latest, self._end = state["latest"], state["end"]


# -- inputs ----------------------------------------------------------------------------------------
def _names(values) -> list[str | None]:
    """Classes as text, None where missing; one C-speed pass when they are strings already."""
    if isinstance(values, np.ndarray):
        values = values.ravel().tolist()
    else:
        values = list(values)
    if set(map(type, values)) <= {str}:
        return values
    return [_name(v) for v in values]


def _name(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    return str(value)


def _numbers(values) -> np.ndarray:
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "biuf":
            return values.astype(np.float64).ravel()
        values = values.ravel().tolist()
    else:
        values = list(values)
    if set(map(type, values)) <= _PLAIN_NUMBERS:
        return np.array(values, dtype=np.float64)
    # Numbers count; anything else (None, text) is missing: "2.5" is not parsed.
    return np.fromiter((float(v) if isinstance(v, numbers.Real) else math.nan for v in values),
                       dtype=np.float64, count=len(values))


def _pair_times(owner, n_predictions: int, n_labels: int, times) -> np.ndarray:
    who = type(owner).__name__
    if n_predictions != n_labels:
        raise ValueError(f"{who}.update: {n_predictions} predictions and {n_labels} labels; pass one label per "
                         f"prediction")
    if times is None:
        if owner.window_seconds is not None:
            raise ValueError(f"{who}.update: times is None but window_seconds={owner.window_seconds!r}; pass the "
                             f"event time of each pair (datetimes or epoch seconds)")
        return np.full(n_predictions, math.nan)
    seconds = _seconds(times)
    if len(seconds) != n_predictions:
        raise ValueError(f"{who}.update: {len(seconds)} times for {n_predictions} pairs; pass one time per pair")
    return seconds


def _seconds(times) -> np.ndarray:
    """Epoch seconds from datetimes (naive ones read as UTC), datetime64 or numbers; NaN where missing."""
    if isinstance(times, np.ndarray):
        if times.dtype.kind in "biuf":
            return times.astype(np.float64).ravel()
        if times.dtype.kind == "M":
            ns = times.astype("datetime64[ns]").ravel()
            return np.where(np.isnat(ns), math.nan, ns.astype(np.int64) / 1e9)
        times = times.ravel().tolist()
    else:
        times = list(times)
    types = set(map(type, times))
    if types <= _PLAIN_NUMBERS:
        return np.array(times, dtype=np.float64)
    if types == {datetime} and None not in set(map(_TZINFO, times)):    # the events' case: aware datetimes
        return np.fromiter(map(datetime.timestamp, times), dtype=np.float64, count=len(times))
    return np.fromiter(map(_epoch, times), dtype=np.float64, count=len(times))


def _epoch(t) -> float:
    if isinstance(t, datetime):
        return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp()
    if t is None:
        return math.nan
    if isinstance(t, numbers.Real):
        return float(t)
    raise ValueError(f"times holds {t!r}; an event time must be a datetime or epoch seconds")


def _span(times: np.ndarray) -> tuple[float, float]:
    known = times[np.isfinite(times)]
    return (float(known.min()), float(known.max())) if len(known) else (math.nan, math.nan)


def _ratio(a, b) -> float:
    return float(a) / float(b) if b else math.nan


def _check_window_events(who: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: window_events={value!r} is invalid; window_events must be an integer >= 1 "
                         f"(for example window_events=1000)")
    return int(value)


def _check_window_seconds(who: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{who}: window_seconds={value!r} is invalid; window_seconds must be a finite number > 0 "
                         f"or None (for example window_seconds=3600)")
    return float(value)

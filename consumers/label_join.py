"""The prediction-label join: ground truth arrives later, on another topic, and is matched by event_id.

Symmetric: a label may overtake its prediction (another topic, another fetch), so labels wait for
predictions too. Shadow deployments answer the same request with several model versions, so a
pending event holds one prediction per version and its label joins each of them. Bounded by event
time (`ttl_seconds`: what has waited longer is dropped and counted) and by count (`max_pending`
per side, the oldest dropped first).

Each side waits on the other side's clock: a prediction expires once the labels have reached its
time plus the TTL, a label once the predictions have. Kafka orders records within a topic, not
across topics, so a consumer may read a model's predictions hours of event time ahead of its labels;
on one shared clock their predictions would expire before labels that were on time, and the pairs
would depend on how the fetches happened to interleave.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

COVERAGE_WINDOW = 1_000   # recent predictions the coverage gauge is computed over


@dataclass(frozen=True, slots=True)
class Joined:
    row: int                    # row of the event that completed the pair, in its batch
    event_id: str
    version: str
    prediction: Any
    label: Any
    predicted_at: datetime
    labelled_at: datetime
    segment: tuple | None       # the prediction's segment values, in the order of the model's segment keys


@dataclass(frozen=True, slots=True)
class Sibling:
    """A prediction that arrived while another version's prediction for the same request was pending."""

    row: int
    version: str
    other: str
    agree: bool


@dataclass(frozen=True, slots=True)
class Expired:
    unlabelled: int             # predictions whose label did not come in time
    orphaned: int               # labels that never met their prediction


class LabelJoin:
    def __init__(self, ttl_seconds: float = 7 * 86_400, max_pending: int = 100_000):
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_pending = max_pending
        # event_id -> {version: (prediction, time, segment)}
        self._predictions: OrderedDict[str, dict[str, tuple[Any, datetime, tuple | None]]] = OrderedDict()
        # event_id -> [label, time, joined at least once]
        self._labels: OrderedDict[str, list] = OrderedDict()
        self._outcomes: deque[int] = deque(maxlen=COVERAGE_WINDOW)   # 1: labelled in time, 0: expired unlabelled
        self._predicted_to: datetime | None = None   # the latest prediction's event time
        self._labelled_to: datetime | None = None    # the latest label's event time

    def add_predictions(self, event_ids: Sequence[str], predictions: Sequence[Any], versions: Sequence[str],
                        times: Sequence[datetime], segments: Sequence[tuple | None]) -> tuple[list[Joined], list[Sibling]]:
        joined, siblings = [], []
        for row, (event_id, prediction, version, at, segment) in enumerate(
                zip(event_ids, predictions, versions, times, segments)):
            label = self._labels.get(event_id)
            if label is not None:
                label[2] = True   # kept: another version may answer the same request
                joined.append(Joined(row, event_id, version, prediction, label[0], at, label[1], segment))
                self._outcomes.append(1)
                continue
            pending = self._predictions.setdefault(event_id, {})
            siblings += [Sibling(row, version, other, same(prediction, p[0]))
                         for other, p in pending.items() if other != version]
            pending[version] = (prediction, at, segment)
        self._predicted_to = _latest(self._predicted_to, times)
        return joined, siblings

    def add_labels(self, event_ids: Sequence[str], labels: Sequence[Any],
                   times: Sequence[datetime]) -> list[Joined]:
        joined = []
        for row, (event_id, label, at) in enumerate(zip(event_ids, labels, times)):
            pending = self._predictions.pop(event_id, None)
            if pending is None:
                self._labels[event_id] = [label, at, False]
                continue
            for version, (prediction, predicted_at, segment) in pending.items():
                joined.append(Joined(row, event_id, version, prediction, label, predicted_at, at, segment))
                self._outcomes.append(1)
        self._labelled_to = _latest(self._labelled_to, times)
        return joined

    def expire(self) -> Expired:
        """Drop what has waited longer than the TTL, or beyond the count bound; count what it means."""
        unlabelled = orphaned = 0
        cutoff = self._labelled_to - self.ttl if self._labelled_to is not None else None
        while self._predictions and (len(self._predictions) > self.max_pending or (
                cutoff is not None and min(p[1] for p in next(iter(self._predictions.values())).values()) < cutoff)):
            _, pending = self._predictions.popitem(last=False)
            unlabelled += len(pending)
            self._outcomes.extend([0] * len(pending))
        cutoff = self._predicted_to - self.ttl if self._predicted_to is not None else None
        while self._labels and (len(self._labels) > self.max_pending or (
                cutoff is not None and next(iter(self._labels.values()))[1] < cutoff)):
            _, (_, _, was_joined) = self._labels.popitem(last=False)
            orphaned += not was_joined
        return Expired(unlabelled, orphaned)

    @property
    def coverage(self) -> float | None:
        """Share of recent predictions labelled before they expired (None before any outcome)."""
        return sum(self._outcomes) / len(self._outcomes) if self._outcomes else None

    @property
    def pending(self) -> tuple[int, int]:
        """(events whose predictions await a label, labels awaiting a prediction)."""
        return len(self._predictions), len(self._labels)

    def state(self) -> dict[str, Any]:
        return {"predictions": list(self._predictions.items()), "labels": list(self._labels.items()),
                "outcomes": list(self._outcomes), "predicted_to": self._predicted_to,
                "labelled_to": self._labelled_to}

    def load(self, state: dict[str, Any]) -> None:
        self._predictions = OrderedDict(state["predictions"])
        self._labels = OrderedDict(state["labels"])
        self._outcomes = deque(state["outcomes"], maxlen=COVERAGE_WINDOW)
        self._predicted_to, self._labelled_to = state["predicted_to"], state["labelled_to"]


def _latest(clock: datetime | None, times: Sequence[datetime]) -> datetime | None:
    if not len(times):
        return clock
    latest = max(times)
    return latest if clock is None else max(clock, latest)


def same(a: Any, b: Any) -> bool:
    """Predictions and labels compare as numbers when both are numbers, else as text."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return str(a) == str(b)

"""The prediction-label join: ground truth arrives later, on another topic, and is matched by event_id.

Bounded: at most `max_pending` entries wait on each side, the oldest dropped first. Symmetric: a label
may overtake its prediction (another topic, another fetch), so labels wait for predictions too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_PENDING = 100_000   # per side


@dataclass(frozen=True, slots=True)
class Joined:
    row: int            # row of the event that completed the pair, in its batch
    prediction: Any
    version: str
    label: Any


class LabelJoin:
    def __init__(self, max_pending: int = MAX_PENDING):
        self.max_pending = max_pending
        self._predictions: OrderedDict[str, tuple[Any, str]] = OrderedDict()
        self._labels: OrderedDict[str, Any] = OrderedDict()

    def add_predictions(self, event_ids: Sequence[str], predictions: Sequence[Any],
                        versions: Sequence[str]) -> list[Joined]:
        joined = []
        for row, (event_id, prediction, version) in enumerate(zip(event_ids, predictions, versions)):
            label = self._labels.pop(event_id, _NONE)
            if label is _NONE:
                self._predictions[event_id] = (prediction, version)
            else:
                joined.append(Joined(row, prediction, version, label))
        _trim(self._predictions, self.max_pending)
        return joined

    def add_labels(self, event_ids: Sequence[str], labels: Sequence[Any]) -> list[Joined]:
        joined = []
        for row, (event_id, label) in enumerate(zip(event_ids, labels)):
            pending = self._predictions.pop(event_id, None)
            if pending is None:
                self._labels[event_id] = label
            else:
                joined.append(Joined(row, pending[0], pending[1], label))
        _trim(self._labels, self.max_pending)
        return joined

    @property
    def pending(self) -> tuple[int, int]:
        """(predictions awaiting a label, labels awaiting a prediction)."""
        return len(self._predictions), len(self._labels)

    def state(self) -> dict[str, list]:
        return {"predictions": list(self._predictions.items()), "labels": list(self._labels.items())}

    def load(self, state: dict[str, list]) -> None:
        self._predictions = OrderedDict(state["predictions"])
        self._labels = OrderedDict(state["labels"])


_NONE = object()


def _trim(pending: OrderedDict, limit: int) -> None:
    while len(pending) > limit:
        pending.popitem(last=False)

"""The abstract streaming drift detector every kind implements."""

from __future__ import annotations

import abc
import pickle
from typing import ClassVar

import numpy as np

SNAPSHOT_FORMAT = 2  # 2: ks redesign, rearm (the state of every kind changed shape)


class Detector(abc.ABC):
    """A streaming drift detector: feed values, get told when their distribution changed.

    Subclasses store their constructor arguments under the same names, keep learned state in
    ``_underscored`` attributes, and implement :meth:`update` (or :meth:`update_many`) and
    :meth:`reset`. ``update_many(xs)`` always returns the positions that calling ``update`` on
    each value in turn would have flagged.
    """

    kind: ClassVar[str]
    # Why a kind without a reference to keep refuses ``rearm`` (kinds that take it leave this empty).
    _no_rearm: ClassVar[str] = ""

    _n_seen: int = 0
    _statistic: float = 0.0
    _threshold: float = float("nan")
    _alarm_statistic: float = float("nan")
    _alarm_threshold: float = float("nan")

    @abc.abstractmethod
    def update(self, x) -> bool:
        """Feed one value; return True when drift is detected at it."""

    def update_many(self, xs) -> np.ndarray:
        """Feed values in order; return the int64 positions in ``xs`` where drift was detected."""
        hits = [i for i, x in enumerate(xs) if self.update(x)]
        return np.asarray(hits, dtype=np.int64)

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything learned from the stream, as if just created."""

    def _prepare(self) -> None:
        """Do the per-configuration work (cached per process) this detector would do before monitoring."""

    @property
    def statistic(self) -> float:
        """Latest value of the test statistic."""
        return float(self._statistic)

    @property
    def threshold(self) -> float:
        """The threshold the statistic was compared against."""
        return float(self._threshold)

    @property
    def alarm_statistic(self) -> float:
        """The statistic at the latest detection (nan before any): what an alert should quote.

        ``statistic`` moves on after a detection (the detector re-arms within the same batch);
        this one stays until the next detection or ``reset()``.
        """
        return float(self._alarm_statistic)

    @property
    def alarm_threshold(self) -> float:
        """The threshold at the latest detection (nan before any)."""
        return float(self._alarm_threshold)

    def _record_alarm(self) -> None:
        self._alarm_statistic, self._alarm_threshold = self._statistic, self._threshold

    @property
    def n_seen(self) -> int:
        """Values fed since creation or :meth:`reset` (NaN excluded); a drift does not reset it."""
        return int(self._n_seen)

    def snapshot(self) -> bytes:
        """Serialise the detector; :func:`detectors.restore` continues exactly where it stopped.

        The blob is a pickle: restore only snapshots your own service wrote.
        """
        return pickle.dumps({"format": SNAPSHOT_FORMAT, "kind": self.kind, "detector": self}, protocol=5)

    def _params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items() if k != "reference")
        return f"{type(self).__name__}({args})"


def restore(blob: bytes) -> Detector:
    """Rebuild a detector from :meth:`Detector.snapshot` output."""
    try:
        payload = pickle.loads(blob)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad blob
        raise ValueError(f"restore: blob is not a detector snapshot ({exc}); pass bytes from det.snapshot()") from None
    if not isinstance(payload, dict) or payload.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(
            f"restore: snapshot format {payload.get('format') if isinstance(payload, dict) else None!r} is not "
            f"supported; this version reads format {SNAPSHOT_FORMAT} (re-create the detector)"
        )
    det = payload["detector"]
    if not isinstance(det, Detector):
        raise ValueError("restore: blob does not hold a Detector; pass bytes from det.snapshot()")
    return det


def finite_positions(xs) -> tuple[np.ndarray, np.ndarray]:
    """Return (positions, values) of the non-NaN entries of a numeric batch."""
    arr = np.asarray(xs, dtype=np.float64).ravel()
    keep = np.flatnonzero(~np.isnan(arr))
    return keep, arr[keep]

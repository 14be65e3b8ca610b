"""Turning detector firings into DriftAlerts: where the evidence is, deterministic ids, severity, cooldown."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from stream.config import AlertPolicy
from stream.events import AlertWindow, DriftAlert

_ID_NAMESPACE = uuid.UUID("6f1d3c52-6b8e-4d0a-9a57-2f1e8f3c9b10")


@dataclass(frozen=True, slots=True)
class EventRef:
    """Where an event came from, so an alert can point back at the evidence."""

    topic: str
    partition: int
    offset: int
    time: datetime


@dataclass(frozen=True, slots=True)
class Batch:
    """Where each event of one model's share of a polled batch came from; alerts point back at it."""

    topic: str
    partition: int
    offsets: Sequence[int]
    times: Sequence[datetime]

    def ref(self, i: int) -> EventRef:
        return EventRef(self.topic, self.partition, int(self.offsets[i]), self.times[i])

    def __len__(self) -> int:
        return len(self.offsets)

    def subset(self, rows: Sequence[int]) -> Batch:
        return Batch(self.topic, self.partition, [self.offsets[i] for i in rows], [self.times[i] for i in rows])


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a signal is watched: the whole model, one model version, or one segment (on the champion)."""

    name: str                            # "all", "version=v2", "country=BR"
    version: str                         # the model_version its alerts carry
    segment: dict[str, str] | None = None

    @classmethod
    def of_version(cls, version: str) -> Scope:
        return cls(f"version={version}", version)

    @classmethod
    def of_segment(cls, key: str, value: str, version: str) -> Scope:
        return cls(f"{key}={value}", version, {key: value})


ALL = Scope("all", "unversioned")


def alert_id(model_id: str, signal: str, detector: str, at: EventRef, scope: str = "all",
             status: str = "drifting") -> str:
    """Same input, same id: a replay after a crash produces alerts subscribers can de-duplicate."""
    key = f"{model_id}|{signal}|{scope}|{detector}|{status}|{at.topic}|{at.partition}|{at.offset}"
    return str(uuid.uuid5(_ID_NAMESPACE, key))


def severity(statistic: float, threshold: float, policy: AlertPolicy) -> str:
    if threshold > 0 and statistic >= policy.critical_ratio * threshold:
        return "critical"
    return "warning"


class Cooldown:
    """One drift, one alert: firings of the same signal within the quiet period (event time) are held back."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._last: dict[tuple[str, str], datetime] = {}

    def allow(self, signal: str, detector: str, at: datetime) -> bool:
        last = self._last.get((signal, detector))
        if last is not None and (at - last).total_seconds() < self.seconds:
            return False
        self._last[(signal, detector)] = at
        return True

    def state(self) -> dict[tuple[str, str], datetime]:
        return dict(self._last)

    def load(self, state: dict[tuple[str, str], datetime]) -> None:
        self._last = dict(state)


def _finite(value: float, fallback: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else fallback


def build_alert(*, model_id: str, kind: str, signal: str, detector: str, statistic: float, threshold: float,
                first: EventRef, at: EventRef, policy: AlertPolicy, what: str, scope: Scope = ALL,
                model_version: str | None = None, status: str = "drifting") -> DriftAlert:
    # A detector still warming up may report NaN; JSON has no NaN, and the alert must still go out.
    statistic = _finite(statistic, 0.0)
    threshold = _finite(threshold, statistic)
    return DriftAlert(
        alert_id=alert_id(model_id, signal, detector, at, scope.name, status),
        model_id=model_id,
        model_version=model_version or scope.version,
        kind=kind,
        signal=signal,
        detector=detector,
        statistic=statistic,
        threshold=threshold,
        window=AlertWindow(topic=at.topic, partition=at.partition, first_offset=first.offset,
                           last_offset=at.offset, first_event_time=first.time, last_event_time=at.time),
        severity="info" if status == "resolved" else severity(statistic, threshold, policy),
        detected_at=at.time,
        message=f"{what} (statistic {statistic:.4g} vs threshold {threshold:.4g}, "
                f"offsets {first.offset}..{at.offset})",
        status=status,
        segment=scope.segment,
    )

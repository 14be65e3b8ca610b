"""Which model versions are watched side by side, and which one is the champion.

Shadow, canary and blue-green deployments send predictions of several versions of one model. Each
live version gets its own monitors (a 1% canary is not diluted by the champion, and a change of
traffic split moves no version's prediction distribution). Bounded: at most `max_live` versions at
once, later ones share the "other" monitors until a slot frees; a version idle for `idle_seconds` of
event time is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from stream.config import VersionsConfig

OTHER = "other"


class Versions:
    """The champion is the configured one, or else the version that has served most: a version takes
    over when it has served twice as many predictions as the champion, decided prediction by
    prediction, so that any batching of the stream makes the same decisions."""

    def __init__(self, config: VersionsConfig):
        self.config = config
        self._live: dict[str, list] = {}    # version -> [predictions seen, last event time]
        self._dropped: list[str] = []
        self._champion: str | None = config.champion

    def assign(self, versions: Sequence[str], times: Sequence[datetime]) -> tuple[list[str], list[bool]]:
        """Per prediction: its monitored version (itself, or OTHER when every slot is taken), and whether
        the champion served it."""
        scopes, by_champion = [], []
        for version, at in zip(versions, times):
            entry = self._live.get(version)
            if entry is None and len(self._live) >= self.config.max_live:
                self._expire(at)
                entry = self._live.get(version)
            if entry is None and len(self._live) < self.config.max_live:
                entry = self._live[version] = [0, at]
            if entry is None:
                scopes.append(OTHER)
                by_champion.append(False)
                continue
            entry[0] += 1
            entry[1] = max(entry[1], at)
            if self.config.champion is None and version != self._champion and (
                    self._champion not in self._live or entry[0] > 2 * self._live[self._champion][0]):
                self._champion = version
            scopes.append(version)
            by_champion.append(version == self._champion)
        if len(times):
            self._expire(max(times))
        return scopes, by_champion

    def _expire(self, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.config.idle_seconds)
        for version in [v for v, (_, last) in self._live.items() if last < cutoff]:
            del self._live[version]
            self._dropped.append(version)

    def dropped(self) -> list[str]:
        """Versions gone idle since the last call: their monitors can go."""
        gone, self._dropped = self._dropped, []
        return gone

    @property
    def live(self) -> list[str]:
        return sorted(self._live)

    @property
    def champion(self) -> str | None:
        return self._champion

    def state(self) -> dict[str, Any]:
        return {"live": {v: list(e) for v, e in self._live.items()}, "champion": self._champion}

    def load(self, state: dict[str, Any]) -> None:
        self._live = {v: list(e) for v, e in state["live"].items()}
        self._champion = self.config.champion or state["champion"]

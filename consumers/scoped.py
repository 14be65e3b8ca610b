"""One signal watched in several scopes (per model version, per segment value), a monitor per scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stream.events import DriftAlert, SignalStatus

from .alerts import Batch, Scope
from .signal import SignalMonitor


class ScopedSignals:
    def __init__(self, factory: Callable[[Scope], SignalMonitor]):
        self._factory = factory
        self.monitors: dict[str, SignalMonitor] = {}

    def observe(self, scopes: np.ndarray, values: np.ndarray, rows: np.ndarray, batch: Batch,
                scope_of: Callable[[Any], Scope]) -> tuple[list[DriftAlert], list[SignalStatus]]:
        """values[j] from batch row rows[j], watched in scope `scope_of(scopes[j])`; one monitor per scope."""
        alerts: list[DriftAlert] = []
        statuses: list[SignalStatus] = []
        if len(values) == 0:
            return alerts, statuses
        for key in sorted(set(scopes.tolist()), key=str):
            mask = scopes == key
            scope = scope_of(key)
            monitor = self.monitors.get(scope.name)
            if monitor is None:
                monitor = self.monitors[scope.name] = self._factory(scope)
            a, s = monitor.observe(values[mask], rows[mask], batch)
            alerts += a
            statuses += s
        return alerts, statuses

    def drop(self, scope_name: str) -> None:
        self.monitors.pop(scope_name, None)

    def state(self) -> dict[str, Any]:
        return {name: (m.scope, m.state_dict()) for name, m in self.monitors.items()}

    def load(self, state: dict[str, Any]) -> None:
        for name, (scope, monitor_state) in state.items():
            monitor = self.monitors[name] = self._factory(scope)
            monitor.load(monitor_state)

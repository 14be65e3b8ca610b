"""The one door to River: every River class and private attribute the wrappers use goes through here.

River is imported lazily (its ``river.drift`` package imports scipy: about 0.7 s), and each
private API is named in one place, so a River upgrade that moves one fails with a message
saying which API, which River is installed and what to check, instead of an AttributeError
deep inside a batch. ``tests/unit/test_river_compat.py`` checks every API against the
installed River and that it behaves as the wrappers assume.
"""

from __future__ import annotations

import importlib
from typing import Any

TESTED_WITH = "0.26"  # the River minor version these private APIs were checked against


class RiverAPIChanged(RuntimeError):
    """A River API the detectors rely on is missing or changed shape in the installed River."""


def _river_version() -> str:
    try:
        return importlib.import_module("river").__version__
    except Exception:  # noqa: BLE001 - any failure: River missing or broken
        return "not importable"


def _changed(api: str, used_by: str, error: Exception) -> RiverAPIChanged:
    return RiverAPIChanged(
        f"River API {api} (used by {used_by}) is not available in the installed River {_river_version()} "
        f"({type(error).__name__}: {error}); streamdrift was checked against River {TESTED_WITH}.x. "
        f"Check River's changelog for {api}, pin river>={TESTED_WITH},<0.{int(TESTED_WITH.split('.')[1]) + 1} "
        f"(pyproject.toml), or adapt detectors/_river_compat.py and run tests/unit/test_river_compat.py"
    )


def _resolve(module: str, name: str, used_by: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise _changed(f"{module}.{name}", used_by, exc) from None


def adaptive_windowing(**params) -> Any:
    """River's Rust ADWIN core, ``river._river_rust.drift.AdaptiveWindowing(**params)`` (private module).

    The wrapper relies on: keyword arguments ``delta, clock, max_buckets, min_window_length,
    grace_period``; ``update(x) -> bool`` (True when a change was detected at x); pickling
    (detector snapshots hold it).
    """
    cls = _resolve("river._river_rust.drift", "AdaptiveWindowing", "detectors.adwin")
    try:
        return cls(**params)
    except TypeError as exc:
        raise _changed("river._river_rust.drift.AdaptiveWindowing(...)", "detectors.adwin", exc) from None


def binary_detector(name: str) -> type:
    """``river.drift.binary.<name>`` (public: DDM, HDDMW)."""
    return _resolve("river.drift.binary", name, "detectors.error_rate")


def ddm_state(river_ddm) -> tuple[float, int, float | None, float | None]:
    """(error rate, values since restart, best error rate p_min, its sd s_min) of a River ``DDM``.

    Private attributes ``_p`` (a ``stats.Mean``: ``get()``, ``n``), ``_p_min`` and ``_s_min``
    (None until ``warm_start`` values have been seen).
    """
    try:
        return river_ddm._p.get(), river_ddm._p.n, river_ddm._p_min, river_ddm._s_min
    except AttributeError as exc:
        raise _changed("river.drift.binary.DDM._p/_p_min/_s_min", "detectors.error_rate.DDM", exc) from None


def hddm_w_state(river_hddm_w) -> tuple[bool, float, float, float] | None:
    """(ready, ewma of the first sample, ewma of the second, sum of their ibc) of River ``HDDMW``'s increase test.

    Private attributes ``_s1_incr`` and ``_s2_incr`` (``SampleInfo``: ``_is_init``, ``ewma``, ``ibc``).
    """
    try:
        s1, s2 = river_hddm_w._s1_incr, river_hddm_w._s2_incr
        return (s1._is_init and s2._is_init), s1.ewma, s2.ewma, s1.ibc + s2.ibc
    except AttributeError as exc:
        raise _changed("river.drift.binary.HDDMW._s1_incr/_s2_incr (_is_init, ewma, ibc)",
                       "detectors.error_rate.HDDMW", exc) from None

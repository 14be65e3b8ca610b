"""Streaming drift detectors: pure statistics over numbers and categories, no I/O.

>>> import detectors
>>> detectors.KINDS
('ks', 'adwin', 'page_hinkley', 'categorical', 'ddm', 'hddm_w')
"""

from __future__ import annotations

import inspect

from detectors.adwin import ADWIN
from detectors.base import Detector, restore
from detectors.categorical import Categorical
from detectors.error_rate import DDM, HDDMW
from detectors.ks import KS
from detectors.page_hinkley import PageHinkley

_CLASSES: dict[str, type[Detector]] = {
    cls.kind: cls for cls in (KS, ADWIN, PageHinkley, Categorical, DDM, HDDMW)
}
KINDS: tuple[str, ...] = tuple(_CLASSES)

__all__ = ["KINDS", "Detector", "create", "prepare", "restore", "KS", "ADWIN", "PageHinkley", "Categorical",
           "DDM", "HDDMW"]


def create(kind: str, *, reference=None, **params) -> Detector:
    """Build a detector of ``kind`` (one of :data:`KINDS`) with validated parameters.

    >>> det = create("ks", window=500)
    >>> det.kind, det.window, det.stride
    ('ks', 500, 10)
    """
    cls = _class_for(kind, params)
    return cls(reference=reference, **params)


def prepare(kind: str, *, reference=None, **params) -> None:
    """Do now, once per process, the per-configuration work a detector would do before its first value.

    Takes exactly what :func:`create` takes (``reference`` included) and raises the same
    ``ValueError`` for a bad kind or parameter. Today that is the ``ks`` threshold calibration:
    a table lookup for common configurations, a disk-cache read or a simulation of a few
    seconds for others; after it, every ``create`` of the configuration, and the first values
    it sees, cost no calibration. A second call is a dictionary lookup.

    >>> prepare("ks", window=1000)
    >>> prepare("categorical", reference=["a", "b"] * 20)
    """
    create(kind, reference=reference, **params)._prepare()


def _class_for(kind: str, params: dict) -> type[Detector]:
    cls = _CLASSES.get(kind)
    if cls is None:
        raise ValueError(f"kind={kind!r} is invalid; kind must be one of {', '.join(map(repr, KINDS))} "
                         f"(for example kind='ks')")
    allowed = [p for p in inspect.signature(cls).parameters if p != "reference"]
    unknown = sorted(set(params) - set(allowed))
    if "rearm" in unknown:
        raise ValueError(f"{kind}: rearm={params['rearm']!r} is not supported; {cls._no_rearm} "
                         f"(remove rearm, or use kind='ks', 'categorical' or 'page_hinkley' for a kept reference)")
    if unknown:
        raise ValueError(f"{kind}: parameter {unknown[0]}={params[unknown[0]]!r} is unknown; "
                         f"{kind} accepts {', '.join(allowed)}")
    return cls

"""Streaming drift detectors: pure statistics over numbers and categories, no I/O.

>>> import detectors
>>> detectors.KINDS
('ks', 'adwin', 'page_hinkley', 'categorical', 'ddm', 'hddm_w')
"""

from __future__ import annotations

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

__all__ = ["KINDS", "Detector", "create", "restore", "KS", "ADWIN", "PageHinkley", "Categorical", "DDM", "HDDMW"]


def create(kind: str, *, reference=None, **params) -> Detector:
    """Build a detector of ``kind`` (one of :data:`KINDS`) with validated parameters.

    >>> det = create("ks", window=500)
    >>> det.kind, det.window, det.stride
    ('ks', 500, 25)
    """
    cls = _CLASSES.get(kind)
    if cls is None:
        raise ValueError(f"kind={kind!r} is invalid; kind must be one of {', '.join(map(repr, KINDS))} "
                         f"(for example kind='ks')")
    try:
        return cls(reference=reference, **params)
    except TypeError:
        import inspect

        allowed = [p for p in inspect.signature(cls).parameters if p != "reference"]
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"{kind}: parameter {unknown[0]}={params[unknown[0]]!r} is unknown; "
                             f"{kind} accepts {', '.join(allowed)}") from None
        raise

"""How event values are read: one reading for the service, the reference profiles and the offline tools."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np

WRONG_TYPE = np.inf   # a string in a numeric feature: marked in the matrix, told apart from range problems


def numeric_matrix(dicts: Sequence[dict], names: Sequence[str]) -> np.ndarray:
    """One float column per name; absent or null -> NaN, a string (wrong type) -> inf.

    One C-speed pass when every event carries every feature as a number (the common case);
    value by value otherwise. JSON true/false count as 1/0. numpy infers the dtype rather than being
    told float, because told float it would silently parse a string such as "2.5".
    """
    if not names:
        return np.empty((len(dicts), 0))
    get = itemgetter(*names)
    try:
        rows = list(map(get, dicts))
        matrix = np.array(rows if len(names) > 1 else [[r] for r in rows])
        if matrix.dtype.kind in "biuf" and matrix.shape == (len(dicts), len(names)):
            return matrix.astype(float, copy=False)
    except (KeyError, TypeError, ValueError):
        pass
    return np.array([[as_number(d.get(n)) for n in names] for d in dicts], dtype=float).reshape(len(dicts), len(names))


def as_number(value: Any) -> float:
    if value is None:
        return np.nan
    return float(value) if isinstance(value, (int, float)) else WRONG_TYPE


def category(value: Any) -> str:
    """A categorical value as text; JSON true/false as "true"/"false"."""
    return str(value).lower() if isinstance(value, bool) else str(value)

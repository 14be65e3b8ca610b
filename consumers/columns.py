"""A batch of events to numpy columns, one pass per batch: the values a detector sees and what is wrong with the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from stream.config import FeatureConfig

_WRONG_TYPE = np.inf   # a string in a numeric feature: marked in the matrix, told apart from range problems


@dataclass(frozen=True, slots=True)
class Column:
    """One feature over a batch: the usable values, the rows they came from, and masks over every row."""

    values: np.ndarray
    rows: np.ndarray
    missing: np.ndarray
    out_of_range: np.ndarray
    wrong_type: np.ndarray


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
        rows = [get(d) for d in dicts]
        matrix = np.array(rows if len(names) > 1 else [[r] for r in rows])
        if matrix.dtype.kind in "biuf" and matrix.shape == (len(dicts), len(names)):
            return matrix.astype(float, copy=False)
    except (KeyError, TypeError, ValueError):
        pass
    return np.array([[_as_number(d.get(n)) for n in names] for d in dicts], dtype=float).reshape(len(dicts), len(names))


def _as_number(value: Any) -> float:
    if value is None:
        return np.nan
    return float(value) if isinstance(value, (int, float)) else _WRONG_TYPE


def numeric_column(col: np.ndarray, feature: FeatureConfig) -> Column:
    """The usable numbers of a feature column; absent, out-of-range and wrong-type rows are masked apart.

    A finite number sent as such is never "wrong type", so +/-inf only ever marks a string here
    (the event schema refuses infinite numbers).
    """
    missing = np.isnan(col)
    wrong_type = np.isinf(col)
    ok = ~missing & ~wrong_type
    in_range = ok.copy()
    if feature.min is not None:
        in_range &= col >= feature.min
    if feature.max is not None:
        in_range &= col <= feature.max
    rows = np.flatnonzero(in_range)
    return Column(col[rows], rows, missing, ok & ~in_range, wrong_type)


def categorical_column(raw: Sequence[Any]) -> Column:
    """Category values as strings (JSON true/false as "true"/"false"); nothing is out of range or the wrong type."""
    missing = np.fromiter((v is None for v in raw), dtype=bool, count=len(raw))
    rows = np.flatnonzero(~missing)
    values = np.array([str(raw[i]).lower() if isinstance(raw[i], bool) else str(raw[i]) for i in rows], dtype=object)
    nothing = np.zeros(len(raw), dtype=bool)
    return Column(values, rows, missing, nothing, nothing)

"""A batch of events to numpy columns, one pass per batch: the values a detector sees and what is wrong with the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream.config import FeatureConfig
from stream.values import category, numeric_matrix  # noqa: F401  (numeric_matrix: re-exported for the monitor)

@dataclass(frozen=True, slots=True)
class Column:
    """One feature over a batch: the usable values, the rows they came from, and masks over every row."""

    values: np.ndarray
    rows: np.ndarray
    missing: np.ndarray
    out_of_range: np.ndarray
    wrong_type: np.ndarray


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
    values = np.array([category(raw[i]) for i in rows], dtype=object)
    nothing = np.zeros(len(raw), dtype=bool)
    return Column(values, rows, missing, nothing, nothing)

"""Constructor-argument checks shared by the detectors, with messages that name the fix."""

from __future__ import annotations

import math
import numbers

import numpy as np


def _fail(kind: str, name: str, value, rule: str, example: str) -> ValueError:
    return ValueError(f"{kind}: {name}={value!r} is invalid; {name} must be {rule} (for example {name}={example})")


def check_int(kind: str, name: str, value, *, minimum: int, example) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise _fail(kind, name, value, f"an integer >= {minimum}", example)
    return int(value)


def check_float(kind: str, name: str, value, *, low: float, high: float, low_open=True, high_open=True, example) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise _fail(kind, name, value, f"a finite number in {lo}{low}, {high}{hi}", example)
    return float(value)


def check_choice(kind: str, name: str, value, choices: tuple, example) -> str:
    if value not in choices:
        raise _fail(kind, name, value, f"one of {', '.join(map(repr, choices))}", example)
    return value


def numeric_reference(kind: str, reference, *, minimum: int) -> np.ndarray | None:
    """Return the reference as a float64 array without NaN, or None if not given."""
    if reference is None:
        return None
    try:
        ref = np.asarray(reference, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(
            f"{kind}: reference={_short(reference)} is invalid; reference must be a sequence of numbers "
            f"(for example reference=training_df['age'].to_numpy())"
        ) from None
    ref = ref[~np.isnan(ref)]
    if len(ref) < minimum:
        raise ValueError(
            f"{kind}: reference has {len(ref)} non-NaN values; reference must hold at least {minimum} "
            f"(pass a larger sample of the undrifted data, or reference=None to warm up from the stream)"
        )
    return ref


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."

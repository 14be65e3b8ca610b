"""Event times read from a log column — ISO 8601 text, epoch numbers or native timestamps — as UTC microseconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UNIT_MICROS = {"s": 1_000_000.0, "ms": 1_000.0, "us": 1.0, "ns": 0.001}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UTC_US = pa.timestamp("us", "UTC")
_MAX_MICROS = 253_402_300_800_000_000.0   # 9999-12-31, the last time a datetime holds


def guess_unit(value: float) -> str:
    """The epoch unit a number is most likely in: any of them puts 1973-5138 in a distinct magnitude."""
    magnitude = abs(value)
    return "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"


@dataclass(slots=True)
class Times:
    """One chunk's event times: `micros[i]` is valid where `ok[i]`; `bad` maps position -> what was there."""

    micros: np.ndarray          # int64 microseconds since the epoch, UTC
    ok: np.ndarray              # bool
    bad: dict[int, object]      # non-empty values that are not a time
    unit: str | None            # the epoch unit used for numbers (guessed once per file, then kept)

    def datetimes(self) -> list[datetime | None]:
        # Built from integers: pyarrow's own conversion of zoned timestamps is six times slower.
        delta = timedelta
        return [_EPOCH + delta(microseconds=us) if ok else None
                for us, ok in zip(self.micros.tolist(), self.ok.tolist())]


def parse_times(values: pa.Array, *, fmt: str | None = None, unit: str | None = None) -> Times:
    """Read a column of times; a value that is not a time is reported in `bad`, never raised."""
    parsed, unit = _vectorised(values, fmt, unit)
    if parsed is None:
        parsed = _one_by_one(values.to_pylist(), fmt, unit)
    present = values.is_valid().to_numpy(zero_copy_only=False)
    ok = parsed.is_valid().to_numpy(zero_copy_only=False)
    micros = pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    bad_positions = np.flatnonzero(present & ~ok)
    bad = dict(zip(bad_positions.tolist(), values.take(pa.array(bad_positions)).to_pylist())) if len(bad_positions) else {}
    return Times(micros, ok, bad, unit)


def _vectorised(values: pa.Array, fmt: str | None, unit: str | None) -> tuple[pa.Array | None, str | None]:
    kind = values.type
    if pa.types.is_null(kind):
        return pa.nulls(len(values), _UTC_US), unit
    if pa.types.is_timestamp(kind):
        # Zoned values convert to UTC; naive ones are read as UTC, as the event schema does.
        return values.cast(pa.timestamp("us", kind.tz)).cast(_UTC_US) if kind.tz else \
            values.cast(pa.timestamp("us")).cast(_UTC_US), unit
    if pa.types.is_date(kind):
        return values.cast(pa.timestamp("us")).cast(_UTC_US), unit
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _from_epoch(values, unit)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if fmt:
            return pc.strptime(values, format=fmt, unit="us", error_is_null=True).cast(_UTC_US), unit
        try:
            return _from_epoch(values.cast(pa.float64()), unit)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        for target in (_UTC_US, pa.timestamp("us")):
            try:
                return values.cast(target).cast(_UTC_US), unit
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
    return None, unit


def _from_epoch(numbers: pa.Array, unit: str | None) -> tuple[pa.Array, str | None]:
    if unit is None:
        first = pc.min(pc.abs(numbers.cast(pa.float64()))).as_py() if numbers.null_count < len(numbers) else None
        if first is None:
            return pa.nulls(len(numbers), _UTC_US), None
        unit = guess_unit(first)
    scaled = pc.round(pc.multiply(numbers.cast(pa.float64()), UNIT_MICROS[unit]))
    # NaN, infinities and values past year 9999 are not times: null, so they are reported as bad.
    in_range = pc.and_(pc.is_finite(scaled), pc.less(pc.abs(scaled), _MAX_MICROS))
    return pc.if_else(in_range, scaled, None).cast(pa.int64()).cast(_UTC_US), unit


def _one_by_one(values: list, fmt: str | None, unit: str | None) -> pa.Array:
    """The slow path, for columns that mix kinds of values: each value on its own."""
    out: list[int | None] = []
    for value in values:
        when = _parse_one(value, fmt, unit)
        out.append(None if when is None else (when - _EPOCH) // timedelta(microseconds=1))
    return pa.array(out, pa.int64()).cast(_UTC_US)


def _parse_one(value: object, fmt: str | None, unit: str | None) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            when = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value)
            return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return None
    else:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    try:
        return _EPOCH + timedelta(microseconds=round(number * UNIT_MICROS[unit or guess_unit(number)]))
    except OverflowError:
        return None

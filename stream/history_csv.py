"""CSV logs: read as text in blocks, each column then given the type of its first values."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from .history_formats import Broken, Chunk, LogError, LogFile


class CsvFile(LogFile):
    """Every field is read as text, then each column is given the type its first values have (number, true/false
    or text) and keeps it; a later value that does not fit stays text instead of stopping the read."""

    def __init__(self, path: Path, name: str, kind: str):
        super().__init__(path, name, kind)
        self._types: dict[str, pa.DataType] = {}
        with pa.input_stream(str(path), compression="detect") as stream:
            first = stream.read(1 << 16).decode("utf-8", errors="replace").splitlines()
        header = next(csv.reader(first[:1]), [])
        if not header or not any(h.strip() for h in header):
            raise LogError(f"{name}: the first line is not a CSV header; it must name the columns "
                           "(event_id,timestamp,model_id,...)")
        self.header = header

    def _reader(self) -> tuple[pacsv.CSVStreamingReader, list]:
        invalid: list = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            invalid.append(row)
            return "skip"

        reader = pacsv.open_csv(
            pa.input_stream(str(self.path), compression="detect"),
            # One thread, so the rows a block drops are reported before the next block is read.
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in self.header},
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True))
        return reader, invalid

    def chunks(self, rows: int) -> Iterator[Chunk]:
        reader, invalid = self._reader()
        skipped: dict[int, pacsv.InvalidRow] = {}
        line, row = 2, 1
        for batch in reader:
            # Dropped rows may be reported a block early (read-ahead): each is placed by its line number.
            skipped.update((r.number, r) for r in invalid)
            invalid.clear()
            table = pa.Table.from_batches([batch])
            lines, rownums, broken = [], [], []
            for _ in range(batch.num_rows):
                while line in skipped:
                    broken.append(self._broken(skipped.pop(line), row))
                    line, row = line + 1, row + 1
                lines.append(line)
                rownums.append(row)
                line, row = line + 1, row + 1
            for start in range(0, batch.num_rows, rows):
                yield Chunk(table.slice(start, rows), None, rownums[start:start + rows], lines[start:start + rows],
                            self._convert, broken if start == 0 else [])
        skipped.update((r.number, r) for r in invalid)
        if skipped:
            tail = []
            for number in sorted(skipped):
                tail.append(self._broken(skipped[number], row))
                row += 1
            yield Chunk(None, [], [], [], None, tail)

    def _broken(self, bad: pacsv.InvalidRow, row: int | None) -> Broken:
        return Broken(row or 0, bad.number, f"expected {bad.expected_columns} fields (the header's), found "
                      f"{bad.actual_columns}", bad.text)

    def whole(self) -> Chunk:
        parts = list(self.chunks(1 << 62))
        tables = [c.table for c in parts if c.table is not None]
        table = pa.concat_tables(tables) if tables else pa.table({h: pa.array([], pa.string()) for h in self.header})
        return Chunk(table, None, [r for c in parts for r in c.rows], [n for c in parts for n in c.lines],
                     self._convert, [b for c in parts for b in c.broken])

    def _convert(self, name: str, column: pa.Array) -> list:
        kind = self._types.get(name)
        if kind is None:
            if column.null_count == len(column):
                return column.to_pylist()
            kind = self._types[name] = _csv_type(column)
        if kind == pa.string():
            return column.to_pylist()
        try:
            return column.cast(kind).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return [_csv_value(v, kind) for v in column.to_pylist()]


def _csv_type(column: pa.Array) -> pa.DataType:
    """Numbers (or true/false) if nine in ten of the first values are: a stray word does not make text of a
    numeric column, and a few numbers do not make numbers of a column of codes."""
    values = [v for v in column.to_pylist() if v is not None]
    for kind, fits in ((pa.float64(), _is_number), (pa.bool_(), _is_bool)):
        if sum(map(fits, values)) >= 0.9 * len(values):
            return kind
    return pa.string()


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _is_bool(text: str) -> bool:
    return text.lower() in ("true", "false")


def _csv_value(text: str | None, kind: pa.DataType) -> Any:
    if text is None:
        return None
    if kind == pa.bool_():
        return {"true": True, "false": False}.get(text.lower(), text)
    try:
        return float(text)
    except ValueError:
        return text

"""Log files by format — JSON lines, CSV, Parquet — read as chunks of rows, in file order or sorted by time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import StreamdriftError

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
            ".pq": "parquet"}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")   # text formats only: Parquet compresses inside
FORMATS = ("jsonl", "csv", "parquet")


class LogError(StreamdriftError):
    """A log cannot be replayed as given (format, columns, times); the message names the file and the fix."""


@dataclass(slots=True)
class Broken:
    """A row the format itself could not parse (not JSON, wrong number of CSV fields)."""

    row: int
    line: int | None
    reason: str
    raw: Any


@dataclass(slots=True)
class Chunk:
    """Consecutive rows of one file (or, sorted, rows in time order): columns, row and line numbers."""

    table: pa.Table | None                 # CSV and Parquet
    dicts: list[dict] | None               # JSON lines
    rows: list[int]                        # 1-based row number of each row in its file
    lines: list[int] | None                # 1-based line (CSV, JSON lines); None for Parquet
    convert: Callable[[str, pa.Array], list] | None = None
    broken: list[Broken] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def names(self) -> list[str]:
        if self.table is not None:
            return self.table.column_names
        seen: dict[str, None] = {}
        for row in self.dicts:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def values(self, name: str) -> list:
        if self.table is None:
            return [row.get(name) for row in self.dicts]
        column = self.table.column(name).combine_chunks()
        return self.convert(name, column) if self.convert else column.to_pylist()

    def texts(self, name: str) -> list:
        """Identifiers: numbers in an id column are read as their text (event id 17 is "17")."""
        if self.table is None:
            return [v if type(v) is str or v is None else _id_text(v) for v in (r.get(name) for r in self.dicts)]
        column = self.table.column(name).combine_chunks()
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return [None if v is None else _id_text(v) for v in column.to_pylist()]
        return column.to_pylist()

    def time_array(self, name: str) -> pa.Array:
        if self.table is not None:
            return self.table.column(name).combine_chunks()
        values = [row.get(name) for row in self.dicts]
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):   # mixed kinds: each is read on its own
            return pa.array([None if v is None else str(v) if not isinstance(v, (int, float)) else str(v)
                             for v in values], pa.string())

    def raw(self, i: int) -> dict:
        if self.table is None:
            return self.dicts[i]
        return self.table.slice(i, 1).to_pylist()[0]


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise LogError(f"{path}: unknown format {given!r}; use one of {', '.join(FORMATS)}")
        return given
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    kind = SUFFIXES.get(suffixes[-1]) if suffixes else None
    if kind is None:
        shown = "".join(path.suffixes) or "(no suffix)"
        raise LogError(f"{path}: unsupported log format {shown}; replay reads .jsonl/.ndjson (JSON lines), .csv "
                       f"and .parquet files, text ones optionally compressed ({', '.join(COMPRESSIONS)}): convert "
                       f"the file, rename it, or name its format with --format {'|'.join(FORMATS)}")
    if kind == "parquet" and path.suffixes[-1].lower() in COMPRESSIONS:
        raise LogError(f"{path}: a compressed Parquet file cannot be read; decompress it (Parquet compresses inside)")
    return kind


class LogFile:
    """One log file. `chunks()` reads it front to back; `chunks(order=...)` after a sort."""

    def __init__(self, path: Path, name: str, kind: str):
        self.path, self.name, self.kind = path, name, kind

    @staticmethod
    def open(path: Path, name: str, given_format: str | None = None) -> LogFile:
        if not path.exists():
            raise LogError(f"{name}: no such file")
        if path.is_dir():
            raise LogError(f"{name} is a folder: give the log files in it (e.g. {name}/*.jsonl)")
        kind = detect_format(path, given_format)
        if path.stat().st_size == 0:
            raise LogError(f"{name} is empty (0 bytes): remove it from the logs to replay")
        from .history_csv import CsvFile

        return {"jsonl": JsonLinesFile, "csv": CsvFile, "parquet": ParquetFile}[kind](path, name, kind)

    def chunks(self, rows: int) -> Iterator[Chunk]:
        raise NotImplementedError

    def whole(self) -> Chunk:
        """Every row at once, for sorting: columns stay in Arrow (or raw lines for JSON) to keep it compact."""
        raise NotImplementedError

    def estimate_rows(self) -> int | None:
        """Rows in the file: exact for Parquet, from the size and the first MiB for uncompressed text."""
        if self.path.suffixes[-1].lower() in COMPRESSIONS:
            return None
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            sample = f.read(1 << 20)
        newlines = sample.count(b"\n") + (0 if sample.endswith(b"\n") else 1)
        header = 1 if self.kind == "csv" else 0
        return max(0, round(newlines * size / max(len(sample), 1)) - header)


class ParquetFile(LogFile):
    def chunks(self, rows: int) -> Iterator[Chunk]:
        row = 1
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=rows):
            yield Chunk(pa.Table.from_batches([batch]), None, list(range(row, row + batch.num_rows)), None)
            row += batch.num_rows

    def whole(self) -> Chunk:
        table = pq.read_table(self.path)
        return Chunk(table, None, list(range(1, table.num_rows + 1)), None)

    def estimate_rows(self) -> int:
        return pq.ParquetFile(self.path).metadata.num_rows


class JsonLinesFile(LogFile):
    def _lines(self) -> Iterator[tuple[int, bytes]]:
        number, rest = 0, b""
        with pa.input_stream(str(self.path), compression="detect") as stream:
            while block := stream.read(1 << 20):
                parts = (rest + block).split(b"\n")
                rest = parts.pop()
                for text in parts:
                    number += 1
                    yield number, text
        if rest:
            yield number + 1, rest

    def _rows(self) -> Iterator[tuple[int, bytes, int]]:
        """(line number, text, row number) of every line that is not blank."""
        row = 0
        for number, text in self._lines():
            if text.strip():
                row += 1
                yield number, text, row

    def chunks(self, rows: int, order: list[tuple[int, bytes, int]] | None = None) -> Iterator[Chunk]:
        batch: list[tuple[int, bytes, int]] = []
        for entry in (order if order is not None else self._rows()):
            batch.append(entry)
            if len(batch) == rows:
                yield self._parse(batch)
                batch = []
        if batch:
            yield self._parse(batch)

    @staticmethod
    def _parse(batch: list[tuple[int, bytes, int]]) -> Chunk:
        dicts, rows, lines, broken = [], [], [], []
        for number, text, row in batch:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                broken.append(Broken(row, number, f"not JSON: {exc}", text.decode("utf-8", errors="replace")))
                continue
            if not isinstance(value, dict):
                broken.append(Broken(row, number, f"expected a JSON object, got {type(value).__name__}", value))
                continue
            dicts.append(value)
            rows.append(row)
            lines.append(number)
        return Chunk(None, dicts, rows, lines, None, broken)

    def sorted_lines(self, time_of: Callable[[list[dict]], np.ndarray]) -> list[tuple[int, bytes, int]]:
        """The file's lines in time order, kept as text so a sort costs about the file's size in memory."""
        lines = list(self._rows())
        keys: list[Any] = []
        for start in range(0, len(lines), 8192):
            part = lines[start:start + 8192]
            parsed = []
            for _, text, _ in part:
                try:
                    value = orjson.loads(text)
                except orjson.JSONDecodeError:
                    value = None
                parsed.append(value if isinstance(value, dict) else {})
            keys.append(time_of(parsed))
        order = np.argsort(np.concatenate(keys), kind="stable") if keys else []
        return [lines[i] for i in order]


def take(chunk: Chunk, order: np.ndarray) -> Chunk:
    """The rows of a (whole-file) table chunk in the given order, with their row and line numbers."""
    index = pa.array(order)
    rows = pc.take(pa.array(chunk.rows), index).to_pylist()
    lines = pc.take(pa.array(chunk.lines), index).to_pylist() if chunk.lines is not None else None
    return Chunk(chunk.table.take(index), None, rows, lines, chunk.convert, chunk.broken)

"""Historical logs — JSON lines, CSV, Parquet — read as the events they hold, in event-time order across files.

The replay tool publishes what this yields and the backtest feeds it to the monitor offline, so both see
the same events in the same order. Each file must be sorted by time (or read with ``sort=True``); files
are merged k-way and opened only when the merge reaches their first time, so a month of daily or hourly
files holds one or two open at a time. A row yields the FeatureEvent, PredictionEvent and LabelEvent it
holds; a label with a later label timestamp waits for its time. A row that is not valid yields a
RejectedRow instead, in place, and reading goes on.

>>> import pathlib, tempfile
>>> log = pathlib.Path(tempfile.mkdtemp()) / "credit.jsonl"
>>> _ = log.write_text('{"event_id": "a", "timestamp": "2024-05-01T10:00:00Z", "model_id": "credit", '
...                    '"income": 41000, "prediction": "approve", "label": "approve"}\\n'
...                    '{"event_id": "b", "timestamp": "2024-05-01T10:00:05Z", "model_id": "credit", '
...                    '"income": "n/a?", "prediction": "deny"}\\n'
...                    '{"event_id": "c", "timestamp": "yesterday", "model_id": "credit", "income": 1}\\n')
>>> for item in read_log([log]):
...     print(type(item).__name__, getattr(item, "role", ""), item.source.line)
HistoryRecord features 1
HistoryRecord predictions 1
HistoryRecord labels 1
HistoryRecord features 2
HistoryRecord predictions 2
RejectedRow  3
>>> bad = [item for item in read_log([log]) if isinstance(item, RejectedRow)]
>>> bad[0].source.line, bad[0].column, bad[0].reason.split(" (")[0]
(3, 'timestamp', "'yesterday' is not a time")
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pyarrow as pa

from .history_formats import Chunk, JsonLinesFile, LogError, LogFile, take
from .history_rows import RowBuilder, first_time_problem
from .history_schema import ColumnMapping, HistoryRecord, Layout, RejectedRow, Role, Source, resolve

__all__ = ["ColumnMapping", "HistoryLog", "HistoryRecord", "LogError", "ReadStats", "RejectedRow", "Role",
           "Source", "open_log", "read_log"]

Item = HistoryRecord | RejectedRow
CHUNK_ROWS = 1024   # rows turned into events at a time: large enough for one validation call to pay


@dataclass
class ReadStats:
    """What a read has yielded so far."""

    rows: int = 0
    records: dict[str, int] = field(default_factory=lambda: {"features": 0, "predictions": 0, "labels": 0})
    rejected: int = 0
    out_of_order: dict[str, int] = field(default_factory=dict)   # file -> rows earlier than a row before them


@dataclass
class _File:
    log: LogFile
    layout: Layout
    builder: RowBuilder
    first: int            # microseconds: where the merge opens this file


def open_log(paths: Iterable[str | PathLike], mapping: ColumnMapping | None = None, *, sort: bool = False,
             on_disorder: Callable[[str], None] | None = None, chunk_rows: int = CHUNK_ROWS) -> HistoryLog:
    """Check every file (format, columns, times) and return the log, ready to iterate.

    Raises LogError, naming the file, the column and the fix, for a missing, empty or unsupported file, a
    column named in the mapping that the file lacks, or a timestamp column that holds no time.
    """
    return HistoryLog(paths, mapping or ColumnMapping(), sort=sort, on_disorder=on_disorder, chunk_rows=chunk_rows)


def read_log(paths: Iterable[str | PathLike], mapping: ColumnMapping | None = None, **options) -> Iterator[Item]:
    """The records (and rejected rows) of the logs at `paths`, in event-time order: ``iter(open_log(...))``."""
    return iter(open_log(paths, mapping, **options))


class HistoryLog:
    """Logs opened for reading. Iterating yields HistoryRecord and RejectedRow items in a deterministic order
    (time, then file order, then row), so the n-th item of two reads of the same files is the same item."""

    def __init__(self, paths: Iterable[str | PathLike], mapping: ColumnMapping, *, sort: bool = False,
                 on_disorder: Callable[[str], None] | None = None, chunk_rows: int = CHUNK_ROWS):
        self.mapping, self.sort, self.chunk_rows = mapping, sort, chunk_rows
        self.on_disorder = on_disorder
        self.stats = ReadStats()
        self.files: tuple[str, ...] = tuple(str(p) for p in paths)
        if not self.files:
            raise LogError("no log files given")
        self._files = [self._probe(name) for name in self.files]

    def _probe(self, name: str) -> _File:
        log = LogFile.open(Path(name), name, self.mapping.format)
        chunk = next(iter(log.chunks(self.chunk_rows)), None)
        if chunk is None or (not len(chunk) and not chunk.broken):
            raise LogError(f"{name} has no rows" + (" after its header" if log.kind == "csv" else "")
                           + ": remove it from the logs to replay")
        if not len(chunk):
            first = chunk.broken[0]
            raise LogError(f"{name}: its first rows cannot be read (line {first.line}: {first.reason}); "
                           f"is it a {log.kind} file? Name its format with --format")
        layout = resolve(name, chunk.names(), self.mapping, rowwise=chunk.dicts is not None)
        builder = RowBuilder(name, layout, self.mapping)
        first_time_problem(name, builder, chunk)
        if self.sort:
            micros, ok = self._times(log, builder)
            first = int(micros[ok].min()) if ok.any() else 0
        else:
            times = builder.times(chunk, layout.timestamp)
            first = int(times.micros[times.ok][0]) if times.ok.any() else 0
        return _File(log, layout, builder, first)

    def estimate_rows(self) -> int | None:
        """Rows in all files, for a progress bar: exact for Parquet, estimated from size for text, None if
        a file is compressed text."""
        total = 0
        for f in self._files:
            rows = f.log.estimate_rows()
            if rows is None:
                return None
            total += rows
        return total

    def __iter__(self) -> Iterator[Item]:
        heap: list[tuple] = [(f.first, i, -1, None) for i, f in enumerate(self._files)]
        heapq.heapify(heap)
        streams: dict[int, Iterator[tuple]] = {}
        stats = self.stats
        records = stats.records
        try:
            while heap:
                entry = heap[0]
                i, item = entry[1], entry[3]
                if item is None:
                    stream = streams[i] = self._stream(i)
                else:
                    stream = streams[i]
                    if type(item) is HistoryRecord:
                        records[item.role] += 1
                    else:
                        stats.rejected += 1
                    yield item
                # Stay on this file while it is ahead of every other: no heap work for a file read alone.
                rival = min(heap[1:3]) if len(heap) > 1 else None
                for following in stream:
                    if rival is not None and following > rival:
                        heapq.heapreplace(heap, following)
                        break
                    item = following[3]
                    if type(item) is HistoryRecord:
                        records[item.role] += 1
                    else:
                        stats.rejected += 1
                    yield item
                else:
                    heapq.heappop(heap)
                    del streams[i]
        finally:
            for stream in streams.values():
                stream.close()

    def _stream(self, index: int) -> Iterator[tuple[int, int, int, Item]]:
        """One file's items keyed (time, file, sequence), labels held back until their own time."""
        f = self._files[index]
        clock, seq = f.first, 0
        waiting: list[tuple[int, int, int, Item]] = []
        push, pop = heapq.heappush, heapq.heappop
        for chunk in self._chunks(f):
            self.stats.rows += len(chunk) + len(chunk.broken)
            for row_at, items in f.builder.build(chunk):
                if row_at is None:       # a rejected row
                    seq += 1
                    yield clock, index, seq, items[0][1]
                    continue
                if row_at < clock:
                    self._disordered(f.log.name, items[0][1].source, row_at, clock)
                else:
                    clock = row_at
                while waiting and waiting[0][0] <= row_at:
                    yield pop(waiting)
                for at, item in items:
                    seq += 1
                    if at > row_at:      # ground truth that arrived later waits for its time
                        push(waiting, (at, index, seq, item))
                    else:
                        yield row_at, index, seq, item
        while waiting:
            yield pop(waiting)

    def _chunks(self, f: _File) -> Iterator[Chunk]:
        if not self.sort:
            yield from f.log.chunks(self.chunk_rows)
            return
        if isinstance(f.log, JsonLinesFile):
            yield from f.log.chunks(self.chunk_rows, order=f.log.sorted_lines(
                lambda dicts: self._keys(f.builder, Chunk(None, dicts, [0] * len(dicts), None))))
            return
        whole = f.log.whole()
        order = np.argsort(self._keys(f.builder, whole), kind="stable")
        ordered = take(whole, order)
        if whole.broken:
            yield Chunk(None, [], [], [], None, whole.broken)
        for start in range(0, len(ordered), self.chunk_rows):
            yield _slice(ordered, start, self.chunk_rows)

    def _keys(self, builder: RowBuilder, chunk: Chunk) -> np.ndarray:
        if not len(chunk):
            return np.zeros(0, np.int64)
        times = builder.times(chunk, builder.layout.timestamp)
        return np.where(times.ok, times.micros, np.iinfo(np.int64).min)   # bad times first: they are rejected

    def _times(self, log: LogFile, builder: RowBuilder) -> tuple[np.ndarray, np.ndarray]:
        micros, ok = [np.zeros(0, np.int64)], [np.zeros(0, bool)]
        for chunk in log.chunks(1 << 16):
            if len(chunk):
                times = builder.times(chunk, builder.layout.timestamp)
                micros.append(times.micros)
                ok.append(times.ok)
        return np.concatenate(micros), np.concatenate(ok)

    def _disordered(self, name: str, source: Source, row_at: int, clock: int) -> None:
        count = self.stats.out_of_order.get(name, 0)
        self.stats.out_of_order[name] = count + 1
        if count == 0 and self.on_disorder:
            self.on_disorder(
                f"{source} is not in time order: {_iso(row_at)} comes after {_iso(clock)}. The file's rows are "
                f"read in file order; to read them in time order, sort the file by its time column or "
                f"replay with --sort")


def _slice(chunk: Chunk, start: int, rows: int) -> Chunk:
    lines = chunk.lines[start:start + rows] if chunk.lines is not None else None
    return Chunk(chunk.table.slice(start, rows), None, chunk.rows[start:start + rows], lines, chunk.convert)


def _iso(micros: int) -> str:
    return pa.scalar(micros, pa.timestamp("us", "UTC")).as_py().isoformat().replace("+00:00", "Z")

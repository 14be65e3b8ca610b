"""Publish historical logs through the SDK in event-time order: paced, resumable, bad rows set aside.

The order of a log's records is deterministic (stream.history), so a replay's position is simply how many
of them it has handled. A position is written only after the producer has flushed everything before it,
so resuming from it publishes no record twice and skips none. A crash between two checkpoints (kill -9)
leaves the previous position: the records after it are published again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream.errors import StreamdriftError
from stream.history import HistoryLog, HistoryRecord, RejectedRow

POSITION_VERSION = 1
DEFAULT_POSITION = ".streamdrift-replay-position.json"
DEFAULT_REJECTS = "replay-rejects.jsonl"


class ReplayError(StreamdriftError):
    """A replay cannot start or go on (position, rejects file, delivery); the message says what to do."""


@dataclass(frozen=True)
class Pacing:
    """As fast as possible by default; `rate` events per second, or `speed` times the log's own pace."""

    rate: float | None = None
    speed: float | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and self.speed is not None:
            raise ValueError("give either a rate (--rate) or a speed (--speed), not both")
        for name in ("rate", "speed"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be above 0 (got {value})")


@dataclass
class ReplayState:
    """The position file: what was handled of which files, read how."""

    files: list[dict[str, Any]]
    options: str
    consumed: int = 0                       # records and rejected rows handled, in the log's order
    published: dict[str, int] = field(default_factory=lambda: {"features": 0, "predictions": 0, "labels": 0})
    rejected: int = 0
    rejects_bytes: int = 0                  # the rejects file's size at this position
    last: str | None = None                 # the source of the last item handled, to check on resume
    complete: bool = False
    version: int = POSITION_VERSION

    def save(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=1))
        os.replace(temporary, path)    # a crash leaves the old position or the new one, never half of one

    @staticmethod
    def load(path: Path) -> ReplayState:
        try:
            raw = json.loads(path.read_text())
            if raw.get("version") != POSITION_VERSION:
                raise ValueError(f"version {raw.get('version')!r}")
            return ReplayState(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise ReplayError(f"{path}: not a replay position this version can read ({exc}); delete it to start "
                              "over") from None


def fingerprint(log: HistoryLog) -> tuple[list[dict[str, Any]], str]:
    """The files (path, size, modification time) and a digest of how they are read."""
    files = []
    for name in log.files:
        stat = Path(name).stat()
        files.append({"path": str(Path(name).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    how = json.dumps({"mapping": asdict(log.mapping), "sort": log.sort}, sort_keys=True, default=str)
    return files, hashlib.sha256(how.encode()).hexdigest()[:16]


def default_position(paths: list[str]) -> Path:
    return Path(paths[0]).resolve().parent / DEFAULT_POSITION


@dataclass
class ReplayResult:
    state: ReplayState
    interrupted: bool
    skipped: int                 # items passed over on resume
    seconds: float
    out_of_order: dict[str, int]

    @property
    def published(self) -> int:
        return sum(self.state.published.values())


class Replay:
    """One replay of a log to Kafka through a publisher with the EventProducer interface (send, flush)."""

    def __init__(self, log: HistoryLog, publisher, *, position: Path, rejects: Path, resume: bool = False,
                 pacing: Pacing = Pacing(), stop: threading.Event | None = None,
                 on_reject: Callable[[RejectedRow], None] | None = None,
                 on_progress: Callable[[ReplayState], None] | None = None,
                 checkpoint_seconds: float = 5.0, checkpoint_items: int = 50_000):
        self.log, self.publisher, self.pacing = log, publisher, pacing
        self.position_path, self.rejects_path = position, rejects
        self.stop = stop or threading.Event()
        self.on_reject, self.on_progress = on_reject, on_progress
        self.checkpoint_seconds, self.checkpoint_items = checkpoint_seconds, checkpoint_items
        self.state = self._starting_state(resume)
        self._futures: list = []
        self._last_item: HistoryRecord | RejectedRow | None = None

    def _starting_state(self, resume: bool) -> ReplayState:
        files, options = fingerprint(self.log)
        if not self.position_path.exists():
            if resume:
                raise ReplayError(f"no position to resume from at {self.position_path}: the replay never started "
                                  "there (name the position file with --position) or drop --resume")
            return ReplayState(files, options)
        saved = ReplayState.load(self.position_path)
        if not resume:
            if saved.complete:
                return ReplayState(files, options)
            raise ReplayError(f"{self.position_path} holds an unfinished replay ({saved.consumed:,} rows' records "
                              "handled): add --resume to continue it, or delete the file to replay from the start")
        if [f["path"] for f in saved.files] != [f["path"] for f in files]:
            raise ReplayError(f"{self.position_path} is the position of a replay of other files "
                              f"({', '.join(f['path'] for f in saved.files)}); give the same files in the same "
                              "order, or another --position")
        changed = [f["path"] for f, s in zip(files, saved.files) if f != s]
        if changed:
            raise ReplayError(f"{', '.join(changed)} changed since the position was saved (size or modification "
                              f"time): resuming would skip or repeat records. Delete {self.position_path} to "
                              "replay from the start")
        if saved.options != options:
            raise ReplayError("the column mapping or --sort differ from the interrupted replay's: resume with the "
                              f"same options, or delete {self.position_path} to replay from the start")
        return saved

    def run(self) -> ReplayResult:
        state, started = self.state, time.monotonic()
        skip = 0 if state.complete else state.consumed
        if state.complete:
            return ReplayResult(state, False, 0, 0.0, {})
        rejects = self._open_rejects(state)
        items = iter(self.log)
        try:
            self._skip(items, skip)
            self._publish(items, rejects, state)
            interrupted = self.stop.is_set()
            state.complete = not interrupted
        finally:
            if rejects is not None:
                rejects.close()
        return ReplayResult(state, interrupted, skip, time.monotonic() - started, dict(self.log.stats.out_of_order))

    def _skip(self, items, count: int) -> None:
        last = None
        for done in range(count):
            if done % 10_000 == 0 and self.stop.is_set():
                return      # the position stands as it was
            last = next(items, None)
            if last is None:
                raise ReplayError(f"the logs hold fewer records than the position says were handled "
                                  f"({self.state.consumed:,}); delete {self.position_path} to start over")
        if count and self.state.last is not None and str(last.source) != self.state.last:
            raise ReplayError(f"the logs do not match the position: item {count:,} is {last.source}, the position "
                              f"says {self.state.last}; delete {self.position_path} to start over")

    def _publish(self, items, rejects, state: ReplayState) -> None:
        send, stop, pace = self.publisher.send, self.stop, self._pacer()
        published, report = state.published, self.on_progress
        next_checkpoint = time.monotonic() + self.checkpoint_seconds
        since_checkpoint = 0
        for item in items:
            if stop.is_set():
                break
            if type(item) is HistoryRecord:
                if pace is not None:
                    pace(item)
                    if stop.is_set():
                        break
                self._futures.append(send(item.event))
                published[item.role] += 1
            else:
                line = item.to_json()
                rejects.write(line)
                state.rejects_bytes += len(line)
                state.rejected += 1
                if self.on_reject:
                    self.on_reject(item)
            state.consumed += 1
            self._last_item = item
            since_checkpoint += 1
            if since_checkpoint % 1000 == 0 or since_checkpoint >= self.checkpoint_items:
                if report:
                    report(state)
                if since_checkpoint >= self.checkpoint_items or time.monotonic() >= next_checkpoint:
                    self.checkpoint(rejects)
                    since_checkpoint, next_checkpoint = 0, time.monotonic() + self.checkpoint_seconds
        self.checkpoint(rejects, final=not stop.is_set())
        if report:
            report(state)

    def checkpoint(self, rejects, final: bool = False) -> None:
        """Flush, check every send since the last checkpoint, then record the position: in that order."""
        self.publisher.flush()
        failed = next((f for f in self._futures if f.failed()), None)
        if failed is not None:
            raise ReplayError(f"Kafka did not take a record ({failed.exception}); the position stays at the last "
                              f"checkpoint ({self.position_path}): fix the cause and resume with --resume")
        self._futures.clear()
        rejects.flush()
        os.fsync(rejects.fileno())
        if self._last_item is not None:
            self.state.last = str(self._last_item.source)
        self.state.complete = final
        self.state.save(self.position_path)

    def _open_rejects(self, state: ReplayState):
        try:
            self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
            rejects = open(self.rejects_path, "ab")
            # Resume at the position's size, so rows rejected after the last checkpoint are not written twice.
            rejects.truncate(state.rejects_bytes)
            return rejects
        except OSError as exc:
            raise ReplayError(f"cannot write the rejects file {self.rejects_path}: {exc.strerror}; name a writable "
                              "one with --rejects FILE") from None

    def _pacer(self) -> Callable[[HistoryRecord], None] | None:
        wait, stop = self.stop.wait, self.stop
        if self.pacing.rate:
            interval, sent = 1.0 / self.pacing.rate, [0]
            start = time.monotonic()

            def by_rate(_record: HistoryRecord) -> None:
                due = start + sent[0] * interval
                sent[0] += 1
                ahead = due - time.monotonic()
                if ahead > 0.001 and not stop.is_set():
                    wait(ahead)
            return by_rate
        if self.pacing.speed:
            speed, origin = self.pacing.speed, []

            def by_event_time(record: HistoryRecord) -> None:
                at = record.event.timestamp.timestamp()
                if not origin:
                    origin.append((at, time.monotonic()))
                due = origin[0][1] + (at - origin[0][0]) / speed
                ahead = due - time.monotonic()
                if ahead > 0.001 and not stop.is_set():
                    wait(ahead)
            return by_event_time
        return None


@dataclass
class CheckResult:
    rows: int
    records: dict[str, int]
    rejected: int
    out_of_order: dict[str, int]
    first: str | None
    last: str | None


def check_log(log: HistoryLog, rejects: Path | None = None,
              on_reject: Callable[[RejectedRow], None] | None = None) -> CheckResult:
    """A dry run: read and validate every row, publish nothing; bad rows go to `on_reject` (and `rejects`)."""
    out = open(rejects, "wb") if rejects is not None else None
    first = last = None
    try:
        for item in log:
            if type(item) is HistoryRecord:
                last = item.event.timestamp
                first = first or last
            else:
                if out is not None:
                    out.write(item.to_json())
                if on_reject:
                    on_reject(item)
    finally:
        if out is not None:
            out.close()
    stats = log.stats
    return CheckResult(stats.rows, dict(stats.records), stats.rejected, dict(stats.out_of_order),
                       first.isoformat() if first else None, last.isoformat() if last else None)

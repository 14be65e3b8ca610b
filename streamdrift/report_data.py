"""A backtest's output folder read back: one RunResult per configuration sub-folder (see `streamdrift backtest`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from stream.errors import StreamdriftError
from stream.events import DriftAlert

RECORDS = ("trace", "quality", "performance", "evidence")   # the .jsonl files besides alerts.jsonl


class ReportError(StreamdriftError):
    """The report cannot be made from what was given; the message says what is missing and how to make it."""


@dataclass
class RunResult:
    """What one configuration's backtest wrote."""

    name: str
    folder: Path
    summary: dict
    alerts: list[DriftAlert]
    trace: list[dict] = field(default_factory=list)
    quality: list[dict] = field(default_factory=list)
    performance: list[dict] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # files the folder lacks (an older backtest)

    @property
    def events(self) -> int | None:
        return self.summary.get("events")

    @property
    def events_per_second(self) -> float | None:
        return self.summary.get("events_per_second")


def load_backtest(folder: Path) -> list[RunResult]:
    """Every configuration's results under `folder` (or `folder` itself when it is one configuration's)."""
    if not folder.exists():
        raise ReportError(f"{folder}: no such folder; give the --output folder of a streamdrift backtest")
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder; give the --output folder of a streamdrift backtest")
    if _is_results(folder):
        candidates = [folder]
    else:
        candidates = sorted(p for p in folder.iterdir() if p.is_dir() and _is_results(p))
    if not candidates:
        raise ReportError(f"{folder} holds no backtest results (no sub-folder with alerts.jsonl and summary.json): "
                          f"make them with: streamdrift backtest LOG... --config FILE --output {folder}")
    return [_load_run(p) for p in candidates]


def _is_results(folder: Path) -> bool:
    return (folder / "alerts.jsonl").is_file() and (folder / "summary.json").is_file()


def _load_run(folder: Path) -> RunResult:
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{folder / 'summary.json'} cannot be read: {exc}") from None
    alerts = [_alert(row, folder / "alerts.jsonl", n) for n, row in _lines(folder / "alerts.jsonl")]
    run = RunResult(summary.get("configuration") or folder.name, folder, summary, alerts)
    for name in RECORDS:
        path = folder / f"{name}.jsonl"
        if not path.is_file():
            run.missing.append(path.name)
            continue
        setattr(run, name, [_parsed(row, path, n) for n, row in _lines(path)])
    return run


def _lines(path: Path):
    try:
        with open(path, encoding="utf-8") as lines:
            for n, line in enumerate(lines, 1):
                if line.strip():
                    yield n, line
    except OSError as exc:
        raise ReportError(f"{path} cannot be read: {exc.strerror}") from None


def _alert(line: str, path: Path, n: int) -> DriftAlert:
    try:
        return DriftAlert.model_validate_json(line)
    except ValueError as exc:
        raise ReportError(f"{path}, line {n}: not an alert: {str(exc).splitlines()[0]}") from None


def _parsed(line: str, path: Path, n: int) -> dict:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise ReportError(f"{path}, line {n}: not JSON: {exc}") from None
    if not isinstance(row, dict):
        raise ReportError(f"{path}, line {n}: a JSON object was expected")
    if "time" in row:
        row["time"] = parse_time(row["time"], path, n)
    return row


def parse_time(text: str, path: Path | str = "", n: int = 0) -> datetime:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{path}, line {n}: time {text!r} is not ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)

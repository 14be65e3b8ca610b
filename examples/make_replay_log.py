"""Write a synthetic prediction log to try `streamdrift replay` on (or to measure the log reader with).

    python examples/make_replay_log.py logs/day1.jsonl --rows 100000
    python examples/make_replay_log.py logs/day1.parquet --rows 100000 --features 20 --start 2024-05-01

Each row is one request of the model `credit-risk`: event_id, timestamp (one row a second by default), model_id,
model_version, the features, a prediction with its score, and the label with the time it became known
(label_timestamp, an hour later). Rows are sorted by timestamp, as replay expects. Same seed, same file.

With --drift-at 0.5, the second half drifts: f0 shifts by one standard deviation, a new country (BR) takes a
fifth of f4, and the model's errors double. The other features stay as they were.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def make_table(rows: int, features: int, start: datetime, every_s: float, seed: int,
               label_delay_s: float = 3600.0, drift_at: float | None = None) -> pa.Table:
    rng = np.random.default_rng(seed)
    drifted = np.arange(rows) >= (rows if drift_at is None else int(rows * drift_at))
    times = np.datetime64(start.replace(tzinfo=None), "us") + (np.arange(rows) * every_s * 1e6).astype("timedelta64[us]")
    columns: dict[str, pa.Array] = {
        "event_id": pa.array([f"req-{seed}-{i}" for i in range(rows)]),
        "timestamp": pa.array(times, pa.timestamp("us", "UTC")),
        "model_id": pa.array(["credit-risk"] * rows),
        "model_version": pa.array(rng.choice(["v7", "v8"], rows)),
    }
    for j in range(features):
        if j % 5 == 4:
            countries = rng.choice(["DE", "FR", "ES", "IT"], rows)
            if j == 4:
                countries = np.where(drifted & (rng.random(rows) < 0.2), "BR", countries)
            columns[f"f{j}"] = pa.array(countries)
        else:
            values = rng.normal(j, 1 + j / 10, rows) + (drifted * (1 + j / 10) if j == 0 else 0.0)
            columns[f"f{j}"] = pa.array(np.round(values, 4))
    score = rng.random(rows)
    columns["score"] = pa.array(np.round(score, 4))
    columns["prediction"] = pa.array(np.where(score > 0.5, "deny", "approve"))
    right = rng.random(rows) < np.where(drifted, 0.70, 0.85)
    columns["label"] = pa.array(np.where(right, columns["prediction"].to_numpy(zero_copy_only=False),
                                         np.where(score > 0.5, "approve", "deny")))
    columns["label_timestamp"] = pa.array(times + np.timedelta64(int(label_delay_s * 1e6), "us"),
                                          pa.timestamp("us", "UTC"))
    return pa.table(columns)


def write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv":
        pacsv.write_csv(table, path)
    elif suffix in (".jsonl", ".ndjson"):
        import orjson

        with open(path, "wb") as out:
            for row in table.to_pylist():
                out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z))
    else:
        raise SystemExit(f"{path}: write .jsonl, .csv or .parquet")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="output file: .jsonl, .csv or .parquet")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--features", type=int, default=6)
    parser.add_argument("--start", default="2024-05-01T00:00:00+00:00", help="time of the first row (ISO 8601)")
    parser.add_argument("--every", type=float, default=1.0, metavar="SECONDS", help="time between rows")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drift-at", type=float, metavar="FRACTION",
                        help="the rows from this fraction of the log on drift (e.g. 0.5: the second half)")
    args = parser.parse_args(argv)
    if args.drift_at is not None and not 0 <= args.drift_at <= 1:
        parser.error(f"--drift-at {args.drift_at}: give a fraction of the log between 0 and 1")
    start = datetime.fromisoformat(args.start)
    start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    write(make_table(args.rows, args.features, start.astimezone(timezone.utc), args.every, args.seed,
                     drift_at=args.drift_at), args.path)
    end = start + timedelta(seconds=args.every * (args.rows - 1))
    print(f"{args.path}: {args.rows} rows, {args.features} features, {start.isoformat()} .. {end.isoformat()}")


if __name__ == "__main__":
    main()

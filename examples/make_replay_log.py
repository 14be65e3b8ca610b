"""Write a synthetic prediction log to try `streamdrift replay` on (or to measure the log reader with).

    python examples/make_replay_log.py logs/day1.jsonl --rows 100000
    python examples/make_replay_log.py logs/day1.parquet --rows 100000 --features 20 --start 2024-05-01

Each row is one request of the model `credit-risk`: event_id, timestamp (one row a second by default), model_id,
model_version, the features, a prediction with its score, and the label with the time it became known
(label_timestamp, an hour later). Rows are sorted by timestamp, as replay expects. Same seed, same file.
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
               label_delay_s: float = 3600.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    times = np.datetime64(start.replace(tzinfo=None), "us") + (np.arange(rows) * every_s * 1e6).astype("timedelta64[us]")
    columns: dict[str, pa.Array] = {
        "event_id": pa.array([f"req-{seed}-{i}" for i in range(rows)]),
        "timestamp": pa.array(times, pa.timestamp("us", "UTC")),
        "model_id": pa.array(["credit-risk"] * rows),
        "model_version": pa.array(rng.choice(["v7", "v8"], rows)),
    }
    for j in range(features):
        if j % 5 == 4:
            columns[f"f{j}"] = pa.array(rng.choice(["DE", "FR", "ES", "IT"], rows))
        else:
            columns[f"f{j}"] = pa.array(np.round(rng.normal(j, 1 + j / 10, rows), 4))
    score = rng.random(rows)
    columns["score"] = pa.array(np.round(score, 4))
    columns["prediction"] = pa.array(np.where(score > 0.5, "deny", "approve"))
    columns["label"] = pa.array(np.where(rng.random(rows) < 0.85, columns["prediction"].to_numpy(zero_copy_only=False),
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
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start)
    start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    write(make_table(args.rows, args.features, start.astimezone(timezone.utc), args.every, args.seed), args.path)
    end = start + timedelta(seconds=args.every * (args.rows - 1))
    print(f"{args.path}: {args.rows} rows, {args.features} features, {start.isoformat()} .. {end.isoformat()}")


if __name__ == "__main__":
    main()

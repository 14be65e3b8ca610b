"""`streamdrift replay` as a process against a real broker: every record once, on its topic and key, paced,
interrupted by a signal and resumed with nothing published twice and nothing skipped, bad rows set aside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, TopicPartition

from stream.history import HistoryRecord, read_log
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.integration

ROLES = ("features", "predictions", "labels")


def config_file(tmp_path: Path, bootstrap: str, unique: str) -> tuple[Path, dict[str, str]]:
    topics = {role: f"replay{unique}.{role}" for role in ROLES + ("alerts", "dead_letter", "state")}
    path = tmp_path / "replay.yaml"
    path.write_text(json.dumps({"kafka": {"bootstrap_servers": bootstrap}, "topics": {**topics, "partitions": 3},
                                "models": [{"model_id": "credit-risk"}, {"model_id": "fraud"}]}))
    return path, topics


def write_logs(folder: Path, rows: int, bad_every: int = 0) -> list[Path]:
    """Two models in two formats, interleaved in time; credit-risk's labels arrive 30 s after the prediction."""
    folder.mkdir(exist_ok=True)
    lines = []
    for i in range(rows):
        row = {"event_id": f"c{i}", "timestamp": _at(2 * i), "model_id": "credit-risk", "income": 1000.0 + i,
               "country": "DE" if i % 3 else "FR", "prediction": "deny" if i % 4 else "approve",
               "label": "deny", "label_timestamp": _at(2 * i + 30)}
        if bad_every and i % bad_every == bad_every - 1:
            row["income"] = [1, 2]          # a feature value must be a number, a string, true/false or null
        lines.append(orjson.dumps(row))
    credit = folder / "credit.jsonl"
    credit.write_bytes(b"\n".join(lines) + b"\n")
    fraud = folder / "fraud.parquet"
    pq.write_table(pa.table({"event_id": [f"f{i}" for i in range(rows // 2)],
                             "timestamp": pa.array([_at(4 * i + 1) for i in range(rows // 2)]),
                             "model_id": ["fraud"] * (rows // 2), "amount": [float(i) for i in range(rows // 2)],
                             "prediction": [0.1 * (i % 10) for i in range(rows // 2)]}), fraud)
    return [credit, fraud]


def _at(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1714557600 + seconds))


def expected(logs: list[Path]) -> dict[str, list[tuple[str, str]]]:
    """What the topics should hold: (model_id, event_id) per role, in the order the reader gives."""
    out: dict[str, list] = {role: [] for role in ROLES}
    for item in read_log(logs):
        if isinstance(item, HistoryRecord):
            out[item.role].append((item.event.model_id, item.event.event_id))
    return out


def end_offsets(bootstrap: str, topic: str, consumer: KafkaConsumer | None = None) -> int:
    """How many records the topic holds (0 while it does not exist)."""
    own = consumer is None
    consumer = consumer or KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values()) if partitions else 0
    finally:
        if own:
            consumer.close()


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list:
    """Every record of the topic up to its end offsets now, partition by partition in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def published(bootstrap: str, topics: dict[str, str]) -> dict[str, list]:
    return {role: read_all(bootstrap, topics[role]) for role in ROLES}


def keyed(records) -> list[tuple[str, str]]:
    """(key, event_id) of each record, after checking the key is the event's model_id."""
    out = []
    for record in records:
        event = orjson.loads(record.value)
        assert record.key == event["model_id"].encode()
        out.append((event["model_id"], event["event_id"]))
    return out


class Replay:
    """`python -m streamdrift replay ...` as a child process that is gone when the test ends, whatever happens."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([sys.executable, "-m", "streamdrift", "replay", *args, "--no-progress"],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        cwd=Path(__file__).resolve().parents[2])

    def wait(self, timeout_s: float = 120) -> tuple[int, str]:
        try:
            out, _ = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
            raise AssertionError(f"replay did not finish in {timeout_s} s:\n{out}") from None
        return self.process.returncode, out

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


def run(*args: str) -> str:
    with Replay(*args) as replay:
        code, out = replay.wait()
    assert code == 0, out
    return out


def test_a_replay_puts_every_record_once_on_its_topic_under_its_model_key(kafka_bootstrap, unique, tmp_path):
    config, topics = config_file(tmp_path, kafka_bootstrap, unique)
    logs = write_logs(tmp_path / "logs", 300)
    out = run(*map(str, logs), "--config", str(config))
    assert "Published 450 features, 450 predictions, 300 labels" in out
    want = expected(logs)
    got = published(kafka_bootstrap, topics)
    for role in ROLES:
        assert sorted(keyed(got[role])) == sorted(want[role]), role
        # One key, one partition: each model's records are in the log's (event-time) order.
        for model in ("credit-risk", "fraud"):
            assert [k for k in keyed(got[role]) if k[0] == model] == [k for k in want[role] if k[0] == model]
    label = orjson.loads(next(r.value for r in got["labels"] if orjson.loads(r.value)["event_id"] == "c0"))
    assert label == {"schema_version": 1, "event_id": "c0", "model_id": "credit-risk",
                     "timestamp": "2024-05-01T10:00:30Z", "label": "deny"}
    assert json.loads((tmp_path / "logs" / ".streamdrift-replay-position.json").read_text())["complete"] is True


def test_rate_paces_the_records_sent(kafka_bootstrap, unique, tmp_path):
    config, topics = config_file(tmp_path, kafka_bootstrap, unique)
    logs = write_logs(tmp_path / "logs", 40)[1:]          # 20 fraud rows: 40 records
    run(*map(str, logs), "--config", str(config), "--rate", "20")
    records = published(kafka_bootstrap, topics)
    stamps = sorted(r.timestamp for role in ROLES for r in records[role])   # producer time, in ms
    assert len(stamps) == 40
    assert (stamps[-1] - stamps[0]) / 1000 >= 39 / 20 * 0.9


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_replay_resumes_with_nothing_twice_and_nothing_skipped(kafka_bootstrap, unique, tmp_path,
                                                                                signum):
    config, topics = config_file(tmp_path, kafka_bootstrap, unique)
    logs = write_logs(tmp_path / "logs", 1000, bad_every=97)
    args = [*map(str, logs), "--config", str(config)]
    # Paced to last about 20 s, so the signal lands mid-way even on a loaded machine.
    with Replay(*args, "--rate", "200") as first:
        watcher = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
        try:
            wait_for(lambda: end_offsets(kafka_bootstrap, topics["predictions"], watcher) >= 100,
                     what="the first records")
        finally:
            watcher.close()
        first.process.send_signal(signum)
        code, out = first.wait(timeout_s=60)
    assert code == 130, out
    assert "Interrupted: the position is saved" in out
    position = json.loads((tmp_path / "logs" / ".streamdrift-replay-position.json").read_text())
    total = sum(len(v) for v in expected(logs).values())
    assert not position["complete"] and 0 < sum(position["published"].values()) < total
    assert sum(end_offsets(kafka_bootstrap, topics[r]) for r in ROLES) == sum(position["published"].values())

    out = run(*args, "--resume")
    assert "Resuming after" in out
    want, got = expected(logs), published(kafka_bootstrap, topics)
    for role in ROLES:
        assert sorted(keyed(got[role])) == sorted(want[role]), role
    rejects = [orjson.loads(line) for line in (tmp_path / "logs" / "replay-rejects.jsonl").read_bytes().splitlines()]
    assert [r["line"] for r in rejects] == [97 * k for k in range(1, 11)]


def test_bad_rows_go_to_the_rejects_file_and_the_rest_is_published(kafka_bootstrap, unique, tmp_path):
    config, topics = config_file(tmp_path, kafka_bootstrap, unique)
    logs = write_logs(tmp_path / "logs", 100, bad_every=10)
    rejects = tmp_path / "bad" / "rejects.jsonl"
    out = run(*map(str, logs), "--config", str(config), "--rejects", str(rejects))
    assert "10 bad row(s) set aside in" in out and f"bad row: {logs[0]} line 10: column 'income'" in out
    lines = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [(r["file"], r["line"], r["column"]) for r in lines] == [(str(logs[0]), 10 * k, "income")
                                                                     for k in range(1, 11)]
    assert lines[0]["row"]["event_id"] == "c9" and "features.income" in lines[0]["reason"]
    got = published(kafka_bootstrap, topics)
    assert sorted(keyed(got["features"])) == sorted(expected(logs)["features"])
    assert len(got["features"]) == 90 + 50
    assert os.path.exists(tmp_path / "logs" / ".streamdrift-replay-position.json")

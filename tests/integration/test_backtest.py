"""The backtest is the service, offline: a log backtested, and the same log replayed into Kafka and served,
raise the same alerts with the same ids."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client import CollectorRegistry

from consumers.backtest import Backtest
from consumers.service import MonitorService
from stream.events import DriftAlert
from stream.history import ColumnMapping, open_log
from stream.kafka_clients import ensure_topics
from tests.conftest import running
from tests.integration.helpers import make_config, read_to_end, wait_for
from tests.integration.service_process import committed, write_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
MODELS = [{"model_id": m, "features": [{"name": "x"}, {"name": "c", "type": "categorical"}],
           "prediction": {"type": "categorical"}, "segments": ["region"], "versions": {"champion": "v1"}}
          for m in ("fraud", "churn")]


def drifting_log(path: Path, rows: int = 30_000, seed: int = 3) -> Path:
    """Two models, one row a second: at 60% x shifts and predictions shift in the south; a canary errs more;
    each label becomes known five minutes after its prediction."""
    rng = np.random.default_rng(seed)
    later = np.arange(rows) >= 0.6 * rows
    south = rng.random(rows) < 0.3
    version = np.where(rng.random(rows) < 0.1, "v2", "v1")
    prediction = np.where(rng.random(rows) < np.where(later & south, 0.8, 0.4), "yes", "no")
    wrong = rng.random(rows) < np.where(version == "v2", 0.3, 0.1)
    times = np.array([T0 + timedelta(seconds=i) for i in range(rows)])
    table = pa.table({
        "event_id": [f"e{i}" for i in range(rows)],
        "timestamp": pa.array(times, pa.timestamp("us", "UTC")),
        "model_id": rng.choice(["fraud", "churn"], rows),
        "model_version": version,
        "x": np.round(rng.normal(np.where(later, 0.7, 0.0), 1.0), 4),
        "c": rng.choice(["a", "b", "c"], rows),
        "region": np.where(south, "south", "north"),
        "prediction": prediction,
        "label": np.where(wrong, np.where(prediction == "yes", "no", "yes"), prediction),
        "label_timestamp": pa.array(times + timedelta(minutes=5), pa.timestamp("us", "UTC")),
    })
    pq.write_table(table, path)
    return path


def test_the_backtest_and_the_service_raise_the_same_alerts(kafka_bootstrap, unique, tmp_path):
    log = drifting_log(tmp_path / "month.parquet")
    config = make_config(kafka_bootstrap, unique, MODELS, checkpoint={"every_events": 5_000, "every_seconds": 1.0})
    mapping = ColumnMapping(segments=("region",))
    backtest = Backtest({"cfg": config})
    backtest.feed(open_log([log], mapping))
    offline = backtest.runs[0].alerts
    assert {(a.kind, a.scope) for a in offline if a.status == "drifting"} >= {
        ("data_drift", "all"), ("prediction_drift", "region=south"), ("performance", "version=v2")}

    ensure_topics(config.kafka, config.topics)
    replay = subprocess.run([sys.executable, "-m", "streamdrift", "replay", str(log), "--config",
                             str(write_config(config, tmp_path / "cfg.yaml")), "--segments", "region", "--no-progress",
                             "--position", str(tmp_path / "position.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    topics = [config.topics.features, config.topics.predictions, config.topics.labels]
    total = sum(backtest.runs[0].router.partitions[p].positions.get(t, 0)
                for p in backtest.runs[0].router.partitions for t in topics)
    service = MonitorService(config, CollectorRegistry())
    with running(service):
        wait_for(lambda: committed(kafka_bootstrap, config.consumer.group_id, topics, config.topics.partitions) >= total,
                 timeout_s=180, what="the service to commit the replayed log")
    served = [DriftAlert.model_validate_json(r.value) for r in read_to_end(kafka_bootstrap, config.topics.alerts)]
    only_served = sorted(a.line() for a in served if a.alert_id not in {b.alert_id for b in offline})
    only_offline = sorted(a.line() for a in offline if a.alert_id not in {b.alert_id for b in served})
    assert (only_served, only_offline) == ([], []), "\n".join(["served only:", *only_served, "offline only:", *only_offline])

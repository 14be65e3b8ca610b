"""Other tools see what the service publishes: a real Prometheus scrapes it, kcat talks Kafka to it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from consumers.service import MonitorService
from producers import EventProducer
from stream.broker import free_port
from stream.kafka_clients import ensure_topics
from tests.conftest import running
from tests.integration.helpers import make_config, wait_for

pytestmark = pytest.mark.integration
T0 = datetime(2026, 2, 1, tzinfo=timezone.utc)


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: .ci/run installs it (apt-get install {tool})"
    return path


def prometheus_query(port: int, query: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def test_a_real_prometheus_scrapes_the_service(kafka_bootstrap, unique, tmp_path):
    binary = need("prometheus")
    config = make_config(kafka_bootstrap, unique, [{"model_id": "scraped", "features": [{"name": "x"}]}])
    service = MonitorService(config)
    metrics_port = service.serve_metrics()
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: streamdrift, static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]}}]\n")
    prometheus = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng = np.random.default_rng(4)
    try:
        with running(service), EventProducer(config.kafka, config.topics) as producer:
            for i, x in enumerate(np.concatenate([rng.normal(0, 1, 3000), rng.normal(2, 1, 3000)])):
                producer.features("scraped", {"x": float(x)}, event_id=str(i), timestamp=T0 + timedelta(seconds=i))
            producer.flush()

            def scraped(query: str, at_least: float) -> bool:
                try:
                    result = prometheus_query(prom_port, query)
                except OSError:
                    return False
                return bool(result) and float(result[0]["value"][1]) >= at_least

            wait_for(lambda: scraped('sum(streamdrift_events_total{model="scraped"})', 6000), timeout_s=90,
                     what="Prometheus to scrape 6000 events")
            wait_for(lambda: scraped('sum(streamdrift_alerts_total{model="scraped",signal="x"})', 1), timeout_s=60,
                     what="Prometheus to scrape the drift alert")
            up = prometheus_query(prom_port, 'up{job="streamdrift"}')
            assert up and up[0]["value"][1] == "1"
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)


def test_kcat_publishes_events_the_service_accepts_and_reads_its_alerts(kafka_bootstrap, unique, tmp_path):
    kcat = need("kcat")
    config = make_config(kafka_bootstrap, unique, [{"model_id": "polyglot", "features": [{"name": "x"}]}])
    ensure_topics(config.kafka, config.topics)
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(0, 1, 3000), rng.normal(3, 1, 3000)])
    lines = "".join(
        "polyglot\t" + json.dumps({"schema_version": 1, "event_id": f"k{i}", "model_id": "polyglot",
                                   "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                                   "features": {"x": float(x)}}) + "\n"
        for i, x in enumerate(values))
    subprocess.run([kcat, "-b", kafka_bootstrap, "-P", "-t", config.topics.features, "-K", "\t"],
                   input=lines.encode(), check=True, timeout=60)
    service = MonitorService(config)
    with running(service):
        wait_for(lambda: service.metrics.events.labels("features", "polyglot")._value.get() >= 6000,
                 what="the kcat-published events to be consumed")
        deadline = time.monotonic() + 60
        alerts = []
        while not alerts and time.monotonic() < deadline:
            out = subprocess.run([kcat, "-b", kafka_bootstrap, "-C", "-t", config.topics.alerts, "-e", "-q",
                                  "-X", "isolation.level=read_committed"],
                                 capture_output=True, timeout=60, check=True).stdout.decode()
            alerts = [json.loads(line) for line in out.splitlines() if line.strip()]
            time.sleep(0.5)
    assert alerts, "kcat read no alert"
    assert {a["signal"] for a in alerts} == {"x"} and all(a["model_id"] == "polyglot" for a in alerts)


def test_events_compressed_by_another_client_with_any_codec_are_all_processed(kafka_bootstrap, unique):
    """Producers pick their compression; kcat (librdkafka) sends each codec's own record batches."""
    kcat = need("kcat")
    config = make_config(kafka_bootstrap, unique, [{"model_id": "packed", "features": [{"name": "x"}]}])
    ensure_topics(config.kafka, config.topics)
    codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
    for k, codec in enumerate(codecs):
        lines = "".join(
            "packed\t" + json.dumps({"schema_version": 1, "event_id": f"{codec}{i}", "model_id": "packed",
                                     "timestamp": (T0 + timedelta(seconds=1000 * k + i)).isoformat(),
                                     "features": {"x": float(i % 7)}}) + "\n"
            for i in range(400))
        subprocess.run([kcat, "-b", kafka_bootstrap, "-P", "-t", config.topics.features, "-K", "\t",
                        "-z", codec, "-X", "linger.ms=50"], input=lines.encode(), check=True, timeout=60)
    service = MonitorService(config)
    with running(service) as thread:
        wait_for(lambda: service.metrics.events.labels("features", "packed")._value.get() >= 400 * len(codecs),
                 what="the events of every codec to be consumed")
        assert thread.is_alive(), f"the service died on compressed batches: {thread.errors}"
    assert service.metrics.events.labels("features", "packed")._value.get() == 400 * len(codecs)
    dead = sum(s.value for m in service.registry.collect() if m.name == "streamdrift_dead_letters"
               for s in m.samples if s.name.endswith("_total"))
    assert dead == 0

"""The operations kit against the running service: a real Prometheus scrapes it with the shipped rules loaded and
sends to a real Alertmanager with the shipped routes, while a workload makes signals drift. Every query of the
shipped Grafana dashboard returns data, every rule evaluates, nothing names a metric the service does not export,
the drift reaches a webhook grouped by model and signal, and `streamdrift status` agrees with the metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from consumers.service import MonitorService
from producers import EventProducer
from producers.workload import CreditRiskWorkload
from stream.broker import die_with_parent, free_port
from stream.config import load_config
from streamdrift.cli import main
from streamdrift.demo_command import DEMO_CONFIG
from tests.conftest import running
from tests.integration.helpers import make_config, wait_for
from tests.integration.service_process import write_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "streamdrift.json"
RULES = ROOT / "examples" / "prometheus-rules.yml"
ALERTMANAGER = ROOT / "examples" / "alertmanager.yml"
MODEL = "credit-risk"
BATCHES, BATCH = 40, 500          # the second half drifts (income shifts, a new country appears)
# A 5-minute window covers the whole run, so rates and increases of what happened in it are not zero.
VARIABLES = {"$model": MODEL, "$signal": "income", "$job": "streamdrift", "$__rate_interval": "5m"}
METRIC = re.compile(r"\b(?:streamdrift|process|python)_[a-z0-9_]+\b")


def need(*tools: str) -> str:
    path = next((p for p in map(shutil.which, tools) if p), None)
    assert path, f"{' or '.join(tools)} is not installed: ./scripts/test installs it (Debian packages prometheus, " \
                 "prometheus-alertmanager)"
    return path


# -- what the shipped files ask of Prometheus ------------------------------------------------------
def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable, Grafana's variables replaced."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = [(f"panel {p['title']!r}", t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":   # label_values(SELECTOR, LABEL): its selector must match series
            selector = re.fullmatch(r"label_values\((.*), *\w+\)", variable["query"]["query"]).group(1)
            found.append((f"variable {variable['name']}", selector))
    out = []
    for where, expr in found:
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, f"{where}: a Grafana variable the test does not know: {expr}"
        out.append((where, expr))
    return out


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


def named_metrics(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


# -- talking to Prometheus ---------------------------------------------------------------------------
class Prometheus:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}?{urllib.parse.urlencode(params)}", timeout=10) as response:
            return json.load(response)

    def query(self, expr: str) -> list:
        """The result of an instant query; a PromQL error fails the test with Prometheus's message."""
        try:
            answer = self.get("/api/v1/query", query=expr)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"Prometheus refused {expr!r}: {exc.read().decode()}") from None
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def has(self, expr: str) -> bool:
        try:
            return bool(self.query(expr))
        except OSError:
            return False


class Webhook:
    """The receivers of the Alertmanager example, as one local HTTP server: path = receiver name."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path.strip("/"), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alertmanager_config(webhook: Webhook) -> dict:
    """The shipped routes and grouping, unchanged; each receiver posts to the local webhook under its own name,
    and the waits are shortened to test speed."""
    config = yaml.safe_load(ALERTMANAGER.read_text())
    config["receivers"] = [{"name": r["name"], "webhook_configs": [
        {"url": f"http://127.0.0.1:{webhook.port}/{r['name']}", "send_resolved": True}]} for r in config["receivers"]]
    config["global"] = {"resolve_timeout": "5m"}
    config["route"].update(group_wait="1s", group_interval="1s")
    return config


# -- the stack ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(kafka_bootstrap, tmp_path_factory):
    """The service (in this process) drifting under a workload, scraped by Prometheus with the shipped rules,
    which alerts through Alertmanager with the shipped routes. Every process is stopped at the end."""
    prometheus_bin = need("prometheus")
    alertmanager_bin = need("prometheus-alertmanager", "alertmanager")
    tmp = tmp_path_factory.mktemp("ops")
    unique = uuid.uuid4().hex[:8]
    model = load_config(DEMO_CONFIG).models[0].model_dump(mode="json", exclude_none=True)
    model["labels"]["ttl_seconds"] = 20   # predictions expire within the run, so label coverage is measured
    config = make_config(kafka_bootstrap, unique, [model])
    config_path = write_config(config, tmp / "service.yaml")
    service = MonitorService(config)
    metrics_port = service.serve_metrics()
    webhook = Webhook()
    processes: list[subprocess.Popen] = []

    def start(*command: str, log: str) -> None:
        with open(tmp / log, "wb") as output:
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=output,
                                              preexec_fn=die_with_parent))

    am_port, prom_port = free_port(), free_port()
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(webhook)))
    shutil.copy(RULES, tmp / RULES.name)
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [RULES.name],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "streamdrift",
                            "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}]}))
    prom = Prometheus(prom_port)
    try:
        start(alertmanager_bin, f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'am'}",
              f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", log="alertmanager.log")
        start(prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
              f"--web.listen-address=127.0.0.1:{prom_port}", log="prometheus.log")
        with running(service):
            wait_for(prom.ready, 60, "Prometheus to be ready")
            wait_for(lambda: prom.has('up{job="streamdrift"} == 1'), 60, "Prometheus to scrape the service")
            publish_workload(config)
            expected = BATCHES * BATCH * 3 + len(BAD_MESSAGES)
            wait_for(lambda: processed(service) >= expected, 120, f"the service to process {expected} messages")
            wait_for(lambda: prom.has(f'streamdrift_drift_active{{model="{MODEL}"}} == 1'), 60,
                     "Prometheus to scrape a drifting signal")
            yield prom, service, config_path, webhook, metrics_port
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        webhook.close()


BAD_MESSAGES = [b"{not json", b'{"schema_version": 7}']


def publish_workload(config) -> None:
    """Event times spread over the last two minutes (so predictions expire and lags are real), labels with
    their predictions, and a few malformed messages for the dead-letter panels."""
    workload = CreditRiskWorkload(seed=11, model_id=MODEL)
    start = datetime.now(timezone.utc) - timedelta(seconds=2 * BATCHES + 30)
    with EventProducer(config.kafka, config.topics) as producer:
        for k in range(BATCHES):
            batch = workload.batch(BATCH, drifted=k >= BATCHES // 2, now=start + timedelta(seconds=2 * k))
            for event in (*batch.features, *batch.predictions, *batch.labels):
                producer.send(event)
        for bad in BAD_MESSAGES:
            producer._producer.send(config.topics.features, key=MODEL.encode(), value=bad)


def processed(service: MonitorService) -> float:
    value = service.registry.get_sample_value
    events = sum(value("streamdrift_events_total", {"role": r, "model": MODEL}) or 0
                 for r in ("features", "predictions", "labels"))
    return events + sum(s.value for s in service.metrics.dead_letters.collect()[0].samples
                        if s.name.endswith("_total"))


def exported(metrics_port: int) -> set[str]:
    """Every sample name on the service's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0) for line in text.splitlines()
            if line and not line.startswith("#")}


# -- the checks ---------------------------------------------------------------------------------------
def test_every_dashboard_query_returns_data(stack):
    prom, *_ = stack
    queries = dashboard_queries()
    assert len(queries) > 40
    wait_for(lambda: prom.has('ALERTS{alertname="StreamdriftSignalDrifting", alertstate="firing"}'), 60,
             "the drift alert to fire in Prometheus (the alert panels show it)")
    empty = []
    for where, expr in queries:
        try:
            wait_for(lambda: bool(prom.query(expr)), 20, f"{where} to return data")
        except AssertionError:
            empty.append(f"{where}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)
    assert not prom.query("streamdrift_no_such_metric_total"), "negative control: a made-up metric has no data"


def test_the_dashboard_and_the_rules_name_only_metrics_the_service_exports(stack):
    prom, service, _, _, metrics_port = stack
    names = exported(metrics_port)
    queries = dashboard_queries() + rule_expressions()
    named = set().union(*(named_metrics(expr) for _, expr in queries))
    assert {"streamdrift_consumer_lag_records", "streamdrift_drift_active", "process_resident_memory_bytes",
            "streamdrift_label_lag_seconds_bucket"} <= named
    assert named_metrics("rate(streamdrift_not_exported_total[5m]) / process_x") == {
        "streamdrift_not_exported_total", "process_x"}   # negative control: the extraction sees made-up names
    missing = {where: sorted(named_metrics(expr) - names) for where, expr in queries if named_metrics(expr) - names}
    assert not missing, f"metrics the service does not export: {missing}"
    for name in sorted(named):
        assert prom.has(f'count({{__name__="{name}"}})'), f"Prometheus has no series of {name}"


def test_every_rule_evaluates_without_error(stack):
    prom, *_ = stack
    for alert, expr in rule_expressions():
        prom.query(expr)   # raises with Prometheus's message on a PromQL error

    def evaluated() -> list[dict]:
        groups = prom.get("/api/v1/rules", type="alert")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    wait_for(lambda: len(evaluated()) == len(rule_expressions()) and all(
        not r["lastEvaluation"].startswith("0001") for r in evaluated()), 30, "every rule to be evaluated")
    unhealthy = {r["name"]: r.get("lastError") for r in evaluated() if r["health"] != "ok"}
    assert not unhealthy, f"rules Prometheus could not evaluate: {unhealthy}"
    firing = {r["name"] for r in evaluated() if r["state"] == "firing"}
    assert "StreamdriftSignalDrifting" in firing
    assert not firing & {"StreamdriftDown", "StreamdriftAbsent", "StreamdriftNotConsuming",
                         "StreamdriftCheckpointsStalled"}, firing


def test_a_drift_reaches_the_webhook_grouped_by_model_and_signal(stack):
    prom, *_ = stack
    drifting = {(r["metric"]["model"], r["metric"]["signal"])
                for r in prom.query(f'max by (model, signal) (streamdrift_drift_active{{model="{MODEL}"}}) == 1')}
    assert drifting
    _, _, _, webhook, _ = stack

    def notified(receiver: str) -> set[tuple[str, str]]:
        return {(n["groupLabels"]["model"], n["groupLabels"]["signal"]) for name, n in list(webhook.received)
                if name == receiver and n["groupLabels"].get("alertname") == "StreamdriftSignalDrifting"}

    for receiver in ("drift-webhook", "model-owners-slack"):
        wait_for(lambda: drifting <= notified(receiver), 60, f"{receiver} to be notified of {sorted(drifting)}")
    for name, notification in webhook.received:
        if name == "drift-webhook":
            assert set(notification["groupLabels"]) == {"alertname", "model", "signal"}
            assert all(a["annotations"]["runbook"] for a in notification["alerts"])
    assert "oncall-pagerduty" not in {name for name, _ in webhook.received}   # the service itself is fine


def test_status_shows_the_signals_the_metrics_call_drifting(stack, capsys):
    prom, service, config_path, *_ = stack
    gauge = service.metrics.drift_active.collect()[0].samples
    drifting = {(s.labels["model"], s.labels["signal"], s.labels["scope"]) for s in gauge if s.value == 1}
    assert drifting

    def shown() -> set[tuple[str, str, str]]:
        assert main(["status", "--config", str(config_path), "--drifting", "--json"]) == 0
        return {(s["model_id"], s["signal"], s["scope"]) for s in map(json.loads, capsys.readouterr().out.splitlines())}

    def agrees() -> bool:
        # The champion/challenger comparison (errors_vs_champion) sets no drift_active gauge yet: the status
        # topic is the only place it shows as drifting.
        shown_now = shown()
        return shown_now - {k for k in shown_now if k[1] == "errors_vs_champion"} == drifting

    wait_for(agrees, 30, f"streamdrift status to show {sorted(drifting)} drifting")
    assert main(["alerts", "--config", str(config_path), "--from-beginning", "--exit-at-end", "--json",
                 "--status", "drifting", "--model", MODEL]) == 0
    alerted = {(a["model_id"], a["signal"]) for a in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {(m, s) for m, s, _ in drifting} <= alerted

"""`streamdrift alerts` and `streamdrift status` against a real broker: committed alerts only, filters, a tail
from now on that Ctrl-C stops cleanly, and every signal's latest state from the compacted status topic."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from stream.broker import die_with_parent
from stream.codec import encode
from stream.events import AlertWindow, DriftAlert, SignalStatus
from stream.kafka_clients import ensure_topics, make_producer
from streamdrift.cli import main
from tests.integration.helpers import make_config, wait_for
from tests.integration.service_process import ROOT, write_config

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def alert(n: int, model: str, kind: str = "data_drift", severity: str = "warning",
          status: str = "drifting") -> DriftAlert:
    at = T0 + timedelta(minutes=n)
    return DriftAlert(alert_id=f"alert-{n}", model_id=model, model_version="v1", kind=kind, signal=f"s{n}",
                      detector="ks", statistic=0.3, threshold=0.1, severity=severity, status=status,
                      window=AlertWindow(topic="t.features", partition=0, first_offset=0, last_offset=n,
                                         first_event_time=T0, last_event_time=at),
                      detected_at=at, message=f"alert number {n}")


@pytest.fixture
def topics(kafka_bootstrap, unique, tmp_path):
    """A config with private topics, written to a file, and a transactional producer to publish as the service does."""
    config = make_config(kafka_bootstrap, unique, [{"model_id": "a", "features": [{"name": "x"}]}])
    ensure_topics(config.kafka, config.topics)
    producer = make_producer(config.kafka, transactional_id=f"alerts-command-{unique}")
    producer.init_transactions()
    yield config, write_config(config, tmp_path / "config.yaml"), producer
    producer.close()


def publish(producer, topic: str, messages, *, commit: bool = True) -> None:
    producer.begin_transaction()
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.commit_transaction() if commit else producer.abort_transaction()


def test_alerts_prints_the_committed_alerts_that_match_every_filter(topics, capsys):
    config, path, producer = topics
    alerts = [alert(1, "a"), alert(2, "a", "concept_drift", "critical"), alert(3, "b"),
              alert(4, "a", status="resolved", severity="info"), alert(5, "a", "data_quality")]
    publish(producer, config.topics.alerts, [(a.model_id.encode(), encode(a)) for a in alerts[:3]])
    publish(producer, config.topics.alerts, [(b"a", encode(alert(99, "a")))], commit=False)   # aborted: never shown
    publish(producer, config.topics.alerts, [(b"a", b"not an alert")] +
            [(a.model_id.encode(), encode(a)) for a in alerts[3:]])

    def shown(*options: str) -> list[str]:
        assert main(["alerts", "--config", str(path), "--from-beginning", "--exit-at-end", *options]) == 0
        return capsys.readouterr().out.splitlines()

    assert shown() == [a.line() for a in alerts]   # the aborted alert is not among them, the bad message skipped
    assert shown("--model", "a") == [a.line() for a in alerts if a.model_id == "a"]
    assert shown("--model", "a", "--model", "b", "--kind", "data_drift") == [alerts[0].line(), alerts[2].line(),
                                                                            alerts[3].line()]
    assert shown("--severity", "critical") == [alerts[1].line()]
    assert shown("--status", "resolved") == [alerts[3].line()]
    assert shown("--model", "a", "--status", "drifting", "--kind", "data_quality") == [alerts[4].line()]
    as_json = shown("--json", "--severity", "warning")
    assert [DriftAlert.model_validate(json.loads(line)) for line in as_json] == [alerts[0], alerts[2], alerts[4]]
    # --bootstrap and --topic instead of a config file.
    assert main(["alerts", "--bootstrap", config.kafka.bootstrap_servers, "--topic", config.topics.alerts,
                 "--from-beginning", "--exit-at-end", "--model", "b"]) == 0
    assert capsys.readouterr().out.splitlines() == [alerts[2].line()]


def test_a_bad_message_is_reported_and_skipped(topics, capsys):
    config, path, producer = topics
    publish(producer, config.topics.alerts, [(b"a", b"{not json"), (b"a", encode(alert(1, "a")))])
    assert main(["alerts", "--config", str(path), "--from-beginning", "--exit-at-end"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [alert(1, "a").line()]
    assert f"skipped {config.topics.alerts}[0]@0: not a DriftAlert" in err


def test_alerts_from_now_on_until_ctrl_c(topics, tmp_path):
    config, path, producer = topics
    before, after = alert(1, "a"), alert(2, "a")
    publish(producer, config.topics.alerts, [(b"a", encode(before))])
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        tail = subprocess.Popen([sys.executable, "-m", "streamdrift", "alerts", "--config", str(path)], cwd=ROOT,
                                stdout=stdout, stderr=stderr, preexec_fn=die_with_parent)
    try:
        wait_for(lambda: "from now on" in err.read_text() or tail.poll() is not None, 60,
                 "the command to start reading")
        assert tail.poll() is None, err.read_text()
        publish(producer, config.topics.alerts, [(b"a", encode(after))])
        wait_for(lambda: after.line() in out.read_text(), 30, "the new alert to be printed")
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=30) == 0, err.read_text()
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
    assert out.read_text().splitlines() == [after.line()]   # the alert published before it started is not shown
    assert "Traceback" not in err.read_text()


def test_a_missing_topic_is_an_error_that_names_it(kafka_bootstrap, unique, capsys):
    assert main(["alerts", "--bootstrap", kafka_bootstrap, "--topic", f"t{unique}.nowhere", "--exit-at-end"]) == 1
    assert f"topic 't{unique}.nowhere' does not exist" in capsys.readouterr().err


def test_status_prints_the_latest_state_of_every_signal(topics, capsys):
    config, path, producer = topics

    def status(model: str, signal_name: str, scope: str, state: str, minute: int, **alert_fields) -> SignalStatus:
        return SignalStatus(model_id=model, signal=signal_name, scope=scope, kind="data_drift", state=state,
                            since=T0 + timedelta(minutes=minute), **alert_fields)

    drifting = dict(detector="ks", statistic=0.25, threshold=0.1, alert_id="x")
    history = [status("a", "income", "all", "ok", 0), status("a", "age", "all", "ok", 0),
               status("a", "prediction", "version=v2", "ok", 0), status("b", "x", "all", "ok", 0),
               status("a", "income", "all", "drifting", 5, **drifting),
               status("a", "prediction", "version=v2", "drifting", 6, **drifting),
               status("a", "prediction", "version=v2", "resolved", 9, **drifting)]
    publish(producer, config.topics.status, [(s.key(), encode(s)) for s in history])
    publish(producer, config.topics.status, [(status("b", "x", "all", "ok", 0).key(), None)])   # b/x removed
    assert main(["status", "--config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MODEL", "SIGNAL", "SCOPE", "KIND", "STATE", "SINCE", "(event", "time)", "DETECTOR",
                                "STATISTIC", "THRESHOLD"]
    assert [line.split()[:5] for line in lines[1:-1]] == [
        ["a", "income", "all", "data_drift", "drifting"],
        ["a", "prediction", "version=v2", "data_drift", "resolved"],
        ["a", "age", "all", "data_drift", "ok"]]
    assert lines[1].split()[5:] == ["2026-03-01", "12:05:00", "ks", "0.25", "0.1"]
    assert lines[-1] == "3 signal(s): 1 drifting, 1 resolved, 1 ok"
    assert main(["status", "--config", str(path), "--drifting", "--json"]) == 0
    assert [SignalStatus.model_validate_json(line) for line in capsys.readouterr().out.splitlines()] == [history[4]]
    assert main(["status", "--config", str(path), "--model", "b"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 signal(s): 0 drifting, 0 resolved, 0 ok"


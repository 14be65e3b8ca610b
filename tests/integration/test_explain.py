"""streamdrift explain and the live report against a real broker: a known shift goes through the monitor
service, and its alerts are explained from the evidence read back from Kafka."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import yaml
from kafka import KafkaAdminClient, TopicPartition
from kafka.partitioner.default import murmur2

from consumers.service import MonitorService
from producers import EventProducer
from stream.events import AlertWindow, DriftAlert
from stream.kafka_clients import ensure_topics
from streamdrift.cli import main
from tests.conftest import running
from tests.integration.helpers import make_config, read_to_end, wait_for
from tests.unit.test_report import PNG_SIGNATURE, embedded_pngs

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
EVENTS = 4000      # per phase: stable, then shifted
SHIFT = 1.5        # added to `shifted` (sd 1) in the second phase
NEW_SHARE = 0.3    # share of the new country BR in the second phase
FEATURES = [{"name": "shifted"}, {"name": "steady"}, {"name": "country", "type": "categorical"}]


def _partition(model_id: str, partitions: int = 3) -> int:
    return (murmur2(model_id.encode()) & 0x7FFFFFFF) % partitions


# A quiet model that shares loans' partition (make_config's topics have 3), so explain must tell them apart.
QUIET = next(name for name in (f"quiet-{i}" for i in range(100)) if _partition(name) == _partition("loans"))


@pytest.fixture(scope="module")
def published(kafka_bootstrap, tmp_path_factory):
    """A model whose `shifted` feature moves by SHIFT and whose `country` gains BR halfway, published through the
    monitor service next to a quiet model on the same topics; returns the config file and the alerts raised."""
    suffix = uuid.uuid4().hex[:8]
    config = make_config(kafka_bootstrap, suffix, [{"model_id": "loans", "features": FEATURES},
                                                   {"model_id": QUIET, "features": [{"name": "shifted"}]}])
    path = tmp_path_factory.mktemp("explain") / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    rng = np.random.default_rng(11)
    service = MonitorService(config)
    with running(service), EventProducer(config.kafka, config.topics) as producer:
        for i in range(2 * EVENTS):
            drifted = i >= EVENTS
            country = "BR" if drifted and rng.random() < NEW_SHARE else str(rng.choice(["DE", "FR", "ES"]))
            producer.features("loans", {"shifted": float(rng.normal(SHIFT if drifted else 0.0, 1.0)),
                                        "steady": float(rng.normal()), "country": country},
                              event_id=f"l{i}", timestamp=T0 + timedelta(seconds=i))
            producer.features(QUIET, {"shifted": float(rng.normal())}, event_id=f"q{i}",
                              timestamp=T0 + timedelta(seconds=i))
        producer.flush()
        wait_for(lambda: service.metrics.events.labels("features", "loans")._value.get() >= 2 * EVENTS,
                 timeout_s=180, what="every event of loans consumed")
    alerts = [DriftAlert.model_validate_json(r.value) for r in read_to_end(kafka_bootstrap, config.topics.alerts)]
    return path, config, alerts


def drifting(alerts: list[DriftAlert], signal: str) -> DriftAlert:
    found = [a for a in alerts if a.model_id == "loans" and a.signal == signal and a.status == "drifting"]
    assert found, f"no drift alert on {signal}: {[a.line() for a in alerts]}"
    return found[0]


def quantile_rows(text: str) -> dict[str, float]:
    """The shift column of the quantile table `explain` prints."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s+(p\d+)\s+\S+\s+\S+\s+([+-][\d.,]+)", text, re.M)}


def test_explain_shows_the_shifted_quantiles_moved_by_the_injected_amount(published, tmp_path, capsys):
    path, _, alerts = published
    alert = drifting(alerts, "shifted")
    plot = tmp_path / "shifted.png"
    assert main(["explain", alert.alert_id[:13], "--config", str(path), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert f"Alert {alert.alert_id}" in out and "What moved in feature 'shifted' (numeric)" in out
    shifts = quantile_rows(out)
    assert set(shifts) == {"p5", "p10", "p25", "p50", "p75", "p90", "p95"}, out
    assert shifts["p50"] == pytest.approx(SHIFT, abs=0.4), out
    first = next(iter(shifts.values()))   # the largest shift, listed first
    assert first == pytest.approx(SHIFT, abs=0.6) and first == max(shifts.values(), key=abs), out
    assert plot.read_bytes().startswith(PNG_SIGNATURE) and plot.stat().st_size > 5000


def test_explain_keeps_to_the_alerts_model_on_a_shared_partition(published, capsys):
    """The quiet model's events sit between loans' on the same partition and carry no shift: mixed in, they
    would halve the median's shift and fill the offsets."""
    path, _, alerts = published
    alert = drifting(alerts, "shifted")
    assert main(["explain", alert.alert_id, "--config", str(path), "--events", "500"]) == 0
    out = capsys.readouterr().out
    sides = {m[0]: m[1:] for m in re.findall(r"^  (before|after):\s+\D*?([\d,]+) events.*offsets ([\d,]+)\.\.([\d,]+)$",
                                             out, re.M)}
    assert set(sides) == {"before", "after"}, out
    for count, first, last in sides.values():
        count, first, last = (int(x.replace(",", "")) for x in (count, first, last))
        assert last - first + 1 >= 1.5 * count, f"{count} events of loans span only offsets {first}..{last}"
    assert quantile_rows(out)["p50"] == pytest.approx(SHIFT, abs=0.4), out


def test_explain_ranks_the_new_category_first(published, capsys):
    path, _, alerts = published
    alert = drifting(alerts, "country")
    assert main(["explain", alert.alert_id, "--config", str(path)]) == 0
    out = capsys.readouterr().out
    row = re.search(r"^\s+BR \(new\)\s+([\d.]+)%\s+([\d.]+)%", out, re.M)
    assert row, out
    first = out.split("largest change of frequency first:")[1].strip().splitlines()[1]
    assert first.strip().startswith("BR (new)"), out
    assert float(row.group(1)) == 0.0 and float(row.group(2)) / 100 == pytest.approx(NEW_SHARE, abs=0.12)


def test_explain_reads_an_alert_from_a_json_file(published, tmp_path, capsys):
    path, _, alerts = published
    alert = drifting(alerts, "shifted")
    file = tmp_path / "alert.json"
    file.write_text(alert.model_dump_json())
    assert main(["explain", "--alert", str(file), "--config", str(path)]) == 0
    assert quantile_rows(capsys.readouterr().out)["p50"] == pytest.approx(SHIFT, abs=0.4)


def test_an_unknown_alert_id_says_how_many_alerts_were_searched(published, capsys):
    path, _, alerts = published
    assert main(["explain", "no-such-alert", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"no alert with id 'no-such-alert' among the {len(alerts):,} alerts on" in err


def test_evidence_the_topic_no_longer_keeps_is_a_clear_error(kafka_bootstrap, tmp_path, capsys):
    """Records deleted below an alert's evidence (as retention deletes them) make explain say so, and how to keep
    them longer. The alert is written by hand: only its window matters here."""
    config = make_config(kafka_bootstrap, uuid.uuid4().hex[:8], [{"model_id": "gone", "features": [{"name": "x"}]}])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    ensure_topics(config.kafka, config.topics)
    with EventProducer(config.kafka, config.topics) as producer:
        for i in range(300):
            producer.features("gone", {"x": float(i)}, event_id=str(i), timestamp=T0 + timedelta(seconds=i))
    window = AlertWindow(topic=config.topics.features, partition=_partition("gone"), first_offset=0, last_offset=299,
                         first_event_time=T0, last_event_time=T0 + timedelta(seconds=299))
    alert = DriftAlert(alert_id="a-1", model_id="gone", model_version="unversioned", kind="data_drift", signal="x",
                       detector="ks", statistic=1.0, threshold=0.5, window=window, severity="warning",
                       detected_at=window.last_event_time, message="by hand")
    (tmp_path / "alert.json").write_text(alert.model_dump_json())
    explained = ["explain", "--alert", str(tmp_path / "alert.json"), "--config", str(path)]
    assert main(explained) == 0, "a negative control: the evidence is readable before it is deleted"
    capsys.readouterr()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_records({TopicPartition(window.topic, window.partition): 300})
    finally:
        admin.close()
    assert main(explained) == 1
    err = capsys.readouterr().err
    assert "offsets 0..299) is no longer retained: the partition now starts at offset 300" in err
    assert f"{config.topics.features} keeps retention.ms=" in err and "--add-config retention.ms=" in err


def test_the_live_report_shows_the_alerts_their_state_and_their_evidence(published, tmp_path):
    path, _, alerts = published
    output = tmp_path / "live.html"
    assert main(["report", "--config", str(path), "--model", "loans", "--output", str(output)]) == 0
    page = output.read_text(encoding="utf-8")
    images = embedded_pngs(page)
    assert images and all(i.startswith(PNG_SIGNATURE) for i in images)
    assert 'alt="timeline-loans"' in page
    for alert in (a for a in alerts if a.model_id == "loans"):
        assert alert.alert_id in page
    assert "Current state of each signal" in page and ">steady<" in page
    assert QUIET not in page, "--model keeps to one model"
    assert "Cannot show the evidence" not in page
    assert 'alt="evidence-loans-shifted-' in page and 'alt="evidence-loans-country-' in page


def test_a_live_report_for_a_model_the_configuration_lacks_is_refused(published, capsys):
    path = published[0]
    assert main(["report", "--config", str(path), "--model", "nobody"]) == 2
    assert "has no model 'nobody'" in capsys.readouterr().err



def test_a_model_with_a_training_reference_is_compared_with_its_published_profile(kafka_bootstrap, tmp_path,
                                                                                  capsys):
    """reference: training: before is the profile the detectors compare with, not the events before."""
    from stream.profile import NumericSummary, ProfileSource, ReferenceProfile
    from stream.profile_kafka import publish_profile

    config = make_config(kafka_bootstrap, uuid.uuid4().hex[:8],
                         [{"model_id": "trained", "features": [{"name": "x"}], "reference": "training"}])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    ensure_topics(config.kafka, config.topics)
    quantiles = tuple(float(q) for q in np.quantile(np.random.default_rng(5).normal(0, 1, 20_000),
                                                    np.linspace(0, 1, 2000)))
    publish_profile(config, ReferenceProfile(
        model_id="trained", built_at=T0, source=ProfileSource(kind="files", files=("train.csv",)), rows=20_000,
        signals={"x": NumericSummary(count=20_000, min=quantiles[0], max=quantiles[-1], mean=0.0, std=1.0,
                                     sampled=20_000, quantiles=quantiles)}))
    rng = np.random.default_rng(6)
    with EventProducer(config.kafka, config.topics) as producer:   # every event drifted: none is a fair before
        for i in range(600):
            producer.features("trained", {"x": float(rng.normal(SHIFT, 1.0))}, event_id=str(i),
                              timestamp=T0 + timedelta(seconds=i))
    window = AlertWindow(topic=config.topics.features, partition=_partition("trained"), first_offset=0,
                         last_offset=599, first_event_time=T0, last_event_time=T0 + timedelta(seconds=599))
    alert = DriftAlert(alert_id="t-1", model_id="trained", model_version="unversioned", kind="data_drift",
                       signal="x", detector="ks", statistic=1.0, threshold=0.5, window=window, severity="warning",
                       detected_at=window.last_event_time, message="by hand")
    (tmp_path / "alert.json").write_text(alert.model_dump_json())
    assert main(["explain", "--alert", str(tmp_path / "alert.json"), "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "before: the published reference profile 'trained'" in out
    assert quantile_rows(out)["p50"] == pytest.approx(SHIFT, abs=0.3), out

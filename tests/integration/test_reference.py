"""Reference profiles on a real broker: published and read back to the end of the compacted topic; built from a
time range of the live topics, counting only the model's events in the range."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import yaml
from kafka import KafkaProducer

from stream.codec import encode
from stream.events import FeatureEvent, PredictionEvent
from stream.kafka_clients import ensure_topics
from stream.profile import ProfileError, ReferenceProfile
from stream.profile_build import build_profile
from stream.profile_kafka import build_from_topics, publish_profile, read_profiles, read_published
from streamdrift.cli import main

from .helpers import make_config, read_to_end

pytestmark = pytest.mark.integration

AT = datetime(2024, 5, 1, tzinfo=timezone.utc)
MODELS = [{"model_id": "credit", "features": [{"name": "income"}, {"name": "country", "type": "categorical"}],
           "prediction": {"type": "numeric"}},
          {"model_id": "fraud", "features": [{"name": "amount"}]}]


def profile_of(model, values, *, version=None, scale=1.0) -> ReferenceProfile:
    events = [PredictionEvent(event_id=str(i), model_id=model.model_id, timestamp=AT, prediction=v * scale,
                              model_version=version or "unversioned",
                              features={f.name: (v * scale if f.type == "numeric" else "DE") for f in model.features})
              for i, v in enumerate(values)]
    return build_profile(model, events, version=version, built_at=AT)


def test_published_profiles_are_read_back_latest_per_key(kafka_bootstrap, unique):
    config = make_config(kafka_bootstrap, unique, MODELS)
    ensure_topics(config.kafka, config.topics)
    credit, fraud = config.model("credit"), config.model("fraud")
    values = np.random.default_rng(1).normal(size=5_000).tolist()
    old = profile_of(credit, values)
    current = profile_of(credit, values, scale=2.0)
    v7 = profile_of(credit, values[:100], version="v7")
    fraud_profile = profile_of(fraud, values[:50])
    unconfigured = profile_of(credit.model_copy(update={"model_id": "gone"}), values[:50])
    mismatched = profile_of(fraud.model_copy(update={"features": (fraud.features[0].model_copy(
        update={"name": "other"}),)}), values[:50])
    for profile in (old, v7, fraud_profile, current, unconfigured):
        publish_profile(config, profile)
    publish_profile(config, mismatched)      # fraud's key again, with a feature fraud does not have

    problems: list[str] = []
    found = read_profiles(config, on_problem=problems.append)
    assert set(found) == {("credit", None), ("credit", "v7")}
    assert found[("credit", None)] == current and found[("credit", "v7")] == v7      # the latest per key
    assert len(problems) == 1 and "feature 'amount' is configured but the profile has no summary" in problems[0]
    assert set(read_published(config)) == {"credit", "credit/v7", "fraud", "gone"}
    # What is on the topic is the profile's JSON under its key, compressed or not.
    records = read_to_end(kafka_bootstrap, config.topics.references)
    assert [r.key for r in records] == [b"credit", b"credit/v7", b"fraud", b"credit", b"gone", b"fraud"]
    assert ReferenceProfile.from_json(records[3].value) == current
    # A null value withdraws the profile under its key.
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(config.topics.references, key=b"credit/v7", value=None).get(timeout=30)
    producer.close()
    assert set(read_profiles(config, on_problem=problems.append)) == {("credit", None)}


def test_a_topic_range_counts_only_the_models_events_in_it(kafka_bootstrap, unique, tmp_path):
    config = make_config(kafka_bootstrap, unique, MODELS)
    ensure_topics(config.kafka, config.topics)
    since, until = AT + timedelta(hours=1), AT + timedelta(hours=2)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    sent = 0

    def send(event, topic):
        nonlocal sent
        # Record timestamps are the event times, as for live traffic.
        producer.send(topic, key=event.model_id.encode(), value=encode(event),
                      timestamp_ms=int(event.timestamp.timestamp() * 1000))
        sent += 1
    # Before the range values near -100, in it 0..1, after it near +100; another model's events in it at 50.
    for i in range(3_000):
        when = AT + timedelta(seconds=3 * i)            # 0 h .. 2.5 h
        inside = since <= when < until
        value = 0.5 + 0.4 * np.sin(i) if inside else (-100.0 if when < since else 100.0)
        send(FeatureEvent(event_id=f"f{i}", model_id="credit", timestamp=when,
                          features={"income": value, "country": "DE" if inside else "XX"}), config.topics.features)
        send(PredictionEvent(event_id=f"f{i}", model_id="credit", timestamp=when, prediction=value),
             config.topics.predictions)
        send(FeatureEvent(event_id=f"o{i}", model_id="fraud", timestamp=when, features={"amount": 50.0}),
             config.topics.features)
        if i == 1_500:                                   # in the range: not an event, skipped and counted
            producer.send(config.topics.features, key=b"credit", value=b"not json",
                          timestamp_ms=int(when.timestamp() * 1000))
            # Published in the range, but its event time is before it: read, and left out by its event time.
            late = FeatureEvent(event_id="late", model_id="credit", timestamp=AT, features={"income": -100.0,
                                                                                          "country": "XX"})
            producer.send(config.topics.features, key=b"credit", value=encode(late),
                          timestamp_ms=int(when.timestamp() * 1000))
    producer.flush()
    producer.close()

    seen: list[tuple[int, int | None]] = []
    profile = build_from_topics(config, config.model("credit"), since, until,
                                progress=lambda done, total: seen.append((done, total)))
    expected = sum(1 for i in range(3_000) if since <= AT + timedelta(seconds=3 * i) < until)   # 1,200
    income, prediction = profile.signals["income"], profile.signals["prediction"]
    assert income.count == prediction.count == expected and profile.rows == 2 * expected
    assert income.missing == 0                                   # no other model's event counted
    assert 0.0 <= income.min and income.max <= 1.0 and 0.0 <= prediction.min and prediction.max <= 1.0
    assert profile.signals["country"].frequencies == {"DE": expected}
    assert profile.source.skipped == 1 and profile.source.since == since and profile.source.until == until
    # The offsets found bound exactly the records stamped in the range: credit's features and predictions,
    # fraud's features, the message that is not an event and the late event.
    assert sum(stop - start for start, stop in profile.source.offsets.values()) == 3 * expected + 2
    assert seen and seen[-1][0] == seen[-1][1]                   # the progress reaches the range's size
    # The same range gives the same profile, from the command line too.
    assert build_from_topics(config, config.model("credit"), since, until, built_at=profile.built_at) == profile
    config_path, out = tmp_path / "config.yaml", tmp_path / "credit.json"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude={"consumer": {"instance_id"}})))
    assert main(["reference", "build", "--config", str(config_path), "--model", "credit", "--from-topics",
                 "--since", "2024-05-01T01:00:00Z", "--until", "2024-05-01T02:00:00", "--no-publish",
                 "--output", str(out), "--no-progress"]) == 0
    assert ReferenceProfile.read(out).model_copy(update={"built_at": profile.built_at}) == profile


def test_build_publishes_and_show_reads_it_back(kafka_bootstrap, unique, tmp_path, capsys):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        f"kafka:\n  bootstrap_servers: {kafka_bootstrap}\n"
        f"topics:\n  references: t{unique}.references\n  features: t{unique}.features\n"
        f"  predictions: t{unique}.predictions\n  labels: t{unique}.labels\n  alerts: t{unique}.alerts\n"
        f"  dead_letter: t{unique}.dead-letter\n  state: t{unique}.state\n  status: t{unique}.status\n"
        "models:\n  - model_id: fraud\n    features:\n      - name: amount\n")
    train = tmp_path / "train.csv"
    train.write_text("event_id,timestamp,amount\n" + "".join(f"r{i},2024-05-01T00:00:{i % 60:02d}Z,{i}\n"
                                                           for i in range(100)))
    assert main(["reference", "build", "--config", str(config_path), "--model", "fraud", "--from", str(train),
                 "--no-progress"]) == 0
    assert f"Published to t{unique}.references under key 'fraud'" in capsys.readouterr().out
    assert main(["reference", "show", "--config", str(config_path), "--model", "fraud"]) == 0
    shown = capsys.readouterr().out
    assert "amount" in shown and "min 0  " in shown and "max 99  " in shown and "Matches the configuration" in shown
    assert main(["reference", "show", "--config", str(config_path), "--model", "fraud", "--version", "v9"]) == 2
    assert "no profile is published under key 'fraud/v9'" in capsys.readouterr().err


def wide_profile(features: int, rows: int = 2_100):
    from stream.config import ModelConfig

    model = ModelConfig(model_id="wide", features=[{"name": f"x{j}"} for j in range(features)])
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(rows, features))
    events = [FeatureEvent(event_id=str(i), model_id="wide", timestamp=AT,
                           features={f"x{j}": float(v) for j, v in enumerate(row)}) for i, row in enumerate(matrix)]
    return model, build_profile(model, events, built_at=AT)


def test_a_profile_larger_than_the_brokers_message_limit_goes_compressed(kafka_bootstrap, unique):
    model, profile = wide_profile(40)
    assert len(profile.to_json()) > 1_100_000          # over the broker's default message.max.bytes (1 MB)
    config = make_config(kafka_bootstrap, unique, [model.model_dump()])
    ensure_topics(config.kafka, config.topics)
    publish_profile(config, profile)
    assert read_profiles(config) == {("wide", None): profile}


def test_a_profile_too_large_even_compressed_is_refused_with_the_fix(kafka_bootstrap, unique):
    model, profile = wide_profile(160)
    config = make_config(kafka_bootstrap, unique, [model.model_dump()])
    ensure_topics(config.kafka, config.topics)
    with pytest.raises(ProfileError) as info:
        publish_profile(config, profile, timeout_s=30)
    assert "max.message.bytes" in str(info.value) and "--no-publish" in str(info.value)

"""Configuration: every error named by its path (and line); env overrides; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.config import load_config, parse_config
from stream.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

VALID = """
kafka:
  bootstrap_servers: broker:9092
models:
  - model_id: fraud
    features:
      - name: amount
        min: 0
      - name: country
        type: categorical
"""


def test_a_valid_file_gets_defaults_for_everything_left_out():
    config = parse_config(VALID)
    assert config.kafka.bootstrap_servers == "broker:9092"
    assert config.topics.features == "streamdrift.features"
    amount, country = config.models[0].features
    assert [d.kind for d in amount.detector_configs] == ["ks"]
    assert [d.kind for d in country.detector_configs] == ["categorical"]


def test_every_error_is_reported_with_its_path_and_line():
    text = """
topics:
  partitions: 0
models:
  - model_id: fraud
    features:
      - name: amount
        type: numerc
      - name: amount2
        min: 5
        max: 1
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, "fraud.yaml")
    errors = dict(info.value.errors)
    assert "topics.partitions (line 3)" in errors
    assert "models[0].features[0].type (line 8)" in errors and "'numerc'" in errors["models[0].features[0].type (line 8)"]
    assert any(path.startswith("models[0].features[1]") and "swap" in msg for path, msg in info.value.errors)
    assert str(info.value).startswith("fraud.yaml: 3 error(s)")


def test_unknown_fields_are_refused_so_typos_do_not_pass_silently():
    with pytest.raises(ConfigError) as info:
        parse_config(VALID + "alerts:\n  cooldown_secs: 10\n")
    assert [path for path, _ in info.value.errors] == ["alerts.cooldown_secs (line 12)"]


def test_no_models_is_an_error_that_says_what_to_add():
    with pytest.raises(ConfigError, match="at least one model"):
        parse_config("models: []\n")


def test_environment_overrides_nested_fields_and_ignores_unrelated_variables():
    env = {"STREAMDRIFT_KAFKA__BOOTSTRAP_SERVERS": "other:1234", "STREAMDRIFT_METRICS__PORT": "9999",
           "STREAMDRIFT_BOOTSTRAP": "ignored:1", "HOME": "/root"}
    config = parse_config(VALID, environ=env)
    assert config.kafka.bootstrap_servers == "other:1234"
    assert config.metrics.port == 9999


def test_secrets_never_appear_in_errors_or_the_model_repr():
    text = VALID + "  \n"
    secret = "hunter2-very-secret"
    bad = text.replace("bootstrap_servers: broker:9092",
                       f"bootstrap_servers: broker:9092\n  security_protocol: SASL_SSL\n  sasl_password: {secret}")
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert secret not in str(info.value)
    good = parse_config(bad, environ={"STREAMDRIFT_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
                                      "STREAMDRIFT_KAFKA__SASL_USERNAME": "svc"})
    assert secret not in repr(good) and secret not in str(good.model_dump())
    assert good.kafka.sasl_password.get_secret_value() == secret


def test_the_example_config_shipped_with_the_demo_is_valid():
    from streamdrift.demo_command import DEMO_CONFIG

    config = load_config(DEMO_CONFIG)
    assert config.models[0].model_id == "credit-risk"


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("**/*.yaml")), ids=lambda p: p.name)
def test_every_example_config_is_valid(path):
    assert load_config(path).models


def test_numbers_in_exponent_notation_are_numbers_as_yaml_1_2_reads_them():
    """PyYAML alone reads `1e5` as the string '1e5' (YAML 1.1), and ks would refuse arl='1e5'."""
    config = parse_config("""
models:
  - model_id: m
    features:
      - {name: a, detectors: [{kind: ks, params: {arl: 1e5}}]}
      - {name: b, detectors: [{kind: ks, params: {arl: 2.5E+6}}], max_missing_rate: 5e-2}
      - {name: 1e5x}
""")
    a, b, c = config.models[0].features
    assert a.detectors[0].params["arl"] == 100_000.0
    assert b.detectors[0].params["arl"] == 2_500_000.0 and b.max_missing_rate == 0.05
    assert c.name == "1e5x"   # only whole numbers are read as numbers


def test_a_missing_file_is_a_config_error_not_a_traceback(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_is_reported_as_such():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("models: [\n")


def test_a_bad_detector_parameter_is_refused_with_its_path():
    text = """
models:
  - model_id: m
    features:
      - name: a
        detectors:
          - kind: ks
            params: {window: -5}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    (path, message), = info.value.errors
    assert path == "models[0].features[0].detectors[0] (line 7)"
    assert "window=-5" in message


def test_segments_need_predictions_and_error_detectors_must_fit_the_prediction_type():
    with pytest.raises(ConfigError, match="models\\[0\\].*segments slice the predictions"):
        parse_config(VALID + "    segments: [country]\n")
    with pytest.raises(ConfigError, match="kind ddm watches 0/1 errors, but numeric predictions give residuals"):
        parse_config(VALID + "    prediction:\n      type: numeric\n      error_detectors: [{kind: ddm}]\n")
    config = parse_config(VALID + "    segments: [country]\n    prediction: {type: categorical, positive_class: fraud}\n")
    model = config.models[0]
    assert model.segments == ("country",) and model.prediction.positive_class == "fraud"
    assert [d.kind for d in model.prediction.error_detector_configs] == ["ddm"]


def test_a_transaction_timeout_shorter_than_two_checkpoint_intervals_is_refused():
    text = VALID + "checkpoint:\n  every_seconds: 20\nconsumer:\n  transaction_timeout_ms: 30000\n"
    with pytest.raises(ConfigError, match="transaction_timeout_ms \\(30000\\) must be at least twice"):
        parse_config(text)
    parse_config(text.replace("every_seconds: 20", "every_seconds: 15"))   # 30 s is twice 15 s
    at_least_once = text + "  delivery: at_least_once\n"
    parse_config(at_least_once)   # no transaction, no limit


def test_a_reference_sample_in_detector_params_is_accepted_and_prepared():
    import detectors

    text = VALID.replace("        min: 0\n", "        min: 0\n        detectors:\n          - kind: ks\n"
                         "            params: {reference: [" + ", ".join(str(i % 37) for i in range(200)) + "]}\n")
    config = parse_config(text)
    for detector in config.detector_configs():
        detectors.prepare(detector.kind, **detector.params)   # what `serve` does at start-up


@pytest.mark.parametrize("section, settings", [
    ("domain_classifier", "{window_pairs: 1000, sample_rate: 0.01, arl: 10000}"),
    ("anomalies", "{window: 1000, sample_rate: 0.01, arl: 10000}"),
])
def test_a_test_window_that_would_alarm_falsely_too_often_is_refused_with_the_arl_to_set(section, settings):
    with pytest.raises(ConfigError) as info:
        parse_config(VALID + f"    river: {{{section}: {settings}}}\n")
    (path, message), = info.value.errors
    assert path.startswith(f"models[0].river.{section}")
    assert message.endswith("a test window spans about 100000 events, so arl 10000 allows a false alarm in 1000% "
                            "of windows: raise arl to at least 2000000")


def test_repeated_feature_names_and_model_ids_are_named():
    with pytest.raises(ConfigError) as info:
        parse_config(VALID + "      - name: amount\n")
    assert info.value.errors[0][1].endswith("feature names must be unique; repeated: amount")
    with pytest.raises(ConfigError) as info:
        parse_config(VALID + "  - model_id: fraud\n    features: [{name: x}]\n")
    assert info.value.errors[0][1].endswith("model_id must be unique; repeated: fraud")

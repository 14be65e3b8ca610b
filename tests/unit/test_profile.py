"""Reference profiles without a broker: building from each file format, bounds, determinism, refusals, JSON, detectors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import detectors
from stream.config import ModelConfig
from stream.events import FeatureEvent, PredictionEvent
from stream.history import ColumnMapping
from stream.profile import CategoricalSummary, NumericSummary, ProfileError, ProfileSource, ReferenceProfile
from stream.profile_build import MAX_QUANTILES, ProfileBuilder, build_profile
from stream.profile_files import build_from_files
from streamdrift.cli import main

AT = datetime(2024, 5, 1, tzinfo=timezone.utc)
BUILT = datetime(2024, 6, 1, tzinfo=timezone.utc)
FILES = ProfileSource(kind="files")
MODEL = ModelConfig.model_validate({
    "model_id": "credit",
    "features": [{"name": "income", "min": 0}, {"name": "age"}, {"name": "country", "type": "categorical"}],
    "prediction": {"type": "categorical"},
})
CONFIG_YAML = """\
models:
  - model_id: credit
    features:
      - name: income
        min: 0
      - name: age
      - name: country
        type: categorical
    prediction:
      type: categorical
"""


def training_table(rows: int = 3000, seed: int = 1, **overrides) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns = {
        "event_id": [f"r{i}" for i in range(rows)],
        "timestamp": [(AT + timedelta(seconds=i)).isoformat() for i in range(rows)],
        "income": np.round(rng.lognormal(10, 0.5, rows), 2).tolist(),
        "age": rng.integers(18, 90, rows).astype(float).tolist(),
        "country": rng.choice(["DE", "FR", "ES"], rows, p=[0.5, 0.3, 0.2]).tolist(),
        "prediction": rng.choice(["approve", "deny"], rows).tolist(),
    }
    columns["age"][5] = None          # a missing value, in every format
    columns.update(overrides)
    return pa.table(columns)


def write(table: pa.Table, path) -> str:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        path.write_bytes(b"".join(orjson.dumps({k: v for k, v in row.items() if v is not None},
                                               option=orjson.OPT_APPEND_NEWLINE) for row in table.to_pylist()))
    return str(path)


def events(values, model_id: str = "credit", name: str = "x") -> list[FeatureEvent]:
    return [FeatureEvent(event_id=str(i), model_id=model_id, timestamp=AT, features={name: v})
            for i, v in enumerate(values)]


X_ONLY = ModelConfig(model_id="credit", features=[{"name": "x"}])


# -- building ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_each_format_gives_the_same_profile(tmp_path, suffix):
    table = training_table()
    reference = build_from_files(MODEL, [write(table, tmp_path / "train.parquet")], built_at=BUILT)
    profile = build_from_files(MODEL, [write(table, tmp_path / f"same{suffix}")], built_at=BUILT)
    assert profile.signals == reference.signals
    assert profile.rows == 3000 and profile.source.files == (str(tmp_path / f"same{suffix}"),)
    age = profile.signals["age"]
    assert (age.count, age.missing) == (2999, 1)
    assert set(profile.signals) == {"income", "age", "country", "prediction"}


def test_numeric_summary_is_exact_and_its_quantiles_are_evenly_spaced_order_statistics(tmp_path):
    table = training_table(rows=5000)
    profile = build_from_files(MODEL, [write(table, tmp_path / "t.parquet")], built_at=BUILT)
    income = np.array(table.column("income").to_pylist())
    s = profile.signals["income"]
    assert isinstance(s, NumericSummary)
    assert (s.count, s.missing, s.sampled) == (5000, 0, 5000)
    assert s.min == income.min() and s.max == income.max()
    assert s.mean == pytest.approx(income.mean(), rel=1e-12)
    assert s.std == pytest.approx(income.std(ddof=1), rel=1e-9)
    expected = np.sort(income)[np.linspace(0, 4999, MAX_QUANTILES).round().astype(int)]
    assert np.array_equal(s.quantiles, expected)


def test_a_small_set_keeps_every_value():
    profile = build_profile(X_ONLY, events([3.0, 1.0, 2.0] * 10), built_at=BUILT)
    assert profile.signals["x"].quantiles == tuple(sorted([3.0, 1.0, 2.0] * 10))


def test_memory_is_bounded_and_the_sample_is_close_to_the_whole():
    rng = np.random.default_rng(3)
    values = rng.standard_t(3, 60_000)
    builder = ProfileBuilder(X_ONLY, sample_size=5_000)
    builder.add(events(values.tolist()))
    profile = builder.finish(FILES, built_at=BUILT)
    s = profile.signals["x"]
    assert builder.signals["x"]._sample.size == 5_000
    assert (s.count, s.sampled, len(s.quantiles)) == (60_000, 5_000, MAX_QUANTILES)
    assert (s.min, s.max) == (values.min(), values.max())            # exact, whatever the sample
    # Largest CDF gap between the quantiles and the whole set: within DKW's 99.9% bound for a 5,000 sample.
    q = np.array(s.quantiles)
    whole = np.searchsorted(np.sort(values), q, side="right") / len(values)
    own = np.arange(1, len(q) + 1) / len(q)
    assert np.abs(whole - own).max() < np.sqrt(np.log(2 / 0.001) / (2 * 5_000)) + 1 / MAX_QUANTILES


def test_the_same_file_gives_the_same_profile_and_the_seed_moves_only_the_sample(tmp_path):
    rng = np.random.default_rng(5)
    path = write(pa.table({"event_id": [str(i) for i in range(30_000)], "timestamp": [AT.isoformat()] * 30_000,
                           "x": rng.normal(size=30_000)}), tmp_path / "big.parquet")
    first = build_from_files(X_ONLY, [path], sample_size=2_500, built_at=BUILT)
    again = build_from_files(X_ONLY, [path], sample_size=2_500, built_at=BUILT)
    other = build_from_files(X_ONLY, [path], sample_size=2_500, seed=1, built_at=BUILT)
    assert first.to_json() == again.to_json()
    assert first.signals["x"].quantiles != other.signals["x"].quantiles          # negative control
    assert first.signals["x"].mean == other.signals["x"].mean


def test_the_sample_does_not_depend_on_how_the_records_are_split():
    values = events(np.random.default_rng(2).normal(size=9_000).tolist())
    whole = ProfileBuilder(X_ONLY, sample_size=2_000)
    whole.add(values)
    split = ProfileBuilder(X_ONLY, sample_size=2_000)
    for start in (0, 7, 4_100, 4_101, 8_999):
        split.add(values[start:{0: 7, 7: 4_100, 4_100: 4_101, 4_101: 8_999, 8_999: 9_000}[start]])
    source = FILES
    assert whole.finish(source, built_at=BUILT) == split.finish(source, built_at=BUILT)


def test_values_are_read_as_the_service_reads_them():
    model = ModelConfig(model_id="credit", features=[{"name": "flag"}, {"name": "n", "min": 0, "max": 10},
                                                     {"name": "c", "type": "categorical"}])
    rows = [{"flag": True, "n": 5, "c": True}, {"flag": False, "n": 50, "c": 3}, {"flag": None, "n": -1, "c": "x"},
            {"n": 1}] * 10
    records = [FeatureEvent(event_id=str(i), model_id="credit", timestamp=AT, features=f) for i, f in enumerate(rows)]
    profile = build_profile(model, records, built_at=BUILT)
    flag, n, c = (profile.signals[k] for k in ("flag", "n", "c"))
    assert (flag.count, flag.missing, flag.quantiles[0], flag.quantiles[-1]) == (20, 20, 0.0, 1.0)
    assert (n.count, n.out_of_range, n.min, n.max) == (20, 20, 1.0, 5.0)
    assert c.frequencies == {"3.0": 10, "true": 10, "x": 10} and c.missing == 10


def test_predictions_of_another_version_are_left_out_and_inline_features_count():
    model = ModelConfig(model_id="credit", features=[{"name": "x"}], prediction={"type": "numeric"})

    def prediction(i, version):
        return PredictionEvent(event_id=str(i), model_id="credit", timestamp=AT, prediction=float(i),
                               model_version=version, features={"x": 1.0})
    records = [prediction(i, "v1") for i in range(30)] + [prediction(i, "v2") for i in range(30, 60)]
    records += [PredictionEvent(event_id="u", model_id="credit", timestamp=AT, prediction=99.0)]
    records += events([2.0] * 5) + events([5.0] * 5, model_id="another")
    every = build_profile(model, records, built_at=BUILT)
    v2 = build_profile(model, records, version="v2", built_at=BUILT)
    assert every.signals["prediction"].count == 61 and every.signals["x"].count == 65
    assert v2.model_version == "v2" and v2.key == "credit/v2"
    assert v2.signals["prediction"].count == 31 and v2.signals["prediction"].min == 30.0
    assert v2.signals["x"].count == 35 and v2.signals["x"].max == 2.0


def test_a_file_without_model_column_is_the_models_and_one_with_it_is_filtered(tmp_path):
    table = training_table(rows=100)
    models = ["credit" if i % 4 else "fraud" for i in range(100)]
    with_column = build_from_files(MODEL, [write(table.append_column("model_id", pa.array(models)),
                                                 tmp_path / "mixed.parquet")], built_at=BUILT)
    without = build_from_files(MODEL, [write(table, tmp_path / "own.parquet")], built_at=BUILT)
    assert with_column.rows == 75 and without.rows == 100


# -- refusals -----------------------------------------------------------------------------------------
def refusal(*args, **kwargs) -> str:
    with pytest.raises(ProfileError) as info:
        build_from_files(*args, **kwargs)
    return str(info.value)


def test_a_missing_feature_column_is_refused_with_the_option_that_fixes_it(tmp_path):
    table = training_table(rows=50)
    prefixed = table.rename_columns([f"f_{c}" if c in ("income", "age", "country") else c for c in table.column_names])
    path = write(prefixed, tmp_path / "prefixed.parquet")
    message = refusal(MODEL, [path])
    assert path in message and "'income'" in message and "--feature-prefix f_" in message
    assert build_from_files(MODEL, [path], ColumnMapping(feature_prefix="f_")).rows == 50   # the fix works

    no_age = write(table.drop_columns(["age"]), tmp_path / "no_age.csv")
    message = refusal(MODEL, [no_age])
    assert no_age in message and "'age'" in message and "remove the feature" in message
    message = refusal(MODEL, [write(table, tmp_path / "t.parquet")], ColumnMapping(features=["income", "country"]))
    assert "add it: --features income,country,age" in message


def test_a_feature_absent_from_every_json_line_is_refused(tmp_path):
    path = write(training_table(rows=50).drop_columns(["country"]), tmp_path / "t.jsonl")
    message = refusal(MODEL, [path])
    assert path in message and "no column 'country' for feature 'country'" in message


def test_a_numeric_column_holding_text_is_refused_naming_the_row(tmp_path):
    table = training_table(rows=50, age=[str(a) for a in range(50)])
    path = write(table, tmp_path / "t.parquet")
    message = refusal(MODEL, [path])
    assert f"{path} row 1: column 'age' holds text ('0')" in message and "type: categorical" in message
    jsonl = tmp_path / "t.jsonl"
    rows = [dict(row, age=30.0 if i < 49 else "n/a?") for i, row in enumerate(training_table(rows=50).to_pylist())]
    jsonl.write_bytes(b"".join(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE) for row in rows))
    assert f"{jsonl} line 50: column 'age' holds text ('n/a?')" in refusal(MODEL, [jsonl])


def test_empty_files_and_files_without_the_models_rows_are_refused(tmp_path):
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    assert f"{empty} is empty (0 bytes)" in refusal(MODEL, [str(empty)])
    header = tmp_path / "header.csv"
    header.write_text("event_id,timestamp,income,age,country,prediction\n")
    assert f"{header} has no rows after its header" in refusal(MODEL, [str(header)])
    others = write(training_table(rows=30).append_column("model_id", pa.array(["fraud"] * 30)),
                   tmp_path / "others.parquet")
    message = refusal(MODEL, [others])
    assert "no rows of model 'credit'" in message and "'fraud' (30)" in message and "--model" in message


def test_a_missing_prediction_or_too_few_values_or_no_event_times_are_refused(tmp_path):
    table = training_table(rows=50)
    message = refusal(MODEL, [write(table.drop_columns(["prediction"]), tmp_path / "p.parquet")])
    assert "no prediction column 'prediction'" in message and "--prediction-column" in message
    few = table.set_column(2, "income", pa.array([None] * 40 + [1.0] * 10))
    message = refusal(MODEL, [write(few, tmp_path / "few.parquet")])
    assert "'income' holds 10 usable value(s)" in message and "40 missing" in message and "at least 20" in message
    message = refusal(MODEL, [write(table.drop_columns(["timestamp"]), tmp_path / "t.parquet")])
    assert "no timestamp column 'timestamp'" in message and "--timestamp-column" in message


def test_an_identifier_is_not_a_category(monkeypatch):
    import stream.profile_build as build

    monkeypatch.setattr(build, "MAX_CATEGORIES", 50)
    model = ModelConfig(model_id="credit", features=[{"name": "x", "type": "categorical"}])
    with pytest.raises(ProfileError, match="more than 50 distinct values of feature 'x'"):
        build_profile(model, events([f"id-{i}" for i in range(100)]))


def test_a_profile_is_checked_against_the_models_configuration():
    profile = build_profile(MODEL, [
        PredictionEvent(event_id=str(i), model_id="credit", timestamp=AT, prediction="approve",
                        features={"income": 1.0 + i, "age": 30.0, "country": "DE"}) for i in range(30)])
    profile.check(MODEL)
    changed = MODEL.model_copy(update={"features": (*MODEL.features[:2], MODEL.features[2].model_copy(
        update={"type": "numeric"}), MODEL.features[0].model_copy(update={"name": "tenure"}))})
    with pytest.raises(ProfileError) as info:
        profile.check(changed)
    message = str(info.value)
    assert "feature 'tenure' is configured but the profile has no summary of it" in message
    assert "feature 'country' is numeric in the configuration but categorical in the profile" in message
    assert "streamdrift reference build --config CONFIG --model credit" in message
    fewer = MODEL.model_copy(update={"features": MODEL.features[:1]})
    profile.check(fewer)                      # a feature removed from the configuration does not void it


# -- JSON, files, detectors ---------------------------------------------------------------------------
def test_json_round_trip_and_files(tmp_path):
    profile = build_from_files(MODEL, [write(training_table(), tmp_path / "t.parquet")], built_at=BUILT)
    assert ReferenceProfile.from_json(profile.to_json()) == profile
    size = profile.write(tmp_path / "p.json")
    assert ReferenceProfile.read(tmp_path / "p.json") == profile and size == (tmp_path / "p.json").stat().st_size
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["schema_version"] == 1 and document["model_version"] is None
    assert document["signals"]["country"]["type"] == "categorical"
    assert list(document["signals"]["country"]["frequencies"]) == ["DE", "FR", "ES"]   # most frequent first

    document["schema_version"] = 2
    with pytest.raises(ProfileError, match="schema_version 2; this streamdrift reads 1: upgrade"):
        ReferenceProfile.from_json(json.dumps(document))
    with pytest.raises(ProfileError, match="is not a reference profile"):
        ReferenceProfile.from_json(b'{"model_id": "x"}', "x.json")
    with pytest.raises(ProfileError, match="cannot read the profile"):
        ReferenceProfile.read(tmp_path / "missing.json")


def test_reference_for_is_what_the_detectors_take():
    rng = np.random.default_rng(11)
    records = [PredictionEvent(event_id=str(i), model_id="credit", timestamp=AT,
                               prediction=str(rng.choice(["approve", "deny"], p=[0.7, 0.3])),
                               features={"income": float(rng.normal(50, 10)), "age": float(rng.integers(18, 90)),
                                         "country": str(rng.choice(["DE", "FR"]))}) for i in range(20_000)]
    profile = build_profile(MODEL, records, built_at=BUILT)
    assert isinstance(profile.signals["country"], CategoricalSummary)
    ks = detectors.create("ks", reference=profile.reference_for("income"), rearm="keep")
    same = detectors.create("ks", reference=profile.reference_for("income"), rearm="keep")
    categorical = detectors.create("categorical", reference=profile.reference_for("prediction"), rearm="keep")
    assert profile.reference_for("prediction") == {"approve": profile.signals["prediction"].frequencies["approve"],
                                                   "deny": profile.signals["prediction"].frequencies["deny"]}
    # From the first event: a shifted stream alarms at once, an unshifted one stays quiet.
    assert len(ks.update_many(rng.normal(56, 10, 3_000))) > 0
    assert len(same.update_many(rng.normal(50, 10, 3_000))) == 0
    assert len(categorical.update_many(np.array(["deny"] * 2_000, dtype=object))) > 0
    with pytest.raises(ProfileError, match="no signal 'tenure'"):
        profile.reference_for("tenure")


# -- the command ---------------------------------------------------------------------------------------
def test_build_and_show_from_the_command_line(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG_YAML)
    train = write(training_table(), tmp_path / "train.parquet")
    out = tmp_path / "credit.json"
    assert main(["reference", "build", "--config", str(config), "--model", "credit", "--from", train,
                 "--no-publish", "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Reference profile of credit (every version)" in printed and f"Written to {out}" in printed
    assert "country" in printed and "DE 4" in printed and "p50 54 " in printed
    assert main(["reference", "show", str(out), "--config", str(config)]) == 0
    assert "Matches the configuration of credit" in capsys.readouterr().out


def test_user_errors_exit_2(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG_YAML)
    train = write(training_table(rows=50).drop_columns(["age"]), tmp_path / "train.parquet")
    base = ["reference", "build", "--config", str(config), "--no-publish", "--no-progress"]
    assert main([*base, "--model", "credit", "--from", train]) == 2
    assert "no column for feature 'age'" in capsys.readouterr().err
    assert main([*base, "--model", "nope", "--from", train]) == 2
    assert "has no model 'nope' (its models: credit)" in capsys.readouterr().err
    assert main([*base, "--model", "credit", "--from-topics", "--since", "2024-05-01"]) == 2
    assert "needs --since TIME and --until TIME" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main([*base, "--model", "credit", "--from-topics", "--since", "yesterday", "--until", "2024-05-01"])
    assert info.value.code == 2
    assert main(["reference", "show"]) == 2
    other = tmp_path / "other.yaml"
    other.write_text(CONFIG_YAML.replace("- name: age", "- name: tenure"))
    good = write(training_table(rows=50), tmp_path / "good.parquet")
    assert main([*base, "--model", "credit", "--from", good, "--output", str(tmp_path / "p.json")]) == 0
    capsys.readouterr()
    assert main(["reference", "show", str(tmp_path / "p.json"), "--config", str(other)]) == 2
    assert "feature 'tenure' is configured but the profile has no summary" in capsys.readouterr().err

"""streamdrift report from a real backtest of a drifting log: one self-contained page, every plot a PNG inside
it; several configurations side by side; clear errors for folders that hold no results."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamdrift.cli import main

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SHIFT = 1.0   # added to f0 (sd 1) from the middle of the log on; f4 gains a new country, BR, in 30% of rows;
MISSING = 0.1   # and in the last quarter f2 is missing in 10% of rows (its max_missing_rate is 5%)

STRICT = """\
topics: {partitions: 6}
models:
  - model_id: credit-risk
    features: [{name: f0}, {name: f1}, {name: f2}, {name: f3}, {name: f4, type: categorical}, {name: f5}]
    prediction: {type: categorical, positive_class: deny}
"""
# The same model watched by ADWIN instead of ks: another delay, another count of alerts, for the comparison.
LENIENT = STRICT.replace("{name: f0}", "{name: f0, detectors: [{kind: adwin}]}")


def drifting_log(path: Path, rows: int = 20_000, seed: int = 7) -> Path:
    """examples/make_replay_log.py's table, with f0 shifted and f4 given a new category halfway, and f2 missing
    too often in the last quarter."""
    spec = importlib.util.spec_from_file_location("make_replay_log", ROOT / "examples" / "make_replay_log.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.make_table(rows, 6, datetime(2024, 5, 1, tzinfo=timezone.utc), 1.0, seed)
    half, rng = rows // 2, np.random.default_rng(seed)
    f0 = table.column("f0").to_numpy().copy()
    f0[half:] += SHIFT
    f4 = np.array(table.column("f4").to_pylist(), dtype=object)
    f4[half:] = np.where(rng.random(rows - half) < 0.3, "BR", f4[half:])
    table = table.set_column(table.schema.get_field_index("f0"), "f0", pa.array(f0))
    table = table.set_column(table.schema.get_field_index("f4"), "f4", pa.array(f4.tolist()))
    missing = np.zeros(rows, dtype=bool)
    missing[3 * rows // 4:] = rng.random(rows - 3 * rows // 4) < MISSING
    table = table.set_column(table.schema.get_field_index("f2"), "f2",
                             pa.array(table.column("f2").to_numpy(), mask=missing))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def make_backtest(folder: Path, configs: dict[str, str], rows: int = 20_000) -> Path:
    """Run `streamdrift backtest` over a drifting log with each configuration; returns the output folder."""
    log = drifting_log(folder / "log.parquet", rows)
    args = ["backtest", str(log), "--output", str(folder / "out"), "--no-progress"]
    for name, text in configs.items():
        (folder / f"{name}.yaml").write_text(text)
        args += ["--config", str(folder / f"{name}.yaml")]
    assert main(args) == 0
    return folder / "out"


def embedded_pngs(page: str) -> list[bytes]:
    """The decoded bytes of every <img> of the page; fails on an image that is not an embedded PNG."""
    sources = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)
    images = []
    for src in sources:
        assert src.startswith("data:image/png;base64,"), f"an image is not embedded: {src[:80]}"
        images.append(base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True))
    return images


@pytest.fixture(scope="module")
def backtest(tmp_path_factory) -> Path:
    return make_backtest(tmp_path_factory.mktemp("backtest"), {"strict": STRICT, "lenient": LENIENT})


@pytest.fixture(scope="module")
def report(backtest) -> tuple[str, Path, str]:
    """The report of both configurations: the page, the --png folder, what the command printed."""
    import contextlib
    import io

    output, printed = backtest.parent / "report.html", io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["report", str(backtest), "--output", str(output), "--png", str(backtest.parent / "png")]) == 0
    return output.read_text(encoding="utf-8"), backtest.parent / "png", printed.getvalue()


def test_the_report_is_one_page_with_every_plot_embedded_as_a_png(report):
    page, png_folder, printed = report
    images = embedded_pngs(page)
    assert len(images) >= 10
    assert all(image.startswith(PNG_SIGNATURE) and len(image) > 1000 for image in images)
    # Nothing to fetch: no script, stylesheet or image from elsewhere.
    assert not re.search(r"<(script|link)\b", page)
    assert not re.search(r"\b(src|href)=\"(https?:)?//", page)
    written = sorted(png_folder.glob("*.png"))
    assert len(written) == len(images)
    assert sorted(p.read_bytes() for p in written) == sorted(images)
    assert f"{len(images)} plots" in printed


def test_the_summary_comes_first_and_shows_each_configuration_side_by_side(backtest, report):
    page = report[0]
    summary, comparison, model = (page.index(h) for h in ('id="summary"', 'id="comparison"', 'id="model-credit-risk"'))
    assert summary < comparison < model < page.index("Drift statistics over event time")
    assert page.index("<img") > comparison, "the summary tables come before any plot"
    for name in ("strict", "lenient"):
        run = json.loads((backtest / name / "summary.json").read_text())
        assert f"{run['events']:,}" in page[summary:comparison]
        for line in (backtest / name / "alerts.jsonl").read_text().splitlines():
            assert json.loads(line)["alert_id"] in page, "every alert is listed with its id"
    assert "First-alert delay" in page and "earliest" in page
    for plot in ("trace-strict-credit-risk-f0", "trace-lenient-credit-risk-f0", "quality-strict-credit-risk",
                 "quality-lenient-credit-risk", "performance-lenient-credit-risk", "comparison-alert-counts"):
        assert f'alt="{plot}"' in page, plot


def test_the_evidence_of_the_shifted_feature_shows_the_injected_shift(backtest, tmp_path):
    output = tmp_path / "report.html"
    assert main(["report", str(backtest / "strict"), "--output", str(output)]) == 0   # one configuration's folder
    page = output.read_text(encoding="utf-8")
    f0 = [json.loads(line) for line in (backtest / "strict" / "evidence.jsonl").read_text().splitlines()
          if json.loads(line)["signal"] == "f0"]
    assert f0, "the backtest recorded no evidence for the shifted feature"
    median = f0[0]["quantiles"].index(0.5)
    assert f0[0]["current"][median] - f0[0]["reference"][median] == pytest.approx(SHIFT, abs=0.3)
    assert "BR (new)" in page, "the new category is named in the categorical evidence"
    assert 'alt="quality-strict-credit-risk"' in page, "f2's missing values are plotted against their limit"
    assert "<h4>strict</h4>" not in page, "one configuration: no side-by-side headings"
    assert re.search(r"<td>p50</td><td class=\"n\">[^<]+</td><td class=\"n\">[^<]+</td><td class=\"n\">\+", page)


def test_a_folder_that_does_not_exist_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty-config").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds no backtest results" in err and "streamdrift backtest" in err


def test_a_damaged_results_file_is_named_with_its_line(backtest, tmp_path, capsys):
    damaged = tmp_path / "run"
    damaged.mkdir()
    for name in ("summary.json", "trace.jsonl"):
        (damaged / name).write_bytes((backtest / "strict" / name).read_bytes())
    (damaged / "alerts.jsonl").write_text('{"alert_id": "x"}\n')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "alerts.jsonl, line 1: not an alert" in err


def test_options_of_the_two_sources_are_not_mixed(tmp_path, capsys):
    assert main(["report"]) == 2
    assert "give a backtest results folder DIR, or --config FILE" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--since", "2024-05-01T00:00:00Z"]) == 2
    assert "--model and --since go with --config" in capsys.readouterr().err


def test_explain_refuses_a_file_that_is_not_an_alert(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(STRICT)
    bad = tmp_path / "alert.json"
    bad.write_text('{"alert_id": "x", "model_id": "credit-risk"}')
    assert main(["explain", "--alert", str(bad), "--config", str(config)]) == 2
    assert "does not hold an alert's JSON" in capsys.readouterr().err
    assert main(["explain", "--config", str(config)]) == 2
    assert "give an ALERT_ID" in capsys.readouterr().err

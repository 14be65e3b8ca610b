"""The command line: --help everywhere, schema output, check-config exit codes."""

from __future__ import annotations

import json

import pytest

from streamdrift.cli import build_parser, main
from streamdrift.demo_command import DEMO_CONFIG

COMMANDS = ["demo", "serve", "check-config", "schema", "workload", "broker", "replay", "reference", "backtest",
            "alerts", "status", "report", "explain"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: streamdrift " + command in capsys.readouterr().out


def test_the_parser_knows_exactly_the_documented_commands():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_schema_prints_a_json_schema_per_message(capsys):
    assert main(["schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas) == {"features", "predictions", "labels", "alerts", "status"}
    assert "model_id" in schemas["features"]["required"]


def test_check_config_accepts_the_example_and_refuses_a_bad_file(tmp_path, capsys):
    assert main(["check-config", str(DEMO_CONFIG)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - model_id: m\n    features:\n      - name: x\n        type: text\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "models[0].features[0].type (line 5)" in err and "'text'" in err

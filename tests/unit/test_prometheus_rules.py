"""The shipped alerting rules and Alertmanager example, checked by the real promtool and amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "prometheus-rules.yml"
RULE_TESTS = Path(__file__).with_name("prometheus_rules_test.yml")
ALERTMANAGER = ROOT / "examples" / "alertmanager.yml"


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: ./scripts/test installs it (apt-get install {package})"
    return path


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules_and_the_prometheus_config_that_loads_them():
    promtool = need("promtool", "prometheus")
    checked = run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = run(promtool, "check", "config", str(ROOT / "examples" / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    assert f"SUCCESS: {len(rules())} rules found" in config.stdout


def test_every_rule_says_what_happened_and_what_to_do():
    for rule in rules():
        annotations = rule["annotations"]
        assert rule["alert"].startswith("Streamdrift"), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        assert "docs/operations.md#" + rule["alert"].lower() in annotations["runbook"], rule["alert"]
    anchors = (ROOT / "docs" / "operations.md").read_text().lower()
    for rule in rules():
        assert f"### {rule['alert'].lower()}" in anchors, f"docs/operations.md has no runbook entry for {rule['alert']}"


def test_the_rules_fire_on_what_they_are_for_and_stay_quiet_on_near_misses():
    promtool = need("promtool", "prometheus")
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {case["alertname"] for test in cases for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert fired == {rule["alert"] for rule in rules()}, "every rule needs a test in which it fires"


def test_the_rule_tests_fail_when_a_rule_is_broken(tmp_path):
    """Negative control: with one threshold moved, promtool's rule tests must fail."""
    promtool = need("promtool", "prometheus")
    broken = RULES.read_text().replace("> 0.01", "> 0.1")
    assert broken != RULES.read_text()
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / RULES.name).write_text(broken)
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    shutil.copy(RULE_TESTS, tmp_path / "tests" / "unit" / RULE_TESTS.name)
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path / "tests" / "unit")
    assert result.returncode != 0 and "StreamdriftDeadLettersHigh" in result.stdout + result.stderr


def test_alertmanager_routes_a_drift_to_its_owners_grouped_by_model_and_signal():
    amtool = need("amtool", "prometheus-alertmanager")
    checked = run(amtool, "check-config", str(ALERTMANAGER))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    def receivers(*labels: str) -> str:
        result = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    drift = ("alertname=StreamdriftSignalDrifting", "model=credit-risk", "signal=income", "severity=warning")
    assert receivers(*drift) == "drift-webhook,model-owners-slack"
    assert receivers("alertname=StreamdriftDown", "instance=a:9108", "severity=critical") == "oncall-pagerduty"
    assert receivers("alertname=StreamdriftModelSilent", "model=credit-risk", "severity=warning") == "platform-slack"
    route = yaml.safe_load(ALERTMANAGER.read_text())["route"]
    assert {"model", "signal"} <= set(route["group_by"])

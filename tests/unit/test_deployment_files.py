"""docker-compose.yml and the Dockerfile cannot be run on a machine without Docker: check what can be."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import yaml

from streamdrift.cli import build_parser
from stream.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_kafka_the_service_the_demo_producer_prometheus_and_grafana():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "streamdrift", "demo-producer", "prometheus", "grafana"}
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name in ("streamdrift", "demo-producer"):
        args = build_parser().parse_args(services[name]["command"])   # a real streamdrift command line
        assert args.command in ("serve", "workload")
    config_path = services["streamdrift"]["command"][-1].replace("/app/", "")
    load_config(ROOT / config_path)
    scrape = yaml.safe_load((ROOT / "examples" / "prometheus.yml").read_text())
    target = scrape["scrape_configs"][0]["static_configs"][0]["targets"][0]
    assert target == "streamdrift:9108" and "9108:9108" in services["streamdrift"]["ports"]


def test_the_image_carries_every_package_and_the_example_config():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("streamdrift", "stream", "detectors", "consumers", "producers", "examples"):
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert 'ENTRYPOINT ["streamdrift"]' in dockerfile


def _mounts(service: dict) -> dict[str, Path]:
    """Container path -> the file or folder of this repository mounted there."""
    mounts = {}
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        assert source.startswith("./"), f"{volume}: mount a file of the repository"
        assert (ROOT / source).exists(), f"{volume}: {source} does not exist"
        mounts[target] = ROOT / source
    return mounts


def test_prometheus_in_compose_loads_the_shipped_rules_beside_its_config():
    prometheus = _mounts(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["prometheus"])
    config_path = "/etc/prometheus/prometheus.yml"
    assert prometheus[config_path] == ROOT / "examples" / "prometheus.yml"
    config = yaml.safe_load(prometheus[config_path].read_text())
    for rule_file in config["rule_files"]:   # relative to the config file, in the container as here
        in_container = str(PurePosixPath(config_path).parent / rule_file)
        assert prometheus[in_container] == ROOT / "examples" / "prometheus-rules.yml"
        assert (prometheus[config_path].parent / rule_file).exists()
    assert [job["job_name"] for job in config["scrape_configs"]] == ["streamdrift"]   # the rules' job selector


def test_grafana_in_compose_provisions_the_datasource_and_the_dashboard():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    grafana = _mounts(services["grafana"])
    provisioning = grafana["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert len(datasources) == 1 and datasources[0]["type"] == "prometheus"
    # The datasource points at the compose service named prometheus, on its port.
    assert datasources[0]["url"] == "http://prometheus:9090" and "9090:9090" in services["prometheus"]["ports"]
    providers = yaml.safe_load((provisioning / "dashboards" / "streamdrift.yml").read_text())["providers"]
    folders = [Path(provider["options"]["path"]) for provider in providers]
    assert folders == [Path("/var/lib/grafana/dashboards")]
    dashboards = grafana[str(folders[0])]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards / Path(home).relative_to(folders[0])).exists()
    dashboard = json.loads((dashboards / "streamdrift.json").read_text())
    # Panels use the dashboard's datasource variable, which defaults to the provisioned datasource.
    variable = next(v for v in dashboard["templating"]["list"] if v["type"] == "datasource")
    assert variable["current"]["value"] == datasources[0]["uid"]


def test_the_dashboard_shows_per_model_every_part_of_the_operations_issue():
    dashboard = json.loads((ROOT / "grafana" / "dashboards" / "streamdrift.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["model"]["query"]["query"] == "label_values(streamdrift_events_total, model)"
    assert variables["model"]["multi"] and variables["model"]["includeAll"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["description"] and p["targets"], p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
    for metric in ("streamdrift_events_total", "streamdrift_dead_letters_total", "streamdrift_drift_statistic",
                   "streamdrift_drift_threshold", "streamdrift_drift_active", "streamdrift_alerts_total", "ALERTS",
                   "streamdrift_feature_missing_total", "streamdrift_performance", "streamdrift_model_accuracy",
                   "streamdrift_label_coverage", "streamdrift_label_lag_seconds_bucket",
                   "streamdrift_consumer_lag_records", "streamdrift_event_time_lag_seconds",
                   "streamdrift_end_to_end_latency_seconds_bucket", "process_resident_memory_bytes"):
        assert any(metric in e for e in exprs), f"no panel shows {metric}"
    per_model = [e for e in exprs if "streamdrift_" in e and "model" in e]
    assert all('model=~"$model"' in e for e in per_model), "a per-model query ignores the model variable"
    repeated = [p for p in panels if p.get("repeat")]
    assert [p["repeat"] for p in repeated] == ["signal"]   # statistic against threshold, one panel per signal

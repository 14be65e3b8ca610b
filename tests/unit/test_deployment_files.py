"""docker-compose.yml and the Dockerfile cannot be run on a machine without Docker: check what can be."""

from __future__ import annotations

from pathlib import Path

import yaml

from streamdrift.cli import build_parser
from stream.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_kafka_the_service_the_demo_producer_and_prometheus():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "streamdrift", "demo-producer", "prometheus"}
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

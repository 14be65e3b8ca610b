"""The `streamdrift` command: demo, serve, check-config, schema, broker."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import ConfigError, StreamdriftError

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"


def _cmd_schema(args: argparse.Namespace) -> int:
    from .events import json_schemas

    print(json_schemas())
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    from .config import load_config

    config = load_config(args.file)
    features = sum(len(m.features) for m in config.models)
    print(f"{args.file}: OK ({len(config.models)} model(s), {features} feature(s), "
          f"brokers {config.kafka.bootstrap_servers}, security {config.kafka.security_protocol})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from consumers.service import MonitorService

    from .config import load_config

    config = load_config(args.config)
    service = MonitorService(config)
    service.install_signal_handlers()
    port = service.serve_metrics()
    logging.getLogger("streamdrift").info("metrics on http://%s:%d/metrics", config.metrics.host, port)
    service.run()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from producers.demo import run_demo

    return run_demo(duration=args.duration, rate=args.rate, config_path=args.config,
                    metrics_port=args.metrics_port, broker_port=args.broker_port, seed=args.seed)


def _cmd_workload(args: argparse.Namespace) -> int:
    from producers.demo import publish_workload

    from .config import KafkaConfig, TopicsConfig, load_config

    if args.config:
        config = load_config(args.config)
        kafka, topics = config.kafka, config.topics
    else:
        kafka, topics = KafkaConfig(bootstrap_servers=args.bootstrap), TopicsConfig()
    publish_workload(kafka, topics, rate=args.rate, duration=args.duration, seed=args.seed)
    return 0


def _cmd_broker(args: argparse.Namespace) -> int:
    from .broker import main

    main(port=args.port, keep_data=args.keep_data)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamdrift",
        description="Streaming drift monitor for machine-learning models, over Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="local broker + service + a drifting workload; alerts and metrics shown",
                          description="Start a local Kafka broker, the monitor service and a workload whose "
                                      "features partly drift halfway; print alerts as they arrive.")
    demo.add_argument("--duration", type=float, default=60.0, metavar="SECONDS",
                      help="stop after this many seconds (default 60; drift starts halfway)")
    demo.add_argument("--rate", type=int, default=1000, metavar="EVENTS_PER_S",
                      help="events published per second (default 1000)")
    demo.add_argument("--config", type=Path, default=DEMO_CONFIG, help="service configuration (default: the example)")
    demo.add_argument("--metrics-port", type=int, default=9108, help="metrics port (default 9108; a free one if taken)")
    demo.add_argument("--broker-port", type=int, default=None, help="local broker port (default: a free one)")
    demo.add_argument("--seed", type=int, default=7, help="workload random seed")
    demo.set_defaults(func=_cmd_demo)

    workload = sub.add_parser("workload", help="publish the demo's drifting workload to a broker",
                              description="Publish the credit-risk demo events (drift halfway) to an existing broker.")
    workload.add_argument("--bootstrap", default="localhost:9092", help="HOST:PORT of the broker")
    workload.add_argument("--config", type=Path, default=None, help="take Kafka settings and topics from this file")
    workload.add_argument("--duration", type=float, default=60.0, metavar="SECONDS")
    workload.add_argument("--rate", type=int, default=1000, metavar="EVENTS_PER_S")
    workload.add_argument("--seed", type=int, default=7)
    workload.set_defaults(func=_cmd_workload)

    serve = sub.add_parser("serve", help="run the monitor service", description="Consume events, detect drift, "
                           "publish alerts and serve Prometheus metrics until SIGTERM/SIGINT.")
    serve.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    serve.set_defaults(func=_cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration file",
                           description="Validate a configuration file; print every error with its path.")
    check.add_argument("file", type=Path)
    check.set_defaults(func=_cmd_check_config)

    schema = sub.add_parser("schema", help="print the events' JSON Schemas",
                            description="Print the JSON Schema of every message, for producers in other languages.")
    schema.set_defaults(func=_cmd_schema)

    broker = sub.add_parser("broker", help="run a local Kafka broker until Ctrl-C",
                            description="Start a broker (STREAMDRIFT_BOOTSTRAP, testcontainers, or local jars) "
                                        "and run it until Ctrl-C or SIGTERM. Its data folder is removed when it "
                                        "stops, unless --keep-data.")
    broker.add_argument("--port", type=int, default=None, help="listener port of a local broker (default: a free one)")
    broker.add_argument("--keep-data", action="store_true",
                        help="leave the local broker's data folder in place when it stops (its path is printed)")
    broker.set_defaults(func=_cmd_broker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StreamdriftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`streamdrift workload`: publish the demo's drifting workload to any broker."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    workload = sub.add_parser("workload", help="publish the demo's drifting workload to a broker",
                              description="Publish the credit-risk demo events (drift halfway) to an existing broker.")
    workload.add_argument("--bootstrap", default="localhost:9092", help="HOST:PORT of the broker")
    workload.add_argument("--config", type=Path, default=None, help="take Kafka settings and topics from this file")
    workload.add_argument("--duration", type=float, default=60.0, metavar="SECONDS")
    workload.add_argument("--rate", type=int, default=1000, metavar="EVENTS_PER_S")
    workload.add_argument("--seed", type=int, default=7)
    workload.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from producers.demo import publish_workload
    from stream.config import KafkaConfig, TopicsConfig, load_config

    if args.config:
        config = load_config(args.config)
        kafka, topics = config.kafka, config.topics
    else:
        kafka, topics = KafkaConfig(bootstrap_servers=args.bootstrap), TopicsConfig()
    publish_workload(kafka, topics, rate=args.rate, duration=args.duration, seed=args.seed)
    return 0

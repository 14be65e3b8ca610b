"""`streamdrift serve`: the monitor service as a process — signals, metrics endpoint, exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

log = logging.getLogger("streamdrift")

SHUTDOWN_TIMEOUT_S = 30.0


def register(sub) -> None:
    serve = sub.add_parser("serve", help="run the monitor service", description="Consume events, detect drift, "
                           "publish alerts and serve Prometheus metrics until SIGTERM/SIGINT.")
    serve.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from consumers.service import MonitorService
    from stream.config import load_config

    config = load_config(args.config)
    service = MonitorService(config)
    stop_on_signals(service.stop)
    port = service.serve_metrics()
    log.info("metrics on http://%s:%d/metrics", config.metrics.host, port)
    service.run()
    return 0


def stop_on_signals(stop, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """SIGTERM/SIGINT: ask the service to finish its batch, checkpoint and close. If that cannot finish
    (the broker is gone) within the timeout, or a second signal comes, exit anyway: the last snapshot
    is safe, and the next start resumes from it."""
    asked = threading.Event()

    def handle(signum, _frame):
        if asked.is_set():
            os._exit(128 + signum)
        asked.set()
        stop()
        timer = threading.Timer(timeout_s, _abandon, args=(timeout_s,))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _abandon(timeout_s: float) -> None:
    log.error("could not checkpoint and close within %.0f s (broker unreachable?); exiting, the last "
              "snapshot stands", timeout_s)
    logging.shutdown()
    os._exit(1)

"""`streamdrift serve`: the monitor service as a process — signals, metrics endpoint, exit codes."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import threading
from pathlib import Path

log = logging.getLogger("streamdrift")

SHUTDOWN_TIMEOUT_S = 30.0
# Young-generation size of the cyclic garbage collector. A poll brings up to 20,000 records, each a few
# container objects that live until the batch is routed: at CPython's 700 the collector ran a hundred
# times per poll, rescanning what the batch still holds (13% of the service's events/s on the throughput
# benchmark, docs/scaling.md). Reference counting frees nearly all of it anyway; cycles wait a little longer.
GC_YOUNG_THRESHOLD = 20_000


def register(sub) -> None:
    serve = sub.add_parser("serve", help="run the monitor service", description="Consume events, detect drift, "
                           "publish alerts and serve Prometheus metrics until SIGTERM/SIGINT.")
    serve.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from consumers.service import MonitorService
    from stream.config import load_config

    config = load_config(args.config)
    collect_garbage_less_often()
    service = MonitorService(config)
    stop_on_signals(service.stop)
    port = service.serve_metrics()
    log.info("metrics on http://%s:%d/metrics", config.metrics.host, port)
    service.run()
    return 0


def collect_garbage_less_often() -> None:
    """Process-wide, so set by the process's command, not by MonitorService (which tests embed)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, max(middle, 20), old)


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

"""Bad input is data: it goes to the dead-letter topic untouched, with its reason in headers."""

from __future__ import annotations

import logging

from kafka.consumer.fetcher import ConsumerRecord

from stream.metrics import ServiceMetrics

from .outbox import Outbox

log = logging.getLogger(__name__)

REASON_HEADER = "streamdrift.reason"
DETAIL_HEADER = "streamdrift.detail"
SOURCE_HEADER = "streamdrift.source"


class DeadLetters:
    def __init__(self, outbox: Outbox, topic: str, metrics: ServiceMetrics):
        self.outbox = outbox
        self.topic = topic
        self.metrics = metrics

    def send(self, record: ConsumerRecord, reason: str, detail: str) -> None:
        """Forward the original key and bytes as they were; the why travels in headers."""
        source = f"{record.topic}/{record.partition}/{record.offset}"
        headers = [
            (REASON_HEADER, reason.encode()),
            (DETAIL_HEADER, detail.encode("utf-8", "replace")[:1000]),
            (SOURCE_HEADER, source.encode()),
            *[(k, v) for k, v in (record.headers or []) if not k.startswith("streamdrift.")],
        ]
        self.outbox.send(self.topic, key=record.key, value=record.value, headers=headers)
        self.metrics.dead_letters.labels(reason).inc()
        log.warning("dead-lettered %s: %s (%s)", source, reason, detail)

"""Bad input is data: it goes to the dead-letter topic untouched, with its reason in headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REASON_HEADER = "streamdrift.reason"
DETAIL_HEADER = "streamdrift.detail"
SOURCE_HEADER = "streamdrift.source"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Any       # the consumed record: topic, partition, offset, key, value, headers
    reason: str       # one of stream.codec.REASONS
    detail: str       # what is wrong, naming the field and the value

    @property
    def source(self) -> str:
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"

    def headers(self) -> list[tuple[str, bytes]]:
        """The original key and bytes travel as they were; the why travels in headers."""
        return [
            (REASON_HEADER, self.reason.encode()),
            (DETAIL_HEADER, self.detail.encode("utf-8", "replace")[:1000]),
            (SOURCE_HEADER, self.source.encode()),
            *[(k, v) for k, v in (self.record.headers or []) if not k.startswith("streamdrift.")],
        ]

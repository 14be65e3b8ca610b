"""Bytes to validated events, a whole polled batch at a time; bad messages come back with a reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from .codec_fast import MIRRORS, FastReader
from .events import SCHEMA_VERSION, EventTime

_TIME = TypeAdapter(EventTime)

E = TypeVar("E", bound=BaseModel)

# Reasons are a closed set: they become a metric label and a machine-readable header.
REASONS = ("oversized", "invalid_utf8", "invalid_json", "not_an_object", "unknown_schema_version",
           "invalid_event", "unknown_model")


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int          # position in the batch
    reason: str         # one of REASONS
    detail: str         # human explanation naming the field and value


@dataclass(slots=True)
class Decoded(Generic[E]):
    events: list[E]
    indices: list[int]          # batch position of each event
    rejected: list[Rejected]


def encode(event: BaseModel) -> bytes:
    return event.__pydantic_serializer__.to_json(event, exclude_none=True)


class BatchDecoder(Generic[E]):
    """Read each message once, the usual one fast; a message that fails is diagnosed on its own.

    A data event's msgspec mirror reads it first (stream/codec_fast.py: never looser than the model,
    and the same event). What the mirror leaves, and every other message type, pydantic's JSON mode
    validates straight from the bytes. A message it refuses goes through orjson and the validator
    again, one step at a time, so its reason is exact: bad UTF-8, not JSON, not an object, unknown
    schema version, or which field is invalid.
    """

    def __init__(self, event_type: type[E], max_bytes: int = 1_000_000):
        self.event_type = event_type
        self.max_bytes = max_bytes
        self._adapter = TypeAdapter(event_type)
        self._mirror = FastReader(event_type) if event_type in MIRRORS else None

    def decode(self, values: list[bytes | None]) -> Decoded[E]:
        """Each message read by its event's msgspec mirror if it can (stream/codec_fast.py), else by the model."""
        if self._mirror is None:
            return self._decode_with_model(values, range(len(values)))
        events, indices, left = self._mirror.decode(values, self.max_bytes)
        if not left:
            return Decoded(events, indices, [])
        rest = self._decode_with_model(values, left)
        if not events:
            return rest
        merged = sorted(zip(indices + rest.indices, events + rest.events), key=lambda pair: pair[0])
        return Decoded([e for _, e in merged], [i for i, _ in merged], rest.rejected)

    def _decode_with_model(self, values: list[bytes | None], positions: Iterable[int]) -> Decoded[E]:
        events: list[E] = []
        indices: list[int] = []
        rejected: list[Rejected] = []
        validate, max_bytes = self._adapter.validate_json, self.max_bytes
        for i in positions:
            raw = values[i]
            if raw is not None and len(raw) <= max_bytes:
                try:
                    events.append(validate(raw))
                    indices.append(i)
                    continue
                except ValidationError:
                    pass
            event = self._diagnose(raw)
            if isinstance(event, tuple):
                rejected.append(Rejected(i, *event))
            else:   # valid after all (orjson and the Python-mode validator accept it)
                events.append(event)
                indices.append(i)
        return Decoded(events, indices, rejected)

    def times(self, values: list[bytes | None]) -> list[datetime | None]:
        """The event time of each message, None where it has none that validates: cheap, for ordering."""
        out: list[datetime | None] = []
        for raw in values:
            try:
                out.append(_TIME.validate_python(orjson.loads(raw)["timestamp"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError):
                out.append(None)
        return out

    def _diagnose(self, raw: bytes | None) -> E | tuple[str, str]:
        """The event, or (reason, detail) naming what is wrong with the message."""
        if raw is None:
            return "invalid_json", "empty message (null value)"
        if len(raw) > self.max_bytes:
            return "oversized", f"message is {len(raw)} bytes, over the {self.max_bytes}-byte limit"
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uexc:
                return "invalid_utf8", f"not UTF-8 at byte {uexc.start}"
            return "invalid_json", f"not JSON: {exc}"
        if not isinstance(obj, dict):
            return "not_an_object", f"expected a JSON object, got {type(obj).__name__}"
        version = obj.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            return "unknown_schema_version", (
                f"schema_version {version!r} is not supported (this service reads {SCHEMA_VERSION})")
        try:
            return self._adapter.validate_python(obj)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"] if not _is_union_tag(p)) or "(event)"
            # A union reports one error per member type; one plain sentence reads better.
            msg = "has a type that is not allowed here" if any(map(_is_union_tag, err["loc"])) else err["msg"]
            return "invalid_event", f"{field}: {msg} (got {_short(err.get('input'))})"


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "float", "bool", "int", "none"))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

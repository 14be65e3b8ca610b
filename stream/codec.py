"""Bytes to validated events, a whole polled batch at a time; bad messages come back with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

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
    """Parse each message with orjson (so a bad one is singled out exactly), then validate all in one call."""

    def __init__(self, event_type: type[E], max_bytes: int = 1_000_000):
        self.event_type = event_type
        self.max_bytes = max_bytes
        self._adapter = TypeAdapter(list[event_type])

    def decode(self, values: list[bytes | None]) -> Decoded[E]:
        rejected: list[Rejected] = []
        parsed: list[Any] = []
        indices: list[int] = []
        for i, raw in enumerate(values):
            bad = self._parse(raw, parsed)
            if bad is None:
                indices.append(i)
            else:
                rejected.append(Rejected(i, *bad))
        events, invalid = self._validate(parsed)
        if invalid:
            bad_positions = set(invalid)
            rejected += [Rejected(indices[j], *invalid[j]) for j in sorted(invalid)]
            indices = [idx for j, idx in enumerate(indices) if j not in bad_positions]
            rejected.sort(key=lambda r: r.index)
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

    def _parse(self, raw: bytes | None, out: list[Any]) -> tuple[str, str] | None:
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
        out.append(obj)
        return None

    def _validate(self, objs: list[Any]) -> tuple[list[E], dict[int, tuple[str, str]]]:
        """Validate every object in one call; on failure the error locations name the bad ones."""
        try:
            return self._adapter.validate_python(objs), {}
        except ValidationError as exc:
            invalid: dict[int, tuple[str, str]] = {}
            for err in exc.errors(include_url=False):
                j = err["loc"][0]
                if j in invalid:
                    continue
                field = ".".join(str(p) for p in err["loc"][1:] if not _is_union_tag(p)) or "(event)"
                # A union reports one error per member type; one plain sentence reads better.
                msg = "has a type that is not allowed here" if any(map(_is_union_tag, err["loc"])) else err["msg"]
                invalid[j] = ("invalid_event", f"{field}: {msg} (got {_short(err.get('input'))})")
        good = [o for j, o in enumerate(objs) if j not in invalid]
        return self._adapter.validate_python(good), invalid


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "float", "bool", "int", "none"))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

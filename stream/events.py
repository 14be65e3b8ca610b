"""The wire contract: events applications publish and alerts the service emits."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr

SCHEMA_VERSION = 1

# Finite numbers only: NaN and Infinity are not JSON and would poison every statistic.
Number = Annotated[float, Field(allow_inf_nan=False)]
# The hot path validates ~20 of these per event: tried left to right, the first match wins, so a number
# (the usual value) matches at once instead of after pydantic's smart-mode pass over every member. Same
# outcomes as the smart union of the same strict members: a strict float refuses true/false, a JSON
# integer is a float here, a string never is.
FeatureValue = Annotated[Annotated[float, Field(allow_inf_nan=False, strict=True)] | StrictBool | StrictStr | None,
                         Field(union_mode="left_to_right")]
Identifier = Annotated[str, Field(min_length=1, max_length=256)]


def _utc_if_naive(value: datetime) -> datetime:
    # Naive times are read as UTC so every comparison between event times is well defined.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


EventTime = Annotated[datetime, AfterValidator(_utc_if_naive)]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: Identifier
    model_id: Identifier
    timestamp: EventTime = Field(description="Event time, ISO 8601; read as UTC when it has no offset.")


class FeatureEvent(_Event):
    """The inputs a model saw for one request."""

    features: dict[StrictStr, FeatureValue]
    segment: dict[StrictStr, StrictStr | StrictBool | Number] | None = None


class PredictionEvent(_Event):
    """What a model version answered; features may ride along inline."""

    model_version: Identifier = "unversioned"
    prediction: StrictBool | Number | StrictStr
    score: Number | None = None
    probabilities: dict[StrictStr, Number] | None = None
    features: dict[StrictStr, FeatureValue] | None = None
    segment: dict[StrictStr, StrictStr | StrictBool | Number] | None = None


class LabelEvent(_Event):
    """The ground truth for an earlier prediction, joined to it by event_id."""

    label: StrictBool | Number | StrictStr


class AlertWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    first_event_time: datetime
    last_event_time: datetime


AlertKind = Literal["data_drift", "prediction_drift", "concept_drift", "data_quality", "performance"]


class DriftAlert(BaseModel):
    """One detected drift, or its end: deterministic id, so a replay after a crash repeats it exactly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    alert_id: str
    model_id: str
    model_version: str
    kind: AlertKind
    signal: str
    detector: str
    statistic: Number
    threshold: Number
    window: AlertWindow
    severity: Literal["info", "warning", "critical"] = Field(
        description="info for a resolved signal; critical when the statistic is far over its threshold.")
    detected_at: datetime = Field(description="Event time of the event at which drift was detected (or resolved).")
    message: str
    status: Literal["drifting", "resolved"] = Field(
        "drifting", description="drifting: the signal left its reference; resolved: it has been back for a while.")
    segment: dict[str, str] | None = Field(None, description="The segment the signal was watched in, if any.")

    @property
    def scope(self) -> str:
        """Where the signal was watched: 'all', 'version=v2' or a segment such as 'country=BR'."""
        return scope_name(self.segment, self.model_version if self.kind in SCOPED_KINDS else None)

    def line(self) -> str:
        """One human-readable line, for terminals and logs."""
        where = "" if self.scope == "all" else f"[{self.scope}]"
        state = "RESOLVED " if self.status == "resolved" else ""
        return (
            f"{self.detected_at:%H:%M:%S} {self.severity.upper():8} {self.kind:16} "
            f"{self.model_id}/{self.signal}{where} [{self.detector}] {state}{self.message}"
        )


SCOPED_KINDS = ("prediction_drift", "concept_drift", "performance")   # watched per model version


def scope_name(segment: dict[str, str] | None, version: str | None = None) -> str:
    if segment:
        return ",".join(f"{k}={v}" for k, v in sorted(segment.items()))
    return f"version={version}" if version else "all"


class SignalStatus(BaseModel):
    """The current state of one signal, on the compacted status topic (key model/signal/scope)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    model_id: str
    signal: str
    scope: str = Field(description="'all', 'version=v2', or a segment such as 'country=BR'.")
    kind: AlertKind
    state: Literal["ok", "drifting", "resolved"]
    since: datetime = Field(description="Event time of the event at which the signal entered this state.")
    detector: str | None = None
    statistic: Number | None = None
    threshold: Number | None = None
    alert_id: str | None = Field(None, description="The alert that announced this state, if any.")

    def key(self) -> bytes:
        return f"{self.model_id}/{self.signal}/{self.scope}".encode()


# The one map from a topic's role to the message it carries; TopicsConfig names the topic of each role.
EVENT_TYPES: dict[str, type[BaseModel]] = {
    "features": FeatureEvent,
    "predictions": PredictionEvent,
    "labels": LabelEvent,
    "alerts": DriftAlert,
    "status": SignalStatus,
}
DATA_ROLES = ("features", "predictions", "labels")   # the roles applications publish and the service consumes
_ROLE_OF_TYPE = {cls: role for role, cls in EVENT_TYPES.items()}


def role_of(message: BaseModel) -> str:
    """The role of a message's topic: "features" for a FeatureEvent, and so on."""
    return _ROLE_OF_TYPE[type(message)]


def json_schemas() -> str:
    """The JSON Schemas of every message, keyed by topic role, for producers in other languages."""
    return json.dumps({role: cls.model_json_schema() for role, cls in EVENT_TYPES.items()}, indent=2)

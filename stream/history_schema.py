"""What a log row becomes: the column mapping, each file's resolved layout, and the records the reader yields."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, NamedTuple

import orjson

from .events import FeatureEvent, LabelEvent, PredictionEvent
from .history_formats import FORMATS, LogError
from .history_times import UNIT_MICROS

Role = Literal["features", "predictions", "labels"]
ROLES: tuple[Role, ...] = ("features", "predictions", "labels")

# Single-column roles, their default column name and the replay option that names another one.
COLUMN_ROLES = {
    "event_id": ("event_id", "--event-id-column"),
    "timestamp": ("timestamp", "--timestamp-column"),
    "model_id": ("model_id", "--model-id-column"),
    "model_version": ("model_version", "--model-version-column"),
    "prediction": ("prediction", "--prediction-column"),
    "score": ("score", "--score-column"),
    "label": ("label", "--label-column"),
    "label_timestamp": ("label_timestamp", "--label-timestamp-column"),
}
# Never features by default: the role names above and the fields of an event written out whole.
NOT_FEATURES = frozenset(d for d, _ in COLUMN_ROLES.values()) | {"schema_version", "features", "segment",
                                                                   "probabilities"}


@dataclass(frozen=True)
class ColumnMapping:
    """Which column holds what. Every field left unset falls back to a default, so a log with columns
    event_id, timestamp, model_id, prediction, label (model_version, score, label_timestamp if present)
    needs no mapping: every other column is a feature.

    A named column must exist; a default one is used when present. Features are a list of columns,
    the columns starting with `feature_prefix` (the prefix is dropped from the feature name), an object
    column named ``features`` (events logged whole), or else every column no other role takes.

    >>> ColumnMapping(timestamp="ts", features=["income", "age"]).features
    ('income', 'age')
    >>> ColumnMapping(features=["a"], feature_prefix="f_")
    Traceback (most recent call last):
    ...
    ValueError: give either features (--features) or feature_prefix (--feature-prefix), not both
    """

    event_id: str | None = None
    timestamp: str | None = None
    model_id: str | None = None
    model_version: str | None = None
    prediction: str | None = None
    score: str | None = None
    label: str | None = None
    label_timestamp: str | None = None   # when ground truth arrived later than the row's timestamp
    segments: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None
    feature_prefix: str | None = None
    ignore: tuple[str, ...] = ()          # columns that are not features
    fixed_model_id: str | None = None     # one model for every row (instead of a column)
    fixed_model_version: str | None = None
    timestamp_format: str | None = None   # strptime format, for times that are not ISO 8601 or epoch numbers
    timestamp_unit: str | None = None     # s|ms|us|ns for epoch numbers; guessed from their size when unset
    format: str | None = None             # jsonl|csv|parquet; from the file suffix when unset

    def __post_init__(self) -> None:
        for name in ("segments", "ignore", "features"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple([value] if isinstance(value, str) else value))
        for f in fields(self):
            value = getattr(self, f.name)
            if value == "" or (isinstance(value, tuple) and any(not v for v in value)):
                raise ValueError(f"{f.name}: an empty column name is not allowed")
        if self.features is not None and self.feature_prefix:
            raise ValueError("give either features (--features) or feature_prefix (--feature-prefix), not both")
        if self.model_id and self.fixed_model_id:
            raise ValueError("give either a model id column (--model-id-column) or one model id for every row "
                             "(--model-id), not both")
        if self.timestamp_unit is not None and self.timestamp_unit not in UNIT_MICROS:
            raise ValueError(f"timestamp_unit {self.timestamp_unit!r} is not one of {', '.join(UNIT_MICROS)}")
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
        claimed: dict[str, str] = {}
        named = [(getattr(self, r), r) for r in COLUMN_ROLES if getattr(self, r)]
        named += [(c, "segments") for c in self.segments] + [(c, "features") for c in self.features or ()]
        for column, role in named:
            if column in claimed and claimed[column] != role:
                raise ValueError(f"column {column!r} is given as both {claimed[column]} and {role}")
            claimed[column] = role


class Source(NamedTuple):
    """Where a record came from: the file as given, its 1-based data row, and its line (text formats)."""

    file: str
    row: int
    line: int | None

    def __str__(self) -> str:
        return f"{self.file} line {self.line}" if self.line is not None else f"{self.file} row {self.row}"


class HistoryRecord(NamedTuple):
    """One validated event of a log, with its role (the topic it belongs on) and where it came from."""

    role: Role
    event: FeatureEvent | PredictionEvent | LabelEvent
    source: Source


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that yields no event: the column at fault (if one), why, and the row as read."""

    source: Source
    column: str | None
    reason: str
    row: Any

    def __str__(self) -> str:
        return f"{self.source}: " + (f"column {self.column!r}: " if self.column else "") + self.reason

    def to_json(self) -> bytes:
        """One line of a rejects file."""
        return orjson.dumps({"file": self.source.file, "line": self.source.line, "row_number": self.source.row,
                             "column": self.column, "reason": self.reason, "row": self.row},
                            default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)


@dataclass(frozen=True)
class Layout:
    """A mapping resolved against one file's columns."""

    event_id: str
    timestamp: str
    model_id: str | None
    model_version: str | None
    prediction: str | None
    score: str | None
    label: str | None
    label_timestamp: str | None
    segments: tuple[str, ...]
    segment_object: str | None                        # a column of {name: value} objects
    features: tuple[tuple[str, str], ...] | None      # (column, feature name); None: chosen row by row
    feature_object: str | None                        # a column of {name: value} objects
    feature_prefix: str | None
    not_features: frozenset[str] = field(default_factory=frozenset)

    @property
    def has_features(self) -> bool:
        return self.features is None or bool(self.features) or self.feature_object is not None


def resolve(file: str, columns: list[str], mapping: ColumnMapping, *, rowwise: bool) -> Layout:
    """Check the mapping against a file's columns; `rowwise` (JSON lines) picks default features per row."""
    present = set(columns)
    claimed = set(mapping.segments) | set(mapping.features or ()) | set(mapping.ignore)
    chosen: dict[str, str | None] = {}
    for role, (default, flag) in COLUMN_ROLES.items():
        name = getattr(mapping, role)
        if name is not None:
            if name not in present:
                raise LogError(f"{file}: no column {name!r} (given with {flag}); {_columns(columns)}. "
                               f"Correct the name given with {flag}")
            chosen[role] = name
        else:
            chosen[role] = default if default in present and default not in claimed else None
        if chosen[role]:
            claimed.add(chosen[role])
    for role in ("event_id", "timestamp"):
        if chosen[role] is None:
            default, flag = COLUMN_ROLES[role]
            raise LogError(f"{file}: no {role} column: none is named {default!r} ({_columns(columns)}); "
                           f"name it with {flag} COLUMN")
    if mapping.fixed_model_id:
        chosen["model_id"] = None
    elif chosen["model_id"] is None:
        raise LogError(f"{file}: no model_id column: none is named 'model_id' ({_columns(columns)}); name it "
                       "with --model-id-column COLUMN, or give one model for every row with --model-id MODEL")
    for column in mapping.segments + (mapping.features or ()):
        if column not in present:
            flag = "--segments" if column in mapping.segments else "--features"
            raise LogError(f"{file}: no column {column!r} (given with {flag}); {_columns(columns)}. "
                           f"Correct the name given with {flag}")
    not_features = NOT_FEATURES | claimed | {c for c in chosen.values() if c}
    segment_object = "segment" if not mapping.segments and "segment" in present else None
    feature_object = None
    if mapping.features is not None:
        features: tuple[tuple[str, str], ...] | None = tuple((c, c) for c in mapping.features)
    elif "features" in present and not mapping.feature_prefix and "features" not in claimed:
        features, feature_object = (), "features"
    elif rowwise:
        features = None
    elif mapping.feature_prefix:
        p = mapping.feature_prefix
        features = tuple((c, c[len(p):]) for c in columns if c.startswith(p) and c != p and c not in not_features)
        if not features:
            raise LogError(f"{file}: no column starts with {p!r} (given with --feature-prefix); {_columns(columns)}")
    else:
        features = tuple((c, c) for c in columns if c not in not_features)
    layout = Layout(chosen["event_id"], chosen["timestamp"], chosen["model_id"], chosen["model_version"],
                    chosen["prediction"], chosen["score"], chosen["label"], chosen["label_timestamp"],
                    mapping.segments, segment_object, features, feature_object, mapping.feature_prefix,
                    frozenset(not_features))
    if not (layout.has_features or layout.prediction or layout.label):
        raise LogError(f"{file}: no column holds features, a prediction or a label ({_columns(columns)}); "
                       "name them with --features/--feature-prefix, --prediction-column, --label-column")
    return layout


def _columns(columns: list[str], limit: int = 30) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return f"its columns are {shown}" + (f" and {len(columns) - limit} more" if len(columns) > limit else "")

"""A chunk of log rows to validated events: one schema check per role per chunk, bad rows singled out."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from .events import FeatureEvent, LabelEvent, PredictionEvent
from .history_formats import Chunk, LogError
from .history_schema import ColumnMapping, HistoryRecord, Layout, RejectedRow, Source
from .history_times import parse_times

_ADAPTERS = {role: TypeAdapter(list[cls]) for role, cls in
             (("features", FeatureEvent), ("predictions", PredictionEvent), ("labels", LabelEvent))}
_FIELDS = {"features": "features", "predictions": "prediction", "labels": "label"}

# One row's output: its time (None for a rejected row, which goes out where it was read) and its items, each
# with its own time in microseconds (a label's may be later: when the ground truth arrived).
Built = tuple[int | None, list[tuple[int | None, HistoryRecord | RejectedRow]]]


class RowBuilder:
    """Turns one file's chunks into records, in row order (features, prediction, label within a row)."""

    def __init__(self, file: str, layout: Layout, mapping: ColumnMapping):
        self.file, self.layout, self.mapping = file, layout, mapping
        self._units: dict[str, str | None] = {"time": mapping.timestamp_unit, "label": mapping.timestamp_unit}

    def times(self, chunk: Chunk, column: str, which: str = "time"):
        times = parse_times(chunk.time_array(column), fmt=self.mapping.timestamp_format, unit=self._units[which])
        self._units[which] = self._units[which] or times.unit
        return times

    def build(self, chunk: Chunk) -> list[Built]:
        out: list[Built] = [(None, [(None, self._broken(b))]) for b in chunk.broken]
        if not len(chunk):
            return out
        lay, n = self.layout, len(chunk)
        times = self.times(chunk, lay.timestamp)
        ok, stamps = times.ok.tolist(), times.datetimes()
        ids = chunk.texts(lay.event_id)
        models = [self.mapping.fixed_model_id] * n if lay.model_id is None else chunk.texts(lay.model_id)
        versions = chunk.texts(lay.model_version) if lay.model_version else [None] * n
        fixed_version = self.mapping.fixed_model_version
        features, with_features = self._features(chunk) if lay.has_features else (None, None)
        segments = self._segments(chunk) or [None] * n
        predictions = chunk.values(lay.prediction) if lay.prediction else None
        scores = chunk.values(lay.score) if lay.score else [None] * n
        labels = chunk.values(lay.label) if lay.label else None
        label_times = self.times(chunk, lay.label_timestamp, "label") if lay.label_timestamp and labels else None
        label_ok = label_times.ok.tolist() if label_times else None
        label_stamps = label_times.datetimes() if label_times else None

        pending: dict[str, tuple[list[dict], list[int]]] = {r: ([], []) for r in _ADAPTERS}
        problems: dict[int, tuple[str | None, str]] = {}
        for i in range(n):
            if not ok[i]:
                if i in times.bad or not _blank(chunk, i):
                    problems[i] = (lay.timestamp, _bad_time(times.bad, i))
                continue
            held = False
            segment = segments[i]
            if features is not None and with_features[i]:
                event = {"event_id": ids[i], "model_id": models[i], "timestamp": stamps[i], "features": features[i]}
                if segment:
                    event["segment"] = segment
                pending["features"][0].append(event)
                pending["features"][1].append(i)
                held = True
            if predictions is not None and predictions[i] is not None:
                event = {"event_id": ids[i], "model_id": models[i], "timestamp": stamps[i],
                         "prediction": predictions[i]}
                version = versions[i] if versions[i] is not None else fixed_version
                if version is not None:
                    event["model_version"] = version
                if scores[i] is not None:
                    event["score"] = scores[i]
                if segment:
                    event["segment"] = segment
                pending["predictions"][0].append(event)
                pending["predictions"][1].append(i)
                held = True
            if labels is not None and labels[i] is not None:
                event = {"event_id": ids[i], "model_id": models[i], "timestamp": stamps[i], "label": labels[i]}
                if label_times is not None:
                    if label_ok[i]:
                        event["timestamp"] = label_stamps[i]
                    elif i in label_times.bad:
                        problems[i] = (lay.label_timestamp, _bad_time(label_times.bad, i))
                        continue
                pending["labels"][0].append(event)
                pending["labels"][1].append(i)
                held = True
            if not held and not _blank(chunk, i):
                problems[i] = (None, "the row holds no features, prediction or label")

        valid = [self._validate(role, events, rows, problems) for role, (events, rows) in pending.items()]
        return out + self._assemble(chunk, times, label_times, valid, problems)

    def _assemble(self, chunk, times, label_times, valid, problems) -> list[Built]:
        out: list[Built] = []
        file, rows, lines = self.file, chunk.rows, chunk.lines
        micros = times.micros.tolist()
        label_micros = np.where(label_times.ok, label_times.micros, times.micros).tolist() if label_times else micros
        features, predictions, labels = valid
        for i in sorted(problems.keys() | features.keys() | predictions.keys() | labels.keys()):
            source = Source(file, rows[i], lines[i] if lines is not None else None)
            if i in problems:
                column, reason = problems[i]
                out.append((None, [(None, RejectedRow(source, column, reason, chunk.raw(i)))]))
                continue
            at = micros[i]
            items = []
            if i in features:
                items.append((at, HistoryRecord("features", features[i], source)))
            if i in predictions:
                items.append((at, HistoryRecord("predictions", predictions[i], source)))
            if i in labels:
                items.append((label_micros[i], HistoryRecord("labels", labels[i], source)))
            out.append((at, items))
        return out

    def _validate(self, role: str, events: list[dict], rows: list[int],
                  problems: dict[int, tuple[str | None, str]]) -> dict[int, Any]:
        """All of a role's events in one call; on failure the error locations single out the bad rows."""
        if not events:
            return {}
        adapter = _ADAPTERS[role]
        try:
            return dict(zip(rows, adapter.validate_python(events)))
        except ValidationError as exc:
            bad: set[int] = set()
            for err in exc.errors(include_url=False):
                j = err["loc"][0]
                if j in bad:
                    continue
                bad.add(j)
                problems.setdefault(rows[j], self._explain(role, err))
        good = [(r, e) for j, (r, e) in enumerate(zip(rows, events)) if j not in bad and r not in problems]
        return dict(zip([r for r, _ in good], adapter.validate_python([e for _, e in good])))

    def _explain(self, role: str, err: dict) -> tuple[str | None, str]:
        loc = [p for p in err["loc"][1:] if not _is_union_tag(p)]
        lay = self.layout
        column = {"event_id": lay.event_id, "model_id": lay.model_id, "model_version": lay.model_version,
                  "prediction": lay.prediction, "score": lay.score, "label": lay.label,
                  "timestamp": lay.timestamp}.get(loc[0]) if loc else None
        what = ".".join(str(p) for p in loc) or role
        if loc and loc[0] in ("features", "segment") and len(loc) > 1:
            column = self._feature_column(str(loc[1])) if loc[0] == "features" else \
                (lay.segment_object or str(loc[1]))
        msg = "has a type that is not allowed here" if any(map(_is_union_tag, err["loc"])) else err["msg"]
        got = err.get("input")
        not_finite = isinstance(got, float) and (got != got or got in (float("inf"), float("-inf")))
        hint = " (NaN and infinity are not allowed: leave a missing value empty)" if not_finite else ""
        return column, f"{what}: {msg} (got {_short(got)}){hint}"

    def _feature_column(self, name: str) -> str:
        lay = self.layout
        if lay.feature_object:
            return lay.feature_object
        if lay.features is not None:
            return next((c for c, f in lay.features if f == name), name)
        return (lay.feature_prefix or "") + name

    def _features(self, chunk: Chunk) -> tuple[list[dict], list[bool]]:
        """Each row's features, and whether it has any value at all (a row without is not a FeatureEvent)."""
        lay = self.layout
        if lay.feature_object:
            maps = [v if isinstance(v, dict) else {} for v in chunk.values(lay.feature_object)]
        elif lay.features is not None:
            names = [f for _, f in lay.features]
            columns = [chunk.values(c) for c, _ in lay.features]
            if not columns:
                return [{}] * len(chunk), [False] * len(chunk)
            maps = [dict(zip(names, values)) for values in zip(*columns)]
            if chunk.table is not None:
                present = np.zeros(len(chunk), bool)
                for column, _ in lay.features:
                    present |= chunk.table.column(column).is_valid().to_numpy(zero_copy_only=False)
                return maps, present.tolist()
        elif lay.feature_prefix:   # JSON lines: the keys of each row that start with the prefix
            skip, p, k = lay.not_features, lay.feature_prefix, len(lay.feature_prefix)
            maps = [{c[k:]: v for c, v in row.items() if c.startswith(p) and c not in skip and len(c) > k}
                    for row in chunk.dicts]
        else:
            skip = lay.not_features
            maps = [{c: v for c, v in row.items() if c not in skip} for row in chunk.dicts]
        return maps, [any(v is not None for v in m.values()) for m in maps]

    def _segments(self, chunk: Chunk) -> list[dict | None] | None:
        lay = self.layout
        if lay.segments:
            columns = [chunk.values(c) for c in lay.segments]
            return [{k: v for k, v in zip(lay.segments, values) if v is not None} or None
                    for values in zip(*columns)]
        if lay.segment_object:
            return [v or None for v in chunk.values(lay.segment_object)]
        return None

    def _broken(self, bad) -> RejectedRow:
        return RejectedRow(Source(self.file, bad.row, bad.line), None, bad.reason, bad.raw)


def first_time_problem(file: str, builder: RowBuilder, chunk: Chunk) -> None:
    """A timestamp column none of whose first values is a time is the wrong column or format: stop early."""
    times = builder.times(chunk, builder.layout.timestamp)
    if len(chunk) and not times.ok.any() and times.bad:
        i, value = next(iter(times.bad.items()))
        where = f"line {chunk.lines[i]}" if chunk.lines is not None else f"row {chunk.rows[i]}"
        fmt = builder.mapping.timestamp_format
        raise LogError(
            f"{file}: column {builder.layout.timestamp!r} does not hold times ({where}: {_short(value)}"
            + (f" does not match --timestamp-format {fmt!r}" if fmt else "")
            + "). Write times as ISO 8601 (2024-05-01T10:00:00Z) or epoch numbers, give their format with "
              "--timestamp-format (e.g. '%d/%m/%Y %H:%M'), or name the right column with --timestamp-column")


def _bad_time(bad: dict[int, object], i: int) -> str:
    if i in bad:
        return (f"{_short(bad[i])} is not a time (ISO 8601 such as 2024-05-01T10:00:00Z, epoch numbers, or the "
                "--timestamp-format given)")
    return "the timestamp is missing"


def _blank(chunk: Chunk, i: int) -> bool:
    """A row with no value at all (a blank CSV line) is skipped, not rejected."""
    if chunk.dicts is not None:
        return not any(v is not None for v in chunk.dicts[i].values())
    return all(v is None for v in chunk.raw(i).values())


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "float", "bool", "int", "none"))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

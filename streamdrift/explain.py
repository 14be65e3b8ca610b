"""Why an alert fired: its evidence read back from Kafka and set against what came before, signal by signal.

An alert points at its evidence: a topic partition and the offsets from the first event its detector weighed
(since it last fired, or since the start) to the event at which it fired. `explain` reads the model's events
there (read_committed) and compares two samples of the alert's signal:

- after: the most recent events up to the alert, at most `events` of them; of those, the stretch that differs
  most from `before` (a detector testing several window lengths fires on the shortest that shows the change),
  or all of them with `fixed`; for a data-quality alert, exactly its window of 1,000 events;
- before: with `reference: training`, the model's published reference profile; otherwise the `events` events of
  the model just before the evidence, or, when the partition holds fewer (the evidence starts at the beginning
  of the stream, as a signal's first alert does), the first events of the evidence itself — what a rolling
  reference learns from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from stream.config import Config, ModelConfig
from stream.errors import StreamdriftError
from stream.events import DriftAlert
from stream.values import category

from .shift import (Comparison, Row, compare_frequencies, compare_quantiles, compare_values, frequencies,
                    infer_type, most_different_stretch, numbers)
from .topic_reading import PartitionReader, RetentionError, read_alerts, retention_hint

DEFAULT_EVENTS = 1_000


class AlertNotFound(StreamdriftError):
    """No alert on the alert topic has the id asked for."""


class NothingToCompare(StreamdriftError):
    """The evidence holds no value of the alert's signal, or nothing came before it."""


@dataclass(frozen=True)
class Sample:
    """One side of the comparison: what it is, and where it came from."""

    description: str
    values: list = field(default_factory=list)
    first_offset: int | None = None
    last_offset: int | None = None


@dataclass(frozen=True)
class Explanation:
    alert: DriftAlert
    shown: str                 # which values are compared: "feature 'income'", "the predictions", ...
    before: Sample
    after: Sample
    comparison: Comparison
    notes: tuple[str, ...] = ()


def find_alert(config: Config, alert_id: str, on_problem: Callable[[str], None] | None = None) -> DriftAlert:
    """The alert with this id (or the one alert whose id starts with it) on the alert topic."""
    alerts = read_alerts(config, on_problem=on_problem) if on_problem else read_alerts(config)
    exact = [a for a in alerts if a.alert_id == alert_id]
    if exact:
        return exact[-1]
    matches = {a.alert_id: a for a in alerts if len(alert_id) >= 4 and a.alert_id.startswith(alert_id)}
    if len(matches) == 1:
        return next(iter(matches.values()))
    if len(matches) > 1:
        raise AlertNotFound(f"{len(matches)} alerts on {config.topics.alerts} have ids starting with {alert_id!r} "
                            f"({', '.join(sorted(matches)[:5])}{', ...' if len(matches) > 5 else ''}): give more "
                            "of the id")
    raise AlertNotFound(f"no alert with id {alert_id!r} among the {len(alerts):,} alerts on {config.topics.alerts} "
                        f"at {config.kafka.bootstrap_servers} (read_committed): check the id, and that --config is "
                        "the configuration of the service that raised it")


def explain(config: Config, alert: DriftAlert, events: int = DEFAULT_EVENTS, fixed: bool = False,
            profiles: dict | None = None) -> Explanation:
    """Read the alert's evidence and its `before` from Kafka and compare them. `profiles`: the published
    reference profiles ((model_id, version) -> profile, as stream.profile_kafka.read_profiles returns them),
    needed for models with `reference: training`; None reads them when needed."""
    if events < 1:
        raise ValueError(f"events must be at least 1, not {events}")
    model = config.model(alert.model_id)
    notes: list[str] = []
    if model is None:
        notes.append(f"the configuration has no model {alert.model_id!r}: value types are guessed from the events")
    w = alert.window
    with PartitionReader(config, w.topic, w.partition) as reader:
        signal = _signal(alert, model, reader.role, notes)
        key = alert.model_id.encode()
        if w.last_offset < reader.start:
            raise RetentionError(
                f"the evidence of alert {alert.alert_id} ({w.topic} partition {w.partition}, offsets "
                f"{w.first_offset:,}..{w.last_offset:,}) is no longer retained: the partition now starts at offset "
                f"{reader.start:,}. {retention_hint(config, w.topic)}; or run streamdrift backtest over the logs "
                "and read the report")
        if w.first_offset < reader.start:
            notes.append(f"offsets {w.first_offset:,}..{reader.start - 1:,} of the evidence are no longer retained "
                         f"({retention_hint(config, w.topic)})")
        recent = reader.backward(w.last_offset + 1, w.first_offset, events, signal.keep, key)
        if not recent:
            raise NothingToCompare(f"offsets {max(w.first_offset, reader.start):,}..{w.last_offset:,} of {w.topic} "
                                   f"partition {w.partition} hold no event of {alert.model_id} with {signal.shown}"
                                   f"{signal.scope_text}")
        before, recent = _before(config, alert, model, reader, signal, recent, events, profiles, notes)
        after = _after(alert, signal, recent, before, fixed)
    comparison = before.compare(after.values)
    if alert.kind == "data_quality":
        comparison = _with_range(comparison, model, alert.signal, before.sample.values, after.values)
    return Explanation(alert, signal.shown, before.sample, after, comparison, tuple(notes))


def _with_range(comparison: Comparison, model: ModelConfig | None, name: str, before: list, after: list) -> Comparison:
    """A data-quality alert may be about values outside the feature's min/max: their share, before and after."""
    feature = next((f for f in model.features if f.name == name), None) if model else None
    if feature is None or feature.type != "numeric" or (feature.min is None and feature.max is None):
        return comparison

    def outside(values: list) -> float | None:
        x = numbers(values)
        if not values:
            return None
        low = x < feature.min if feature.min is not None else np.zeros(x.size, bool)
        high = x > feature.max if feature.max is not None else np.zeros(x.size, bool)
        return int(np.count_nonzero(low | high)) / len(values)
    row = Row("outside min/max", outside(before) if before else None, outside(after))
    return replace(comparison, summary=(*comparison.summary, row))


# -- which values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Signal:
    shown: str
    type: Literal["numeric", "categorical"] | None
    value: Callable[[Any], Any]
    keep: Callable[[Any], bool]
    scope_text: str = ""


def _signal(alert: DriftAlert, model: ModelConfig | None, role: str, notes: list[str]) -> _Signal:
    prediction_type = model.prediction.type if model is not None and model.prediction is not None else None
    in_scope, scope_text = _scope_filter(alert, role, notes)
    if alert.kind in ("data_drift", "data_quality"):
        feature = next((f for f in model.features if f.name == alert.signal), None) if model else None
        name = alert.signal
        # Events on the predictions topic feed the feature monitors only when they carry features inline.
        return _Signal(f"feature {name!r}", feature.type if feature else None,
                       lambda e: e.features.get(name), lambda e: bool(e.features), scope_text)
    if alert.kind == "prediction_drift":
        return _Signal("the predictions", prediction_type, lambda e: e.prediction, in_scope, scope_text)
    # concept_drift, performance: the errors pair each label with its prediction.
    what = {"labels": ("the labels", lambda e: e.label), "predictions": ("the predictions", lambda e: e.prediction),
            "features": ("", None)}[role]
    if what[1] is None:
        raise NothingToCompare(f"alert {alert.alert_id} ({alert.kind}) points at the features topic; its errors "
                               "cannot be shown from there")
    notes.append(f"{alert.kind.replace('_', ' ')} ({alert.signal}) is about errors: each label against its "
                 f"prediction (joined by event_id), which explain does not re-join. Shown instead: {what[0]} of the "
                 f"evidence, before and after. The error rate over time is in the report of a backtest of the logs "
                 f"(streamdrift backtest, then streamdrift report)")
    return _Signal(what[0], prediction_type, what[1], in_scope, scope_text)


def _scope_filter(alert: DriftAlert, role: str, notes: list[str]) -> tuple[Callable[[Any], bool], str]:
    """Keep the events of the alert's scope: its model version, or its segment on the champion's traffic."""
    scope = alert.scope
    if scope == "all":
        return (lambda e: True), ""
    if role != "predictions":
        notes.append(f"the alert is about scope {scope}, but {role} events do not say their version or segment: "
                     "all of the model's events are shown")
        return (lambda e: True), ""
    if alert.segment:
        (key, value), version = next(iter(alert.segment.items())), alert.model_version
        if value == "other":
            notes.append(f"segment {key}=other gathers the values outside the top K, which cannot be told apart "
                         f"afterwards: showing every {key} of version {version}")
            return (lambda e: e.model_version == version), f" (version {version})"
        return (lambda e: e.model_version == version and _segment_value(e, key) == value,
                f" in segment {key}={value} of version {version}")
    version = alert.model_version
    if version == "other":
        notes.append("version 'other' gathers the versions beyond versions.max_live, which cannot be told apart "
                     "afterwards: showing every version")
        return (lambda e: True), ""
    return (lambda e: e.model_version == version), f" of version {version}"


def _segment_value(event, key: str) -> str:
    """As the service reads it: from the prediction's segment, else its inline features; "unknown" if absent."""
    value = (event.segment or {}).get(key)
    if value is None and event.features:
        value = event.features.get(key)
    return "unknown" if value is None else category(value)


# -- before ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Before:
    sample: Sample
    compare: Callable[[list], Comparison]
    reference: Any            # what most_different_stretch measures against
    reference_count: int | None


def _before(config: Config, alert: DriftAlert, model: ModelConfig | None, reader: PartitionReader, signal: _Signal,
            recent: list, events: int, profiles: dict | None, notes: list[str]) -> tuple[_Before, list]:
    """What the evidence is compared with, and the recent events left to compare (fewer when the evidence is
    short and nothing precedes it: then its first half is the before)."""
    w = alert.window
    profile = _profile(config, alert, model, profiles, notes)
    if profile is not None:
        return _from_profile(alert, profile, signal), recent
    key = alert.model_id.encode()
    prior = reader.backward(w.first_offset, 0, events, signal.keep, key)
    source = f"{len(prior):,} events just before the evidence"
    if len(prior) < events:
        earlier = "nothing earlier" if not prior else f"only {len(prior):,} earlier events"
        start = reader.forward(w.first_offset, recent[0][0], events, signal.keep, key)
        if len(start) < events:   # the evidence holds fewer than twice `events`: its first half comes before
            whole = start + recent
            half = len(whole) // 2
            if half > len(start) and half > len(prior):
                start, recent = whole[:half], whole[half:]
        if len(start) > len(prior):
            prior, source = start, (f"the first {len(start):,} events of the evidence ({earlier} on the partition; "
                                    "a rolling reference learns from these)")
    if not prior:
        raise NothingToCompare(f"nothing to compare alert {alert.alert_id} with: no event of {alert.model_id} with "
                               f"{signal.shown}{signal.scope_text} before offset {recent[0][0]:,} of {w.topic} "
                               f"partition {w.partition}, and the evidence holds only {len(recent)} of them")
    values = [signal.value(e) for _, e in prior]
    kind = signal.type or infer_type(values + [signal.value(e) for _, e in recent])
    sample = Sample(f"{source}, offsets {prior[0][0]:,}..{prior[-1][0]:,}", values, prior[0][0], prior[-1][0])
    reference = numbers(values) if kind == "numeric" else frequencies(values)

    def compare(after: list) -> Comparison:
        return compare_values(alert.signal, values, after, kind)
    return _Before(sample, compare, reference, len(values)), recent


def _profile(config: Config, alert: DriftAlert, model: ModelConfig | None, profiles: dict | None,
             notes: list[str]):
    if model is None or model.reference != "training" or alert.kind not in ("data_drift", "prediction_drift"):
        return None
    if alert.segment:
        return None   # profiles are per model and version; the service compares a segment with its first values
    if profiles is None:
        from stream.profile_kafka import read_profiles

        profiles = read_profiles(config, on_problem=notes.append)
    version = alert.model_version if alert.scope.startswith("version=") else None
    profile = profiles.get((alert.model_id, version)) or profiles.get((alert.model_id, None))
    if profile is None:
        notes.append(f"{alert.model_id} has reference: training but no profile is published: compared with the "
                     "events before the evidence instead")
    elif alert.signal not in profile.signals:
        notes.append(f"the published profile of {profile.key} has no {alert.signal!r}: compared with the events "
                     "before the evidence instead")
        return None
    return profile


def _from_profile(alert: DriftAlert, profile, signal: _Signal) -> _Before:
    from stream.profile import NumericSummary

    summary = profile.signals[alert.signal]
    built = f"the published reference profile {profile.key!r} (built {profile.built_at:%Y-%m-%d} from " \
            f"{profile.source.describe()}, {summary.count:,} values)"
    total = summary.count + summary.missing
    missing = summary.missing / total if total else None
    if isinstance(summary, NumericSummary):
        q = np.array(summary.quantiles, dtype=float)
        levels = np.linspace(0, 1, q.size) if q.size > 1 else np.array([0.5])

        def compare(after: list) -> Comparison:
            a = numbers(after)
            rows = (Row("mean", summary.mean, float(a.mean()) if a.size else None),
                    Row("std", summary.std, float(a.std()) if a.size else None),
                    Row("missing", missing, sum(v is None for v in after) / len(after) if after else None))
            return compare_quantiles(alert.signal, levels, q, np.quantile(a, levels) if a.size else
                                     np.full(levels.size, np.nan), summary.count, len(after), rows, summary.std)
        return _Before(Sample(built), compare, q, summary.count)

    def compare(after: list) -> Comparison:
        rows = (Row("missing", missing, sum(v is None for v in after) / len(after) if after else None),)
        return compare_frequencies(alert.signal, summary.frequencies, frequencies(after), summary.count,
                                   len(after), rows)
    return _Before(Sample(built), compare, dict(summary.frequencies), summary.count)


# -- after -----------------------------------------------------------------------------------------
def _after(alert: DriftAlert, signal: _Signal, recent: list, before: _Before, fixed: bool) -> Sample:
    values = [signal.value(e) for _, e in recent]
    how = f"the last {len(recent):,} events up to the alert"
    if alert.kind == "data_quality":
        how = f"the alert's window: {len(recent):,} events"
    elif not fixed:
        kind = signal.type or infer_type(values)
        k = most_different_stretch(before.reference, values, kind, before.reference_count)
        if k < len(recent):
            how = (f"the last {k:,} events up to the alert: of the last {len(recent):,}, the stretch that differs most "
                   "from before (--fixed for all of them)")
        recent, values = recent[-k:], values[-k:]
    return Sample(f"{how}, offsets {recent[0][0]:,}..{recent[-1][0]:,}", values, recent[0][0], recent[-1][0])


def describe(explanation: Explanation, limit: int = 12) -> list[str]:
    """The explanation as text lines for a terminal: the alert, the two samples, the table, the notes."""
    from .shift import format_table

    x, a = explanation, explanation.alert
    w = a.window
    scope = "" if a.scope == "all" else f" [{a.scope}]"
    state = " (resolved)" if a.status == "resolved" else ""
    c = x.comparison
    lines = [f"Alert {a.alert_id}{state}",
             f"  {a.severity} {a.kind} {a.model_id}/{a.signal}{scope} [{a.detector}] at "
             f"{a.detected_at:%Y-%m-%d %H:%M:%S}Z: statistic {a.statistic:.4g} vs threshold {a.threshold:.4g}",
             f"  evidence: {w.topic} partition {w.partition}, offsets {w.first_offset:,}..{w.last_offset:,} "
             f"({w.first_event_time:%Y-%m-%d %H:%M:%S}Z .. {w.last_event_time:%Y-%m-%d %H:%M:%S}Z)",
             f"  before: {x.before.description}",
             f"  after:  {x.after.description}",
             "",
             f"What moved in {x.shown} ({c.type}), " + ("largest shift first:" if c.type == "numeric"
                                                        else "largest change of frequency first:")]
    lines += format_table(c, limit)
    lines += [f"note: {n}" for n in x.notes]
    return lines

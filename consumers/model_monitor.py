"""Everything streamdrift watches for one model: its features, and per version and per segment its predictions,
errors and performance, with the champion compared against the other versions on their labels."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream.config import AlertPolicy, FeatureConfig, ModelConfig
from stream.events import DriftAlert, FeatureEvent, LabelEvent, PredictionEvent, SignalStatus
from stream.metrics import ServiceMetrics
from stream.values import category

from .alerts import Batch, Cooldown, Scope, build_alert
from .columns import Column, categorical_column, numeric_column, numeric_matrix
from .label_join import Joined, LabelJoin, Sibling, same
from .paired import PairedComparison
from .performance import ClassificationPerformance, RegressionPerformance, residuals
from .quality import QUALITY_WINDOW, QualityMonitor
from .river_accuracy import KIND as CONFIDENCE
from .river_accuracy import EstimatedAccuracy
from .river_anomaly import KIND as HALF_SPACE_TREES
from .river_anomaly import AnomalyScore
from .river_challenger import KIND as CHALLENGER
from .river_challenger import Challenger
from .river_domain import KIND as DOMAIN_CLASSIFIER
from .river_domain import DomainClassifier
from .river_signal import ModelSignal
from .scoped import ScopedSignals
from .signal import SignalMonitor
from .top_k import TopK
from .versions import OTHER, Versions

log = logging.getLogger(__name__)

UNVERSIONED = "unversioned"
_PREDICTION = FeatureConfig(name="prediction")
_TAKES_REFERENCE = {"ks", "page_hinkley", "categorical"}
Outputs = tuple[list[DriftAlert], list[SignalStatus]]


class ModelMonitor:
    def __init__(self, config: ModelConfig, policy: AlertPolicy, metrics: ServiceMetrics,
                 profiles: dict | None = None, quality_windows: int = 0):
        """`quality_windows`: completed data-quality windows each feature keeps for reports (0: none)."""
        self.config = config
        self.policy = policy
        self.metrics = metrics
        self._profiles = self._training_profiles(profiles or {})
        mid = config.model_id
        self.cooldown = Cooldown(policy.cooldown_seconds)
        self.features = {
            f.name: SignalMonitor(mid, f.name, "data_drift", f.detector_configs, metrics, policy,
                                  f"feature '{f.name}' of {mid}", references=self._references(None, f.name,
                                                                                                f.detector_configs))
            for f in config.features
        }
        self.quality = {f.name: QualityMonitor(f, quality_windows) for f in config.features}
        self._numeric = [f.name for f in config.features if f.type == "numeric"]
        self._unseen_seen = dict.fromkeys(self.features, 0)
        pred = config.prediction
        self.versions = Versions(config.versions)
        self.segments = {key: TopK(config.segment_top_k) for key in config.segments}
        self.join = LabelJoin(config.labels.ttl_seconds, config.labels.max_pending)
        if pred is not None:
            self.predictions = ScopedSignals(lambda scope: SignalMonitor(
                mid, "prediction", "prediction_drift", pred.detector_configs, metrics, policy,
                f"predictions of {mid}", scope, self._references(scope, "prediction", pred.detector_configs)))
            self.errors = ScopedSignals(lambda scope: SignalMonitor(
                mid, "error_rate" if pred.type == "categorical" else "residual", "concept_drift",
                pred.error_detector_configs, metrics, policy, f"errors of {mid} (labels vs predictions)", scope))
        river = config.river   # the online models, each a signal when the model's config asks for it
        self.joint = self._model_signal(
            river.domain_classifier, "joint_distribution", "data_drift", DOMAIN_CLASSIFIER,
            lambda settings: DomainClassifier(settings, self._numeric),
            f"joint distribution of the numeric features of {mid}")
        self.anomalies = self._model_signal(
            river.anomalies, "anomalies", "data_quality", HALF_SPACE_TREES,
            lambda settings: AnomalyScore(settings, self._numeric), f"anomaly rate of {mid}")
        self.challenger = self._model_signal(
            river.challenger, "challenger", "performance", CHALLENGER,
            lambda settings: Challenger(settings, config.features), f"production model of {mid}")
        self.estimate = self._model_signal(
            river.estimated_accuracy, "estimated_accuracy", "performance", CONFIDENCE, EstimatedAccuracy,
            f"accuracy of {mid}")
        self.performance: dict[str, ClassificationPerformance | RegressionPerformance] = {}
        self.comparisons: dict[str, PairedComparison] = {}       # "version=v2" or "shadow:version=v2"
        self._compared_since: dict[str, Any] = {}                 # where each comparison's first pair came from
        self._compared_with: str | None = None                    # the champion they compare with
        self._champion_outcomes: dict[str, deque[bool]] = {}     # per challenger: champion outcomes to pair with
        self._agreement: dict[str, deque[int]] = {}              # per version: agreement with the champion

    def observe(self, role: str, events: Sequence[Any], batch: Batch) -> Outputs:
        """Events of one role ("features", "predictions", "labels") from one partition, in offset order."""
        if role == "features":
            return self.observe_features(events, batch)
        if role == "predictions":
            return self.observe_predictions(events, batch)
        return self.observe_labels(events, batch)

    def signals(self) -> list[SignalMonitor]:
        """Every signal watched, in every scope."""
        out = list(self.features.values())
        out += list(self._model_signals().values())
        if self.config.prediction is not None:
            out += [*self.predictions.monitors.values(), *self.errors.monitors.values()]
        return out

    def _model_signal(self, settings: Any, signal: str, kind: str, detector: str, make: Any,
                      what: str) -> ModelSignal | None:
        if settings is None:
            return None
        return ModelSignal(self.config.model_id, signal, kind, detector, make(settings), self.metrics, self.policy,
                           what)

    def _model_signals(self) -> dict[str, ModelSignal]:
        """The online models' signals present, by their key in the snapshot."""
        signals = {"joint": self.joint, "anomalies": self.anomalies, "challenger": self.challenger,
                   "estimate": self.estimate}
        return {key: signal for key, signal in signals.items() if signal is not None}

    # -- references -------------------------------------------------------------------------------
    def _training_profiles(self, profiles: dict) -> dict:
        mine = {version: p for (model_id, version), p in profiles.items() if model_id == self.config.model_id}
        if self.config.reference == "training":
            self.metrics.reference_loaded.labels(self.config.model_id).set(1 if None in mine else 0)
            if None not in mine:
                log.warning("model %s: reference is 'training' but no profile is published (streamdrift reference "
                            "build); its first values serve as the reference meanwhile", self.config.model_id)
            return mine
        return {}

    def _references(self, scope: Scope | None, signal: str, configs) -> dict[str, Any] | None:
        """The training profile's reference of a signal, per detector kind that compares with one."""
        if scope is not None and scope.segment is not None:
            return None   # profiles are per model (and version), not per segment
        profile = self._profiles.get(scope.version if scope is not None else None) or self._profiles.get(None)
        if profile is None:
            return None
        reference = profile.reference_for(signal)
        return {c.kind: reference for c in configs if c.kind in _TAKES_REFERENCE} if reference is not None else None

    # -- features -------------------------------------------------------------------------------
    def observe_features(self, events: Sequence[FeatureEvent | PredictionEvent], batch: Batch) -> Outputs:
        if self.challenger is not None:
            self.challenger.detectors[CHALLENGER].remember(events)
        dicts = [e.features or {} for e in events]
        matrix = numeric_matrix(dicts, self._numeric)
        alerts: list[DriftAlert] = []
        statuses: list[SignalStatus] = []
        for feature in self.config.features:
            if feature.type == "numeric":
                column = numeric_column(matrix[:, self._numeric.index(feature.name)], feature)
            else:
                column = categorical_column([d.get(feature.name) for d in dicts])
            self._count_quality(feature.name, column)
            signal = self.features[feature.name]
            a, s = signal.observe(column.values, column.rows, batch)
            alerts += a
            statuses += s
            if feature.type == "categorical":
                self._count_unseen(feature.name, signal)
            alerts += self._quality_alerts(feature, column, batch)
        if self.joint is not None:
            self._extend(alerts, statuses, self.joint.observe(matrix, np.arange(len(matrix)), batch))
        if self.anomalies is not None:
            self._extend(alerts, statuses, self._score_anomalies(events, matrix, batch))
        return alerts, statuses

    def _score_anomalies(self, events: Sequence[FeatureEvent | PredictionEvent], matrix: np.ndarray,
                         batch: Batch) -> Outputs:
        scorer = self.anomalies.detectors[HALF_SPACE_TREES]
        scorer.named([e.event_id for e in events])
        outputs = self.anomalies.observe(matrix, np.arange(len(matrix)), batch)
        if not np.isnan(scorer.rate):
            self.metrics.anomaly_rate.labels(self.config.model_id).set(scorer.rate)
        return outputs

    def _count_quality(self, name: str, column: Column) -> None:
        mid = self.config.model_id
        for counter, mask in ((self.metrics.missing, column.missing), (self.metrics.out_of_range, column.out_of_range),
                              (self.metrics.wrong_type, column.wrong_type)):
            if n := int(np.count_nonzero(mask)):
                counter.labels(mid, name).inc(n)

    def _count_unseen(self, name: str, signal: SignalMonitor) -> None:
        total = signal.unseen_total()
        if total > self._unseen_seen[name]:
            self.metrics.unseen_categories.labels(self.config.model_id, name).inc(total - self._unseen_seen[name])
        self._unseen_seen[name] = total

    def _quality_alerts(self, feature: FeatureConfig, column: Column, batch: Batch) -> list[DriftAlert]:
        alerts = []
        quality = self.quality[feature.name]
        for first, at, problem, rate in quality.observe(column, batch):
            if not self.cooldown.allow(feature.name, problem, at.time):
                continue
            alerts.append(build_alert(
                model_id=self.config.model_id, kind="data_quality", signal=feature.name, detector=problem,
                statistic=rate, threshold=quality.limit(problem), first=first, at=at, policy=self.policy,
                what=f"{problem.replace('_', ' ')} rate of '{feature.name}' is {rate:.1%} over {QUALITY_WINDOW} events"))
        return alerts

    # -- predictions ------------------------------------------------------------------------------
    def observe_predictions(self, events: Sequence[PredictionEvent], batch: Batch) -> Outputs:
        alerts: list[DriftAlert] = []
        statuses: list[SignalStatus] = []
        if self.config.features:
            # Only the events that carry inline features feed the feature monitors: the others
            # published their features on the features topic, or none at all.
            inline = [i for i, e in enumerate(events) if e.features]
            if inline:
                alerts, statuses = self.observe_features([events[i] for i in inline], batch.subset(inline))
        if self.config.prediction is None:
            return alerts, statuses
        times = [e.timestamp for e in events]
        versions, by_champion = self.versions.assign([e.model_version for e in events], times)
        for version in self.versions.dropped():
            self._forget_version(version)
        scopes = np.array(versions, dtype=object)
        for version in set(versions):
            self.metrics.version_events.labels(self.config.model_id, version).inc(versions.count(version))
        if self.estimate is not None:
            # Before the join: a label that came first calibrates with this prediction's score.
            self._extend(alerts, statuses, self._estimate_accuracy(events, versions, by_champion, batch))
        raw = [e.prediction for e in events]
        column = self._prediction_column(raw)
        self._extend(alerts, statuses, self.predictions.observe(scopes[column.rows], column.values, column.rows, batch,
                                                                Scope.of_version))
        segments = self._segments(events, by_champion)
        champion = self.versions.champion
        for k, key in enumerate(self.config.segments):
            mask = np.array([s is not None for s in segments], dtype=bool)[column.rows]
            rows = column.rows[mask]
            values = np.array([segments[r][k] for r in rows], dtype=object)
            self._extend(alerts, statuses, self.predictions.observe(
                values, column.values[mask], rows, batch, lambda v, key=key: Scope.of_segment(key, v, champion)))
        joined, siblings = self.join.add_predictions([e.event_id for e in events], raw, versions, times, segments)
        self._agree(siblings)
        self._extend(alerts, statuses, self._score(joined, batch))
        return alerts, statuses

    def _estimate_accuracy(self, events: Sequence[PredictionEvent], versions: list[str], by_champion: list[bool],
                           batch: Batch) -> Outputs:
        """The champion's scores: their bins wait for their labels, and each window's accuracy is estimated."""
        estimator = self.estimate.detectors[CONFIDENCE]
        alerts: list[DriftAlert] = []
        statuses: list[SignalStatus] = []
        rows = [i for i, yes in enumerate(by_champion) if yes]
        start = 0
        while start < len(rows):
            # A run of one champion: a new champion gets its own calibration, reference and window.
            version = versions[rows[start]]
            end = start
            while end < len(rows) and versions[rows[end]] == version:
                end += 1
            if version != estimator.version:
                estimator.restart(version)
            run = np.asarray(rows[start:end], dtype=np.int64)
            bins, usable = estimator.bins_of([events[i].score for i in run])
            run = run[usable]
            estimator.remember([events[i].event_id for i in run], bins)
            self._extend(alerts, statuses, self.estimate.observe(bins, run, batch))
            start = end
        if not np.isnan(estimator.estimate):
            self.metrics.estimated_accuracy.labels(self.config.model_id, estimator.version).set(estimator.estimate)
        return alerts, statuses

    def _prediction_column(self, raw: list) -> Column:
        if self.config.prediction.type == "numeric":
            return numeric_column(numeric_matrix([{"p": p} for p in raw], ["p"])[:, 0], _PREDICTION)
        return categorical_column(raw)

    def _segments(self, events: Sequence[PredictionEvent], by_champion: list[bool]) -> list[tuple | None]:
        """Per prediction of the champion: its value for each segment key (tracked, or "other"); else None."""
        keys = self.config.segments
        if not keys:
            return [None] * len(events)
        rows = [i for i, yes in enumerate(by_champion) if yes]
        columns = []
        for key in keys:
            raw = [_segment_value(events[i], key) for i in rows]
            mapped = self.segments[key].update(raw)
            for value in self.segments[key].evicted():
                self._forget_scope(Scope.of_segment(key, value, "").name)
            columns.append(mapped)
        out: list[tuple | None] = [None] * len(events)
        for j, i in enumerate(rows):
            out[i] = tuple(column[j] for column in columns)
        return out

    def _agree(self, siblings: list[Sibling]) -> None:
        """Shadow versions answering the same requests as the champion: how often they agree with it."""
        champion = self.versions.champion
        for s in siblings:
            other = s.version if s.other == champion else s.other if s.version == champion else None
            if other is not None and other != OTHER:
                self._agreement.setdefault(other, deque(maxlen=self.config.performance.window_events)).append(s.agree)
        for version, window in self._agreement.items():
            self.metrics.performance.labels(self.config.model_id, Scope.of_version(version).name,
                                            "agreement_with_champion").set(sum(window) / len(window))

    # -- labels -----------------------------------------------------------------------------------
    def observe_labels(self, events: Sequence[LabelEvent], batch: Batch) -> Outputs:
        if self.config.prediction is None:
            return [], []
        joined = self.join.add_labels([e.event_id for e in events], [e.label for e in events],
                                      [e.timestamp for e in events])
        return self._score(joined, batch)

    def _score(self, joined: list[Joined], batch: Batch) -> Outputs:
        """Joined pairs: label health, the error streams and performance per version and per segment,
        and every version compared with the champion."""
        alerts: list[DriftAlert] = []
        statuses: list[SignalStatus] = []
        mid = self.config.model_id
        expired = self.join.expire()
        self.metrics.predictions_unlabelled.labels(mid).inc(expired.unlabelled)
        self.metrics.labels_orphaned.labels(mid).inc(expired.orphaned)
        if self.join.coverage is not None:
            self.metrics.label_coverage.labels(mid).set(self.join.coverage)
        if not joined:
            return alerts, statuses
        self.metrics.labels_joined.labels(mid).inc(len(joined))
        for j in joined:
            self.metrics.label_lag.labels(mid).observe(max(0.0, (j.labelled_at - j.predicted_at).total_seconds()))
        rows = np.array([j.row for j in joined], dtype=np.int64)
        predictions = [j.prediction for j in joined]
        labels = [j.label for j in joined]
        if self.config.prediction.type == "categorical":
            correct = np.array([same(p, y) for p, y in zip(predictions, labels)], dtype=bool)
            errors = (~correct).astype(float)
        else:
            errors = residuals(predictions, labels)
            correct = None
        versions = np.array([j.version for j in joined], dtype=object)
        self._extend(alerts, statuses, self.errors.observe(versions, errors, rows, batch, Scope.of_version))
        self._perform(versions, predictions, labels, joined, Scope.of_version)
        champion = self.versions.champion
        for k, key in enumerate(self.config.segments):
            chosen = [i for i, j in enumerate(joined) if j.segment is not None]
            values = np.array([joined[i].segment[k] for i in chosen], dtype=object)
            scope_of = (lambda v, key=key: Scope.of_segment(key, v, champion))
            self._extend(alerts, statuses, self.errors.observe(values, errors[chosen], rows[chosen], batch, scope_of))
            self._perform(values, [predictions[i] for i in chosen], [labels[i] for i in chosen],
                          [joined[i] for i in chosen], scope_of)
        if correct is not None:
            self._extend(alerts, statuses, self._compare(joined, correct, batch))
        if self.challenger is not None:
            self._extend(alerts, statuses, self._challenge(joined, batch))
        if self.estimate is not None:
            self.estimate.detectors[CONFIDENCE].calibrate(joined)
        return alerts, statuses

    def _challenge(self, joined: list[Joined], batch: Batch) -> Outputs:
        """The live challenger learns from the champion's labelled events; its error beside production's."""
        challenger = self.challenger.detectors[CHALLENGER]
        outcomes, rows = challenger.join(joined, self.versions.champion)
        outputs = self.challenger.observe(outcomes, rows, batch)
        production, mine = challenger.error_rates
        if not np.isnan(production):
            self.metrics.performance.labels(self.config.model_id, "all", "production_error_rate").set(production)
            self.metrics.performance.labels(self.config.model_id, "all", "challenger_error_rate").set(mine)
        return outputs

    def _perform(self, scopes: np.ndarray, predictions: list, labels: list, joined: list[Joined], scope_of) -> None:
        mid = self.config.model_id
        for key in sorted(set(scopes.tolist()), key=str):
            chosen = np.flatnonzero(scopes == key)
            scope = scope_of(key)
            perf = self.performance.get(scope.name)
            if perf is None:
                perf = self.performance[scope.name] = self._new_performance()
            perf.update([predictions[i] for i in chosen], [labels[i] for i in chosen],
                        [joined[i].labelled_at for i in chosen])
            self._publish_performance(mid, scope, perf)

    def _publish_performance(self, mid: str, scope: Scope, perf) -> None:
        for window, summary in perf.summary().items():
            suffix = "" if window == "events" else "_time"
            gauge = self.metrics.performance
            if isinstance(perf, RegressionPerformance):
                for name in ("mae", "rmse", "bias"):
                    gauge.labels(mid, scope.name, name + suffix).set(getattr(summary, name))
                continue
            gauge.labels(mid, scope.name, "accuracy" + suffix).set(summary.accuracy)
            gauge.labels(mid, scope.name, "macro_f1" + suffix).set(summary.macro_f1)
            if summary.positive is not None:
                for name in ("precision", "recall", "f1"):
                    gauge.labels(mid, scope.name, f"positive_{name}{suffix}").set(getattr(summary.positive, name))
            if window == "events":
                if scope.segment is None:
                    self.metrics.accuracy.labels(mid, scope.version).set(summary.accuracy)
                for cls, scores in summary.classes.items():
                    for name in ("precision", "recall", "f1", "support"):
                        self.metrics.class_performance.labels(mid, scope.name, cls, name).set(getattr(scores, name))

    def _compare(self, joined: list[Joined], correct: np.ndarray, batch: Batch) -> Outputs:
        """Each version against the champion: on the same requests when both answered them (shadow),
        else each of its outcomes paired with the champion's latest (canary; valid when outcomes are
        independent). A discordant pair is a fair coin when they err alike."""
        champion = self.versions.champion
        if champion != self._compared_with:
            # A new champion: the comparisons so far were with the old one.
            self.comparisons, self._compared_since, self._champion_outcomes = {}, {}, {}
            self._compared_with = champion
        by_event: dict[str, dict[str, int]] = {}
        for i, j in enumerate(joined):
            by_event.setdefault(j.event_id, {})[j.version] = i
        pairs: dict[str, tuple[list[bool], list[bool], list[int]]] = {}
        for i, j in enumerate(joined):
            if j.version in (champion, OTHER):
                if j.version == champion:
                    for window in self._champion_outcomes.values():
                        window.append(bool(correct[i]))
                continue
            mine = by_event[j.event_id]
            if champion in mine:
                key, theirs = f"shadow:{Scope.of_version(j.version).name}", bool(correct[mine[champion]])
            else:
                window = self._champion_outcomes.setdefault(j.version, deque(maxlen=1000))
                if not window:
                    continue
                key, theirs = Scope.of_version(j.version).name, window.pop()
            champ, chall, where = pairs.setdefault(key, ([], [], []))
            champ.append(theirs)
            chall.append(bool(correct[i]))
            where.append(j.row)
        alerts, statuses = [], []
        for key, (champ, chall, where) in sorted(pairs.items()):
            test = self.comparisons.get(key)
            if test is None:
                test = self.comparisons[key] = PairedComparison(alpha=self.config.versions.compare_alpha)
                self._compared_since[key] = batch.ref(where[0])
            before = test.summary()
            verdict = test.update(np.array(champ), np.array(chall))
            if verdict.concluded:
                # Rates up to the concluding pair, not the batch's end: the same whatever the batching.
                n = verdict.position + 1
                rates = tuple((round(rate * before.pairs) if before.pairs else 0) + n - sum(outcomes[:n])
                              for rate, outcomes in ((before.champion_error_rate, champ),
                                                     (before.challenger_error_rate, chall)))
                self._extend(alerts, statuses, self._worse_than_champion(
                    key, verdict, [r / verdict.pairs for r in rates], batch.ref(where[verdict.position])))
        return alerts, statuses

    def _worse_than_champion(self, key: str, verdict, rates: list[float], at) -> Outputs:
        shadow = key.startswith("shadow:")
        version = key.removeprefix("shadow:").removeprefix("version=")
        how = "on the same requests" if shadow else "on its own requests"
        alert = build_alert(
            model_id=self.config.model_id, kind="performance", signal="errors_vs_champion",
            detector="paired_test" if shadow else "sequential_test", statistic=verdict.statistic,
            threshold=verdict.threshold, first=self._compared_since.get(key, at), at=at, policy=self.policy,
            scope=Scope.of_version(version),
            what=(f"version {version} of {self.config.model_id} errs more than the champion "
                  f"{self.versions.champion} {how} ({rates[1]:.1%} vs {rates[0]:.1%} over {verdict.pairs} pairs)"))
        status = SignalStatus(model_id=alert.model_id, signal=alert.signal, scope=f"version={version}",
                              kind="performance", state="drifting", since=at.time, detector=alert.detector,
                              statistic=alert.statistic, threshold=alert.threshold, alert_id=alert.alert_id)
        return [alert], [status]

    # -- bounded scopes ---------------------------------------------------------------------------
    def _forget_version(self, version: str) -> None:
        scope = Scope.of_version(version).name
        self._forget_scope(scope)
        for key in (scope, f"shadow:{scope}"):
            self.comparisons.pop(key, None)
            self._compared_since.pop(key, None)
        self._champion_outcomes.pop(version, None)
        self._agreement.pop(version, None)

    def _forget_scope(self, scope_name: str) -> None:
        if self.config.prediction is not None:
            self.predictions.drop(scope_name)
            self.errors.drop(scope_name)
        self.performance.pop(scope_name, None)

    @staticmethod
    def _extend(alerts: list, statuses: list, outputs: Outputs) -> None:
        alerts += outputs[0]
        statuses += outputs[1]

    # -- checkpoints ------------------------------------------------------------------------------
    def _profile_ids(self) -> dict:
        return {version: (p.key, p.built_at) for version, p in self._profiles.items()}

    def state(self) -> dict[str, Any]:
        """Everything learned from the stream, as plain picklable data."""
        state = {
            "profiles": self._profile_ids(),
            "features": {k: m.state_dict() for k, m in self.features.items()},
            "quality": {k: q.state() for k, q in self.quality.items()},
            "cooldown": self.cooldown.state(),
            "join": self.join.state(),
            "versions": self.versions.state(),
            "segments": {k: t.state() for k, t in self.segments.items()},
            "performance": {k: (type(p).__name__, p.state()) for k, p in self.performance.items()},
            "comparisons": {k: (c.state(), self._compared_since.get(k)) for k, c in self.comparisons.items()},
            "champion_outcomes": {k: list(v) for k, v in self._champion_outcomes.items()},
            "compared_with": self._compared_with,
            "agreement": {k: list(v) for k, v in self._agreement.items()},
        }
        state |= {key: signal.state_dict() for key, signal in self._model_signals().items()}
        if self.config.prediction is not None:
            state["predictions"] = self.predictions.state()
            state["errors"] = self.errors.state()
        return state

    def load(self, state: dict[str, Any]) -> None:
        # Detectors compare with the profile they were built with: a newly published profile starts them afresh.
        same_profiles = state["profiles"] == self._profile_ids()
        if not same_profiles:
            log.info("model %s: its reference profiles changed since the snapshot; drift detectors start afresh",
                     self.config.model_id)
        for key, signal_state in state["features"].items():
            if key in self.features and same_profiles:
                self.features[key].load(signal_state)
        for key, quality_state in state["quality"].items():
            if key in self.quality:
                self.quality[key].load(quality_state)
        for key, signal in self._model_signals().items():
            if key in state:
                signal.load(state[key])
        self.cooldown.load(state["cooldown"])
        self.join.load(state["join"])
        self.versions.load(state["versions"])
        for key, top_state in state["segments"].items():
            if key in self.segments:
                self.segments[key].load(top_state)
        if self.config.prediction is not None and "predictions" in state:
            if same_profiles:
                self.predictions.load(state["predictions"])
            self.errors.load(state["errors"])
            wanted = type(self._new_performance()).__name__
            self.performance = {}
            for key, (kind, perf_state) in state["performance"].items():
                if kind == wanted:
                    perf = self.performance[key] = self._new_performance()
                    perf.load(perf_state)
            for key, (test_state, since) in state["comparisons"].items():
                test = self.comparisons[key] = PairedComparison(alpha=self.config.versions.compare_alpha)
                test.load(test_state)
                self._compared_since[key] = since
            self._champion_outcomes = {k: deque(v, maxlen=1000) for k, v in state["champion_outcomes"].items()}
            self._compared_with = state["compared_with"]
            window = self.config.performance.window_events
            self._agreement = {k: deque(v, maxlen=window) for k, v in state["agreement"].items()}
        self._unseen_seen = {name: signal.unseen_total() for name, signal in self.features.items()}

    def _new_performance(self):
        settings = self.config.performance
        if self.config.prediction.type == "categorical":
            return ClassificationPerformance(settings.window_events, settings.window_seconds,
                                             self.config.prediction.positive_class, settings.max_classes)
        return RegressionPerformance(settings.window_events, settings.window_seconds)


def _segment_value(event: PredictionEvent, key: str) -> str:
    """A prediction's value of a segment key: from its segment, else its inline features; "unknown" if absent."""
    value = (event.segment or {}).get(key)
    if value is None and event.features:
        value = event.features.get(key)
    return "unknown" if value is None else category(value)

"""The service configuration: one YAML file, frozen pydantic models, STREAMDRIFT_ env overrides."""

from __future__ import annotations

import math
import os
import re
import socket
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .errors import ConfigError

ENV_PREFIX = "STREAMDRIFT_"
ENV_NESTING = "__"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaConfig(_Frozen):
    bootstrap_servers: str = "localhost:9092"
    client_id: str = "streamdrift"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    request_timeout_ms: int = Field(30_000, ge=1_000)

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConfig:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, sasl_username "
                "and sasl_password (set the password with STREAMDRIFT_KAFKA__SASL_PASSWORD)"
            )
        return self


class TopicsConfig(_Frozen):
    features: str = "streamdrift.features"
    predictions: str = "streamdrift.predictions"
    labels: str = "streamdrift.labels"
    alerts: str = "streamdrift.alerts"
    dead_letter: str = "streamdrift.dead-letter"
    state: str = "streamdrift.state"
    # Compacted: a model's reference profiles (key model_id/version), every signal's current state (key model/signal).
    references: str = "streamdrift.references"
    status: str = "streamdrift.status"
    # features, predictions and labels share one partition count so a model's streams co-partition.
    partitions: int = Field(6, ge=1, le=10_000)
    replication_factor: int = Field(1, ge=1, le=7)

    def of_role(self, role: str) -> str:
        """The topic of a role of stream.events.EVENT_TYPES ("features", ..., "alerts")."""
        return getattr(self, role)

    def data_roles(self) -> dict[str, str]:
        """topic -> role, for the topics the service consumes."""
        from .events import DATA_ROLES

        return {self.of_role(role): role for role in DATA_ROLES}


class ConsumerConfig(_Frozen):
    group_id: str = "streamdrift"
    # Larger polls and fetches: the per-poll cost of each model's detectors is shared by more events, and
    # one fetch response feeds several polls (docs/scaling.md: 1.27x the events/s of 5,000 and 1 MiB).
    max_poll_records: int = Field(20_000, ge=1)
    # Kafka's max.partition.fetch.bytes (at least twice max_message_bytes, so an oversized event still
    # arrives to be dead-lettered). A fetch holds up to this much per partition, within kafka-python's 50 MiB.
    max_partition_fetch_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    poll_timeout_ms: int = Field(500, ge=10)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_message_bytes: int = Field(1_000_000, ge=64, description="Larger events are dead-lettered.")
    # Kafka's fetch.min.bytes / fetch.max.wait.ms: the broker answers a fetch once this much is there, or
    # after the wait. Each poll costs a fixed few dozen numpy calls per model and feature it touches, so
    # an instance of many models with little traffic each does far less work per event in fewer,
    # larger batches (docs/scaling.md); the wait is added to the alert latency at low traffic.
    fetch_min_bytes: int = Field(1, ge=1)
    fetch_max_wait_ms: int = Field(500, ge=0)
    # exactly_once needs a broker with transactions (any Apache Kafka); at_least_once works everywhere.
    delivery: Literal["exactly_once", "at_least_once"] = "exactly_once"
    # Names this instance's transactional producer: stable across restarts so a restart fences and
    # aborts what a crashed predecessor left open. Give each instance on one host its own.
    instance_id: str = Field(default_factory=lambda: socket.gethostname(), min_length=1)
    transaction_timeout_ms: int = Field(30_000, ge=1_000)
    # Static membership (group.instance.id = instance_id): a restarted instance takes its partitions
    # straight back; a vanished one hands them over after this long.
    session_timeout_ms: int = Field(10_000, ge=6_000)

    def fetch_bytes_per_partition(self) -> int:
        """max_partition_fetch_bytes, raised so that an oversized event still arrives to be dead-lettered."""
        return max(self.max_partition_fetch_bytes, self.max_message_bytes * 2)


DetectorKind = Literal["ks", "adwin", "page_hinkley", "categorical", "ddm", "hddm_w"]


class DetectorConfig(_Frozen):
    kind: DetectorKind
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _params_accepted(self) -> DetectorConfig:
        # Build one now so a bad parameter is refused by check-config, not by the running service.
        import detectors

        detectors.create(self.kind, **self.params)
        return self


def _detectors(*kinds: str) -> tuple[DetectorConfig, ...]:
    # Defaults with default parameters, not validated by building one: building a ddm imports River's
    # drift package and with it scipy (0.7 s of every start-up, even for configurations that use no River).
    return tuple(DetectorConfig.model_construct(kind=kind, params={}) for kind in kinds)


NUMERIC_DEFAULT = _detectors("ks")
CATEGORICAL_DEFAULT = _detectors("categorical")
ERROR_RATE_DEFAULT = _detectors("ddm")
RESIDUAL_DEFAULT = _detectors("ks")


class FeatureConfig(_Frozen):
    name: str = Field(min_length=1)
    type: Literal["numeric", "categorical"] = "numeric"
    detectors: tuple[DetectorConfig, ...] | None = None
    # Values outside [min, max] are data-quality events, counted and alerted on, never fed to drift.
    min: float | None = None
    max: float | None = None
    # Alert when, over a window of 1,000 events, more are absent / unusable (out of range, wrong type).
    max_missing_rate: float = Field(0.05, ge=0, le=1)
    max_invalid_rate: float = Field(0.01, ge=0, le=1)

    @property
    def detector_configs(self) -> tuple[DetectorConfig, ...]:
        if self.detectors is not None:
            return self.detectors
        return NUMERIC_DEFAULT if self.type == "numeric" else CATEGORICAL_DEFAULT

    @model_validator(mode="after")
    def _range_ordered(self) -> FeatureConfig:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max}): swap them")
        return self


class PredictionConfig(_Frozen):
    type: Literal["numeric", "categorical"] = "numeric"
    detectors: tuple[DetectorConfig, ...] | None = None
    # Concept drift: categorical predictions feed 0/1 errors to a binary detector; numeric ones feed
    # residuals (label - prediction) to a numeric detector. None: the default for the type.
    error_detectors: tuple[DetectorConfig, ...] | None = None
    # Binary classification: precision, recall and F1 of this class are reported besides per-class ones.
    positive_class: str | None = None

    @property
    def detector_configs(self) -> tuple[DetectorConfig, ...]:
        if self.detectors is not None:
            return self.detectors
        return NUMERIC_DEFAULT if self.type == "numeric" else CATEGORICAL_DEFAULT

    @property
    def error_detector_configs(self) -> tuple[DetectorConfig, ...]:
        if self.error_detectors is not None:
            return self.error_detectors
        return ERROR_RATE_DEFAULT if self.type == "categorical" else RESIDUAL_DEFAULT

    @model_validator(mode="after")
    def _errors_fit_the_type(self) -> PredictionConfig:
        binary = {"ddm", "hddm_w"}
        for i, detector in enumerate(self.error_detectors or ()):
            if self.type == "numeric" and detector.kind in binary:
                raise ValueError(f"error_detectors[{i}]: kind {detector.kind} watches 0/1 errors, but numeric "
                                 "predictions give residuals: use a numeric kind such as ks or page_hinkley")
            if self.type == "categorical" and detector.kind not in binary | {"adwin", "page_hinkley"}:
                raise ValueError(f"error_detectors[{i}]: kind {detector.kind} does not fit a 0/1 error stream: "
                                 "use ddm, hddm_w, adwin or page_hinkley")
        return self


class VersionsConfig(_Frozen):
    # The version the others are compared with; None: the version with the most traffic so far.
    champion: str | None = None
    # Versions watched side by side; more at once share one "other" monitor until one goes idle.
    max_live: int = Field(8, ge=1, le=100)
    # A version with no event for this long (event time) is dropped, and its slot freed.
    idle_seconds: float = Field(7 * 86_400, gt=0)
    # False-alarm probability, over the whole stream, of "this version errs more than the champion".
    compare_alpha: float = Field(1e-4, gt=0, lt=0.5)


class LabelsConfig(_Frozen):
    # A prediction waits this long (event time) for its label; unlabelled after it, it counts against coverage.
    ttl_seconds: float = Field(7 * 86_400, gt=0)
    max_pending: int = Field(100_000, ge=1)


class PerformanceConfig(_Frozen):
    window_events: int = Field(1_000, ge=10)
    window_seconds: float | None = Field(None, gt=0)
    max_classes: int = Field(50, ge=2, le=1_000)


def _check_false_alarms_rare(events_per_window: float, arl: float) -> None:
    """A test per window, alarming falsely about once every `arl` events, does so in `events_per_window / arl`
    of the windows: more than one in 20 is refused (the domain classifier's and the anomaly scorer's tests)."""
    if events_per_window / arl > 0.05:
        raise ValueError(f"a test window spans about {events_per_window:.0f} events, so arl {arl:g} "
                         f"allows a false alarm in {events_per_window / arl:.0%} of windows: raise arl "
                         f"to at least {events_per_window * 20:.0f}")


class DomainClassifierConfig(_Frozen):
    """Multivariate drift: an online River logistic regression tells reference events from current ones."""

    # The first this-many events (with a numeric feature) are the reference; after a drift, the next ones.
    reference_events: int = Field(2_000, ge=100, le=50_000)
    # Share of the events the classifier scores and learns from (a seeded draw per event): its cost.
    sample_rate: float = Field(0.05, gt=0, le=1)
    # Scored pairs (a current event against a held-out reference event) per test window.
    window_pairs: int = Field(250, ge=20, le=100_000)
    # Mean number of events between false alarms on a stable stream (as the ks detector's arl).
    arl: float = Field(1e7, ge=1e3, le=1e12)
    learning_rate: float = Field(0.05, gt=0, le=10)
    # Products of every pair of numeric features (and squares) as inputs: a change in how features move
    # together (a flipped correlation) is a change in their product's mean, which a linear model sees.
    pairwise: bool = True
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _window_can_alarm_rarely(self) -> DomainClassifierConfig:
        _check_false_alarms_rare(self.window_pairs / self.sample_rate, self.arl)
        return self


class ChallengerConfig(_Frozen):
    """A River model learning prequentially from joined features and labels, its error beside production's."""

    model: Literal["hoeffding_adaptive_tree", "adaptive_random_forest"] = "hoeffding_adaptive_tree"
    # Alert when, over a window of this many labelled champion predictions, production's error rate
    # exceeds the challenger's by `margin` or more (tumbling windows).
    window_labels: int = Field(1_000, ge=50, le=1_000_000)
    margin: float = Field(0.05, gt=0, lt=1)
    # Share of events (chosen by a hash of event_id) whose features wait for their label and train it:
    # a tree learns in about 200 us, so learning from every label would cost most of the throughput.
    sample_rate: float = Field(0.05, gt=0, le=1)
    # Feature rows waiting for their label; the oldest go first (they are in every snapshot).
    max_pending: int = Field(10_000, ge=100, le=1_000_000)
    # Memory cap of the River model (River's own estimate; the forest shares it among its trees): it bounds
    # the snapshot too (measured in docs/river.md).
    max_size_mb: float = Field(2.0, gt=0, le=100)
    seed: int = Field(0, ge=0)


class EstimatedAccuracyConfig(_Frozen):
    """The champion's accuracy estimated from its confidence (each prediction's score), calibrated by the labels."""

    # Predictions per tumbling window; the first window with a score is the reference.
    window: int = Field(1_000, ge=100, le=1_000_000)
    # Alert when a window's estimated accuracy is this far below the reference's.
    margin: float = Field(0.05, gt=0, lt=1)
    # Equal bins of the score in [0, 1], each calibrated by the labels of its predictions.
    bins: int = Field(20, ge=2, le=200)
    # Share of predictions (chosen by a hash of event_id) whose bin waits for its label to calibrate it.
    sample_rate: float = Field(0.2, gt=0, le=1)
    # Predictions waiting for their label; the oldest go first (they are in every snapshot): with labels
    # L predictions late, sample_rate * L should stay below it.
    max_pending: int = Field(20_000, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _margin_above_the_noise(self) -> EstimatedAccuracyConfig:
        # Two window means of values in [0, 1] differ by chance by at most 0.5 * sqrt(2 / window) (one sd):
        # a margin under two of those would alarm on noise.
        noise = 0.5 * math.sqrt(2 / self.window)
        if self.margin < 2 * noise:
            raise ValueError(f"margin {self.margin:g} is within the noise of two windows of {self.window} "
                             f"predictions (up to {2 * noise:.3f}): raise margin, or raise window to at least "
                             f"{math.ceil(2 / self.margin ** 2)}")
        return self


class AnomalyConfig(_Frozen):
    """River's HalfSpaceTrees (behind min-max scaling) scores a sample of the events; a binomial test watches how
    many score above the reference's quantile."""

    # Share of the events (a seeded draw per event) that are scored: its cost.
    sample_rate: float = Field(0.1, gt=0, le=1)
    # The first this-many picked events set the min-max scaling and are the trees' mass (HalfSpaceTrees'
    # window_size); the trees then stop learning, so that a burst of outliers is never learned as normal.
    warm_up: int = Field(1_000, ge=100, le=100_000)
    # The next this-many scores are the reference: an event is anomalous when its score is above their
    # `quantile` (on a stable stream, about 1 - quantile of the events are: streamdrift_anomaly_rate).
    reference: int = Field(4_000, ge=500, le=1_000_000)
    quantile: float = Field(0.99, ge=0.5, lt=1)
    # Scored events per test window (tumbling); an alert names the `top_ids` highest-scored events of the
    # window that fired.
    window: int = Field(1_000, ge=100, le=1_000_000)
    top_ids: int = Field(10, ge=1, le=100)
    # Mean number of events between false alarms on a stable stream (as the ks detector's arl).
    arl: float = Field(1e7, ge=1e3, le=1e12)
    trees: int = Field(10, ge=1, le=100)
    height: int = Field(8, ge=2, le=16)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _reference_and_window_suffice(self) -> AnomalyConfig:
        above = (1 - self.quantile) * self.reference
        if above < 20:
            raise ValueError(f"quantile {self.quantile:g} of a reference of {self.reference} scores rests on "
                             f"{above:.0f} of them (at least 20 are needed): lower quantile, or raise reference to "
                             f"at least {math.ceil(20 / (1 - self.quantile))}")
        _check_false_alarms_rare(self.window / self.sample_rate, self.arl)
        return self


class RiverConfig(_Frozen):
    """Online River models of one monitored model, each opt-in."""

    domain_classifier: DomainClassifierConfig | None = None
    challenger: ChallengerConfig | None = None
    estimated_accuracy: EstimatedAccuracyConfig | None = None
    anomalies: AnomalyConfig | None = None


def _check_unique(names: list[str], what: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(repeated)}")


class ModelConfig(_Frozen):
    model_id: str = Field(min_length=1)
    features: tuple[FeatureConfig, ...] = ()
    prediction: PredictionConfig | None = None
    # training: compare with the model's published reference profile from the first event, and keep
    # comparing after an alarm (a lasting drift stays drifting); rolling: the first values serve, and
    # after an alarm the values that follow become the new reference.
    reference: Literal["rolling", "training"] = "rolling"
    # Prediction drift, error rate and performance are also watched per value of these segment keys
    # (read from the prediction event's segment, or its inline features), on the champion's traffic.
    segments: tuple[str, ...] = ()
    segment_top_k: int = Field(20, ge=1, le=1_000)
    versions: VersionsConfig = VersionsConfig()
    labels: LabelsConfig = LabelsConfig()
    performance: PerformanceConfig = PerformanceConfig()
    river: RiverConfig = RiverConfig()

    @model_validator(mode="after")
    def _river_models_have_their_inputs(self) -> ModelConfig:
        if self.river.domain_classifier is not None and not any(f.type == "numeric" for f in self.features):
            raise ValueError("river.domain_classifier learns from numeric features, and this model has none: "
                             "add a numeric feature or remove river.domain_classifier")
        if self.river.anomalies is not None and not any(f.type == "numeric" for f in self.features):
            raise ValueError("river.anomalies scores the numeric features, and this model has none: "
                             "add a numeric feature or remove river.anomalies")
        if self.river.challenger is not None and (not self.features or self.prediction is None
                                                  or self.prediction.type != "categorical"):
            raise ValueError("river.challenger learns a classifier from features and labels: it needs features and "
                             "a prediction section of type categorical")
        if self.river.estimated_accuracy is not None and (self.prediction is None
                                                          or self.prediction.type != "categorical"):
            raise ValueError("river.estimated_accuracy estimates how often predicted classes are right: it needs a "
                             "prediction section of type categorical (and a score on each prediction)")
        return self

    @model_validator(mode="after")
    def _segments_need_predictions(self) -> ModelConfig:
        if self.segments and self.prediction is None:
            raise ValueError("segments slice the predictions, and this model has no prediction section: add one")
        return self

    @field_validator("features")
    @classmethod
    def _unique_features(cls, features: tuple[FeatureConfig, ...]) -> tuple[FeatureConfig, ...]:
        _check_unique([f.name for f in features], "feature names")
        return features


class CheckpointConfig(_Frozen):
    # Whichever comes first; on a crash, at most this much is replayed from the last snapshot. Each
    # checkpoint costs a snapshot of every partition held and a transaction's round trips, so a busy service
    # is paced by the interval (100,000 events: 2 s at 50,000 events/s; docs/scaling.md).
    every_events: int = Field(100_000, ge=1)
    every_seconds: float = Field(2.0, gt=0)
    # Under exactly_once an alert becomes visible when its checkpoint commits: a checkpoint follows an alert
    # within this long (0: at the end of the batch that found it), so alerts do not wait for every_seconds.
    # At every_seconds or more, alerts wait for the regular checkpoint.
    alert_seconds: float = Field(0.0, ge=0)
    # Also as soon as a poll finds nothing new (the input quiet for consumer.poll_timeout_ms): when a burst or
    # a backlog is done, its alerts and offsets commit then rather than up to every_seconds later. Polls that
    # keep finding records never trigger it, so a busy service checkpoints no more often than before.
    when_idle: bool = True


class AlertPolicy(_Frozen):
    cooldown_seconds: float = Field(300.0, ge=0, description="Event-time quiet period of a data-quality problem "
                                                             "after its alert.")
    critical_ratio: float = Field(2.0, gt=1, description="statistic/threshold at or above which an alert is critical.")
    # A drifting signal is resolved once its detectors have been quiet for this many of its values
    # (hysteresis: a kept reference re-alarms about once per window while the drift lasts).
    resolve_after_values: int = Field(3_000, ge=1)


class MetricsConfig(_Frozen):
    host: str = "0.0.0.0"
    port: int = Field(9108, ge=0, le=65535)


class Config(_Frozen):
    kafka: KafkaConfig = KafkaConfig()
    topics: TopicsConfig = TopicsConfig()
    consumer: ConsumerConfig = ConsumerConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    models: tuple[ModelConfig, ...]
    alerts: AlertPolicy = AlertPolicy()
    metrics: MetricsConfig = MetricsConfig()

    @model_validator(mode="after")
    def _transactions_outlive_checkpoints(self) -> Config:
        # A transaction stays open from the first alert after a checkpoint until the next one.
        needed = 2_000 * self.checkpoint.every_seconds
        if self.consumer.delivery == "exactly_once" and self.consumer.transaction_timeout_ms < needed:
            raise ValueError(
                f"consumer.transaction_timeout_ms ({self.consumer.transaction_timeout_ms}) must be at least twice "
                f"checkpoint.every_seconds ({self.checkpoint.every_seconds} s): set it to {needed:.0f} or more, "
                "or checkpoint more often")
        return self

    @field_validator("models")
    @classmethod
    def _unique_models(cls, models: tuple[ModelConfig, ...]) -> tuple[ModelConfig, ...]:
        if not models:
            raise ValueError("at least one model is needed: add an entry with a model_id and its features")
        _check_unique([m.model_id for m in models], "model_id")
        return models

    def model(self, model_id: str) -> ModelConfig | None:
        return next((m for m in self.models if m.model_id == model_id), None)

    def detector_configs(self) -> list[DetectorConfig]:
        """Every detector configuration of every model, once each (in order of first appearance)."""
        seen: dict[str, DetectorConfig] = {}
        for model in self.models:
            configs = [c for f in model.features for c in f.detector_configs]
            if model.prediction:
                configs += [*model.prediction.detector_configs, *model.prediction.error_detector_configs]
            for c in configs:
                seen.setdefault(c.model_dump_json(), c)
        return list(seen.values())


def apply_env_overrides(raw: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, Any]:
    """STREAMDRIFT_KAFKA__BOOTSTRAP_SERVERS=host:9092 sets kafka.bootstrap_servers, and so on.

    Only variables naming a known section count, so unrelated STREAMDRIFT_* variables are left alone.
    """
    environ = os.environ if environ is None else environ
    sections = set(Config.model_fields)
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX):].lower().split(ENV_NESTING)
        if len(path) < 2 or path[0] not in sections:
            continue
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = _load(value) if value else value
    return raw


class _Loader(yaml.SafeLoader):
    """YAML 1.2 floats: PyYAML follows YAML 1.1, which reads `1e7` (no dot, no exponent sign) as a string,
    and `arl: 1e7` is how people write it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node of loc that the YAML file has."""
    node, line = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(text: str, source: str = "<config>", environ: dict[str, str] | None = None) -> Config:
    """Parse and validate; every problem is reported at once with its path (and line) in the file."""
    try:
        raw = _load(text) or {}
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [("(file)", f"not valid YAML: {exc}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, [("(top level)", "expected a mapping with at least a 'models' section")])
    raw = apply_env_overrides(raw, environ)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # pydantic puts the union member tag into loc (e.g. 'literal[...]'); the user never wrote it.
            loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p))
            line = _line_of(root, loc)
            where = _format_loc(loc) + (f" (line {line})" if line else "")
            got = err.get("input")
            detail = err["msg"].removeprefix("Value error, ")
            if err["type"] not in ("missing",) and not isinstance(got, (dict, list)):
                detail += f" (got {got!r})" if "password" not in where else " (got ***)"
            errors.append((where, detail))
        raise ConfigError(source, errors) from None


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc.strerror}")]) from None
    return parse_config(text, str(path), environ)

"""Building a reference profile: one pass over a model's events, bounded memory, the same input giving the same profile.

Values are read as the monitor service reads them: in a numeric signal JSON true/false count as 1/0, text is
the wrong type and values outside the feature's min/max are out of range (neither is fed to a detector, so
neither joins the reference); a categorical value is its string ("true"/"false" for booleans). How each
signal is summarised: `stream.profile_signals`.

>>> from datetime import datetime, timezone
>>> from stream.config import ModelConfig
>>> from stream.events import FeatureEvent
>>> model = ModelConfig(model_id="m", features=[{"name": "x"}, {"name": "colour", "type": "categorical"}])
>>> at = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> events = [FeatureEvent(event_id=str(i), model_id="m", timestamp=at,
...                        features={"x": i % 7, "colour": ["red", "blue"][i % 2]}) for i in range(100)]
>>> profile = build_profile(model, events, built_at=at)
>>> profile.signals["x"].count, profile.signals["x"].quantiles[:5], profile.signals["x"].max
(100, (0.0, 0.0, 0.0, 0.0, 0.0), 6.0)
>>> profile.reference_for("colour")
{'blue': 50, 'red': 50}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np

from .codec_fast import model_of
from .config import ModelConfig
from .events import FeatureEvent, PredictionEvent
from .history_schema import HistoryRecord, RejectedRow, Source
from .profile import MAX_QUANTILES, PREDICTION, ProfileError, ProfileSource, ReferenceProfile, expected_signals
from .profile_signals import CategoricalSignal, NumericSignal
from .values import numeric_matrix

DEFAULT_SAMPLE = 100_000     # values per numeric signal the quantiles come from (800 kB each while building)
MIN_VALUES = 20              # the smallest reference a detector takes
MAX_CATEGORIES = 10_000      # more distinct values than this is an identifier, not a category
BATCH = 4_096                # events summarised at a time
UNVERSIONED = "unversioned"  # PredictionEvent's model_version when none was given

Item = HistoryRecord | RejectedRow | FeatureEvent | PredictionEvent


def build_profile(model: ModelConfig, records: Iterable[Item], *, version: str | None = None,
                  source: ProfileSource | None = None, sample_size: int = DEFAULT_SAMPLE, seed: int = 0,
                  wrong_type: Literal["refuse", "count"] = "refuse", columns: Callable[[str], str] | None = None,
                  built_at: datetime | None = None) -> ReferenceProfile:
    """The profile of `model` over `records`: what `stream.history` yields (HistoryRecord and RejectedRow items),
    or bare FeatureEvent and PredictionEvent objects. Events of other models, labels and rejected rows are
    skipped; with `version`, so are predictions of another version (those without one count).

    `wrong_type="refuse"` raises ProfileError at the first text in a numeric signal, naming the row;
    "count" counts it as the service does. `columns` names a signal's column in messages.
    """
    builder = ProfileBuilder(model, version=version, sample_size=sample_size, seed=seed, wrong_type=wrong_type,
                             columns=columns)
    builder.add(records)
    return builder.finish(source or ProfileSource(kind="files"), built_at=built_at)


class ProfileBuilder:
    """Accumulates a model's signals over batches of events; `finish()` checks them and returns the profile."""

    def __init__(self, model: ModelConfig, *, version: str | None = None, sample_size: int = DEFAULT_SAMPLE,
                 seed: int = 0, wrong_type: Literal["refuse", "count"] = "refuse",
                 columns: Callable[[str], str] | None = None, on_reject: Callable[[RejectedRow], None] | None = None):
        if sample_size < MAX_QUANTILES:
            raise ValueError(f"sample_size={sample_size} is invalid; it must be at least {MAX_QUANTILES}")
        if model.prediction is not None and any(f.name == PREDICTION for f in model.features):
            raise ProfileError(f"model {model.model_id!r} has a feature named {PREDICTION!r} and a prediction: a "
                               f"profile names the prediction's signal {PREDICTION!r}, so rename the feature")
        self.model, self.version, self.wrong_type, self.on_reject = model, version, wrong_type, on_reject
        self.column = columns or (lambda signal: signal)
        self._numeric = [f for f in model.features if f.type == "numeric"]
        self._categorical = [f for f in model.features if f.type == "categorical"]
        self.signals: dict[str, NumericSignal | CategoricalSignal] = {
            f.name: (NumericSignal(f.name, f, sample_size, seed) if f.type == "numeric" else CategoricalSignal(f.name))
            for f in model.features}
        if model.prediction is not None:
            self.signals[PREDICTION] = (NumericSignal(PREDICTION, None, sample_size, seed)
                                        if model.prediction.type == "numeric" else CategoricalSignal(PREDICTION))
        self.rows = 0
        self.skipped = 0
        self.other_models: Counter[str] = Counter()
        self.files: dict[str, None] = {}
        self._present: set[str] = set()
        self._last: Source | None = None
        self._last_other: Source | None = None
        self._features: list[tuple[dict, Source | None]] = []
        self._predictions: list[tuple[Any, Source | None]] = []

    def add(self, records: Iterable[Item]) -> None:
        """Take records; they are summarised BATCH at a time (the rest by `finish`), so how the caller splits
        them changes nothing."""
        mid, version = self.model.model_id, self.version
        features, predictions, files = self._features, self._predictions, self.files
        for item in records:
            kind = type(item)
            if kind is HistoryRecord:
                if item.role == "labels":
                    continue
                event, source = item.event, item.source
                if source.file not in files:
                    files[source.file] = None
            elif kind is RejectedRow:
                self.skipped += 1
                if self.on_reject:
                    self.on_reject(item)
                continue
            else:
                event, source = item, None
            if event.model_id != mid:
                self._other(event.model_id, source)
                continue
            kind = model_of(event)   # read from a topic, an event is its model's msgspec mirror
            if kind is FeatureEvent:
                features.append((event.features, source))
            elif kind is PredictionEvent:
                if version is not None and event.model_version not in (version, UNVERSIONED):
                    continue
                if event.features:
                    features.append((event.features, source))
                predictions.append((event.prediction, source))
            else:
                continue
            if source is None or source != self._last:
                self.rows += 1
                self._last = source
            if len(features) >= BATCH or len(predictions) >= BATCH:
                self._flush()
                features, predictions = self._features, self._predictions

    def _other(self, model_id: str, source: Source | None) -> None:
        """Rows of other models, counted for the message when there is none of this one (a few ids only)."""
        if source is not None and source == self._last_other:
            return
        self._last_other = source
        if len(self.other_models) < 10 or model_id in self.other_models:
            self.other_models[model_id] += 1

    def _flush(self) -> None:
        if self._features:
            dicts = [d for d, _ in self._features]
            matrix = numeric_matrix(dicts, [f.name for f in self._numeric])
            for j, feature in enumerate(self._numeric):
                self._add_numeric(feature.name, matrix[:, j], self._features)
            for feature in self._categorical:
                self.signals[feature.name].add([d.get(feature.name) for d in dicts])
                self._few_categories(feature.name)
            for name in self.signals.keys() - self._present - {PREDICTION}:
                if any(name in d for d in dicts):
                    self._present.add(name)
            self._features = []
        if self._predictions and PREDICTION in self.signals:
            raw = [p for p, _ in self._predictions]
            if isinstance(self.signals[PREDICTION], NumericSignal):
                self._add_numeric(PREDICTION, numeric_matrix([{"p": p} for p in raw], ["p"])[:, 0], self._predictions)
            else:
                self.signals[PREDICTION].add(raw)
                self._few_categories(PREDICTION)
            self._present.add(PREDICTION)
        self._predictions = []

    def _few_categories(self, name: str) -> None:
        if len(self.signals[name].counts) > MAX_CATEGORIES:
            where = ", ".join(self.files) or "the events"
            what = "the prediction" if name == PREDICTION else f"feature {name!r}"
            raise ProfileError(f"{where}: column {self.column(name)!r} holds more than {MAX_CATEGORIES:,} distinct "
                               f"values of {what}, categorical in the configuration: an identifier, not a category. "
                               f"Leave it out of the model, or declare it `type: numeric` if it is a number")

    def _add_numeric(self, name: str, column: np.ndarray, rows: list[tuple[Any, Source | None]]) -> None:
        wrong = self.signals[name].add(column)
        if len(wrong) and self.wrong_type == "refuse":
            i = int(wrong[0])
            value, source = rows[i]
            if isinstance(value, dict):
                value = value.get(name)
            where = str(source) if source is not None else "an event"
            what = "the prediction" if name == PREDICTION else f"feature {name!r}"
            fix = ("declare it `type: categorical` in the configuration if it is a category, or convert the "
                   "column to numbers (leave missing values empty)")
            raise ProfileError(f"{where}: column {self.column(name)!r} holds text ({value!r}), but {what} of model "
                               f"{self.model.model_id!r} is numeric: {fix}")

    def finish(self, source: ProfileSource, built_at: datetime | None = None) -> ReferenceProfile:
        """Check what was read (rows of the model, every signal present and with enough values) and summarise."""
        self._flush()
        mid = self.model.model_id
        where = ", ".join(self.files) or ", ".join(source.topics) or "the records"
        if self.rows == 0:
            others = ", ".join(f"{m!r} ({n:,})" for m, n in self.other_models.most_common(5))
            raise ProfileError(
                f"{where}: no rows of model {mid!r}" + (f" (rows of other models: {others})" if others else "")
                + (f"; {self.skipped:,} row(s) were not valid events" if self.skipped else "")
                + (". Check --model and the time range (records are found by their Kafka timestamps, then kept "
                   "by their event time)" if source.kind == "topics" else
                   ". Check --model, the model id column (--model-id-column, or --model-id for every row), or "
                   "give the right file"))
        topics = source.kind == "topics"
        for name in expected_signals(self.model):
            what = "the prediction" if name == PREDICTION else f"feature {name!r}"
            signal = self.signals[name]
            if name not in self._present:
                if topics:
                    raise ProfileError(f"{where}: no event of model {mid!r} in the range carries {what}: check the "
                                       "range, or what the model's applications publish")
                fix = ("name the prediction column with --prediction-column COLUMN (a validation set scored by "
                       "the model has one)" if name == PREDICTION else
                       "name the feature columns with --features or --feature-prefix, or remove the feature from "
                       "the model's configuration")
                raise ProfileError(f"{where}: no column {self.column(name)!r} for {what} of model {mid!r}: {fix}")
            if signal.count < MIN_VALUES:
                held = f"{what} has" if topics else f"column {self.column(name)!r} holds"
                unusable = f"{signal.missing:,} missing"
                if isinstance(signal, NumericSignal):
                    unusable += f", {signal.out_of_range:,} outside its min/max, {signal.wrong_type:,} not numbers"
                fix = "give a longer range" if topics else "give a larger set, or fill the column"
                raise ProfileError(f"{where}: {held} {signal.count:,} usable value(s) ({unusable}); a reference "
                                   f"needs at least {MIN_VALUES}: {fix}")
        return ReferenceProfile(
            model_id=mid, model_version=self.version, built_at=built_at or datetime.now(timezone.utc),
            source=source.model_copy(update={"skipped": source.skipped + self.skipped}), rows=self.rows,
            signals={name: signal.summary() for name, signal in self.signals.items()})

"""A model's reference profile: per signal, the bounded summary its drift detectors compare the stream against.

Built from a training or validation set, or from a range of a live topic (`stream.profile_build`), published
to the compacted references topic or written to a file (`stream.profile_kafka`), and handed to the
detectors with `reference_for`: a numeric signal gives up to 2,000 evenly spaced order statistics (what
``detectors.create("ks", reference=...)`` takes), a categorical one its frequency table (what
``detectors.create("categorical", reference=...)`` takes).

>>> from datetime import datetime, timezone
>>> profile = ReferenceProfile(
...     model_id="credit", built_at=datetime(2024, 6, 1, tzinfo=timezone.utc),
...     source=ProfileSource(kind="files", files=("train.csv",)), rows=40,
...     signals={"age": NumericSummary(count=40, missing=0, min=20.0, max=59.0, mean=39.5, std=11.69,
...                                    sampled=40, quantiles=tuple(float(a) for a in range(20, 60))),
...              "country": CategoricalSummary(count=40, missing=2, frequencies={"DE": 30, "FR": 10})})
>>> profile.reference_for("country")
{'DE': 30, 'FR': 10}
>>> profile.reference_for("age")[:3]
array([20., 21., 22.])
>>> ReferenceProfile.from_json(profile.to_json()) == profile
True
>>> profile.key
'credit'
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import ModelConfig
from .errors import StreamdriftError

SCHEMA_VERSION = 1
MAX_QUANTILES = 2_000          # the ks detector's shipped calibration covers a 2,000-value reference
PREDICTION = "prediction"      # the signal name of a model's predictions


class ProfileError(StreamdriftError):
    """A profile cannot be built, read or used as asked; the message names the file, the column and the fix."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericSummary(_Frozen):
    """A numeric signal: evenly spaced order statistics of its usable values, and what was not usable."""

    type: Literal["numeric"] = "numeric"
    count: int = Field(ge=0, description="usable values: numbers within the feature's min/max")
    missing: int = Field(0, ge=0, description="absent or null")
    wrong_type: int = Field(0, ge=0, description="text where a number belongs (topic ranges only; files refuse it)")
    out_of_range: int = Field(0, ge=0, description="outside the feature's configured min/max, left out")
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    sampled: int = Field(ge=0, description="values the quantiles are order statistics of (all, or a uniform sample)")
    quantiles: tuple[float, ...] = Field(max_length=MAX_QUANTILES)


class CategoricalSummary(_Frozen):
    """A categorical signal: how often each category occurred (as the service sees them: strings)."""

    type: Literal["categorical"] = "categorical"
    count: int = Field(ge=0, description="values with a category")
    missing: int = Field(0, ge=0, description="absent or null")
    frequencies: dict[str, int]


Summary = Annotated[NumericSummary | CategoricalSummary, Field(discriminator="type")]


class ProfileSource(_Frozen):
    """What a profile was built from."""

    kind: Literal["files", "topics"]
    files: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    since: datetime | None = None              # event-time range of a topic build: [since, until)
    until: datetime | None = None
    offsets: dict[str, tuple[int, int]] = Field(default_factory=dict)   # "topic/partition" -> [first, next) read
    skipped: int = Field(0, ge=0, description="rows (files) or messages (topics) that held no valid event")

    def describe(self) -> str:
        if self.kind == "files":
            return ", ".join(self.files)
        return f"{', '.join(self.topics)} from {_iso(self.since)} to {_iso(self.until)}"


class ReferenceProfile(_Frozen):
    """What a model's inputs and outputs looked like in its training (or validation) data."""

    schema_version: Literal[1] = SCHEMA_VERSION
    model_id: str = Field(min_length=1)
    model_version: str | None = Field(None, description="None: the profile serves every version of the model")
    built_at: datetime
    source: ProfileSource
    rows: int = Field(ge=0, description="rows (files) or events (topics) of the model that went into it")
    signals: dict[str, Summary]

    @property
    def key(self) -> str:
        """Its key on the compacted references topic: model_id, or model_id/version."""
        return self.model_id if self.model_version is None else f"{self.model_id}/{self.model_version}"

    def reference_for(self, signal: str) -> np.ndarray | dict[str, int]:
        """Exactly what the signal's detector takes as ``reference=``: sorted quantiles (numeric) or a
        frequency table (categorical)."""
        summary = self.signals.get(signal)
        if summary is None:
            raise ProfileError(f"the profile of {self.key} has no signal {signal!r}; it has "
                               f"{', '.join(map(repr, self.signals))}")
        if isinstance(summary, NumericSummary):
            return np.array(summary.quantiles, dtype=np.float64)
        return dict(summary.frequencies)

    def check(self, model: ModelConfig) -> None:
        """Refuse a profile whose signals are not the model's configured ones (missing, or of another type).

        Signals the configuration no longer has are ignored: removing a feature does not void the profile.
        """
        if model.model_id != self.model_id:
            raise ProfileError(f"the profile is of model {self.model_id!r}, not {model.model_id!r}")
        problems = []
        for name, wanted in expected_signals(model).items():
            summary = self.signals.get(name)
            what = "the prediction" if name == PREDICTION else f"feature {name!r}"
            if summary is None:
                problems.append(f"{what} is configured but the profile has no summary of it")
            elif summary.type != wanted:
                problems.append(f"{what} is {wanted} in the configuration but {summary.type} in the profile")
        if problems:
            raise ProfileError(
                f"the reference profile of {self.key} (built {_iso(self.built_at)} from {self.source.describe()}) "
                f"does not match the configuration of model {model.model_id!r}: {'; '.join(problems)}. Rebuild it "
                f"with: streamdrift reference build --config CONFIG --model {model.model_id} ...")

    # -- JSON and files ----------------------------------------------------------------------------
    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_json(cls, data: bytes | str, source: str = "the profile") -> ReferenceProfile:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            version = [e for e in errors if e["loc"][:1] == ("schema_version",)]
            if version and version[0]["type"] == "literal_error":
                raise ProfileError(f"{source} has schema_version {version[0]['input']!r}; this streamdrift reads "
                                   f"{SCHEMA_VERSION}: upgrade streamdrift, or rebuild the profile") from None
            first = errors[0]
            where = ".".join(str(p) for p in first["loc"]) or "(document)"
            raise ProfileError(f"{source} is not a reference profile: {where}: {first['msg']} "
                               f"({len(errors)} problem(s)); build one with streamdrift reference build") from None

    def write(self, path: str | os.PathLike) -> int:
        """Write the JSON to `path` atomically (a reader never sees half a file); returns its size in bytes."""
        path = Path(path)
        data = self.to_json() + b"\n"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ProfileError(f"{path}: cannot write the profile: {exc.strerror}") from None
        return len(data)

    @classmethod
    def read(cls, path: str | os.PathLike) -> ReferenceProfile:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read the profile: {exc.strerror}") from None
        return cls.from_json(data, str(path))


def expected_signals(model: ModelConfig) -> dict[str, str]:
    """signal -> "numeric" | "categorical", for each signal of the model a profile summarises."""
    signals = {f.name: f.type for f in model.features}
    if model.prediction is not None:
        signals[PREDICTION] = model.prediction.type
    return signals


def _iso(when: datetime | None) -> str:
    return "?" if when is None else when.isoformat().replace("+00:00", "Z")

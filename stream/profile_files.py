"""A reference profile from a training or validation set: files read with stream.history, checked before the read.

Every file is looked at first (its first rows), so a missing column, a missing prediction or an empty file is
refused in a second, naming the file, the column and the option that fixes it, not after an hour of reading.
A file without a model id column is taken as the model's own (as if given ``--model-id MODEL``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import islice
from os import PathLike
from pathlib import Path

from .config import ModelConfig
from .history import ColumnMapping, open_log
from .history_formats import LogFile
from .history_schema import COLUMN_ROLES, Layout, RejectedRow, resolve
from .profile import PREDICTION, ProfileError, ProfileSource, ReferenceProfile
from .profile_build import DEFAULT_SAMPLE, ProfileBuilder

Progress = Callable[[int, int | None], None]   # (rows read, rows in all files or None)


def build_from_files(model: ModelConfig, paths: Iterable[str | PathLike], mapping: ColumnMapping | None = None, *,
                     version: str | None = None, sort: bool = False, sample_size: int = DEFAULT_SAMPLE,
                     seed: int = 0, progress: Progress | None = None,
                     on_reject: Callable[[RejectedRow], None] | None = None,
                     built_at: datetime | None = None) -> ReferenceProfile:
    """The profile of `model` over the rows of these files (JSON lines, CSV, Parquet), read with the column
    mapping replay uses. Raises ProfileError (or stream.history's LogError) naming the file and the fix.
    Rows that hold no valid event are skipped, counted in the source's `skipped` and given to `on_reject`."""
    files = [str(p) for p in paths]
    if not files:
        raise ProfileError("no files given: name the training set's files with --from")
    mapping = _checked_mapping(model, files, mapping or ColumnMapping())
    log = open_log(files, mapping, sort=sort)
    total = log.estimate_rows()
    builder = ProfileBuilder(model, version=version, sample_size=sample_size, seed=seed, wrong_type="refuse",
                             columns=lambda signal: column_of(signal, mapping), on_reject=on_reject)
    items = iter(log)
    while batch := list(islice(items, 8192)):
        builder.add(batch)
        if progress:
            progress(log.stats.rows, total)
    if progress:
        progress(log.stats.rows, log.stats.rows)
    return builder.finish(ProfileSource(kind="files", files=tuple(files)), built_at=built_at)


def column_of(signal: str, mapping: ColumnMapping) -> str:
    """The column a signal is read from, for messages."""
    if signal == PREDICTION:
        return mapping.prediction or COLUMN_ROLES["prediction"][0]
    return (mapping.feature_prefix or "") + signal


def _checked_mapping(model: ModelConfig, files: list[str], mapping: ColumnMapping) -> ColumnMapping:
    """The mapping to read the files with (the model's id for files without a model id column, only the columns
    the profile uses), once each file's first rows show that they hold every signal of the model."""
    heads = [_head(name, mapping) for name in files]
    if mapping.model_id is None and mapping.fixed_model_id is None:
        default = COLUMN_ROLES["model_id"][0]
        without = [name for name, (columns, _) in zip(files, heads) if default not in columns]
        if len(without) == len(files):
            mapping = dataclasses.replace(mapping, fixed_model_id=model.model_id)
        elif without:
            having = next(name for name in files if name not in without)
            raise ProfileError(f"{without[0]} has no {default!r} column but {having} has one: give --model-id "
                               f"{model.model_id} to take every row of every file as the model's, or build from "
                               f"the files that have the column")
    layouts: list[Layout] = []
    for name, (columns, rowwise) in zip(files, heads):
        for role in ("event_id", "timestamp"):
            column = getattr(mapping, role) or COLUMN_ROLES[role][0]
            if column not in columns:
                flag = COLUMN_ROLES[role][1]
                raise ProfileError(
                    f"{name}: no {role} column {column!r} ({_listed(columns)}). streamdrift reads a training set "
                    f"with its log reader, which needs an event id and an event time on every row: name them with "
                    f"{flag} COLUMN, or add them to the file (any unique id; any time, e.g. when the set was drawn)")
        layouts.append(resolve(name, columns, mapping, rowwise=rowwise))
        _check_signals(model, name, columns, mapping, layouts[-1])
    return _narrowed(model, mapping, heads, layouts)


def _narrowed(model: ModelConfig, mapping: ColumnMapping, heads: list[tuple[list[str], bool]],
              layouts: list[Layout]) -> ColumnMapping:
    """Read only what the profile uses: no label events, and (in CSV and Parquet files, whose columns were
    checked above) only the model's feature columns, so a wide training set costs what its used columns do."""
    names = {f.name for f in model.features}
    if mapping.label is None and mapping.label_timestamp is None:
        unused = {COLUMN_ROLES["label"][0], COLUMN_ROLES["label_timestamp"][0]} - names - set(mapping.ignore)
        present = [c for c in sorted(unused) if any(c in columns for columns, _ in heads)]
        mapping = dataclasses.replace(mapping, ignore=(*mapping.ignore, *present))
    plain = all(layout.features is not None and not layout.feature_object for layout in layouts)
    if plain and mapping.features is None and mapping.feature_prefix is None and model.features:
        mapping = dataclasses.replace(mapping, features=tuple(f.name for f in model.features))
    return mapping


def _head(name: str, mapping: ColumnMapping) -> tuple[list[str], bool]:
    """The columns of a file's first rows, and whether it is read row by row (JSON lines)."""
    path = Path(name)
    if path.is_file() and path.stat().st_size == 0:
        raise ProfileError(f"{name} is empty (0 bytes): there is nothing to build a reference from; give the "
                           "file that holds the training (or validation) set")
    log = LogFile.open(path, name, mapping.format)
    chunk = next(iter(log.chunks(1024)), None)
    if chunk is None or (not len(chunk) and not chunk.broken):
        raise ProfileError(f"{name} has no rows" + (" after its header" if log.kind == "csv" else "")
                           + ": there is nothing to build a reference from; give the file that holds the set")
    return chunk.names(), chunk.dicts is not None


def _check_signals(model: ModelConfig, name: str, columns: list[str], mapping: ColumnMapping, layout: Layout) -> None:
    if model.prediction is not None and layout.prediction is None:
        raise ProfileError(
            f"{name}: no prediction column {column_of(PREDICTION, mapping)!r} ({_listed(columns)}), and model "
            f"{model.model_id!r} has a prediction in the configuration: name the column of the model's predictions "
            f"with --prediction-column COLUMN (score the validation set with the model to get one)")
    if layout.features is None or layout.feature_object:   # JSON lines: a feature may first appear further down
        return
    read = {feature for _, feature in layout.features}
    for feature in model.features:
        if feature.name not in read:
            raise ProfileError(f"{name}: no column for feature {feature.name!r} of model {model.model_id!r}: "
                               + _missing_feature_fix(feature.name, columns, mapping, layout))


def _missing_feature_fix(feature: str, columns: list[str], mapping: ColumnMapping, layout: Layout) -> str:
    if feature in columns:
        if feature in mapping.ignore:
            return f"column {feature!r} is given with --ignore-columns; take it out of that list"
        if feature in mapping.segments:
            return f"column {feature!r} is given with --segments; take it out of that list"
        if mapping.features is not None:
            return f"column {feature!r} is not in --features; add it: --features {','.join(mapping.features)},{feature}"
        if mapping.feature_prefix:
            return (f"column {feature!r} does not start with {mapping.feature_prefix!r} (--feature-prefix); name the "
                    f"feature columns with --features instead")
        role = next((r for r in COLUMN_ROLES if getattr(layout, r) == feature), None)
        if role:
            return (f"column {feature!r} is read as the {role.replace('_', ' ')} (a column of that name is); list "
                    f"the feature columns with --features so it is read as a feature, and name the "
                    f"{role.replace('_', ' ')}'s column with {COLUMN_ROLES[role][1]} if there is one")
    prefixed = [c for c in columns if c.endswith(feature) and c != feature]
    if prefixed and mapping.feature_prefix != prefixed[0][:-len(feature)]:
        return (f"column {prefixed[0]!r} looks like it: read the feature columns without their prefix with "
                f"--feature-prefix {prefixed[0][:-len(feature)]}")
    return (f"the file has no column {column_of(feature, mapping)!r} ({_listed(columns)}); add it, or remove the "
            f"feature from the model's configuration")


def _listed(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return f"its columns are {shown}" + (f" and {len(columns) - limit} more" if len(columns) > limit else "")

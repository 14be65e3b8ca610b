"""The historical-log reader: formats, column mapping and its defaults, merge order, and every error it gives."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from stream import history
from stream.history import ColumnMapping, HistoryRecord, LogError, RejectedRow, open_log, read_log

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)

ROWS = [
    {"event_id": "e1", "timestamp": "2024-05-01T10:00:00Z", "model_id": "credit", "income": 41000.0,
     "country": "DE", "prediction": "approve", "score": 0.2, "label": "approve"},
    {"event_id": "e2", "timestamp": "2024-05-01T10:00:01Z", "model_id": "credit", "income": 52000.5,
     "country": "FR", "prediction": "deny", "score": 0.9, "label": None},
    {"event_id": "e3", "timestamp": "2024-05-01T10:00:02Z", "model_id": "credit", "income": None,
     "country": "ES", "prediction": "approve", "score": 0.1, "label": "deny"},
]


def write(path, rows: list[dict]):
    """The same rows as JSON lines, CSV or Parquet, by the path's suffix."""
    suffix = path.name.split(".", 1)[-1]
    if rows and isinstance(rows[0], str):     # the file's text as it is
        path.write_text("".join(rows))
    elif suffix in ("jsonl", "jsonl.gz"):
        data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
        path.write_bytes(gzip.compress(data) if suffix.endswith("gz") else data)
    elif suffix == "csv":
        pacsv.write_csv(pa.Table.from_pylist(rows), path)
    elif suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def events(items) -> list[tuple[str, dict]]:
    return [(i.role, i.event.model_dump(exclude_none=True)) for i in items if isinstance(i, HistoryRecord)]


def rejected(items) -> list[RejectedRow]:
    return [i for i in items if isinstance(i, RejectedRow)]


# --- formats and defaults -------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "csv", "parquet"])
def test_every_format_yields_the_same_events_with_no_options(tmp_path, suffix):
    items = list(read_log([write(tmp_path / f"log.{suffix}", ROWS)]))
    assert [(role, e["event_id"]) for role, e in events(items)] == [
        ("features", "e1"), ("predictions", "e1"), ("labels", "e1"),
        ("features", "e2"), ("predictions", "e2"),
        ("features", "e3"), ("predictions", "e3"), ("labels", "e3")]
    first = dict(events(items)[:3])
    assert first["features"] == {"schema_version": 1, "event_id": "e1", "model_id": "credit", "timestamp": T0,
                                 "features": {"income": 41000.0, "country": "DE"}}
    assert first["predictions"]["prediction"] == "approve" and first["predictions"]["score"] == 0.2
    assert first["predictions"]["model_version"] == "unversioned"
    assert first["labels"] == {"schema_version": 1, "event_id": "e1", "model_id": "credit", "timestamp": T0,
                               "label": "approve"}
    # A missing feature value is a missing value, not a reason to drop the row.
    assert dict(events(items)[5:6])["features"]["features"] == {"income": None, "country": "ES"}


def test_sources_name_the_file_and_its_line_or_row(tmp_path):
    csv_items = list(read_log([write(tmp_path / "a.csv", ROWS)]))
    assert [str(i.source) for i in csv_items[:4]] == [f"{tmp_path}/a.csv line 2"] * 3 + [f"{tmp_path}/a.csv line 3"]
    pq_items = list(read_log([write(tmp_path / "a.parquet", ROWS)]))
    assert str(pq_items[3].source) == f"{tmp_path}/a.parquet row 2" and pq_items[3].source.line is None


def test_a_row_yields_only_the_events_it_holds(tmp_path):
    rows = [{"event_id": "p", "timestamp": "2024-05-01T10:00:00Z", "model_id": "m", "prediction": 1},
            {"event_id": "p", "timestamp": "2024-05-01T11:00:00Z", "model_id": "m", "label": 0},
            {"event_id": "f", "timestamp": "2024-05-01T12:00:00Z", "model_id": "m", "x": 3}]
    assert [role for role, _ in events(read_log([write(tmp_path / "m.jsonl", rows)]))] == \
        ["predictions", "labels", "features"]


def test_numeric_ids_are_read_as_text(tmp_path):
    rows = [{"event_id": 17, "timestamp": "2024-05-01T10:00:00Z", "model_id": "m", "model_version": 3, "prediction": 1}]
    for suffix in ("csv", "parquet", "jsonl"):
        ((_, event),) = events(read_log([write(tmp_path / f"n.{suffix}", rows)]))
        assert (event["event_id"], event["model_version"]) == ("17", "3"), suffix


def test_events_logged_whole_are_read_back(tmp_path):
    """A JSON-lines log of the SDK's own events: the features and segment objects are taken as they are."""
    rows = [{"schema_version": 1, "event_id": "a", "model_id": "m", "timestamp": "2024-05-01T10:00:00Z",
             "features": {"x": 1.5, "c": "DE"}, "segment": {"market": "EU"}}]
    ((_, event),) = events(read_log([write(tmp_path / "events.jsonl", rows)]))
    assert event["features"] == {"x": 1.5, "c": "DE"} and event["segment"] == {"market": "EU"}


# --- mapping --------------------------------------------------------------------------------------------------

def test_every_column_can_be_named(tmp_path):
    rows = [{"id": "a", "ts": "2024-05-01T10:00:00Z", "model": "m", "ver": "v2", "pred": "yes", "p": 0.7,
             "truth": "no", "truth_ts": "2024-05-02T10:00:00Z", "f_x": 1.0, "f_y": "k", "market": "EU", "junk": 9}]
    mapping = ColumnMapping(event_id="id", timestamp="ts", model_id="model", model_version="ver", prediction="pred",
                            score="p", label="truth", label_timestamp="truth_ts", feature_prefix="f_",
                            segments=("market",))
    out = dict(events(read_log([write(tmp_path / "n.parquet", rows)], mapping)))
    assert out["features"]["features"] == {"x": 1.0, "y": "k"}        # prefix dropped, junk not a feature
    assert out["features"]["segment"] == {"market": "EU"} == out["predictions"]["segment"]
    assert (out["predictions"]["model_version"], out["predictions"]["score"]) == ("v2", 0.7)
    assert out["labels"]["timestamp"] == datetime(2024, 5, 2, 10, tzinfo=timezone.utc)


def test_a_feature_list_one_model_for_the_file_and_ignored_columns(tmp_path):
    rows = [{"event_id": "a", "timestamp": "2024-05-01T10:00:00Z", "x": 1, "y": 2, "z": 3, "prediction": 0}]
    path = write(tmp_path / "l.csv", rows)
    out = dict(events(read_log([path], ColumnMapping(features=("x", "z"), fixed_model_id="fraud",
                                                     fixed_model_version="v7"))))
    assert out["features"]["features"] == {"x": 1.0, "z": 3.0}
    assert out["features"]["model_id"] == "fraud" == out["predictions"]["model_id"]
    assert out["predictions"]["model_version"] == "v7"
    out = dict(events(read_log([path], ColumnMapping(ignore=("y",), fixed_model_id="fraud"))))
    assert out["features"]["features"] == {"x": 1.0, "z": 3.0}


def test_csv_columns_keep_the_type_of_their_first_values(tmp_path):
    text = "event_id,timestamp,model_id,amount,flag,code\n" + "".join(
        f"e{i},2024-05-01T10:00:{i:02d}Z,m,{i}.5,true,A{i}\n" for i in range(20)) + \
        "e9,2024-05-01T10:00:59Z,m,unknown,false,7\n"
    feats = [e["features"] for role, e in events(read_log([write(tmp_path / "t.csv", [text])]))]
    assert feats[0] == {"amount": 0.5, "flag": True, "code": "A0"}
    # A value that does not fit its column's type is kept as it is, for the monitor's data-quality checks.
    assert feats[20] == {"amount": "unknown", "flag": False, "code": "7"}


@pytest.mark.parametrize("kwargs, message", [
    ({"features": ("a",), "feature_prefix": "f_"}, "either features (--features) or feature_prefix"),
    ({"model_id": "m", "fixed_model_id": "x"}, "either a model id column (--model-id-column) or one model id"),
    ({"timestamp_unit": "days"}, "timestamp_unit 'days' is not one of s, ms, us, ns"),
    ({"label": "x", "prediction": "x"}, "column 'x' is given as both prediction and label"),
    ({"segments": ("",)}, "segments: an empty column name"),
])
def test_contradictory_mappings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ColumnMapping(**kwargs)


# --- times ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, unit, expected", [
    ("2024-05-01T12:00:00+02:00", None, T0),          # offsets are converted to UTC
    ("2024-05-01 10:00:00", None, T0),                # naive times are UTC, as in the event schema
    (1714557600, None, T0),                           # epoch seconds, guessed
    (1714557600000, None, T0),                        # epoch milliseconds, guessed
    (1714557600.0, "s", T0),
])
def test_times_are_read_as_utc(tmp_path, value, unit, expected):
    rows = [{"event_id": "a", "timestamp": value, "model_id": "m", "prediction": 1}]
    for suffix in ("jsonl", "csv", "parquet"):
        ((_, event),) = events(read_log([write(tmp_path / f"t.{suffix}", rows)], ColumnMapping(timestamp_unit=unit)))
        assert event["timestamp"] == expected, suffix


def test_a_timestamp_format_reads_other_notations(tmp_path):
    path = write(tmp_path / "f.csv", ["event_id,timestamp,model_id,prediction\na,01/05/2024 10:00,m,1\n"])
    ((_, event),) = events(read_log([path], ColumnMapping(timestamp_format="%d/%m/%Y %H:%M")))
    assert event["timestamp"] == T0


# --- order ----------------------------------------------------------------------------------------------------

def _rows(model: str, seconds: list[int], **extra) -> list[dict]:
    return [{"event_id": f"{model}{s}", "timestamp": f"2024-05-01T10:{s // 60:02d}:{s % 60:02d}Z", "model_id": model,
             "prediction": s, **extra} for s in seconds]


def test_files_are_merged_in_event_time_order_ties_in_file_order(tmp_path):
    a = write(tmp_path / "a.jsonl", _rows("a", [0, 2, 4, 6]))
    b = write(tmp_path / "b.csv", _rows("b", [1, 2, 3, 7]))
    c = write(tmp_path / "c.parquet", _rows("c", [5]))
    ids = [e["event_id"] for _, e in events(read_log([a, b, c]))]
    assert ids == ["a0", "b1", "a2", "b2", "b3", "a4", "c5", "a6", "b7"]


def test_a_label_that_arrived_later_comes_out_at_its_own_time(tmp_path):
    rows = [{**r, "label": 1, "label_timestamp": "2024-05-01T10:00:02.500Z"} for r in _rows("m", [0])] + _rows("m", [1, 2, 3])
    out = [(role, e["event_id"]) for role, e in events(read_log([write(tmp_path / "l.jsonl", rows)]))]
    assert out == [("predictions", "m0"), ("predictions", "m1"), ("predictions", "m2"), ("labels", "m0"),
                   ("predictions", "m3")]


def test_files_are_opened_only_when_the_merge_reaches_them(tmp_path, monkeypatch):
    """A month of daily files keeps one or two open, so memory does not grow with the number of files."""
    paths = [write(tmp_path / f"day{d:02d}.jsonl", _rows(f"d{d}", list(range(d * 10, d * 10 + 10))))
             for d in range(30)]
    open_now, most = set(), [0]
    real = history.HistoryLog._stream

    def tracked(self, index):
        open_now.add(index)
        most[0] = max(most[0], len(open_now))
        yield from real(self, index)
        open_now.discard(index)
    monkeypatch.setattr(history.HistoryLog, "_stream", tracked)
    assert len(events(read_log(paths))) == 300
    assert most[0] <= 2


def test_a_file_out_of_time_order_is_reported_once_and_read_in_file_order(tmp_path):
    path = write(tmp_path / "u.csv", _rows("u", [0, 5, 3, 4, 1]))
    warnings = []
    log = open_log([path], on_disorder=warnings.append)
    assert [e["event_id"] for _, e in events(log)] == ["u0", "u5", "u3", "u4", "u1"]
    assert log.stats.out_of_order == {str(path): 3}
    assert len(warnings) == 1 and f"{path} line 4 is not in time order" in warnings[0] and "--sort" in warnings[0]


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_sort_reads_an_unsorted_file_in_time_order(tmp_path, suffix):
    path = write(tmp_path / f"u.{suffix}", _rows("u", [0, 5, 3, 4, 1]))
    other = write(tmp_path / "o.jsonl", _rows("o", [2]))
    log = open_log([path, other], sort=True)
    items = list(log)
    assert [e["event_id"] for _, e in events(items)] == ["u0", "u1", "o2", "u3", "u4", "u5"]
    assert [i.source.row for i in items if i.event.model_id == "u"] == [1, 5, 3, 4, 2]
    assert log.stats.out_of_order == {}


def test_two_reads_of_the_same_logs_yield_the_same_items_in_the_same_order(tmp_path):
    a = write(tmp_path / "a.jsonl", _rows("a", [0, 1, 1, 3]) + [{"event_id": "x", "timestamp": "bad", "model_id": "a"}])
    b = write(tmp_path / "b.csv", _rows("b", [1, 2]))
    first, second = list(read_log([a, b])), list(read_log([a, b]))
    assert [(type(i).__name__, str(i.source)) for i in first] == [(type(i).__name__, str(i.source)) for i in second]


# --- bad rows: reported in place, reading goes on --------------------------------------------------------------

def test_bad_rows_are_rejected_with_file_line_column_and_value(tmp_path):
    text = ("event_id,timestamp,model_id,x,prediction\n"
            "a,2024-05-01T10:00:00Z,m,1.5,yes\n"
            "b,not a time,m,2,no\n"
            "c,2024-05-01T10:00:02Z,m,3\n"               # one field short
            ",2024-05-01T10:00:03Z,m,4,no\n"             # no event id
            "d,2024-05-01T10:00:04Z,m,,\n"               # nothing to publish
            "\n"                                          # a blank line is skipped
            "e,2024-05-01T10:00:05Z,m,5,yes\n")
    path = write(tmp_path / "bad.csv", [text])
    items = list(read_log([path]))
    assert [e["event_id"] for _, e in events(items)] == ["a", "a", "e", "e"]
    bad = {r.source.line: r for r in rejected(items)}
    assert sorted(bad) == [3, 4, 5, 6]
    assert bad[3].column == "timestamp" and "'not a time' is not a time" in bad[3].reason
    assert "expected 5 fields (the header's), found 4" in bad[4].reason and bad[4].row == "c,2024-05-01T10:00:02Z,m,3"
    assert bad[5].column == "event_id" and "event_id:" in bad[5].reason and "(got None)" in bad[5].reason
    assert bad[6].reason == "the row holds no features, prediction or label"
    line = orjson.loads(bad[3].to_json())
    assert line == {"file": str(path), "line": 3, "row_number": 2, "column": "timestamp", "reason": bad[3].reason,
                    "row": {"event_id": "b", "timestamp": "not a time", "model_id": "m", "x": "2", "prediction": "no"}}


def test_bad_json_lines_and_values_are_rejected(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(orjson.dumps(_rows("m", [0])[0]) + b"\n{not json\n[1, 2]\n\n"
                     + orjson.dumps({**_rows("m", [5])[0], "x": [1, 2]}) + b"\n")
    bad = rejected(read_log([path]))
    assert [(r.source.line, r.reason.split(":")[0]) for r in bad] == [
        (2, "not JSON"), (3, "expected a JSON object, got list"), (5, "features.x")]
    assert bad[2].column == "x" and "has a type that is not allowed here (got [1, 2])" in bad[2].reason


def test_nan_is_rejected_with_the_fix(tmp_path):
    rows = [{"event_id": "a", "timestamp": T0, "model_id": "m", "f_x": float("nan")}]
    (bad,) = rejected(read_log([write(tmp_path / "n.parquet", rows)], ColumnMapping(feature_prefix="f_")))
    assert bad.column == "f_x" and "features.x:" in bad.reason and "leave a missing value empty" in bad.reason
    assert str(bad).startswith(f"{tmp_path}/n.parquet row 1: column 'f_x': features.x:")


# --- errors that stop before anything is read ------------------------------------------------------------------

def _error(tmp_path, paths, mapping=None) -> str:
    with pytest.raises(LogError) as info:
        open_log(paths, mapping)
    return str(info.value)


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_an_unknown_column_names_the_file_the_column_the_option_and_the_columns(tmp_path, suffix):
    path = write(tmp_path / f"a.{suffix}", ROWS)
    message = _error(tmp_path, [path], ColumnMapping(timestamp="ts"))
    assert message.startswith(f"{path}: no column 'ts' (given with --timestamp-column); its columns are 'event_id', ")
    assert message.endswith("Correct the name given with --timestamp-column")
    assert "no column 'zz' (given with --features)" in _error(tmp_path, [path], ColumnMapping(features=("zz",)))
    assert "no column 'seg' (given with --segments)" in _error(tmp_path, [path], ColumnMapping(segments=("seg",)))


def test_missing_default_columns_say_which_option_names_them(tmp_path):
    path = write(tmp_path / "a.csv", [{"id": "a", "ts": "2024-05-01T10:00:00Z", "prediction": 1}])
    assert "no event_id column: none is named 'event_id'" in _error(tmp_path, [path])
    assert "name it with --timestamp-column COLUMN" in _error(tmp_path, [path], ColumnMapping(event_id="id"))
    message = _error(tmp_path, [path], ColumnMapping(event_id="id", timestamp="ts"))
    assert "no model_id column" in message and "--model-id-column COLUMN" in message and "--model-id MODEL" in message
    assert len(list(read_log([path], ColumnMapping(event_id="id", timestamp="ts", fixed_model_id="m")))) == 1
    assert "--feature-prefix" in _error(tmp_path, [path], ColumnMapping(event_id="id", timestamp="ts",
                                                                          fixed_model_id="m", feature_prefix="f_"))


def test_a_file_with_nothing_to_publish_is_refused(tmp_path):
    path = write(tmp_path / "a.csv", [{"event_id": "a", "timestamp": "2024-05-01T10:00:00Z", "model_id": "m"}])
    assert "no column holds features, a prediction or a label" in _error(tmp_path, [path])


@pytest.mark.parametrize("name, content, message", [
    ("empty.jsonl", b"", "is empty (0 bytes): remove it from the logs to replay"),
    ("blank.jsonl", b"\n\n  \n", "has no rows: remove it"),
    ("header.csv", b"event_id,timestamp,model_id,x\n", "has no rows after its header"),
    ("log.xlsx", b"PK", "unsupported log format .xlsx; replay reads .jsonl/.ndjson (JSON lines), .csv and .parquet"),
    ("log", b"x", "unsupported log format (no suffix)"),
    ("text.jsonl", b"hello\nworld\n", "its first rows cannot be read (line 1: not JSON"),
])
def test_unreadable_files_are_refused_with_the_fix(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    text = _error(tmp_path, [path])
    assert text.startswith(str(path)) and message in text


def test_an_empty_parquet_file_a_missing_file_and_a_folder_are_refused(tmp_path):
    empty = tmp_path / "e.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS).slice(0, 0), empty)
    assert "has no rows" in _error(tmp_path, [empty])
    assert _error(tmp_path, [tmp_path / "gone.csv"]) == f"{tmp_path}/gone.csv: no such file"
    assert "is a folder: give the log files in it" in _error(tmp_path, [tmp_path])
    assert _error(tmp_path, []) == "no log files given"


def test_a_timestamp_column_that_holds_no_time_stops_the_read_with_the_fix(tmp_path):
    path = write(tmp_path / "t.csv", ["event_id,timestamp,model_id,prediction\na,01/05/2024 10:00,m,1\n"])
    message = _error(tmp_path, [path])
    assert message.startswith(f"{path}: column 'timestamp' does not hold times (line 2: '01/05/2024 10:00')")
    assert "--timestamp-format" in message and "--timestamp-column" in message
    assert "does not match --timestamp-format '%Y'" in _error(tmp_path, [path], ColumnMapping(timestamp_format="%Y"))


def test_the_format_can_be_named_for_files_without_a_known_suffix(tmp_path):
    path = tmp_path / "events.log"
    path.write_bytes(orjson.dumps(_rows("m", [0])[0]) + b"\n")
    assert len(events(read_log([path], ColumnMapping(format="jsonl")))) == 1


def test_row_estimates_for_the_progress_bar(tmp_path):
    rows = _rows("m", list(range(500)))
    assert open_log([write(tmp_path / "a.parquet", rows)]).estimate_rows() == 500
    estimate = open_log([write(tmp_path / "a.csv", rows), write(tmp_path / "a.jsonl", rows)]).estimate_rows()
    assert 990 <= estimate <= 1010
    assert open_log([write(tmp_path / "a.jsonl.gz", rows)]).estimate_rows() is None

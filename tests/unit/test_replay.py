"""The replay's own logic without a broker: position, resume, rejects, pacing, and the command line.

Kafka is stood in for by a recorder of what was sent and flushed; what Kafka itself does with the records
(topics, keys, no duplicates across a real interruption) is tested against a real broker in
tests/integration/test_replay.py.
"""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from producers.replay import Pacing, Replay, ReplayError, ReplayState, check_log
from stream.events import LabelEvent
from stream.history import open_log, read_log
from streamdrift.cli import main


class Sent:
    def __init__(self, failed: bool = False):
        self._failed = failed
        self.exception = RuntimeError("broker said no") if failed else None

    def failed(self) -> bool:
        return self._failed


class Recorder:
    """Stands in for EventProducer: keeps what was sent, and what a flush confirmed."""

    def __init__(self, stop_after: int | None = None, stop: threading.Event | None = None,
                 crash_after: int | None = None, fail_after: int | None = None):
        self.sent: list[tuple[str, str]] = []
        self.flushed = 0
        self.stop_after, self.stop, self.crash_after, self.fail_after = stop_after, stop, crash_after, fail_after

    def send(self, event):
        if self.crash_after is not None and len(self.sent) == self.crash_after:
            raise KeyboardInterrupt("the process dies here")
        self.sent.append((type(event).__name__, event.event_id))
        if self.stop_after is not None and len(self.sent) == self.stop_after:
            self.stop.set()
        return Sent(failed=self.fail_after is not None and len(self.sent) > self.fail_after)

    def flush(self, timeout=None):
        self.flushed = len(self.sent)


def write_log(path, rows: int, bad_every: int = 0):
    lines = []
    for i in range(rows):
        row = {"event_id": f"e{i}", "timestamp": f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
               "model_id": "m", "x": float(i), "prediction": i % 2}
        if bad_every and i % bad_every == bad_every - 1:
            row["timestamp"] = "garbage"
        lines.append(orjson.dumps(row))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def replay(tmp_path, log_paths, publisher, **options) -> Replay:
    options.setdefault("position", tmp_path / "position.json")
    options.setdefault("rejects", tmp_path / "rejects.jsonl")
    return Replay(open_log(log_paths), publisher, **options)


def test_a_replay_sends_every_record_in_order_and_records_a_complete_position(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 50)
    publisher = Recorder()
    result = replay(tmp_path, [log], publisher).run()
    assert publisher.sent == [(kind, f"e{i}") for i in range(50) for kind in ("FeatureEvent", "PredictionEvent")]
    assert publisher.flushed == 100 and not result.interrupted
    state = ReplayState.load(tmp_path / "position.json")
    assert state.complete and state.consumed == 100 and state.published == {"features": 50, "predictions": 50,
                                                                            "labels": 0}


@pytest.mark.parametrize("stop_after", [1, 37, 86])   # 86: the very last record
def test_an_interrupted_replay_resumes_with_no_record_twice_and_none_skipped(tmp_path, stop_after):
    log = write_log(tmp_path / "a.jsonl", 50, bad_every=7)
    whole = Recorder()
    replay(tmp_path / "x", [log], whole).run()
    assert whole.sent == [(type(r.event).__name__, r.event.event_id) for r in read_log([log]) if hasattr(r, "event")]

    stop = threading.Event()
    first = Recorder(stop_after=stop_after, stop=stop)
    result = replay(tmp_path, [log], first, stop=stop).run()
    assert result.interrupted and first.flushed == len(first.sent) == stop_after
    assert not ReplayState.load(tmp_path / "position.json").complete
    second = Recorder()
    resumed = replay(tmp_path, [log], second, resume=True).run()
    assert not resumed.interrupted
    assert first.sent + second.sent == whole.sent
    rejects = (tmp_path / "rejects.jsonl").read_bytes().splitlines()
    assert rejects == (tmp_path / "x" / "rejects.jsonl").read_bytes().splitlines()
    assert len(rejects) == 7


def test_after_a_crash_the_replay_resumes_from_the_last_checkpoint_with_rejects_written_once(tmp_path):
    """kill -9 between checkpoints: the records after the last one go out again, never fewer."""
    log = write_log(tmp_path / "a.jsonl", 60, bad_every=5)
    whole = Recorder()
    replay(tmp_path / "x", [log], whole).run()
    crashed = Recorder(crash_after=70)
    with pytest.raises(KeyboardInterrupt):
        replay(tmp_path, [log], crashed, checkpoint_items=20, checkpoint_seconds=3600).run()
    saved = ReplayState.load(tmp_path / "position.json")
    assert saved.consumed == 60 and not saved.complete       # checkpoints at 20, 40, 60 of 108 items
    resumed = Recorder()
    replay(tmp_path, [log], resumed, resume=True).run()
    assert crashed.sent[:sum(saved.published.values())] + resumed.sent == whole.sent
    assert (tmp_path / "rejects.jsonl").read_bytes() == (tmp_path / "x" / "rejects.jsonl").read_bytes()


def test_a_record_kafka_did_not_take_stops_the_replay_without_moving_the_position(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 10)
    with pytest.raises(ReplayError, match="Kafka did not take a record .broker said no.; the position stays"):
        replay(tmp_path, [log], Recorder(fail_after=3)).run()
    assert not (tmp_path / "position.json").exists()


def test_an_unfinished_position_is_never_overwritten_by_a_fresh_start(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 10)
    stop = threading.Event()
    replay(tmp_path, [log], Recorder(stop_after=4, stop=stop), stop=stop).run()
    with pytest.raises(ReplayError, match="holds an unfinished replay .4 rows' records handled.: add --resume"):
        replay(tmp_path, [log], Recorder())
    replay(tmp_path, [log], Recorder(), resume=True).run()
    assert replay(tmp_path, [log], Recorder(), resume=True).run().state.complete     # nothing left to do
    again = Recorder()
    replay(tmp_path, [log], again).run()          # a finished replay may be run again from the start
    assert len(again.sent) == 20


def test_resume_refuses_other_files_changed_files_and_other_options(tmp_path):
    a, b = write_log(tmp_path / "a.jsonl", 10), write_log(tmp_path / "b.jsonl", 10)
    with pytest.raises(ReplayError, match="no position to resume from"):
        replay(tmp_path, [a], Recorder(), resume=True)
    stop = threading.Event()
    replay(tmp_path, [a], Recorder(stop_after=3, stop=stop), stop=stop).run()
    with pytest.raises(ReplayError, match="is the position of a replay of other files"):
        replay(tmp_path, [b], Recorder(), resume=True)
    with pytest.raises(ReplayError, match="the column mapping or --sort differ"):
        Replay(open_log([a], sort=True), Recorder(), position=tmp_path / "position.json",
               rejects=tmp_path / "r.jsonl", resume=True)
    write_log(a, 11)
    with pytest.raises(ReplayError, match="a.jsonl changed since the position was saved"):
        replay(tmp_path, [a], Recorder(), resume=True)


def test_an_unwritable_rejects_file_is_named(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 3)
    (tmp_path / "dir").mkdir()
    with pytest.raises(ReplayError, match="cannot write the rejects file .*dir: Is a directory; name a writable one with --rejects"):
        replay(tmp_path, [log], Recorder(), rejects=tmp_path / "dir").run()


def test_rate_paces_the_records(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 50)
    started = time.monotonic()
    replay(tmp_path, [log], Recorder(), pacing=Pacing(rate=200)).run()
    assert time.monotonic() - started >= 99 / 200


def test_speed_follows_event_time(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 4)      # one row a second: 3 s of event time
    started = time.monotonic()
    replay(tmp_path, [log], Recorder(), pacing=Pacing(speed=10)).run()
    assert time.monotonic() - started >= 0.3


def test_a_stop_during_a_wait_ends_the_replay_at_once(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 10)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    result = replay(tmp_path, [log], Recorder(), pacing=Pacing(rate=1), stop=stop).run()
    assert result.interrupted and time.monotonic() - started < 5


@pytest.mark.parametrize("kwargs, message", [({"rate": 1, "speed": 2}, "either a rate"), ({"rate": 0}, "above 0"),
                                             ({"speed": -1}, "speed must be above 0")])
def test_pacing_is_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Pacing(**kwargs)


def test_labels_go_out_with_the_records(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("event_id,timestamp,model_id,prediction,label\na,2024-05-01T10:00:00Z,m,1,0\n")
    publisher = Recorder()
    replay(tmp_path, [path], publisher).run()
    assert publisher.sent == [("PredictionEvent", "a"), (LabelEvent.__name__, "a")]


# --- dry run and the command line --------------------------------------------------------------------------

def test_check_log_reports_every_bad_row_and_publishes_nothing(tmp_path):
    log = write_log(tmp_path / "a.jsonl", 20, bad_every=10)
    bad = []
    result = check_log(open_log([log]), tmp_path / "r.jsonl", on_reject=bad.append)
    assert [r.source.line for r in bad] == [10, 20] and result.rejected == 2
    assert result.records == {"features": 18, "predictions": 18, "labels": 0}
    assert [orjson.loads(line)["line"] for line in (tmp_path / "r.jsonl").read_bytes().splitlines()] == [10, 20]


def test_dry_run_command_prints_bad_rows_and_fails(tmp_path, capsys):
    log = write_log(tmp_path / "a.jsonl", 20, bad_every=10)
    assert main(["replay", str(log), "--dry-run"]) == 1
    out, err = capsys.readouterr()
    assert f"bad row: {log} line 10: column 'timestamp': 'garbage' is not a time" in err
    assert "20 rows: 18 features, 18 predictions, 0 labels; 2 bad row(s)" in out
    assert "event time 2024-05-01T10:00:00+00:00 .. 2024-05-01T10:00:18+00:00" in out


def test_dry_run_command_passes_a_clean_log(tmp_path, capsys):
    assert main(["replay", str(write_log(tmp_path / "a.jsonl", 5)), "--dry-run"]) == 0
    assert "0 bad row(s)" in capsys.readouterr().out


def test_command_errors_name_the_file_and_the_fix(tmp_path, capsys):
    log = write_log(tmp_path / "a.jsonl", 5)
    assert main(["replay", str(log), "--dry-run", "--timestamp-column", "ts"]) == 1
    assert f"error: {log}: no column 'ts' (given with --timestamp-column)" in capsys.readouterr().err
    assert main(["replay", str(log), "--dry-run", "--features", "x", "--feature-prefix", "f_"]) == 2
    assert "give either features (--features) or feature_prefix" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["replay", str(log), "--rate", "5", "--speed", "2"])
    assert "not allowed with argument" in capsys.readouterr().err

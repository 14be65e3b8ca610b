"""`streamdrift alerts` and `status` without a broker: their choices and their table (the broker tests are in
tests/integration/test_alerts_command.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import get_args

from stream.events import AlertKind, SignalStatus
from streamdrift.alerts_command import KINDS, status_table


def test_the_kind_choices_are_the_alert_kinds():
    assert KINDS == get_args(AlertKind)


def test_the_status_table_aligns_its_columns_and_shows_dashes_where_no_alert_was():
    since = datetime(2026, 3, 1, 12, 5, tzinfo=timezone.utc)
    rows = status_table([
        SignalStatus(model_id="credit-risk", signal="income", scope="all", kind="data_drift", state="drifting",
                     since=since, detector="ks", statistic=0.14712, threshold=0.1386, alert_id="x"),
        SignalStatus(model_id="m", signal="prediction", scope="version=v4", kind="prediction_drift", state="ok",
                     since=since)])
    assert rows == [
        "MODEL        SIGNAL      SCOPE       KIND              STATE     SINCE (event time)   DETECTOR  STATISTIC  THRESHOLD",
        "credit-risk  income      all         data_drift        drifting  2026-03-01 12:05:00  ks        0.1471     0.1386",
        "m            prediction  version=v4  prediction_drift  ok        2026-03-01 12:05:00  -         -          -",
    ]

"""The HTML report of the live topics: the alerts timeline, every signal's current state from the status topic,
and each drift alert's evidence read back from Kafka (as `streamdrift explain` shows it). The service keeps no
statistics over time on Kafka, so there are no traces here: a backtest's report has them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from stream.config import Config
from stream.errors import StreamdriftError
from stream.events import DriftAlert

from . import report_plots as plots
from .explain import explain
from .report_backtest import alerts_table, comparison_table
from .report_html import Page, Raw, esc, grid, span, table
from .topic_reading import read_alerts, read_statuses



def live_report(config: Config, model: str | None, since: datetime | None, max_alerts: int,
                on_problem: Callable[[str], None]) -> Page:
    alerts = [a for a in read_alerts(config, on_problem=on_problem)
              if (model is None or a.model_id == model) and (since is None or a.detected_at >= since)]
    statuses = [s for s in read_statuses(config, on_problem=on_problem) if model is None or s.model_id == model]
    title = f"streamdrift report: {model or ', '.join(m.model_id for m in config.models)}"
    page = Page(title)
    page.text(f"From {config.topics.alerts} and {config.topics.status} at {config.kafka.bootstrap_servers} "
              f"(read_committed)" + (f", alerts detected since {since:%Y-%m-%d %H:%M:%S}Z" if since else "")
              + f": {len(alerts):,} alerts, {len(statuses):,} signal states.", "meta")
    _summary(page, alerts, statuses)
    models = sorted({a.model_id for a in alerts} | {s.model_id for s in statuses})
    for model_id in models:
        page.heading(2, f"Model {model_id}", f"model-{model_id}")
        mine = [a for a in alerts if a.model_id == model_id]
        _timeline(page, model_id, mine)
        _status(page, [s for s in statuses if s.model_id == model_id])
        if mine:
            page.heading(3, "Alerts")
            page.add(alerts_table(mine))
            _evidence(page, config, mine, max_alerts, on_problem)
    if not models:
        page.text("No alert and no signal state on these topics yet.")
    return page


def _summary(page: Page, alerts: list[DriftAlert], statuses: list) -> None:
    page.heading(2, "Summary", "summary")
    state = {(s.model_id, s.signal, s.scope): s.state for s in statuses}
    rows = []
    keys = sorted({(a.model_id, a.kind, a.signal, a.scope) for a in alerts})
    for key in keys:
        hits = [a for a in alerts if (a.model_id, a.kind, a.signal, a.scope) == key]
        drifting = [a for a in hits if a.status == "drifting"]
        now = state.get((key[0], key[2], key[3]), "-")
        rows.append([*key, len(drifting), len(hits) - len(drifting),
                     _time(min((a.detected_at for a in drifting), default=None)),
                     _time(max(a.detected_at for a in hits)), span(now, now)])
    if rows:
        page.add(table(["model", "kind", "signal", "scope", "alerts", "resolved", "first alert", "latest",
                        "state now"], rows, numeric=(4, 5)))
    kinds = Counter(a.kind for a in alerts if a.status == "drifting")
    page.text("Drifting alerts by kind: " + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none") + ".")


def _timeline(page: Page, model_id: str, alerts: list[DriftAlert]) -> None:
    if not alerts:
        return
    rows = sorted({_row(a) for a in alerts})
    marks = [(_row(a), plots.Mark(a.detected_at, a.status, a.severity, a.scope)) for a in alerts]
    end = max(a.detected_at for a in alerts)
    page.heading(3, "Alerts over event time")
    page.add(page.figure(plots.timeline_figure(f"{model_id}: alerts", rows, marks, end), f"timeline-{model_id}",
                         "Triangles: drifting alerts (orange warning, red critical); green circles: resolved; "
                         "red band: drifting until resolved (or the latest alert)."))


def _row(a: DriftAlert) -> str:
    return a.signal + ("" if a.scope == "all" else f" [{a.scope}]")


def _status(page: Page, statuses: list) -> None:
    if not statuses:
        return
    page.heading(3, "Current state of each signal")
    order = {"drifting": 0, "resolved": 1, "ok": 2}
    rows = [[s.signal, s.scope, s.kind, span(s.state, s.state), _time(s.since), s.detector or "",
             "" if s.statistic is None else f"{s.statistic:.4g}", "" if s.threshold is None else f"{s.threshold:.4g}",
             Raw(f"<code>{esc(s.alert_id)}</code>") if s.alert_id else ""]
            for s in sorted(statuses, key=lambda s: (order.get(s.state, 3), s.signal, s.scope))]
    page.add(table(["signal", "scope", "kind", "state", "since (event time)", "detector", "statistic", "threshold",
                    "alert"], rows, numeric=(6, 7)))


def _evidence(page: Page, config: Config, alerts: list[DriftAlert], max_alerts: int,
              on_problem: Callable[[str], None]) -> None:
    chosen = [a for a in alerts if a.status == "drifting"]
    chosen = sorted(chosen, key=lambda a: a.detected_at, reverse=True)[:max_alerts]
    if not chosen:
        return
    page.heading(3, "Evidence of the drift alerts")
    page.text("Each alert's evidence read back from its topic partition: before (the reference profile, or the "
              "events before the evidence) against after (the stretch up to the alert that differs most), as "
              "streamdrift explain shows it.", "note")
    profiles = _profiles(config, alerts, on_problem)
    cards = []
    for alert in chosen:
        head = (f"<h4>{span(alert.severity, alert.severity)} {esc(alert.kind)} {esc(_row(alert))} "
                f"[{esc(alert.detector)}] at {esc(_time(alert.detected_at))}</h4>"
                f"<p class='note'><code>{esc(alert.alert_id)}</code></p>")
        try:
            x = explain(config, alert, profiles=profiles)
        except StreamdriftError as exc:
            cards.append(head + f"<p class='note'>Cannot show the evidence: {esc(exc)}</p>")
            continue
        notes = "".join(f"<p class='note'>note: {esc(n)}</p>" for n in x.notes)
        fig = plots.comparison_figure(x.comparison, f"{_row(alert)} at {_time(alert.detected_at)}")
        cards.append(head + f"<p class='note'>before: {esc(x.before.description)}<br>after: "
                            f"{esc(x.after.description)}</p>" + comparison_table(x.comparison, 6)
                     + page.figure(fig, f"evidence-{alert.model_id}-{alert.signal}-{alert.alert_id[:8]}") + notes)
    page.add(grid(cards))
    left = sum(1 for a in alerts if a.status == "drifting") - len(chosen)
    if left > 0:
        page.text(f"{left} older alerts not drawn (--max-alerts {max_alerts}); streamdrift explain ID shows any.",
                  "note")


def _profiles(config: Config, alerts: list[DriftAlert], on_problem: Callable[[str], None]) -> dict:
    """The published reference profiles, read once, when a model of these alerts compares with its training set."""
    if not any((m := config.model(a.model_id)) is not None and m.reference == "training" for a in alerts):
        return {}
    from stream.profile_kafka import read_profiles

    return read_profiles(config, on_problem=on_problem)


def _time(when: datetime | None) -> str:
    return "-" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")

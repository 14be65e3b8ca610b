"""The HTML report of a backtest: the alerts of each configuration side by side, then per model each signal's
statistic against its threshold, the evidence at each alert, data quality and performance over event time."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from stream.events import DriftAlert

from . import report_plots as plots
from .report_data import RunResult
from .report_html import Page, Raw, esc, grid, span, table
from .shift import SHARES, Comparison, compare_frequencies, compare_quantiles, fmt

DRIFT_KINDS = ("data_drift", "prediction_drift", "concept_drift")   # the kinds whose detectors trace.jsonl follows
EVIDENCE_ROWS = 5          # rows of the before/after table shown beside each evidence plot
MAX_SCOPES = 8             # lines per performance panel
Key = tuple[str, str, str, str]   # model, kind, signal, scope


def backtest_report(runs: Sequence[RunResult], source: Path, max_alerts: int = 30) -> Page:
    names = [run.name for run in runs]
    page = Page(f"streamdrift backtest report: {', '.join(names)}" if len(runs) <= 3
                else f"streamdrift backtest report: {len(runs)} configurations")
    logs = sorted({log for run in runs for log in run.summary.get("logs", [])})
    page.text(f"Results in {source} ({len(runs)} configuration{'s' if len(runs) > 1 else ''}: {', '.join(names)}); "
              f"logs: {', '.join(logs) or 'not recorded'}.", "meta")
    models = sorted({a.model_id for run in runs for a in run.alerts}
                    | {row["model"] for run in runs for row in run.trace + run.quality + run.performance})
    links = ["<a href='#summary'>Summary</a>"] + (["<a href='#comparison'>Comparison</a>"] if len(runs) > 1 else [])
    links += [f"<a href='#model-{esc(m)}'>{esc(m)}</a>" for m in models]
    page.add(f"<nav>{''.join(links)}</nav>")
    _summary(page, runs)
    if len(runs) > 1:
        _comparison(page, runs)
    for model in models:
        _model_section(page, runs, model, max_alerts)
    return page


# -- summary and comparison ------------------------------------------------------------------------
def _summary(page: Page, runs: Sequence[RunResult]) -> None:
    page.heading(2, "Summary", "summary")
    rows = []
    for run in runs:
        s = run.summary
        kinds = Counter(a.kind for a in run.alerts if a.status == "drifting")
        rows.append([run.name, _int(run.events), _int(s.get("rejected_rows")), s.get("seconds"),
                     _int(run.events_per_second), sum(kinds.values()),
                     sum(1 for a in run.alerts if a.status == "resolved"),
                     ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none",
                     ("lacks " + ", ".join(run.missing)) if run.missing else ""])
    page.add(table(["configuration", "events", "rejected rows", "seconds", "events/s", "alerts", "resolved",
                    "alerts by kind", "notes"], rows, numeric=(1, 2, 3, 4, 5, 6)))
    keys = _keys(runs)
    if not keys:
        page.text("No configuration raised an alert.")
        return
    page.text("Alerts per model, kind, signal and scope: how many (drifting; resolutions in brackets) and the event "
              "time of the first.", "note")
    rows = []
    for key in keys:
        cells: list[object] = list(key)
        for run in runs:
            hits = _hits(run, key)
            resolved = sum(1 for a in run.alerts if _key(a) == key and a.status == "resolved")
            cells.append(f"{len(hits)}" + (f" (+{resolved})" if resolved else "")
                         + (f", first {_time(min(a.detected_at for a in hits))}" if hits else "") if hits or resolved
                         else "-")
        rows.append(cells)
    page.add(table(["model", "kind", "signal", "scope", *[r.name for r in runs]], rows))


def _comparison(page: Page, runs: Sequence[RunResult]) -> None:
    page.heading(2, "Comparison of the configurations", "comparison")
    kinds = sorted({a.kind for run in runs for a in run.alerts if a.status == "drifting"})
    if kinds:
        counts = {kind: [sum(1 for a in run.alerts if a.kind == kind and a.status == "drifting") for run in runs]
                  for kind in kinds}
        page.add(page.figure(plots.counts_figure("alerts per configuration and kind", [r.name for r in runs], counts),
                             "comparison-alert-counts"))
    keys = _keys(runs)
    if not keys:
        return
    page.text("First-alert delay: how much later (in event time) than the earliest configuration each one first "
              "alerted on the signal; '-' when it never did.", "note")
    rows = []
    for key in keys:
        firsts = {run.name: min((a.detected_at for a in _hits(run, key)), default=None) for run in runs}
        earliest = min((t for t in firsts.values() if t is not None), default=None)
        cells: list[object] = [*key, _time(earliest)]
        for run in runs:
            first = firsts[run.name]
            cells.append("-" if first is None else "earliest" if first == earliest else f"+{_delta(first - earliest)}")
        rows.append(cells)
    page.add(table(["model", "kind", "signal", "scope", "earliest first alert", *[r.name for r in runs]], rows))


def _keys(runs: Sequence[RunResult]) -> list[Key]:
    return sorted({_key(a) for run in runs for a in run.alerts})


def _key(a: DriftAlert) -> Key:
    return a.model_id, a.kind, a.signal, a.scope


def _hits(run: RunResult, key: Key) -> list[DriftAlert]:
    return [a for a in run.alerts if _key(a) == key and a.status == "drifting"]


# -- one model -------------------------------------------------------------------------------------
def _model_section(page: Page, runs: Sequence[RunResult], model: str, max_alerts: int) -> None:
    page.heading(2, f"Model {model}", f"model-{model}")
    _statistics(page, runs, model)
    _evidence(page, runs, model, max_alerts)
    _quality(page, runs, model)
    _performance(page, runs, model)


def _statistics(page: Page, runs: Sequence[RunResult], model: str) -> None:
    page.heading(3, "Drift statistics over event time")
    page.text("Each detector's statistic (solid) against its threshold (dashed), per scope. Vertical lines: alerts "
              "(solid: drifting, coloured by severity; dotted: resolved). Shaded: the signal drifting (red) or "
              "resolved (green).", "note")
    signals: dict[str, None] = {}
    alerted = {a.signal for run in runs for a in run.alerts if a.model_id == model and a.kind in DRIFT_KINDS}
    for run in runs:
        for row in run.trace:
            if row["model"] == model:
                signals.setdefault(row["signal"], None)
    if not signals:
        page.text("No statistics were recorded for this model (trace.jsonl is empty or missing).", "note")
        return
    single = len(runs) == 1
    singles = []
    for signal in sorted(signals, key=lambda s: (s not in alerted, list(signals).index(s))):
        cells = []
        for run in runs:
            head = "" if single else f"<h4>{esc(run.name)}</h4>"
            rows = [r for r in run.trace if r["model"] == model and r["signal"] == signal]
            if not rows:
                cells.append(f"{head}<p class='note'>{esc(signal)}: not watched</p>")
                continue
            series, left_out = _series(rows, run, model, signal)
            marks = [plots.Mark(a.detected_at, a.status, a.severity, a.scope) for a in run.alerts
                     if a.model_id == model and a.signal == signal and a.kind in DRIFT_KINDS]
            fig = plots.trace_figure(f"{model}/{signal}" + ("" if single else f" — {run.name}"), series, marks)
            caption = f"{len(left_out)} more scope/detector panels not drawn: {', '.join(left_out[:10])}" \
                if left_out else ""
            cells.append(head + page.figure(fig, f"trace-{run.name}-{model}-{signal}", caption))
        if single:
            singles += cells
        else:
            page.add(f"<h4>{esc(signal)}</h4>" + grid(cells))
    if single:
        page.add(grid(singles))


def _series(rows: list[dict], run: RunResult, model: str, signal: str) -> tuple[list[plots.Series], list[str]]:
    by: dict[tuple[str, str], plots.Series] = {}
    for r in rows:
        s = by.get((r["scope"], r["detector"]))
        if s is None:
            s = by[(r["scope"], r["detector"])] = plots.Series(f"{r['scope']} · {r['detector']}", r["scope"])
        s.times.append(r["time"])
        s.statistic.append(r.get("statistic"))
        s.threshold.append(r.get("threshold"))
        s.states.append(r.get("state", "ok"))
    alerted = {a.scope for a in run.alerts if a.model_id == model and a.signal == signal}
    ordered = sorted(by.values(), key=lambda s: (s.scope not in alerted, s.scope != "all", s.label))
    return ordered[:plots.MAX_PANELS], [s.label for s in ordered[plots.MAX_PANELS:]]


def _evidence(page: Page, runs: Sequence[RunResult], model: str, max_alerts: int) -> None:
    page.heading(3, "Alerts and their evidence")
    for run in runs:
        alerts = [a for a in run.alerts if a.model_id == model]
        if len(runs) > 1:
            page.heading(4, f"{run.name}: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}")
        if not alerts:
            page.text("No alert.", "note")
            continue
        page.add(alerts_table(alerts))
        evidence = {row["alert_id"]: row for row in run.evidence if row.get("model") == model}
        shown = [a for a in alerts if a.alert_id in evidence][:max_alerts]
        if not shown:
            continue
        page.text("At each drift alert, the signal's reference (its first values, as a rolling reference learns "
                  "them) against its most recent values, model-wide: quantiles for numbers, category shares for "
                  "categories.", "note")
        cards = []
        for alert in shown:
            comparison = evidence_comparison(evidence[alert.alert_id])
            title = f"{alert.signal} at {_time(alert.detected_at)} ({run.name})"
            cards.append(_alert_heading(alert) + comparison_table(comparison, EVIDENCE_ROWS)
                         + page.figure(plots.comparison_figure(comparison, title),
                                       f"evidence-{run.name}-{model}-{alert.signal}-{alert.alert_id[:8]}",
                                       evidence[alert.alert_id].get("note", "")))
        page.add(grid(cards))
        more = sum(1 for a in alerts if a.alert_id in evidence) - len(shown)
        if more > 0:
            page.text(f"{more} more alerts with evidence not drawn (--max-alerts {max_alerts}).", "note")


def evidence_comparison(row: dict) -> Comparison:
    """A row of evidence.jsonl as a Comparison."""
    if row.get("type") == "numeric":
        return compare_quantiles(row["signal"], row["quantiles"], row["reference"], row["current"])
    return compare_frequencies(row["signal"], row.get("reference") or {}, row.get("current") or {})


def alerts_table(alerts: Sequence[DriftAlert]) -> str:
    rows = []
    for a in alerts:
        rows.append([_time(a.detected_at), span(a.severity, a.severity), span(a.status, a.status), a.kind,
                     a.signal, a.scope, a.detector, fmt(a.statistic), fmt(a.threshold),
                     f"{a.window.topic}/{a.window.partition} {a.window.first_offset}..{a.window.last_offset}",
                     Raw(f"<code>{esc(a.alert_id)}</code>")])
    return table(["detected (event time)", "severity", "status", "kind", "signal", "scope", "detector", "statistic",
                  "threshold", "evidence (topic/partition offsets)", "alert id"], rows, numeric=(7, 8))


def comparison_table(c: Comparison, limit: int) -> str:
    """The rows of a comparison that move most, then its summary (mean, std, shares)."""
    def summary_row(r) -> list:
        if r.name in SHARES or r.name.startswith("text"):
            return [r.name, _share(r.before), _share(r.after), _pp(r.change)]
        return [r.name, fmt(r.before), fmt(r.after), fmt(r.change, sign=True)]

    if c.type == "numeric":
        in_sd = c.scale is not None and c.scale > 0
        rows = [[r.label, fmt(r.before), fmt(r.after), fmt(r.change, sign=True)]
                + ([f"{r.change / c.scale:+.2f}" if r.change == r.change else "-"] if in_sd else [])
                for r in c.rows[:limit]]
        rows += [summary_row(r) + ([""] if in_sd else []) for r in c.summary]
        return table(["quantile", "before", "after", "shift"] + (["in sd"] if in_sd else []), rows,
                     numeric=(1, 2, 3, 4))
    rows = [[r.label, _share(r.before), _share(r.after), _pp(r.change)] for r in c.rows[:limit]]
    if len(c.rows) > limit:
        rows.append([f"{len(c.rows) - limit} more categories", "", "", ""])
    rows += [summary_row(r) for r in c.summary]
    return table(["category", "before", "after", "change"], rows, numeric=(1, 2, 3))


def _alert_heading(a: DriftAlert) -> str:
    scope = "" if a.scope == "all" else f" [{a.scope}]"
    return (f"<h4>{span(a.severity, a.severity)} {esc(a.kind)} {esc(a.model_id)}/{esc(a.signal)}{esc(scope)} "
            f"[{esc(a.detector)}] at {esc(_time(a.detected_at))}</h4><p class='note'>{esc(a.message)}</p>")


def _quality(page: Page, runs: Sequence[RunResult], model: str) -> None:
    page.heading(3, "Data quality")
    page.text("Per window of 1,000 events: the share of missing values against max_missing_rate, of out-of-range "
              "and wrong-type values against max_invalid_rate (dashed).", "note")
    cells = []
    for run in runs:
        rows = [r for r in run.quality if r["model"] == model]
        head = f"<h4>{esc(run.name)}</h4>" if len(runs) > 1 else ""
        if not rows:
            cells.append(head + "<p class='note'>no window recorded</p>")
            continue
        by_feature: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            by_feature[r["feature"]].append(r)
        summary, panels, clean = [], [], []
        for feature, fr in by_feature.items():
            worst = {p: max((r.get(p) or 0.0) for r in fr) for p in ("missing", "out_of_range", "wrong_type")}
            over = sum(1 for r in fr if (r.get("missing") or 0) > r["max_missing_rate"]
                       or (r.get("out_of_range") or 0) > r["max_invalid_rate"]
                       or (r.get("wrong_type") or 0) > r["max_invalid_rate"])
            summary.append([feature, len(fr), _share(worst["missing"]), _share(fr[-1]["max_missing_rate"]),
                            _share(worst["out_of_range"]), _share(worst["wrong_type"]),
                            _share(fr[-1]["max_invalid_rate"]), over])
            if any(worst.values()):
                times = [r["time"] for r in fr]
                lines = {p.replace("_", " "): (times, [r.get(p) for r in fr])
                         for p in ("missing", "out_of_range", "wrong_type")}
                panels.append((feature, lines, {"max missing": fr[-1]["max_missing_rate"],
                                                "max invalid": fr[-1]["max_invalid_rate"]}))
            else:
                clean.append(feature)
        cell = head + table(["feature", "windows", "worst missing", "limit", "worst out of range", "worst wrong type",
                             "limit", "windows over a limit"], summary, numeric=(1, 2, 3, 4, 5, 6, 7))
        if panels:
            panels.sort(key=lambda p: -max(max(v or 0 for v in vs) for _, vs in p[1].values()))
            cell += page.figure(plots.lines_figure(f"{model}: data quality — {run.name}", panels, percent=True),
                                f"quality-{run.name}-{model}",
                                f"{len(panels) - plots.MAX_PANELS} more features not drawn"
                                if len(panels) > plots.MAX_PANELS else "")
        if clean:
            cell += (f"<p class='note'>No missing, out-of-range or wrong-type value in any window: "
                     f"{esc(', '.join(clean))}.</p>")
        cells.append(cell)
    page.add(grid(cells))


def _performance(page: Page, runs: Sequence[RunResult], model: str) -> None:
    rows_of = {run.name: [r for r in run.performance if r["model"] == model] for run in runs}
    if not any(rows_of.values()):
        return
    page.heading(3, "Performance over event time")
    page.text("From the joined labels, over the last window of pairs, per version and segment scope.", "note")
    cells = []
    for run in runs:
        rows = rows_of[run.name]
        head = f"<h4>{esc(run.name)}</h4>" if len(runs) > 1 else ""
        if not rows:
            cells.append(head + "<p class='note'>no labels joined</p>")
            continue
        metrics = [m for m in ("accuracy", "macro_f1", "mae", "rmse") if any(r.get(m) is not None for r in rows)]
        pairs = Counter()
        for r in rows:
            pairs[r["scope"]] = max(pairs[r["scope"]], r.get("pairs") or 0)
        scopes = sorted(pairs, key=lambda s: (not s.startswith("version="), -pairs[s], s))[:MAX_SCOPES]
        panels = []
        for metric in metrics:
            lines = {}
            for scope in scopes:
                mine = [r for r in rows if r["scope"] == scope]
                lines[scope] = ([r["time"] for r in mine], [r.get(metric) for r in mine])
            panels.append((metric.replace("_", "-"), lines, {}))
        caption = f"{len(pairs) - len(scopes)} more scopes not drawn" if len(pairs) > len(scopes) else ""
        cells.append(head + page.figure(plots.lines_figure(f"{model}: performance — {run.name}", panels,
                                                           percent=metrics[0] in ("accuracy", "macro_f1")),
                                        f"performance-{run.name}-{model}", caption))
    page.add(grid(cells))


# -- formatting --------------------------------------------------------------------------------------
def _time(when: datetime | None) -> str:
    return "-" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


def _delta(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:d}:{minutes:02d}:{seconds:02d}"


def _int(value) -> str:
    return "-" if value is None else f"{int(value):,}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _pp(value: float) -> str:
    return "-" if value != value else f"{value * 100:+.1f}pp"

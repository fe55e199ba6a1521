"""`lastmile report`: the ecosystem's KPIs per partner (lastmile/kpis.py) as a table in the
terminal, one JSON object, or one self-contained HTML file of charts (plotly, its JavaScript
inlined: the file works offline).

The charts: KPI trends per partner and day, the feed-latency distribution, dead letters by
reason, kilometres saved, schema versions per partner, and a map of the resolution-8 H3 cells
coloured by the number of current co-located deliveries (hexes on a plain background, no tiles).
"""
from __future__ import annotations

import datetime as dt
import html
import pathlib

from lastmile import kpis
from lastmile.config import Config

#: How the terminal table names each KPI (lastmile.kpis.KPIS has the definitions).
LABELS = {"parcels_delivered": "delivered", "attempts": "attempts", "missed_delivery_rate": "missed",
          "on_time_rate": "on time", "km_driven": "km driven", "km_per_parcel": "km / parcel",
          "received": "events in", "feed_latency_p50_ms": "latency p50",
          "feed_latency_p95_ms": "latency p95", "feed_latency_p99_ms": "latency p99", "dead_letters": "dead letters",
          "error_rate": "error rate", "colocations": "co-located", "colocation_rate": "co-loc. rate",
          "proposals": "proposals", "proposals_evaluated": "evaluated", "km_saved": "km saved",
          "km_saved_own": "own km saved", "km_saved_upper_bound": "km saved ≤",
          "current_schema_share": "current schema", "schema_rejected_share": "bad schema", "eta_mae_s": "ETA error"}
TREND_KPIS = ("parcels_delivered", "km_per_parcel", "missed_delivery_rate", "on_time_rate", "feed_latency_p95_ms",
              "error_rate", "colocation_rate")
MAP_RESOLUTION = 8


def build(config: Config, period: kpis.Period, partner: str | None = None) -> dict:
    """What the report shows: ``{"period", "partners": {id: {kpi: value}}, "totals", "dead_letters_by_reason"}``."""
    partners = kpis.compute(config, period, partner)
    totals = {k: sum(p[k] or 0 for p in partners.values())
              for k in ("parcels_delivered", "attempts", "received", "dead_letters", "proposals")}
    return {"period": {"since": str(period.since) if period.since else None,
                       "until": str(period.until) if period.until else None},
            "partner": partner, "partners": partners, "totals": totals,
            "savings": kpis.savings_totals(config, period, partner),
            "schema_versions": kpis.schema_versions(config, period, partner),
            "dead_letters_by_reason": kpis.dead_letters_by_reason(config, period, partner)}


def print_table(report: dict) -> None:
    """The KPIs as rows, the partners as columns (a column per partner stays readable in 80 columns
    for a handful of partners; ``--partner`` or ``--json`` for more)."""
    from rich.console import Console
    from rich.table import Table

    period = report["period"]
    table = Table(title=f"KPIs per partner, {period['since'] or 'start'} to {period['until'] or 'now'} (docs/kpis.md)")
    table.add_column("KPI", no_wrap=True)
    for partner in report["partners"]:  # a long id on two lines, broken after its first hyphen
        table.add_column(partner.replace("-", "-\n", 1) if len(partner) > 10 else partner, justify="right")
    for kpi in kpis.KPIS:
        table.add_row(LABELS[kpi], *(_cell(kpi, v[kpi]) for v in report["partners"].values()))
    console = Console()
    console.print(table)
    s = report["savings"]
    console.print(f"consolidation: {s['evaluated']:,} of {s['proposals']:,} proposals evaluated on the routes the vans "
                  f"drove save {s['km_saved']:,} km (marginal), of {s['km_driven']:,} km driven; decided on depot-to-group "
                  f"trips the same proposals claimed {s['km_saved_upper_bound_evaluated']:,} km (upper bound)")
    if report["dead_letters_by_reason"]:
        console.print("dead letters: " + ", ".join(f"{r} {n:,}" for r, n in report["dead_letters_by_reason"].items()))


def _cell(kpi: str, value) -> str:
    if value is None:
        return "-"
    unit = kpis.KPIS[kpi][0]
    if unit == "share":
        return f"{100 * value:.1f} %"
    if unit in ("ms", "s"):
        return _duration(value / 1000 if unit == "ms" else value)
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _duration(seconds: float) -> str:
    """A duration people read: 850 ms, 12.5 s, 4.2 min, 3.1 h, 398 d."""
    for limit, unit, size in ((1, "ms", 0.001), (100, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if abs(seconds) < limit:
            return f"{seconds / size:.0f} {unit}" if unit == "ms" else f"{seconds / size:.1f} {unit}"
    return f"{seconds / 86400:,.0f} d"


def daily(config: Config, period: kpis.Period, partner: str | None = None) -> dict[str, dict[str, dict]]:
    """``{day: {partner: kpis}}`` for every day with statuses or events in the period."""
    from lastmile.clickhouse import http_client

    days = [d for (d,) in http_client(config).query(
        f"SELECT DISTINCT day FROM kpi_feed_events WHERE {period.where('day')} ORDER BY day",
        parameters=period.parameters()).result_rows]
    return {str(d): kpis.compute(config, kpis.Period(d, d), partner) for d in days}


def write_html(config: Config, report: dict, period: kpis.Period, path: pathlib.Path) -> None:
    """The report as one HTML file with its charts (plotly's JavaScript inlined once)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    figures = [_trends(daily(config, period, report["partner"])), _latency(config, period, report["partner"]),
               _dead_letters(report), _km_saved(report), _schema_versions(report),
               _hex_map(config, period, report["partner"])]
    parts = [pio.to_html(fig, include_plotlyjs=(i == 0), full_html=False, div_id=f"chart-{i}")
             for i, fig in enumerate(f for f in figures if isinstance(f, go.Figure))]
    rows = "".join(f"<tr><td>{html.escape(p)}</td>" + "".join(f"<td>{html.escape(_cell(k, v[k]))}</td>" for k in kpis.KPIS)
                   + "</tr>" for p, v in report["partners"].items())
    head = "".join(f"<th>{html.escape(k.replace('_', ' '))}</th>" for k in kpis.KPIS)
    period_text = f"{report['period']['since'] or 'start'} to {report['period']['until'] or 'now'}"
    path.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lastmile report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}</style></head>
<body><h1>lastmile: the ecosystem's KPIs</h1>
<p>Period: {html.escape(period_text)}, generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.
Definitions: docs/kpis.md. km saved: the marginal change of the partners' routes; km saved ≤: the
depot-to-group trips the proposals were decided on, an upper bound.</p>
<table id="kpis"><tr><th>partner</th>{head}</tr>{rows}</table>
{''.join(parts)}
</body></html>
""", encoding="utf-8")


def _trends(by_day: dict):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(TREND_KPIS), cols=1, shared_xaxes=True,
                        subplot_titles=[k.replace("_", " ") for k in TREND_KPIS])
    partners = sorted({p for day in by_day.values() for p in day})
    for row, kpi in enumerate(TREND_KPIS, 1):
        for p in partners:
            fig.add_trace(go.Scatter(x=list(by_day), y=[by_day[d].get(p, {}).get(kpi) for d in by_day], name=p,
                                     legendgroup=p, showlegend=row == 1, mode="lines+markers"), row=row, col=1)
    fig.update_layout(title="KPI trends per partner and day", height=260 * len(TREND_KPIS))
    return fig


def _latency(config: Config, period: kpis.Period, partner: str | None):
    import plotly.graph_objects as go

    from lastmile.clickhouse import http_client

    who = "partner_id = {partner:String}" if partner else "1"
    rows = http_client(config).query(
        "SELECT partner_id, groupArraySample(20000)(latency) FROM (SELECT partner_id, min(latency_ms) / 1000 AS latency "
        f"FROM kpi_feed_events WHERE {period.where('day')} AND {who} GROUP BY partner_id, stream, day, event_id) "
        "GROUP BY partner_id ORDER BY partner_id",
        parameters={**period.parameters(), **({"partner": partner} if partner else {})}).result_rows
    fig = go.Figure([go.Histogram(x=values, name=p, opacity=0.6, nbinsx=60) for p, values in rows])
    fig.update_layout(title="feed latency (s, ingested_at - event_time at first arrival; a sample per partner)",
                      barmode="overlay", xaxis_title="seconds", yaxis_title="events")
    return fig


def _dead_letters(report: dict):
    import plotly.graph_objects as go

    reasons = report["dead_letters_by_reason"]
    fig = go.Figure([go.Bar(x=list(reasons.values()), y=list(reasons), orientation="h")])
    fig.update_layout(title="dead letters by stage/reason", xaxis_title="records", height=200 + 24 * len(reasons))
    return fig


def _schema_versions(report: dict):
    """Per partner, the share of its accepted events by stream and schema version (stacked)."""
    import plotly.graph_objects as go

    found = report["schema_versions"]
    partners = list(found)
    labels = sorted({label for versions in found.values() for label in versions})
    totals = {p: sum(found[p].values()) or 1 for p in partners}
    fig = go.Figure([go.Bar(name=label, x=partners, y=[found[p].get(label, 0) / totals[p] for p in partners])
                     for label in labels])
    fig.update_layout(title="schema adherence: accepted events by stream and schema version", barmode="stack",
                      yaxis_title="share of the partner's events", yaxis_tickformat=".0%")
    return fig


def _km_saved(report: dict):
    import plotly.graph_objects as go

    partners = report["partners"]
    fig = go.Figure([go.Bar(name=name, x=list(partners), y=[v[kpi] or 0 for v in partners.values()])
                     for kpi, name in (("km_saved", "marginal, on the routes driven (evaluated proposals)"),
                                       ("km_saved_own", "of which the partner's own vans"),
                                       ("km_saved_upper_bound", "upper bound: depot-to-group trips (all proposals)"))])
    fig.update_layout(title="km saved by the proposals each partner is part of", yaxis_title="km", barmode="group")
    return fig


def _hex_map(config: Config, period: kpis.Period, partner: str | None):
    """The resolution-8 cells of current co-locations, coloured by how many pairs each holds."""
    import h3.api.basic_int as h3i
    import plotly.graph_objects as go
    from plotly.colors import sample_colorscale

    from lastmile.clickhouse import http_client

    who = "(partner_a = {partner:String} OR partner_b = {partner:String})" if partner else "1"
    cells = http_client(config).query(
        f"SELECT h3ToParent(h3_cell, {MAP_RESOLUTION}) AS cell, count() AS n FROM colocations_current "
        f"WHERE {period.where('toDate(overlap_start)')} AND {who} GROUP BY cell ORDER BY n DESC LIMIT 2000",
        parameters={**period.parameters(), **({"partner": partner} if partner else {})}).result_rows
    fig = go.Figure()
    top = max((n for _, n in cells), default=1)
    for cell, n in cells:
        boundary = h3i.cell_to_boundary(int(cell))
        colour = sample_colorscale("YlOrRd", [0.15 + 0.85 * n / top])[0]
        fig.add_trace(go.Scatter(x=[p[1] for p in (*boundary, boundary[0])], y=[p[0] for p in (*boundary, boundary[0])],
                                 fill="toself", fillcolor=colour, line={"width": 0.5, "color": "#888"}, mode="lines",
                                 hoverinfo="text", text=f"{h3i.int_to_str(int(cell))}: {n} co-located pairs",
                                 showlegend=False))
    fig.update_layout(title=f"duplicated deliveries: current co-located pairs per H3 cell (resolution {MAP_RESOLUTION})",
                      xaxis={"title": "longitude", "scaleanchor": "y"}, yaxis={"title": "latitude"}, height=700,
                      plot_bgcolor="white")
    return fig

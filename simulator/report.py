"""One self-contained HTML page for an `EvaluationResult`: inline CSS and SVG, no scripts,
no external assets, no clock (the same inputs give the same bytes).

Sections: summary table, Pd vs SNR (bars with detected/intruders counts), latency
histogram, confusion matrix (shaded grid), site map (zones as polygons, sensors as
markers, truth tracks as polylines, alert locations as circles of their radius),
then the per-intruder and per-alert tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

import numpy as np

from simulator.evaluate import (
    ALERT_COLUMNS,
    TRUTH_ROWS,
    EvaluationResult,
    Truth,
    intruders_of,
    track_xy,
)

KIND_COLOURS = {"drone": "#c0392b", "handset": "#2e6fba", "other": "#8a8a8a"}
STATUS_COLOURS = {"matched": "#1e8449", "duplicate": "#d68910", "false": "#c0392b"}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:980px;color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;
border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777}.yes{color:#1e8449}.no{color:#c0392b}
svg{display:block;margin:.5rem 0;background:#fff}
svg text{font:11px system-ui,sans-serif;fill:#333}
"""


def render_report(truth: Truth, result: EvaluationResult, *, title: str | None = None) -> str:
    heading = title or f"Evaluation of {result.site} (seed {result.seed})"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(heading)}</h1>",
        f'<p class="muted">{result.duration_s:g} s of scenario time, {result.sensors} sensors, '
        f"tolerance {result.tolerance_before_s:g} s before onset and "
        f"{result.tolerance_after_s:g} s after the end of an emission. Definitions: "
        "<code>simulator/evaluate.py</code>.</p>",
        "<h2>Summary</h2>",
        _summary_table(result),
        "<h2>Probability of detection vs best SNR</h2>",
        pd_vs_snr_svg(result),
        "<h2>Latency from emission onset to first alert</h2>",
        latency_histogram_svg(result.latencies_s),
        "<h2>Confusion matrix</h2>",
        '<p class="muted">Alert columns count alerts; the <em>none</em> column counts '
        "missed intruders; the <em>none</em> row counts false alerts with no emitter "
        "nearby in time, <em>other</em> those overlapping a non-threat emitter.</p>",
        confusion_svg(result.confusion),
        "<h2>Map: truth tracks and alert locations</h2>",
        map_svg(truth, result),
        "<h2>Intruders</h2>",
        _intruder_table(result),
        "<h2>Alerts</h2>",
        _alert_table(result),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- tables


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return '<span class="muted">n/a</span>' if v is None else format(v, spec)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary_table(r: EvaluationResult) -> str:
    by_kind = ", ".join(f"{escape(k)} {_fmt(v)}" for k, v in r.pd_by_kind.items()) or "n/a"
    rows = [
        ("Pd", f"{_fmt(r.pd)} ({r.detected} of {r.intruders} intruders)"),
        ("Pd by kind", by_kind),
        (
            "False alerts",
            f"{r.false_alerts} in {r.hours:.3g} h = {_fmt(r.false_alerts_per_hour)}"
            f" /h, {_fmt(r.false_alerts_per_sensor_hour, '.3f')} per sensor-hour",
        ),
        ("Latency p50 / p90", f"{_fmt(r.latency_s_p50)} s / {_fmt(r.latency_s_p90)} s"),
        (
            "Location error median",
            f"{_fmt(r.location_error_m_median, '.1f')} m "
            f"(within radius {_fmt(r.location_within_radius)})",
        ),
        ("Alerts per detected intruder", _fmt(r.alerts_per_intruder)),
        (
            "Alerts",
            f"{r.alerts_total} total: {r.alerts_matched} matched "
            f"({r.alerts_duplicate} duplicates), {r.false_alerts} false, "
            f"{r.sensor_offline_alerts} sensor_offline, "
            f"{r.alerts_out_of_scope} out of scope",
        ),
    ]
    return _table(["Metric", "Value"], [(escape(k), v) for k, v in rows], set())


def _intruder_table(r: EvaluationResult) -> str:
    rows = [
        (
            escape(i.intruder_id),
            escape(i.kind),
            escape(", ".join(i.signatures)),
            f"{i.onset_s:.1f}–{i.end_s:.1f}",
            _fmt(i.best_snr_db, ".1f"),
            '<span class="yes">yes</span>' if i.detected else '<span class="no">no</span>',
            str(len(i.alert_ids)),
            _fmt(i.latency_s),
            _fmt(min(i.location_errors_m) if i.location_errors_m else None, ".1f"),
        )
        for i in r.per_intruder
    ]
    header = [
        "Intruder",
        "Kind",
        "Signatures",
        "Emitting (s)",
        "Best SNR (dB)",
        "Detected",
        "Alerts",
        "Latency (s)",
        "Best loc. error (m)",
    ]
    return _table(header, rows, {3, 4, 6, 7, 8}) if rows else '<p class="muted">No intruders.</p>'


def _alert_table(r: EvaluationResult) -> str:
    rows = [
        (
            escape(a.alert_id),
            escape(a.kind),
            f'<span style="color:{STATUS_COLOURS.get(a.status, "#555")}">{escape(a.status)}</span>',
            escape(a.intruder_id or ""),
            f"{a.first_seen_s:.1f}–{a.last_seen_s:.1f}",
            _fmt(a.location_error_m, ".1f"),
        )
        for a in r.per_alert
    ]
    header = ["Alert", "Kind", "Status", "Intruder", "Seen (s)", "Loc. error (m)"]
    return _table(header, rows, {4, 5}) if rows else '<p class="muted">No alerts.</p>'


# ---------------------------------------------------------------- plots


def _svg(name: str, width: float, height: float, body: Iterable[str]) -> str:
    return (
        f'<svg id="{name}" xmlns="http://www.w3.org/2000/svg" width="{width:g}" '
        f'height="{height:g}" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-label="{escape(name)}">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, s: str, *, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(s)}</text>'


def _y_axis(x0: float, top: float, plot_h: float, ticks: Sequence[float], fmt: str) -> list[str]:
    hi = ticks[-1] if ticks[-1] else 1.0
    out = []
    for v in ticks:
        y = top + plot_h * (1 - v / hi)
        out.append(f'<line x1="{x0}" x2="{x0 - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#999"/>')
        out.append(_text(x0 - 6, y + 4, format(v, fmt), anchor="end"))
    out.append(f'<line x1="{x0}" x2="{x0}" y1="{top}" y2="{top + plot_h}" stroke="#999"/>')
    return out


def pd_vs_snr_svg(result: EvaluationResult) -> str:
    bins = result.pd_by_snr_bin
    width, height, left, top, bottom = 900.0, 260.0, 44.0, 20.0, 50.0
    plot_h = height - top - bottom
    step = (width - left - 10) / max(1, len(bins))
    body = _y_axis(left, top, plot_h, [0.0, 0.25, 0.5, 0.75, 1.0], ".2f")
    for k, b in enumerate(bins):
        x = left + k * step
        cx = x + step / 2
        if b.pd is not None:
            h = plot_h * b.pd
            body.append(
                f'<rect x="{x + 4:.1f}" y="{top + plot_h - h:.1f}" width="{step - 8:.1f}"'
                f' height="{h:.1f}" fill="#2e6fba"/>'
            )
            body.append(_text(cx, top + plot_h - h - 4, f"{b.detected}/{b.intruders}"))
        else:
            body.append(_text(cx, top + plot_h - 4, "–", extra=' class="muted"'))
        body.append(_text(cx, top + plot_h + 16, b.label))
    body.append(_text(width / 2, height - 8, "intruder's best SNR over sensors (dB)"))
    return _svg("pd-vs-snr", width, height, body)


def latency_histogram_svg(latencies_s: Sequence[float]) -> str:
    width, height, left, top, bottom = 900.0, 240.0, 44.0, 20.0, 44.0
    plot_h = height - top - bottom
    if not latencies_s:
        return _svg(
            "latency-histogram",
            width,
            60.0,
            [_text(width / 2, 34, "no detected intruders: no latencies")],
        )
    data = np.asarray(latencies_s, dtype=np.float64)
    n_bins = min(20, max(1, math.ceil(math.sqrt(data.size))))
    lo, hi = float(data.min()), float(data.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(data, bins=n_bins, range=(lo, hi))
    top_count = int(counts.max())
    ticks = sorted({0.0, float(top_count), float(math.ceil(top_count / 2))})
    body = _y_axis(left, top, plot_h, ticks, ".0f")
    step = (width - left - 20) / n_bins
    for k, c in enumerate(counts):
        h = plot_h * int(c) / top_count
        x = left + k * step
        body.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{step - 2:.1f}" '
            f'height="{h:.1f}" fill="#7d3c98"><title>{edges[k]:.2f}–{edges[k + 1]:.2f}'
            f" s: {int(c)}</title></rect>"
        )
    for k in range(0, n_bins + 1, max(1, n_bins // 8)):
        body.append(_text(left + k * step, top + plot_h + 16, f"{edges[k]:.3g}"))
    body.append(_text(width / 2, height - 8, "latency (s), scenario time"))
    return _svg("latency-histogram", width, height, body)


def confusion_svg(confusion: dict[str, dict[str, int]]) -> str:
    cell_w, cell_h, left, top = 110.0, 44.0, 130.0, 46.0
    width, height = left + cell_w * len(ALERT_COLUMNS) + 10, top + cell_h * len(TRUTH_ROWS) + 10
    peak = max([1, *(v for row in confusion.values() for v in row.values())])
    body = [_text(left + cell_w * len(ALERT_COLUMNS) / 2, 14, "alert kind")]
    body.append(_text(10, top - 8, "truth", anchor="start"))
    for c, col in enumerate(ALERT_COLUMNS):
        body.append(_text(left + (c + 0.5) * cell_w, top - 8, col))
    for r, row in enumerate(TRUTH_ROWS):
        y = top + r * cell_h
        body.append(_text(left - 10, y + cell_h / 2 + 4, row, anchor="end"))
        for c, col in enumerate(ALERT_COLUMNS):
            n = confusion.get(row, {}).get(col, 0)
            good = row == col and row != "none"
            hue = "30,132,73" if good else "192,57,43"
            alpha = 0.08 + 0.8 * n / peak if n else 0.0
            body.append(
                f'<rect x="{left + c * cell_w:.1f}" y="{y:.1f}" width="{cell_w:.1f}" '
                f'height="{cell_h:.1f}" fill="rgba({hue},{alpha:.3f})" stroke="#ccc"/>'
            )
            body.append(
                _text(
                    left + (c + 0.5) * cell_w,
                    y + cell_h / 2 + 5,
                    "—" if row == col == "none" else str(n),
                    extra=' font-weight="600"' if n else "",
                )
            )
    return _svg("confusion-matrix", width, height, body)


def map_svg(truth: Truth, result: EvaluationResult) -> str:
    """Site map in metres, north (+y) up, equal scale on both axes."""
    xs: list[float] = []
    ys: list[float] = []
    for poly in truth.zones.values():
        xs += [p[0] for p in poly]
        ys += [p[1] for p in poly]
    for s in truth.sensors:
        xs.append(s.position[0])
        ys.append(s.position[1])
    for e in truth.emissions:
        xs += [p[1] for p in e.track]
        ys += [p[2] for p in e.track]
    located = [
        (a, a.x_m, a.y_m) for a in result.per_alert if a.x_m is not None and a.y_m is not None
    ]
    for a, ax, ay in located:
        r = a.radius_m or 0.0
        xs += [ax - r, ax + r]
        ys += [ay - r, ay + r]
    if not xs:
        return _svg("site-map", 900.0, 60.0, [_text(450, 34, "nothing to draw: no positions")])
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span = max(x1 - x0, y1 - y0, 1.0)
    pad = 0.05 * span
    x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad
    width = 900.0
    scale = (width - 20) / max(x1 - x0, 1e-9)
    height = min(900.0, max(200.0, (y1 - y0) * scale + 60))
    scale = min(scale, (height - 60) / max(y1 - y0, 1e-9))

    def px(x: float, y: float) -> tuple[float, float]:
        return 10 + (x - x0) * scale, 10 + (y1 - y) * scale

    body: list[str] = []
    for name, poly in truth.zones.items():
        outline = " ".join("{:.1f},{:.1f}".format(*px(x, y)) for x, y in poly)
        body.append(f'<polygon points="{outline}" fill="rgba(46,111,186,0.06)" stroke="#9bb3d4"/>')
        cx, cy = px(sum(p[0] for p in poly) / len(poly), sum(p[1] for p in poly) / len(poly))
        body.append(_text(cx, cy, name, extra=' fill="#6d8bb5"'))
    owner = {e: i.kind for i in intruders_of(truth) for e in i.emitter_ids}
    for e in truth.emissions:
        colour = KIND_COLOURS.get(owner.get(e.emitter_id, "other"), "#8a8a8a")
        dash = "" if e.emitter_id in owner else ' stroke-dasharray="4 3"'
        pts = [px(p[1], p[2]) for p in e.track]
        if len(pts) > 1:
            body.append(
                '<polyline fill="none" stroke-width="2" stroke="'
                + colour
                + '"'
                + dash
                + ' points="'
                + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                + '"/>'
            )
        if pts:
            body.append(
                f'<circle cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(e.emitter_id)} {escape(e.signature)}</title></circle>"
            )
            body.append(
                _text(
                    pts[-1][0] + 5,
                    pts[-1][1] - 5,
                    e.emitter_id,
                    anchor="start",
                    extra=f' fill="{colour}"',
                )
            )
    for s in truth.sensors:
        x, y = px(s.position[0], s.position[1])
        if s.modality == "acoustic":
            corners = f"{x:.1f},{y - 6:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}"
            shape = f'<polygon points="{corners}"'
        else:
            shape = f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"'
        body.append(
            f'{shape} fill="#222"><title>{escape(s.sensor_id)} ({escape(s.modality)})'
            "</title>" + ("</polygon>" if s.modality == "acoustic" else "</rect>")
        )
        body.append(_text(x + 7, y + 12, s.sensor_id, anchor="start", extra=' fill="#555"'))
    by_id = {i.intruder_id: i for i in intruders_of(truth)}
    for a, ax, ay in located:
        x, y = px(ax, ay)
        intruder = by_id.get(a.intruder_id or "")
        truth_points = [
            p for e in (intruder.emissions if intruder else ()) if (p := track_xy(e, a.last_seen_s))
        ]
        if truth_points:  # where the intruder was at last_seen: the location error
            tx, ty = px(*min(truth_points, key=lambda p: math.hypot(p[0] - ax, p[1] - ay)))
            body.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{tx:.1f}" y2="{ty:.1f}" stroke="#555" '
                f'stroke-width="1"><title>{escape(a.alert_id)}: {a.location_error_m or 0:.1f} m'
                "</title></line>"
            )
        colour = STATUS_COLOURS.get(a.status, "#555")
        r = (a.radius_m or 0.0) * scale
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="none" stroke="{colour}" '
            f'stroke-dasharray="3 2"><title>{escape(a.alert_id)} ({escape(a.status)})'
            "</title></circle>"
        )
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
    body += _map_legend(width, height)
    return _svg("site-map", width, height, body)


def _map_legend(width: float, height: float) -> list[str]:
    items = [
        (KIND_COLOURS["drone"], "drone track"),
        (KIND_COLOURS["handset"], "handset track"),
        (KIND_COLOURS["other"], "other emitter"),
        *((c, f"{s} alert") for s, c in STATUS_COLOURS.items()),
    ]
    out = []
    for k, (colour, label) in enumerate(items):
        x = 14 + k * 125
        out.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{colour}"/>')
        out.append(_text(x + 16, height - 12, label, anchor="start"))
    return out

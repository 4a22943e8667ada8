"""Charts as inline SVG, drawn on the server: no script, no library, a few hundred bytes each.

Pure functions of the rows they show; every shape carries a <title> (the browser's tooltip)
and every chart sits next to the table with the same figures, so nothing is only a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from app.console.data import DESIL_KEYS, CoverageRow, MatrixRow
from app.reports.progress_service import Trend

# desil 1 (poorest) dark to desil 10 light; "belum ada desil" grey
DESIL_COLOURS = dict(
    zip(
        DESIL_KEYS,
        (
            "#7f1d1d",
            "#b91c1c",
            "#dc2626",
            "#ea580c",
            "#f59e0b",
            "#facc15",
            "#a3e635",
            "#4ade80",
            "#2dd4bf",
            "#93c5fd",
            "#9ca3af",
        ),
        strict=True,
    )
)
DESIL_LABELS = {**{k: f"Desil {k}" for k in DESIL_KEYS[:-1]}, "none": "Belum ada desil"}

_W, _LABEL, _ROW, _GAP = 640, 150, 22, 6


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(height: int, body: list[str], title: str) -> Markup:
    return Markup(  # noqa: S704 - every text inside is escaped by the builders below
        f'<svg class="chart" viewBox="0 0 {_W} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _label(y: float, text: str) -> str:
    return f'<text x="{_LABEL - 6}" y="{_n(y + _ROW * 0.7)}" text-anchor="end">{escape(text)}</text>'


def desil_stacked_bars(rows: Sequence[MatrixRow]) -> Markup:
    """One bar per kecamatan, split by desil; bar length is the number of families."""
    top = max((r.total for r in rows), default=0) or 1
    width = _W - _LABEL - 60
    body: list[str] = []
    for i, r in enumerate(rows):
        y = i * (_ROW + _GAP)
        body.append(_label(y, r.name))
        x = float(_LABEL)
        for key in DESIL_KEYS:
            n = r.counts[key]
            if not n:
                continue
            w = width * n / top
            body.append(
                f'<rect x="{_n(x)}" y="{y}" width="{_n(w)}" height="{_ROW}" '
                f'fill="{DESIL_COLOURS[key]}"><title>{escape(r.name)}, {DESIL_LABELS[key]}: '
                f"{n} keluarga</title></rect>"
            )
            x += w
        body.append(f'<text x="{_n(x + 4)}" y="{_n(y + _ROW * 0.7)}">{r.total}</text>')
    y = len(rows) * (_ROW + _GAP) + 4
    for j, key in enumerate(DESIL_KEYS):  # legend: two rows
        lx, ly = _LABEL + (j % 6) * 80, y + (j // 6) * 18
        label = key if key != "none" else "belum"
        body.append(
            f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{DESIL_COLOURS[key]}"/>'
            f'<text x="{lx + 16}" y="{ly + 11}">{escape(label)}</text>'
        )
    return _svg(y + 40, body, "Keluarga per kecamatan menurut desil")


def coverage_bars(rows: Sequence[CoverageRow]) -> Markup:
    """Registered families per kecamatan: as a share of the target where one was imported."""
    width = _W - _LABEL - 110
    with_target = any(r.target for r in rows)
    top = 1.2 if with_target else max((r.registered for r in rows), default=0) or 1
    body: list[str] = []
    for i, r in enumerate(rows):
        y = i * (_ROW + _GAP)
        body.append(_label(y, r.name))
        share = (r.registered / r.target) if (with_target and r.target) else None
        value = min(share, top) if share is not None else (0 if with_target else r.registered)
        w = width * value / top
        text = (
            f"{r.registered} / {r.target} ({_n(100 * share)}%)"
            if share is not None
            else f"{r.registered} (tanpa target)"
            if with_target
            else str(r.registered)
        )
        body.append(
            f'<rect x="{_LABEL}" y="{y}" width="{_n(w)}" height="{_ROW}" fill="#2563eb">'
            f"<title>{escape(r.name)}: {escape(text)}</title></rect>"
            f'<text x="{_n(_LABEL + w + 4)}" y="{_n(y + _ROW * 0.7)}">{escape(text)}</text>'
        )
    height = len(rows) * (_ROW + _GAP)
    if with_target:  # the 100% line
        x = _LABEL + width / top
        body.append(
            f'<line x1="{_n(x)}" y1="0" x2="{_n(x)}" y2="{height}" stroke="#111" '
            f'stroke-dasharray="4 3"><title>target 100%</title></line>'
        )
    return _svg(height + 4, body, "Cakupan pendaftaran per kecamatan")


_LINE_COLOURS = ("#1d4ed8", "#b91c1c", "#15803d", "#a16207", "#7e22ce", "#0f766e", "#c2410c", "#be185d")


def trend_lines(trend: Trend) -> Markup:
    """Families per kecamatan at each snapshot: one line per kecamatan, periods left to right."""
    periods = [s.period for s in trend.snapshots]
    top = max((v for series in trend.series for _p, v, _r in series.points), default=0) or 1
    left, right, height, bottom = 50, _W - 170, 180, 20
    step = (right - left) / max(len(periods) - 1, 1)
    body: list[str] = [
        f'<line x1="{left}" y1="{height}" x2="{right}" y2="{height}" stroke="#999"/>',
        f'<text x="{left - 4}" y="12" text-anchor="end">{top}</text>',
        f'<text x="{left - 4}" y="{height}" text-anchor="end">0</text>',
    ]
    for i, period in enumerate(periods):
        body.append(
            f'<text x="{_n(left + i * step)}" y="{height + 16}" text-anchor="middle">{escape(period)}</text>'
        )
    for j, series in enumerate(trend.series):
        colour = _LINE_COLOURS[j % len(_LINE_COLOURS)]
        points = [
            (left + i * step, height - (height - 10) * value / top, period, value)
            for i, (period, value, _sets) in enumerate(series.points)
        ]
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y, _p, _v in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, period, value in points:
            body.append(
                f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3" fill="{colour}"><title>{escape(series.name)} '
                f"{escape(period)}: {value} keluarga</title></circle>"
            )
        body.append(
            f'<rect x="{right + 14}" y="{j * 18}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{right + 30}" y="{j * 18 + 11}">{escape(series.name)}</text>'
        )
    return _svg(max(height + bottom + 4, len(trend.series) * 18), body, "Tren keluarga per kecamatan")

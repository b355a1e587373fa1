"""The monthly report's charts as inline SVG, built by hand (pure).

Two charts of stacked panels on one shared x axis each (no second y axis to misread):

- the trend: reports received per month (bars), promises kept per month (a line, with a
  dashed target line at 100%), and the median working days to the substantive response
  (a line, with a dashed target line at the policy's term);
- the month per week: promises kept per week (a line, target 100%) and reports received
  per week (bars).

A partial month or week (the month running, intake begun in it, a week the month cuts)
gets a pale bar with a dashed outline and the word "partial" (or its days) under it;
a month without data gets no mark. A line breaks where a value is missing. Every text
goes through `esc`; no URL, no script, no style sheet: attributes only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from mailbot.report.figures import Report
from mailbot.report.tables import week_label
from mailbot.report.words import Words

WIDTH = 680
MIN_WIDTH = 520
"""Narrower than this the chart's box scrolls sideways (its text would be too small)."""
LEFT, RIGHT = 46, 40
FONT = 'font-family="Arial,Helvetica,sans-serif"'
INK, MUTED, LINE, AXIS = "#1f2933", "#52606d", "#d9dde3", "#9aa5b1"
BAR, BAR_PALE = "#5b7db1", "#dbe4f1"
KEPT, RESPONSE, TARGET = "#2f855a", "#6b46c1", "#c05621"
PANEL_H = 72
"""Height of one panel's plot area."""
PANEL_GAP = 58
"""Room above a plot for its title and below it for the labels of the x axis."""


def esc(value: object) -> str:
    """Any value as escaped text (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Slot:
    """One place on the x axis: its label(s), and whether its figures are partial."""

    label: str
    sublabel: str
    partial: bool
    no_data: bool = False


def _centres(count: int) -> tuple[float, list[float]]:
    slot = (WIDTH - LEFT - RIGHT) / max(1, count)
    return slot, [LEFT + slot * (i + 0.5) for i in range(count)]


def _text(x: float, y: float, text: str, color: str, anchor: str = "middle", **extra: str) -> str:
    size = extra.pop("size", "12")
    weight = ' font-weight="bold"' if extra.pop("bold", "") else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{color}" {FONT} font-size="{size}" '
        f'text-anchor="{anchor}"{weight}>{esc(text)}</text>'
    )


def _grid(top: float, labels: Sequence[str]) -> list[str]:
    """Evenly spaced gridlines from the bottom up, each labelled on the left."""
    parts = []
    steps = len(labels) - 1
    for k, label in enumerate(labels):
        y = top + PANEL_H * (1 - k / steps)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{LINE if k else AXIS}" stroke-width="1" />'
        )
        parts.append(_text(LEFT - 6, y + 4, label, MUTED, "end", size="11"))
    return parts


def _target(top: float, share: float, label: str) -> list[str]:
    """A dashed target line at `share` (0..1) of the panel's height, labelled on the right."""
    y = top + PANEL_H * (1 - share)
    return [
        f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{TARGET}" '
        'stroke-width="2" stroke-dasharray="6 4" />',
        _text(WIDTH - RIGHT + 4, y + 4, label, TARGET, "start", size="11", bold="1"),
    ]


def _axis_labels(top: float, slots: Sequence[Slot], w: Words) -> list[str]:
    _, centres = _centres(len(slots))
    base = top + PANEL_H
    parts = []
    for slot, x in zip(slots, centres, strict=True):
        parts.append(_text(x, base + 15, slot.label, INK, size="11", bold="1"))
        note = w["partial"] if slot.partial and not slot.sublabel else slot.sublabel
        if note:
            parts.append(_text(x, base + 28, note, MUTED, size="10"))
    return parts


def _bars(top: float, values: Sequence[int], slots: Sequence[Slot]) -> list[str]:
    """Count bars (a pale, dashed one when partial) with the count above each."""
    slot_w, centres = _centres(len(slots))
    scale = max(1, -(-max(values, default=0) // 2)) * 2  # splits into 2 whole steps
    parts = _grid(top, ["0", str(scale // 2), str(scale)])
    bar_w = min(40.0, slot_w * 0.6)
    base = top + PANEL_H
    for value, slot, x in zip(values, slots, centres, strict=True):
        if slot.no_data:
            continue
        height = PANEL_H * value / scale
        style = (
            f'fill="{BAR_PALE}" stroke="{BAR}" stroke-width="1.5" stroke-dasharray="4 3"'
            if slot.partial
            else f'fill="{BAR}"'
        )
        parts.append(
            f'<rect x="{x - bar_w / 2:.1f}" y="{base - height:.1f}" width="{bar_w:.1f}" '
            f'height="{height:.1f}" {style} />'
        )
        parts.append(_text(x, base - height - 4, str(value), BAR, size="11", bold="1"))
    return parts


def _line(
    top: float,
    points: Sequence[tuple[float, str] | None],
    ceiling: float,
    color: str,
    slots: Sequence[Slot],
) -> list[str]:
    """A line through the values (value / ceiling of the height), broken where None; a
    partial slot's point is hollow; a label near the top goes below its point."""
    _, centres = _centres(len(points))
    placed = [
        (i, centres[i], top + PANEL_H * (1 - min(p[0], ceiling) / ceiling), p[1])
        for i, p in enumerate(points)
        if p is not None
    ]
    runs: list[list[tuple[float, float]]] = []
    for n, (i, x, y, _) in enumerate(placed):
        if n == 0 or placed[n - 1][0] != i - 1:
            runs.append([])
        runs[-1].append((x, y))
    parts = [
        f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in run)}" fill="none" '
        f'stroke="{color}" stroke-width="2.5" stroke-linejoin="round" />'
        for run in runs
        if len(run) > 1
    ]
    for i, x, y, label in placed:
        fill, ring = ("#ffffff", color) if slots[i].partial else (color, "#ffffff")
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{fill}" stroke="{ring}" '
            'stroke-width="1.5" />'
        )
        below = y - top < 16
        parts.append(_text(x, y + 16 if below else y - 8, label, color, size="11", bold="1"))
    return parts


def _svg(height: float, summary: str, parts: Sequence[str]) -> str:
    label = esc(summary)
    return "\n".join(
        [
            f'<svg class="chart" width="100%" height="{height:.0f}" viewBox="0 0 {WIDTH} '
            f'{height:.0f}" role="img" aria-label="{label}" '
            f'style="display:block;width:100%;min-width:{MIN_WIDTH}px;max-width:{WIDTH}px;height:auto;'
            'margin:4px 0 8px 0">',
            f"<title>{label}</title>",
            f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff" />',
            *parts,
            "</svg>",
        ]
    )


def _panel_title(top: float, text: str) -> str:
    return _text(LEFT, top - 12, text, INK, "start", size="13", bold="1")


def trend_chart(report: Report, w: Words) -> str:
    """Reports, promises kept and median working days to response, per month."""
    months = report.trend
    slots = [
        Slot(
            str(w.month_abbreviation(m.month)),
            str(m.month.year) if m.month.month == 1 or i == 0 else "",
            m.partial,
            m.no_data,
        )
        for i, m in enumerate(months)
    ]
    term = report.terms.respond
    worst = max((m.response_days or 0 for m in months), default=0)
    ceiling = float(max(term + 1, int(worst) + 1))
    tops = [PANEL_GAP / 2 + k * (PANEL_H + PANEL_GAP) for k in range(3)]
    shares = [None if m.no_data or m.share is None else (m.share, w.share(m.share)) for m in months]
    days = [
        None if m.response_days is None else (m.response_days, w.number(m.response_days))
        for m in months
    ]
    parts = [
        _panel_title(tops[0], w["c_received_month"]),
        *_bars(tops[0], [m.received for m in months], slots),
        *_axis_labels(tops[0], slots, w),
        _panel_title(tops[1], w["c_kept_month"]),
        *_grid(tops[1], ["0%", "50%", "100%"]),
        *_target(tops[1], 1.0, w["target"]),
        *_line(tops[1], shares, 1.0, KEPT, slots),
        *_axis_labels(tops[1], slots, w),
        _panel_title(tops[2], w["c_response_month"].format(n=term)),
        *_grid(tops[2], ["0", w.number(ceiling / 2), w.number(ceiling)]),
        *_target(tops[2], term / ceiling, str(term)),
        *_line(tops[2], days, ceiling, RESPONSE, slots),
        *_axis_labels(tops[2], slots, w),
    ]
    summary = "; ".join(
        f"{w.month_short(m.month)}: {m.received} {w['reports'].lower()}, {w.share(m.share)}, "
        f"{w.working_days(m.response_days)}"
        for m in months
        if not m.no_data
    )
    return _svg(tops[2] + PANEL_H + PANEL_GAP / 2 + 4, f"{w['h_trend']}: {summary}", parts)


def week_chart(report: Report, w: Words) -> str:
    """Promises kept per week above, reports received per week below."""
    weeks = report.weeks
    slots = [
        Slot(
            week_label(k.number, None, w),
            w["partial_days"].format(days=w.days(k.days))
            if k.partial
            else w.day_span(k.first, k.last),
            k.partial,
        )
        for k in weeks
    ]
    tops = [PANEL_GAP / 2 + k * (PANEL_H + PANEL_GAP) for k in range(2)]
    shares = [None if k.share is None else (k.share, w.share(k.share)) for k in weeks]
    parts = [
        _panel_title(tops[0], w["c_kept_week"]),
        *_grid(tops[0], ["0%", "50%", "100%"]),
        *_target(tops[0], 1.0, w["target"]),
        *_line(tops[0], shares, 1.0, KEPT, slots),
        *_axis_labels(tops[0], slots, w),
        _panel_title(tops[1], w["c_received_week"]),
        *_bars(tops[1], [k.cases for k in weeks], slots),
        *_axis_labels(tops[1], slots, w),
    ]
    summary = "; ".join(
        f"{week_label(k.number, None, w)}: {k.cases} {w['reports'].lower()}, {w.share(k.share)}"
        for k in weeks
    )
    return _svg(tops[1] + PANEL_H + PANEL_GAP / 2 + 4, f"{w['h_weeks']}: {summary}", parts)

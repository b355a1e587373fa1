"""The monthly report as one self-contained HTML page for a mail client and a browser. Pure.

Inline CSS only (style attributes: mail clients drop <style> blocks), no scripts, no
external resources, no URLs. The chart is an inline <svg> built by hand: bars for the
cases received per ISO week, a line for the share of promises kept per week. Every value
from data goes through `html.escape`. The markup is also well-formed XML (every element
closed, numeric character references only), so a test can parse it with xml.etree. Mail
clients that drop SVG (Gmail, Outlook) still show the same numbers in the week table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mailbot.report.figures import Report, Week
from mailbot.report.render import (
    OVERDUE_HEADERS,
    PROMISE_HEADERS,
    TIME_HEADERS,
    WEEK_HEADERS,
    describe_as_of,
    format_duration,
    format_share,
    local_text,
    overdue_rows,
    overline,
    promise_rows,
    source_label,
    time_rows,
    title,
    week_rows,
    week_span,
)

FONT = "font-family:Arial,Helvetica,sans-serif"
INK = "#1f2933"
MUTED = "#616e7c"
LINE = "#d9dde3"
BAR = "#5b7db1"
KEPT = "#2f855a"
MISSED = "#c53030"
CELL = f"padding:5px 8px;border-bottom:1px solid {LINE};{FONT};font-size:13px;color:{INK}"


def esc(value: object) -> str:
    """Any value as escaped text (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def render_html(report: Report) -> str:
    """The whole report as an HTML5 document that is also well-formed XML."""
    heading = esc(title(report))
    body = "\n".join(
        [
            f'<div style="{FONT};font-size:13px;color:{MUTED}">{esc(overline(report))}</div>',
            f'<h1 style="margin:2px 0 4px 0;{FONT};font-size:24px;color:{INK}">{heading}</h1>',
            _paragraph(
                f"{esc(report.month)} by local date of receipt ({esc(report.timezone)}); generated "
                f"{esc(local_text(report.generated_at, report))}. Deadlines judged as of "
                f"{esc(describe_as_of(report))}.",
                muted=True,
            ),
            _cards(report),
            _section("Cases received and promises kept per ISO week"),
            chart_svg(report),
            _table(WEEK_HEADERS, week_rows(report), {2, 3, 4, 5}),
            _section("Promises falling due in the month"),
            _table(PROMISE_HEADERS, promise_rows(report), {2, 3, 4, 5, 6}, total=True),
            _section("Time to acknowledgement and to substantive response"),
            _table(TIME_HEADERS, time_rows(report), {1, 2, 3, 4}),
            _section(f"Overdue as of {esc(describe_as_of(report))}: {len(report.overdue)}"),
            _overdue(report),
            _section("Messages, cases and rewards"),
            _side_by_side(_pairs(report.dispositions), _cases_and_rewards(report)),
            _paragraph(
                "Times run from receipt to the acknowledgement, and to the first substantive "
                "response (the staff reply relayed to the reporter). "
                "Months count by the local date of receipt. Median: the middle value (mean "
                "of the two middle ones). P90: nearest rank, the value at rank "
                "\u2308 0.9 \u00d7 n \u2309. A promise counts in the month its deadline falls: "
                "kept when met in time, missed otherwise; pending when not yet due or "
                "paused (waiting for the reporter); void when the case closed before the "
                "deadline. Kept % = kept / (kept + missed). Late: in working days (wd).",
                muted=True,
            ),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        f"<title>{heading}</title>\n</head>\n"
        f'<body style="margin:0;padding:0;background:#f3f4f6">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="background:#f3f4f6"><tr><td align="center" style="padding:20px 8px">\n'
        '<table role="presentation" width="700" cellpadding="0" cellspacing="0" '
        f'style="width:100%;max-width:700px;background:#ffffff;border:1px solid {LINE}">'
        f'<tr><td style="padding:24px 28px;{FONT};color:{INK}">\n'
        f"{body}\n"
        "</td></tr></table>\n</td></tr></table>\n</body>\n</html>\n"
    )


def _paragraph(text: str, muted: bool = False) -> str:
    color = MUTED if muted else INK
    return f'<p style="margin:8px 0 12px 0;{FONT};font-size:13px;color:{color}">{text}</p>'


def _section(text: str) -> str:
    return (
        f'<h2 style="margin:26px 0 8px 0;padding-bottom:4px;border-bottom:2px solid {INK};'
        f'{FONT};font-size:16px;color:{INK}">{text}</h2>'
    )


def _cards(report: Report) -> str:
    """Six headline figures in a 3 x 2 grid."""
    cards = [
        ("Messages received", str(report.messages), INK),
        ("New cases", str(report.cases), INK),
        ("Promises kept", format_share(report.kept_share), INK),
        ("Median to acknowledgement", format_duration(report.acknowledgement.median), INK),
        ("Median to substantive response", format_duration(report.response.median), INK),
        ("Overdue", str(len(report.overdue)), MISSED if report.overdue else INK),
    ]
    cells = [
        f'<td width="33%" style="padding:10px 12px;border:1px solid {LINE};background:#f8fafc">'
        f'<div style="{FONT};font-size:12px;color:{MUTED}">{esc(label)}</div>'
        f'<div style="{FONT};font-size:22px;font-weight:bold;color:{tint}">{esc(value)}</div>'
        "</td>"
        for label, value, tint in cards
    ]
    rows = "".join(f"<tr>{''.join(cells[i : i + 3])}</tr>" for i in (0, 3))
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="margin:14px 0 4px 0;border-collapse:collapse">{rows}</table>'
    )


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: set[int],
    total: bool = False,
    nowrap: frozenset[int] | set[int] = frozenset(),
) -> str:
    """A data table: `numeric` columns right-aligned, `nowrap` ones unbroken, the last
    row bold when `total`."""

    def cell(tag: str, i: int, text: str, extra: str = "") -> str:
        align = "right" if i in numeric else "left"
        keep = ";white-space:nowrap" if i in nowrap else ""
        return f'<{tag} style="{CELL};text-align:{align}{keep}{extra}">{esc(text)}</{tag}>'

    head = "".join(
        cell("th", i, h, f";background:#eef1f5;font-size:12px;color:{MUTED}")
        for i, h in enumerate(headers)
    )
    body = [
        "".join(
            cell("td", i, c, ";font-weight:bold" if total and n == len(rows) - 1 else "")
            for i, c in enumerate(r)
        )
        for n, r in enumerate(rows)
    ]
    lines = "".join(f"<tr>{r}</tr>" for r in body)
    return (
        '<table width="100%" cellpadding="0" cellspacing="0" '
        f'style="border-collapse:collapse;margin:6px 0"><tr>{head}</tr>{lines}</table>'
    )


def _pairs(pairs: Sequence[tuple[str, int]]) -> str:
    return _table(["Disposition", "Messages"], [[k, str(n)] for k, n in pairs], {1})


def _overdue(report: Report) -> str:
    if not report.overdue:
        return _paragraph("No case is overdue.")
    return _table(OVERDUE_HEADERS, overdue_rows(report), {3}, nowrap={0, 2})


def _cases_and_rewards(report: Report) -> str:
    cases = [
        ["New cases", str(report.cases)],
        *([f"\u2003{source_label(source)}", str(n)] for source, n in report.sources),
        ["Without any contact", str(report.no_contact)],
        ["Still open", str(report.still_open)],
    ]
    rewards = [[k, str(n)] for k, n in report.rewards]
    decided = [[f"set to {k} in the month", str(n)] for k, n in report.reward_decisions]
    return _table(["Cases of the month", ""], cases, {1}) + _table(
        ["Rewards of those cases", ""], rewards + decided, {1}
    )


def _side_by_side(left: str, right: str) -> str:
    """Two blocks in two columns (a layout table: mail clients ignore CSS grid)."""
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>'
        f'<td width="48%" valign="top">{left}</td><td width="4%"></td>'
        f'<td width="48%" valign="top">{right}</td></tr></table>'
    )


# --- the chart -------------------------------------------------------------------------
# Two panels on one week axis (no second y-axis to misread): promises kept (%) on top,
# new cases below. Weeks with nothing falling due get no point, and break the line.

WIDTH, HEIGHT = 640, 330
LEFT, RIGHT = 52, 24
KEPT_TOP, KEPT_H = 48, 90  # the kept-% panel: 100% at KEPT_TOP, 0% at KEPT_TOP + KEPT_H
CASES_TOP, CASES_H = 190, 90
AXIS_FONT = 'font-family="Arial,Helvetica,sans-serif" font-size="12"'


def _nice_top(largest: int) -> int:
    """A top for the count axis that splits into 2 whole steps (at least 2)."""
    return max(1, -(-largest // 2)) * 2


def chart_svg(report: Report) -> str:
    """An inline SVG: promises kept (%) per ISO week above, new cases per week below."""
    weeks = report.weeks
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(weeks))
    centres = [LEFT + slot * (i + 0.5) for i in range(len(weeks))]
    top = _nice_top(max((w.cases for w in weeks), default=0))
    summary = esc(_summary(report))
    parts = [
        f'<svg width="100%" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{summary}" style="display:block;width:100%;max-width:{WIDTH}px;height:auto">',
        f"<title>{summary}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff" />',
        _text(LEFT, KEPT_TOP - 30, "Promises kept per week (%)", INK, "start", bold=True),
        *_grid(KEPT_TOP, KEPT_H, ["0%", "50%", "100%"]),
        *_kept_line(weeks, centres),
        _text(LEFT, CASES_TOP - 30, "New cases per week", INK, "start", bold=True),
        *_grid(CASES_TOP, CASES_H, ["0", str(top // 2), str(top)]),
    ]
    base = CASES_TOP + CASES_H
    bar_w = min(48.0, slot * 0.55)
    for week, x in zip(weeks, centres, strict=True):
        height = CASES_H * week.cases / top
        parts.append(
            f'<rect x="{x - bar_w / 2:.1f}" y="{base - height:.1f}" width="{bar_w:.1f}" '
            f'height="{height:.1f}" fill="{BAR}" />'
        )
        parts.append(_text(x, base - height - 6, str(week.cases), BAR, bold=True))
        parts.append(_text(x, base + 18, week.label, INK, bold=True))
        parts.append(_text(x, base + 34, week_span(week), MUTED))
    parts.append("</svg>")
    return "\n".join(parts)


def _summary(report: Report) -> str:
    weeks = "; ".join(
        f"{w.label}: {w.cases} new cases, {format_share(w.share)} of promises kept"
        for w in report.weeks
    )
    return f"Per ISO week of {report.month}: {weeks}"


def _grid(top: float, height: float, labels: Sequence[str]) -> list[str]:
    """Evenly spaced gridlines from the bottom up, each labelled on the left."""
    parts = []
    steps = len(labels) - 1
    for k, label in enumerate(labels):
        y = top + height * (1 - k / steps)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{LINE if k else "#9aa5b1"}" stroke-width="1" />'
        )
        parts.append(_text(LEFT - 8, y + 4, label, MUTED, "end"))
    return parts


def _kept_line(weeks: Sequence[Week], centres: Sequence[float]) -> list[str]:
    """The kept-% line (broken where a week had nothing fall due), dots and labels."""
    points = [
        (i, x, KEPT_TOP + KEPT_H * (1 - w.share), w.share)
        for i, (w, x) in enumerate(zip(weeks, centres, strict=True))
        if w.share is not None
    ]
    runs: list[list[tuple[float, float]]] = []
    for n, (i, x, y, _) in enumerate(points):
        if n == 0 or points[n - 1][0] != i - 1:
            runs.append([])
        runs[-1].append((x, y))
    parts = [
        f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in run)}" fill="none" '
        f'stroke="{KEPT}" stroke-width="3" stroke-linejoin="round" />'
        for run in runs
        if len(run) > 1
    ]
    for _, x, y, share in points:
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{KEPT}" stroke="#ffffff" '
            'stroke-width="2" />'
        )
        parts.append(_text(x, y - 10, format_share(share), KEPT, bold=True))
    return parts


def _text(
    x: float, y: float, text: str, color: str, anchor: str = "middle", bold: bool = False
) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{color}" {AXIS_FONT} text-anchor="{anchor}"'
        f"{weight}>{esc(text)}</text>"
    )

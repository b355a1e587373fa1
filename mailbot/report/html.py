"""The monthly report as one self-contained HTML page for a mail client, a browser and a
printer. Pure.

Every style the page needs to read well is inline (style attributes: some mail clients
drop <style> blocks); one <style> block in the head adds what only a style sheet can say:
A4 pages when printed (table headers repeated on every page, no row, headline figure or
chart split across pages, no heading alone at a page's foot) and tighter cells on a
phone. Wide tables sit in a box that scrolls sideways on a narrow screen, so the page
itself never does. No scripts, no external resources, no URLs. The charts are inline
<svg> (`mailbot.report.charts`); mail clients that drop SVG still show the same numbers
in the tables. Every value from data goes through `esc`. The markup is also well-formed
XML (every element closed, numeric character references only), so a test can parse it.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailbot.report.charts import esc, trend_chart, week_chart
from mailbot.report.figures import Report
from mailbot.report.tables import (
    Table,
    headline,
    introduction,
    overline,
    sections,
    tables,
    title,
)
from mailbot.report.words import Words

FONT = "font-family:Arial,Helvetica,sans-serif"
INK, MUTED, LINE, MISSED = "#1f2933", "#52606d", "#d9dde3", "#c53030"
CELL = f"padding:5px 8px;border-bottom:1px solid {LINE}"
"""A cell's own style; the font comes from its table (the page is in standards mode, so
cells inherit it), which keeps a long table well under Gmail's 102 KB clipping."""

#: What only a style sheet can say (the inline styles stand without it).
STYLE = """
@page { size: A4; margin: 14mm 13mm 14mm 13mm; }
@media print {
  body { background: #ffffff !important; }
  .sheet { max-width: none !important; margin: 0 !important; padding: 0 !important;
    border: 0 !important; }
  .scroll { overflow: visible !important; }
  thead { display: table-header-group; }
  tr, .tile, .chart, .keep { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 14px !important; }
  th, td { padding: 2px 6px !important; font-size: 11px !important; }
}
@media screen and (max-width: 480px) {
  .sheet { padding: 16px 12px !important; }
  h1 { font-size: 20px !important; }
  th, td { padding: 4px 5px !important; font-size: 12px !important; }
  .figure { font-size: 18px !important; }
  .tile { width: 49% !important; min-width: 0 !important; }
  .column { width: 100% !important; margin-right: 0 !important; }
}
""".strip()


def render_html(report: Report, language: str = "en") -> str:
    """The whole report as an HTML5 document that is also well-formed XML, in `language`."""
    w = Words(language)
    found = tables(report, w)
    charts = {"trend": trend_chart(report, w), "weeks": week_chart(report, w)}
    parts = [
        f'<div style="{FONT};font-size:13px;color:{MUTED}">{esc(overline(report, w))}</div>',
        f'<h1 style="margin:2px 0 6px 0;{FONT};font-size:24px;color:{INK}">'
        f"{esc(title(report, w))}</h1>",
        _paragraph(esc(introduction(report, w)), muted=True),
        _tiles(report, w),
    ]
    for heading, names in sections(report, w):
        keep = "" if {"overdue", "trend", "dispositions"} & set(names) else " keep"
        body = [_section(esc(heading))]
        body += [
            f'<div class="scroll" style="overflow-x:auto">{charts[name]}</div>'
            for name in names
            if name in charts
        ]
        if len(names) > 1:  # two columns side by side, one below the other on a phone
            body.append(_columns(_table(found[names[0]], w), _join(found, names[1:], w)))
        else:
            body.append(_table(found[names[0]], w))
        parts.append(f'<div class="section{keep}">{"".join(body)}</div>')
    parts.append(
        f'<div class="section keep">{_section(esc(w["h_notes"]))}'
        f"{_paragraph(esc(w['notes']), muted=True)}</div>"
    )
    heading = esc(title(report, w))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{w.language}">\n<head>\n<meta charset="utf-8" />\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        f"<title>{heading}</title>\n<style>\n{STYLE}\n</style>\n</head>\n"
        '<body style="margin:0;padding:0;background:#f3f4f6">\n'
        '<div class="sheet" style="max-width:760px;margin:0 auto;padding:24px 28px;'
        f'background:#ffffff;border:1px solid {LINE};{FONT};color:{INK}">\n'
        + "\n".join(parts)
        + "\n</div>\n</body>\n</html>\n"
    )


def _paragraph(text: str, muted: bool = False) -> str:
    color = MUTED if muted else INK
    return (
        f'<p style="margin:6px 0 12px 0;{FONT};font-size:13px;line-height:1.45;'
        f'color:{color}">{text}</p>'
    )


def _section(text: str) -> str:
    return (
        f'<h2 style="margin:24px 0 8px 0;padding-bottom:4px;border-bottom:2px solid {INK};'
        f'{FONT};font-size:16px;color:{INK}">{text}</h2>'
    )


def _tiles(report: Report, w: Words) -> str:
    """The six headline figures: three a row, two on a phone (they wrap by themselves)."""
    overdue = bool(report.overdue)
    tiles = [
        '<div class="tile" style="display:inline-block;vertical-align:top;box-sizing:border-box;'
        f"width:32%;min-width:150px;margin:0 1% 8px 0;padding:9px 11px;border:1px solid {LINE};"
        f'background:#f8fafc">'
        f'<div style="{FONT};font-size:12px;color:{MUTED}">{esc(label)}</div>'
        f'<div class="figure" style="{FONT};font-size:21px;font-weight:bold;'
        f'color:{MISSED if overdue and n == 4 else INK}">{esc(value)}</div></div>'
        for n, (label, value) in enumerate(headline(report, w))
    ]
    return f'<div class="tiles" style="margin:12px 0 4px 0">{"".join(tiles)}</div>'


def _join(found: dict[str, Table], names: Sequence[str], w: Words) -> str:
    return "".join(_table(found[name], w) for name in names)


def _columns(left: str, right: str) -> str:
    """Two blocks side by side that wrap below each other where there is no room."""
    column = (
        '<div class="keep column" style="display:inline-block;vertical-align:top;'
        'box-sizing:border-box;width:49%;min-width:280px;margin-right:1%">'
    )
    return f"<div>{column}{left}</div>{column}{right}</div></div>"


def _table(table: Table, w: Words) -> str:
    """A data table in a box that scrolls sideways when the screen is too narrow."""
    if not table.rows:
        return _paragraph(esc(w["none_overdue"]))

    def cell(tag: str, i: int, text: str, extra: str = "") -> str:
        align = "right" if i in table.numeric else "left"
        keep = ";white-space:nowrap" if i in table.nowrap else ""
        return f'<{tag} align="{align}" style="{CELL}{keep}{extra}">{esc(text)}</{tag}>'

    head = "".join(
        cell("th", i, h, f";background:#eef1f5;font-size:12px;color:{MUTED}")
        for i, h in enumerate(table.headers)
    )
    last = len(table.rows) - 1
    body = "".join(
        "<tr>"
        + "".join(
            cell("td", i, c, ";font-weight:bold" if table.total and n == last else "")
            for i, c in enumerate(row)
        )
        + "</tr>"
        for n, row in enumerate(table.rows)
    )
    return (
        f'<div class="scroll" style="overflow-x:auto;margin:6px 0 10px 0">'
        f'<table class="{esc(table.name)}" width="100%" cellpadding="0" cellspacing="0" '
        f'style="width:100%;border-collapse:collapse;{FONT};font-size:13px;color:{INK}">'
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )

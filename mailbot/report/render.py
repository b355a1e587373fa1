"""The monthly report as text (aligned tables) and as JSON. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from mailbot.report.figures import Report
from mailbot.report.rows import Month
from mailbot.report.tables import (
    Table,
    headline,
    introduction,
    overline,
    promise_term,
    sections,
    tables,
    title,
)
from mailbot.report.words import Words

# --- text ------------------------------------------------------------------------------


def text_table(table: Table) -> list[str]:
    """Aligned columns two spaces apart; numeric columns right-aligned."""
    rows = [table.headers, *table.rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(table.headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(width) if i in table.numeric else c.ljust(width)
            for i, (c, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(r) for r in rows]


def render_text(report: Report, language: str = "en") -> str:
    """The whole report as plain text with aligned tables, in `language`."""
    w = Words(language)
    found = tables(report, w)
    out = [overline(report, w), title(report, w), "", *_wrap(introduction(report, w)), ""]
    out += [f"{label}: {value}" for label, value in headline(report, w)]
    for heading, names in sections(report, w):
        out += ["", heading, "-" * len(heading)]
        for i, name in enumerate(names):
            table = found[name]
            out += [""] if i else []
            out += text_table(table) if table.rows else [w["none_overdue"]]
    out += ["", w["h_notes"], "-" * len(w["h_notes"]), *_wrap(w["notes"])]
    return "\n".join(line.rstrip() for line in out) + "\n"


def _wrap(text: str, width: int = 78) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, current]


# --- JSON ------------------------------------------------------------------------------


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (times ISO 8601 with offset, durations in seconds,
    working days as numbers, shares as fractions)."""
    data: dict[str, Any] = _plain(asdict(report))
    data["month"] = str(report.month)
    for key in ("dispositions", "sources", "rewards", "reward_decisions"):
        data[key] = dict(getattr(report, key))
    data["kept_share"] = report.kept_share
    english = Words("en")
    for promise, item in zip(report.promises, data["promises"], strict=True):
        title_en = english[f"p_{promise.clock}"]
        term = promise_term(report, promise.clock, english)
        item |= {"share": promise.share, "title": title_en, "term": term}
    for week, item in zip(report.weeks, data["weeks"], strict=True):
        label = f"W{week.number:02d}"  # ISO week, as the JSON always named it
        item |= {"share": week.share, "days": week.days, "partial": week.partial, "label": label}
    for month, item in zip(report.trend, data["trend"], strict=True):
        item |= {"month": str(month.month), "share": month.share}
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Month):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

"""The monthly report as text (aligned tables) and as JSON; shared formatting. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.mail.rendering import format_moment
from mailbot.report.figures import PROMISE_TITLES, Durations, Report, Week
from mailbot.report.rows import MONTH_NAMES

_SHORT_MONTHS = tuple(name[:3] for name in MONTH_NAMES)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
SUBJECT_WIDTH = 60


def format_duration(value: timedelta | None) -> str:
    """'42 s', '17 min', '5 h 03 min', '3 d 4 h'; '-' for None."""
    if value is None:
        return "-"
    seconds = round(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    hours = minutes // 60
    return f"{hours // 24} d {hours % 24} h"


def format_share(share: float | None) -> str:
    """'87%' (rounded half up to a whole percent); '-' when nothing was decided."""
    return "-" if share is None else f"{int(share * 100 + 0.5)}%"


def zone(report: Report) -> ZoneInfo:
    """The calendar's timezone."""
    return ZoneInfo(report.timezone)


def local_text(moment: datetime, report: Report) -> str:
    """'2026-12-21 17:00' in the calendar's timezone."""
    return f"{moment.astimezone(zone(report)):%Y-%m-%d %H:%M}"


def describe_as_of(report: Report) -> str:
    """'Friday 1 January 2027 at 00:00': the moment the deadlines were judged."""
    return format_moment(report.as_of, zone(report), "en")


def week_span(week: Week) -> str:
    """'1-6 Dec' with an en dash (the week's days in the month); '31 Dec' for one day."""
    end = f"{week.last.day} {_SHORT_MONTHS[week.last.month - 1]}"
    return end if week.first == week.last else f"{week.first.day}\u2013{end}"


def one_line(text: str, width: int = SUBJECT_WIDTH) -> str:
    """Control and direction characters become spaces; cut to `width` with an ellipsis."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def title(report: Report) -> str:
    """'Monthly report December 2026'."""
    return f"Monthly report {report.month.title}"


def overline(report: Report) -> str:
    """'Meldpunt kwetsbaarheden - Gemeente Voorbeeld' (an en dash; the name when set)."""
    who = f" \u2013 {report.organisation}" if report.organisation else ""
    return f"Meldpunt kwetsbaarheden{who}"


def source_label(source: str) -> str:
    """'direct' → 'sent directly', 'relay' → 'forwarded by a relay', else the value."""
    return {"direct": "sent directly", "relay": "forwarded by a relay"}.get(source, source)


def time_rows(report: Report) -> list[list[str]]:
    """[measure, cases, median, p90, waiting] for acknowledgement and response."""

    def row(name: str, d: Durations) -> list[str]:
        return [
            name,
            str(d.count),
            format_duration(d.median),
            format_duration(d.p90),
            str(d.waiting),
        ]

    return [
        row("Acknowledgement", report.acknowledgement),
        row("Substantive response", report.response),
    ]


def promise_rows(report: Report) -> list[list[str]]:
    """[promise, term, kept, missed, pending, void, share] per promise, then all together."""
    rows = [
        [p.title, p.term, *map(str, (p.kept, p.missed, p.pending, p.void)), format_share(p.share)]
        for p in report.promises
    ]
    total = [
        sum(getattr(p, k) for p in report.promises) for k in ("kept", "missed", "pending", "void")
    ]
    return [*rows, ["All promises", "", *map(str, total), format_share(report.kept_share)]]


def week_rows(report: Report) -> list[list[str]]:
    """[week, days, cases, kept, missed, share] per ISO week."""
    return [
        [w.label, week_span(w), str(w.cases), str(w.kept), str(w.missed), format_share(w.share)]
        for w in report.weeks
    ]


def overdue_rows(report: Report) -> list[list[str]]:
    """[case, promise, due, late (working days, "3 wd"), state, subject] per clock."""
    return [
        [
            *(o.case_id, PROMISE_TITLES[o.clock], local_text(o.due, report)),
            f"{o.working_days_late} wd",
            *(o.state, one_line(o.subject)),
        ]
        for o in report.overdue
    ]


TIME_HEADERS = ["TIME TO", "CASES", "MEDIAN", "P90", "WAITING"]
PROMISE_HEADERS = ["PROMISE", "TERM", "KEPT", "MISSED", "PENDING", "VOID", "KEPT %"]
WEEK_HEADERS = ["WEEK", "DAYS", "CASES", "KEPT", "MISSED", "KEPT %"]
OVERDUE_HEADERS = ["CASE", "PROMISE", "DUE", "LATE", "STATE", "SUBJECT"]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    """Aligned columns two spaces apart; columns in `numeric` right-aligned."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def render_text(report: Report) -> str:
    """The whole report as plain text with aligned tables."""
    generated = local_text(report.generated_at, report)
    out = [
        overline(report),
        f"{title(report)} ({report.month}, {report.timezone}); generated {generated};",
        f"deadlines judged as of {describe_as_of(report)}; wd = working days.",
        "",
        "Received in the month (local date of receipt)",
    ]
    out += table(["", ""], _received(report), {1})[1:]
    out += ["", "Dispositions of the messages"]
    out += table(["", ""], [[k, str(n)] for k, n in report.dispositions], {1})[1:]
    out += ["", *table(TIME_HEADERS, time_rows(report), {1, 2, 3, 4})]
    out += ["", "Promises falling due in the month"]
    out += table(PROMISE_HEADERS, promise_rows(report), {2, 3, 4, 5, 6})
    out += ["", "Per ISO week (cases received; promises falling due)"]
    out += table(WEEK_HEADERS, week_rows(report), {2, 3, 4, 5})
    out += ["", f"Overdue as of {describe_as_of(report)}: {len(report.overdue)}"]
    if report.overdue:
        out += table(OVERDUE_HEADERS, overdue_rows(report), {3})
    out += ["", "Rewards of the month's cases"]
    out += table(["", ""], [[k, str(n)] for k, n in report.rewards], {1})[1:]
    out += ["", "Reward decisions in the month"]
    out += table(["", ""], [[k, str(n)] for k, n in report.reward_decisions], {1})[1:]
    return "\n".join(line.rstrip() for line in out) + "\n"


def _received(report: Report) -> list[list[str]]:
    rows = [["Messages received", str(report.messages)], ["Cases opened", str(report.cases)]]
    rows += [[f"  {source_label(source)}", str(n)] for source, n in report.sources]
    rows += [["Without any contact", str(report.no_contact)]]
    return [*rows, ["Still open", str(report.still_open)]]


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (times ISO 8601 with offset, durations in seconds)."""
    data: dict[str, Any] = _plain(asdict(report))
    data["month"] = str(report.month)
    for key in ("dispositions", "sources", "rewards", "reward_decisions"):
        data[key] = dict(getattr(report, key))
    data["kept_share"] = report.kept_share
    for promise, item in zip(report.promises, data["promises"], strict=True):
        item["share"] = promise.share
    for week, item in zip(report.weeks, data["weeks"], strict=True):
        item["share"] = week.share
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

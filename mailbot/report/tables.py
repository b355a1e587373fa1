"""The tables of the monthly report, in the words of one language (pure): what the text
and the HTML both show, and the headings and headline figures around them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from mailbot.report.figures import Report
from mailbot.report.words import Words

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
SUBJECT_WIDTH = 60


@dataclass(frozen=True)
class Table:
    """One table of the report: headers, rows of text, right-aligned (`numeric`) columns;
    with `total`, the last row sums up the others."""

    name: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int]
    total: bool = False
    nowrap: frozenset[int] = frozenset()
    """Columns kept on one line (case numbers, moments)."""


def one_line(text: str, width: int = SUBJECT_WIDTH) -> str:
    """Control and direction characters become spaces, a lone surrogate (undecodable
    input) U+FFFD; cut to `width` with an ellipsis."""
    flat = " ".join(_CONTROL.sub(" ", _SURROGATE.sub("\ufffd", text)).split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def zone(report: Report) -> ZoneInfo:
    """The calendar's timezone."""
    return ZoneInfo(report.timezone)


def title(report: Report, w: Words) -> str:
    """'Monthly report March 2027' / 'Maandrapportage maart 2027'."""
    return w["title"].format(month=w.month(report.month))


def overline(report: Report, w: Words) -> str:
    """'Meldpunt kwetsbaarheden - Gemeente Voorbeeld' (an en dash; the name when set)."""
    who = f" \u2013 {report.organisation}" if report.organisation else ""
    return f"{w['overline']}{who}"


def introduction(report: Report, w: Words) -> str:
    """The period, the moment of judgement, the moment it was made."""
    tz = zone(report)
    parts = [
        w["period"].format(
            first=w.day(report.month.first), last=w.day(report.month.last), tz=report.timezone
        ),
        w["judged"].format(moment=w.moment(report.as_of, tz)),
        *([w["running"]] if report.running else []),
        w["made"].format(moment=w.moment(report.generated_at, tz)),
    ]
    return " ".join(parts)


def headline(report: Report, w: Words) -> list[tuple[str, str]]:
    """The six headline figures (label, value); each value also stands in a table."""
    overdue = "t_overdue_now" if report.running else "t_overdue"
    return [
        (w["t_received"], w.number(report.cases)),
        (w["t_kept"], w.share(report.kept_share)),
        (w["t_response"], w.working_days(report.response_days.median)),
        (w["t_closed"], w.number(report.closed_count)),
        (w[overdue], w.number(len(report.overdue))),
        (w["t_messages"], w.number(report.messages)),
    ]


def promise_term(report: Report, clock: str, w: Words) -> str:
    """'within 5 working days' / 'binnen 5 werkdagen' for a clock name."""
    t = report.terms
    terms = {
        "ack_due": w["within_wd"].format(n=w.working_days(t.acknowledge)),
        "response_due": w["within_wd"].format(n=w.working_days(t.respond)),
        "update_due": w["every_wd"].format(n=w.working_days(t.update)),
        "resolve_due": w["within_days"].format(n=w.days(t.resolve_days)),
    }
    return terms.get(clock, clock)


def tables(report: Report, w: Words) -> dict[str, Table]:
    """Every table of the report by name, in the order the report shows them."""
    n = w.number
    found = [
        _trend(report, w),
        _weeks(report, w),
        _promises(report, w),
        _times(report, w),
        _triage(report, w),
        _closed(report, w),
        _severities(report, w),
        Table(
            "overdue",
            (w["case"], w["promise"], w["due"], w["late"], w["state"], w["subject"]),
            tuple(
                (
                    o.case_id,
                    w[f"p_{o.clock}"],
                    w.moment(o.due, zone(report)),
                    n(o.working_days_late),
                    w.state(o.state),
                    one_line(o.subject),
                )
                for o in report.overdue
            ),
            frozenset({3}),
            nowrap=frozenset({0, 2}),
        ),
        _pairs(
            "dispositions",
            (w["message_kind"], w["messages"]),
            [(w.code(k), v) for k, v in report.dispositions],
            (w["all_messages"], report.messages),
            w,
        ),
        _cases(report, w),
        _pairs(
            "rewards",
            (w["month_rewards"], w["number"]),
            [(w.code(k), v) for k, v in report.rewards]
            + [(w["decided"].format(value=w.code(k)), v) for k, v in report.reward_decisions],
            None,
            w,
        ),
    ]
    return {t.name: t for t in found}


def _trend(report: Report, w: Words) -> Table:
    rows = []
    for m in report.trend:
        label = w.month_short(m.month)
        if m.no_data:
            rows.append((f"{label} ({w['no_data']})", "-", "-", "-"))
            continue
        label += f" ({w['partial']})" if m.partial else ""
        rows.append(
            (label, w.number(m.received), w.share(m.share), w.working_days(m.response_days))
        )
    headers = (w["month"], w["reports"], w["kept_pct"], w["median_response"])
    return Table("trend", headers, tuple(rows), frozenset({1, 2, 3}))


def week_label(week_number: int, partial_days: int | None, w: Words) -> str:
    """'week 9', or 'week 13 (3 days only)' for a week the month cuts."""
    label = w["week_n"].format(n=week_number)
    if partial_days is None:
        return label
    return f"{label} ({w['partial_days'].format(days=w.days(partial_days))})"


def _weeks(report: Report, w: Words) -> Table:
    rows = tuple(
        (
            week_label(k.number, k.days if k.partial else None, w),
            w.day_span(k.first, k.last),
            w.number(k.cases),
            w.number(k.kept),
            w.number(k.missed),
            w.share(k.share),
        )
        for k in report.weeks
    )
    headers = (w["week"], w["days"], w["reports"], w["kept"], w["missed"], w["kept_share"])
    return Table("weeks", headers, rows, frozenset({2, 3, 4, 5}))


def _promises(report: Report, w: Words) -> Table:
    keys = ("kept", "missed", "pending", "void")
    rows = [
        (
            w[f"p_{p.clock}"],
            promise_term(report, p.clock, w),
            *(w.number(getattr(p, k)) for k in keys),
            w.share(p.share),
        )
        for p in report.promises
    ]
    total = [sum(getattr(p, k) for p in report.promises) for k in keys]
    rows.append((w["all_promises"], "", *map(w.number, total), w.share(report.kept_share)))
    headers = (
        w["promise"],
        w["term"],
        w["kept"],
        w["missed"],
        w["pending"],
        w["void"],
        w["kept_share"],
    )
    return Table("promises", headers, tuple(rows), frozenset({2, 3, 4, 5, 6}), total=True)


def _times(report: Report, w: Words) -> Table:
    ack, days = report.acknowledgement, report.response_days
    rows = (
        (
            w["p_ack_due"],
            w.number(ack.count),
            w.duration(ack.median),
            w.duration(ack.p90),
            w.number(ack.waiting),
        ),
        (
            w["p_response_due"],
            w.number(days.count),
            w.working_days(days.median),
            w.working_days(days.p90),
            w.number(days.waiting),
        ),
    )
    headers = ("", w["answered"], w["median"], w["p90"], w["waiting"])
    return Table("times", headers, rows, frozenset({1, 2, 3, 4}))


def _triage(report: Report, w: Words) -> Table:
    rows = []
    for line in report.triage:
        label = w[f"k_{line.kind}"]
        if line.kind == "incomplete" and line.reports:
            label += f" ({w['k_completed'].format(n=w.number(line.completed))})"
        days = line.response
        rows.append(
            (
                label,
                w.number(line.reports),
                w.number(days.count),
                w.working_days(days.median),
                w.working_days(days.p90),
                w.number(days.waiting),
            )
        )
    headers = (w["kind"], w["reports"], w["answered"], w["median"], w["p90"], w["waiting"])
    return Table("triage", headers, tuple(rows), frozenset({1, 2, 3, 4, 5}), total=True)


def _closed(report: Report, w: Words) -> Table:
    within = w["in_time"].format(n=w.days(report.terms.resolve_days))
    rows = tuple(
        (
            w.state(c.outcome) if c.outcome else w["all_closed"],
            w.number(c.count),
            w.duration(c.median),
            w.duration(c.longest),
            w.number(c.in_time),
        )
        for c in report.closed
    )
    headers = (w["outcome"], w["cases"], w["median_close"], w["longest"], within)
    return Table("closed", headers, rows, frozenset({1, 2, 3, 4}), total=True)


def _severities(report: Report, w: Words) -> Table:
    within = w["in_time"].format(n=w.days(report.terms.resolve_days))
    rows = tuple(
        (
            w.severity(s.severity),
            w.number(s.new),
            w.number(s.closed),
            w.duration(s.median),
            w.number(s.in_time),
        )
        for s in report.severities
    )
    headers = (w["severity"], w["new_cases"], w["closed_cases"], w["median_close"], within)
    return Table("severities", headers, rows, frozenset({1, 2, 3, 4}))


def _cases(report: Report, w: Words) -> Table:
    overdue = "t_overdue_now" if report.running else "t_overdue"
    rows = [
        (w["new_reports"], report.cases),
        *((f"\u2003{w.code(source)}", count) for source, count in report.sources),
        (w["no_contact"], report.no_contact),
        (w["still_open"], report.still_open),
        (w["t_closed"], report.closed_count),
        (w[overdue], len(report.overdue)),
    ]
    return _pairs("cases", (w["month_cases"], w["number"]), rows, None, w)


def _pairs(
    name: str,
    headers: tuple[str, str],
    pairs: Sequence[tuple[str, int]],
    total: tuple[str, int] | None,
    w: Words,
) -> Table:
    rows = [(label, w.number(count)) for label, count in pairs]
    if total is not None:
        rows.append((total[0], w.number(total[1])))
    return Table(name, headers, tuple(rows), frozenset({1}), total=total is not None)


def sections(report: Report, w: Words) -> list[tuple[str, list[str]]]:
    """(heading, table names) in the order text and HTML show them."""
    overdue = "h_overdue_now" if report.running else "h_overdue"
    return [
        (w["h_trend"], ["trend"]),
        (w["h_weeks"], ["weeks"]),
        (w["h_promises"], ["promises"]),
        (w["h_times"], ["times"]),
        (w["h_triage"], ["triage"]),
        (w["h_closed"], ["closed"]),
        (w["h_severity"], ["severities"]),
        (w[overdue].format(n=w.number(len(report.overdue))), ["overdue"]),
        (w["h_volume"], ["dispositions", "cases", "rewards"]),
    ]

"""Closed cases of the monthly report (pure): which cases the month closed, how long
they took, whether in time, by outcome and by severity (definitions:
`mailbot.report.figures`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.core.models import Severity
from mailbot.core.workdays import Calendar
from mailbot.report.measures import Index, MonthSlice, in_month, median
from mailbot.report.rows import CaseRow

OUTCOMES = ("resolved", "closed", "rejected", "duplicate", "spam")
SEVERITIES = (*(s.value for s in reversed(Severity)), "")
"""critical, high, medium, low, then "" (not assessed)."""
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Closed:
    """The cases closed in the month with one outcome ("" for all of them)."""

    outcome: str
    count: int
    median: timedelta | None
    longest: timedelta | None
    in_time: int


@dataclass(frozen=True)
class BySeverity:
    """One severity ("" = not assessed): new cases of the month, cases closed in it."""

    severity: str
    new: int
    closed: int
    median: timedelta | None
    in_time: int


Closing = tuple[CaseRow, datetime, str, bool]
"""A case closed in the month: the case, the moment, the state it closed as, in time."""


def closings_in(
    index: Index, this: MonthSlice, calendar: Calendar, resolve_days: int
) -> list[Closing]:
    """The cases closed in the slice's month (see `mailbot.report.figures`)."""
    found: list[Closing] = []
    for case in index.rows.cases:
        closing = index.closed_at(case.id, this.as_of)
        if closing is None or not in_month(this.month, closing[0], calendar):
            continue
        at, state = closing
        due = index.resolve_due(case.id) or case.received_at + resolve_days * _ONE_DAY
        found.append((case, at, state, at <= due))
    return found


def closed_lines(closings: Sequence[Closing]) -> tuple[Closed, ...]:
    """One line per outcome (zeros too, then any other state), and all of them last."""
    states = [*OUTCOMES, *sorted({s for _, _, s, _ in closings} - set(OUTCOMES))]
    lines = [_closed_line(s, [c for c in closings if c[2] == s]) for s in states]
    return (*lines, _closed_line("", closings))


def _closed_line(outcome: str, closings: Sequence[Closing]) -> Closed:
    times = [at - case.received_at for case, at, _, _ in closings]
    in_time = sum(1 for *_, ok in closings if ok)
    return Closed(outcome, len(closings), median(times), max(times, default=None), in_time)


def by_severity(cohort: Iterable[CaseRow], closings: Sequence[Closing]) -> tuple[BySeverity, ...]:
    """One line per severity, critical first, not assessed last."""
    new = Counter(c.severity or "" for c in cohort)
    lines = []
    for severity in SEVERITIES:
        closed = [c for c in closings if (c[0].severity or "") == severity]
        times = [at - case.received_at for case, at, _, _ in closed]
        in_time = sum(1 for *_, ok in closed if ok)
        lines.append(BySeverity(severity, new[severity], len(closed), median(times), in_time))
    return tuple(lines)

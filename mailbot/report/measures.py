"""The measures behind the monthly report's figures (pure): medians, nearest ranks, the
verdict on a clock, when a case got its substantive response and when it was closed, and
the month a figure is about (`MonthSlice`). Definitions: `mailbot.report.figures`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, TypeVar

from mailbot.core.models import CLOSED_STATES, ClockName
from mailbot.core.workdays import Calendar
from mailbot.report.rows import CaseRow, ClockRow, MessageRow, Month, Rows

CLOCK_NAMES = (
    ClockName.ACK_DUE,
    ClockName.RESPONSE_DUE,
    ClockName.UPDATE_DUE,
    ClockName.RESOLVE_DUE,
)
ENDED_IS_KEPT = frozenset({ClockName.UPDATE_DUE, ClockName.RESOLVE_DUE})
CLOSED = frozenset(s.value for s in CLOSED_STATES)
Verdict = Literal["kept", "missed", "pending", "void"]
_ONE_DAY = timedelta(days=1)  # only ever added to dates
T = TypeVar("T", timedelta, float)


def kept_share(kept: int, missed: int) -> float | None:
    """kept / (kept + missed), None when nothing was decided."""
    decided = kept + missed
    return kept / decided if decided else None


def median(values: Sequence[T]) -> T | None:
    """The middle value; the mean of the two middle values for an even count."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def nearest_rank(values: Sequence[T], percent: int) -> T | None:
    """The value at 1-based rank ceil(percent/100 x n) of the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Durations:
    """Elapsed times of one kind: how many, median, p90, and cases still waiting."""

    count: int
    waiting: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class DayCounts:
    """Working days of one kind: how many, median, p90 (9 in 10 within), still waiting."""

    count: int
    waiting: int
    median: float | None
    p90: float | None


def durations(values: Sequence[timedelta], waiting: int) -> Durations:
    """Count, median and p90 of `values`."""
    return Durations(len(values), waiting, median(values), nearest_rank(values, 90))


def day_counts(values: Sequence[int], waiting: int) -> DayCounts:
    """Count, median and p90 of working-day counts."""
    floats = [float(v) for v in values]
    return DayCounts(len(values), waiting, median(floats), nearest_rank(floats, 90))


def judge(clock: ClockRow, as_of: datetime, waiting: bool) -> Verdict:
    """kept, missed, pending or void for a clock, as of `as_of` (see the figures' doc)."""
    if clock.met_at is not None:
        return "kept"
    if clock.due > as_of:
        return "pending"
    ended_early = clock.done_at is not None and clock.done_at <= clock.due
    if ended_early and clock.missed_at is None:
        return "kept" if clock.name in ENDED_IS_KEPT else "void"
    paused = clock.name == ClockName.UPDATE_DUE and waiting and clock.missed_at is None
    if paused and (clock.done_at is None or clock.done_at > as_of):
        return "pending"
    return "missed"


def working_days_between(calendar: Calendar, after: date, until: date) -> int:
    """Working days d with after < d <= until."""
    count, day = 0, after + _ONE_DAY
    while day <= until:
        count += calendar.is_working_day(day)
        day += _ONE_DAY
    return count


def working_days_to(calendar: Calendar, received: datetime, moment: datetime) -> int:
    """Working days from receipt to `moment`, counted as the policy counts its terms: from
    the ontvangstdag (not counted) to the day `moment` counts as (after the cutoff or on a
    closed day: the next working day). A promise "within N working days" is kept at <= N."""
    return working_days_between(
        calendar, calendar.ontvangstdag(received), calendar.ontvangstdag(moment)
    )


class Index:
    """The rows grouped once by case: its clocks, `clock_late` and `state_changed` events,
    and the cases that arrived lacking something (a `missing_set` event)."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.clocks: dict[str, list[ClockRow]] = defaultdict(list)
        self.late: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        self.states: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        self.arrived_incomplete: set[str] = set()
        for clock in rows.clocks:
            self.clocks[clock.case_id].append(clock)
        for event in rows.events:
            if event.case_id is None:
                continue
            if event.kind == "clock_late":
                self.late[(event.case_id, event.detail)].append(event.at)
            elif event.kind == "state_changed":
                new = event.detail.rsplit("\u2192", 1)[-1].strip()
                self.states[event.case_id].append((event.at, new))
            elif event.kind == "missing_set":
                self.arrived_incomplete.add(event.case_id)
        for changes in self.states.values():
            changes.sort()
        self.waiting = {c.id for c in rows.cases if c.waiting}

    def responded_at(self, case_id: str) -> datetime | None:
        """When the first response_due clock of a case was fulfilled (on time or late)."""
        first = next((c for c in self.clocks[case_id] if c.name == ClockName.RESPONSE_DUE), None)
        if first is not None and first.met_at is not None:
            return first.met_at
        return min(self.late[(case_id, ClockName.RESPONSE_DUE)], default=None)

    def closed_at(self, case_id: str, as_of: datetime) -> tuple[datetime, str] | None:
        """(moment, state) of the case's closing, when its last change of state up to
        `as_of` closed it; None when it was open then (or never changed state)."""
        changes = [(at, state) for at, state in self.states[case_id] if at <= as_of]
        if changes and changes[-1][1] in CLOSED:
            return changes[-1]
        return None

    def resolve_due(self, case_id: str) -> datetime | None:
        """The due of the case's first resolve_due clock."""
        dues = [c.due for c in self.clocks[case_id] if c.name == ClockName.RESOLVE_DUE]
        return min(dues, default=None)


@dataclass(frozen=True)
class MonthSlice:
    """What one month's figures are about: its moment of judgement (`as_of`: its end, or
    `now` in the running month), the cases and messages received in it by local date, and
    the clocks falling due in it with their verdicts."""

    month: Month
    as_of: datetime
    cohort: tuple[CaseRow, ...]
    messages: tuple[MessageRow, ...]
    verdicts: tuple[tuple[ClockRow, Verdict], ...]
    running: bool
    """True while the month is not over (judged as of now, not its end)."""


def month_slice(index: Index, month: Month, calendar: Calendar, now: datetime) -> MonthSlice:
    """The slice of `month` from the indexed rows, judged as of min(its end, now)."""
    as_of = min(now.astimezone(UTC), month.end(calendar))
    rows = index.rows
    falling_due = [c for c in rows.clocks if in_month(month, c.due, calendar)]
    return MonthSlice(
        month=month,
        as_of=as_of,
        cohort=tuple(c for c in rows.cases if in_month(month, c.received_at, calendar)),
        messages=tuple(m for m in rows.messages if in_month(month, m.received_at, calendar)),
        verdicts=tuple((c, judge(c, as_of, c.case_id in index.waiting)) for c in falling_due),
        running=as_of < month.end(calendar),
    )


def in_month(month: Month, moment: datetime, calendar: Calendar) -> bool:
    """True when the local date of `moment` lies in `month`."""
    return month.first <= moment.astimezone(calendar.timezone).date() <= month.last


def response_days(index: Index, cohort: Iterable[CaseRow], calendar: Calendar) -> DayCounts:
    """Working days from receipt to the substantive response, over the cases answered."""
    cases = list(cohort)
    days = [
        working_days_to(calendar, c.received_at, moment)
        for c in cases
        if (moment := index.responded_at(c.id)) is not None
    ]
    return day_counts(days, len(cases) - len(days))

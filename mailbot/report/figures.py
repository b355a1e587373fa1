"""The monthly report (`mailbot report --month YYYY-MM`): every figure. Pure.

`build_report` takes the rows (`mailbot.report.rows.read_rows`), the month, the calendar
and `now`; every date is a local date of the calendar's timezone. Output (text, JSON,
HTML with an SVG chart) is in `mailbot.report.render` and `mailbot.report.html`.

Definitions (each figure of the report):

- *received*, *dispositions*, *cases*, *sources*, *rewards*, *acknowledgement*, *response*:
  about the messages and cases whose local date of receipt lies in the month.
- *time to acknowledgement*: acknowledged_at - received_at, elapsed time, per case that was
  acknowledged (by the time of the report); *time to substantive response*: the moment the
  case's first `response_due` clock was fulfilled (met_at; when late, the `clock_late`
  event) - received_at. The rest count as *waiting*.
- *median*: the middle value of the sorted values, the mean of the two middle ones for an
  even count; *p90*: nearest rank, the value at 1-based rank ceil(0.9 x n) of the sorted
  values (n = 1..9 give the largest; n = 10 the 9th; n = 20 the 18th).
- *promises*: every clock whose due falls (local date) in the month, judged as of `as_of`
  (the end of the month, or `now` in the running month). kept: met before its due; an
  update or resolve clock also when it ended before its due (a newer mail to the reporter,
  or the case closed). void: an ack or response clock ended before its due unmet (the case
  closed; not counted). pending: due after `as_of`, or an update clock of a waiting case
  (paused). missed: the rest. share kept = kept / (kept + missed).
- *weeks*: the ISO weeks touching the month, clipped to its days: cases received and
  promises (all four clocks together) falling due in each.
- *overdue*: clocks of any case due at or before `as_of`, unmet and not ended by then
  (paused update clocks excepted); working days late = working days after the due date up
  to `as_of`'s date (the month's last day for a past month).
- *reward decisions*: `reward_changed` events in the month, by new value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from mailbot.core.models import CLOSED_STATES, ClockName, Disposition, Reward
from mailbot.core.workdays import Calendar
from mailbot.report.rows import (
    CaseRow,
    ClockRow,
    EventRow,
    Month,
    ReportError,
    Rows,
    parse_month,
    read_rows,
)

__all__ = [
    "CaseRow",
    "ClockRow",
    "EventRow",
    "Month",
    "Report",
    "ReportError",
    "Rows",
    "build_report",
    "parse_month",
    "read_rows",
]

CLOCK_NAMES = (
    ClockName.ACK_DUE,
    ClockName.RESPONSE_DUE,
    ClockName.UPDATE_DUE,
    ClockName.RESOLVE_DUE,
)
ENDED_IS_KEPT = frozenset({ClockName.UPDATE_DUE, ClockName.RESOLVE_DUE})
REWARDS = tuple(Reward)
_ONE_DAY = timedelta(days=1)  # only ever added to dates
Verdict = Literal["kept", "missed", "pending", "void"]


def kept_share(kept: int, missed: int) -> float | None:
    """kept / (kept + missed), None when nothing was decided."""
    decided = kept + missed
    return kept / decided if decided else None


@dataclass(frozen=True)
class Terms:
    """The policy's terms as configured ([deadlines])."""

    acknowledge: int = 1
    respond: int = 5
    update: int = 10
    resolve_days: int = 60

    def describe(self, clock: str) -> str:
        """'within 5 working days' for a clock name."""
        days: dict[str, str] = {
            ClockName.ACK_DUE: f"within {_days(self.acknowledge, 'working day')}",
            ClockName.RESPONSE_DUE: f"within {_days(self.respond, 'working day')}",
            ClockName.UPDATE_DUE: f"every {_days(self.update, 'working day')}",
            ClockName.RESOLVE_DUE: f"within {_days(self.resolve_days, 'day')}",
        }
        return days[clock]


def _days(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


# --- the figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    """Elapsed times of one kind: how many, median, p90, and cases still waiting."""

    count: int
    waiting: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class Promise:
    """One promise's clocks falling due in the month."""

    clock: str
    title: str
    term: str
    kept: int = 0
    missed: int = 0
    pending: int = 0
    void: int = 0

    @property
    def share(self) -> float | None:
        """kept / (kept + missed), None when nothing was decided."""
        return kept_share(self.kept, self.missed)


@dataclass(frozen=True)
class Week:
    """One ISO week (clipped to the month): cases received, promises kept and missed."""

    label: str
    first: date
    last: date
    cases: int
    kept: int
    missed: int

    @property
    def share(self) -> float | None:
        """kept / (kept + missed), None when nothing fell due."""
        return kept_share(self.kept, self.missed)


@dataclass(frozen=True)
class Overdue:
    """A clock past its due, unmet, as of `Report.as_of`."""

    case_id: str
    subject: str
    state: str
    clock: str
    due: datetime
    working_days_late: int


@dataclass(frozen=True)
class Report:
    """Every figure of one month's report."""

    month: Month
    organisation: str
    timezone: str
    generated_at: datetime
    as_of: datetime
    messages: int
    dispositions: tuple[tuple[str, int], ...]
    cases: int
    still_open: int
    sources: tuple[tuple[str, int], ...]
    no_contact: int
    acknowledgement: Durations
    response: Durations
    promises: tuple[Promise, ...]
    weeks: tuple[Week, ...]
    overdue: tuple[Overdue, ...]
    rewards: tuple[tuple[str, int], ...]
    reward_decisions: tuple[tuple[str, int], ...] = field(default=())

    @property
    def kept_share(self) -> float | None:
        """All promises together: kept / (kept + missed)."""
        kept = sum(p.kept for p in self.promises)
        decided = kept + sum(p.missed for p in self.promises)
        return kept / decided if decided else None


PROMISE_TITLES: dict[str, str] = {
    ClockName.ACK_DUE: "Acknowledgement",
    ClockName.RESPONSE_DUE: "Substantive response",
    ClockName.UPDATE_DUE: "Progress update",
    ClockName.RESOLVE_DUE: "Resolution",
}


def median(values: Sequence[timedelta]) -> timedelta | None:
    """The middle value; the mean of the two middle values for an even count."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return None
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def nearest_rank(values: Sequence[timedelta], percent: int) -> timedelta | None:
    """The value at 1-based rank ceil(percent/100 x n) of the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def durations(values: Sequence[timedelta], waiting: int) -> Durations:
    """Count, median and p90 of `values`."""
    return Durations(len(values), waiting, median(values), nearest_rank(values, 90))


def judge(clock: ClockRow, as_of: datetime, waiting: bool) -> Verdict:
    """kept, missed, pending or void for a clock, as of `as_of` (see the module doc)."""
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


def responded_at(
    case_id: str, clocks: Iterable[ClockRow], events: Iterable[EventRow]
) -> datetime | None:
    """When the first response_due clock of a case was fulfilled (on time or late)."""
    first = next(
        (c for c in clocks if c.case_id == case_id and c.name == ClockName.RESPONSE_DUE), None
    )
    if first is not None and first.met_at is not None:
        return first.met_at
    late = [
        e.at
        for e in events
        if e.case_id == case_id and e.kind == "clock_late" and e.detail == ClockName.RESPONSE_DUE
    ]
    return min(late, default=None)


def build_report(
    rows: Rows,
    month: Month,
    calendar: Calendar,
    now: datetime,
    terms: Terms = Terms(),
    organisation: str = "",
) -> Report:
    """Every figure of `month` from `rows`, as of `now` (see the module doc)."""
    tz = calendar.timezone
    if month.first > now.astimezone(tz).date():
        raise ReportError(f"month {month} has not begun (today is {now.astimezone(tz):%Y-%m-%d})")
    end = datetime.combine(month.next_first, time(0), tzinfo=tz).astimezone(UTC)
    as_of = min(now.astimezone(UTC), end)
    cohort = [c for c in rows.cases if _in(month, c.received_at, calendar)]
    messages = [m for m in rows.messages if _in(month, m.received_at, calendar)]
    waiting = {c.id for c in rows.cases if c.waiting}
    falling_due = [c for c in rows.clocks if _in(month, c.due, calendar)]
    verdicts = [(c, judge(c, as_of, c.case_id in waiting)) for c in falling_due]
    acks = [c.acknowledged_at - c.received_at for c in cohort if c.acknowledged_at]
    answers = [(c, responded_at(c.id, rows.clocks, rows.events)) for c in cohort]
    responses = [moment - c.received_at for c, moment in answers if moment is not None]
    return Report(
        month=month,
        organisation=organisation,
        timezone=str(tz),
        generated_at=now.astimezone(UTC),
        as_of=as_of,
        messages=len(messages),
        dispositions=_counted([m.disposition for m in messages], [d.value for d in Disposition]),
        cases=len(cohort),
        still_open=sum(1 for c in cohort if c.state not in {s.value for s in CLOSED_STATES}),
        sources=_counted([c.source for c in cohort], ["direct", "relay"]),
        no_contact=sum(1 for c in cohort if "no_contact" in c.flags),
        acknowledgement=durations(acks, len(cohort) - len(acks)),
        response=durations(responses, len(cohort) - len(responses)),
        promises=tuple(_promise(name, verdicts, terms) for name in CLOCK_NAMES),
        weeks=_weeks(month, calendar, cohort, verdicts),
        overdue=_overdue(rows, as_of, month, calendar, waiting),
        rewards=_counted([c.reward for c in cohort], list(REWARDS)),
        reward_decisions=_reward_decisions(rows.events, month, calendar),
    )


def _in(month: Month, moment: datetime, calendar: Calendar) -> bool:
    return month.first <= moment.astimezone(calendar.timezone).date() <= month.last


def _counted(values: Sequence[str], known: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """(value, count) for every known value (zeros too), then any other value found."""
    counts = Counter(values)
    extra = sorted(v for v in counts if v not in known)
    return tuple((v, counts.get(v, 0)) for v in [*known, *extra])


def _promise(name: str, verdicts: Sequence[tuple[ClockRow, Verdict]], terms: Terms) -> Promise:
    counts = Counter(v for c, v in verdicts if c.name == name)
    return Promise(
        clock=name,
        title=PROMISE_TITLES[name],
        term=terms.describe(name),
        kept=counts["kept"],
        missed=counts["missed"],
        pending=counts["pending"],
        void=counts["void"],
    )


def _weeks(
    month: Month,
    calendar: Calendar,
    cohort: Sequence[CaseRow],
    verdicts: Sequence[tuple[ClockRow, Verdict]],
) -> tuple[Week, ...]:
    tz = calendar.timezone
    received = Counter(c.received_at.astimezone(tz).isocalendar()[:2] for c in cohort)
    judged = Counter((c.due.astimezone(tz).isocalendar()[:2], v) for c, v in verdicts)
    weeks: list[Week] = []
    day = month.first
    while day <= month.last:
        key = day.isocalendar()[:2]
        last = min(day + timedelta(days=7 - day.isoweekday()), month.last)
        weeks.append(
            Week(
                label=f"W{key[1]:02d}",
                first=day,
                last=last,
                cases=received[key],
                kept=judged[(key, "kept")],
                missed=judged[(key, "missed")],
            )
        )
        day = last + _ONE_DAY
    return tuple(weeks)


def _overdue(
    rows: Rows, as_of: datetime, month: Month, calendar: Calendar, waiting: set[str]
) -> tuple[Overdue, ...]:
    cases = {c.id: c for c in rows.cases}
    until = min(as_of.astimezone(calendar.timezone).date(), month.last)
    found = []
    for clock in rows.clocks:
        ended = clock.done_at is not None and clock.done_at <= as_of
        if clock.met_at or clock.due > as_of or ended or clock.case_id not in cases:
            continue
        if judge(clock, as_of, clock.case_id in waiting) != "missed":
            continue
        case = cases[clock.case_id]
        late = _working_days_between(
            calendar, clock.due.astimezone(calendar.timezone).date(), until
        )
        found.append(Overdue(case.id, case.subject, case.state, clock.name, clock.due, late))
    return tuple(sorted(found, key=lambda o: (o.due, o.case_id, o.clock)))


def _working_days_between(calendar: Calendar, after: date, until: date) -> int:
    """Working days d with after < d <= until."""
    count, day = 0, after + _ONE_DAY
    while day <= until:
        count += calendar.is_working_day(day)
        day += _ONE_DAY
    return count


def _reward_decisions(
    events: Iterable[EventRow], month: Month, calendar: Calendar
) -> tuple[tuple[str, int], ...]:
    new = [
        e.detail.rsplit("→", 1)[-1].strip()
        for e in events
        if e.kind == "reward_changed" and _in(month, e.at, calendar)
    ]
    return tuple((v, n) for v, n in _counted(new, [r for r in REWARDS if r != Reward.UNDECIDED]))

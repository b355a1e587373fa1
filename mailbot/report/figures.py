"""The monthly report (`mailbot report --month YYYY-MM`): every figure. Pure.

`build_report` takes the rows (`mailbot.report.rows.read_rows`), the month, the calendar
and `now`; every date is a local date of the calendar's timezone. Output (text, JSON,
HTML with SVG charts) is in `mailbot.report.render` and `mailbot.report.html`, in the
words of `mailbot.report.words`.

Definitions (each figure of the report):

- *received*, *dispositions*, *cases*, *sources*, *rewards*, *acknowledgement*, *response*:
  about the messages and cases whose local date of receipt lies in the month.
- *time to acknowledgement*: acknowledged_at - received_at, elapsed time, per case that was
  acknowledged (by the time of the report); *time to substantive response*: the moment the
  case's first `response_due` clock was fulfilled (met_at; when late, the `clock_late`
  event) - received_at, as elapsed time and in working days as the policy counts them
  (from the ontvangstdag, not counted, to the day the answer counts as: after the cutoff
  or on a closed day the next working day). The rest count as *waiting*.
- *median*: the middle value of the sorted values, the mean of the two middle ones for an
  even count; *p90* ("9 in 10 within"): nearest rank, the value at 1-based rank
  ceil(0.9 x n) of the sorted values (n = 1..9 give the largest; n = 10 the 9th).
- *promises*: every clock whose due falls (local date) in the month, judged as of `as_of`
  (the end of the month, or `now` in the running month). kept: met before its due; an
  update or resolve clock also when it ended before its due (a newer mail to the reporter,
  or the case closed). void ("lapsed"): an ack or response clock ended before its due
  unmet (the case closed; not counted). pending: due after `as_of`, or an update clock of
  a waiting case (paused). missed: the rest. share kept = kept / (kept + missed).
- *weeks*: the weeks (Monday to Sunday) touching the month, clipped to its days (a week
  with fewer than 7 days in the month is *partial*): cases received and promises (all
  four clocks together) falling due in each.
- *closed*: cases whose last change of state up to `as_of` closed them (resolved, closed,
  rejected, duplicate, spam) and lies in the month; time to close = that moment -
  received_at; *in time*: closed by the due of the case's resolve clock (else within
  `resolve_days` days). *Per severity*: by the case's severity now ("" = not assessed):
  the month's new cases, and the cases closed in it.
- *overdue*: clocks of any case due at or before `as_of`, unmet and not ended by then
  (paused update clocks excepted); working days late = working days after the due date up
  to `as_of`'s date (the month's last day for a past month).
- *reward decisions*: `reward_changed` events in the month, by new value.
- *triage*: the month's cases by kind, a case of several kinds counted in each:
  *incomplete* (it arrived lacking system, description or contact: a `missing_set`
  event, or something missing now; *completed later*: nothing missing now), *related*
  (linked to another case now), *known finding* (it matched one of `[triage]
  known_findings`), *demand or threat* (flag `reward_demand` or `threat`), *other* (none
  of these); per kind the working days to the substantive response, as above.
- *trend*: `mailbot.report.trend`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from mailbot.core.config import Settings
from mailbot.core.models import Disposition, Reward
from mailbot.core.workdays import Calendar
from mailbot.report.closing import BySeverity, Closed, by_severity, closed_lines, closings_in
from mailbot.report.measures import (
    CLOCK_NAMES,
    CLOSED,
    DayCounts,
    Durations,
    Index,
    MonthSlice,
    Verdict,
    durations,
    in_month,
    judge,
    kept_share,
    month_slice,
    response_days,
    working_days_between,
)
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
from mailbot.report.trend import TrendMonth, trend
from mailbot.report.triage import Triage, triage_lines
from mailbot.store import Store

__all__ = [
    "CaseRow",
    "ClockRow",
    "EventRow",
    "Month",
    "Report",
    "ReportError",
    "Rows",
    "Terms",
    "build_report",
    "parse_month",
    "read_rows",
]

REWARDS = tuple(Reward)
_ONE_DAY = timedelta(days=1)  # only ever added to dates


@dataclass(frozen=True)
class Terms:
    """The policy's terms as configured ([deadlines])."""

    acknowledge: int = 1
    respond: int = 5
    update: int = 10
    resolve_days: int = 60


@dataclass(frozen=True)
class Promise:
    """One promise's clocks falling due in the month."""

    clock: str
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
    """One week (Monday to Sunday, clipped to the month): cases received, promises kept
    and missed."""

    number: int
    first: date
    last: date
    cases: int
    kept: int
    missed: int

    @property
    def days(self) -> int:
        """Its days in the month (7 unless the month cuts it)."""
        return (self.last - self.first).days + 1

    @property
    def partial(self) -> bool:
        """True when the month holds fewer than its 7 days."""
        return self.days < 7

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
    response_days: DayCounts = field(default=DayCounts(0, 0, None, None))
    closed: tuple[Closed, ...] = field(default=())
    severities: tuple[BySeverity, ...] = field(default=())
    trend: tuple[TrendMonth, ...] = field(default=())
    triage: tuple[Triage, ...] = field(default=())
    terms: Terms = field(default=Terms())
    running: bool = False
    """True while the month is not over: judged as of now."""

    @property
    def kept_share(self) -> float | None:
        """All promises together: kept / (kept + missed)."""
        kept = sum(p.kept for p in self.promises)
        return kept_share(kept, sum(p.missed for p in self.promises))

    @property
    def closed_count(self) -> int:
        """Cases closed in the month."""
        return self.closed[-1].count if self.closed else 0


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
    index = Index(rows)
    this = month_slice(index, month, calendar, now)
    cohort = this.cohort
    acks = [c.acknowledged_at - c.received_at for c in cohort if c.acknowledged_at]
    answered = [(c, index.responded_at(c.id)) for c in cohort]
    responses = [moment - c.received_at for c, moment in answered if moment is not None]
    closings = closings_in(index, this, calendar, terms.resolve_days)
    return Report(
        month=month,
        organisation=organisation,
        timezone=str(tz),
        generated_at=now.astimezone(UTC),
        as_of=this.as_of,
        messages=len(this.messages),
        dispositions=_counted(
            [m.disposition for m in this.messages], [d.value for d in Disposition]
        ),
        cases=len(cohort),
        still_open=sum(1 for c in cohort if c.state not in CLOSED),
        sources=_counted([c.source for c in cohort], ["direct", "relay"]),
        no_contact=sum(1 for c in cohort if "no_contact" in c.flags),
        acknowledgement=durations(acks, len(cohort) - len(acks)),
        response=durations(responses, len(cohort) - len(responses)),
        promises=tuple(_promise(name, this.verdicts) for name in CLOCK_NAMES),
        weeks=_weeks(month, calendar, cohort, this.verdicts),
        overdue=_overdue(rows, index, this, calendar),
        rewards=_counted([c.reward for c in cohort], list(REWARDS)),
        reward_decisions=_reward_decisions(rows.events, month, calendar),
        response_days=response_days(index, cohort, calendar),
        closed=closed_lines(closings),
        severities=by_severity(cohort, closings),
        trend=trend(index, this, calendar, now),
        triage=triage_lines(index, cohort, calendar),
        terms=terms,
        running=this.running,
    )


def report_of(
    store: Store, settings: Settings, calendar: Calendar, month: Month, now: datetime
) -> Report:
    """`month`'s report from the store, with the configured terms and organisation."""
    d = settings.deadlines
    terms = Terms(d.acknowledge, d.respond, d.update, d.resolve_days)
    rows = read_rows(store, month, calendar)
    return build_report(rows, month, calendar, now, terms, settings.identity.organisation)


def _counted(values: Sequence[str], known: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """(value, count) for every known value (zeros too), then any other value found."""
    counts = Counter(values)
    extra = sorted(v for v in counts if v not in known)
    return tuple((v, counts.get(v, 0)) for v in [*known, *extra])


def _promise(name: str, verdicts: Sequence[tuple[ClockRow, Verdict]]) -> Promise:
    counts = Counter(v for c, v in verdicts if c.name == name)
    return Promise(name, counts["kept"], counts["missed"], counts["pending"], counts["void"])


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
        kept, missed = judged[(key, "kept")], judged[(key, "missed")]
        weeks.append(Week(key[1], day, last, received[key], kept, missed))
        day = last + _ONE_DAY
    return tuple(weeks)


def _overdue(rows: Rows, index: Index, this: MonthSlice, calendar: Calendar) -> tuple[Overdue, ...]:
    cases = {c.id: c for c in rows.cases}
    as_of = this.as_of
    until = min(as_of.astimezone(calendar.timezone).date(), this.month.last)
    found = []
    for clock in rows.clocks:
        ended = clock.done_at is not None and clock.done_at <= as_of
        if clock.met_at or clock.due > as_of or ended or clock.case_id not in cases:
            continue
        if judge(clock, as_of, clock.case_id in index.waiting) != "missed":
            continue
        case = cases[clock.case_id]
        late = working_days_between(calendar, clock.due.astimezone(calendar.timezone).date(), until)
        found.append(Overdue(case.id, case.subject, case.state, clock.name, clock.due, late))
    return tuple(sorted(found, key=lambda o: (o.due, o.case_id, o.clock)))


def _reward_decisions(
    events: Iterable[EventRow], month: Month, calendar: Calendar
) -> tuple[tuple[str, int], ...]:
    new = [
        e.detail.rsplit("\u2192", 1)[-1].strip()
        for e in events
        if e.kind == "reward_changed" and in_month(month, e.at, calendar)
    ]
    return tuple((v, n) for v, n in _counted(new, [r for r in REWARDS if r != Reward.UNDECIDED]))

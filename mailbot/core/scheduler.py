"""The scheduler's decision (DESIGN.md §5): which reminders, escalations, digests and
closure warnings go out at `now`. Pure: no clock, no I/O; the shell passes the open
clocks and the keys already sent, sends what comes back and records each key.

Nothing is returned outside office hours. A waiting case's `update_due` is paused (no
reminder, escalation, closure listing or `newly_missed`; the digest lists it as paused).
Reminders for a clock due at D: `reminder_moments`; escalations: `_escalation`;
closure periods: `closure_periods`. Day arithmetic is on local dates, moments are UTC.

Only clocks due before `reminder_horizon` (about two working days ahead) can give a
notice now or change the answer soon: the calendar arithmetic is done for those only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from mailbot.core.errors import MailbotError
from mailbot.core.models import Deadline
from mailbot.core.workdays import WEEKEND, Calendar

CLOCKS = ("ack_due", "response_due", "update_due", "resolve_due")
PAUSABLE = "update_due"  # the one clock a waiting case pauses

_ONE_DAY = timedelta(days=1)  # only ever added to `date` objects
_MAX_PERIOD_DAYS = 400  # a longer closure run is cut off (a year closed is a config bug)
_KIND_ORDER = {"escalation": 0, "reminder": 1, "closure_warning": 2, "digest": 3}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class SchedulerError(MailbotError, ValueError):
    """A scheduler input is unusable (naive datetime, unknown clock, negative count)."""


@dataclass(frozen=True)
class OpenClock:
    """One clock of an open case that is not met (yet).

    A clock already recorded missed stays in the input until it is met late or its case
    closes: that is what makes the escalation repeat every working day.
    """

    case_id: str
    name: str  # one of CLOCKS
    due: datetime  # aware; stored, compared and keyed in UTC
    explanation: str
    subject: str
    state: str
    waiting: bool  # the case waits for the reporter: `update_due` is paused
    missed_at: datetime | None = None  # when the shell recorded it missed

    def __post_init__(self) -> None:
        if self.name not in CLOCKS:
            raise SchedulerError(f"unknown clock {self.name!r} (expected one of {CLOCKS})")
        _check_aware(self.due, "due")
        object.__setattr__(self, "due", self.due.astimezone(UTC))

    @property
    def paused(self) -> bool:
        """True for the update clock of a waiting case."""
        return self.waiting and self.name == PAUSABLE


@dataclass(frozen=True)
class Notice:
    """One mail to staff that the shell must send once (keyed by `key`)."""

    key: str
    kind: str  # "reminder" | "escalation" | "digest" | "closure_warning"
    audience: str  # "notify" | "escalate"
    case_id: str | None
    clock: str | None
    due: datetime | None
    """The deadline; for a closure warning the horizon (end of the reopening day)."""
    explanation: str
    """The deadline's explanation; for a closure warning the closed days with reasons."""
    label: str
    items: tuple[OpenClock, ...] = ()  # digest / closure warning: the clocks, by due


@dataclass(frozen=True)
class SchedulePolicy:
    """When reminders go out (configurable; the defaults are DESIGN.md §5's)."""

    hours_before: float = 2.0
    day_ahead: frozenset[str] = frozenset({"response_due"})
    remind: frozenset[str] = frozenset(CLOCKS)

    def __post_init__(self) -> None:
        if not math.isfinite(self.hours_before) or self.hours_before < 0:
            raise SchedulerError(f"hours_before {self.hours_before!r} must be a finite number >= 0")
        for field_name, names in (("day_ahead", self.day_ahead), ("remind", self.remind)):
            unknown = sorted(set(names) - set(CLOCKS))
            if unknown:
                raise SchedulerError(f"{field_name}: unknown clock(s) {', '.join(unknown)}")


DEFAULT_POLICY = SchedulePolicy()


@dataclass(frozen=True)
class DigestSections:
    """The digest's clocks grouped for the text (each sorted by due)."""

    overdue: tuple[OpenClock, ...]
    today: tuple[OpenClock, ...]
    tomorrow: tuple[OpenClock, ...]  # due on the next working day (Monday on a Friday)
    later: tuple[OpenClock, ...]
    paused: tuple[OpenClock, ...]  # update clocks of waiting cases


# --- the decision -------------------------------------------------------------------------


def notices(
    now: datetime,
    calendar: Calendar,
    clocks: Sequence[OpenClock],
    sent: Set[str],
    policy: SchedulePolicy = DEFAULT_POLICY,
    digest_anyway: bool = False,
) -> list[Notice]:
    """Everything that should go out at `now` and whose key is not in `sent`.

    Order: escalations, reminders, closure warnings, digest; within a kind by due,
    case and clock. Keys are unique within the result. The digest goes out when clocks
    are open, or with `digest_anyway` (the shell has more to list: unmatched bounces).
    """
    if not calendar.is_office_hours(now):
        return []
    horizon, _ = reminder_horizon(calendar, now, policy)
    today = _local_date(calendar, now)
    found: list[Notice] = []
    for clock in clocks:
        if clock.due >= horizon or clock.paused:  # nothing now (`reminder_horizon`)
            continue
        if now >= clock.due:
            if _key(clock, "escalation", today.isoformat()) not in sent:
                found.append(_escalation(now, calendar, clock))
        else:
            found.extend(_reminder(now, calendar, clock, policy, sent))
    found.extend(_closure_warnings(now, calendar, clocks, sent))
    if (clocks or digest_anyway) and _digest_key(calendar, now) not in sent:
        found.append(_digest(now, calendar, clocks))
    return _unique_sorted(notice for notice in found if notice.key not in sent)


def next_change(
    now: datetime,
    calendar: Calendar,
    clocks: Sequence[OpenClock],
    policy: SchedulePolicy = DEFAULT_POLICY,
) -> datetime:
    """The earliest moment after `now` at which `notices` or `newly_missed` could answer
    differently for the same clocks and the same sent keys: a reminder trigger or a due
    passing, the office closing (today's cutoff) or opening. Until then a tick whose
    inputs did not change can be skipped.
    """
    _check_aware(now, "now")
    if calendar.is_office_hours(now):
        edge = _at(calendar, _local_date(calendar, now), calendar.cutoff)
    else:
        edge = calendar.next_office_opening(now)
    horizon, _ = reminder_horizon(calendar, edge, policy)
    moments = [edge]
    for clock in clocks:
        if clock.due >= horizon:  # its due and triggers all come after `edge`
            continue
        if clock.due > now:
            moments.append(clock.due)
        moments.extend(t for _, _, t in _triggers(calendar, clock, policy) if t > now)
    return min(moments)


def reminder_horizon(
    calendar: Calendar, moment: datetime, policy: SchedulePolicy = DEFAULT_POLICY
) -> tuple[datetime, datetime]:
    """(H, L) with `moment` < L < H: a clock due at or after H has its due and every
    reminder trigger at or after L. So at `moment` it gives no reminder and no escalation,
    and before L it cannot change what `notices` or `newly_missed` answer.

    L is the office opening of the next working day W after `moment`'s local date. H is
    local midnight after the first working day from W on by which the working days W..
    hold `policy.hours_before` of office time: a due on a later local date has its "due
    tomorrow" (the working day before) and "due today" triggers on W or later, and its
    "due in N working hours" trigger at or after W's opening.
    """
    _check_aware(moment, "moment")
    first = calendar.nth_working_day_after(_local_date(calendar, moment), 1)
    last = first
    wanted = timedelta(hours=policy.hours_before)
    covered = _office_time(calendar, first)
    while covered < wanted:
        last = calendar.nth_working_day_after(last, 1)
        covered += _office_time(calendar, last)
    return _at(calendar, last + _ONE_DAY, time(0)), _at(calendar, first, calendar.office_open)


def daily_keys(now: datetime, calendar: Calendar) -> list[str]:
    """The keys of the notices about no single clock that `notices` may send at `now`:
    today's digest and the closure warnings in their window (in office hours only)."""
    if not calendar.is_office_hours(now):
        return []
    periods = closure_periods(calendar, _local_date(calendar, now))
    return [_digest_key(calendar, now), *(_closure_key(first) for first, _ in periods)]


def escalation_affixes(now: datetime, calendar: Calendar) -> tuple[str, str]:
    """(prefix, suffix) of today's escalation keys: prefix + "case:clock:due" + suffix, the
    due in UTC ISO form (a query can then find the clocks already escalated today)."""
    return "escalation:", f":{_local_date(calendar, now).isoformat()}"


def newly_missed(now: datetime, clocks: Sequence[OpenClock]) -> list[OpenClock]:
    """Clocks due at or before `now`, not paused, not yet recorded missed (by due, case)."""
    _check_aware(now, "now")
    missed = [c for c in clocks if c.due <= now and c.missed_at is None and not c.paused]
    return sorted(missed, key=_clock_order)


def reminder_moments(
    calendar: Calendar, clock: OpenClock, policy: SchedulePolicy = DEFAULT_POLICY
) -> list[tuple[str, datetime]]:
    """(label, trigger moment in UTC) of every reminder the clock can get, by trigger.

    "due tomorrow" (clocks in `policy.day_ahead`): office opening of the last working day
    before D's local date; "due today": office opening of D's local date, when a working
    day; "due in N working hours": `subtract_working_hours(D, N)`. Triggers at or after D
    are dropped; of two at the same moment the later-listed one stays. `notices` sends at
    `now` (< D) only the latest trigger that has passed: after a downtime the older ones
    are skipped for good.
    """
    return [(label, trigger) for _, label, trigger in _triggers(calendar, clock, policy)]


def digest_sections(
    now: datetime, calendar: Calendar, items: Iterable[OpenClock]
) -> DigestSections:
    """Group digest items into overdue / due today / due next working day / later / paused."""
    today = _local_date(calendar, now)
    tomorrow = calendar.nth_working_day_after(today, 1)
    groups: dict[str, list[OpenClock]] = {k: [] for k in ("o", "d", "t", "l", "p")}
    for clock in sorted(items, key=_clock_order):
        day = _local_date(calendar, clock.due)
        if clock.paused:
            group = "p"
        elif clock.due <= now:
            group = "o"
        else:
            group = "d" if day <= today else "t" if day <= tomorrow else "l"
        groups[group].append(clock)
    return DigestSections(*(tuple(groups[k]) for k in ("o", "d", "t", "l", "p")))


# --- deadlines ------------------------------------------------------------------------------


def next_update_due(
    calendar: Calendar, last_mail_to_reporter: datetime, working_days: int
) -> Deadline:
    """The update clock: `working_days` working days after the last mail to the reporter."""
    return calendar.due_after(last_mail_to_reporter, working_days)


def resolve_deadline(received: datetime, days: int, tz: ZoneInfo) -> Deadline:
    """`days` calendar days after receipt at the same local wall-clock time, in UTC.

    DST-safe: the local time is kept across a clock change (a time that does not exist on
    the target day is read with the offset before the change, as zoneinfo does).
    """
    _check_aware(received, "received")
    if days < 0:
        raise SchedulerError(f"resolve days {days} must not be negative")
    local = received.astimezone(tz)
    target_day = local.date() + timedelta(days=days)
    due = datetime.combine(target_day, local.time(), tzinfo=tz).astimezone(UTC)
    text = (
        f"received {_day_text(local.date())} {local:%H:%M} + {days} calendar days"
        f" → due {_day_text(target_day)} {due.astimezone(tz):%H:%M}"
    )
    return Deadline(due=due, explanation=text)


# --- closure periods ------------------------------------------------------------------------


def closure_periods(calendar: Calendar, today: date) -> list[tuple[date, date]]:
    """Closure periods whose warning window contains the working day `today`.

    A closure period is a maximal run of consecutive non-working days that contains at
    least one weekday (Mon-Fri): a plain weekend is none; Sat-Sun-Mon with a holiday
    Monday is one, starting on the Saturday; Christmas with closure days bridging the
    working days is one run including the weekends inside and after it.

    Its warning day W is the second working day before the period's first day S, i.e.
    W, then the working day L = nth_working_day_after(W, 1), then S = L + 1 day. The
    warning window is W..L, so a warning missed on W (daemon down, nothing due yet) still
    goes out on L. Only the runs starting the day after `today` or after the next working
    day are examined: no fixed look-ahead is needed. Returns (first, last) closed day.
    """
    candidates = (today + _ONE_DAY, calendar.nth_working_day_after(today, 1) + _ONE_DAY)
    periods: list[tuple[date, date]] = []
    for start in dict.fromkeys(candidates):
        if calendar.is_working_day(start):
            continue
        last = start
        limit = start + timedelta(days=_MAX_PERIOD_DAYS)
        while last < limit and not calendar.is_working_day(last + _ONE_DAY):
            last += _ONE_DAY
        if any(day.weekday() < 5 for day in _days(start, last)):
            periods.append((start, last))
    return periods


def _closure_warnings(
    now: datetime, calendar: Calendar, clocks: Sequence[OpenClock], sent: Set[str]
) -> list[Notice]:
    """One warning per closure period in its window, when something falls due up to the
    end (cutoff) of the first working day after the period (none whose key is in `sent`)."""
    result: list[Notice] = []
    for first, last in closure_periods(calendar, _local_date(calendar, now)):
        key = _closure_key(first)
        if key in sent:
            continue
        reopens = last + _ONE_DAY
        horizon = _at(calendar, reopens, calendar.cutoff)
        items = tuple(
            sorted((c for c in clocks if not c.paused and c.due <= horizon), key=_clock_order)
        )
        if not items:
            continue
        closed = [
            f"{_day_text(day)} {reason}"
            for day in _days(first, last)
            if (reason := calendar.closed_reason(day)) not in (None, WEEKEND)
        ]
        label = (
            f"office closed {_day_text(first)} to {_day_text(last)}, reopens {_day_text(reopens)}"
        )
        explanation = "; ".join(closed)
        kind = "closure_warning"
        result.append(Notice(key, kind, "notify", None, None, horizon, explanation, label, items))
    return result


# --- internals ----------------------------------------------------------------------------


def _triggers(
    calendar: Calendar, clock: OpenClock, policy: SchedulePolicy
) -> list[tuple[str, str, datetime]]:
    """(code, label, trigger) by trigger; at most one per moment, all before the due."""
    if clock.paused or clock.name not in policy.remind:
        return []
    return list(_triggers_of(calendar, clock.name, clock.due, policy))


@lru_cache(maxsize=4096)
def _triggers_of(
    calendar: Calendar, name: str, due: datetime, policy: SchedulePolicy
) -> tuple[tuple[str, str, datetime], ...]:
    """The triggers of a clock `name` due at `due` (cached: many clocks share a due)."""
    clock_due = due
    due_day = _local_date(calendar, clock_due)
    found: list[tuple[str, str, datetime]] = []
    if name in policy.day_ahead:
        before = _previous_working_day(calendar, due_day)
        label = (
            "due tomorrow"
            if before + _ONE_DAY == due_day
            else "due next working day"
            if calendar.is_working_day(due_day)
            else "due before the next working day"
        )
        found.append(("tomorrow", label, _at(calendar, before, calendar.office_open)))
    if calendar.is_working_day(due_day):
        found.append(("today", "due today", _at(calendar, due_day, calendar.office_open)))
    hours = policy.hours_before
    unit = "working hour" if hours == 1 else "working hours"
    at = calendar.subtract_working_hours(clock_due, hours)
    found.append(("hours", f"due in {hours:g} {unit}", at))
    by_moment: dict[datetime, tuple[str, str, datetime]] = {}
    for entry in found:  # on a tie the later entry (the more precise one) wins
        if entry[2] < clock_due:
            by_moment[entry[2]] = entry
    return tuple(sorted(by_moment.values(), key=lambda entry: entry[2]))


def _reminder(
    now: datetime, calendar: Calendar, clock: OpenClock, policy: SchedulePolicy, sent: Set[str]
) -> list[Notice]:
    """The reminder of the latest trigger that has passed (none before the first one, none
    whose key is in `sent`)."""
    passed = [entry for entry in _triggers(calendar, clock, policy) if entry[2] <= now]
    if not passed:
        return []
    code, label, _ = passed[-1]
    if _key(clock, "reminder", code) in sent:
        return []
    return [_about(clock, "reminder", "notify", code, label)]


def _escalation(now: datetime, calendar: Calendar, clock: OpenClock) -> Notice:
    """Today's escalation of a missed clock ("missed", then "still missed (working day N)").

    Day 1 is the first working day whose office hours hold a moment >= D: D's local date
    when a working day and D is before the cutoff, else the next working day (that is
    exactly `Calendar.ontvangstdag(D)`). A deadline passing at night escalates at opening.
    """
    today = _local_date(calendar, now)
    number = _escalation_day(calendar, clock.due, today)
    label = "missed" if number == 1 else f"still missed (working day {number})"
    return _about(clock, "escalation", "escalate", today.isoformat(), label)


@lru_cache(maxsize=4096)
def _escalation_day(calendar: Calendar, due: datetime, today: date) -> int:
    """Which working day of being missed `today` is (1 on the first; cached per due)."""
    first = calendar.ontvangstdag(due)  # first working day with office time >= due
    return 1 + sum(1 for day in _days(first + _ONE_DAY, today) if calendar.is_working_day(day))


def _about(clock: OpenClock, kind: str, audience: str, suffix: str, label: str) -> Notice:
    """A notice about one clock (its only item), keyed by `_key`."""
    return Notice(
        _key(clock, kind, suffix),
        kind,
        audience,
        clock.case_id,
        clock.name,
        clock.due,
        clock.explanation,
        label,
        (clock,),
    )


def _key(clock: OpenClock, kind: str, suffix: str) -> str:
    """f"{kind}:{case}:{clock}:{due}:{suffix}" (see `escalation_affixes`)."""
    return f"{kind}:{clock.case_id}:{clock.name}:{clock.due.isoformat()}:{suffix}"


def _digest_key(calendar: Calendar, now: datetime) -> str:
    return f"digest:{_local_date(calendar, now).isoformat()}"


def _closure_key(first: date) -> str:
    return f"closure:{first.isoformat()}"


def _office_time(calendar: Calendar, day: date) -> timedelta:
    """The office time of a working day (cutoff minus opening, in real time)."""
    return _at(calendar, day, calendar.cutoff) - _at(calendar, day, calendar.office_open)


def _digest(now: datetime, calendar: Calendar, clocks: Sequence[OpenClock]) -> Notice:
    """Today's digest listing every open clock."""
    return Notice(
        key=_digest_key(calendar, now),
        kind="digest",
        audience="notify",
        case_id=None,
        clock=None,
        due=None,
        explanation="",
        label="daily digest",
        items=tuple(sorted(clocks, key=_clock_order)),
    )


def _unique_sorted(found: Iterable[Notice]) -> list[Notice]:
    """Drop repeated keys (first wins) and sort deterministically."""
    unique = {notice.key: notice for notice in reversed(list(found))}
    return sorted(
        unique.values(),
        key=lambda n: (_KIND_ORDER[n.kind], n.due or datetime.min.replace(tzinfo=UTC), n.key),
    )


def _clock_order(clock: OpenClock) -> tuple[datetime, str, int]:
    return clock.due, clock.case_id, CLOCKS.index(clock.name)


def _previous_working_day(calendar: Calendar, day: date) -> date:
    current = day - _ONE_DAY
    while not calendar.is_working_day(current):
        current -= _ONE_DAY
    return current


def _days(first: date, last: date) -> list[date]:
    """Every date from `first` to `last` inclusive (empty when last < first)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _local_date(calendar: Calendar, moment: datetime) -> date:
    _check_aware(moment, "moment")
    return moment.astimezone(calendar.timezone).date()


def _at(calendar: Calendar, day: date, wall: time) -> datetime:
    """The UTC moment of local wall-clock time `wall` on local date `day`."""
    return datetime.combine(day, wall, tzinfo=calendar.timezone).astimezone(UTC)


def _check_aware(moment: object, name: str) -> None:
    if not isinstance(moment, datetime):
        raise SchedulerError(f"{name}: expected a datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SchedulerError(f"{name}: naive datetime {moment.isoformat()!r}")


def _day_text(day: date) -> str:
    """'Thu 24 Dec 2026' (locale-independent)."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"

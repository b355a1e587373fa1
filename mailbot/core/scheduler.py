"""The scheduler's decision (DESIGN.md §5): which reminders, escalations, digests and
closure warnings go out at `now`. Pure: no clock, no I/O; the shell passes the open
clocks and the keys already sent, sends what comes back and records each key.

Nothing is returned outside office hours. A waiting case's `update_due` is paused (no
reminder, escalation, closure listing or `newly_missed`; the digest lists it as paused).
Reminders for a clock due at D: `reminder_moments`; the day's one escalation mail,
naming every missed clock: `escalations`; closure periods: `closures.closure_periods`;
deadlines: deadlines.py. Day arithmetic is on local dates, moments are UTC.

Only clocks due before `reminder_horizon` (about two working days ahead) can give a
notice now or change the answer soon: the calendar arithmetic is done for those only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from mailbot.core.closures import closure_key, closure_periods
from mailbot.core.escalations import day_key, escalation, escalation_affixes
from mailbot.core.local_days import (
    ONE_DAY,
    SchedulerError,
    check_aware,
    dates,
    day_text,
    local_date,
    moment_at,
    office_time,
)
from mailbot.core.models import ClockName
from mailbot.core.notice_types import CLOCKS, PAUSABLE, Missed, Notice, OpenClock
from mailbot.core.notice_types import clock_order as _clock_order
from mailbot.core.triggers import trigger_moments
from mailbot.core.workdays import WEEKEND, Calendar

_KIND_ORDER = {"escalation": 0, "reminder": 1, "closure_warning": 2, "digest": 3}

__all__ = [
    "CLOCKS",
    "DEFAULT_POLICY",
    "PAUSABLE",
    "DigestSections",
    "Missed",
    "Notice",
    "OpenClock",
    "SchedulePolicy",
    "daily_keys",
    "digest_sections",
    "escalation_affixes",
    "newly_missed",
    "next_change",
    "notices",
    "reminder_horizon",
    "reminder_moments",
]


@dataclass(frozen=True)
class SchedulePolicy:
    """When reminders go out (configurable; the defaults are DESIGN.md §5's)."""

    hours_before: float = 2.0
    day_ahead: frozenset[str] = frozenset({ClockName.RESPONSE_DUE})
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
    last_escalation: datetime | None = None,
) -> list[Notice]:
    """Everything that should go out at `now` and whose key is not in `sent`.

    Order: the day's escalation, reminders, closure warnings, digest; within a kind by
    due, case and clock. Keys are unique within the result. The escalation names every
    missed clock (`escalations`; `last_escalation`: when the previous one went out). The
    digest goes out when clocks are open, or with `digest_anyway` (the shell has more to
    list: unmatched bounces).
    """
    if not calendar.is_office_hours(now):
        return []
    horizon, _ = reminder_horizon(calendar, now, policy)
    found: list[Notice] = []
    missed: list[OpenClock] = []
    for clock in clocks:
        if clock.due >= horizon or clock.paused:  # nothing now (`reminder_horizon`)
            continue
        if now >= clock.due:
            missed.append(clock)
        else:
            found.extend(_reminder(now, calendar, clock, policy, sent))
    if missed and day_key(calendar, now) not in sent:
        day = escalation(now, calendar, missed, last_escalation)
        found.extend([day] if day is not None else [])
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
    check_aware(now, "now")
    if calendar.is_office_hours(now):
        edge = moment_at(calendar, local_date(calendar, now), calendar.cutoff)
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
    check_aware(moment, "moment")
    first = calendar.nth_working_day_after(local_date(calendar, moment), 1)
    last = first
    wanted = timedelta(hours=policy.hours_before)
    covered = office_time(calendar, first)
    while covered < wanted:
        last = calendar.nth_working_day_after(last, 1)
        covered += office_time(calendar, last)
    return moment_at(calendar, last + ONE_DAY, time(0)), moment_at(
        calendar, first, calendar.office_open
    )


def daily_keys(now: datetime, calendar: Calendar) -> list[str]:
    """The keys of the notices about no single clock that `notices` may send at `now`:
    today's digest and the closure warnings in their window (in office hours only)."""
    if not calendar.is_office_hours(now):
        return []
    periods = closure_periods(calendar, local_date(calendar, now))
    return [_digest_key(calendar, now), *(closure_key(first) for first, _ in periods)]


def newly_missed(now: datetime, clocks: Sequence[OpenClock]) -> list[OpenClock]:
    """Clocks due at or before `now`, not paused, not yet recorded missed (by due, case)."""
    check_aware(now, "now")
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
    today = local_date(calendar, now)
    tomorrow = calendar.nth_working_day_after(today, 1)
    groups: dict[str, list[OpenClock]] = {k: [] for k in ("o", "d", "t", "l", "p")}
    for clock in sorted(items, key=_clock_order):
        day = local_date(calendar, clock.due)
        if clock.paused:
            group = "p"
        elif clock.due <= now:
            group = "o"
        else:
            group = "d" if day <= today else "t" if day <= tomorrow else "l"
        groups[group].append(clock)
    return DigestSections(*(tuple(groups[k]) for k in ("o", "d", "t", "l", "p")))


# --- closure periods ------------------------------------------------------------------------


def _closure_warnings(
    now: datetime, calendar: Calendar, clocks: Sequence[OpenClock], sent: Set[str]
) -> list[Notice]:
    """One warning per closure period in its window, when something falls due up to the
    end (cutoff) of the first working day after the period (none whose key is in `sent`)."""
    result: list[Notice] = []
    for first, last in closure_periods(calendar, local_date(calendar, now)):
        key = closure_key(first)
        if key in sent:
            continue
        reopens = last + ONE_DAY
        horizon = moment_at(calendar, reopens, calendar.cutoff)
        items = tuple(
            sorted((c for c in clocks if not c.paused and c.due <= horizon), key=_clock_order)
        )
        if not items:
            continue
        closed = [
            f"{day_text(day, calendar.language)} {reason}"
            for day in dates(first, last)
            if (reason := calendar.closed_reason(day)) not in (None, WEEKEND)
        ]
        label = f"office closed {day_text(first)} to {day_text(last)}, reopens {day_text(reopens)}"
        explanation = "; ".join(closed)
        kind = "closure_warning"
        notice = Notice(key, kind, "notify", None, None, horizon, explanation, label, items)
        result.append(replace(notice, first_closed=first))
    return result


# --- internals ----------------------------------------------------------------------------


def _triggers(
    calendar: Calendar, clock: OpenClock, policy: SchedulePolicy
) -> list[tuple[str, str, datetime]]:
    """(code, label, trigger) by trigger; at most one per moment, all before the due."""
    if clock.paused or clock.name not in policy.remind:
        return []
    return list(trigger_moments(calendar, clock.name, clock.due, policy))


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


def _about(clock: OpenClock, kind: str, audience: str, suffix: str, label: str) -> Notice:
    """A notice about one clock (its only item), keyed by `_key`; `suffix` is its `when`."""
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
        when=suffix,
    )


def _key(clock: OpenClock, kind: str, suffix: str) -> str:
    """f"{kind}:{case}:{clock}:{due}:{suffix}" (see `escalation_affixes`)."""
    return f"{kind}:{clock.case_id}:{clock.name}:{clock.due.isoformat()}:{suffix}"


def _digest_key(calendar: Calendar, now: datetime) -> str:
    return f"digest:{local_date(calendar, now).isoformat()}"


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

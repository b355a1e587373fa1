"""The day's escalation (pure): one mail a working day to the escalate list, naming
every missed clock (DESIGN.md §5; issue 16).

It goes out at the first moment in office hours at which a clock is missed: the office
opening when one was missed before it (a working-day deadline falls at the cutoff, so
it is missed outside office hours), else the moment a deadline passes in office hours.
It names every clock missed then (not paused): first the newly missed ones, recorded
missed after the previous escalation mail went out (or not recorded yet), then the
still missed ones; each group by due, the oldest first.

A clock missed later that working day, after its mail went out, waits for the next
working day's mail, where it comes first as newly missed: at most one escalation mail
per recipient per working day. Only a deadline inside office hours can do that (in
practice a resolve date, 60 calendar days at the wall-clock time of receipt); the notify
list had its "due today" and "due in N working hours" reminders for it that day.

The mail has the key `day_key` (one per working day); each clock it names has its own
key `clock_key`, recorded with it, so the shell can leave those clocks out of the rest
of the day's reads (`escalation_affixes`) and the case's audit log shows the escalation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from mailbot.core.local_days import local_date
from mailbot.core.notice_types import Missed, Notice, OpenClock, clock_order
from mailbot.core.triggers import escalation_day
from mailbot.core.workdays import Calendar

PREFIX = "escalation:"


def day_key(calendar: Calendar, now: datetime) -> str:
    """The key of the escalation mail of `now`'s working day: "escalation:YYYY-MM-DD"."""
    return f"{PREFIX}{local_date(calendar, now).isoformat()}"


def escalation_affixes(now: datetime, calendar: Calendar) -> tuple[str, str]:
    """(prefix, suffix) of today's clock keys: prefix + "case:clock:due" + suffix, the due
    in UTC ISO form (a query can then find the clocks already escalated today)."""
    return PREFIX, f":{local_date(calendar, now).isoformat()}"


def clock_key(clock: OpenClock, today: date) -> str:
    """The key of one clock named in `today`'s escalation (see `escalation_affixes`)."""
    return f"{PREFIX}{clock.case_id}:{clock.name}:{clock.due.isoformat()}:{today.isoformat()}"


def missed_clocks(
    now: datetime,
    calendar: Calendar,
    clocks: Sequence[OpenClock],
    previous: datetime | None,
) -> tuple[Missed, ...]:
    """The clocks missed at `now` (due at or before it, not paused) in the order the mail
    names them; `previous` is when the last escalation mail before today went out."""
    today = local_date(calendar, now)
    found = [
        Missed(
            clock,
            escalation_day(calendar, clock.due, today),
            previous is None or clock.missed_at is None or clock.missed_at > previous,
            clock_key(clock, today),
        )
        for clock in clocks
        if clock.due <= now and not clock.paused
    ]
    return tuple(sorted(found, key=lambda m: (not m.new, *clock_order(m.clock))))


def escalation(
    now: datetime,
    calendar: Calendar,
    clocks: Sequence[OpenClock],
    previous: datetime | None,
) -> Notice | None:
    """Today's escalation naming every clock missed at `now`; None when there is none."""
    missed = missed_clocks(now, calendar, clocks, previous)
    if not missed:
        return None
    return Notice(
        key=day_key(calendar, now),
        kind="escalation",
        audience="escalate",
        case_id=None,
        clock=None,
        due=None,
        explanation="",
        label=f"{len(missed)} missed",
        items=tuple(m.clock for m in missed),
        when=local_date(calendar, now).isoformat(),
        missed=missed,
    )

"""When a clock due at D is reminded of (its trigger moments) and which working day of
being missed a day is; both cached, since many clocks share a due."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from mailbot.core.local_days import ONE_DAY, dates, local_date, moment_at, previous_working_day
from mailbot.core.workdays import Calendar

if TYPE_CHECKING:
    from mailbot.core.scheduler import SchedulePolicy


@lru_cache(maxsize=4096)
def trigger_moments(
    calendar: Calendar, name: str, due: datetime, policy: SchedulePolicy
) -> tuple[tuple[str, str, datetime], ...]:
    """The triggers of a clock `name` due at `due` (cached: many clocks share a due)."""
    clock_due = due
    due_day = local_date(calendar, clock_due)
    found: list[tuple[str, str, datetime]] = []
    if name in policy.day_ahead:
        before = previous_working_day(calendar, due_day)
        label = (
            "due tomorrow"
            if before + ONE_DAY == due_day
            else "due next working day"
            if calendar.is_working_day(due_day)
            else "due before the next working day"
        )
        found.append(("tomorrow", label, moment_at(calendar, before, calendar.office_open)))
    if calendar.is_working_day(due_day):
        found.append(("today", "due today", moment_at(calendar, due_day, calendar.office_open)))
    hours = policy.hours_before
    unit = "working hour" if hours == 1 else "working hours"
    at = calendar.subtract_working_hours(clock_due, hours)
    found.append(("hours", f"due in {hours:g} {unit}", at))
    by_moment: dict[datetime, tuple[str, str, datetime]] = {}
    for entry in found:  # on a tie the later entry (the more precise one) wins
        if entry[2] < clock_due:
            by_moment[entry[2]] = entry
    return tuple(sorted(by_moment.values(), key=lambda entry: entry[2]))


@lru_cache(maxsize=4096)
def escalation_day(calendar: Calendar, due: datetime, today: date) -> int:
    """Which working day of being missed `today` is (1 on the first; cached per due)."""
    first = calendar.ontvangstdag(due)  # first working day with office time >= due
    return 1 + sum(1 for day in dates(first + ONE_DAY, today) if calendar.is_working_day(day))

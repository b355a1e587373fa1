"""Local dates and wall-clock moments of the scheduler's calendar arithmetic: days are
local dates, moments aware UTC datetimes; a naive datetime is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from mailbot.core import wording
from mailbot.core.errors import MailbotError
from mailbot.core.workdays import Calendar

ONE_DAY = timedelta(days=1)  # only ever added to `date` objects


class SchedulerError(MailbotError, ValueError):
    """A scheduler input is unusable (naive datetime, unknown clock, negative count)."""


def dates(first: date, last: date) -> list[date]:
    """Every date from `first` to `last` inclusive (empty when last < first)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def local_date(calendar: Calendar, moment: datetime) -> date:
    check_aware(moment, "moment")
    return moment.astimezone(calendar.timezone).date()


def moment_at(calendar: Calendar, day: date, wall: time) -> datetime:
    """The UTC moment of local wall-clock time `wall` on local date `day`."""
    return datetime.combine(day, wall, tzinfo=calendar.timezone).astimezone(UTC)


def check_aware(moment: object, name: str) -> None:
    if not isinstance(moment, datetime):
        raise SchedulerError(f"{name}: expected a datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SchedulerError(f"{name}: naive datetime {moment.isoformat()!r}")


def day_text(day: date, language: str = "en") -> str:
    """'Thu 24 Dec 2026' / 'do 24 dec 2026' (CLDR names; pass `calendar.language` for
    text that staff read)."""
    return wording.day_text(day, language)


def previous_working_day(calendar: Calendar, day: date) -> date:
    current = day - ONE_DAY
    while not calendar.is_working_day(current):
        current -= ONE_DAY
    return current


def office_time(calendar: Calendar, day: date) -> timedelta:
    """The office time of a working day (cutoff minus opening, in real time)."""
    return moment_at(calendar, day, calendar.cutoff) - moment_at(
        calendar, day, calendar.office_open
    )

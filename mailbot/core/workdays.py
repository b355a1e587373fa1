"""Working days and deadlines (DESIGN.md §5). Pure: no clock, no I/O.

Day arithmetic happens on local calendar dates (zoneinfo); moments come in aware, in any
timezone, and go out in UTC. A deadline "within N working days" is the cutoff time on the
N-th working day after the ontvangstdag R (R itself not counted).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.core.errors import MailbotError
from mailbot.core.models import Deadline
from mailbot.core.wording import Phrase, day_text, language_of, say

DEFAULT_TIMEZONE = "Europe/Amsterdam"
DEFAULT_OFFICE_OPEN = time(8, 30)
DEFAULT_CUTOFF = time(17, 0)

#: Reasons `Calendar.closed_reason` gives besides a holiday's Dutch name.
WEEKEND = "weekend"
CLOSURE_DAY = "sluitingsdag"
#: Why R is the next working day although the receipt day was a working day.
AFTER_CUTOFF = Phrase("deadline.after_cutoff")

_HOLIDAY_CATEGORIES = ("public", "optional")
_ONE_DAY = timedelta(days=1)  # only ever added to `date` objects, never to datetimes


class CalendarError(MailbotError, ValueError):
    """A calendar input is unusable (naive datetime, negative count, bad settings)."""


@functools.lru_cache(maxsize=128)
def nl_holidays(year: int) -> Mapping[date, str]:
    """Dutch public + optional holidays of `year` (Bevrijdingsdag included), Dutch names."""
    import holidays  # noqa: PLC0415 - ~0.25 s with its tables: not before the daemon's READY

    found = holidays.country_holidays(
        "NL", years=year, categories=_HOLIDAY_CATEGORIES, language="nl"
    )
    return MappingProxyType({day: str(name) for day, name in found.items() if day.year == year})


@functools.lru_cache(maxsize=8192)
def _closed_reason(day: date, closure_days: frozenset[date]) -> str | None:
    """Why `day` is closed (cached: the scheduler asks for the same days very often)."""
    if day.weekday() >= 5:
        return WEEKEND
    name = nl_holidays(day.year).get(day)
    if name is not None:
        return name
    if day in closure_days:
        return CLOSURE_DAY
    return None


@dataclass(frozen=True)
class Calendar:
    """The municipality's working days, office hours and deadline rule.

    `language` is the language of the deadline explanations: the staff's, who read them
    in notices, digests and `case show` (`calendar_for` passes `[identity] language`;
    English when not given: the text earlier versions wrote).
    """

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    office_open: time = DEFAULT_OFFICE_OPEN
    cutoff: time = DEFAULT_CUTOFF
    closure_days: frozenset[date] = frozenset()
    language: str = "en"

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", language_of(self.language))
        for name, value in (("office_open", self.office_open), ("cutoff", self.cutoff)):
            if value.tzinfo is not None:
                raise CalendarError(f"{name} {value.isoformat()!r} must be a local time")
        if not self.office_open < self.cutoff:
            raise CalendarError(
                f"office_open {self.office_open:%H:%M} must be before cutoff {self.cutoff:%H:%M}"
            )
        for day in self.closure_days:
            _check_date(day)

    # --- days -------------------------------------------------------------------------

    def closed_reason(self, day: date) -> str | None:
        """Why `day` is not a working day ("weekend", holiday name, "sluitingsdag"), or None."""
        _check_date(day)
        return _closed_reason(day, self.closure_days)

    def is_working_day(self, day: date) -> bool:
        """True for Mon-Fri that is neither a holiday nor a closure day."""
        return self.closed_reason(day) is None

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The n-th working day after `day` (`day` itself not counted); n=0 gives `day`."""
        _check_date(day)
        if n < 0:
            raise CalendarError(f"working-day count {n} must not be negative")
        current = day
        for _ in range(n):
            current = self._next_working_day(current)
        return current

    def closed_days(self, year: int) -> list[tuple[date, str]]:
        """Every closed weekday of `year` (holidays and closure days) with its reason, sorted."""
        result: list[tuple[date, str]] = []
        day = date(year, 1, 1)
        while day.year == year:
            reason = self.closed_reason(day)
            if reason is not None and reason != WEEKEND:
                result.append((day, reason))
            day += _ONE_DAY
        return result

    # --- deadlines --------------------------------------------------------------------

    def ontvangstdag(self, received: datetime) -> date:
        """Day R: the local receipt date if a working day before the cutoff, else the next."""
        return self._start_day(self._local(received))[0]

    def due(self, received: datetime, working_days: int) -> Deadline:
        """Cutoff on the `working_days`-th working day after the ontvangstdag, in UTC."""
        return self._deadline(received, working_days, "received", "ontvangstdag")

    def due_after(self, moment: datetime, working_days: int) -> Deadline:
        """The same rule as `due`, counted from any moment (e.g. the last mail sent)."""
        return self._deadline(moment, working_days, "from", "start_day")

    def reason_text(self, reason: str) -> str:
        """A `closed_reason` (or AFTER_CUTOFF) in the calendar's language."""
        return reason.say(self.language) if isinstance(reason, Phrase) else reason

    # --- office hours -----------------------------------------------------------------

    def is_office_hours(self, moment: datetime) -> bool:
        """True on a working day with office_open <= local time < cutoff."""
        local = self._local(moment)
        return self.is_working_day(local.date()) and self.office_open <= local.time() < self.cutoff

    def next_office_opening(self, moment: datetime) -> datetime:
        """The next office opening at or after `moment`, in UTC."""
        local = self._local(moment)
        day = local.date()
        if self.is_working_day(day) and local.time() <= self.office_open:
            return self._at(day, self.office_open)
        return self._at(self._next_working_day(day), self.office_open)

    def subtract_working_hours(self, moment: datetime, hours: float) -> datetime:
        """The moment `hours` of office time before `moment`, in UTC.

        Office time is office_open..cutoff on working days. The result is the latest
        office moment at or before `moment` that leaves `hours` of office time up to it;
        with hours=0 outside office hours that is the previous cutoff.
        """
        if not math.isfinite(hours) or hours < 0:
            raise CalendarError(f"working hours {hours!r} must be a finite number >= 0")
        remaining = timedelta(hours=hours)
        limit = self._local(moment).astimezone(UTC)
        day = self._local(moment).date()
        while True:
            if self.is_working_day(day):
                start = self._at(day, self.office_open)
                end = min(self._at(day, self.cutoff), limit)
                if end >= start:
                    if remaining <= end - start:
                        return end - remaining
                    remaining -= end - start
            day -= _ONE_DAY

    # --- internals --------------------------------------------------------------------

    def _local(self, moment: datetime) -> datetime:
        if not isinstance(moment, datetime):
            raise CalendarError(f"expected a datetime, got {moment!r}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise CalendarError(f"naive datetime {moment.isoformat()!r}: a timezone is required")
        return moment.astimezone(self.timezone)

    def _at(self, day: date, wall: time) -> datetime:
        """The UTC moment of local wall-clock time `wall` on local date `day`."""
        return datetime.combine(day, wall, tzinfo=self.timezone).astimezone(UTC)

    def _next_working_day(self, day: date) -> date:
        current = day + _ONE_DAY
        while not self.is_working_day(current):
            current += _ONE_DAY
        return current

    def _start_day(self, local: datetime) -> tuple[date, tuple[str, ...]]:
        """Day R for a local receipt moment, with the reasons it moved (none if it did not)."""
        day = local.date()
        reason = self.closed_reason(day)
        if reason is None and local.time() < self.cutoff:
            return day, ()
        reasons = [reason or AFTER_CUTOFF]
        day += _ONE_DAY
        while (reason := self.closed_reason(day)) is not None:
            if reason != reasons[-1]:
                reasons.append(reason)
            day += _ONE_DAY
        return day, tuple(reasons)

    def _skipped(self, first: date, last: date) -> list[tuple[date, str]]:
        """Closed weekdays strictly between `first` and `last`."""
        result: list[tuple[date, str]] = []
        day = first + _ONE_DAY
        while day < last:
            reason = self.closed_reason(day)
            if reason is not None and reason != WEEKEND:
                result.append((day, reason))
            day += _ONE_DAY
        return result

    def _deadline(self, moment: datetime, working_days: int, verb: str, label: str) -> Deadline:
        """The deadline with its explanation in the calendar's language, e.g. "received Fri
        23 Apr 2027 19:45 → ontvangstdag Mon 26 Apr (after cutoff, weekend); Tue 27 Apr
        closed (Koningsdag) → due Wed 28 Apr 17:00" (the year only where it changes)."""
        lang = self.language
        local = self._local(moment)
        start, moved = self._start_day(local)
        end = self.nth_working_day_after(start, working_days)
        year = local.year

        def day(d: date) -> str:
            return day_text(d, lang, d.year != year)

        head = say(
            f"deadline.{verb}", lang, day=day_text(local.date(), lang), time=f"{local:%H:%M}"
        )
        start_text = say(f"deadline.{label}", lang, day=day(start))
        if moved:
            start_text += f" ({', '.join(self.reason_text(r) for r in moved)})"
        skipped = [
            say("deadline.closed", lang, day=day(d), why=self.reason_text(why))
            for d, why in self._skipped(start, end)
        ]
        if skipped:
            start_text += "; " + ", ".join(skipped)
        tail = say("deadline.due", lang, day=day(end), time=f"{self.cutoff:%H:%M}")
        return Deadline(
            due=self._at(end, self.cutoff), explanation=f"{head} → {start_text} → {tail}"
        )


def make_calendar(
    timezone: str = DEFAULT_TIMEZONE,
    office_open: time = DEFAULT_OFFICE_OPEN,
    cutoff: time = DEFAULT_CUTOFF,
    closure_days: Iterable[date] = (),
    language: str = "en",
) -> Calendar:
    """Build a `Calendar` (explanations in `language`); raises CalendarError naming a bad
    timezone, time or day."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise CalendarError(f"unknown timezone {timezone!r}") from exc
    return Calendar(
        timezone=zone,
        office_open=office_open,
        cutoff=cutoff,
        closure_days=frozenset(closure_days),
        language=language,
    )


def _check_date(day: object) -> None:
    """Reject datetimes (a date of a UTC moment is a classic off-by-one-day bug)."""
    if isinstance(day, datetime):
        raise CalendarError(f"expected a calendar date, got datetime {day.isoformat()!r}")
    if not isinstance(day, date):
        raise CalendarError(f"expected a calendar date, got {day!r}")

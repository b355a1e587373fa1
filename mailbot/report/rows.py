"""The input of the monthly report: the month, and the rows it reads (`Store.report_rows`).

Rows carry aware datetimes as stored (UTC); `mailbot.report.build_report` cuts them by the
local date of the calendar, so `read_rows` fetches a window widened by two days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mailbot.core.errors import UserError
from mailbot.core.workdays import Calendar
from mailbot.store import Store
from mailbot.store.rows import CaseRow, ClockRow, EventRow, MessageRow, Rows

#: The row types are the store's (`mailbot.store.rows`); the report reads them from here.
__all__ = [
    "CaseRow",
    "ClockRow",
    "EventRow",
    "MessageRow",
    "Month",
    "ReportError",
    "Rows",
    "parse_month",
    "read_rows",
]

MONTH_NAMES = (
    *("January", "February", "March", "April", "May", "June", "July"),
    *("August", "September", "October", "November", "December"),
)
_ONE_DAY = timedelta(days=1)  # only ever added to dates
_WIDEN = timedelta(days=2)  # stored moments are compared as text; the exact cut is local


class ReportError(UserError, ValueError):
    """A month that cannot be reported (malformed, or not begun yet)."""


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> date:
        """Its first day."""
        return date(self.year, self.month, 1)

    @property
    def next_first(self) -> date:
        """The first day of the month after."""
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last(self) -> date:
        """Its last day."""
        return self.next_first - _ONE_DAY

    @property
    def title(self) -> str:
        """'December 2026'."""
        return f"{MONTH_NAMES[self.month - 1]} {self.year}"


def parse_month(text: str) -> Month:
    """'2026-12' → Month; ReportError naming the text otherwise."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not found or not 1 <= int(found[2]) <= 12 or not 1970 <= int(found[1]) <= 9998:
        raise ReportError(f"bad month {text!r}: expected YYYY-MM, e.g. 2026-12")
    return Month(int(found[1]), int(found[2]))


def read_rows(store: Store, month: Month, calendar: Calendar) -> Rows:
    """The rows of `month` from the store (widened by two days; `build_report` cuts)."""
    tz = calendar.timezone
    since = datetime.combine(month.first, time(0), tzinfo=tz).astimezone(UTC) - _WIDEN
    until = datetime.combine(month.next_first, time(0), tzinfo=tz).astimezone(UTC) + _WIDEN
    return store.report_rows(since, until)

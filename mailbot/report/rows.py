"""The input of the monthly report: the month, and the rows it reads (`Store.report_rows`).

Rows carry aware datetimes as stored (UTC); `mailbot.report.figures.build_report` cuts
them by the local date of the calendar, so `read_rows` fetches a window widened by two
days. The window reaches back over the trend's months (`TREND_MONTHS`, this one included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mailbot.core.errors import UserError
from mailbot.core.workdays import Calendar
from mailbot.store import Store
from mailbot.store.figures import ReportCaseRow, ReportRows
from mailbot.store.rows import ClockRow, EventRow, MessageRow

#: The row types are the store's (`mailbot.store.rows`, `mailbot.store.figures`); the
#: report reads them from here: a case row with its severity, the rows with the moment
#: intake began.
CaseRow = ReportCaseRow
Rows = ReportRows

__all__ = [
    "TREND_MONTHS",
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

TREND_MONTHS = 12
"""The months side by side in the trend, the report's own month the last of them."""
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

    def shifted(self, months: int) -> Month:
        """The month `months` later (earlier when negative)."""
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def start(self, calendar: Calendar) -> datetime:
        """The moment it begins (local midnight of its first day), in UTC."""
        return datetime.combine(self.first, time(0), tzinfo=calendar.timezone).astimezone(UTC)

    def end(self, calendar: Calendar) -> datetime:
        """The moment it ends (local midnight of the next month's first day), in UTC."""
        return self.shifted(1).start(calendar)

    @classmethod
    def of(cls, day: date) -> Month:
        """The month of a date."""
        return cls(day.year, day.month)


def parse_month(text: str) -> Month:
    """'2026-12' → Month; ReportError naming the text otherwise."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not found or not 1 <= int(found[2]) <= 12 or not 1970 <= int(found[1]) <= 9998:
        raise ReportError(f"bad month {text!r}: expected YYYY-MM, e.g. 2026-12")
    return Month(int(found[1]), int(found[2]))


def read_rows(store: Store, month: Month, calendar: Calendar) -> Rows:
    """The rows of `month` and the trend's months before it (widened by two days;
    `build_report` cuts)."""
    since = month.shifted(1 - TREND_MONTHS).start(calendar) - _WIDEN
    return store.report_rows(since, month.end(calendar) + _WIDEN)

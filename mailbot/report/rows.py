"""The input of the monthly report: the month, the rows it reads, and the one Store read.

Rows carry aware datetimes as stored (UTC); `mailbot.report.build_report` cuts them by the
local date of the calendar, so `read_rows` fetches a window widened by two days.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mailbot.core.errors import UserError
from mailbot.core.workdays import Calendar
from mailbot.store import Store

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


# --- input rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    """What the report needs of one case."""

    id: str
    subject: str
    state: str
    received_at: datetime
    acknowledged_at: datetime | None = None
    source: str = "direct"
    flags: tuple[str, ...] = ()
    reward: str = "undecided"
    waiting: bool = False


@dataclass(frozen=True)
class MessageRow:
    """One inbound message."""

    received_at: datetime
    disposition: str


@dataclass(frozen=True)
class ClockRow:
    """One clock of a case (DESIGN.md §5)."""

    case_id: str
    name: str
    due: datetime
    met_at: datetime | None = None
    missed_at: datetime | None = None
    done_at: datetime | None = None


@dataclass(frozen=True)
class EventRow:
    """An audit event (`clock_late`, `reward_changed`)."""

    case_id: str | None
    at: datetime
    kind: str
    detail: str


@dataclass(frozen=True)
class Rows:
    """Everything `build_report` reads (a superset; it filters by local date)."""

    cases: tuple[CaseRow, ...] = ()
    messages: tuple[MessageRow, ...] = ()
    clocks: tuple[ClockRow, ...] = ()
    events: tuple[EventRow, ...] = ()


def read_rows(store: Store, month: Month, calendar: Calendar) -> Rows:
    """The rows of `month` from the store (widened by two days; `build_report` cuts)."""
    tz = calendar.timezone
    since = datetime.combine(month.first, time(0), tzinfo=tz).astimezone(UTC) - _WIDEN
    until = datetime.combine(month.next_first, time(0), tzinfo=tz).astimezone(UTC) + _WIDEN
    raw = store.report_rows(since, until)
    return Rows(
        cases=tuple(
            CaseRow(
                id=r["id"],
                subject=r["subject"],
                state=r["state"],
                received_at=_moment(r["received_at"]),
                acknowledged_at=_maybe(r["acknowledged_at"]),
                source=r["source"],
                flags=tuple(json.loads(r["flags"])),
                reward=r["reward"],
                waiting=bool(r["waiting"]),
            )
            for r in raw["cases"]
        ),
        messages=tuple(
            MessageRow(_moment(r["received_at"]), r["disposition"]) for r in raw["messages"]
        ),
        clocks=tuple(
            ClockRow(
                case_id=r["case_id"],
                name=r["name"],
                due=_moment(r["due"]),
                met_at=_maybe(r["met_at"]),
                missed_at=_maybe(r["missed_at"]),
                done_at=_maybe(r["done_at"]),
            )
            for r in raw["clocks"]
        ),
        events=tuple(
            EventRow(r["case_id"], _moment(r["at"]), r["kind"], r["detail"]) for r in raw["events"]
        ),
    )


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _maybe(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

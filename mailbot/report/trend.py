"""The trend of the monthly report (pure): the last `TREND_MONTHS` months side by side.

Per month, each judged as its own report judges it (as of its end, or now in the running
month): reports received (cases by local date of receipt), promises kept (kept / (kept +
missed) of the clocks falling due in it), and the median working days from receipt to
the substantive response of its cases. A month is *partial* while it runs, and in the
month intake began (the first message on record came after its first day); months that
ended before that hold *no data*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbot.core.workdays import Calendar
from mailbot.report.measures import Index, MonthSlice, kept_share, month_slice, response_days
from mailbot.report.rows import TREND_MONTHS, Month


@dataclass(frozen=True)
class TrendMonth:
    """One month of the trend."""

    month: Month
    received: int
    kept: int
    missed: int
    response_days: float | None
    """Median working days to the substantive response (None: nobody answered)."""
    partial: bool = False
    no_data: bool = False

    @property
    def share(self) -> float | None:
        """Promises kept: kept / (kept + missed), None when nothing was decided."""
        return kept_share(self.kept, self.missed)


def intake_began(index: Index) -> datetime | None:
    """The receipt of the first message on record (else of the earliest row received)."""
    rows = index.rows
    if rows.first_received is not None:
        return rows.first_received
    moments = [m.received_at for m in rows.messages] + [c.received_at for c in rows.cases]
    return min(moments, default=None)


def trend(
    index: Index, this: MonthSlice, calendar: Calendar, now: datetime, months: int = TREND_MONTHS
) -> tuple[TrendMonth, ...]:
    """The `months` months up to `this` one, oldest first."""
    began = intake_began(index)
    start = None if began is None else began.astimezone(calendar.timezone).date()
    found = []
    for back in range(months - 1, -1, -1):
        month = this.month.shifted(-back)
        part = this if back == 0 else month_slice(index, month, calendar, now)
        no_data = start is None or start > month.last
        kept = sum(1 for _, v in part.verdicts if v == "kept")
        missed = sum(1 for _, v in part.verdicts if v == "missed")
        found.append(
            TrendMonth(
                month=month,
                received=len(part.cohort),
                kept=kept,
                missed=missed,
                response_days=response_days(index, part.cohort, calendar).median,
                partial=not no_data
                and (part.running or (start is not None and start > month.first)),
                no_data=no_data,
            )
        )
    return tuple(found)

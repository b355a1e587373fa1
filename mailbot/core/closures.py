"""Closure periods: runs of closed days (holidays, closure days, with their weekends) that
staff are warned of in advance, and the key of each warning."""

from __future__ import annotations

from datetime import date, timedelta

from mailbot.core.local_days import ONE_DAY, dates
from mailbot.core.workdays import Calendar

MAX_PERIOD_DAYS = 400  # a longer closure run is cut off (a year closed is a config bug)


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
    candidates = (today + ONE_DAY, calendar.nth_working_day_after(today, 1) + ONE_DAY)
    periods: list[tuple[date, date]] = []
    for start in dict.fromkeys(candidates):
        if calendar.is_working_day(start):
            continue
        last = start
        limit = start + timedelta(days=MAX_PERIOD_DAYS)
        while last < limit and not calendar.is_working_day(last + ONE_DAY):
            last += ONE_DAY
        if any(day.weekday() < 5 for day in dates(start, last)):
            periods.append((start, last))
    return periods


def closure_key(first: date) -> str:
    return f"closure:{first.isoformat()}"

"""Tests of the working-day calendar (DESIGN.md §5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.errors import MailbotError
from mailbot.core.workdays import Calendar, CalendarError, make_calendar, nl_holidays

AMS = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
CAL = make_calendar()


def ams(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A local Amsterdam moment."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC moment."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- the examples of DESIGN.md §5 -------------------------------------------------------


def test_example_december_2026_christmas() -> None:
    """Mon 21 Dec 2026 10:00: ack Tue 22 Dec, response Tue 29 Dec (25 Dec closed, 26 Dec Sat)."""
    received = ams(2026, 12, 21, 10)
    assert CAL.ontvangstdag(received) == date(2026, 12, 21)
    assert CAL.due(received, 1).due == utc(2026, 12, 22, 16)
    response = CAL.due(received, 5)
    assert response.due == utc(2026, 12, 29, 16)
    assert response.explanation == (
        "received Mon 21 Dec 2026 10:00 → ontvangstdag Mon 21 Dec; "
        "Fri 25 Dec closed (Eerste kerstdag) → due Tue 29 Dec 17:00"
    )
    assert CAL.closed_reason(date(2026, 12, 25)) == "Eerste kerstdag"
    assert CAL.closed_reason(date(2026, 12, 26)) == "weekend"


def test_example_april_2027_koningsdag() -> None:
    """Fri 23 Apr 2027 19:45: ack Wed 28 Apr 17:00, response Tue 4 May 17:00."""
    received = ams(2027, 4, 23, 19, 45)
    assert CAL.ontvangstdag(received) == date(2027, 4, 26)
    ack = CAL.due(received, 1)
    assert ack.due == utc(2027, 4, 28, 15)
    assert ack.explanation == (
        "received Fri 23 Apr 2027 19:45 → ontvangstdag Mon 26 Apr (after cutoff, weekend); "
        "Tue 27 Apr closed (Koningsdag) → due Wed 28 Apr 17:00"
    )
    response = CAL.due(received, 5)
    assert response.due == utc(2027, 5, 4, 15)
    assert response.explanation == (
        "received Fri 23 Apr 2027 19:45 → ontvangstdag Mon 26 Apr (after cutoff, weekend); "
        "Tue 27 Apr closed (Koningsdag) → due Tue 4 May 17:00"
    )


def test_example_received_on_koningsdag() -> None:
    """Tue 27 Apr 2027 09:00 (Koningsdag): ontvangstdag Wed 28 Apr, ack Thu 29 Apr 17:00."""
    ack = CAL.due(ams(2027, 4, 27, 9), 1)
    assert ack.due == utc(2027, 4, 29, 15)
    assert ack.explanation == (
        "received Tue 27 Apr 2027 09:00 → ontvangstdag Wed 28 Apr (Koningsdag) "
        "→ due Thu 29 Apr 17:00"
    )


def test_example_easter_2027_across_dst() -> None:
    """Thu 25 Mar 2027 18:00 CET: Goede vrijdag, weekend, Tweede paasdag → R Tue 30 Mar."""
    received = ams(2027, 3, 25, 18)
    assert CAL.closed_reason(date(2027, 3, 26)) == "Goede vrijdag"
    assert CAL.closed_reason(date(2027, 3, 29)) == "Tweede paasdag"
    assert CAL.ontvangstdag(received) == date(2027, 3, 30)
    ack = CAL.due(received, 1)
    assert ack.due == utc(2027, 3, 31, 15)
    assert ack.due.astimezone(AMS) == ams(2027, 3, 31, 17)
    assert ack.explanation == (
        "received Thu 25 Mar 2027 18:00 → ontvangstdag Tue 30 Mar "
        "(after cutoff, Goede vrijdag, weekend, Tweede paasdag) → due Wed 31 Mar 17:00"
    )


def test_example_friday_evening_utc_input() -> None:
    """2026-07-03T15:30Z (Fri 17:30 CEST) → ontvangstdag Mon 6 Jul."""
    received = utc(2026, 7, 3, 15, 30)
    assert CAL.ontvangstdag(received) == date(2026, 7, 6)
    assert CAL.due(received, 1).explanation == (
        "received Fri 3 Jul 2026 17:30 → ontvangstdag Mon 6 Jul (after cutoff, weekend) "
        "→ due Tue 7 Jul 17:00"
    )


# --- the pinned holiday table -----------------------------------------------------------

CLOSED_WEEKDAYS_2026_2030 = {
    2026: [
        (date(2026, 1, 1), "Nieuwjaarsdag"),
        (date(2026, 4, 3), "Goede vrijdag"),
        (date(2026, 4, 6), "Tweede paasdag"),
        (date(2026, 4, 27), "Koningsdag"),
        (date(2026, 5, 5), "Bevrijdingsdag"),
        (date(2026, 5, 14), "Hemelvaartsdag"),
        (date(2026, 5, 25), "Tweede pinksterdag"),
        (date(2026, 12, 25), "Eerste kerstdag"),
    ],
    2027: [
        (date(2027, 1, 1), "Nieuwjaarsdag"),
        (date(2027, 3, 26), "Goede vrijdag"),
        (date(2027, 3, 29), "Tweede paasdag"),
        (date(2027, 4, 27), "Koningsdag"),
        (date(2027, 5, 5), "Bevrijdingsdag"),
        (date(2027, 5, 6), "Hemelvaartsdag"),
        (date(2027, 5, 17), "Tweede pinksterdag"),
    ],
    2028: [
        (date(2028, 4, 14), "Goede vrijdag"),
        (date(2028, 4, 17), "Tweede paasdag"),
        (date(2028, 4, 27), "Koningsdag"),
        (date(2028, 5, 5), "Bevrijdingsdag"),
        (date(2028, 5, 25), "Hemelvaartsdag"),
        (date(2028, 6, 5), "Tweede pinksterdag"),
        (date(2028, 12, 25), "Eerste kerstdag"),
        (date(2028, 12, 26), "Tweede kerstdag"),
    ],
    2029: [
        (date(2029, 1, 1), "Nieuwjaarsdag"),
        (date(2029, 3, 30), "Goede vrijdag"),
        (date(2029, 4, 2), "Tweede paasdag"),
        (date(2029, 4, 27), "Koningsdag"),
        (date(2029, 5, 10), "Hemelvaartsdag"),
        (date(2029, 5, 21), "Tweede pinksterdag"),
        (date(2029, 12, 25), "Eerste kerstdag"),
        (date(2029, 12, 26), "Tweede kerstdag"),
    ],
    2030: [
        (date(2030, 1, 1), "Nieuwjaarsdag"),
        (date(2030, 4, 19), "Goede vrijdag"),
        (date(2030, 4, 22), "Tweede paasdag"),
        (date(2030, 5, 30), "Hemelvaartsdag"),
        (date(2030, 6, 10), "Tweede pinksterdag"),
        (date(2030, 12, 25), "Eerste kerstdag"),
        (date(2030, 12, 26), "Tweede kerstdag"),
    ],
}


@pytest.mark.parametrize("year", sorted(CLOSED_WEEKDAYS_2026_2030))
def test_closed_weekdays_are_pinned(year: int) -> None:
    """The closed weekdays of 2026-2030 are exactly the pinned table (holidays==0.108)."""
    assert CAL.closed_days(year) == CLOSED_WEEKDAYS_2026_2030[year]


def test_bevrijdingsdag_every_year() -> None:
    """5 May is Bevrijdingsdag in every year, not only every fifth (category optional)."""
    for year in range(2024, 2041):
        assert nl_holidays(year).get(date(year, 5, 5)) == "Bevrijdingsdag"


def test_holiday_names_are_dutch_whatever_the_locale() -> None:
    """Names come in Dutch regardless of LANG (the package would fall back to English)."""
    assert nl_holidays(2027)[date(2027, 4, 27)] == "Koningsdag"
    assert nl_holidays(2027)[date(2027, 5, 16)] == "Eerste pinksterdag"


# --- closure days -----------------------------------------------------------------------


def test_closure_days_move_deadlines() -> None:
    """A configured closure day is skipped, named "sluitingsdag", and listed in closed_days."""
    closed = make_calendar(closure_days=[date(2026, 12, 24), date(2026, 12, 28)])
    received = ams(2026, 12, 21, 10)
    response = closed.due(received, 5)
    assert response.due == utc(2026, 12, 31, 16)
    assert response.explanation == (
        "received Mon 21 Dec 2026 10:00 → ontvangstdag Mon 21 Dec; "
        "Thu 24 Dec closed (sluitingsdag), Fri 25 Dec closed (Eerste kerstdag), "
        "Mon 28 Dec closed (sluitingsdag) → due Thu 31 Dec 17:00"
    )
    assert closed.closed_days(2026)[-3:] == [
        (date(2026, 12, 24), "sluitingsdag"),
        (date(2026, 12, 25), "Eerste kerstdag"),
        (date(2026, 12, 28), "sluitingsdag"),
    ]


def test_received_on_closure_day_moves_ontvangstdag() -> None:
    """Receipt on a closure day morning: R is the next working day, reason sluitingsdag."""
    closed = make_calendar(closure_days=[date(2026, 12, 24)])
    ack = closed.due(ams(2026, 12, 24, 9), 1)
    assert closed.ontvangstdag(ams(2026, 12, 24, 9)) == date(2026, 12, 28)
    assert ack.explanation == (
        "received Thu 24 Dec 2026 09:00 → ontvangstdag Mon 28 Dec "
        "(sluitingsdag, Eerste kerstdag, weekend) → due Tue 29 Dec 17:00"
    )


def test_closure_day_on_holiday_keeps_holiday_name() -> None:
    """A closure day that is also a holiday is reported by the holiday's name."""
    closed = make_calendar(closure_days=[date(2027, 4, 27)])
    assert closed.closed_reason(date(2027, 4, 27)) == "Koningsdag"


# --- DST and time zones -----------------------------------------------------------------


def test_cutoff_in_utc_follows_dst() -> None:
    """Cutoff is 16:00Z in winter and 15:00Z after the spring-forward Sunday."""
    before = CAL.due(ams(2026, 3, 27, 10), 0)
    after = CAL.due(ams(2026, 3, 27, 10), 1)
    assert before.due == utc(2026, 3, 27, 16)
    assert after.due == utc(2026, 3, 30, 15)
    autumn = CAL.due(ams(2026, 10, 23, 10), 1)
    assert autumn.due == utc(2026, 10, 26, 16)


def test_ambiguous_autumn_hour_both_folds() -> None:
    """Both 02:30 of the autumn change (a Sunday) give R Monday and the same deadline."""
    first = datetime(2026, 10, 25, 2, 30, tzinfo=AMS, fold=0)
    second = datetime(2026, 10, 25, 2, 30, tzinfo=AMS, fold=1)
    assert first.astimezone(UTC) != second.astimezone(UTC)
    assert CAL.due(first, 1) == CAL.due(second, 1)
    assert CAL.ontvangstdag(first) == date(2026, 10, 26)


def test_other_timezone_input_uses_amsterdam_date() -> None:
    """Thu 23:30 in New York is Fri 05:30 in Amsterdam, so R is that Friday."""
    received = datetime(2026, 7, 2, 23, 30, tzinfo=NEW_YORK)
    assert CAL.ontvangstdag(received) == date(2026, 7, 3)
    evening_utc = utc(2026, 7, 2, 22, 30)  # Fri 00:30 CEST, but Thu as a UTC date
    assert CAL.ontvangstdag(evening_utc) == date(2026, 7, 3)


def test_exactly_at_cutoff_counts_as_after() -> None:
    """A receipt at 17:00:00 exactly moves R; 16:59:59 does not."""
    assert CAL.ontvangstdag(ams(2026, 7, 1, 17)) == date(2026, 7, 2)
    just_before = ams(2026, 7, 1, 16, 59) + timedelta(seconds=59)
    assert CAL.ontvangstdag(just_before) == date(2026, 7, 1)


def test_due_after_counts_from_any_moment() -> None:
    """due_after applies the same rule with its own wording (update clock)."""
    update = CAL.due_after(ams(2027, 4, 23, 19, 45), 10)
    assert update.due == utc(2027, 5, 13, 15)
    assert update.explanation == (
        "from Fri 23 Apr 2027 19:45 → start day Mon 26 Apr (after cutoff, weekend); "
        "Tue 27 Apr closed (Koningsdag), Wed 5 May closed (Bevrijdingsdag), "
        "Thu 6 May closed (Hemelvaartsdag) → due Thu 13 May 17:00"
    )


def test_explanation_names_year_when_it_changes() -> None:
    """A deadline in the next year carries its year in the explanation."""
    deadline = CAL.due(ams(2027, 12, 30, 18), 5)
    assert deadline.due == utc(2028, 1, 7, 16)
    assert deadline.explanation == (
        "received Thu 30 Dec 2027 18:00 → ontvangstdag Fri 31 Dec (after cutoff) "
        "→ due Fri 7 Jan 2028 17:00"
    )


# --- office hours -----------------------------------------------------------------------


def test_is_office_hours_bounds() -> None:
    """Open from 08:30 inclusive to 17:00 exclusive on working days only."""
    assert CAL.is_office_hours(ams(2026, 7, 1, 8, 30))
    assert CAL.is_office_hours(ams(2026, 7, 1, 16, 59))
    assert not CAL.is_office_hours(ams(2026, 7, 1, 17))
    assert not CAL.is_office_hours(ams(2026, 7, 1, 8, 29))
    assert not CAL.is_office_hours(ams(2026, 7, 4, 10))
    assert not CAL.is_office_hours(ams(2027, 4, 27, 10))


def test_next_office_opening() -> None:
    """Opening now if exactly at 08:30, else the next working day's 08:30 (UTC)."""
    assert CAL.next_office_opening(ams(2026, 7, 1, 8, 30)) == utc(2026, 7, 1, 6, 30)
    assert CAL.next_office_opening(ams(2026, 7, 1, 7)) == utc(2026, 7, 1, 6, 30)
    assert CAL.next_office_opening(ams(2026, 7, 1, 8, 31)) == utc(2026, 7, 2, 6, 30)
    assert CAL.next_office_opening(ams(2027, 4, 23, 19)) == utc(2027, 4, 26, 6, 30)
    assert CAL.next_office_opening(ams(2027, 3, 25, 18)) == utc(2027, 3, 30, 6, 30)


def test_subtract_working_hours_examples() -> None:
    """Going back skips nights, weekends and holidays; works across DST."""
    due = utc(2027, 4, 28, 15)  # Wed 28 Apr 17:00 CEST, Tue 27 Apr is Koningsdag
    assert CAL.subtract_working_hours(due, 3) == utc(2027, 4, 28, 12)
    assert CAL.subtract_working_hours(due, 10) == utc(2027, 4, 26, 13, 30)
    assert CAL.subtract_working_hours(due, 0) == due
    monday = utc(2026, 3, 30, 7, 30)  # Mon 09:30 CEST, after spring-forward
    assert CAL.subtract_working_hours(monday, 2) == utc(2026, 3, 27, 15)  # Fri 16:00 CET
    saturday = ams(2026, 7, 4, 12)
    assert CAL.subtract_working_hours(saturday, 0) == utc(2026, 7, 3, 15)


# --- errors -----------------------------------------------------------------------------


def test_naive_datetime_rejected_with_value() -> None:
    """Naive datetimes raise a ValueError (and MailbotError) naming the value."""
    naive = datetime(2026, 7, 1, 10, 0)
    for call in (
        lambda: CAL.ontvangstdag(naive),
        lambda: CAL.due(naive, 1),
        lambda: CAL.due_after(naive, 1),
        lambda: CAL.is_office_hours(naive),
        lambda: CAL.next_office_opening(naive),
        lambda: CAL.subtract_working_hours(naive, 1),
    ):
        with pytest.raises(ValueError, match="2026-07-01T10:00:00") as caught:
            call()
        assert isinstance(caught.value, MailbotError)


def test_bad_settings_rejected() -> None:
    """Unknown timezone, open after cutoff, datetimes as days and negative counts raise."""
    with pytest.raises(CalendarError, match="Mars/Olympus"):
        make_calendar(timezone="Mars/Olympus")
    with pytest.raises(CalendarError, match="17:00"):
        make_calendar(office_open=time(17, 0), cutoff=time(17, 0))
    with pytest.raises(CalendarError, match="2026"):
        make_calendar(closure_days=[datetime(2026, 12, 24, tzinfo=UTC)])
    with pytest.raises(CalendarError, match="-1"):
        CAL.nth_working_day_after(date(2026, 7, 1), -1)
    with pytest.raises(CalendarError, match="-2"):
        CAL.subtract_working_hours(utc(2026, 7, 1, 10), -2)
    with pytest.raises(CalendarError, match="2026-07-01"):
        CAL.is_working_day(utc(2026, 7, 1, 10))


def test_default_calendar_equals_make_calendar() -> None:
    """Calendar() has the documented defaults (Amsterdam, 08:30, 17:00, no closure days)."""
    assert Calendar() == CAL
    assert (CAL.timezone.key, CAL.office_open, CAL.cutoff) == (
        "Europe/Amsterdam",
        time(8, 30),
        time(17, 0),
    )


# --- properties -------------------------------------------------------------------------

ZONES = st.sampled_from([UTC, AMS, NEW_YORK, TOKYO])
MOMENTS = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=ZONES,
    allow_imaginary=False,
)
CLOSURES = st.frozensets(
    st.dates(min_value=date(2026, 1, 1), max_value=date(2031, 3, 31)), max_size=30
)
COUNTS = st.integers(min_value=0, max_value=15)
PROPS = settings(max_examples=150, deadline=None)


def _dst_days() -> list[date]:
    """The Amsterdam DST change days of 2026-2030 (last Sundays of March and October)."""
    days = []
    for year in range(2026, 2031):
        for month in (3, 10):
            last = date(year, month, 31)
            days.append(last - timedelta(days=(last.weekday() + 1) % 7))
    return days


@PROPS
@given(moment=MOMENTS, n=COUNTS, closures=CLOSURES)
def test_deadline_is_a_working_day_at_cutoff(
    moment: datetime, n: int, closures: frozenset[date]
) -> None:
    """Every deadline is the local cutoff on a working day, n working days after R, in UTC."""
    cal = make_calendar(closure_days=closures)
    deadline = cal.due(moment, n).due
    local = deadline.astimezone(AMS)
    assert deadline.tzinfo is UTC
    assert local.time() == time(17, 0)
    assert cal.is_working_day(local.date())
    start = cal.ontvangstdag(moment)
    assert cal.is_working_day(start)
    between = [start + timedelta(days=i) for i in range(1, (local.date() - start).days + 1)]
    assert sum(cal.is_working_day(d) for d in between) == n


@PROPS
@given(first=MOMENTS, second=MOMENTS, n=COUNTS, closures=CLOSURES)
def test_deadline_never_moves_earlier(
    first: datetime, second: datetime, n: int, closures: frozenset[date]
) -> None:
    """A later receipt never gives an earlier deadline."""
    cal = make_calendar(closure_days=closures)
    earlier, later = sorted((first, second))
    assert cal.due(earlier, n).due <= cal.due(later, n).due


@PROPS
@given(
    moment=MOMENTS,
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
    n=COUNTS,
    closures=CLOSURES,
)
def test_same_ontvangstdag_same_deadline(
    moment: datetime, fraction: float, n: int, closures: frozenset[date]
) -> None:
    """Every moment from the previous working day's cutoff to R's cutoff has R and one deadline."""
    cal = make_calendar(closure_days=closures)
    start = cal.ontvangstdag(moment)
    previous = start - timedelta(days=1)
    while not cal.is_working_day(previous):
        previous -= timedelta(days=1)
    low = datetime.combine(previous, time(17, 0), tzinfo=AMS).astimezone(UTC)
    high = datetime.combine(start, time(17, 0), tzinfo=AMS).astimezone(UTC)
    assert low <= moment < high
    span = (high - low) // timedelta(microseconds=1)
    other = low + timedelta(microseconds=min(int(span * fraction), span - 1))
    assert cal.ontvangstdag(other) == start
    assert cal.due(other, n).due == cal.due(moment, n).due


@PROPS
@given(
    day=st.sampled_from(_dst_days()),
    seconds=st.integers(min_value=0, max_value=86_399),
    zone=ZONES,
    n=COUNTS,
)
def test_utc_in_utc_out_on_dst_days(day: date, seconds: int, zone: ZoneInfo, n: int) -> None:
    """On DST-change days every result is UTC and the deadline sits at the local cutoff."""
    moment = (datetime.combine(day, time(0), tzinfo=UTC) + timedelta(seconds=seconds)).astimezone(
        zone
    )
    deadline = CAL.due(moment, n).due
    assert deadline.tzinfo is UTC
    assert deadline.astimezone(AMS).time() == time(17, 0)
    assert CAL.due(moment.astimezone(UTC), n) == CAL.due(moment, n)
    assert CAL.next_office_opening(moment).tzinfo is UTC
    assert CAL.subtract_working_hours(moment, n).tzinfo is UTC


@PROPS
@given(
    moment=MOMENTS,
    hours=st.floats(min_value=0, max_value=60, allow_nan=False),
    closures=CLOSURES,
)
def test_subtract_working_hours_lands_in_office_time(
    moment: datetime, hours: float, closures: frozenset[date]
) -> None:
    """The result is in office hours or on the open/cutoff boundary, never after the input."""
    cal = make_calendar(closure_days=closures)
    result = cal.subtract_working_hours(moment, hours)
    local = result.astimezone(AMS)
    assert result.tzinfo is UTC
    assert result <= moment
    assert cal.is_working_day(local.date())
    assert time(8, 30) <= local.time() <= time(17, 0)
    assert cal.is_office_hours(result) or local.time() in (time(8, 30), time(17, 0))

"""Tests of the scheduler's pruning: `reminder_horizon` and the keys the ticker asks for.

`notices` and `next_change` do the calendar arithmetic only for clocks due before the
reminder horizon; these tests compare them with the same functions with the horizon
moved to the end of time (every clock computed, as before the pruning).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import scheduler
from mailbot.core.scheduler import (
    CLOCKS,
    OpenClock,
    SchedulePolicy,
    daily_keys,
    escalation_affixes,
    newly_missed,
    next_change,
    notices,
    reminder_horizon,
    reminder_moments,
)
from mailbot.core.workdays import Calendar, make_calendar

AMS = ZoneInfo("Europe/Amsterdam")
XMAS = (date(2026, 12, 24), *(date(2026, 12, d) for d in range(28, 32)))
CALENDARS = [
    make_calendar(),
    make_calendar(closure_days=XMAS),
    make_calendar(office_open=time(9, 0), cutoff=time(12, 30)),  # short office days
    make_calendar("America/Santiago", office_open=time(0, 30), cutoff=time(23, 0)),
]
END_OF_TIME = datetime.max.replace(tzinfo=UTC)
BASE = datetime(2026, 12, 1, tzinfo=UTC)  # Christmas, New Year and DST changes in reach
SPAN = 150 * 24 * 60  # minutes

calendars = st.sampled_from(CALENDARS)
policies = st.builds(
    SchedulePolicy,
    hours_before=st.sampled_from([0.0, 0.5, 2.0, 3.5, 8.5, 9.0, 20.0, 45.0]),
    day_ahead=st.frozensets(st.sampled_from(CLOCKS)),
    remind=st.frozensets(st.sampled_from(CLOCKS)),
)
moments = st.integers(0, SPAN).map(lambda m: BASE + timedelta(minutes=m))


def unpruned(
    calendar: Calendar, moment: datetime, policy: SchedulePolicy
) -> tuple[datetime, datetime]:
    """A horizon that prunes nothing."""
    return END_OF_TIME, END_OF_TIME


@st.composite
def clock_sets(draw: st.DrawFn, near: datetime) -> list[OpenClock]:
    """Clocks due from 12 days before `near` to 25 days after, some on the minute grid,
    some at 17:00 or at midnight local, some missed, some paused."""
    result = []
    for index in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["minute", "cutoff", "midnight"]))
        offset = draw(st.integers(-12 * 24 * 60, 25 * 24 * 60))
        due = near + timedelta(minutes=offset)
        if kind != "minute":
            local = due.astimezone(AMS).date()
            wall = time(17) if kind == "cutoff" else time(0)
            due = datetime.combine(local, wall, tzinfo=AMS).astimezone(UTC)
        missed = draw(st.booleans()) and due <= near
        result.append(
            OpenClock(
                case_id=f"MK-2026-{draw(st.integers(1, 4)):04d}",
                name=draw(st.sampled_from(CLOCKS)),
                due=due,
                explanation=f"clock {index}",
                subject="XSS",
                state="acknowledged",
                waiting=draw(st.booleans()),
                missed_at=due if missed else None,
            )
        )
    return result


@settings(max_examples=400, deadline=None)
@given(cal=calendars, policy=policies, moment=moments, minutes=st.integers(0, 40 * 24 * 60))
def test_a_clock_due_at_or_after_the_horizon_has_nothing_before_its_quiet_moment(
    cal: Calendar, policy: SchedulePolicy, moment: datetime, minutes: int
) -> None:
    """Due >= H: the due and every reminder trigger are at or after L, and moment < L < H."""
    horizon, quiet = reminder_horizon(cal, moment, policy)
    for due in (horizon, horizon + timedelta(minutes=minutes)):
        for name in CLOCKS:
            item = OpenClock("MK-2026-0001", name, due, "", "", "acknowledged", False)
            triggers = [t for _, t in reminder_moments(cal, item, policy)]
            assert (moment < quiet < horizon, [t for t in triggers if t < quiet]) == (True, [])


@settings(max_examples=400, deadline=None)
@given(cal=calendars, policy=policies, now=moments, data=st.data())
def test_pruned_notices_equal_the_full_computation(
    cal: Calendar, policy: SchedulePolicy, now: datetime, data: st.DataObject
) -> None:
    """notices and next_change with the pruning answer exactly as without it."""
    clocks = data.draw(clock_sets(now))
    with patch.object(scheduler, "reminder_horizon", unpruned):
        full = notices(now, cal, clocks, frozenset(), policy)
        full_change = next_change(now, cal, clocks, policy)
    sent = frozenset(data.draw(st.sets(st.sampled_from([n.key for n in full]))) if full else [])
    with patch.object(scheduler, "reminder_horizon", unpruned):
        full_unsent = notices(now, cal, clocks, sent, policy)
    assert notices(now, cal, clocks, frozenset(), policy) == full
    assert notices(now, cal, clocks, sent, policy) == full_unsent
    assert next_change(now, cal, clocks, policy) == full_change


@settings(max_examples=300, deadline=None)
@given(cal=calendars, policy=policies, now=moments, data=st.data())
def test_daily_keys_and_escalation_affixes_name_the_keys_notices_use(
    cal: Calendar, policy: SchedulePolicy, now: datetime, data: st.DataObject
) -> None:
    """Digest and closure keys are among daily_keys; the escalation's key is the day's,
    the keys of the clocks it names are prefix+…+suffix."""
    clocks = data.draw(clock_sets(now))
    found = notices(now, cal, clocks, frozenset(), policy)
    prefix, suffix = escalation_affixes(now, cal)
    by_clock = {
        prefix + f"{c.case_id}:{c.name}:{c.due.isoformat()}" + suffix
        for c in clocks
        if c.due <= now and not c.paused
    }
    daily = {n.key for n in found if n.kind in ("digest", "closure_warning")}
    escalations = [n for n in found if n.kind == "escalation"]
    named = {m.key for n in escalations for m in n.missed}
    assert (daily - set(daily_keys(now, cal)), named) == (set(), by_clock if found else set())
    day = f"escalation:{now.astimezone(cal.timezone).date().isoformat()}"
    assert [n.key for n in escalations] == ([day] if named else [])


def test_horizon_of_a_wednesday_morning_is_friday_midnight() -> None:
    """Wed 13 Jan 2027 10:00, 2 hours: quiet from Thu 08:30, horizon Fri 15 Jan 00:00."""
    cal = make_calendar()
    horizon, quiet = reminder_horizon(cal, datetime(2027, 1, 13, 10, tzinfo=AMS))
    expected = (datetime(2027, 1, 15, 0, tzinfo=AMS), datetime(2027, 1, 14, 8, 30, tzinfo=AMS))
    assert (horizon, quiet) == expected


def test_horizon_grows_with_the_hours_before_and_skips_the_christmas_closure() -> None:
    """20 working hours from Tue 22 Dec 2026 (closure 24, 28-31 Dec): W = Wed 23 Dec,
    then Mon 4 Jan and Tue 5 Jan hold the rest; the horizon is Wed 6 Jan 00:00."""
    cal = make_calendar(closure_days=XMAS)
    policy = SchedulePolicy(hours_before=20)
    horizon, quiet = reminder_horizon(cal, datetime(2026, 12, 22, 11, tzinfo=AMS), policy)
    expected = (datetime(2027, 1, 6, 0, tzinfo=AMS), datetime(2026, 12, 23, 8, 30, tzinfo=AMS))
    assert (horizon, quiet) == expected


def test_newly_missed_is_untouched_by_the_pruning() -> None:
    """newly_missed still looks at every clock it is given (no horizon there)."""
    now = datetime(2027, 1, 13, 9, tzinfo=UTC)
    clocks = [
        OpenClock("MK-2027-0001", "ack_due", now - timedelta(days=30), "", "", "new", False),
        OpenClock("MK-2027-0002", "ack_due", now + timedelta(days=30), "", "", "new", False),
    ]
    assert newly_missed(now, clocks) == clocks[:1]

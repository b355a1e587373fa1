"""Tests of the scheduler decision: reminders, escalations, digest, closure warning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.closures import closure_periods
from mailbot.core.deadlines import next_update_due, resolve_deadline
from mailbot.core.errors import MailbotError
from mailbot.core.local_days import SchedulerError
from mailbot.core.scheduler import (
    CLOCKS,
    DEFAULT_POLICY,
    Missed,
    Notice,
    OpenClock,
    SchedulePolicy,
    digest_sections,
    newly_missed,
    next_change,
    notices,
    reminder_moments,
)
from mailbot.core.workdays import Calendar, make_calendar

AMS = ZoneInfo("Europe/Amsterdam")
CAL = make_calendar()
CHRISTMAS_CLOSED = (date(2026, 12, 24), *(date(2026, 12, d) for d in range(28, 32)))
XMAS_CAL = make_calendar(closure_days=CHRISTMAS_CLOSED)
CASE = "MK-2026-0001"
DUE = datetime(2026, 12, 29, 16, 0, tzinfo=UTC)  # Tue 29 Dec 2026 17:00 CET
PREFIX = f"reminder:{CASE}:response_due:2026-12-29T16:00:00+00:00"
ESCALATION = f"escalation:{CASE}:response_due:2026-12-29T16:00:00+00:00"


def ams(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A local Amsterdam moment."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def clock(
    due: datetime = DUE,
    name: str = "response_due",
    case: str = CASE,
    waiting: bool = False,
    missed_at: datetime | None = None,
) -> OpenClock:
    """An open clock with a recognisable explanation."""
    return OpenClock(
        case_id=case,
        name=name,
        due=due,
        explanation=f"explains {name}",
        subject="SQL injection",
        state="acknowledged",
        waiting=waiting,
        missed_at=missed_at,
    )


def keys(
    now: datetime,
    clocks: Sequence[OpenClock] = (),
    sent: frozenset[str] = frozenset(),
    cal: Calendar = CAL,
    policy: SchedulePolicy = DEFAULT_POLICY,
) -> list[str]:
    """The keys `notices` returns, in order."""
    return [n.key for n in notices(now, cal, clocks, sent, policy)]


def only(kind: str, found: list[Notice]) -> list[Notice]:
    """The notices of one kind."""
    return [n for n in found if n.kind == kind]


# --- reminders ---------------------------------------------------------------------------


def test_due_tomorrow_on_the_working_day_before_at_opening() -> None:
    """The 5-day response due Tue 29 Dec gets "due tomorrow" on Mon 28 Dec 08:30 local."""
    found = notices(ams(2026, 12, 28, 8, 30), CAL, [clock()], frozenset())
    assert [n.key for n in found] == [f"{PREFIX}:tomorrow", "digest:2026-12-28"]
    reminder = found[0]
    assert (reminder.kind, reminder.audience, reminder.label) == (
        "reminder",
        "notify",
        "due tomorrow",
    )
    assert (reminder.case_id, reminder.clock, reminder.due) == (CASE, "response_due", DUE)
    assert reminder.explanation == "explains response_due"


def test_due_today_at_opening_and_due_in_two_working_hours_at_15() -> None:
    """Tue 29 Dec: "due today" at 08:30, "due in 2 working hours" at 15:00 local."""
    sent = frozenset({f"{PREFIX}:tomorrow", "digest:2026-12-29"})
    today = only("reminder", notices(ams(2026, 12, 29, 8, 30), CAL, [clock()], sent))
    assert [(n.key, n.label) for n in today] == [(f"{PREFIX}:today", "due today")]
    sent |= {f"{PREFIX}:today"}
    assert keys(ams(2026, 12, 29, 14, 59), [clock()], sent) == []
    hours = notices(ams(2026, 12, 29, 15, 0), CAL, [clock()], sent)
    assert [(n.key, n.label) for n in hours] == [(f"{PREFIX}:hours", "due in 2 working hours")]


def test_nothing_before_opening_or_at_the_weekend() -> None:
    """07:00 and 08:29 local on a working day, and Saturday noon, give nothing."""
    assert keys(ams(2026, 12, 29, 7, 0), [clock()]) == []
    assert keys(ams(2026, 12, 28, 8, 29), [clock()]) == []
    assert keys(ams(2026, 12, 26, 12, 0), [clock()]) == []


def test_after_downtime_only_the_latest_passed_reminder_and_never_the_older_ones() -> None:
    """Down until 15:30 on the due day: only "due in 2 working hours", then nothing."""
    first = keys(ams(2026, 12, 29, 15, 30), [clock()])
    assert first == [f"{PREFIX}:hours", "digest:2026-12-29"]
    assert keys(ams(2026, 12, 29, 16, 45), [clock()], frozenset(first)) == []


def test_reminder_moments_of_the_response_clock() -> None:
    """The three reminders of the Tue 29 Dec response deadline, in UTC, by trigger."""
    expected = [
        ("due tomorrow", datetime(2026, 12, 28, 7, 30, tzinfo=UTC)),
        ("due today", datetime(2026, 12, 29, 7, 30, tzinfo=UTC)),
        ("due in 2 working hours", datetime(2026, 12, 29, 14, 0, tzinfo=UTC)),
    ]
    assert reminder_moments(CAL, clock()) == expected


def test_day_ahead_only_for_configured_clocks_and_hours_configurable() -> None:
    """ack_due gets no "due tomorrow"; hours_before=3 moves the last reminder to 14:00."""
    ack = clock(name="ack_due")
    policy = SchedulePolicy(hours_before=3)
    assert reminder_moments(CAL, ack, policy) == [
        ("due today", datetime(2026, 12, 29, 7, 30, tzinfo=UTC)),
        ("due in 3 working hours", datetime(2026, 12, 29, 13, 0, tzinfo=UTC)),
    ]
    assert reminder_moments(CAL, ack, SchedulePolicy(remind=frozenset())) == []


def test_tie_keeps_one_reminder_and_weekend_due_skips_due_today() -> None:
    """Due 10:30: one reminder at 08:30; due 07:00: no "due today"; Sat noon: only Fri 15:00."""
    morning = clock(due=ams(2027, 1, 5, 10, 30), name="ack_due")
    assert reminder_moments(CAL, morning) == [
        ("due in 2 working hours", datetime(2027, 1, 5, 7, 30, tzinfo=UTC))
    ]
    dawn = clock(due=ams(2027, 1, 5, 7, 0), name="ack_due")
    assert reminder_moments(CAL, dawn) == [
        ("due in 2 working hours", datetime(2027, 1, 4, 14, 0, tzinfo=UTC))
    ]
    saturday = clock(due=ams(2027, 1, 9, 12, 0), name="resolve_due")
    assert reminder_moments(CAL, saturday) == [
        ("due in 2 working hours", datetime(2027, 1, 8, 14, 0, tzinfo=UTC))
    ]


def test_due_at_nine_reminds_the_afternoon_before_then_at_opening() -> None:
    """Due Tue 09:00: "2 working hours" Mon 15:30 comes before "due today" Tue 08:30."""
    nine = clock(due=ams(2027, 1, 5, 9, 0), name="ack_due")
    assert reminder_moments(CAL, nine) == [
        ("due in 2 working hours", datetime(2027, 1, 4, 14, 30, tzinfo=UTC)),
        ("due today", datetime(2027, 1, 5, 7, 30, tzinfo=UTC)),
    ]
    sent = {f"reminder:{CASE}:ack_due:2027-01-05T08:00:00+00:00:hours", "digest:2027-01-05"}
    found = notices(ams(2027, 1, 5, 8, 45), CAL, [nine], sent)
    assert [n.label for n in found] == ["due today"]


def test_day_ahead_over_a_weekend_says_next_working_day() -> None:
    """A response due Mon 11 Jan 2027 gets its day-ahead reminder Fri 8 Jan 08:30."""
    monday = clock(due=ams(2027, 1, 11, 17, 0))
    assert reminder_moments(CAL, monday)[0] == (
        "due next working day",
        datetime(2027, 1, 8, 7, 30, tzinfo=UTC),
    )


# --- escalations -------------------------------------------------------------------------


def named(found: list[Notice]) -> list[tuple[str, str, int, bool]]:
    """(clock key, label, working day, new) of each clock the escalation names, in order."""
    return [(m.key, m.label, m.day, m.new) for n in only("escalation", found) for m in n.missed]


def test_no_escalation_at_the_cutoff_but_at_next_opening() -> None:
    """17:00 on the due day the office is closed; the day's escalation goes Wed 08:30."""
    assert keys(ams(2026, 12, 29, 17, 0), [clock()]) == []
    assert keys(ams(2026, 12, 30, 8, 29), [clock()]) == []
    found = notices(ams(2026, 12, 30, 8, 30), CAL, [clock()], frozenset())
    escalation = only("escalation", found)
    assert [(n.key, n.audience, n.case_id, n.items) for n in escalation] == [
        ("escalation:2026-12-30", "escalate", None, (clock(),))
    ]
    assert escalation[0].missed == (Missed(clock(), 1, True, f"{ESCALATION}:2026-12-30"),)
    assert escalation[0].missed[0].clock.explanation == "explains response_due"


def test_escalation_repeats_each_working_day_but_not_on_holidays_or_weekends() -> None:
    """Wed 30 missed, Thu 31 day 2, Fri 1 Jan/Sat/Sun nothing, Mon 4 Jan day 3."""
    moments = [ams(2026, 12, d, 10) for d in (30, 31)] + [ams(2027, 1, d, 10) for d in (1, 2, 3, 4)]
    found = [named(notices(m, CAL, [clock()], set())) for m in moments]
    assert [[(key, label) for key, label, _, _ in day] for day in found] == [
        [(f"{ESCALATION}:2026-12-30", "missed")],
        [(f"{ESCALATION}:2026-12-31", "still missed (working day 2)")],
        [],
        [],
        [],
        [(f"{ESCALATION}:2027-01-04", "still missed (working day 3)")],
    ]


def test_a_deadline_passing_at_night_escalates_at_the_next_opening() -> None:
    """A resolve clock due Wed 30 Dec 22:00 local escalates Thu 31 Dec 08:30, label "missed"."""
    night = clock(due=ams(2026, 12, 30, 22, 0), name="resolve_due")
    assert only("escalation", notices(ams(2026, 12, 31, 8, 25), CAL, [night], set())) == []
    found = notices(ams(2026, 12, 31, 8, 30), CAL, [night], set())
    assert [label for _, label, _, _ in named(found)] == ["missed"]


def test_sent_suppresses_escalation_for_the_rest_of_the_day() -> None:
    """Once the day's escalation key is sent, later ticks that day return nothing."""
    sent = frozenset({"escalation:2026-12-30", "digest:2026-12-30", "closure:2027-01-01"})
    assert keys(ams(2026, 12, 30, 8, 31), [clock()], sent) == []
    assert keys(ams(2026, 12, 30, 16, 59), [clock()], sent) == []


def test_one_escalation_names_every_missed_clock_newly_missed_first_oldest_first() -> None:
    """Four missed clocks, one mail: missed since the previous escalation (or never recorded)
    first, then the rest; each group by due; paused and future clocks are left out."""
    now, previous = ams(2027, 1, 6, 8, 30), ams(2027, 1, 5, 8, 30)
    old = clock(due=ams(2026, 12, 22, 17), case="MK-2026-0003", missed_at=ams(2026, 12, 22, 17))
    older = clock(due=ams(2026, 12, 21, 17), case="MK-2026-0004", missed_at=ams(2026, 12, 21, 17))
    fresh = clock(due=ams(2027, 1, 5, 17), case="MK-2026-0005", missed_at=ams(2027, 1, 5, 17))
    unrecorded = clock(due=ams(2027, 1, 5, 12), name="resolve_due", case="MK-2026-0006")
    paused = clock(due=ams(2027, 1, 4, 17), name="update_due", case="MK-2026-0007", waiting=True)
    future = clock(due=ams(2027, 1, 6, 17), name="ack_due", case="MK-2026-0008")
    given_clocks = [fresh, paused, old, future, unrecorded, older]
    found = only("escalation", notices(now, CAL, given_clocks, set(), last_escalation=previous))
    assert [(m.clock, m.day, m.new) for n in found for m in n.missed] == [
        (unrecorded, 2, True),  # due Tue 5 Jan 12:00, after Tuesday's mail went out
        (fresh, 1, True),  # due Tue 17:00: Wednesday is its first working day missed
        (older, 10, False),  # Tue 22 Dec .. Wed 6 Jan without 25-26 Dec and 1 Jan
        (old, 9, False),
    ]
    assert [n.items for n in found] == [(unrecorded, fresh, older, old)]
    first = only("escalation", notices(now, CAL, given_clocks, set()))  # never one before
    assert [m.new for n in first for m in n.missed] == [True] * 4


def test_a_clock_missed_after_the_days_escalation_waits_for_the_next_working_day() -> None:
    """Tue 08:30 the day's mail names the old clock; a resolve date passing Tue 11:00 gives
    no second mail that day, and Wed 08:30 comes first, newly missed, on working day 2."""
    old = clock(due=ams(2027, 1, 4, 17), missed_at=ams(2027, 1, 4, 17))
    noon = clock(due=ams(2027, 1, 5, 11), name="resolve_due", case="MK-2026-0002")
    morning = notices(ams(2027, 1, 5, 8, 30), CAL, [old, noon], set())
    assert [m.clock for n in only("escalation", morning) for m in n.missed] == [old]
    sent = {n.key for n in morning}
    recorded = replace(noon, missed_at=ams(2027, 1, 5, 11))
    assert keys(ams(2027, 1, 5, 11), [old, recorded], frozenset(sent)) == []
    tuesday = ams(2027, 1, 5, 8, 30)
    found = notices(ams(2027, 1, 6, 8, 30), CAL, [old, recorded], sent, last_escalation=tuesday)
    assert [
        (m.clock, m.day, m.new, m.label) for n in only("escalation", found) for m in n.missed
    ] == [
        (recorded, 2, True, "still missed (working day 2)"),
        (old, 2, False, "still missed (working day 2)"),
    ]


def test_newly_missed_reports_due_unrecorded_unpaused_clocks() -> None:
    """newly_missed: due <= now, missed_at unset, paused update clocks left out; sorted."""
    now = ams(2026, 12, 30, 10)
    late = clock(due=ams(2026, 12, 30, 10), name="ack_due")
    early = clock(due=ams(2026, 12, 29, 17))
    recorded = clock(name="resolve_due", missed_at=ams(2026, 12, 30, 8, 30))
    paused = clock(name="update_due", waiting=True)
    future = clock(due=ams(2026, 12, 30, 10, 1), name="update_due")
    assert newly_missed(now, [late, recorded, paused, future, early]) == [early, late]


# --- waiting cases and the input contract ------------------------------------------------


def test_waiting_update_clock_produces_nothing_but_other_clocks_go_on() -> None:
    """update_due of a waiting case: no reminder or escalation; its response_due still escalates."""
    paused = clock(name="update_due", waiting=True)
    for moment in (ams(2026, 12, 29, 8, 30), ams(2026, 12, 29, 15), ams(2026, 12, 30, 9)):
        assert [n.kind for n in notices(moment, CAL, [paused], set())] == ["digest"]
    both = [paused, clock(waiting=True)]
    found = notices(ams(2026, 12, 30, 9), CAL, both, set())
    assert [key for key, _, _, _ in named(found)] == [f"{ESCALATION}:2026-12-30"]


def test_bad_inputs_raise_errors_naming_the_value() -> None:
    """Unknown clock, naive due, bad policy and negative days raise SchedulerError."""
    with pytest.raises(SchedulerError, match="ack_du"):
        clock(name="ack_du")
    with pytest.raises(SchedulerError, match="naive"):
        clock(due=datetime(2026, 12, 29, 17))
    with pytest.raises(SchedulerError, match="-1"):
        SchedulePolicy(hours_before=-1)
    with pytest.raises(MailbotError, match="typo_due"):
        SchedulePolicy(day_ahead=frozenset({"typo_due"}))
    with pytest.raises(SchedulerError, match="-3"):
        resolve_deadline(ams(2026, 1, 1, 10), -3, AMS)


# --- digest --------------------------------------------------------------------------------


def test_digest_once_per_working_day_only_when_something_is_open() -> None:
    """Nothing open: no digest; open: one per working day, sorted items; none on Saturday."""
    later = clock(due=ams(2027, 1, 5, 17), name="resolve_due")
    sooner = clock()
    assert keys(ams(2026, 12, 28, 10), []) == []
    digest = only("digest", notices(ams(2026, 12, 28, 10), CAL, [later, sooner], set()))
    assert [(n.key, n.audience, n.items) for n in digest] == [
        ("digest:2026-12-28", "notify", (sooner, later))
    ]
    assert only("digest", notices(ams(2026, 12, 28, 11), CAL, [later], {"digest:2026-12-28"})) == []
    assert keys(ams(2027, 1, 2, 10), [later]) == []


def test_digest_sections_group_overdue_today_next_working_day_later_paused() -> None:
    """On Thu 31 Dec the next working day is Mon 4 Jan (1 Jan holiday, weekend)."""
    overdue = clock(due=ams(2026, 12, 31, 9))
    today = clock(due=ams(2026, 12, 31, 17), name="ack_due")
    monday = clock(due=ams(2027, 1, 4, 17), name="resolve_due")
    later = clock(due=ams(2027, 1, 5, 17), name="update_due")
    paused = clock(due=ams(2027, 1, 4, 17), name="update_due", case="MK-2026-0002", waiting=True)
    groups = digest_sections(ams(2026, 12, 31, 9), CAL, [later, paused, monday, today, overdue])
    actual = (groups.overdue, groups.today, groups.tomorrow, groups.later, groups.paused)
    assert actual == ((overdue,), (today,), (monday,), (later,), (paused,))


# --- closure warnings --------------------------------------------------------------------


def test_christmas_closure_is_one_period_warned_on_tuesday_22_december() -> None:
    """24 Dec-3 Jan is one period; Tue 22 Dec warns with what is due up to Mon 4 Jan 17:00."""
    before = clock(due=ams(2026, 12, 23, 17), name="ack_due", case="MK-2026-0001")
    reopen = clock(due=ams(2027, 1, 4, 17), case="MK-2026-0002")
    after = clock(due=ams(2027, 1, 5, 17), name="ack_due", case="MK-2026-0003")
    paused = clock(due=ams(2026, 12, 30, 17), name="update_due", case="MK-2026-0004", waiting=True)
    clocks = [after, reopen, paused, before]
    assert only("closure_warning", notices(ams(2026, 12, 21, 10), XMAS_CAL, clocks, set())) == []
    found = only("closure_warning", notices(ams(2026, 12, 22, 8, 30), XMAS_CAL, clocks, set()))
    assert [(n.key, n.audience, n.items, n.due) for n in found] == [
        ("closure:2026-12-24", "notify", (before, reopen), datetime(2027, 1, 4, 16, tzinfo=UTC))
    ]
    assert (
        found[0].label == "office closed Thu 24 Dec 2026 to Sun 3 Jan 2027, reopens Mon 4 Jan 2027"
    )
    assert "Fri 25 Dec 2026 Eerste kerstdag" in found[0].explanation
    sent = {"closure:2026-12-24"}
    assert only("closure_warning", notices(ams(2026, 12, 22, 9), XMAS_CAL, clocks, sent)) == []


def test_closure_warning_missed_on_its_day_goes_out_on_the_last_working_day() -> None:
    """Daemon down on Tue 22 Dec: the warning goes Wed 23 Dec; never during the period."""
    clocks = [clock(due=ams(2027, 1, 4, 17))]
    found = only("closure_warning", notices(ams(2026, 12, 23, 9), XMAS_CAL, clocks, set()))
    assert [n.key for n in found] == ["closure:2026-12-24"]
    assert keys(ams(2026, 12, 28, 9), clocks, cal=XMAS_CAL) == []
    assert only("closure_warning", notices(ams(2027, 1, 4, 9), XMAS_CAL, clocks, set())) == []


def test_without_closure_days_christmas_and_new_year_are_separate_periods() -> None:
    """25-27 Dec warned Wed 23 Dec; 1-3 Jan warned Wed 30 Dec; nothing on Tue 29 Dec."""
    clocks = [clock(due=ams(2026, 12, 28, 17)), clock(due=ams(2027, 1, 4, 17), case="MK-2")]

    def warned(moment: datetime) -> list[str]:
        return [n.key for n in only("closure_warning", notices(moment, CAL, clocks, set()))]

    assert warned(ams(2026, 12, 23, 9)) == ["closure:2026-12-25"]
    assert warned(ams(2026, 12, 29, 9)) == []
    assert warned(ams(2026, 12, 30, 9)) == ["closure:2027-01-01"]


def test_plain_weekend_is_no_period_but_a_holiday_monday_weekend_is() -> None:
    """Week of 11 Jan 2027: no period; Koningsdag Mon 27 Apr 2026: Sat 25-Mon 27, warned Thu 23."""
    assert [closure_periods(CAL, date(2027, 1, d)) for d in range(11, 16)] == [[]] * 5
    assert closure_periods(CAL, date(2026, 4, 23)) == [(date(2026, 4, 25), date(2026, 4, 27))]
    assert closure_periods(CAL, date(2026, 4, 22)) == []


def test_closure_warning_only_when_something_falls_due() -> None:
    """A period with nothing due up to the reopening day's end gives no warning."""
    far = [clock(due=ams(2027, 1, 5, 17))]
    assert only("closure_warning", notices(ams(2026, 12, 22, 9), XMAS_CAL, far, set())) == []


# --- deadline helpers ------------------------------------------------------------------------


def test_next_update_due_counts_ten_working_days_after_the_last_mail() -> None:
    """Last mail Mon 21 Dec 2026 10:00: 10 working days → Wed 6 Jan 2027 17:00 CET."""
    deadline = next_update_due(CAL, ams(2026, 12, 21, 10), 10)
    assert deadline.due == datetime(2027, 1, 6, 16, tzinfo=UTC)
    assert deadline == CAL.due_after(ams(2026, 12, 21, 10), 10)


def test_resolve_deadline_keeps_the_local_time_across_dst() -> None:
    """1 Mar 2027 10:00 CET + 60 days = 30 Apr 2027 10:00 CEST (08:00Z)."""
    deadline = resolve_deadline(datetime(2027, 3, 1, 9, tzinfo=UTC), 60, AMS)
    assert deadline.due == datetime(2027, 4, 30, 8, tzinfo=UTC)
    expected = "received Mon 1 Mar 2027 10:00 + 60 calendar days → due Fri 30 Apr 2027 10:00"
    assert deadline.explanation == expected


# --- properties -----------------------------------------------------------------------------

BASE = datetime(2026, 12, 14, tzinfo=UTC)
clocks_strategy = st.lists(
    st.builds(
        clock,
        due=st.integers(0, 40 * 24 * 60).map(lambda m: BASE + timedelta(minutes=m)),
        name=st.sampled_from(CLOCKS),
        case=st.sampled_from(["MK-2026-0001", "MK-2026-0002", "MK-2026-0003"]),
        waiting=st.booleans(),
    ),
    max_size=6,
)
nows = st.integers(0, 40 * 24 * 3600).map(lambda s: BASE + timedelta(seconds=s))
calendars = st.sampled_from([CAL, XMAS_CAL])


@settings(max_examples=200, deadline=None)
@given(now=nows, clocks=clocks_strategy, cal=calendars)
def test_keys_unique_office_hours_only_and_replay_is_empty(
    now: datetime, clocks: list[OpenClock], cal: Calendar
) -> None:
    """Keys are unique, nothing outside office hours, replaying with the keys sent is empty."""
    found = notices(now, cal, clocks, set())
    found_keys = [n.key for n in found]
    assert len(found_keys) == len(set(found_keys))
    if not cal.is_office_hours(now):
        assert found == []
    assert notices(now, cal, clocks, set(found_keys)) == []


@settings(max_examples=200, deadline=None)
@given(now=nows, clocks=clocks_strategy, cal=calendars)
def test_notices_only_name_clocks_given_and_never_paused_ones(
    now: datetime, clocks: list[OpenClock], cal: Calendar
) -> None:
    """Every reminder/escalation names an unpaused input clock; items come from the input."""
    given_clocks = {(c.case_id, c.name, c.due) for c in clocks if not c.paused}
    for notice in notices(now, cal, clocks, set()):
        if notice.kind == "reminder":
            assert (notice.case_id, notice.clock, notice.due) in given_clocks
        named_clocks = {(m.clock.case_id, m.clock.name, m.clock.due) for m in notice.missed}
        assert named_clocks <= given_clocks
        assert all(m.clock.due <= now for m in notice.missed)
        assert set(notice.items) <= set(clocks)


WEEKS = [ams(2026, 12, 21, 0), ams(2027, 3, 22, 0), ams(2027, 4, 26, 0), ams(2026, 6, 8, 0)]
STEP = timedelta(minutes=5)
TICKS = 7 * 24 * 12


def first_escalation_day(cal: Calendar, due: datetime) -> date:
    """The first working day whose office hours contain a moment at or after `due`."""
    local = due.astimezone(AMS)
    day = local.date()
    if cal.is_working_day(day) and local.time() < time(17):
        return day
    return cal.nth_working_day_after(day, 1)


def working_days_from(cal: Calendar, first: date, last: date) -> int:
    """How many working days lie in first..last inclusive."""
    count, day = 0, first
    while day <= last:
        count += cal.is_working_day(day)
        day += timedelta(days=1)
    return count


@st.composite
def week_case(
    draw: st.DrawFn,
) -> tuple[Calendar, datetime, list[tuple[OpenClock, datetime | None]]]:
    """A calendar, a week start (local midnight Monday) and clocks on the 5-minute grid."""
    cal = draw(calendars)
    start = draw(st.sampled_from(WEEKS)).astimezone(UTC)
    specs = []
    for index in range(draw(st.integers(1, 4))):
        due = start + STEP * draw(st.integers(-2 * 288, TICKS))
        met = draw(st.none() | st.integers(0, TICKS).map(lambda k: start + STEP * k))
        name = draw(st.sampled_from(CLOCKS))
        specs.append(
            (clock(due=due, name=name, case=f"MK-{index}", waiting=draw(st.booleans())), met)
        )
    return cal, start, specs


def run_week(
    cal: Calendar, start: datetime, specs: list[tuple[OpenClock, datetime | None]]
) -> list[tuple[datetime, Notice]]:
    """Tick every 5 minutes for a week as the shell does: clocks met drop out, a clock
    past its due is recorded missed after the tick's decision, each key is sent once."""
    sent: set[str] = set()
    log: list[tuple[datetime, Notice]] = []
    marked: dict[int, datetime] = {}
    previous: datetime | None = None
    for k in range(TICKS):
        tick = start + STEP * k
        active = [
            replace(c, missed_at=marked.get(i))
            for i, (c, met) in enumerate(specs)
            if met is None or tick < met
        ]
        found = notices(tick, cal, active, sent, last_escalation=previous)
        for notice in found:
            assert notice.key not in sent
            sent.add(notice.key)
            log.append((tick, notice))
        for missed in newly_missed(tick, active):
            marked.setdefault(int(missed.case_id[3:]), tick)
        if any(n.kind == "escalation" for n in found):
            previous = tick
    return log


def first_missed_tick(
    cal: Calendar, day: date, specs: list[tuple[OpenClock, datetime | None]]
) -> datetime | None:
    """The first tick in `day`'s office hours at which an unpaused clock not met is due."""
    opening = datetime.combine(day, time(8, 30), tzinfo=AMS).astimezone(UTC)
    cutoff = datetime.combine(day, time(17), tzinfo=AMS).astimezone(UTC)
    if not cal.is_working_day(day):
        return None
    moments = [
        moment
        for c, met in specs
        if not c.paused
        and (moment := max(opening, c.due)) < cutoff
        and (met is None or moment < met)
    ]
    return min(moments, default=None)


@settings(max_examples=100, deadline=None)
@given(case=week_case())
def test_simulated_week_sends_one_escalation_a_day_naming_every_missed_clock(
    case: tuple[Calendar, datetime, list[tuple[OpenClock, datetime | None]]],
) -> None:
    """Ticking every 5 minutes for a week: keys once; on each working day with a clock
    missed in office hours one escalation, at the first such tick, naming every clock
    missed then (numbered by working day; new when not named before); reminders in
    order before the due, none after a clock is met."""
    cal, start, specs = case
    log = run_week(cal, start, specs)
    week = [(start.astimezone(AMS) + timedelta(days=i)).date() for i in range(7)]
    escalations = [(t, n) for t, n in log if n.kind == "escalation"]
    expected_days = {d: m for d in week if (m := first_missed_tick(cal, d, specs)) is not None}
    assert {t.astimezone(AMS).date(): t for t, _ in escalations} == expected_days
    assert len(escalations) == len(expected_days)
    named_before: set[str] = set()
    for tick, notice in escalations:
        day = tick.astimezone(AMS).date()
        missed = [
            c for c, met in specs if not c.paused and c.due <= tick and (met is None or tick < met)
        ]
        assert sorted(m.clock.case_id for m in notice.missed) == sorted(c.case_id for c in missed)
        for entry in notice.missed:
            number = working_days_from(cal, first_escalation_day(cal, entry.clock.due), day)
            assert (entry.day, entry.new) == (number, entry.clock.case_id not in named_before)
        news = [m.new for m in notice.missed]
        assert news == sorted(news, reverse=True)  # newly missed first
        named_before |= {m.clock.case_id for m in notice.missed}
    for spec_clock, met in specs:
        reminders = [(t, n) for t, n in log if n.case_id == spec_clock.case_id]
        if met is not None:
            assert [n for t, n in reminders if t >= met] == []
        if spec_clock.paused:
            assert reminders == []
        moments = dict(reminder_moments(cal, spec_clock))
        assert all(moments[n.label] <= t < spec_clock.due for t, n in reminders)
        assert [moments[n.label] for _, n in reminders] == sorted(
            moments[n.label] for _, n in reminders
        )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (ams(2026, 12, 28, 7, 0), ams(2026, 12, 28, 8, 30)),  # closed: the next opening
        (ams(2026, 12, 28, 9, 0), ams(2026, 12, 28, 17, 0)),  # open: today's cutoff first
        (ams(2026, 12, 29, 9, 0), ams(2026, 12, 29, 15, 0)),  # the 2-hour reminder
        (ams(2026, 12, 29, 15, 30), ams(2026, 12, 29, 17, 0)),  # the due (= cutoff)
    ],
)
def test_next_change_is_the_next_trigger_due_or_office_edge(
    now: datetime, expected: datetime
) -> None:
    """next_change names the first moment the answer can differ: trigger, due, open/close."""
    assert next_change(now.astimezone(UTC), CAL, [clock()]) == expected.astimezone(UTC)


@settings(max_examples=100, deadline=None)
@given(offset=st.integers(min_value=0, max_value=10 * 24 * 60))
def test_nothing_changes_before_next_change(offset: int) -> None:
    """For any moment, notices one minute before next_change equal those at the moment."""
    now = ams(2026, 12, 21, 0, 0).astimezone(UTC) + timedelta(minutes=offset)
    clocks = [clock(), clock(name="update_due", due=ams(2026, 12, 23, 17).astimezone(UTC))]
    until = next_change(now, CAL, clocks)
    later = max(now, until - timedelta(minutes=1))
    assert keys(later, clocks) == keys(now, clocks)
    assert newly_missed(later, clocks) == newly_missed(now, clocks)


def test_digest_without_open_clocks_only_when_the_shell_has_more_to_list() -> None:
    """No clocks: a digest only with `digest_anyway` (unmatched bounces), once, in office
    hours only."""
    morning, night = ams(2026, 12, 22, 9), ams(2026, 12, 22, 20)
    asked = [
        notices(morning, CAL, [], set()),
        notices(morning, CAL, [], set(), digest_anyway=True),
        notices(morning, CAL, [], {"digest:2026-12-22"}, digest_anyway=True),
        notices(night, CAL, [], set(), digest_anyway=True),
    ]
    assert [[(n.key, n.items) for n in found] for found in asked] == [
        [],
        [("digest:2026-12-22", ())],
        [],
        [],
    ]

"""The monthly report: exact figures of a hand-made March 2027, and its text, HTML and CLI.

March 2027 in Europe/Amsterdam: Mon 1 Mar is ISO week 9; Fri 26 Mar (Goede vrijdag) and
Mon 29 Mar (Tweede paasdag) are closed, so the month has 21 working days; summer time
starts Sun 28 Mar. The report is made on Mon 5 Apr 09:00, so deadlines are judged as of
Thu 1 Apr 00:00 CEST (2027-03-31T22:00Z).

Six cases are received in March (MK-2027-0002..0007); MK-2027-0001, 0009 and 0010
(February) and MK-2027-0008 (1 Apr 00:30 CEST, which is still 31 Mar in UTC) are not.
Four cases are closed in March (0004, 0007, 0009, 0010); 0003 is closed and reopened.
Every due and every duration below was worked out by hand from DESIGN.md §5 (see the
comments), not by running the calendar.
"""

from __future__ import annotations

import json
import re
import stat
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import factories
import pytest
from factories import write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.models import Case, CaseState, Deadline
from mailbot.core.workdays import make_calendar
from mailbot.report.figures import (
    Report,
    ReportError,
    Terms,
    build_report,
    parse_month,
    read_rows,
)
from mailbot.report.html import render_html
from mailbot.report.measures import median, nearest_rank, working_days_to
from mailbot.report.render import render_text, report_json
from mailbot.report.rows import CaseRow, ClockRow, EventRow, MessageRow, Month, Rows
from mailbot.report.tables import headline, tables
from mailbot.report.words import Words
from mailbot.store import Store

AMS = ZoneInfo("Europe/Amsterdam")
CALENDAR = make_calendar()
MARCH = Month(2027, 3)
NOW = datetime(2027, 4, 5, 9, 0, tzinfo=AMS)
HOSTILE = '<script>alert(1)</script> "portaal" & co'


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A local moment in Amsterdam in 2027."""
    return datetime(2027, month, day, hour, minute, second, tzinfo=AMS)


def due(month: int, day: int) -> datetime:
    """17:00 local (the cutoff) on a day of 2027."""
    return at(month, day, 17)


S = timedelta(seconds=1)
H = timedelta(hours=1)
D = timedelta(days=1)

R1, R2, R3 = at(3, 1, 0, 30), at(3, 2, 10), at(3, 5, 18)  # Mon 00:30, Tue 10:00, Fri 18:00
R4, R5, R6 = at(3, 10, 9), at(3, 22, 9), at(3, 18, 10)  # Wed, Mon, Thu
F1, F2 = at(2, 3, 11), at(2, 15, 14)  # Wed 3 Feb 11:00, Mon 15 Feb 14:00

CASES = (
    CaseRow("MK-2027-0001", "February", "acknowledged", at(2, 15, 10), at(2, 15, 10, 0, 5)),
    CaseRow(
        "MK-2027-0002", HOSTILE, "acknowledged", R1, R1 + 10 * S, reward="yes", severity="high"
    ),
    CaseRow("MK-2027-0003", "Portaal", "investigating", R2, R2 + 20 * S, waiting=True),
    CaseRow(
        *("MK-2027-0004", "Relayed", "resolved", R3, R3 + 30 * S),
        source="relay",
        reward="sent",
        severity="critical",
    ),
    CaseRow(
        "MK-2027-0005", "Open bucket", "confirmed", R4, R4 + 40 * S, reward="no", severity="medium"
    ),
    CaseRow("MK-2027-0006", "No contact", "new", R5, None, source="relay", flags=("no_contact",)),
    CaseRow("MK-2027-0007", "Spam", "spam", R6, R6 + 50 * S),
    CaseRow("MK-2027-0008", "April", "acknowledged", at(4, 1, 0, 30), at(4, 1, 0, 30, 5)),
    CaseRow("MK-2027-0009", "Login bypass", "resolved", F1, F1 + 60 * S, severity="high"),
    CaseRow("MK-2027-0010", "Oud CMS", "rejected", F2, F2 + 60 * S, severity="low"),
)

CLOCKS = (
    # February: response due Mon 22 Feb, never answered (overdue 25 working days at 1 Apr).
    ClockRow("MK-2027-0001", "ack_due", due(2, 16), met_at=at(2, 15, 10, 0, 5)),
    ClockRow("MK-2027-0001", "response_due", due(2, 22), missed_at=due(2, 22)),
    # 0002, Mon 1 Mar 00:30 (R Mon 1): ack Tue 2; response Mon 8, met Wed 3 00:30 (2 d);
    # update from the ack Mon 15, restarted Wed 3 (kept) → Wed 17, missed (8 wd late).
    ClockRow("MK-2027-0002", "ack_due", due(3, 2), met_at=R1 + 10 * S),
    ClockRow("MK-2027-0002", "response_due", due(3, 8), met_at=R1 + 2 * D),
    ClockRow("MK-2027-0002", "update_due", due(3, 15), done_at=R1 + 2 * D),
    ClockRow("MK-2027-0002", "update_due", due(3, 17), missed_at=due(3, 17)),
    # 0003, Tue 2 Mar 10:00: ack Wed 3; response Tue 9, answered late Wed 10 10:00 (8 d);
    # update Tue 16 restarted Wed 10 (kept) → Wed 24, paused: the case waits (pending).
    ClockRow("MK-2027-0003", "ack_due", due(3, 3), met_at=R2 + 20 * S),
    ClockRow("MK-2027-0003", "response_due", due(3, 9), missed_at=due(3, 9), done_at=R2 + 8 * D),
    ClockRow("MK-2027-0003", "update_due", due(3, 16), done_at=R2 + 8 * D),
    ClockRow("MK-2027-0003", "update_due", due(3, 24)),
    # 0004, Fri 5 Mar 18:00 (R Mon 8): ack Tue 9; response Mon 15, met Mon 8 18:00 (3 d);
    # updates Mon 22 (restarted Mon 8) and Tue 23 (case resolved Fri 19): both kept.
    ClockRow("MK-2027-0004", "ack_due", due(3, 9), met_at=R3 + 30 * S),
    ClockRow("MK-2027-0004", "response_due", due(3, 15), met_at=R3 + 3 * D),
    ClockRow("MK-2027-0004", "update_due", due(3, 22), done_at=R3 + 3 * D),
    ClockRow("MK-2027-0004", "update_due", due(3, 23), done_at=at(3, 19, 12)),
    ClockRow("MK-2027-0004", "resolve_due", due(5, 4), done_at=at(3, 19, 12)),
    # 0005, Wed 10 Mar 09:00: ack Thu 11; response Wed 17, met Thu 11 09:00 (1 d);
    # update Wed 24 restarted Thu 11 (kept) → Thu 25, missed (2 wd late: 30, 31 Mar).
    ClockRow("MK-2027-0005", "ack_due", due(3, 11), met_at=R4 + 40 * S),
    ClockRow("MK-2027-0005", "response_due", due(3, 17), met_at=R4 + D),
    ClockRow("MK-2027-0005", "update_due", due(3, 24), done_at=R4 + D),
    ClockRow("MK-2027-0005", "update_due", due(3, 25), missed_at=due(3, 25)),
    # 0006, Mon 22 Mar, relayed without contact: ack Tue 23 missed (4 wd late), response
    # Wed 31 Mar 17:00 CEST (26 and 29 closed) missed (0 wd late).
    ClockRow("MK-2027-0006", "ack_due", due(3, 23), missed_at=due(3, 23)),
    ClockRow("MK-2027-0006", "response_due", due(3, 31), missed_at=due(3, 31)),
    # 0007, Thu 18 Mar: ack Fri 19; closed as spam Fri 19 09:00: response Thu 25 is void,
    # the update clock (Mon 5 Apr) belongs to April.
    ClockRow("MK-2027-0007", "ack_due", due(3, 19), met_at=R6 + 50 * S),
    ClockRow("MK-2027-0007", "response_due", due(3, 25), done_at=at(3, 19, 9)),
    ClockRow("MK-2027-0007", "update_due", due(4, 5), done_at=at(3, 19, 9)),
    ClockRow("MK-2027-0008", "ack_due", due(4, 2), met_at=at(4, 1, 0, 30, 5)),
    # 0009, Wed 3 Feb 11:00 (R Wed 3): ack Thu 4; response Wed 10, met Mon 8 10:00 (3 wd);
    # resolved Wed 10 Mar 15:00, before its resolve clock (Sun 4 Apr).
    ClockRow("MK-2027-0009", "ack_due", due(2, 4), met_at=F1 + 60 * S),
    ClockRow("MK-2027-0009", "response_due", due(2, 10), met_at=at(2, 8, 10)),
    ClockRow("MK-2027-0009", "resolve_due", due(4, 4), done_at=at(3, 10, 15)),
    # 0010, Mon 15 Feb 14:00 (R Mon 15): ack Tue 16; response Mon 22, met Thu 18 09:00
    # (3 wd); rejected Mon 22 Mar 10:00.
    ClockRow("MK-2027-0010", "ack_due", due(2, 16), met_at=F2 + 60 * S),
    ClockRow("MK-2027-0010", "response_due", due(2, 22), met_at=at(2, 18, 9)),
    ClockRow("MK-2027-0010", "resolve_due", due(4, 16), done_at=at(3, 22, 10)),
)

EVENTS = (
    EventRow("MK-2027-0003", R2 + 8 * D, "clock_late", "response_due"),
    EventRow("MK-2027-0003", R2 + 8 * D, "clock_late", "update_due"),
    EventRow("MK-2027-0001", at(2, 20, 10), "reward_changed", "reward: undecided → no"),
    EventRow("MK-2027-0002", at(3, 4, 10), "reward_changed", "reward: undecided → yes"),
    EventRow("MK-2027-0005", at(3, 12, 10), "reward_changed", "reward: undecided → no"),
    EventRow("MK-2027-0004", at(3, 19, 12), "reward_changed", "reward: undecided → yes"),
    EventRow("MK-2027-0004", at(3, 26, 10), "reward_changed", "reward: yes → sent"),
    EventRow("MK-2027-0008", at(4, 2, 10), "reward_changed", "reward: undecided → yes"),
    EventRow("MK-2027-0009", at(3, 10, 15), "state_changed", "state: confirmed → resolved"),
    EventRow("MK-2027-0003", at(3, 12, 10), "state_changed", "state: investigating → resolved"),
    EventRow("MK-2027-0003", at(3, 15, 9), "state_changed", "state: resolved → investigating"),
    EventRow("MK-2027-0007", at(3, 19, 9), "state_changed", "state: acknowledged → spam"),
    EventRow("MK-2027-0004", at(3, 19, 12), "state_changed", "state: investigating → resolved"),
    EventRow("MK-2027-0010", at(3, 22, 10), "state_changed", "state: acknowledged → rejected"),
)

MESSAGES = (
    MessageRow(datetime(2027, 2, 28, 22, 30, tzinfo=UTC), "followup"),  # 23:30 CET: February
    *(MessageRow(r, "new_case") for r in (R1, R2, R3, R4, R5, R6)),  # R1 is 28 Feb in UTC
    MessageRow(at(3, 9, 12), "followup"),
    MessageRow(at(3, 23, 12), "followup"),
    MessageRow(at(3, 12, 3), "spam"),
    MessageRow(at(3, 29, 12), "auto_reply"),
    MessageRow(datetime(2027, 3, 31, 22, 30, tzinfo=UTC), "new_case"),  # 1 Apr 00:30 CEST
)

ROWS = Rows(CASES, MESSAGES, CLOCKS, EVENTS)
ENGLISH_WORDS = ("Promise", "received", "working day", "Overdue", "Month", "Resolution", "ISO")
DUTCH_WORDS = ("Toezegging", "Meldingen", "werkdag", "maart", "Afhandeling", "Zaak", "Mediaan")
JARGON = re.compile(r"\b(ISO|p90|P90|void|VOID|wd|W\d\d|new_case|followup|auto_reply|ack_due)\b")


@pytest.fixture(scope="module")
def march() -> Report:
    """The report of March 2027, made Mon 5 Apr 09:00."""
    return build_report(ROWS, MARCH, CALENDAR, NOW, Terms(), "<b>Gemeente</b> & Co")


# --- definitions ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2027-13", "2027-00", "2027-1", "27-03", "2027/03", "", "x"])
def test_bad_month_is_refused_naming_it(text: str) -> None:
    """A month that is not YYYY-MM with a month 01..12 raises ReportError naming the text."""
    with pytest.raises(ReportError, match=repr(text).replace("[", r"\[")):
        parse_month(text)


def test_month_bounds() -> None:
    """parse_month gives the month; first, last and next_first across a year end; shifted."""
    december = parse_month("2026-12")
    actual = (str(december), december.first, december.last, december.next_first)
    expected = ("2026-12", *(datetime(*d).date() for d in [(2026, 12, 1), (2026, 12, 31)]))
    assert actual == (*expected, datetime(2027, 1, 1).date())
    assert Month(2028, 2).last == datetime(2028, 2, 29).date()
    assert [str(december.shifted(n)) for n in (-12, -11, 1, 13)] == [
        "2025-12",
        "2026-01",
        "2027-01",
        "2028-01",
    ]


def test_p90_is_nearest_rank() -> None:
    """p90 is the value at rank ceil(0.9 n): the largest for n <= 9, the 9th of 10, 18th of 20."""
    values = [timedelta(seconds=n) for n in range(1, 21)]
    actual = {n: nearest_rank(values[:n], 90) for n in (1, 2, 5, 9, 10, 11, 20)}
    expected = {n: timedelta(seconds=s) for n, s in [(1, 1), (2, 2), (5, 5), (9, 9)]}
    expected |= {10: timedelta(seconds=9), 11: timedelta(seconds=10), 20: timedelta(seconds=18)}
    assert actual == expected
    assert nearest_rank([], 90) is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=60))
def test_p90_is_the_smallest_value_covering_90_percent(seconds: list[int]) -> None:
    """Nearest rank: at least 90% of the values are <= p90, and fewer are <= anything smaller."""
    values = [timedelta(seconds=s) for s in seconds]
    p90 = nearest_rank(values, 90)
    assert p90 in values
    assert 10 * sum(v <= p90 for v in values) >= 9 * len(values)
    assert 10 * sum(v < p90 for v in values) < 9 * len(values)


def test_median_is_the_middle_or_the_mean_of_the_two_middle_values() -> None:
    """Odd count: the middle value; even count: the mean of the two middle values."""
    s = [timedelta(seconds=n) for n in (40, 10, 30, 20)]
    assert (median(s[:3]), median(s), median([])) == (s[2], timedelta(seconds=25), None)


def test_working_days_count_as_the_policy_counts_its_terms() -> None:
    """From the ontvangstdag (not counted) to the day the answer counts as: the same day 0,
    after the cutoff the next working day, a holiday and a weekend skipped."""
    actual = [
        working_days_to(CALENDAR, R1, at(3, 1, 16, 59)),  # Mon before the cutoff: 0
        working_days_to(CALENDAR, R1, at(3, 1, 17, 0)),  # Mon at the cutoff: counts Tue
        working_days_to(CALENDAR, R3, at(3, 8, 18)),  # Fri 18:00 (R Mon 8) → Mon 18:00: 1
        working_days_to(CALENDAR, at(3, 25, 9), at(3, 30, 9)),  # Thu → Tue over Easter: 1
    ]
    assert actual == [0, 1, 1, 1]


# --- the figures of March 2027 ----------------------------------------------------------


def test_received_by_local_date_and_dispositions(march: Report) -> None:
    """10 messages of March by local date (not the UTC one), counted per disposition."""
    assert march.messages == 10
    assert dict(march.dispositions) == {
        "new_case": 6,
        "followup": 2,
        "staff_reply": 0,
        "unverified": 0,
        "auto_reply": 1,
        "bounce": 0,
        "loop": 0,
        "spam": 1,
        "duplicate": 0,
        "quarantined": 0,
    }
    actual = (march.cases, march.still_open, dict(march.sources), march.no_contact)
    assert actual == (6, 4, {"direct": 4, "relay": 2}, 1)


def test_times_to_acknowledgement_and_response(march: Report) -> None:
    """Ack 10..50 s (median 30 s, p90 50 s); responses 1, 2, 3, 8 d (2.5 d, 8 d); in working
    days 1, 1, 2, 6 (median 1.5, 9 in 10 within 6); two still waiting."""
    ack, response, days = march.acknowledgement, march.response, march.response_days
    assert (ack.count, ack.waiting, ack.median, ack.p90) == (5, 1, 30 * S, 50 * S)
    expected = (4, 2, timedelta(days=2, hours=12), 8 * D)
    assert (response.count, response.waiting, response.median, response.p90) == expected
    assert (days.count, days.waiting, days.median, days.p90) == (4, 2, 1.5, 6.0)


def test_promises_falling_due_in_march(march: Report) -> None:
    """Per promise: kept, missed, pending (paused), void (closed before due), share kept."""
    actual = [(p.clock, p.kept, p.missed, p.pending, p.void, p.share) for p in march.promises]
    assert actual == [
        ("ack_due", 5, 1, 0, 0, 5 / 6),
        ("response_due", 3, 2, 0, 1, 3 / 5),
        ("update_due", 5, 2, 1, 0, 5 / 7),
        ("resolve_due", 0, 0, 0, 0, None),
    ]
    assert march.kept_share == 13 / 18
    terms = [row[1] for row in tables(march, Words("en"))["promises"].rows]
    assert terms == [
        "within 1 working day",
        "within 5 working days",
        "every 10 working days",
        "within 60 days",
        "",
    ]


def test_weeks_of_march(march: Report) -> None:
    """Weeks 9-13 clipped to March: cases received, promises kept/missed by due week; week 13
    has 3 days in March and is partial."""
    actual = [
        (w.number, w.first.day, w.last.day, w.cases, w.kept, w.missed, w.partial)
        for w in march.weeks
    ]
    assert actual == [
        (9, 1, 7, 3, 2, 0, False),
        (10, 8, 14, 1, 3, 1, False),
        (11, 15, 21, 1, 5, 1, False),
        (12, 22, 28, 1, 3, 2, False),
        (13, 29, 31, 0, 0, 1, True),
    ]


def test_overdue_at_the_end_of_the_month(march: Report) -> None:
    """Unmet clocks past due at 1 Apr 00:00 (February's too), by due, working days late."""
    actual = [(o.case_id, o.clock, o.due, o.working_days_late) for o in march.overdue]
    assert actual == [
        ("MK-2027-0001", "response_due", due(2, 22), 25),
        ("MK-2027-0002", "update_due", due(3, 17), 8),
        ("MK-2027-0006", "ack_due", due(3, 23), 4),
        ("MK-2027-0005", "update_due", due(3, 25), 2),
        ("MK-2027-0006", "response_due", due(3, 31), 0),
    ]
    assert march.as_of == datetime(2027, 3, 31, 22, 0, tzinfo=UTC)


def test_rewards_of_the_cases_and_decisions_in_the_month(march: Report) -> None:
    """Rewards of March's cases by value; reward_changed events in March by new value."""
    assert dict(march.rewards) == {"undecided": 3, "yes": 1, "no": 1, "sent": 1}
    assert dict(march.reward_decisions) == {"yes": 2, "no": 1, "sent": 1}


def test_cases_closed_in_march(march: Report) -> None:
    """Four closings in March (0003 was reopened): resolved 0004 (13 d 18 h) and 0009
    (35 d 4 h), rejected 0010 (34 d 20 h), spam 0007 (23 h); all within 60 days."""
    actual = [(c.outcome, c.count, c.median, c.longest, c.in_time) for c in march.closed]
    assert actual == [
        ("resolved", 2, timedelta(days=24, hours=11), timedelta(days=35, hours=4), 2),
        ("closed", 0, None, None, 0),
        ("rejected", 1, timedelta(days=34, hours=20), timedelta(days=34, hours=20), 1),
        ("duplicate", 0, None, None, 0),
        ("spam", 1, 23 * H, 23 * H, 1),
        ("", 4, timedelta(days=24, hours=7), timedelta(days=35, hours=4), 4),
    ]
    assert march.closed_count == 4


def test_by_severity(march: Report) -> None:
    """New cases of March by severity now, and the closings of March by the same."""
    actual = [(s.severity, s.new, s.closed, s.median, s.in_time) for s in march.severities]
    assert actual == [
        ("critical", 1, 1, timedelta(days=13, hours=18), 1),
        ("high", 1, 1, timedelta(days=35, hours=4), 1),
        ("medium", 1, 0, None, 0),
        ("low", 0, 1, timedelta(days=34, hours=20), 1),
        ("", 3, 1, 23 * H, 1),
    ]


def test_a_case_closed_after_the_month_is_not_closed_in_it() -> None:
    """A closing after `as_of` does not count; nor one in another month."""
    rows = Rows(
        cases=(CaseRow("MK-2027-0002", "x", "resolved", R1, R1 + S),),
        events=(EventRow("MK-2027-0002", at(4, 1, 0, 30), "state_changed", "new → resolved"),),
    )
    report = build_report(rows, MARCH, CALENDAR, NOW)
    assert (report.closed_count, report.severities[-1].closed) == (0, 0)


def test_trend_of_twelve_months(march: Report) -> None:
    """Apr 2026 .. Mar 2027; intake began 3 Feb (no data before, February partial):
    February 3 reports, 5 of 6 promises kept, median 3 working days; March as its report."""
    actual = [
        (str(m.month), m.received, m.kept, m.missed, m.response_days, m.partial, m.no_data)
        for m in march.trend
    ]
    assert actual[:10] == [
        (str(Month(2026, 4).shifted(n)), 0, 0, 0, None, False, True) for n in range(10)
    ]
    assert actual[10:] == [
        ("2027-02", 3, 5, 1, 3.0, True, False),
        ("2027-03", 6, 13, 5, 1.5, False, False),
    ]


def test_trend_months_agree_with_their_own_reports(march: Report) -> None:
    """Each month of the trend shows what that month's own report shows."""
    for item in march.trend[-2:]:
        own = build_report(ROWS, item.month, CALENDAR, NOW)
        actual = (item.received, item.share, item.response_days)
        assert actual == (own.cases, own.kept_share, own.response_days.median)


def test_running_month_is_judged_as_of_now() -> None:
    """Within the month: a clock due after `now` is pending, not missed and not overdue;
    the month is partial in the trend."""
    rows = Rows(
        cases=(CaseRow("MK-2027-0002", "x", "acknowledged", R1, R1 + 10 * S),),
        clocks=(
            ClockRow("MK-2027-0002", "ack_due", due(3, 2), met_at=R1 + 10 * S),
            ClockRow("MK-2027-0002", "response_due", due(3, 8)),
        ),
    )
    before = build_report(rows, MARCH, CALENDAR, at(3, 8, 16, 59))
    after = build_report(rows, MARCH, CALENDAR, at(3, 8, 17, 1))
    assert [(p.missed, p.pending) for p in before.promises[:2]] == [(0, 0), (0, 1)]
    assert [(p.missed, p.pending) for p in after.promises[:2]] == [(0, 0), (1, 0)]
    assert (before.overdue, len(after.overdue), before.as_of) == ((), 1, at(3, 8, 16, 59))
    assert (before.running, before.trend[-1].partial) == (True, True)


def test_a_month_not_begun_is_refused() -> None:
    """A report of a month that starts after today is a ReportError naming the month."""
    with pytest.raises(ReportError, match="2027-05"):
        build_report(ROWS, Month(2027, 5), CALENDAR, NOW)


# --- output -------------------------------------------------------------------------------


def table_lines(text: str, title: str) -> list[str]:
    """The lines of the table under the heading `title` (and its rule), to an empty line."""
    lines = text.splitlines()
    start = lines.index(title) + 2
    return lines[start : lines.index("", start)]


def test_text_tables_are_aligned(march: Report) -> None:
    """Right-aligned numbers end under the end of their header; every line is one width."""
    text = render_text(march, "en")
    promises = table_lines(text, "Promises falling due this month")
    header = promises[0]
    for name in ("Kept", "Missed", "Not yet due", "Lapsed", "Kept %"):
        end = header.index(name) + len(name)
        assert [row[end - 1] != " " and row[end : end + 1] in ("", " ") for row in promises] == [
            True
        ] * len(promises)
    assert {len(line) for line in promises} == {len(header)}
    assert promises[-1].split() == ["All", "promises", "13", "5", "1", "1", "72%"]
    weeks = table_lines(text, "This month per week")
    assert [w.split() for w in weeks[1:3]] == [
        ["week", "9", "1\u20137", "Mar", "3", "2", "0", "100%"],
        ["week", "10", "8\u201314", "Mar", "1", "3", "1", "75%"],
    ]
    assert weeks[-1].split()[:5] == ["week", "13", "(3", "days", "only)"]


def test_dutch_text_in_plain_dutch_words(march: Report) -> None:
    """language nl: Dutch words, Dutch numbers ("1,5"), Dutch months; no English word of
    the list and no jargon or code (ISO week, p90, void, wd, new_case)."""
    text = render_text(march, "nl")
    assert text.splitlines()[1] == "Maandrapportage maart 2027"
    assert "Mediaan tot inhoudelijke reactie: 1,5 werkdagen" in text
    assert "nieuwe melding" in text and "Alle toezeggingen" in text
    assert [word for word in ENGLISH_WORDS if word in text] == []
    assert JARGON.findall(text) == []


def test_english_text_in_plain_english_words(march: Report) -> None:
    """language en: no Dutch word of the list and no jargon or code."""
    text = render_text(march, "en")
    assert [word for word in DUTCH_WORDS if word in text] == []
    assert JARGON.findall(text) == []
    assert "new report" in text and "set aside (quarantine)" in text


def test_text_keeps_control_characters_out() -> None:
    """A subject with a line break, a terminal escape and a lone surrogate prints as one
    harmless line."""
    rows = Rows(
        cases=(CaseRow("MK-2027-0002", "a\r\nFAKE\x1b[31m\udcff", "new", R1),),
        clocks=(ClockRow("MK-2027-0002", "ack_due", due(3, 2)),),
    )
    text = render_text(build_report(rows, MARCH, CALENDAR, NOW))
    assert "\x1b" not in text and "\r" not in text and "\udcff" not in text
    assert next(line for line in text.splitlines() if "FAKE" in line).endswith("a FAKE [31m\ufffd")


def parse(page: str) -> ET.Element:
    """The HTML page as an XML tree (it is well-formed XML)."""
    assert page.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))


def test_html_is_well_formed_with_two_svg_charts(march: Report) -> None:
    """The HTML parses as XML; the trend has bars for February (partial: pale and dashed)
    and March only, both charts a dashed target line at 100%, the response panel one at
    5 working days."""
    root = parse(render_html(march, "en"))
    assert (root.tag, root.get("lang")) == ("html", "en")
    trend, weeks = root.findall(".//svg")
    bars = [r for r in trend.findall("rect") if r.get("fill") != "#ffffff"]
    assert [(r.get("fill"), r.get("stroke-dasharray")) for r in bars] == [
        ("#dbe4f1", "4 3"),
        ("#5b7db1", None),
    ]
    targets = [
        ln for svg in (trend, weeks) for ln in svg.iter("line") if ln.get("stroke-dasharray")
    ]
    assert len(targets) == 3
    texts = [t.text for t in trend.iter("text")]
    assert {"partial", "target", "5", "72%", "83%", "1.5", "3"} <= set(texts)
    week_texts = [t.text for t in weeks.iter("text")]
    assert [t for t in week_texts if t and t.startswith("week")] == [
        f"week {n}" for n in (9, 10, 11, 12, 13)
    ] * 2
    assert "3 days only" in week_texts


def test_html_prints_on_a4_and_reads_on_a_phone(march: Report) -> None:
    """One <style> in the head: A4 pages, headers repeated, no row split; a narrow screen
    rule; every table has a <thead> and sits in a box that scrolls sideways."""
    root = parse(render_html(march))
    styles = root.findall(".//style")
    assert [s in root.find("head") for s in styles] == [True]  # type: ignore[operator]
    css = styles[0].text or ""
    for rule in (
        "size: A4",
        "thead { display: table-header-group; }",
        "break-inside: avoid",
        "max-width: 480px",
    ):
        assert rule in css
    data_tables = root.findall(".//table")
    assert [t.find("thead") is not None for t in data_tables] == [True] * len(data_tables)
    boxes = [d for d in root.iter("div") if d.get("class") == "scroll"]
    assert len(boxes) == len(data_tables) + 2  # and the two charts


def test_every_headline_figure_stands_in_a_table(march: Report) -> None:
    """Each value of the six tiles is also a cell of some table, in both languages."""
    for language in ("en", "nl"):
        root = parse(render_html(march, language))
        figures = [d.text for d in root.iter("div") if d.get("class") == "figure"]
        cells = {td.text for td in root.iter("td")}
        assert figures == [value for _, value in headline(march, Words(language))]
        assert [f for f in figures if f not in cells] == []


def test_html_has_no_script_no_url_no_external_resource(march: Report) -> None:
    """No <script>, no event handler, no href/src, no <link>/<img>, no http(s) anywhere."""
    page = render_html(march)
    root = parse(page)
    tags = {el.tag for el in root.iter()}
    assert tags.isdisjoint({"script", "link", "img", "iframe", "object", "a"})
    attributes = {name for el in root.iter() for name in el.attrib}
    assert [a for a in attributes if a.startswith("on") or a in ("href", "src")] == []
    assert ("http:" in page, "https:" in page, "url(" in page, "@import" in page) == (
        False,
        False,
        False,
        False,
    )


def test_hostile_subject_and_organisation_come_out_escaped(march: Report) -> None:
    """A subject `<script>alert(1)</script>` is text, in the page and in the chart's SVG."""
    page = render_html(march)
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;portaal&quot; &amp; co" in page
    assert "&lt;b&gt;Gemeente&lt;/b&gt; &amp; Co" in page
    cells = [el.text for el in parse(page).iter("td")]
    assert HOSTILE in cells


def test_html_in_dutch_without_english_or_jargon(march: Report) -> None:
    """The Dutch page: lang="nl", Dutch words only (of the lists), no jargon in its text."""
    root = parse(render_html(march, "nl"))
    text = " ".join(t for el in root.iter() for t in (el.text, el.tail) if t)
    assert root.get("lang") == "nl"
    assert [word for word in ENGLISH_WORDS if word in text] == []
    assert JARGON.findall(text) == []


def test_json_has_every_figure(march: Report) -> None:
    """The JSON: times ISO 8601 with offset, durations in seconds, shares as fractions."""
    data = json.loads(json.dumps(report_json(march)))
    assert (data["month"], data["messages"], data["cases"]) == ("2027-03", 10, 6)
    assert data["acknowledgement"] == {"count": 5, "waiting": 1, "median": 30.0, "p90": 50.0}
    assert data["response_days"] == {"count": 4, "waiting": 2, "median": 1.5, "p90": 6.0}
    assert data["as_of"] == "2027-03-31T22:00:00+00:00"
    assert data["promises"][0]["share"] == 5 / 6
    assert [data["promises"][1][k] for k in ("title", "term")] == [
        "Substantive response",
        "within 5 working days",
    ]
    assert [w["label"] for w in data["weeks"]] == ["W09", "W10", "W11", "W12", "W13"]
    assert data["overdue"][0]["due"] == "2027-02-22T17:00:00+01:00"
    assert data["closed"][-1] == {
        "outcome": "",
        "count": 4,
        "median": (24 * 24 + 7) * 3600.0,
        "longest": (35 * 24 + 4) * 3600.0,
        "in_time": 4,
    }
    assert data["trend"][-2] == {
        "month": "2027-02",
        "received": 3,
        "kept": 5,
        "missed": 1,
        "response_days": 3.0,
        "partial": True,
        "no_data": False,
        "share": 5 / 6,
    }
    assert data["weeks"][-1]["partial"] is True


# --- the store and the command line ---------------------------------------------------------

UTC_CASES = (
    # (id, received, severity, state, closed at)
    ("MK-2026-0009", datetime(2026, 10, 5, 9, 0, tzinfo=UTC), "low", "resolved", (3, 15)),
    ("MK-2027-0001", datetime(2027, 1, 11, 9, 0, tzinfo=UTC), None, "new", None),  # overdue
    ("MK-2027-0002", datetime(2027, 2, 28, 23, 30, tzinfo=UTC), None, "new", None),  # 1 Mar CET
    ("MK-2027-0003", datetime(2027, 3, 31, 22, 30, tzinfo=UTC), None, "new", None),  # 1 Apr
    ("MK-2027-0004", datetime(2027, 2, 10, 9, 0, tzinfo=UTC), "high", "resolved", (3, 12)),
    ("MK-2027-0005", datetime(2027, 3, 3, 9, 0, tzinfo=UTC), "critical", "resolved", (3, 31)),
    ("MK-2027-0006", datetime(2027, 3, 4, 9, 0, tzinfo=UTC), "high", "rejected", (4, 1)),
)


def fill_store(store: Store) -> None:
    """The cases of UTC_CASES with a message each (the October one first); the closed ones
    with their change of state at 21:30 UTC of the day given (31 Mar 21:30 UTC is 23:30
    CEST: March; 1 Apr 21:30 UTC is April). The October case has no clock at all: only
    its change of state brings it into the window."""
    with store.transaction():
        for seq, (case_id, received, severity, state, closed) in enumerate(UTC_CASES, start=1):
            case = Case(
                case_id,
                CaseState(state),
                HOSTILE,
                received,
                reporter_email="a@b.nl",
                severity=severity,
            )
            store.insert_case(case, received.year, seq, received)
            store.record_message(
                {
                    "message_id": f"m{seq}@b.nl",
                    "sha256": f"{seq:064d}",
                    "size": 10,
                    "subject": HOSTILE,
                    "received_at": received.isoformat(),
                    "disposition": "new_case",
                    "reason": "new report",
                    "case_id": case_id,
                    "recorded_at": received.isoformat(),
                },
                [],
            )
            if closed is not None:
                moment = datetime(2027, *closed, 21, 30, tzinfo=UTC)
                store.add_event(case_id, moment, "staff", "state_changed", f"new → {state}")
            elif case_id != "MK-2026-0009":
                store.start_clock(case_id, "ack_due", Deadline(received + D, ""), received)
        store.settle_clock("MK-2027-0002", "ack_due", UTC_CASES[2][1] + 3 * S, "ack@x")
        store.mark_missed(1, UTC_CASES[1][1] + D)


def test_store_rows_cut_by_local_date(tmp_path: Path) -> None:
    """read_rows + build_report: the case of 1 Mar 00:30 CET counts, 1 Apr 00:30 CEST not;
    January's unmet clock is overdue; closings of 12, 15 and 31 Mar (23:30 CEST) count,
    1 Apr's not; October's case is found by its change of state alone."""
    store = Store(tmp_path / "mailbot.db")
    fill_store(store)
    report = build_report(read_rows(store, MARCH, CALENDAR), MARCH, CALENDAR, NOW)
    store.close()
    assert (report.messages, report.cases) == (3, 3)
    assert [p.kept for p in report.promises] == [1, 0, 0, 0]
    assert [(o.case_id, o.clock) for o in report.overdue] == [("MK-2027-0001", "ack_due")]
    assert [(c.outcome, c.count) for c in report.closed if c.count] == [("resolved", 3), ("", 3)]
    actual = [(s.severity, s.new, s.closed) for s in report.severities]
    assert actual == [
        ("critical", 1, 1),
        ("high", 1, 1),
        ("medium", 0, 0),
        ("low", 0, 1),
        ("", 1, 0),
    ]
    trend = [(str(m.month), m.received, m.partial, m.no_data) for m in report.trend]
    assert trend[5:] == [
        ("2026-09", 0, False, True),
        ("2026-10", 1, True, False),
        ("2026-11", 0, False, False),
        ("2026-12", 0, False, False),
        ("2027-01", 1, False, False),
        ("2027-02", 1, False, False),
        ("2027-03", 3, False, False),
    ]


cli = partial(factories.mailbot, now=NOW.isoformat(), check=False)
"""`python -m mailbot --config cfg ARGS` with the clock at Mon 5 Apr 2027 09:00."""


def test_cli_report_text_html_json_and_a_bad_month(tmp_path: Path) -> None:
    """`report`: text in the identity's language (nl) on stdout, --language en, HTML to a
    0600 file, JSON alone on stdout, bad month exit 2."""
    cfg = write_config(tmp_path)
    store = Store(tmp_path / "mailbot.db")
    fill_store(store)
    store.close()
    bad = cli(cfg, "report", "--month", "2027-13")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "2027-13" in bad.stderr
    text = cli(cfg, "report", "--month", "2027-03")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[1] == "Maandrapportage maart 2027"
    english = cli(cfg, "report", "--month", "2027-03", "--language", "en")
    assert english.stdout.splitlines()[1] == "Monthly report March 2027"
    out = tmp_path / "march.html"
    written = cli(cfg, "report", "--month", "2027-03", "--format", "html", "--output", str(out))
    assert (written.returncode, written.stdout) == (0, f"report 2027-03 (html) written to {out}\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = out.read_text(encoding="utf-8")
    assert ('<html lang="nl">' in page, page.count("<svg")) == (True, 2)
    as_json = cli(cfg, "report", "--month", "2027-03", "--json")
    data = json.loads(as_json.stdout)
    assert (data["month"], data["cases"], data["organisation"]) == (
        "2027-03",
        3,
        "Gemeente Voorbeeld",
    )


def test_cli_report_follows_the_report_language(tmp_path: Path) -> None:
    """[report] language = "en" wins over [identity] language = "nl"."""
    cfg = write_config(tmp_path, report={"language": "en"})
    Store(tmp_path / "mailbot.db").close()
    result = cli(cfg, "report", "--month", "2027-03")
    assert (result.returncode, result.stdout.splitlines()[1]) == (0, "Monthly report March 2027")


def test_dates_in_dutch_are_cldr_dates() -> None:
    """Dutch month and day names come from CLDR (Babel), not from a table of our own."""
    w = Words("nl")
    actual = (
        w.month(MARCH),
        w.day(date(2027, 3, 1)),
        w.day_span(date(2027, 3, 1), date(2027, 3, 7)),
    )
    assert actual == ("maart 2027", "1 maart 2027", "1\u20137 mrt")

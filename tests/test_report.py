"""The monthly report: exact figures of a hand-made March 2027, and its text, HTML and CLI.

March 2027 in Europe/Amsterdam: Mon 1 Mar is ISO week 9; Fri 26 Mar (Goede vrijdag) and
Mon 29 Mar (Tweede paasdag) are closed, so the month has 21 working days; summer time
starts Sun 28 Mar. The report is made on Mon 5 Apr 09:00, so deadlines are judged as of
Thu 1 Apr 00:00 CEST (2027-03-31T22:00Z).

Six cases are received in March (MK-2027-0002..0007); MK-2027-0001 (February) and
MK-2027-0008 (1 Apr 00:30 CEST, which is still 31 Mar in UTC) are not. Every due below was
worked out by hand from DESIGN.md §5 (see the comments), not by running the calendar.
"""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
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
    median,
    nearest_rank,
    parse_month,
    read_rows,
)
from mailbot.report.html import render_html
from mailbot.report.render import render_text, report_json
from mailbot.report.rows import CaseRow, ClockRow, EventRow, MessageRow, Month, Rows
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
D = timedelta(days=1)

R1, R2, R3 = at(3, 1, 0, 30), at(3, 2, 10), at(3, 5, 18)  # Mon 00:30, Tue 10:00, Fri 18:00
R4, R5, R6 = at(3, 10, 9), at(3, 22, 9), at(3, 18, 10)  # Wed, Mon, Thu

CASES = (
    CaseRow("MK-2027-0001", "February", "acknowledged", at(2, 15, 10), at(2, 15, 10, 0, 5)),
    CaseRow("MK-2027-0002", HOSTILE, "acknowledged", R1, R1 + 10 * S, reward="yes"),
    CaseRow("MK-2027-0003", "Portaal", "investigating", R2, R2 + 20 * S, waiting=True),
    CaseRow("MK-2027-0004", "Relayed", "resolved", R3, R3 + 30 * S, source="relay", reward="sent"),
    CaseRow("MK-2027-0005", "Open bucket", "confirmed", R4, R4 + 40 * S, reward="no"),
    CaseRow("MK-2027-0006", "No contact", "new", R5, None, source="relay", flags=("no_contact",)),
    CaseRow("MK-2027-0007", "Spam", "spam", R6, R6 + 50 * S),
    CaseRow("MK-2027-0008", "April", "acknowledged", at(4, 1, 0, 30), at(4, 1, 0, 30, 5)),
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
    """parse_month gives the month; first, last and next_first across a year end."""
    december = parse_month("2026-12")
    actual = (str(december), december.first, december.last, december.next_first)
    expected = ("2026-12", *(datetime(*d).date() for d in [(2026, 12, 1), (2026, 12, 31)]))
    assert actual == (*expected, datetime(2027, 1, 1).date())
    assert Month(2028, 2).last == datetime(2028, 2, 29).date()


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
    """Ack 10..50 s (median 30 s, p90 50 s); responses 1, 2, 3, 8 d (2.5 d, 8 d); late counts."""
    ack, response = march.acknowledgement, march.response
    assert (ack.count, ack.waiting, ack.median, ack.p90) == (5, 1, 30 * S, 50 * S)
    expected = (4, 2, timedelta(days=2, hours=12), 8 * D)
    assert (response.count, response.waiting, response.median, response.p90) == expected


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
    terms = [p.term for p in march.promises]
    assert terms == [
        "within 1 working day",
        "within 5 working days",
        "every 10 working days",
        "within 60 days",
    ]


def test_weeks_of_march(march: Report) -> None:
    """ISO weeks 9-13 clipped to March: cases received, promises kept/missed by due week."""
    actual = [(w.label, w.first.day, w.last.day, w.cases, w.kept, w.missed) for w in march.weeks]
    assert actual == [
        ("W09", 1, 7, 3, 2, 0),
        ("W10", 8, 14, 1, 3, 1),
        ("W11", 15, 21, 1, 5, 1),
        ("W12", 22, 28, 1, 3, 2),
        ("W13", 29, 31, 0, 0, 1),
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


def test_running_month_is_judged_as_of_now() -> None:
    """Within the month: a clock due after `now` is pending, not missed and not overdue."""
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


def test_a_month_not_begun_is_refused() -> None:
    """A report of a month that starts after today is a ReportError naming the month."""
    with pytest.raises(ReportError, match="2027-05"):
        build_report(ROWS, Month(2027, 5), CALENDAR, NOW)


# --- output -------------------------------------------------------------------------------


def table_lines(text: str, title: str) -> list[str]:
    """The lines of the table that follows the line `title`, up to the next empty line."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    return lines[start : lines.index("", start)]


def test_text_tables_are_aligned(march: Report) -> None:
    """Right-aligned numbers end under the end of their header; every line is one width."""
    text = render_text(march)
    promises = table_lines(text, "Promises falling due in the month")
    header = promises[0]
    for name in ("KEPT", "MISSED", "PENDING", "VOID", "KEPT %"):
        end = header.index(name) + len(name)
        assert [row[end - 1] != " " and row[end : end + 1] in ("", " ") for row in promises] == [
            True
        ] * len(promises)
    assert {len(line) for line in promises} == {len(header)}
    assert promises[-1].split() == ["All", "promises", "13", "5", "1", "1", "72%"]
    weeks = table_lines(text, "Per ISO week (cases received; promises falling due)")
    assert [w.split() for w in weeks[1:3]] == [
        ["W09", "1\u20137", "Mar", "3", "2", "0", "100%"],
        ["W10", "8\u201314", "Mar", "1", "3", "1", "75%"],
    ]


def test_text_keeps_control_characters_out() -> None:
    """A subject with a line break and a terminal escape prints as one harmless line."""
    rows = Rows(
        cases=(CaseRow("MK-2027-0002", "a\r\nFAKE\x1b[31m", "new", R1),),
        clocks=(ClockRow("MK-2027-0002", "ack_due", due(3, 2)),),
    )
    text = render_text(build_report(rows, MARCH, CALENDAR, NOW))
    assert "\x1b" not in text and "\r" not in text
    assert next(line for line in text.splitlines() if "FAKE" in line).endswith("a FAKE [31m")


def test_html_is_well_formed_with_an_svg_chart(march: Report) -> None:
    """The HTML parses as XML; the SVG has one bar per week, 5 points and one line."""
    page = render_html(march)
    assert page.startswith("<!DOCTYPE html>\n")
    root = ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))
    assert root.tag == "html"
    svgs = root.findall(".//svg")
    assert len(svgs) == 1
    svg = svgs[0]
    assert ET.fromstring(ET.tostring(svg)).tag == "svg"  # the SVG part on its own
    assert len(svg.findall("rect")) == 1 + len(march.weeks)
    assert len(svg.findall("circle")) == 5
    assert len(svg.findall("polyline")) == 1
    texts = [t.text for t in svg.iter("text")]
    assert [t for t in texts if t and t.startswith("W")] == ["W09", "W10", "W11", "W12", "W13"]
    assert {"100%", "75%", "83%", "60%", "0%"} <= set(texts)


def test_html_has_no_script_no_url_no_external_resource(march: Report) -> None:
    """No <script>, no event handler, no href/src, no <style>/<link>, no http(s) anywhere."""
    page = render_html(march)
    root = ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))
    tags = {el.tag for el in root.iter()}
    assert tags.isdisjoint({"script", "style", "link", "img", "iframe", "object", "a"})
    attributes = {name for el in root.iter() for name in el.attrib}
    assert [a for a in attributes if a.startswith("on") or a in ("href", "src")] == []
    assert ("http:" in page, "https:" in page, "url(" in page) == (False, False, False)


def test_hostile_subject_and_organisation_come_out_escaped(march: Report) -> None:
    """A subject `<script>alert(1)</script>` is text, in the page and in the chart's SVG."""
    page = render_html(march)
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;portaal&quot; &amp; co" in page
    assert "&lt;b&gt;Gemeente&lt;/b&gt; &amp; Co" in page
    root = ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))
    cells = [el.text for el in root.iter("td")]
    assert HOSTILE in cells


def test_json_has_every_figure(march: Report) -> None:
    """The JSON: times ISO 8601 with offset, durations in seconds, shares as fractions."""
    data = json.loads(json.dumps(report_json(march)))
    assert (data["month"], data["messages"], data["cases"]) == ("2027-03", 10, 6)
    assert data["acknowledgement"] == {"count": 5, "waiting": 1, "median": 30.0, "p90": 50.0}
    assert data["as_of"] == "2027-03-31T22:00:00+00:00"
    assert data["promises"][0]["share"] == 5 / 6
    assert data["overdue"][0]["due"] == "2027-02-22T17:00:00+01:00"


# --- the store and the command line ---------------------------------------------------------


def fill_store(store: Store) -> None:
    """Three cases around the March/April and February/March boundaries, and an old clock."""
    cases = [
        ("MK-2027-0001", datetime(2027, 1, 11, 9, 0, tzinfo=UTC)),  # January: overdue
        ("MK-2027-0002", datetime(2027, 2, 28, 23, 30, tzinfo=UTC)),  # 1 Mar 00:30 CET
        ("MK-2027-0003", datetime(2027, 3, 31, 22, 30, tzinfo=UTC)),  # 1 Apr 00:30 CEST
    ]
    with store.transaction():
        for seq, (case_id, received) in enumerate(cases, start=1):
            case = Case(case_id, CaseState.NEW, HOSTILE, received, reporter_email="a@b.nl")
            store.insert_case(case, 2027, seq, received)
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
            store.start_clock(case_id, "ack_due", Deadline(received + D, ""), received)
        store.settle_clock("MK-2027-0002", "ack_due", cases[1][1] + 3 * S, "ack@x")
        store.mark_missed(1, cases[0][1] + D)


def test_store_rows_cut_by_local_date(tmp_path: Path) -> None:
    """read_rows + build_report: the case of 1 Mar 00:30 CET counts, 1 Apr 00:30 CEST not;
    January's unmet clock is overdue."""
    store = Store(tmp_path / "mailbot.db")
    fill_store(store)
    report = build_report(read_rows(store, MARCH, CALENDAR), MARCH, CALENDAR, NOW)
    store.close()
    assert (report.messages, report.cases) == (1, 1)
    assert [p.kept for p in report.promises] == [1, 0, 0, 0]
    assert [(o.case_id, o.clock) for o in report.overdue] == [("MK-2027-0001", "ack_due")]


cli = partial(factories.mailbot, now=NOW.isoformat(), check=False)
"""`python -m mailbot --config cfg ARGS` with the clock at Mon 5 Apr 2027 09:00."""


def test_cli_report_text_html_json_and_a_bad_month(tmp_path: Path) -> None:
    """`report`: text on stdout, HTML to a 0600 file, JSON alone on stdout, bad month exit 2."""
    cfg = write_config(tmp_path)
    store = Store(tmp_path / "mailbot.db")
    fill_store(store)
    store.close()
    bad = cli(cfg, "report", "--month", "2027-13")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "2027-13" in bad.stderr
    text = cli(cfg, "report", "--month", "2027-03")
    assert text.returncode == 0, text.stderr
    assert "Monthly report March 2027" in text.stdout
    out = tmp_path / "march.html"
    written = cli(cfg, "report", "--month", "2027-03", "--format", "html", "--output", str(out))
    assert (written.returncode, written.stdout) == (0, f"report 2027-03 (html) written to {out}\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "<svg" in out.read_text(encoding="utf-8")
    as_json = cli(cfg, "report", "--month", "2027-03", "--json")
    data = json.loads(as_json.stdout)
    assert (data["month"], data["cases"], data["organisation"]) == (
        "2027-03",
        1,
        "Gemeente Voorbeeld",
    )

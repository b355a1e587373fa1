"""The monthly report's triage figures (issue 18, item 5): how many reports arrived
incomplete, were related to another report, matched a known finding or demanded a reward
or threatened, and how many working days each kind waited for its substantive response."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from factories import PASS, STAFF, Desk, triage_desk
from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.models import Disposition
from mailbot.core.workdays import make_calendar
from mailbot.report.figures import Report, build_report, report_of
from mailbot.report.measures import DayCounts
from mailbot.report.render import render_text, report_json
from mailbot.report.rows import CaseRow, ClockRow, EventRow, Month, Rows
from mailbot.report.triage import KINDS
from mailbot.shell.pipeline import calendar_for

DECEMBER = Month(2026, 12)
AFTER = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
"""When the December report is made (Mon 4 Jan 2027)."""

GENUINE = (
    "Beste meldpunt,\n\nOp https://portaal.gemeente.example/aanvraag?id=1234 kan ik door het "
    "id te verhogen de aanvraag (naam, adres) van andere inwoners inzien. Stappen: log in, "
    "open uw aanvraag en verander id=1234 in id=1235. Ik heb niets opgeslagen.\n\nGroet, Jan"
)
SCANNER = (
    "Hello, our scanner found that https://portal.gemeente.example/login can be framed by "
    "any site (no X-Frame-Options or frame-ancestors header). This allows clickjacking. "
    "Please fix it. Regards, {name}"
)
NO_SYSTEM = (
    "Goedemiddag,\n\nIk heb op een van uw websites een ernstige kwetsbaarheid gevonden "
    "waarmee persoonsgegevens van inwoners kunnen worden ingezien.\n\nGroet,\nPiet"
)
DEMAND = (
    "Goedendag, ik heb een ernstig lek gevonden. Betaal eerst 500 euro, dan stuur ik de details."
)


def on_day(desk: Desk, days: int) -> None:
    """The desk's next mail arrives `days` days after Mon 21 Dec 2026 10:00 (a minute on)."""
    desk.count = max(desk.count, days * 24 * 60)


def staff(desk: Desk, case: int, body: str) -> Disposition:
    """An authenticated staff mail on case MK-2026-000<case>."""
    subject = f"RE: [MK-2026-{case:04d}] Nieuwe melding"
    return desk.send(f"Petra <{STAFF}>", subject, body, f"Authentication-Results: {PASS}")


@pytest.fixture(scope="module")
def december(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    """December 2026 at a triage desk, every step through the real pipeline (Maildir, SQLite):

    Mon 21 Dec: 1 a genuine report; 2 and 3 the same clickjacking finding from two scanners
    (a known finding, related to each other); 4 a report without any system; 5 a reward
    demand without a system. Staff answer 2 with `Reply: clickjacking` the same day (0
    working days), 3 with `Reply:` and `Close: duplicate` on Tue 22 (1); the reporter of 4
    names the URL on Tue 22; staff answer 1 on Wed 23 (2) and 4 on Thu 24 (3); 5 waits.
    """
    desk = triage_desk(tmp_path_factory.mktemp("desk"))
    reports = [
        ("jan@example.nl", "Lek in portaal", GENUINE),
        ("a@scan.example", "Clickjacking", SCANNER.format(name="A")),
        ("b@scan.example", "Clickjacking found", SCANNER.format(name="B")),
        ("piet@example.nl", "Lek in uw website", NO_SYSTEM),
        ("geld@example.nl", "Lek", DEMAND),
    ]
    for sender, subject, body in reports:
        assert desk.send(sender, subject, body) == Disposition.NEW_CASE
    assert staff(desk, 2, "Reply: clickjacking") == Disposition.STAFF_REPLY
    on_day(desk, 1)
    assert staff(desk, 3, "Reply: clickjacking\nClose: duplicate MK-2026-0002") == (
        Disposition.STAFF_REPLY
    )
    url = "Het gaat om https://inwoners.gemeente.example/profiel."
    assert desk.send("piet@example.nl", "Re: [MK-2026-0004] Lek", url) == Disposition.FOLLOWUP
    on_day(desk, 2)
    assert staff(desk, 1, "Dank u, wij hebben het lek bevestigd.") == Disposition.STAFF_REPLY
    on_day(desk, 3)
    assert staff(desk, 4, "Dank u, wij onderzoeken het.") == Disposition.STAFF_REPLY
    calendar = calendar_for(desk.settings)
    yield report_of(desk.service.store, desk.settings, calendar, DECEMBER, AFTER)
    desk.service.close()


def _days(days: DayCounts) -> tuple[int, float | None, float | None, int]:
    return (days.count, days.median, days.p90, days.waiting)


def test_each_kind_counted_with_its_working_days(december: Report) -> None:
    """Per kind: reports, answered, median and 9-in-10 working days, waiting, completed."""
    actual = [(t.kind, t.reports, *_days(t.response), t.completed) for t in december.triage]
    assert actual == [
        ("incomplete", 2, 1, 3.0, 3.0, 1, 1),
        ("related", 2, 2, 0.5, 1.0, 0, 0),
        ("known_finding", 2, 2, 0.5, 1.0, 0, 0),
        ("claim", 1, 0, None, None, 1, 0),
        ("other", 1, 1, 2.0, 2.0, 0, 0),
        ("", 5, 4, 1.5, 3.0, 1, 0),
    ]


def test_all_reports_line_is_the_months_response_figure(december: Report) -> None:
    """The "all reports" line is the response figure of the times table."""
    assert december.triage[-1].response == december.response_days


def test_text_table_in_english_and_dutch(december: Report) -> None:
    """The text report has the table under its heading, in each language's words."""
    english = render_text(december, "en").splitlines()
    start = english.index("Kinds of report and time to substantive response")
    table = english[start + 2 : start + 9]
    cells = [re.split(r"\s{2,}", line) for line in table]
    assert cells[0][0] == "Kind of report"
    assert cells[1] == [
        "Incomplete on arrival (1 completed later)",
        "2",
        "1",
        "3 working days",
        "3 working days",
        "1",
    ]
    assert cells[-1] == ["All reports", "5", "4", "1.5 working days", "3 working days", "1"]
    dutch = render_text(december, "nl")
    assert "Onvolledig binnengekomen (1 later aangevuld)" in dutch
    assert "Eist beloning of dreigt" in dutch


def test_json_has_the_triage_lines(december: Report) -> None:
    """The JSON lists each kind with its counts and working days as numbers."""
    data = json.loads(json.dumps(report_json(december)))
    assert data["triage"][0] == {
        "kind": "incomplete",
        "reports": 2,
        "response": {"count": 1, "waiting": 1, "median": 3.0, "p90": 3.0},
        "completed": 1,
    }
    assert [line["kind"] for line in data["triage"]] == [*KINDS, ""]


# --- the definitions, over any mix of kinds --------------------------------------------------

CALENDAR = make_calendar()
MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

TRIAGE = st.fixed_dictionaries(
    {
        "arrived_incomplete": st.booleans(),
        "still_missing": st.booleans(),
        "related": st.booleans(),
        "known": st.booleans(),
        "flags": st.sampled_from([(), ("reward_demand",), ("threat",), ("no_contact",)]),
        "answered_after": st.none() | st.integers(0, 9),
    }
)


def case_rows(n: int, triage: dict[str, object]) -> tuple[CaseRow, list[ClockRow], list[EventRow]]:
    """Case n of March 2027 with the drawn triage, answered after so many days (or not)."""
    case_id = f"MK-2027-{n:04d}"
    received = MONDAY + timedelta(hours=n)
    missing = ("system",) if triage["arrived_incomplete"] and triage["still_missing"] else ()
    events = [EventRow(case_id, received, "missing_set", "system")]
    after = triage["answered_after"]
    met = received + timedelta(days=after) if isinstance(after, int) else None
    clock = ClockRow(case_id, "response_due", received + timedelta(days=7), met_at=met)
    case = CaseRow(
        case_id,
        "Melding",
        "acknowledged",
        received,
        flags=triage["flags"],  # type: ignore[arg-type]
        missing=missing,
        related=("MK-2027-0999",) if triage["related"] else (),
        known_finding="dmarc" if triage["known"] else None,
    )
    return case, [clock], events if triage["arrived_incomplete"] else []


@given(st.lists(TRIAGE, max_size=12))
def test_each_case_counts_in_every_kind_it_is_and_other_in_none(
    drawn: list[dict[str, object]],
) -> None:
    """A case counts once in each kind it is; "other" holds exactly the cases of no kind;
    each line's answered and waiting add up to its reports."""
    made = [case_rows(n, t) for n, t in enumerate(drawn, 1)]
    rows = Rows(
        tuple(c for c, _, _ in made),
        (),
        tuple(k for _, ks, _ in made for k in ks),
        tuple(e for _, _, es in made for e in es),
    )
    report = build_report(rows, Month(2027, 3), CALENDAR, datetime(2027, 4, 5, tzinfo=UTC))
    kinds = [
        {
            "incomplete": bool(t["arrived_incomplete"]),
            "related": bool(t["related"]),
            "known_finding": bool(t["known"]),
            "claim": t["flags"] in (("reward_demand",), ("threat",)),
        }
        for t in drawn
    ]
    expected = {kind: sum(k[kind] for k in kinds) for kind in kinds[0]} if kinds else {}
    expected["other"] = sum(not any(k.values()) for k in kinds)
    completed = sum(bool(t["arrived_incomplete"] and not t["still_missing"]) for t in drawn)
    lines = {t.kind: t for t in report.triage}
    assert {kind: lines[kind].reports for kind in expected} == expected
    assert (lines["incomplete"].completed, lines[""].reports) == (completed, len(drawn))
    for line in report.triage:
        assert line.response.count + line.response.waiting == line.reports


def test_a_month_without_reports_has_zero_lines() -> None:
    """An empty month: every kind listed with zero reports and no working days."""
    report = build_report(Rows(), Month(2027, 3), CALENDAR, datetime(2027, 4, 5, tzinfo=UTC))
    empty = DayCounts(0, 0, None, None)
    assert [(t.kind, t.reports, t.response) for t in report.triage] == [
        (kind, 0, empty) for kind in (*KINDS, "")
    ]

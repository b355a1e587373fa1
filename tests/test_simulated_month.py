"""A simulated month of the deadline scheduler, end to end (DESIGN.md §5).

One Service (Maildir in, Maildir out, real SQLite, ManualClock) runs from Mon 7 Dec 2026
08:00 to Fri 8 Jan 2027 18:00 local with closure days 24 and 28-31 Dec 2026, so the office
is closed Thu 24 Dec to Sun 3 Jan. 20 reports arrive at chosen moments (after the cutoff,
on a Friday night, in a weekend, on 23 Dec before and after the cutoff, on a closure day,
in 2027); staff "answer" some in time and some late by settling response_due in the store
(the way the future staff reply will), one case waits for the reporter, one is answered by
a real relayed mail through the outbox, one relayed report has no contact (no ack).

The clock steps every 5 minutes through the whole window (9,337 steps, every receipt and
staff action on the grid); each step runs intake (when mail arrived), the staff actions,
tick() and deliver(), all inside one asyncio.run so the transport is reused. The store runs
with synchronous=NORMAL (no fsync per commit; nothing crashes here), which with the ticker
reading its open clocks once keeps the month at ~10 s on a loaded 2-core VM (~26 s before).

In the middle (Tue 15 Dec 08:30, after the tick queued that morning's notices and before
they were delivered) the first Service is closed and a second one continues on the same
database and Maildirs. At 08:30 every day the tick runs twice; the second queues 0.

The expected notices were worked out by hand from the rules (reminders for a 17:00 due:
"due tomorrow"/"due next working day" 08:30 the working day before for response_due,
"due today" 08:30 and "due in 2 working hours" 15:00 on the day; a missed clock is
named, numbered by working day, in the one escalation mail of 08:30 on every working day
after the due, each with a key and an event of its own), not by running the scheduler.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import factories
import pytest
from factories import queue_relay

from mailbot.core import config
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.store import Store
from mailbot.store.rows import OutboxEntry

pytestmark = pytest.mark.slow

AMS = ZoneInfo("Europe/Amsterdam")
CLOSURE_DAYS = (date(2026, 12, 24), *(date(2026, 12, d) for d in range(28, 32)))
STEP = timedelta(minutes=5)
NOTIFY = ["security@gemeente.example"]
ESCALATE = ["ciso@gemeente.example"]

#: The working days of the window, by hand: 24-25 Dec closure/Christmas, 26-27 weekend,
#: 28-31 Dec closure, 1 Jan Nieuwjaarsdag, 2-3 Jan weekend.
WORKING_DAYS = (
    *(date(2026, 12, d) for d in (7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 21, 22, 23)),
    *(date(2027, 1, d) for d in (4, 5, 6, 7, 8)),
)


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Amsterdam; December is 2026, January 2027."""
    return datetime(2026 if month == 12 else 2027, month, day, hour, minute, tzinfo=AMS)


START = local(12, 7, 8, 0)
END = local(1, 8, 18, 0)
RESTART = local(12, 15, 8, 30)


@dataclass(frozen=True)
class Report:
    """One report: the case id it must get, when it arrives, who sends it."""

    case_id: str
    received: datetime
    sender: str
    body: str = "Op https://portaal.gemeente.example/login zit een XSS. Groet."


def _direct(n: int, received: datetime) -> Report:
    year = received.year
    seq = n if year == 2026 else n - 18
    return Report(f"MK-{year}-{seq:04d}", received, f"Melder {n} <melder{n:02d}@example.nl>")


# Case: receipt (local) → ontvangstdag R; ack due; response due; update due (from the ack).
REPORTS = (
    _direct(1, local(12, 7, 8, 10)),  # R Mon 7; resp Mon 14; upd Mon 21
    _direct(2, local(12, 7, 10, 0)),  # R Mon 7; resp Mon 14; upd Mon 21
    _direct(3, local(12, 7, 17, 30)),  # after cutoff: R Tue 8; resp Tue 15; upd Tue 22
    _direct(4, local(12, 8, 14, 0)),  # R Tue 8; resp Tue 15; upd Tue 22 (paused: waiting)
    Report(  # relayed, no contact: no ack; ack Thu 10; resp Wed 16; no update clock
        "MK-2026-0005",
        local(12, 9, 9, 15),
        "Meldpunt VNG <meldpunt@vng.example>",
        "Doorgestuurde melding zonder contactgegevens: open map op https://archief.gemeente.example",
    ),
    _direct(6, local(12, 11, 22, 40)),  # Friday night: R Mon 14; resp Mon 21; upd Wed 6 Jan
    _direct(7, local(12, 12, 11, 0)),  # Saturday: R Mon 14; resp Mon 21; upd Wed 6 Jan (kept)
    _direct(8, local(12, 14, 16, 55)),  # R Mon 14; resp Mon 21; upd Wed 6 Jan
    _direct(9, local(12, 14, 17, 0)),  # at the cutoff: R Tue 15; resp Tue 22; upd Thu 7 Jan
    _direct(10, local(12, 15, 11, 0)),  # R Tue 15; resp Tue 22; upd Thu 7 Jan (restarted)
    _direct(11, local(12, 16, 19, 0)),  # R Thu 17; resp Mon 4 Jan; upd Mon 11 Jan
    _direct(12, local(12, 17, 12, 0)),  # R Thu 17; resp Mon 4 Jan; upd Mon 11 Jan
    _direct(13, local(12, 18, 9, 0)),  # R Fri 18; resp Tue 5 Jan; upd Tue 12 Jan
    _direct(14, local(12, 21, 10, 0)),  # across Christmas: R Mon 21; resp Wed 6 Jan
    _direct(15, local(12, 22, 16, 0)),  # R Tue 22; ack Wed 23; resp Thu 7 Jan
    _direct(16, local(12, 23, 11, 0)),  # R Wed 23; ack Mon 4 Jan; resp Fri 8 Jan
    _direct(17, local(12, 23, 18, 30)),  # 23 Dec evening: R Mon 4 Jan; resp Mon 11 Jan
    _direct(18, local(12, 24, 10, 0)),  # closure day: R Mon 4 Jan; resp Mon 11 Jan
    _direct(19, local(1, 2, 10, 0)),  # Saturday 2 Jan 2027: MK-2027-0001, R Mon 4 Jan
    _direct(20, local(1, 5, 9, 0)),  # MK-2027-0002: R Tue 5 Jan; resp Tue 12 Jan
)

#: Staff actions: ("answer", case) settles response_due in the store; ("relay", case)
#: sends a real relayed staff reply through the outbox; ("wait", case) sets waiting.
ACTIONS: dict[datetime, list[tuple[str, str]]] = {
    local(12, 10, 9, 0): [("wait", "MK-2026-0004")],
    local(12, 10, 11, 0): [("answer", "MK-2026-0003")],  # due Tue 15: in time
    local(12, 14, 10, 0): [("answer", "MK-2026-0001")],  # due Mon 14 17:00: in time
    local(12, 14, 11, 0): [("relay", "MK-2026-0007")],  # due Mon 21: in time, same start day
    local(12, 14, 16, 0): [("answer", "MK-2026-0004")],  # due Tue 15: in time
    local(12, 16, 10, 0): [("answer", "MK-2026-0002")],  # due Mon 14: late
    local(12, 18, 12, 0): [("answer", "MK-2026-0008")],  # due Mon 21: in time
    local(12, 22, 10, 0): [("relay", "MK-2026-0010")],  # due Tue 22: in time
    local(12, 23, 14, 0): [("answer", "MK-2026-0012")],  # due Mon 4 Jan: in time
    local(1, 5, 11, 0): [("answer", "MK-2026-0011")],  # due Mon 4 Jan: late
    local(1, 7, 9, 0): [("answer", "MK-2026-0015")],  # due Thu 7 Jan: in time
}


def raw_report(report: Report, n: int) -> bytes:
    """The report as an MTA delivers it."""
    message_id = f"<month-{n}@example.nl>"
    subject = f"Kwetsbaarheid nummer {n}"
    return factories.report(
        None, report.sender, message_id, report.body, name="", subject=subject, mime_version=True
    )


def steps() -> Iterator[datetime]:
    """Every 5 minutes from START to END (UTC moments)."""
    moment = START.astimezone(UTC)
    while moment <= END:
        yield moment
        moment += STEP


# --- the simulation ------------------------------------------------------------------


@dataclass
class Month:
    """What the simulated month left behind (read after both services closed)."""

    notices: list[dict[str, Any]]
    outbox: list[OutboxEntry]
    clocks: list[dict[str, Any]]
    events: list[dict[str, Any]]
    cases: dict[str, Any]
    second_ticks: dict[datetime, int]
    queued_at_restart: int
    delivered_after_restart: int
    files: int
    steps: int


def _service(settings: config.Settings, clock: ManualClock, base: Path) -> Service:
    store = Store(settings.database.path)
    store.db.execute("PRAGMA synchronous=NORMAL")  # no fsync per commit: no crash here
    return factories.maildir_service(base, settings, clock, store=store)


def _act(service: Service, settings: config.Settings, kind: str, case_id: str) -> None:
    store = service.outbox.store
    now = service.clock.now()
    case = store.case(case_id)
    assert case is not None
    with store.transaction():
        if kind == "answer":
            store.settle_clock(case_id, "response_due", now, f"answer.{case_id}@gemeente.example")
        elif kind == "wait":
            store.update_case(replace(case, waiting=True), now)
        else:
            body = "Dank voor uw melding. We hebben het lek bevestigd en dichten het."
            queue_relay(store, settings, case, body, "staffreply1", now)


async def _simulate(base: Path) -> Month:
    plain = config.embedded(base)
    settings = replace(plain, deadlines=replace(plain.deadlines, closure_days=CLOSURE_DAYS))
    clock = ManualClock(START)
    service = _service(settings, clock, base)
    arrivals = {r.received.astimezone(UTC): (n, r) for n, r in enumerate(REPORTS, start=1)}
    actions = {k.astimezone(UTC): v for k, v in ACTIONS.items()}
    second: dict[datetime, int] = {}
    queued_at_restart = delivered_after_restart = count = 0
    for moment in steps():
        count += 1
        clock.set(moment)
        if moment in arrivals:
            n, report = arrivals[moment]
            deliver_to_maildir(base / "inbox", raw_report(report, n), moment)
            service.intake()
        for kind, case_id in actions.get(moment, []):
            _act(service, settings, kind, case_id)
        queued = service.tick()
        if moment == RESTART:
            queued_at_restart = queued
            service.close()
            service = _service(settings, clock, base)
        if moment.astimezone(AMS).time() == time(8, 30):
            second[moment] = service.tick()
        counts = await service.deliver()
        if moment == RESTART:
            delivered_after_restart = counts.sent
    store = service.store
    month = Month(
        notices=[dict(r) for r in store.db.query("SELECT * FROM notices ORDER BY sent_at, key")],
        outbox=store.outbox_all(),
        clocks=[dict(r) for r in store.db.query("SELECT * FROM clocks ORDER BY id")],
        events=[dict(r) for r in store.db.query("SELECT * FROM events ORDER BY id")],
        cases={c.id: c for c in store.cases(include_closed=True)},
        second_ticks=second,
        queued_at_restart=queued_at_restart,
        delivered_after_restart=delivered_after_restart,
        files=len(list((base / "outbox" / "new").iterdir())),
        steps=count,
    )
    service.close()
    assert set(arrivals) | set(actions) <= set(steps())  # every event was on the grid
    return month


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    """The month, simulated once for all tests of this module."""
    return asyncio.run(_simulate(tmp_path_factory.mktemp("month")))


# --- helpers for the expectations ----------------------------------------------------


def at(moment: datetime | str) -> str:
    """A stored or aware moment as local 'YYYY-MM-DD HH:MM'."""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{value.astimezone(AMS):%Y-%m-%d %H:%M}"


Row = tuple[str, str, str, str, str]  # kind, clock, key suffix, label, local moment


def sent_for(month: Month, case_id: str) -> list[Row]:
    """(kind, clock, key suffix, label, local send moment) of the case's notices, in order."""
    labels = {
        (e["at"], e["kind"], e["detail"].split(": ", 1)[0]): e["detail"].split(": ", 1)[1]
        for e in month.events
        if e["case_id"] == case_id and e["kind"] in ("reminder", "escalation")
    }
    rows = []
    for n in month.notices:
        if n["case_id"] != case_id:
            continue
        kind, _, clock, rest = n["key"].split(":", 3)
        suffix = rest.rsplit(":", 1)[1]
        rows.append((kind, clock, suffix, labels[(n["sent_at"], kind, clock)], at(n["sent_at"])))
    return rows


def reminder(clock: str, suffix: str, moment: str, label: str | None = None) -> Row:
    """A reminder row; the label follows from the suffix unless given."""
    default = {"today": "due today", "hours": "due in 2 working hours"}
    return ("reminder", clock, suffix, label or default[suffix], moment)


def escalations(clock: str, days: list[str]) -> list[Row]:
    """One escalation at 08:30 on each of `days` (consecutive working days), numbered."""
    return [
        (
            "escalation",
            clock,
            day,
            "missed" if n == 1 else f"still missed (working day {n})",
            f"{day} 08:30",
        )
        for n, day in enumerate(days, start=1)
    ]


FROM_22_DEC = ["2026-12-22", "2026-12-23", *(f"2027-01-0{d}" for d in range(4, 9))]
FROM_17_DEC = ["2026-12-17", "2026-12-18", "2026-12-21", *FROM_22_DEC]
FROM_11_DEC = ["2026-12-11", "2026-12-14", "2026-12-15", "2026-12-16", *FROM_17_DEC]
UPDATE_MON_21_DEC = [
    reminder("update_due", "today", "2026-12-21 08:30"),
    reminder("update_due", "hours", "2026-12-21 15:00"),
    *escalations("update_due", FROM_22_DEC),
]


# --- the tests -------------------------------------------------------------------------


def test_cases_and_acknowledgements(month: Month) -> None:
    """20 cases with the expected ids; every report with an address got exactly one ack."""
    expected_ids = sorted(r.case_id for r in REPORTS)
    assert sorted(month.cases) == expected_ids
    acks = Counter(r.case_id for r in month.outbox if r.kind == "acknowledgement")
    assert acks == Counter({cid: 1 for cid in expected_ids if cid != "MK-2026-0005"})
    ack_moments = {r.case_id: at(r.sent_at) for r in month.outbox if r.kind == "acknowledgement"}
    assert ack_moments == {r.case_id: at(r.received) for r in REPORTS if r.case_id in acks}
    assert month.cases["MK-2026-0005"].flags == ("no_contact",)


def test_answered_in_time_then_only_the_update_clock(month: Month) -> None:
    """MK-2026-0001: response reminders until answered Mon 14 10:00, then update_due runs out."""
    assert sent_for(month, "MK-2026-0001") == [
        reminder("response_due", "tomorrow", "2026-12-11 08:30", "due next working day"),
        reminder("response_due", "today", "2026-12-14 08:30"),
        *UPDATE_MON_21_DEC,
    ]


def test_answered_late_escalates_until_answered(month: Month) -> None:
    """MK-2026-0002: all three reminders, escalations Tue 15 and Wed 16, none after 10:00."""
    assert sent_for(month, "MK-2026-0002") == [
        reminder("response_due", "tomorrow", "2026-12-11 08:30", "due next working day"),
        reminder("response_due", "today", "2026-12-14 08:30"),
        reminder("response_due", "hours", "2026-12-14 15:00"),
        *escalations("response_due", ["2026-12-15", "2026-12-16"]),
        *UPDATE_MON_21_DEC,
    ]


def test_waiting_case_pauses_the_update_clock(month: Month) -> None:
    """MK-2026-0004 waits from Thu 10 Dec: nothing about update_due, never recorded missed."""
    assert sent_for(month, "MK-2026-0004") == [
        reminder("response_due", "tomorrow", "2026-12-14 08:30", "due tomorrow"),
    ]
    update = [
        c for c in month.clocks if c["case_id"] == "MK-2026-0004" and c["name"] == "update_due"
    ]
    assert [(at(c["due"]), c["missed_at"], c["done_at"]) for c in update] == [
        ("2026-12-22 17:00", None, None)
    ]


def test_relayed_report_without_contact_escalates_ack_and_response_daily(month: Month) -> None:
    """MK-2026-0005 (no ack possible): ack_due and response_due escalate every working day."""
    expected = [
        reminder("ack_due", "today", "2026-12-10 08:30"),
        reminder("ack_due", "hours", "2026-12-10 15:00"),
        *escalations("ack_due", FROM_11_DEC),
        reminder("response_due", "tomorrow", "2026-12-15 08:30", "due tomorrow"),
        reminder("response_due", "today", "2026-12-16 08:30"),
        reminder("response_due", "hours", "2026-12-16 15:00"),
        *escalations("response_due", FROM_17_DEC),
    ]
    assert sent_for(month, "MK-2026-0005") == sorted(expected, key=lambda r: (r[4], r[0], r[1]))


def test_friday_night_report_counts_from_monday(month: Month) -> None:
    """MK-2026-0006 (Fri 22:40): response due Mon 21, update due Wed 6 Jan, both run out."""
    expected = [
        reminder("response_due", "tomorrow", "2026-12-18 08:30", "due next working day"),
        reminder("response_due", "today", "2026-12-21 08:30"),
        reminder("response_due", "hours", "2026-12-21 15:00"),
        *escalations("response_due", FROM_22_DEC),
        reminder("update_due", "today", "2027-01-06 08:30"),
        reminder("update_due", "hours", "2027-01-06 15:00"),
        *escalations("update_due", ["2027-01-07", "2027-01-08"]),
    ]
    assert sent_for(month, "MK-2026-0006") == sorted(expected, key=lambda r: (r[4], r[0], r[1]))


def test_relayed_staff_reply_meets_response_and_restarts_update(month: Month) -> None:
    """MK-2026-0010: the relay Tue 22 10:00 meets response_due; update moves Thu 7 → 14 Jan."""
    assert sent_for(month, "MK-2026-0010") == [
        reminder("response_due", "tomorrow", "2026-12-21 08:30", "due tomorrow"),
        reminder("response_due", "today", "2026-12-22 08:30"),
    ]
    clocks = [
        (
            c["name"],
            at(c["due"]),
            c["met_at"] and at(c["met_at"]),
            c["done_at"] and at(c["done_at"]),
        )
        for c in month.clocks
        if c["case_id"] == "MK-2026-0010" and c["name"] in ("response_due", "update_due")
    ]
    assert clocks == [
        ("response_due", "2026-12-22 17:00", "2026-12-22 10:00", "2026-12-22 10:00"),
        ("update_due", "2027-01-07 17:00", None, "2026-12-22 10:00"),
        ("update_due", "2027-01-14 17:00", None, None),
    ]


SAME_DAY_RELAY = "MK-2026-0007"
"""Acknowledged Sat 12 Dec, answered by a relayed mail Mon 14 Dec (same start day)."""


def test_reply_on_the_start_day_of_the_ack_keeps_the_update_clock(month: Month) -> None:
    """MK-2026-0007: ack Sat, relay Mon 11:00 (same start day): update still due Wed 6 Jan."""
    assert sent_for(month, SAME_DAY_RELAY) == [
        reminder("update_due", "today", "2027-01-06 08:30"),
        reminder("update_due", "hours", "2027-01-06 15:00"),
        *escalations("update_due", ["2027-01-07", "2027-01-08"]),
    ]
    open_update = [
        (at(c["due"]), c["missed_at"] and at(c["missed_at"]))
        for c in month.clocks
        if c["case_id"] == SAME_DAY_RELAY and c["name"] == "update_due" and not c["done_at"]
    ]
    assert open_update == [("2027-01-06 17:00", "2027-01-06 17:00")]


def test_deadline_across_christmas(month: Month) -> None:
    """MK-2026-0014 (Mon 21 Dec): response due Wed 6 Jan, reminded Tue 5 and Wed 6."""
    assert sent_for(month, "MK-2026-0014") == [
        reminder("response_due", "tomorrow", "2027-01-05 08:30", "due tomorrow"),
        reminder("response_due", "today", "2027-01-06 08:30"),
        reminder("response_due", "hours", "2027-01-06 15:00"),
        *escalations("response_due", ["2027-01-07", "2027-01-08"]),
    ]


def test_reports_on_23_december(month: Month) -> None:
    """Wed 23 Dec 11:00 → response Fri 8 Jan; 18:30 → Mon 11 Jan, reminded Fri 8 Jan."""
    assert sent_for(month, "MK-2026-0016") == [
        reminder("response_due", "tomorrow", "2027-01-07 08:30", "due tomorrow"),
        reminder("response_due", "today", "2027-01-08 08:30"),
        reminder("response_due", "hours", "2027-01-08 15:00"),
    ]
    assert sent_for(month, "MK-2026-0017") == [
        reminder("response_due", "tomorrow", "2027-01-08 08:30", "due next working day"),
    ]
    due = {c.id: at(c.response_due) for c in month.cases.values() if c.response_due}
    assert (due["MK-2026-0016"], due["MK-2026-0017"]) == ("2027-01-08 17:00", "2027-01-11 17:00")


def test_escalations_go_to_the_escalate_list_the_rest_to_notify(month: Month) -> None:
    """Escalations reach ciso@ only; reminders, digests and closure warnings security@ only."""
    kinds = {"reminder", "escalation", "digest", "closure_warning"}
    recipients = {(r.kind, r.recipients) for r in month.outbox if r.kind in kinds}
    assert recipients == {
        ("reminder", tuple(NOTIFY)),
        ("escalation", tuple(ESCALATE)),
        ("digest", tuple(NOTIFY)),
        ("closure_warning", tuple(NOTIFY)),
    }


def test_one_escalation_mail_a_working_day_naming_each_escalated_clock(month: Month) -> None:
    """Each working day with a missed clock gets one escalation mail, at 08:30, to ciso@;
    the clocks escalated that day (their own keys) all point at that one mail."""
    mails = {r.message_id: r for r in month.outbox if r.kind == "escalation"}
    days = Counter(at(r.created_at)[:10] for r in mails.values())
    clock_rows = [n for n in month.notices if n["kind"] == "escalation" and n["case_id"]]
    escalated_days = {at(n["sent_at"])[:10] for n in clock_rows}
    assert (sorted(days.items()), sorted(escalated_days)) == (
        [(day, 1) for day in sorted(escalated_days)],
        sorted(FROM_11_DEC),
    )
    assert {at(r.created_at)[11:] for r in mails.values()} == {"08:30"}
    by_day = {n["key"]: n["message_id"] for n in month.notices if n["case_id"] is None}
    assert [
        n["key"] for n in clock_rows if by_day[f"escalation:{n['key'][-10:]}"] != n["message_id"]
    ] == []


def test_digest_on_every_working_day_at_opening(month: Month) -> None:
    """One digest per working day at 08:30, none on weekends, holidays or closure days."""
    digests = [(n["key"], at(n["sent_at"])) for n in month.notices if n["kind"] == "digest"]
    assert digests == [(f"digest:{d.isoformat()}", f"{d.isoformat()} 08:30") for d in WORKING_DAYS]


def digest_sections(body: str) -> dict[str, list[tuple[str, str]]]:
    """Section title → [(case id, clock title)] of a Dutch digest body."""
    sections: dict[str, list[tuple[str, str]]] = {}
    items: list[tuple[str, str]] = []
    for line in body.splitlines():
        if head := re.fullmatch(r"(\S.*) \(\d+\)", line):
            items = sections.setdefault(head.group(1), [])
        elif item := re.match(r"\s+\[(MK-\d{4}-\d{4})\] ([a-z ]+):", line):
            items.append((item.group(1), item.group(2)))
    return sections


def test_digest_of_monday_14_december_lists_overdue_due_and_paused(month: Month) -> None:
    """Mon 14 Dec: overdue the missing ack, due today/tomorrow the responses, paused 0004."""
    key = "digest:2026-12-14"
    message_id = next(n["message_id"] for n in month.notices if n["key"] == key)
    row = next(r for r in month.outbox if r.message_id == message_id)
    assert row.raw is not None
    mail = email.message_from_bytes(row.raw, policy=email.policy.default)
    sections = digest_sections(mail.get_content())
    del sections["Later"]
    assert sections == {
        "Verlopen": [("MK-2026-0005", "ontvangstbevestiging")],
        "Vandaag": [
            ("MK-2026-0001", "inhoudelijke reactie"),
            ("MK-2026-0002", "inhoudelijke reactie"),
        ],
        "Volgende werkdag": [("MK-2026-0004", "inhoudelijke reactie")],
        "Gepauzeerd (wacht op melder)": [("MK-2026-0004", "voortgangsbericht")],
    }


def test_closure_warning_once_on_tuesday_22_december(month: Month) -> None:
    """The Christmas closure is warned once, Tue 22 Dec 08:30, listing what falls due."""
    warnings = [
        (n["key"], at(n["sent_at"])) for n in month.notices if n["kind"] == "closure_warning"
    ]
    assert warnings == [("closure:2026-12-24", "2026-12-22 08:30")]
    row = next(r for r in month.outbox if r.kind == "closure_warning")
    assert row.raw is not None
    mail = email.message_from_bytes(row.raw, policy=email.policy.default)
    assert (
        str(mail["Subject"])
        == "Sluitingsperiode do 24 dec 2026 t/m zo 3 jan 2027: 10 termijnen lopen af"
    )
    body = mail.get_content()
    items = re.findall(r"^\s+\[(MK-\d{4}-\d{4})\] ([a-z ]+):", body, re.M)
    assert sorted(items) == [
        ("MK-2026-0001", "voortgangsbericht"),
        ("MK-2026-0002", "voortgangsbericht"),
        ("MK-2026-0003", "voortgangsbericht"),
        ("MK-2026-0005", "inhoudelijke reactie"),
        ("MK-2026-0005", "ontvangstbevestiging"),
        ("MK-2026-0006", "inhoudelijke reactie"),
        ("MK-2026-0009", "inhoudelijke reactie"),
        ("MK-2026-0010", "inhoudelijke reactie"),
        ("MK-2026-0011", "inhoudelijke reactie"),
        ("MK-2026-0012", "inhoudelijke reactie"),
    ]


def test_notices_only_in_office_hours_each_key_once_one_mail_each(month: Month) -> None:
    """Every notice was queued in office hours, once, with exactly one outbox mail, sent."""
    keys = Counter(n["key"] for n in month.notices)
    assert [k for k, c in keys.items() if c > 1] == []
    outside = [
        n["key"]
        for n in month.notices
        if datetime.fromisoformat(n["sent_at"]).astimezone(AMS).date() not in WORKING_DAYS
        or not time(8, 30)
        <= datetime.fromisoformat(n["sent_at"]).astimezone(AMS).time()
        < time(17, 0)
    ]
    assert outside == []
    mail = {r.message_id: r for r in month.outbox}
    assert [n["key"] for n in month.notices if n["message_id"] not in mail] == []
    mismatched = [
        n["key"]
        for n in month.notices
        if (mail[n["message_id"]].status, mail[n["message_id"]].created_at.isoformat())
        != ("sent", n["sent_at"])
        or mail[n["message_id"]].kind != n["kind"]
    ]
    assert mismatched == []


def test_no_notice_about_a_clock_after_it_was_met_or_ended(month: Month) -> None:
    """No reminder or escalation names a clock (case, name, due) after its done_at."""
    done = {(c["case_id"], c["name"], c["due"]): c["done_at"] for c in month.clocks if c["done_at"]}
    late = []
    for n in month.notices:
        if n["kind"] not in ("reminder", "escalation") or n["case_id"] is None:
            continue  # the day's escalation mail is about no single clock: its clocks are
        _, case_id, name, rest = n["key"].split(":", 3)
        due = rest.rsplit(":", 1)[0]
        ended = done.get((case_id, name, due))
        if ended is not None and n["sent_at"] >= ended:
            late.append(n["key"])
    assert late == []


def test_missed_clocks_recorded_at_their_due(month: Month) -> None:
    """Exactly these clocks were recorded missed, each at its own due (17:00 local)."""
    missed = sorted(
        (c["case_id"], c["name"])
        for c in month.clocks
        if c["missed_at"] is not None and c["case_id"] != SAME_DAY_RELAY
    )
    assert missed == sorted(
        [
            ("MK-2026-0001", "update_due"),
            ("MK-2026-0002", "response_due"),
            ("MK-2026-0002", "update_due"),
            ("MK-2026-0003", "update_due"),
            ("MK-2026-0005", "ack_due"),
            ("MK-2026-0005", "response_due"),
            ("MK-2026-0006", "response_due"),
            ("MK-2026-0006", "update_due"),
            ("MK-2026-0008", "update_due"),
            ("MK-2026-0009", "response_due"),
            ("MK-2026-0009", "update_due"),
            ("MK-2026-0011", "response_due"),
            ("MK-2026-0013", "response_due"),
            ("MK-2026-0014", "response_due"),
            ("MK-2026-0016", "response_due"),
        ]
    )
    assert [c["id"] for c in month.clocks if c["missed_at"] and c["missed_at"] != c["due"]] == []


def test_restart_in_the_middle_sends_nothing_twice(month: Month) -> None:
    """The restarted service delivers what the first queued; no Message-ID twice, no resend."""
    assert month.queued_at_restart > 0
    assert month.delivered_after_restart == month.queued_at_restart
    ids = Counter(r.message_id for r in month.outbox)
    assert [m for m, c in ids.items() if c > 1] == []
    assert [r.message_id for r in month.outbox if r.status != "sent"] == []
    assert month.files == len(month.outbox)


def test_second_tick_at_the_same_moment_queues_nothing(month: Month) -> None:
    """At 08:30 every day (the restart included) a second tick at the same moment queues 0."""
    assert len(month.second_ticks) == 33
    assert RESTART.astimezone(UTC) in month.second_ticks
    assert set(month.second_ticks.values()) == {0}

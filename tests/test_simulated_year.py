"""A simulated year of escalations, end to end (issue 16, item 3: escalation noise).

One Service (Maildir in, Maildir out, real SQLite, ManualClock) runs from Mon 4 Jan 2027
00:00 to Fri 31 Dec 2027 18:00 local, closure days 24 and 27-31 Dec 2027. 150 reports
arrive at seeded pseudo-random moments between 4 Jan and 30 Nov (8 of them relayed
without a contact: no acknowledgement, no answer possible). Staff, seeded per case, relay
a substantive answer 1-5 working days after the ontvangstdag (one in four late: 6-10),
then a progress update every 3-10 working days (one in four late: 11-14), and close the
case 25-95 calendar days after receipt (so some resolve deadlines, due at the wall-clock
time of receipt, pass in office hours). A relay is a real mail through the outbox: its
delivery meets `response_due` and restarts `update_due`.

The clock jumps from one moment that matters to the next: a receipt, a staff action, or
`scheduler.next_change` over the open clocks (reminder triggers, dues, office opening and
cutoff); nothing sleeps. At each moment: intake (when mail arrived), the staff actions,
tick(), and a flush of the outbox when something was queued: 1,705 moments, ~10 s.

Counted from the outbox: escalation mails per recipient per working day (the first test
prints the figures; run with -s). On the code before issue 16 this year gave 2,062
escalation mails to ciso@ over 248 working days (8.3 per working day, up to 20 on one
day: one per missed clock per day); since, 218: one on each of the 218 working days
with something missed, naming 2,040 missed clocks in all. Reminders: 684 both times.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import factories
import pytest
from factories import queue_relay

from mailbot.core import config
from mailbot.core.models import CaseState
from mailbot.core.scheduler import SchedulePolicy, next_change
from mailbot.core.titles import CLOCK_TITLES
from mailbot.core.workdays import Calendar
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import Service, calendar_for
from mailbot.store import Store

pytestmark = pytest.mark.slow

AMS = ZoneInfo("Europe/Amsterdam")
CLOSURE_DAYS = (date(2027, 12, 24), *(date(2027, 12, d) for d in range(27, 32)))
START = datetime(2027, 1, 4, 0, 0, tzinfo=AMS)
END = datetime(2027, 12, 31, 18, 0, tzinfo=AMS)
REPORTS = 150
NO_CONTACT = 8
SEED = 20270104
ESCALATE = "ciso@gemeente.example"


@dataclass(frozen=True, order=True)
class Step:
    """Something that happens at `at`: a report arrives, staff relay a mail, or close."""

    at: datetime  # UTC
    order: int  # arrivals before actions at the same moment
    kind: str  # "arrive" | "relay" | "close"
    n: int  # the report's number (1-based, in order of arrival)


def _office_moment(calendar: Calendar, day: date, rng: random.Random) -> datetime:
    """A moment on `day` between 09:00 and 16:45 local, on a 5-minute grid, in UTC."""
    minutes = 9 * 60 + 5 * rng.randrange(0, (16 * 60 + 45 - 9 * 60) // 5 + 1)
    wall = time(minutes // 60, minutes % 60)
    return datetime.combine(day, wall, tzinfo=calendar.timezone).astimezone(UTC)


def _arrivals(rng: random.Random) -> list[datetime]:
    """150 receipt moments from 4 Jan to 30 Nov 2027, any hour, on the minute (UTC)."""
    span = int((datetime(2027, 11, 30, tzinfo=AMS) - START).total_seconds() // 60)
    moments = sorted({START + timedelta(minutes=rng.randrange(span)) for _ in range(REPORTS)})
    assert len(moments) == REPORTS
    return [m.astimezone(UTC) for m in moments]


def _staff(calendar: Calendar, n: int, received: datetime, contact: bool) -> list[Step]:
    """Report `n`'s relays (answer, updates) and its closing, seeded by its number."""
    rng = random.Random(SEED * 1000 + n)
    start = calendar.ontvangstdag(received)
    close_day = (received.astimezone(AMS) + timedelta(days=rng.randint(25, 95))).date()
    while not calendar.is_working_day(close_day):
        close_day += timedelta(days=1)
    closing = max(_office_moment(calendar, close_day, rng), received + timedelta(hours=1))
    steps = [Step(closing, 2, "close", n)]
    if not contact:
        return steps
    late = rng.random() < 0.25
    day = calendar.nth_working_day_after(start, rng.randint(6, 10) if late else rng.randint(1, 5))
    while (moment := _office_moment(calendar, day, rng)) < closing:
        steps.append(Step(moment, 1, "relay", n))
        late = rng.random() < 0.25
        gap = rng.randint(11, 14) if late else rng.randint(3, 10)
        day = calendar.nth_working_day_after(day, gap)
    return steps


def plan(calendar: Calendar) -> tuple[list[Step], frozenset[int]]:
    """Every arrival and staff action of the year, in order; the reports without contact."""
    rng = random.Random(SEED)
    arrivals = _arrivals(rng)
    no_contact = frozenset(rng.sample(range(1, REPORTS + 1), NO_CONTACT))
    steps = [Step(at, 0, "arrive", n) for n, at in enumerate(arrivals, start=1)]
    for n, at in enumerate(arrivals, start=1):
        steps += _staff(calendar, n, at, n not in no_contact)
    return sorted(s for s in steps if s.at <= END.astimezone(UTC)), no_contact


def raw_report(n: int, relayed: bool) -> bytes:
    """Report `n` as an MTA delivers it (a relayed one carries no contact)."""
    if relayed:
        sender = "Meldpunt VNG <meldpunt@vng.example>"
        body = f"Doorgestuurde melding {n} zonder contactgegevens: https://archief{n}.example"
    else:
        sender = f"Melder {n} <melder{n:03d}@example.nl>"
        body = f"Op https://portaal{n}.gemeente.example/login zit een XSS. Groet."
    return factories.report(
        None,
        sender,
        f"<year-{n}@example.nl>",
        body,
        name="",
        subject=f"Kwetsbaarheid nummer {n}",
        mime_version=True,
    )


# --- the simulation ------------------------------------------------------------------


@dataclass
class Year:
    """What the simulated year left behind."""

    outbox: list[dict[str, Any]]
    clocks: list[dict[str, Any]]
    notices: list[dict[str, Any]]
    events: list[dict[str, Any]]
    calendar: Calendar
    moments: int


def _act(service: Service, settings: config.Settings, step: Step, relays: Counter[int]) -> None:
    """Staff relay a mail to the reporter (through the outbox) or close the case."""
    store = service.store
    now = step.at
    case_id = f"MK-2027-{step.n:04d}"
    case = store.case(case_id)
    assert case is not None
    if step.kind == "close":
        with store.transaction():
            store.update_case(replace(case, state=CaseState.RESOLVED, close_reason="fixed"), now)
            store.end_clocks(case_id, now)
        return
    relays[step.n] += 1
    body = "Dank voor uw melding. Wij houden u op de hoogte."
    queue_relay(store, settings, case, body, f"staff{relays[step.n]}", now)


async def _simulate(base: Path) -> Year:
    """Run the year from START to END, jumping from one moment that matters to the next."""
    plain = config.embedded(base)
    settings = replace(plain, deadlines=replace(plain.deadlines, closure_days=CLOSURE_DAYS))
    calendar = calendar_for(settings)
    policy = SchedulePolicy(hours_before=float(settings.deadlines.remind_hours_before))
    steps, no_contact = plan(calendar)
    clock = ManualClock(START.astimezone(UTC))
    store = Store(settings.database.path)
    store.db.execute("PRAGMA synchronous=NORMAL")  # no fsync per commit: no crash here
    service = factories.maildir_service(base, settings, clock, store=store)
    relays: Counter[int] = Counter()
    now, index, moments = START.astimezone(UTC), 0, 0
    end = END.astimezone(UTC)
    while now <= end:
        moments += 1
        clock.set(now)
        flush = False
        while index < len(steps) and steps[index].at == now:
            step = steps[index]
            index += 1
            if step.kind == "arrive":
                raw = raw_report(step.n, step.n in no_contact)
                deliver_to_maildir(base / "inbox", raw, now)
                service.intake()
            else:
                _act(service, settings, step, relays)
            flush = True
        if service.tick() or flush:
            await service.deliver()
        clocks = [r.clock() for r in service.store.open_clocks()]
        now = next_change(now, calendar, clocks, policy)
        if index < len(steps):
            now = min(now, steps[index].at)
    queries = {
        "outbox": "SELECT kind, recipients, created_at, message_id, raw, case_id FROM outbox",
        "clocks": "SELECT * FROM clocks ORDER BY id",
        "notices": "SELECT * FROM notices ORDER BY sent_at, key",
        "events": "SELECT * FROM events ORDER BY id",
    }
    found = {k: [dict(r) for r in store.db.query(sql)] for k, sql in queries.items()}
    service.close()
    return Year(calendar=calendar, moments=moments, **found)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Year:
    """The year, simulated once for all tests of this module."""
    return asyncio.run(_simulate(tmp_path_factory.mktemp("year")))


# --- what the year shows ---------------------------------------------------------------


def local_day(moment: str | datetime) -> date:
    """The Amsterdam date of a stored or aware moment."""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone(AMS).date()


def working_days(calendar: Calendar) -> list[date]:
    """The working days of the simulated window."""
    days, day = [], START.date()
    while day <= END.date():
        if calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def escalation_mails(year: Year) -> list[dict[str, Any]]:
    """The escalation mails, in order of queueing."""
    mails = [r for r in year.outbox if r["kind"] == "escalation"]
    return sorted(mails, key=lambda r: datetime.fromisoformat(r["created_at"]))


def per_recipient_day(year: Year) -> Counter[tuple[str, date]]:
    """Escalation mails per (recipient, local day)."""
    counts: Counter[tuple[str, date]] = Counter()
    for row in escalation_mails(year):
        for recipient in _recipients(row["recipients"]):
            counts[(recipient, local_day(row["created_at"]))] += 1
    return counts


def _recipients(stored: str) -> list[str]:
    """The addresses of an outbox row's stored recipients."""
    return re.findall(r"[\w.+-]+@[\w.-]+", stored)


def _moment(calendar: Calendar, day: date, wall: time) -> datetime:
    """The UTC moment of local wall-clock time `wall` on `day`."""
    return datetime.combine(day, wall, tzinfo=calendar.timezone).astimezone(UTC)


def _at(value: str | None) -> datetime | None:
    """A stored moment, or None."""
    return None if value is None else datetime.fromisoformat(value)


ClockId = tuple[str, str, str]  # case, clock name, due (stored text)


def missed_at_moment(year: Year, moment: datetime) -> set[ClockId]:
    """The clocks past their due and not done at `moment` (nothing waits in this year)."""
    return {
        (c["case_id"], c["name"], c["due"])
        for c in year.clocks
        if datetime.fromisoformat(c["due"]) <= moment
        and ((done := _at(c["done_at"])) is None or done > moment)
    }


def first_missed_moment(year: Year, day: date) -> datetime | None:
    """The first moment in `day`'s office hours at which some clock is missed."""
    opening = _moment(year.calendar, day, year.calendar.office_open)
    cutoff = _moment(year.calendar, day, year.calendar.cutoff)
    candidates = []
    for c in year.clocks:
        moment = max(opening, datetime.fromisoformat(c["due"]))
        done = _at(c["done_at"])
        if moment < cutoff and (done is None or done > moment):
            candidates.append(moment)
    return min(candidates, default=None)


def named_in(year: Year, message_id: str) -> list[ClockId]:
    """The clocks a day's escalation mail names, from its per-clock notice rows."""
    return [
        (n["case_id"], n["key"].split(":")[2], n["key"].split(":", 3)[3].rsplit(":", 1)[0])
        for n in year.notices
        if n["message_id"] == message_id and n["case_id"] is not None
    ]


def listed_in_body(raw: bytes) -> list[tuple[str, str]]:
    """(case id, clock name) of each clock a Dutch escalation mail lists, in order."""
    body = email.message_from_bytes(raw, policy=email.policy.default).get_content()
    names = {title: name for name, title in CLOCK_TITLES["nl"].items()}
    found = re.findall(r"^\s+\[(MK-\d{4}-\d{4})\] (.+?) —", body, re.MULTILINE)
    return [(case_id, names[title]) for case_id, title in found]


def figures(year: Year) -> dict[str, float]:
    """The year's escalation figures (printed by the first test)."""
    days = working_days(year.calendar)
    counts = per_recipient_day(year)
    with_missed = [d for d in days if first_missed_moment(year, d) is not None]
    total = len(escalation_mails(year))
    return {
        "working_days": len(days),
        "working_days_with_something_missed": len(with_missed),
        "escalation_mails": total,
        "per_working_day": round(total / len(days), 2),
        "max_per_recipient_per_day": max(counts.values(), default=0),
        "missed_clocks": sum(1 for c in year.clocks if c["missed_at"]),
        "escalation_events": sum(1 for e in year.events if e["kind"] == "escalation"),
        "reminders": sum(1 for r in year.outbox if r["kind"] == "reminder"),
        "moments": year.moments,
    }


# --- the tests ---------------------------------------------------------------------------


def test_at_most_one_escalation_mail_per_recipient_per_working_day(year: Year) -> None:
    """Over the year: ≤ 1 escalation mail per recipient per day, only on working days,
    and no more escalation mails than working days with something missed."""
    found = figures(year)
    print(f"\nsimulated year: {found}")  # the figures the README quotes
    counts = per_recipient_day(year)
    days = set(working_days(year.calendar))
    assert [key for key, n in counts.items() if n > 1] == []
    assert sorted({day for _, day in counts} - days) == []
    assert {recipient for recipient, _ in counts} == {ESCALATE}
    assert found["escalation_mails"] <= found["working_days_with_something_missed"]
    assert found["missed_clocks"] > 50  # the staff were late often enough to matter


def test_the_days_mail_goes_at_the_first_office_moment_something_is_missed(year: Year) -> None:
    """On every working day with a clock missed in office hours, exactly one mail, queued
    at the first such moment (the office opening when something was missed overnight)."""
    sent = {local_day(r["created_at"]): _at(r["created_at"]) for r in escalation_mails(year)}
    expected = {
        day: moment
        for day in working_days(year.calendar)
        if (moment := first_missed_moment(year, day)) is not None
    }
    assert sent == expected


def test_every_missed_clock_is_named_in_the_days_mail(year: Year) -> None:
    """Each day's mail names exactly the clocks missed and not done at its moment, in its
    notice rows and in its text, and each of them has that day's escalation event."""
    events = Counter(
        (e["case_id"], local_day(e["at"]), e["detail"].split(":", 1)[0])
        for e in year.events
        if e["kind"] == "escalation"
    )
    wrong = []
    for row in escalation_mails(year):
        moment = datetime.fromisoformat(row["created_at"])
        expected = missed_at_moment(year, moment)
        named = named_in(year, row["message_id"])
        listed = listed_in_body(row["raw"])
        day = local_day(moment)
        logged = {(case_id, name) for case_id, name, _ in expected if events[(case_id, day, name)]}
        if (
            sorted(named) != sorted(expected)
            or sorted(listed) != sorted((c, n) for c, n, _ in expected)
            or logged != {(c, n) for c, n, _ in expected}
        ):
            wrong.append(day)
    assert wrong == []
    assert sum(events.values()) == sum(
        len(named_in(year, r["message_id"])) for r in escalation_mails(year)
    )


def test_newly_missed_first_then_still_missed_oldest_first(year: Year) -> None:
    """In each mail the clocks never named before come first, then the others; each
    group by due (the oldest first)."""
    seen: set[ClockId] = set()
    wrong = []
    for row in escalation_mails(year):
        named = named_in(year, row["message_id"])
        new = sorted((c for c in named if c not in seen), key=lambda c: (c[2], c[0]))
        still = sorted((c for c in named if c in seen), key=lambda c: (c[2], c[0]))
        if listed_in_body(row["raw"]) != [(c, n) for c, n, _ in (*new, *still)]:
            wrong.append(local_day(row["created_at"]))
        seen |= set(named)
    assert wrong == []


def test_a_clock_missed_after_the_days_mail_waits_for_the_next_working_day(year: Year) -> None:
    """A deadline passing in office hours after that day's mail went out is first named
    in the next working day's mail (unless met or closed before it); never twice a day."""
    mails = escalation_mails(year)
    by_day = {local_day(r["created_at"]): r for r in mails}
    first_named: dict[ClockId, date] = {}
    for row in mails:
        for clock in named_in(year, row["message_id"]):
            first_named.setdefault(clock, local_day(row["created_at"]))
    waited, expected = {}, {}
    for c in year.clocks:
        due, done = datetime.fromisoformat(c["due"]), _at(c["done_at"])
        mail = by_day.get(local_day(due))
        if mail is None or datetime.fromisoformat(mail["created_at"]) >= due:
            continue  # no mail yet that day when it passed: it goes out then (tested above)
        if done is not None and done <= due:
            continue  # met in time
        clock = (c["case_id"], c["name"], c["due"])
        next_day = year.calendar.nth_working_day_after(local_day(due), 1)
        opening = _moment(year.calendar, next_day, year.calendar.office_open)
        waited[clock] = first_named.get(clock)
        expected[clock] = next_day if done is None or done > opening else None
    assert len(waited) >= 5  # the year has such clocks (resolve dates in office hours)
    assert waited == expected

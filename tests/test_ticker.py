"""Tests of the scheduler tick's reads: the partial index, and the clocks it leaves out.

After the day's digest is out, a tick reads only the clocks due before the reminder
horizon that were not escalated today already (`Store.open_clocks(until, escalated)`).
These tests show the queries use the index, and that deciding on that subset gives
exactly what deciding on every open clock gives, both for the pure decision over varied
databases and for two services ticking side by side (one forced to read everything).
"""

from __future__ import annotations

import email
import email.message
import email.policy
import random
import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import config
from mailbot.core.bounces import UNMATCHED
from mailbot.core.effects import Inputs
from mailbot.core.notices_mail import render_notice
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
)
from mailbot.core.scheduler import Notice as SchedulerNotice
from mailbot.core.workdays import make_calendar
from mailbot.mail.rendering import Renderer
from mailbot.shell import ticker
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox
from mailbot.shell.pipeline import Service, calendar_for
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store
from mailbot.store.rows import OpenClockRow

AMS = ZoneInfo("Europe/Amsterdam")
XMAS = (date(2026, 12, 24), *(date(2026, 12, d) for d in range(28, 32)))
STATES = ("new", "acknowledged", "investigating", "confirmed", "resolved", "closed", "spam")
AT = "2026-11-01T09:00:00+00:00"


def add_case(
    store: Store, case_id: str, state: str = "acknowledged", waiting: bool = False
) -> None:
    """A case row with only what the clock queries read."""
    store.db.execute(
        "INSERT INTO cases (id, year, seq, state, subject, source, language, waiting,"
        " received_at, created_at, updated_at) VALUES (?, 2026, ?, ?, ?, 'direct', 'nl', ?,"
        " ?, ?, ?)",
        [case_id, int(case_id[-4:]), state, f"subject of {case_id}", int(waiting), AT, AT, AT],
    )


def add_clock(
    store: Store, case_id: str, name: str, due: str, missed: bool = False, done: bool = False
) -> None:
    """A clock row; `due` is stored as given (ISO text)."""
    store.db.execute(
        "INSERT INTO clocks (case_id, name, due, explanation, started_at, missed_at, done_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            case_id,
            name,
            due,
            f"{name} of {case_id}",
            AT,
            due if missed else None,
            AT if done else None,
        ],
    )


def record(store: Store, key: str) -> None:
    """Record a notice key as sent."""
    store.db.execute(
        "INSERT OR IGNORE INTO notices (key, kind, case_id, message_id, sent_at)"
        " VALUES (?, 'test', NULL, NULL, ?)",
        [key, AT],
    )


def plans(store: Store, now: datetime) -> list[str]:
    """EXPLAIN QUERY PLAN details of the full read and of the subset read at `now`."""
    executed: list[str] = []
    store.db.conn.set_trace_callback(executed.append)
    try:
        store.open_clocks()
        store.open_clocks(until=now, escalated=(now, "escalation:", ":2027-01-13"))
    finally:
        store.db.conn.set_trace_callback(None)
    return [
        " / ".join(str(row[3]) for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in executed
    ]


def test_the_open_clock_reads_walk_the_partial_index_in_due_order(tmp_path: Path) -> None:
    """Full read: a scan of clocks_open_due; subset: a range search (due<?); no sorting."""
    store = Store(tmp_path / "mailbot.db")
    add_case(store, "MK-2026-0001")
    add_clock(store, "MK-2026-0001", "ack_due", "2027-01-12T16:00:00+00:00")
    index = store.db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'clocks_open_due'"
    ).fetchone()[0]
    full, subset = plans(store, datetime(2027, 1, 13, 9, tzinfo=UTC))
    assert "WHERE done_at IS NULL" in index
    assert full.startswith("SCAN k USING INDEX clocks_open_due / SEARCH c USING INDEX")
    assert subset.startswith("SEARCH k USING INDEX clocks_open_due (due<?)")
    assert ("TEMP B-TREE" in full, "TEMP B-TREE" in subset) == (False, False)


# --- the subset decides like every open clock ---------------------------------------------

BASE = datetime(2026, 12, 1, tzinfo=UTC)
policies = st.builds(
    SchedulePolicy,
    hours_before=st.sampled_from([0.0, 2.0, 9.0, 20.0]),
    day_ahead=st.frozensets(st.sampled_from(CLOCKS)),
)


@st.composite
def databases(draw: st.DrawFn) -> dict[str, Any]:
    """Cases in open and closed states, waiting or not, each with some clocks: due from 12
    days before now to 20 after (on the minute, at 17:00 or midnight local), stored in UTC
    or with the Amsterdam offset, done or not, recorded missed or not."""
    now = BASE + timedelta(minutes=draw(st.integers(0, 100 * 24 * 60)))
    cases = []
    for number in range(1, draw(st.integers(1, 7)) + 1):
        clocks = []
        for name in draw(st.sets(st.sampled_from(CLOCKS), min_size=1)):
            due = now + timedelta(minutes=draw(st.integers(-12 * 24 * 60, 20 * 24 * 60)))
            wall = draw(st.sampled_from([None, time(17), time(0)]))
            if wall is not None:
                due = datetime.combine(due.astimezone(AMS).date(), wall, tzinfo=AMS)
            stored = due.astimezone(draw(st.sampled_from([UTC, AMS]))).isoformat()
            missed = due <= now and draw(st.booleans())
            clocks.append((name, stored, missed, draw(st.integers(0, 5)) == 0))
        cases.append(
            (f"MK-2026-{number:04d}", draw(st.sampled_from(STATES)), draw(st.booleans()), clocks)
        )
    return {
        "now": now,
        "calendar": draw(st.sampled_from([make_calendar(), make_calendar(closure_days=XMAS)])),
        "policy": draw(policies),
        "cases": cases,
        "recorded": draw(st.integers(0, 2**32)),
    }


@settings(max_examples=150, deadline=None)
@given(db=databases())
def test_the_subset_read_decides_exactly_like_every_open_clock(db: dict[str, Any]) -> None:
    """Notices not yet recorded, newly missed clocks and the next change (up to the quiet
    moment) are the same from the subset as from every open clock."""
    now, cal, policy = db["now"], db["calendar"], db["policy"]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "mailbot.db")
        for case_id, state, waiting, clocks in db["cases"]:
            add_case(store, case_id, state, waiting)
            for name, due, missed, done in clocks:
                add_clock(store, case_id, name, due, missed, done)
        every = [r.clock() for r in store.open_clocks()]
        full = notices(now, cal, every, frozenset(), policy)
        chosen = random.Random(db["recorded"])  # record the day's keys and some others
        kept = [n for n in full if chosen.random() < 0.6]
        clock_keys = [m.key for n in kept for m in n.missed]  # recorded with the escalation
        for key in [*daily_keys(now, cal), *(n.key for n in kept), *clock_keys]:
            record(store, key)
        recorded = store.recorded_notices([n.key for n in full])
        horizon, quiet = reminder_horizon(cal, now, policy)
        rows = store.open_clocks(until=horizon, escalated=(now, *escalation_affixes(now, cal)))
        subset = [r.clock() for r in rows]
        store.close()
    sent = frozenset(daily_keys(now, cal))
    assert [n for n in notices(now, cal, subset, sent, policy) if n.key not in recorded] == [
        n for n in full if n.key not in recorded
    ]
    assert newly_missed(now, subset) == newly_missed(now, every)
    assert min(next_change(now, cal, subset, policy), quiet) == min(
        next_change(now, cal, every, policy), quiet
    )
    assert now < quiet


# --- two services side by side ----------------------------------------------------------

START = datetime(2027, 1, 12, 8, 0, tzinfo=AMS)  # Tue 12 Jan 2027, before opening
STEP = timedelta(minutes=41)


def fill(store: Store, rng: random.Random) -> list[tuple[str, str]]:
    """60 cases with 1-4 clocks due from 8 days before START to 6 after; (case, clock)s."""
    clocks = []
    for number in range(1, 61):
        case_id = f"MK-2027-{number:04d}"
        add_case(store, case_id, rng.choice(STATES[:4]), rng.random() < 0.2)
        for name in rng.sample(CLOCKS, rng.randint(1, 4)):
            due = START + timedelta(minutes=rng.randrange(-8 * 24 * 60, 6 * 24 * 60))
            if rng.random() < 0.5:
                due = datetime.combine(due.date(), time(17), tzinfo=AMS)
            add_clock(store, case_id, name, due.astimezone(UTC).isoformat())
            clocks.append((case_id, name))
    return clocks


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """What the ticks wrote: notices, queued mails, events, clock marks."""
    queries = {
        "notices": "SELECT key, kind, case_id, message_id, sent_at FROM notices ORDER BY key",
        "outbox": "SELECT message_id, case_id, kind, recipients, subject FROM outbox ORDER BY id",
        "events": "SELECT case_id, at, kind, detail FROM events ORDER BY id",
        "clocks": "SELECT id, missed_at, done_at FROM clocks ORDER BY id",
    }
    return {name: [tuple(r) for r in store.db.execute(sql)] for name, sql in queries.items()}


def test_ticks_on_the_subset_write_what_ticks_on_every_clock_write(tmp_path: Path) -> None:
    """Two services on equal databases tick every 41 minutes for 5 days with a clock met
    between ticks; one reads every open clock each time: both write exactly the same."""
    rng = random.Random(20270112)
    services, reads = [], []
    for side in ("subset", "every"):
        settings_ = config.embedded(tmp_path / side)
        store = Store(settings_.database.path)
        clocks = fill(store, random.Random(7))
        service = Service(
            settings_,
            store,
            MaildirMailbox(tmp_path / side / "inbox"),
            MaildirTransport(tmp_path / side / "outbox"),
            ManualClock(START.astimezone(UTC)),
        )
        services.append(service)
    real_daily_keys = ticker.daily_keys

    def never_all_recorded(now: datetime, calendar: Any) -> list[str]:
        return [*real_daily_keys(now, calendar), "never-recorded"]

    original = Store.open_clocks

    def counting(store: Store, *args: Any, **kwargs: Any) -> list[OpenClockRow]:
        reads.append("subset" if kwargs.get("until") else "every")
        return original(store, *args, **kwargs)

    queued: dict[str, list[int]] = {"subset": [], "every": []}
    moment = START.astimezone(UTC)
    with patch.object(Store, "open_clocks", counting), patch.object(ticker, "BATCH", 10):
        for step in range(int(timedelta(days=5) / STEP)):
            moment += STEP
            case_id, name = clocks[rng.randrange(len(clocks))]
            for side, service in zip(("subset", "every"), services, strict=True):
                assert isinstance(service.clock, ManualClock)
                service.clock.set(moment)
                if step % 3 == 0:  # a staff reply meets (or settles late) a clock
                    service.store.settle_clock(case_id, name, moment, f"<m{step}@x>")
                else:  # a message leaves an event
                    service.store.add_event(case_id, moment, "mailbot", "note", f"{step}")
                if side == "every":
                    with patch.object(ticker, "daily_keys", never_all_recorded):
                        queued[side].append(service.tick())
                else:
                    queued[side].append(service.tick())
    subset, every = (snapshot(s.store) for s in services)
    for service in services:
        service.close()
    assert queued["subset"] == queued["every"]
    assert subset == every
    assert sum(queued["every"]) > 10  # the first morning crosses a batch (BATCH = 10)
    assert reads.count("subset") > len(reads) // 4


def test_a_notice_that_fails_to_render_stops_the_tick_after_the_ones_before_it(
    tmp_path: Path,
) -> None:
    """Notices rendered before a failing one are queued (same batch); the next tick sends
    the rest: the failure neither loses nor repeats a notice."""
    settings_ = config.embedded(tmp_path)
    store = Store(settings_.database.path)
    fill(store, random.Random(7))
    service = Service(
        settings_,
        store,
        MaildirMailbox(tmp_path / "inbox"),
        MaildirTransport(tmp_path / "outbox"),
        ManualClock(datetime(2027, 1, 12, 9, 0, tzinfo=AMS).astimezone(UTC)),
    )
    real = ticker.render_notice
    calls: list[str] = []

    def third_fails(notice: Any, inp: Any, policy: Any) -> Any:
        calls.append(notice.key)
        if len(calls) == 3:
            raise RuntimeError("template broke")
        return real(notice, inp, policy)

    mails = "SELECT key FROM notices WHERE NOT (kind = 'escalation' AND case_id IS NOT NULL)"
    with patch.object(ticker, "BATCH", 10):
        with patch.object(ticker, "render_notice", third_fails), pytest.raises(RuntimeError):
            service.tick()
        first = [r[0] for r in store.db.execute(f"{mails} ORDER BY rowid")]
        rest = service.tick()
    total = store.db.execute(f"SELECT COUNT(*), COUNT(DISTINCT key) FROM ({mails})").fetchone()
    outbox = store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    service.close()
    assert (first, tuple(total), outbox) == (calls[:2], (2 + rest, 2 + rest), 2 + rest)
    assert 2 + rest > 10  # the morning's notices fill more than one batch


def test_digest_lists_at_most_200_per_section_and_counts_the_rest(tmp_path: Path) -> None:
    """250 overdue clocks: the section header says 250, 200 are listed, 50 are counted."""
    embedded = config.embedded(tmp_path)
    now = datetime(2027, 1, 13, 9, 0, tzinfo=UTC)
    calendar = calendar_for(embedded)
    clocks = tuple(
        OpenClock(
            f"MK-2027-{n:04d}",
            "ack_due",
            now - timedelta(days=1),
            "x",
            f"melding {n}",
            "new",
            False,
        )
        for n in range(1, 251)
    )
    notice = SchedulerNotice(
        "digest:2027-01-13", "digest", "notify", None, None, None, "", "", clocks
    )
    inp = Inputs(embedded, calendar, Renderer(), now)
    body = email.message_from_bytes(render_notice(notice, inp, SchedulePolicy()).raw)
    text = body.get_payload(decode=True).decode()
    assert "Verlopen (250)" in text
    assert (text.count("[MK-2027-"), "… en nog 50 (zie `mailbot deadlines`)" in text) == (200, True)


def escalation_mail(tmp_path: Path, language: str) -> tuple[str, str, SchedulerNotice]:
    """(Subject, body, notice) of Wed 13 Jan's escalation naming two clocks missed since
    Tuesday's and one still missed, rendered in `language`."""
    embedded = config.embedded(tmp_path)
    settings_ = replace(embedded, identity=replace(embedded.identity, language=language))
    now = datetime(2027, 1, 13, 8, 30, tzinfo=AMS)
    calendar = calendar_for(settings_)

    def missed(n: int, name: str, due: datetime, at: datetime | None) -> OpenClock:
        return OpenClock(
            f"MK-2027-{n:04d}", name, due, f"why {n}", f"melding {n}", "new", False, at
        )

    still = missed(1, "response_due", datetime(2027, 1, 8, 17, tzinfo=AMS), None)
    still = replace(still, missed_at=still.due)
    late = missed(2, "resolve_due", datetime(2027, 1, 12, 11, tzinfo=AMS), None)
    late = replace(late, missed_at=late.due)
    fresh = missed(3, "ack_due", datetime(2027, 1, 12, 17, tzinfo=AMS), None)
    previous = datetime(2027, 1, 12, 8, 30, tzinfo=AMS)
    found = notices(now, calendar, [fresh, still, late], set(), last_escalation=previous)
    notice = next(n for n in found if n.kind == "escalation")
    inp = Inputs(settings_, calendar, Renderer(), now.astimezone(UTC))
    raw = render_notice(notice, inp, SchedulePolicy()).raw
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, email.message.EmailMessage)
    return str(mail["Subject"]), mail.get_content(), notice


@pytest.mark.parametrize(
    ("language", "subject", "lines"),
    [
        (
            "nl",
            ": 3 verlopen termijnen, 2 nieuw",
            [
                "Nieuw verlopen (2)",
                "[MK-2027-0002] oplossing — melding 2",
                "Te laat:     werkdag 2 sinds de termijn verliep",
                "[MK-2027-0003] ontvangstbevestiging — melding 3",
                "Te laat:     werkdag 1 sinds de termijn verliep",
                "Nog steeds verlopen (1, langst verlopen eerst)",
                "[MK-2027-0001] inhoudelijke reactie — melding 1",
                "Te laat:     werkdag 3 sinds de termijn verliep",
                "Waarom:      why 1",
            ],
        ),
        (
            "en",
            ": 3 missed deadlines, 2 new",
            [
                "Newly missed (2)",
                "[MK-2027-0002] resolution — melding 2",
                "Overdue:  working day 2 since the deadline passed",
                "[MK-2027-0003] acknowledgement — melding 3",
                "Overdue:  working day 1 since the deadline passed",
                "Still missed (1, longest overdue first)",
                "[MK-2027-0001] substantive response — melding 1",
                "Overdue:  working day 3 since the deadline passed",
                "Why:      why 1",
            ],
        ),
    ],
)
def test_the_days_escalation_lists_newly_missed_then_still_missed(
    tmp_path: Path, language: str, subject: str, lines: list[str]
) -> None:
    """One mail, to the escalate list only, lists the two clocks missed since Tuesday's
    escalation (by due) before the one named already, each with due, working day, why."""
    actual_subject, body, notice = escalation_mail(tmp_path, language)
    listed = [line.strip() for line in body.splitlines() if line.strip() in lines]
    assert (actual_subject.endswith(subject), listed) == (True, lines)
    assert (notice.key, notice.case_id) == ("escalation:2027-01-13", None)


def test_the_dutch_escalation_has_no_english_words(tmp_path: Path) -> None:
    """The Dutch escalation's own text says nothing in English (explanations aside)."""
    _, body, _ = escalation_mail(tmp_path, "nl")
    own = "\n".join(line for line in body.splitlines() if "why " not in line)
    english = {"missed", "deadline", "overdue", "still", "new", "working", "reply", "due"}
    assert sorted(english & set(own.lower().replace("(", " ").split())) == []


def test_last_sent_between_finds_the_previous_days_escalation_by_the_key_index(
    tmp_path: Path,
) -> None:
    """The last escalation mail before today: the greatest day key below today's, not a
    clock's own key nor today's, found by a search of the key index."""
    store = Store(tmp_path / "db.sqlite")
    rows = [
        ("escalation:2027-01-11", None, "2027-01-11T07:30:00+00:00"),
        ("escalation:2027-01-12", None, "2027-01-12T10:05:00+00:00"),
        ("escalation:2027-01-13", None, "2027-01-13T07:30:00+00:00"),
        (
            "escalation:MK-2027-0001:ack_due:2027-01-12T16:00:00+00:00:2027-01-13",
            "MK-2027-0001",
            "2027-01-13T07:30:00+00:00",
        ),
        ("digest:2027-01-12", None, "2027-01-12T07:30:00+00:00"),
    ]
    for key, case_id, at in rows:
        store.db.execute(
            "INSERT INTO notices (key, kind, case_id, message_id, sent_at)"
            " VALUES (?, 'escalation', ?, NULL, ?)",
            [key, case_id, at],
        )
    executed: list[str] = []
    store.db.conn.set_trace_callback(executed.append)
    try:
        found = [
            store.last_sent_between("escalation:", "escalation:2027-01-13"),
            store.last_sent_between("escalation:", "escalation:2027-01-11"),
        ]
    finally:
        store.db.conn.set_trace_callback(None)
    plan = " / ".join(str(r[3]) for r in store.db.execute(f"EXPLAIN QUERY PLAN {executed[0]}"))
    store.close()
    assert found == [datetime(2027, 1, 12, 10, 5, tzinfo=UTC), None]
    assert plan.startswith(
        "SEARCH notices USING INDEX sqlite_autoindex_notices_1 (key>? AND key<?)"
    )


def add_unmatched_bounce(store: Store, n: int) -> None:
    """A recorded delivery report that named no failed mail of ours, with its digest event."""
    sha = f"{n:064x}"
    store.db.execute(
        "INSERT INTO messages (sha256, size, from_address, subject, received_at, disposition,"
        " reason, recorded_at) VALUES (?, 1, 'mailer-daemon@mx.example', ?, ?, 'bounce', 'x', ?)",
        [sha, f"bounce {n}", AT, AT],
    )
    store.db.execute(
        "INSERT INTO events (case_id, at, actor, kind, detail) VALUES (NULL, ?, 'mailbot', ?, ?)",
        [AT, UNMATCHED, sha],
    )


def test_unmatched_bounces_are_read_through_indexes(tmp_path: Path) -> None:
    """The digest's bounce reads search events_case (case_id NULL) and the messages sha256
    index: no scan of either table, however many messages are stored."""
    store = Store(tmp_path / "db.sqlite")
    executed: list[str] = []
    store.db.conn.set_trace_callback(executed.append)
    try:
        store.unmatched_bounces(10)
    finally:
        store.db.conn.set_trace_callback(None)
    selects = [sql for sql in executed if sql.lstrip().upper().startswith("SELECT")]
    details = [
        " / ".join(str(row[3]) for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in selects
        if "FROM events" in sql
    ]
    store.close()
    assert len(details) == 2
    assert all("SEARCH e" in d or "SEARCH events" in d for d in details), details
    assert all("SCAN" not in d for d in details), details


def test_a_bounce_recorded_while_a_digest_is_made_waits_for_the_next_one(
    tmp_path: Path,
) -> None:
    """The mark is the last event id read, not a moment: a report committed between the
    read and the digest's record is listed by the next digest, none twice."""
    store = Store(tmp_path / "db.sqlite")
    for n in (1, 2):
        add_unmatched_bounce(store, n)
    first = store.unmatched_bounces(1)
    add_unmatched_bounce(store, 3)  # arrives while the first digest is rendered
    store.mark_listed(first)
    second = store.unmatched_bounces(10)
    store.mark_listed(second)
    third = store.unmatched_bounces(10)
    store.close()
    shown = [([b.subject for b in x.entries], x.total) for x in (first, second, third)]
    assert shown == [(["bounce 1"], 2), (["bounce 3"], 1), ([], 0)]

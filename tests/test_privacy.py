"""Privacy: `mailbot purge` (retention), the database file mode, and logs without reporter data."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import SmtpTestServer
from factories import email_message, maildir_service, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot import cli
from mailbot.core import config
from mailbot.core.errors import UserError
from mailbot.core.models import CLOSED_STATES, CaseState, Disposition, OutgoingMail
from mailbot.shell import logs
from mailbot.shell.clock import FAKE_NOW_ENV, ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.smtp import SmtpTransport
from mailbot.shell.transport import Transport
from mailbot.store import Store
from mailbot.store.purge import (
    CaseRow,
    DatedRow,
    cases_to_purge,
    cutoff,
    purge,
    rows_to_purge,
)
from mailbot.store.purge_rules import KEPT_EVENT_KINDS, PURGED

START = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)  # Mon 10:00 CET
LATER = START + timedelta(days=731)
CASE = "MK-2026-0001"
STAFF = "security@gemeente.example"
NAME = "Jantje Geheimnaam"
EMAIL = "jantje.geheim@example.nl"
PHONE = "06 4711 0815"
SUBJECT = "Lek in portaal Zwanenburg"
BODY_MARK = "BODYMARK7f3a"
FOLLOWUP_MARK = "FOLLOWUPMARK22c"
ATTACHMENT_NAME = "bewijs-zwanenburg.txt"
OUTSIDER = "buitenstaander@evil.example"


def mail(sender: str, subject: str, body: str, number: int, attachment: bool = False) -> bytes:
    """One plain-text mail (with an optional text attachment) as an MTA delivers it."""
    proof = (ATTACHMENT_NAME, b"proof") if attachment else None
    return bytes(
        email_message(sender, subject, body, f"<m{number}@mail.example>", attachment=proof)
    )


class Bot:
    """A service on a temporary Maildir inbox with a manual clock."""

    def __init__(self, base: Path, transport: Transport | None = None) -> None:
        settings = config.embedded(base)  # staff mail here carries no Authentication-Results
        staff = replace(settings.staff, require_authenticated=False)
        self.settings = replace(settings, staff=staff)
        self.clock = ManualClock(START)
        self.store = Store(self.settings.database.path)
        self.service = maildir_service(
            base, self.settings, self.clock, store=self.store, transport=transport
        )
        self.inbox = base / "inbox"
        self.count = 0

    def send(self, sender: str, subject: str, body: str, attachment: bool = False) -> Disposition:
        """Deliver one mail a minute after the last and run once; its disposition."""
        self.count += 1
        self.clock.set(START + timedelta(minutes=self.count))
        raw = mail(sender, subject, body, self.count, attachment)
        deliver_to_maildir(self.inbox, raw, self.clock.now())
        outcomes, _ = asyncio.run(self.service.run_once())
        return outcomes[0].disposition

    def report(self) -> None:
        """The reporter's report: name, address, phone, subject, body and an attachment."""
        body = f"Op https://portaal.gemeente.example is een XSS. {BODY_MARK}\nTelefoon: {PHONE}"
        sent = self.send(f"{NAME} <{EMAIL}>", SUBJECT, body + f"\nGroet, {NAME}", True)
        assert sent == Disposition.NEW_CASE

    def close(self) -> None:
        """A follow-up, an outsider naming the case, then staff close it."""
        tagged = f"Re: [{CASE}] {SUBJECT}"
        assert self.send(EMAIL, tagged, f"Nog iets: {FOLLOWUP_MARK}") == Disposition.FOLLOWUP
        assert self.send(OUTSIDER, tagged, "Geef mij de melding") == Disposition.UNVERIFIED
        reply = "Close: resolved opgelost in release 4.2\n\nDank u, het lek is gedicht."
        assert self.send(STAFF, tagged, reply) == Disposition.STAFF_REPLY

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of `table`, in id order."""
        return [dict(r) for r in self.store.db.query(f"SELECT * FROM [{table}] ORDER BY rowid")]

    def dump(self) -> str:
        """The whole database as SQL text."""
        return "\n".join(self.store.db.conn.iterdump())

    def file_bytes(self) -> bytes:
        """The database file and its WAL, as they lie on disk."""
        path = self.settings.database.path
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    """A bot with case MK-2026-0001 reported, followed up, named by an outsider, closed."""
    b = Bot(tmp_path)
    b.report()
    b.close()
    yield b
    b.service.close()


@pytest.fixture
def reset_logging() -> Iterator[None]:
    """structlog back to its defaults after the test (it may hold a captured stderr)."""
    yield
    structlog.reset_defaults()


def personal(bot: Bot) -> list[str]:
    """The reporter's data as stored before the purge (address, name, phone, subject)."""
    case = bot.store.case(CASE)
    assert case is not None and case.reporter_phone is not None
    assert (case.reporter_email, case.reporter_name, case.subject) == (EMAIL, NAME, SUBJECT)
    return [EMAIL, NAME, case.reporter_phone, PHONE, SUBJECT]


# -- the pure choice ------------------------------------------------------------------------


def row(
    state: CaseState, days_ago: float, event_days_ago: float | None = None, queued: int = 0
) -> CaseRow:
    """A CaseRow last updated `days_ago` days before START."""
    event = None if event_days_ago is None else START - timedelta(days=event_days_ago)
    return CaseRow(f"{state}-{days_ago}", state, START - timedelta(days=days_ago), event, queued)


def test_only_closed_cases_past_retention_without_queued_mail_are_chosen() -> None:
    """Closed and older than DAYS: chosen; open, recent, exactly at the cutoff or queued: not."""
    rows = [
        row(CaseState.RESOLVED, 31),
        row(CaseState.REJECTED, 400),
        row(CaseState.INVESTIGATING, 400),
        row(CaseState.CLOSED, 29),
        row(CaseState.CLOSED, 30),
        row(CaseState.SPAM, 400, queued=1),
    ]
    chosen = [r.id for r in cases_to_purge(rows, START, 30)]
    assert chosen == ["resolved-31", "rejected-400"]


def test_a_recent_event_counts_as_a_change() -> None:
    """A follow-up event after the case row's last update keeps the case out."""
    rows = [row(CaseState.RESOLVED, 400, event_days_ago=2), row(CaseState.CLOSED, 400, 399)]
    assert [r.id for r in cases_to_purge(rows, START, 30)] == ["closed-400"]


def test_unattached_rows_are_chosen_by_age() -> None:
    """Rows of no case older than DAYS are chosen, younger ones (and the boundary) are not."""
    rows = [DatedRow(n, START - timedelta(days=d)) for n, d in enumerate([0, 10, 10.5, 11, 99])]
    assert rows_to_purge(rows, START, 10) == [2, 3, 4]


def test_cutoff_refuses_negative_days_and_naive_now() -> None:
    """A negative retention is a UserError naming it; a naive `now` is refused."""
    with pytest.raises(UserError, match="-1"):
        cutoff(START, -1)
    with pytest.raises(ValueError, match="timezone-aware"):
        cutoff(START.replace(tzinfo=None), 1)
    assert cutoff(START, 2) == datetime(2026, 12, 19, 9, 0, tzinfo=UTC)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(CaseState)),
            st.integers(0, 1000),
            st.none() | st.integers(0, 1000),
            st.integers(0, 2),
        ),
        max_size=20,
    ),
    st.integers(0, 900),
)
def test_choice_is_exactly_the_rule(
    specs: list[tuple[CaseState, int, int | None, int]], days: int
) -> None:
    """For any rows a case is chosen iff closed, unqueued and last changed before the cutoff."""
    rows = [
        CaseRow(
            str(i),
            state,
            START - timedelta(hours=updated),
            None if event is None else START - timedelta(hours=event),
            queued,
        )
        for i, (state, updated, event, queued) in enumerate(specs)
    ]
    limit = START - timedelta(days=days)
    expected = [
        r.id
        for r in rows
        if r.state in CLOSED_STATES
        and r.queued_mails == 0
        and max(r.updated_at, r.last_event_at or r.updated_at) < limit
    ]
    assert [r.id for r in cases_to_purge(rows, START, days)] == expected


# -- the purge on a real store ----------------------------------------------------------------


def test_purge_anonymises_the_case_and_keeps_its_skeleton(bot: Bot) -> None:
    """Reporter data, raw mail, names, subjects and Message-IDs go; states, dates, kinds stay."""
    before_case = bot.store.case(CASE)
    assert before_case is not None and before_case.affected != ()
    before_events = bot.store.events(CASE)
    before_clocks = bot.store.clocks_of_case(CASE)
    before_attachments = bot.rows("attachments")
    outbox_ids = {r["message_id"]: r["id"] for r in bot.rows("outbox")}
    report = purge(bot.store, LATER, 730)
    assert [c.id for c in report.cases] == [CASE]
    case = bot.store.case(CASE)
    expected = replace(
        before_case,
        reporter_email=None,
        reporter_name="",
        reporter_phone=None,
        subject=PURGED,
        affected=(),
        close_reason=PURGED,
    )
    assert case == expected
    met_by = [
        None if k.met_by is None else f"{PURGED} {outbox_ids[k.met_by]}" for k in before_clocks
    ]
    assert bot.store.clocks_of_case(CASE) == [
        replace(k, met_by=m) for k, m in zip(before_clocks, met_by, strict=True)
    ]
    for message in bot.rows("messages"):
        assert (message["raw"], message["from_address"], message["from_name"]) == (None, None, "")
        assert (message["subject"], message["reason"]) == (PURGED, PURGED)
        assert (message["message_id"], message["content_sha256"]) == (None, None)
    attachments = bot.rows("attachments")
    assert [(a["filename"], a["sha256"]) for a in attachments] == [(PURGED, "")]
    kept = [(a["content_type"].partition("/")[0], a["size"]) for a in before_attachments]
    assert [(a["content_type"], a["size"]) for a in attachments] == kept
    for mail_row in bot.rows("outbox"):
        assert (mail_row["raw"], mail_row["recipients"], mail_row["subject"]) == (
            None,
            "[]",
            PURGED,
        )
        assert mail_row["message_id"] == f"{PURGED} {mail_row['id']}"
    assert {(r["address"], r["mailbox"]) for r in bot.rows("outbox_recipients")} == {
        (PURGED, PURGED)
    }
    events = bot.store.events(CASE)
    for old, new in zip(before_events, events[: len(before_events)], strict=True):
        keep = old.kind in KEPT_EVENT_KINDS or old.kind.startswith("clock_")
        assert new == (old if keep else replace(old, detail=PURGED))
    assert [
        (e.at.isoformat(), e.actor, e.kind, e.detail) for e in events[len(before_events) :]
    ] == [(LATER.isoformat(), "mailbot", "purged", "anonymised after 730 days")]


def test_purged_bytes_are_gone_from_the_file(bot: Bot) -> None:
    """Before the purge the file holds the reporter's data; after it (VACUUM, WAL truncated) not."""
    marks = [
        m.encode() for m in [*personal(bot), BODY_MARK, FOLLOWUP_MARK, ATTACHMENT_NAME, OUTSIDER]
    ]
    before = bot.file_bytes()
    assert [m for m in marks if m in before] == marks
    bot.store.db.execute("PRAGMA secure_delete = OFF")  # as SQLite builds other than Debian's
    report = purge(bot.store, LATER, 730)
    assert (report.vacuumed, report.wal_truncated) == (True, True)
    after = bot.file_bytes()
    assert [m.decode() for m in marks if m in after] == []


def test_second_purge_changes_nothing(bot: Bot) -> None:
    """Purging twice: the second run finds nothing and leaves the database as it was."""
    first = purge(bot.store, LATER, 730)
    assert first.changed
    dump = bot.dump()
    second = purge(bot.store, LATER + timedelta(days=5), 730)
    assert (second.cases, second.changed, second.vacuumed) == ((), False, False)
    assert bot.dump() == dump


def test_dry_run_changes_nothing_and_lists_the_same(bot: Bot) -> None:
    """--dry-run leaves every row as it is and reports what the real run then does."""
    dump = bot.dump()
    dry = purge(bot.store, LATER, 730, dry_run=True)
    assert bot.dump() == dump
    real = purge(bot.store, LATER, 730)
    ignore = {"dry_run", "vacuumed", "wal_truncated"}
    assert {k: v for k, v in dry.to_json().items() if k not in ignore} == {
        k: v for k, v in real.to_json().items() if k not in ignore
    }
    assert dry.unattached["messages"] == 1  # the outsider's mail
    assert dry.cases[0].rows["messages"] == 3


def test_nothing_is_purged_before_the_retention_has_passed(bot: Bot) -> None:
    """A day short of the retention period: no case, no unattached row, no change."""
    dump = bot.dump()
    report = purge(bot.store, START + timedelta(days=730), 730)
    assert (report.cases, report.changed) == ((), False)
    assert bot.dump() == dump


def test_open_case_is_never_purged(tmp_path: Path) -> None:
    """An open case past the retention keeps its reporter; the mail of no case is purged."""
    b = Bot(tmp_path)
    b.report()
    assert b.send(OUTSIDER, f"Re: [{CASE}] x", "hallo") == Disposition.UNVERIFIED
    report = purge(b.store, LATER, 730)
    case = b.store.case(CASE)
    assert case is not None
    assert (report.cases, case.reporter_email, case.reporter_name) == ((), EMAIL, NAME)
    assert report.unattached["messages"] == 1
    b.service.close()


def test_new_mail_on_a_purged_case_is_purged_after_its_own_retention(bot: Bot) -> None:
    """Staff writing on a purged case restarts the period; later that mail is purged too."""
    purge(bot.store, LATER, 730)
    bot.clock.set(LATER + timedelta(hours=1))
    reply = "Internal: yes\nNote: nagekomen vraag van de melder\n\nAlleen voor ons."
    deliver_to_maildir(bot.inbox, mail(STAFF, f"Re: [{CASE}] x", reply, 99), bot.clock.now())
    asyncio.run(bot.service.run_once())
    assert purge(bot.store, LATER + timedelta(days=10), 730).cases == ()
    again = purge(bot.store, LATER + timedelta(days=732), 730)
    assert [c.id for c in again.cases] == [CASE]
    assert again.cases[0].rows["messages"] == 1
    assert {m["raw"] for m in bot.rows("messages")} == {None}


def test_notice_keys_are_purged_by_age(tmp_path: Path) -> None:
    """Every notice of no case past the retention loses key and Message-ID; a young one not."""
    store = Store(tmp_path / "mailbot.db")
    old_key, new_key = f"flood:{EMAIL}:2026-12-21", f"flood:{EMAIL}:2028-12-20"
    store.record_notice(old_key, "alert", None, "a1@gemeente.example", START)
    store.record_notice("digest:2026-12-21", "digest", None, "a2@gemeente.example", START)
    store.record_notice(new_key, "alert", None, "a3@gemeente.example", LATER)
    report = purge(store, LATER, 730)
    rows = store.db.execute("SELECT key, message_id FROM notices ORDER BY rowid").fetchall()
    store.close()
    assert [tuple(r) for r in rows] == [
        (f"{PURGED}:1", PURGED),
        (f"{PURGED}:2", PURGED),
        (new_key, "a3@gemeente.example"),
    ]
    assert report.unattached["notices"] == 2


def test_a_notice_waits_for_its_queued_mail(tmp_path: Path) -> None:
    """A notice whose mail is still queued keeps key and Message-ID; once sent, it is purged."""
    store = Store(tmp_path / "mailbot.db")
    key = f"flood:{EMAIL}:2026-12-21"
    alert = OutgoingMail("alert", "a1@gemeente.example", STAFF, (STAFF,), f"Flood {EMAIL}", b"x")
    store.record_notice(key, "alert", None, alert.message_id, START)
    store.enqueue(alert, START)
    waiting = purge(store, LATER, 730)
    kept = store.db.execute("SELECT key, message_id FROM notices").fetchall()
    store.db.execute("UPDATE outbox SET status = 'sent'")
    sent = purge(store, LATER, 730)
    gone = store.db.execute("SELECT key, message_id FROM notices").fetchall()
    outbox_id = store.db.execute("SELECT id FROM outbox").fetchone()[0]
    store.close()
    assert (waiting.unattached["notices"], [tuple(r) for r in kept]) == (
        0,
        [(key, "a1@gemeente.example")],
    )
    assert (sent.unattached["notices"], [tuple(r) for r in gone]) == (
        1,
        [(f"{PURGED}:1", f"{PURGED} {outbox_id}")],
    )


@pytest.mark.parametrize(("age_days", "purged"), [(0.5, False), (30.9, False), (31.1, True)])
def test_a_notice_key_outlives_a_short_retention(
    tmp_path: Path, age_days: float, purged: bool
) -> None:
    """With --older-than 0 a notice keeps its key 31 days: no second digest or flood alert."""
    store = Store(tmp_path / "mailbot.db")
    sent = LATER - timedelta(days=age_days)
    store.record_notice("digest:2028-12-21", "digest", None, "d@gemeente.example", sent)
    purge(store, LATER, 0)
    keys = [r[0] for r in store.db.execute("SELECT key FROM notices")]
    store.close()
    assert keys == [f"{PURGED}:1" if purged else "digest:2028-12-21"]


# -- the database file ------------------------------------------------------------------------


def test_database_and_wal_files_are_private(tmp_path: Path) -> None:
    """With umask 022 the database, its -wal and -shm are 0600, and stay so after a purge."""
    old = os.umask(0o022)
    try:
        b = Bot(tmp_path)
        b.report()
        b.close()
        path = b.settings.database.path
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

        def modes() -> list[int]:
            return [stat.S_IMODE(f.stat().st_mode) for f in files]

        assert modes() == [0o600, 0o600, 0o600]
        purge(b.store, LATER, 730)
        assert modes() == [0o600, 0o600, 0o600]
        b.service.close()
    finally:
        os.umask(old)


# -- the command --------------------------------------------------------------------------------


def test_purge_command_prints_json_only_and_uses_the_configured_retention(
    bot: Bot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    reset_logging: None,
) -> None:
    """`purge --dry-run --json` prints one JSON document; the default DAYS is retention_days."""
    bot.service.close()
    cfg = write_config(tmp_path, privacy={"retention_days": 700})
    monkeypatch.setenv(FAKE_NOW_ENV, (START + timedelta(days=701)).isoformat())
    assert cli.main(["--config", str(cfg), "purge", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dry_run"], out["older_than_days"], [c["id"] for c in out["cases"]]) == (
        True,
        700,
        [CASE],
    )
    assert cli.main(["--config", str(cfg), "purge", "--older-than", "800", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cases"] == []
    assert cli.main(["--config", str(cfg), "purge"]) == 0
    text = capsys.readouterr().out
    assert "Purged 1 closed case(s)" in text and CASE in text
    store = Store(tmp_path / "mailbot.db")
    case = store.case(CASE)
    store.close()
    assert case is not None and case.reporter_email is None


def test_purge_command_without_any_retention_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    """retention_days = 0 and no --older-than: exit 2 naming what to give; negative DAYS too."""
    cfg = write_config(tmp_path, privacy={"retention_days": 0})
    assert cli.main(["--config", str(cfg), "purge"]) == 2
    assert "--older-than" in capsys.readouterr().err
    assert cli.main(["--config", str(cfg), "purge", "--older-than", "-3"]) == 2
    assert "-3" in capsys.readouterr().err


# -- logs ---------------------------------------------------------------------------------------


def captured_logs(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON log events written to stderr so far."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_reporter_data_never_appears_in_info_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reset_logging: None
) -> None:
    """Report, follow-up, outsider, staff close, purge: no address, name, phone, subject logged."""
    logs.configure("json", "info")
    b = Bot(tmp_path)
    b.report()
    data = personal(b)
    b.close()
    purge(b.store, LATER, 730)
    b.service.close()
    events = captured_logs(capsys)
    assert {e["event"] for e in events} >= {"message_handled", "mail_sent"}
    text = json.dumps(events, ensure_ascii=False)
    assert [d for d in [*data, BODY_MARK, FOLLOWUP_MARK, OUTSIDER] if d in text] == []


def test_refused_reporter_address_does_not_reach_the_logs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    smtp_server: SmtpTestServer,
    reset_logging: None,
) -> None:
    """When the reporter's server refuses the acknowledgement, the log holds no address."""
    logs.configure("json", "info")
    smtp_server.refuse_rcpt(EMAIL, "550 5.1.1 no such user")
    transport = SmtpTransport(smtp_server.host, smtp_server.port, "plain", None, None)
    b = Bot(tmp_path, transport)
    b.report()
    b.service.close()
    events = captured_logs(capsys)
    assert "mail_failed" in {e["event"] for e in events}
    assert EMAIL not in json.dumps(events)

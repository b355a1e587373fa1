"""`mailbot purge` column by column: every column of every table is classified, and after
a purge no sender-supplied value of a purged case (or of old mail of no case) is left
anywhere in the database, whichever table or column it travelled to."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from factories import email_message
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import config
from mailbot.core.errors import TransportPermanentError
from mailbot.core.models import Disposition
from mailbot.mail.decoding import normalize_msgid
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.transport import MaildirTransport, Transport
from mailbot.store import Store
from mailbot.store.purge import purge
from mailbot.store.purge_rules import KEPT_EVENT_KINDS, MEDIA_TYPES, PURGED, SCRUB

S = "scrubbed"
MOMENT = "a moment or date"
ROWID = "a row id or a link to one"
OURS = "a case id in our own format"

#: (table, column) → why it may survive a purge, or S when `purge_rules.SCRUB` scrubs it.
COLUMNS: dict[tuple[str, str], str] = {
    ("attachments", "id"): ROWID,
    ("attachments", "message"): ROWID,
    ("attachments", "filename"): S,
    ("attachments", "content_type"): S,  # keeps only a registered top-level type
    ("attachments", "size"): "a byte count",
    ("attachments", "sha256"): S,
    ("cases", "id"): OURS,
    ("cases", "year"): "part of our case id",
    ("cases", "seq"): "part of our case id",
    ("cases", "state"): "one of CaseState",
    ("cases", "subject"): S,
    ("cases", "reporter_email"): S,
    ("cases", "reporter_name"): S,
    ("cases", "reporter_phone"): S,
    ("cases", "reporter_key"): S,
    ("cases", "missing"): "fixed words: system, description, contact",
    ("cases", "related"): S,
    ("cases", "known_finding"): "a name from [triage] known_findings (the config)",
    ("cases", "source"): "'direct' or 'relay'",
    ("cases", "relay_sender"): "one of the configured [relays] senders (find_reporter), "
    "an organisation's address, never the reporter's",
    ("cases", "language"): "'nl' or 'en' (detect_language)",
    ("cases", "affected"): S,
    ("cases", "flags"): "fixed words: no_contact, followup_after_close, unreachable, oversized,"
    " encrypted, decrypted, signed_valid",
    ("cases", "waiting"): "0 or 1",
    ("cases", "assignee"): "an address of the [staff] list (Assign: refuses any other)",
    ("cases", "severity"): "one of commands.SEVERITIES, or NULL",
    ("cases", "reward"): "one of commands.REWARDS",
    ("cases", "close_reason"): S,
    ("cases", "received_at"): MOMENT,
    ("cases", "ontvangstdag"): MOMENT,
    ("cases", "ack_due"): MOMENT,
    ("cases", "ack_explanation"): "our calendar's text: dates, working days, closed days",
    ("cases", "response_due"): MOMENT,
    ("cases", "response_explanation"): "our calendar's text: dates, working days, closed days",
    ("cases", "acknowledged_at"): MOMENT,
    ("cases", "created_at"): MOMENT,
    ("cases", "updated_at"): MOMENT,
    ("case_systems", "case_id"): OURS,
    ("case_systems", "system"): "a 96-bit BLAKE2b digest of a normalised system name",
    ("case_bands", "band"): "a band number and a 64-bit digest of MinHash values",
    ("case_bands", "case_id"): OURS,
    ("case_signatures", "case_id"): OURS,
    ("case_signatures", "signature"): "64 MinHash values of word 3-shingles (no text)",
    ("clocks", "id"): ROWID,
    ("clocks", "case_id"): OURS,
    ("clocks", "name"): "ack_due, response_due, resolve_due or update_due",
    ("clocks", "due"): MOMENT,
    ("clocks", "explanation"): "our calendar's text: dates, working days, closed days",
    ("clocks", "started_at"): MOMENT,
    ("clocks", "met_at"): MOMENT,
    ("clocks", "met_by"): S,  # our Message-ID: becomes the purged outbox row's stand-in
    ("clocks", "missed_at"): MOMENT,
    ("clocks", "done_at"): MOMENT,
    ("events", "id"): ROWID,
    ("events", "case_id"): OURS,
    ("events", "at"): MOMENT,
    ("events", "actor"): "'mailbot', 'reporter' or the [staff] address of a staff reply",
    ("events", "kind"): "our event kind",
    ("events", "detail"): S,  # but for KEPT_EVENT_KINDS and clock_*: our text only
    ("mailbox_state", "key"): "our names: heartbeats, imap:<configured folder>:…, digest marks",
    ("mailbox_state", "value"): "a moment, a UIDVALIDITY, a UID or an event id",
    ("messages", "id"): ROWID,
    ("messages", "message_id"): S,
    ("messages", "sha256"): "a fingerprint of the raw bytes: only who holds those very bytes "
    "can match it; intake needs it to resume the same item and to know a byte-identical copy",
    ("messages", "size"): "a byte count",
    ("messages", "from_address"): S,
    ("messages", "from_name"): S,
    ("messages", "subject"): S,
    ("messages", "received_at"): MOMENT,
    ("messages", "disposition"): "one of Disposition",
    ("messages", "reason"): S,
    ("messages", "case_id"): OURS,
    ("messages", "named_case"): "a case id that exists (found by tag or reference)",
    ("messages", "mailbox_key"): "the mailbox's own name for the item (Maildir unique name "
    "given by the delivering MDA; IMAP folder, UIDVALIDITY and UID), never sender text",
    ("messages", "raw"): S,
    ("messages", "recorded_at"): MOMENT,
    ("messages", "content_sha256"): S,
    ("notices", "key"): S,
    ("notices", "kind"): "our notice kind",
    ("notices", "case_id"): OURS,
    ("notices", "message_id"): S,
    ("notices", "sent_at"): MOMENT,
    ("outbox", "id"): ROWID,
    ("outbox", "message_id"): S,  # a hash of a key that may hold an address (flood alert)
    ("outbox", "case_id"): OURS,
    ("outbox", "kind"): "our mail kind",
    ("outbox", "sender"): "our [identity] address",
    ("outbox", "recipients"): S,
    ("outbox", "subject"): S,
    ("outbox", "raw"): S,
    ("outbox", "automatic"): "0 or 1",
    ("outbox", "status"): "queued, sent, failed or suppressed",
    ("outbox", "reason"): S,
    ("outbox", "attempts"): "a count",
    ("outbox", "next_attempt_at"): MOMENT,
    ("outbox", "created_at"): MOMENT,
    ("outbox", "sent_at"): MOMENT,
    ("outbox_recipients", "outbox"): ROWID,
    ("outbox_recipients", "address"): S,
    ("outbox_recipients", "automatic"): "0 or 1",
    ("outbox_recipients", "created_at"): MOMENT,
    ("outbox_recipients", "mailbox"): S,
}

START = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)  # Mon 10:00 CET
STAFF = "security@gemeente.example"
RELAY = "meldpunt@vng.example"  # in the embedded [relays] senders
REPORTER = "qzaddr.melder+qzsub@qzdomain.example"
REFUSED = "qzrelayed@burger.example"  # its server refuses our acknowledgement
LATE_REPORTER = "qzlater@burger.example"
PHONE = "06 1357 2468"
DAYS = 730

#: Every sender-supplied string of the scenario (lower case); none may survive the purge.
MARKERS = (
    *("qzname", "qzaddr", "qzsub", "qzdomain", "qzsubj", "qzbody", "qzmsgid", "qzfile"),
    *("qzctype", "qzhost", "1357 2468", "qzfollow", "qzoutsider", "qznote", "qzreply"),
    *("qzclose", "qzdup", "qzreject", "qzrelayed", "qzrelayhost", "qzlater", "qzassign"),
    *("qzooo", "qzbig", "qzmx", "qzunmatched", "qzmailbox"),
)


def live_columns(db: sqlite3.Connection) -> set[tuple[str, str]]:
    """Every (table, column) of the schema, SQLite's own tables left out."""
    tables = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"
        " ESCAPE '\\'"
    ).fetchall()
    return {(t, str(c[1])) for (t,) in tables for c in db.execute(f"PRAGMA table_info([{t}])")}


def found_markers(db: sqlite3.Connection) -> dict[str, set[tuple[str, str]]]:
    """marker → the (table, column) pairs holding it anywhere, text and blobs alike."""
    found: dict[str, set[tuple[str, str]]] = {}
    for table in sorted({t for t, _ in live_columns(db)}):
        cursor = db.execute(f"SELECT * FROM [{table}]")
        names = [d[0] for d in cursor.description]
        for row in cursor.fetchall():
            for name, value in zip(names, row, strict=True):
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                for marker in MARKERS:
                    if marker in text.lower():
                        found.setdefault(marker, set()).add((table, name))
    return found


# -- the scenario ---------------------------------------------------------------------------


def message(
    sender: str, subject: str, body: str, number: int, reply_to: str | None = None
) -> EmailMessage:
    """One plain-text mail with a marked Message-ID (and a Reply-To when given)."""
    message_id = f"<qzmsgid.{number}@qzmailbox.example>"
    return email_message(sender, subject, body, message_id, reply_to=reply_to)


def mail(sender: str, subject: str, body: str, number: int) -> bytes:
    """`message` as bytes."""
    return bytes(message(sender, subject, body, number))


def report_mail(number: int) -> bytes:
    """The reporter's report: name, sub-address, subject, URL, phone, odd attachment."""
    body = f"Op https://qzhost.example/login zit een XSS. qzbody\nBel mij: {PHONE}"
    msg = message(f"Qzname Kwadraat <{REPORTER}>", f"Lek qzsubj {number}", body, number)
    msg.add_attachment(b"proof", maintype="application", subtype="x-qzctype", filename="qzfile")
    return bytes(msg)


def dsn(message_id: str, number: int) -> bytes:
    """A Postfix-style delivery report naming our mail `message_id`, quoting the reporter."""
    text = f"""\
From: MAILER-DAEMON@qzmx.example
To: meldpunt@gemeente.example
Subject: Undelivered Mail qzunmatched
Message-ID: <dsn{number}@qzmx.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

<{REPORTER}>: host qzmx.example said: 550 5.1.1 qzmailbox unknown

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; qzmx.example

Final-Recipient: rfc822; {REPORTER}
Action: failed
Status: 5.1.1

--B
Content-Type: text/rfc822-headers

From: meldpunt@gemeente.example
To: {REPORTER}
Message-ID: <{message_id}>

--B--
"""
    return text.replace("\n", "\r\n").encode()


class Refusing:
    """A Maildir transport whose 'server' refuses one recipient, quoting the address."""

    def __init__(self, inner: Transport, refused: str) -> None:
        self.inner = inner
        self.refused = refused

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Refuse mail to `refused` for good; deliver the rest."""
        if self.refused in recipients:
            raise TransportPermanentError(f"550 5.1.1 <{self.refused}>: Recipient unknown")
        await self.inner.send(sender, recipients, raw)

    async def check(self) -> list[str]:
        """The inner transport's check."""
        return await self.inner.check()

    async def close(self) -> None:
        """Close the inner transport."""
        await self.inner.close()


@dataclass
class World:
    """A service on Maildir with a manual clock, a cap of one automatic mail a day and a
    40 kB message limit, so the scenario reaches the flood alert and the quarantine."""

    base: Path
    number: int = 0

    def __post_init__(self) -> None:
        settings = config.embedded(self.base)
        self.settings = replace(
            settings,
            staff=replace(settings.staff, require_authenticated=False),
            limits=replace(
                settings.limits, auto_mails_per_address_per_day=1, max_message_bytes=40_000
            ),
        )
        self.clock = ManualClock(START)
        self.store = Store(self.settings.database.path)
        transport = Refusing(MaildirTransport(self.base / "outbox"), REFUSED)
        mailbox = MaildirMailbox(self.base / "inbox")
        self.service = Service(self.settings, self.store, mailbox, transport, self.clock)

    def send(self, raw: bytes) -> Disposition:
        """Deliver `raw` a minute after the last and run once; its disposition."""
        self.clock.set(self.clock.now() + timedelta(minutes=1))
        deliver_to_maildir(self.base / "inbox", raw, self.clock.now())
        outcomes, _ = asyncio.run(self.service.run_once())
        return outcomes[0].disposition

    def next(self) -> int:
        """A fresh number for a Message-ID."""
        self.number += 1
        return self.number

    def staff(self, case: str, body: str) -> None:
        """A staff reply on `case`, handled as one."""
        raw = mail(STAFF, f"Re: [{case}] melding", body, self.next())
        assert self.send(raw) == Disposition.STAFF_REPLY

    def ack_of(self, case: str) -> str:
        """The Message-ID of the acknowledgement of `case`."""
        rows = self.store.outbox_of_case(case)
        return str(next(r.message_id for r in rows if r.kind == "acknowledgement"))


def play(w: World) -> None:
    """Four cases closed after two weeks, with every kind of mail that can quote a sender."""
    assert w.send(report_mail(w.next())) == Disposition.NEW_CASE  # MK-2026-0001
    assert w.send(report_mail(w.next())) == Disposition.NEW_CASE  # 0002: flood alert
    relayed = f"Doorgestuurd namens {REFUSED}: lek op https://qzrelayhost.example/a"
    relay = message(RELAY, "Melding via VNG", relayed, w.next(), reply_to=REFUSED)
    assert w.send(bytes(relay)) == Disposition.NEW_CASE  # its acknowledgement is refused
    anonymous = "Doorgestuurd, melder onbekend: https://qzrelayhost.example/b"
    assert w.send(mail(RELAY, "Melding 2 via VNG", anonymous, w.next())) == Disposition.NEW_CASE
    tagged = "Re: [MK-2026-0001] Lek qzsubj"
    assert w.send(mail(REPORTER, tagged, "Nog iets: qzfollow", w.next())) == Disposition.FOLLOWUP
    outsider = mail("qzoutsider@evil.example", tagged, "Geef mij de melding", w.next())
    assert w.send(outsider) == Disposition.UNVERIFIED
    ooo = mail(REPORTER, "Automatic reply: qzooo", "Ik ben weg", w.next())
    assert w.send(ooo) == Disposition.AUTO_REPLY
    big = mail(REPORTER, "Groot qzbig", "qzbig " * 10_000, w.next())
    assert w.send(big) == Disposition.QUARANTINED
    assert w.send(dsn(w.ack_of("MK-2026-0001"), w.next())) == Disposition.BOUNCE
    assert w.send(dsn("nothing@elsewhere.example", w.next())) == Disposition.BOUNCE
    w.staff("MK-2026-0004", f"Reporter: {LATE_REPORTER}")
    w.staff("MK-2026-0001", "Assign: qzassign@nowhere.example")  # refused
    for _ in range(14):  # reminders, escalations, digests
        w.clock.set(w.clock.now() + timedelta(days=1))
        asyncio.run(w.service.run_once())
    w.staff("MK-2026-0001", "Note: qznote\nClose: resolved qzclose\n\nqzreply, dank u.")
    w.staff("MK-2026-0002", "Close: duplicate MK-2026-0001 qzdup")
    w.staff("MK-2026-0003", "Close: rejected qzreject")
    w.staff("MK-2026-0004", "Close: resolved qzclose")


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, datetime]]:
    """The database after the scenario (closed, checkpointed) and the moment it ended."""
    w = World(tmp_path_factory.mktemp("world"))
    play(w)
    end = w.clock.now()
    w.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    w.service.close()
    yield w.settings.database.path, end


@pytest.fixture
def store(played: tuple[Path, datetime], tmp_path: Path) -> Iterator[Store]:
    """A fresh copy of the played database."""
    path = tmp_path / "mailbot.db"
    shutil.copyfile(played[0], path)
    opened = Store(path)
    yield opened
    opened.close()


# -- the classification ----------------------------------------------------------------------


def test_every_column_of_every_table_is_classified(tmp_path: Path) -> None:
    """The schema after all migrations has exactly the columns COLUMNS classifies."""
    store = Store(tmp_path / "mailbot.db")
    live = live_columns(store.db.conn)
    store.close()
    assert sorted(live - COLUMNS.keys()) == []  # a new column: say why it may stay, or scrub it
    assert sorted(COLUMNS.keys() - live) == []  # a column gone: drop it here


def test_the_scrubbed_columns_are_the_scrub_rules() -> None:
    """Every column classified as scrubbed has a rule in SCRUB, and every rule a column."""
    rules = {(t, c) for t, columns in SCRUB.items() for c in columns}
    assert sorted(rules) == sorted(k for k, why in COLUMNS.items() if why == S)


# -- the whole database -------------------------------------------------------------------------


def test_the_scenario_puts_every_marker_in_the_database(store: Store) -> None:
    """Before the purge every marker is stored somewhere (so the scan below can fail)."""
    found = found_markers(store.db.conn)
    assert [m for m in MARKERS if m not in found] == []


def test_no_marker_survives_the_purge_anywhere(store: Store, played: tuple[Path, datetime]) -> None:
    """After the purge no marker is in any column of any row, nor in the file's bytes."""
    report = purge(store, played[1] + timedelta(days=DAYS + 1), DAYS)
    assert (len(report.cases), report.vacuumed, report.wal_truncated) == (4, True, True)
    assert found_markers(store.db.conn) == {}
    path = store.path
    data = path.read_bytes() + path.with_name(path.name + "-wal").read_bytes()
    assert [m for m in MARKERS if m.encode() in data.lower()] == []


def test_after_the_purge_a_dry_run_finds_nothing(
    store: Store, played: tuple[Path, datetime]
) -> None:
    """Every scrub rule is done once applied: a second run (dry or real) changes no row."""
    later = played[1] + timedelta(days=DAYS + 1)
    purge(store, later, DAYS)
    dump = list(store.db.conn.iterdump())
    dry = purge(store, later, DAYS, dry_run=True)
    real = purge(store, later + timedelta(days=1), DAYS)
    assert (dry.changed, real.changed, real.vacuumed) == (False, False, False)
    assert list(store.db.conn.iterdump()) == dump


def test_purged_message_ids_match_no_inbound_id(
    store: Store, played: tuple[Path, datetime]
) -> None:
    """Our purged Message-IDs and their copies are stand-ins no inbound Message-ID can equal."""
    purge(store, played[1] + timedelta(days=DAYS + 1), DAYS)
    ids = {r[0]: r[1] for r in store.db.execute("SELECT id, message_id FROM outbox")}
    assert ids == {i: f"{PURGED} {i}" for i in ids}
    assert [normalize_msgid(v) for v in ids.values()] == [None] * len(ids)
    copies = store.db.execute(
        "SELECT met_by FROM clocks WHERE met_by IS NOT NULL"
        " UNION ALL SELECT message_id FROM notices WHERE message_id IS NOT NULL"
    ).fetchall()
    assert copies != [] and {c[0] for c in copies} <= set(ids.values())
    inbound = store.db.execute("SELECT COUNT(*) FROM messages WHERE message_id IS NOT NULL")
    assert inbound.fetchone()[0] == 0


# -- any value in any scrubbed column -------------------------------------------------------------

TRICKY = ("", PURGED, f"{PURGED} ", f"{PURGED}:", "(PURGED) ", "text/", "image/x-", "%", "_")
EMPTIED: dict[tuple[str, str], object] = {
    **{("messages", c): None for c in ("message_id", "from_address", "raw", "content_sha256")},
    **{("cases", c): None for c in ("reporter_email", "reporter_phone", "reporter_key")},
    ("outbox", "raw"): None,
    **dict.fromkeys((("cases", "reporter_name"), ("messages", "from_name")), ""),
    ("attachments", "sha256"): "",
    **dict.fromkeys((("cases", "affected"), ("cases", "related"), ("outbox", "recipients")), "[]"),
}


def kept_event(kind: str) -> bool:
    """True for an event whose detail is our own text and stays."""
    return kind in KEPT_EVENT_KINDS or kind.startswith("clock_")


def expected_values(
    column: tuple[str, str], value: str, row: dict[str, Any], ids: dict[str, int]
) -> set[object]:
    """What the scrub rule may leave in `column` of `row`, which held `value` before
    (`ids`: the outbox rows' Message-IDs before the purge, to their row ids)."""
    if column in EMPTIED:
        return {EMPTIED[column]}
    if column == ("attachments", "content_type"):
        top, slash, _ = value.partition("/")
        return {top if slash and top in MEDIA_TYPES else PURGED}
    if column == ("outbox", "message_id"):
        return {f"{PURGED} {row['id']}"}
    if column == ("notices", "key"):
        return {f"{PURGED}:{row['_rowid']}"}
    if column == ("outbox", "reason"):
        return {"" if value == "" else PURGED}
    if column in {("clocks", "met_by"), ("notices", "message_id")}:
        if value in {f"{PURGED} {i}" for i in ids.values()}:
            return {value}  # a stand-in already
        # the outbox row's stand-in, or "(purged)" when that row was purged first
        return {f"{PURGED} {ids[value]}", PURGED} if value in ids else {PURGED}
    return {PURGED}


def rows(db: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    """Every row of `table` with its rowid, in rowid order."""
    cursor = db.execute(f"SELECT rowid AS _rowid, * FROM [{table}] ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def fill(db: sqlite3.Connection, value: str) -> None:
    """`value`, '#' and the rowid in every scrubbed column of every row (detail: only
    of the events whose detail is not kept)."""
    kept = ", ".join(f"'{kind}'" for kind in KEPT_EVENT_KINDS)
    for table, columns in SCRUB.items():
        events = f"WHERE kind NOT IN ({kept}) AND kind NOT LIKE 'clock\\_%' ESCAPE '\\'"
        where = events if table == "events" else ""
        for name in columns:
            # '#' keeps two rows apart: "(purged) 1" + rowid 11 is not row 1's stand-in
            # "(purged) 11" (outbox.message_id is unique).
            stored = "CAST(? || '#' || rowid AS BLOB)" if name == "raw" else "? || '#' || rowid"
            db.execute(f"UPDATE [{table}] SET [{name}] = {stored} {where}", [value])


@settings(max_examples=40, deadline=None)
@given(
    prefix=st.sampled_from(TRICKY),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_any_value_in_a_scrubbed_column_gives_way_to_its_stand_in(
    played: tuple[Path, datetime],
    tmp_path_factory: pytest.TempPathFactory,
    prefix: str,
    text: str,
) -> None:
    """Whatever a scrubbed column holds (look-alikes of the stand-ins too), it ends as one."""
    path = tmp_path_factory.mktemp("any") / "mailbot.db"
    shutil.copyfile(played[0], path)
    store = Store(path)
    db = store.db.conn
    fill(db, prefix + text)
    before = {table: rows(db, table) for table in SCRUB}
    ids = {r["message_id"]: r["id"] for r in before["outbox"]}
    purge(store, played[1] + timedelta(days=DAYS + 1), DAYS)
    after = {table: rows(db, table) for table in SCRUB}
    store.close()
    wrong = []
    for table, columns in SCRUB.items():
        now = {r["_rowid"]: r for r in after[table]}
        for old in before[table]:
            for name in columns:
                if table == "events" and kept_event(old["kind"]):
                    continue
                held = old[name].decode() if isinstance(old[name], bytes) else old[name]
                actual = now[old["_rowid"]][name]
                if actual not in expected_values((table, name), held, old, ids):
                    wrong.append((table, name, old["_rowid"], held, actual))
    assert wrong == []

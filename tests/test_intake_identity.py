"""What makes two inbound mails "the same", and what makes two outgoing mails different.

Issue 12, items 10 to 12 and 14: generated Message-IDs hash their whole key; a Message-ID
match is a duplicate only for the same sender and content; a byte-identical copy is a
recorded duplicate while the same mailbox item seen again is resumed; sub-addresses of
one mailbox share the daily cap.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import factories
from factories import bot, sent
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.models import Disposition, OutgoingMail
from mailbot.core.redelivery import TRACE_HEADERS, content_digest
from mailbot.mail.contacts import mailbox_of
from mailbot.mail.rendering import make_message_id
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.store import Store
from mailbot.store.schema import MIGRATIONS

D = Disposition
START = datetime(2026, 12, 21, 6, 0, tzinfo=UTC)  # Monday 07:00 CET: before the digest
STAFF = "security@gemeente.example"


raw_report = partial(
    factories.report,
    None,
    body="Lek op https://portaal.gemeente.example/login",
    name="",
    subject="Melding",
    content_type=None,
)
"""A plain report from `sender` with Message-ID `message_id` (None: none); `trace` header
lines go on top, as hops prepend them."""


def run(service: Service) -> list[Disposition]:
    """One `run --once` pass; the dispositions in order."""
    outcomes, _ = asyncio.run(service.run_once())
    return [o.disposition for o in outcomes]


def to(mails: list[email.message.EmailMessage], address: str) -> int:
    """How many of `mails` went to `address`."""
    return sum(1 for m in mails if str(m["To"]) == address)


# --- item 10: generated Message-IDs -------------------------------------------------------


@settings(max_examples=200)
@given(prefix=st.text(min_size=20, max_size=60), a=st.text(max_size=40), b=st.text(max_size=40))
def test_message_ids_differ_whenever_their_seeds_differ(prefix: str, a: str, b: str) -> None:
    """Seeds that share any prefix but differ anywhere give different Message-IDs."""
    first = make_message_id("alert", None, prefix + a, "gemeente.example")
    second = make_message_id("alert", None, prefix + b, "gemeente.example")
    assert (first == second) == (a == b)


def test_flood_alerts_of_long_alike_addresses_and_later_days_never_fail_a_report(
    tmp_path: Path,
) -> None:
    """Two long addresses with one start, then a second day: every report is a case."""
    service, clock = bot(tmp_path, cap=1)
    senders = [f"averylongreportername.{n}@example.nl" for n in (1, 2)]
    for day in range(2):
        clock.set(START + timedelta(days=day))
        for n in range(4):
            for sender in senders:
                raw = raw_report(sender, f"<d{day}n{n}.{sender}>", body=f"melding {day} {n}")
                deliver_to_maildir(tmp_path / "inbox", raw, clock.now())
        assert run(service) == [D.NEW_CASE] * 8
    alerts = [m for m in sent(tmp_path) if "één adres" in str(m["Subject"])]
    assert len(alerts) == 4  # one per address and day
    assert len({str(m["Message-ID"]) for m in alerts}) == 4


def test_outbox_refuses_a_taken_message_id_without_failing(tmp_path: Path) -> None:
    """A second mail with a taken Message-ID is not queued, and nothing raises."""
    store = Store(tmp_path / "db.sqlite")
    mail = OutgoingMail("alert", "mailbot.alert.x@gemeente.example", STAFF, (STAFF,), "s", b"x")
    with store.transaction():
        first = store.enqueue(mail, START)
        second = store.enqueue(replace(mail, raw=b"other"), START)
    assert (first, second) == (True, False)
    assert [r.raw for r in store.outbox_all()] == [b"x"]


# --- item 11: Message-ID pre-emption ------------------------------------------------------


def test_pre_empted_message_id_does_not_silence_the_genuine_report(tmp_path: Path) -> None:
    """An attacker sends first with a report's Message-ID: the report is still a case."""
    service, _ = bot(tmp_path)
    inbox = tmp_path / "inbox"
    deliver_to_maildir(inbox, raw_report("mallory@evil.example", "<form-123@web.example>"), START)
    genuine = raw_report("jan@example.nl", "<form-123@web.example>", body="XSS op /zoek?q=")
    deliver_to_maildir(inbox, genuine, START + timedelta(seconds=1))
    assert run(service) == [D.NEW_CASE, D.NEW_CASE]
    mails = sent(tmp_path)
    assert to(mails, "jan@example.nl") == 1
    collision = [m for m in mails if "Message-ID" in str(m["Subject"])]
    assert [str(m["To"]) for m in collision] == [STAFF]
    reason = service.store.messages()[1].reason
    assert reason.endswith("Message-ID <form-123@web.example> was used before by another sender")


def test_same_sender_other_content_is_handled_and_reported(tmp_path: Path) -> None:
    """Same Message-ID and sender, other content: handled normally, staff told."""
    service, _ = bot(tmp_path)
    inbox = tmp_path / "inbox"
    deliver_to_maildir(inbox, raw_report("jan@example.nl", "<m1@example.nl>", body="een"), START)
    deliver_to_maildir(inbox, raw_report("jan@example.nl", "<m1@example.nl>", body="twee"), START)
    assert run(service) == [D.NEW_CASE, D.NEW_CASE]
    reasons = [m.reason for m in service.store.messages()]
    assert reasons[1].endswith("was used before by different content")


def test_re_delivery_with_other_trace_headers_is_a_duplicate(tmp_path: Path) -> None:
    """Same Message-ID, sender and content, other Received/ARC/spam headers: a duplicate."""
    service, _ = bot(tmp_path)
    inbox = tmp_path / "inbox"
    first = raw_report("jan@example.nl", "<m1@example.nl>", trace=("Received: from a by b",))
    again = raw_report(
        "jan@example.nl",
        "<m1@example.nl>",
        trace=("ARC-Seal: i=1; cv=none", "X-Spam-Status: No", "Received: from c by d"),
    )
    deliver_to_maildir(inbox, first, START)
    deliver_to_maildir(inbox, again.replace(b"\r\n", b"\n"), START + timedelta(seconds=1))
    assert run(service) == [D.NEW_CASE, D.DUPLICATE]
    assert to(sent(tmp_path), "jan@example.nl") == 1


_HEADER_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@settings(max_examples=150)
@given(
    trace=st.lists(st.tuples(st.sampled_from(sorted(TRACE_HEADERS)), _VALUE), max_size=5),
    body=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200),
)
def test_content_digest_ignores_trace_headers_and_line_ends(
    trace: list[tuple[str, str]], body: str
) -> None:
    """Prepended trace headers and CRLF vs LF never change the content digest."""
    plain = raw_report("jan@example.nl", "<m@x>", body=body)
    traced = raw_report(
        "jan@example.nl", "<m@x>", body=body, trace=tuple(f"{n}: {v}" for n, v in trace)
    )
    assert content_digest(traced.replace(b"\r\n", b"\n")) == content_digest(plain)


@settings(max_examples=150)
@given(name=_HEADER_NAME.filter(lambda n: n not in TRACE_HEADERS), value=_VALUE)
def test_content_digest_sees_every_other_header(name: str, value: str) -> None:
    """An added header that is not a trace header changes the content digest."""
    if name.startswith(("arc-", "x-ms-exchange-", "x-microsoft-", "x-forefront-", "x-google-")):
        return
    plain = raw_report("jan@example.nl", "<m@x>")
    added = raw_report("jan@example.nl", "<m@x>", trace=(f"{name}: {value}",))
    assert content_digest(added) != content_digest(plain)


# --- item 12: a copy is not a resumed item ------------------------------------------------


def test_byte_identical_copy_without_message_id_gets_an_entry_of_its_own(tmp_path: Path) -> None:
    """The same bytes as a new mailbox item: a duplicate, listed, raw bytes kept once."""
    service, _ = bot(tmp_path)
    raw = raw_report("jan@example.nl", None)
    deliver_to_maildir(tmp_path / "inbox", raw, START)
    assert run(service) == [D.NEW_CASE]
    deliver_to_maildir(tmp_path / "inbox", raw, START + timedelta(hours=1))
    assert run(service) == [D.DUPLICATE]
    rows = service.store.db.execute("SELECT disposition, raw IS NULL FROM messages ORDER BY id")
    assert [tuple(r) for r in rows] == [("new_case", 0), ("duplicate", 1)]
    assert to(sent(tmp_path), "jan@example.nl") == 1


def test_the_same_item_seen_again_after_a_failed_move_is_resumed(tmp_path: Path) -> None:
    """Recorded but not moved (a crash, a failed move): seen again, it is only moved."""
    service, _ = bot(tmp_path)
    deliver_to_maildir(tmp_path / "inbox", raw_report("jan@example.nl", None), START)
    item = service.mailbox.pending()[0]
    first = service.handle(item, move=False)
    again = service.handle(service.mailbox.pending()[0])
    assert first is not None and again is not None
    assert (first.disposition, again.disposition, again.resumed) == (D.NEW_CASE, D.NEW_CASE, True)
    assert len(service.store.messages()) == 1
    assert service.mailbox.pending() == []


# --- item 14: sub-addresses share the cap -------------------------------------------------


def test_sub_addresses_of_one_mailbox_share_the_daily_cap(tmp_path: Path) -> None:
    """victim+1@, Victim+2@, … get at most `cap` automatic mails together."""
    service, _ = bot(tmp_path, cap=3)
    for n in range(8):
        sender = f"Victim+{n}@Example.nl" if n % 2 else f"victim+{n}@example.nl"
        deliver_to_maildir(tmp_path / "inbox", raw_report(sender, f"<s{n}@x.example>"), START)
    assert run(service) == [D.NEW_CASE] * 8
    acks = [m for m in sent(tmp_path) if "victim" in str(m["To"]).lower()]
    assert len(acks) == 3


@given(
    local=st.from_regex(r"[a-z0-9._-]{1,20}", fullmatch=True),
    tag=st.from_regex(r"[a-z0-9+._-]{0,20}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9-]{1,10}\.[a-z]{2,5}", fullmatch=True),
)
def test_mailbox_of_drops_any_sub_address_and_case(local: str, tag: str, domain: str) -> None:
    """`local+tag@domain` in any case is the mailbox `local@domain`."""
    assert mailbox_of(f"{local}+{tag}@{domain}".upper()) == f"{local}@{domain}"


# --- the migration --------------------------------------------------------------------------


def test_migration_4_keeps_rows_and_counts_old_recipients_by_mailbox(tmp_path: Path) -> None:
    """A version-3 database keeps its messages and attachments; old recipients are mailboxes."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute(
        "INSERT INTO messages (id, message_id, sha256, size, received_at, disposition, reason,"
        " raw, recorded_at) VALUES (7, 'm@x', 'abc', 3, 't', 'new_case', 'r', x'00', 't')"
    )
    conn.execute(
        "INSERT INTO attachments (message, filename, content_type, size, sha256)"
        " VALUES (7, 'a.txt', 'text/plain', 1, 'h')"
    )
    conn.execute(
        "INSERT INTO outbox (id, message_id, kind, sender, recipients, subject, automatic,"
        " status, created_at) VALUES (1, 'o@x', 'acknowledgement', 's', '[]', 's', 1, 'sent',"
        " '2026-12-21T06:00:00+00:00')"
    )
    conn.execute(
        "INSERT INTO outbox_recipients VALUES (1, 'Victim+x@Example.NL', 1,"
        " '2026-12-21T06:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    store = Store(path)
    version = store.db.execute("PRAGMA user_version").fetchone()[0]
    messages = [tuple(r) for r in store.db.execute("SELECT id, sha256 FROM messages")]
    attachments = [tuple(r) for r in store.db.execute("SELECT message, filename FROM attachments")]
    assert (version, messages, attachments) == (len(MIGRATIONS), [(7, "abc")], [(7, "a.txt")])
    assert store.automatic_mails_since("victim+other@example.nl", START - timedelta(days=1)) == 1
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def _reference_digest(raw: bytes) -> str:
    """content_digest written the plain (quadratic) way, to compare against."""
    import hashlib  # noqa: PLC0415
    import re  # noqa: PLC0415

    found = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[: found.start()], raw[found.end() :]) if found else (raw, b"")
    fields: list[bytes] = []
    field = b""
    for line in re.split(rb"\r\n|\r|\n", head):
        if line[:1] in (b" ", b"\t") and field:
            field += b" " + line.strip()
            continue
        if field:
            fields.append(field)
        field = line
    if field:
        fields.append(field)
    digest = hashlib.sha256()
    for field in fields:
        name = field.partition(b":")[0].strip().lower().decode("latin-1")
        if name not in TRACE_HEADERS and not name.startswith(
            ("arc-", "x-ms-exchange-", "x-microsoft-", "x-forefront-", "x-google-")
        ):
            digest.update(field.rstrip() + b"\n")
    digest.update(b"\n")
    digest.update(re.sub(rb"\r\n|\r|\n", b"\n", body))
    return digest.hexdigest()


@settings(max_examples=300)
@given(
    raw=st.lists(
        st.sampled_from([b"From: a", b" folded", b"\t", b"Received: x", b"", b"\r", b"body\r"]),
        max_size=30,
    ).map(b"\r\n".join),
    size=st.integers(min_value=1, max_value=8),
)
def test_content_digest_equals_the_plain_definition(raw: bytes, size: int) -> None:
    """The linear digest (body read in slices) equals the plain definition on any input."""
    import mailbot.core.redelivery as redelivery  # noqa: PLC0415

    original = redelivery._normalised.__defaults__
    redelivery._normalised.__defaults__ = (size,)  # tiny slices: every CR at a slice edge
    try:
        actual = content_digest(raw)
    finally:
        redelivery._normalised.__defaults__ = original
    assert actual == _reference_digest(raw)

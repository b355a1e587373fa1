"""The IMAP mailbox backend against a real Dovecot (DESIGN.md §3, §9; issue 3)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from dovecot import DovecotAccount
from factories import free_port
from imapclient import IMAPClient

from mailbot.core.config import MailboxSettings
from mailbot.core.errors import ConfigError, MailboxUnavailable
from mailbot.core.secret import Secret
from mailbot.shell.imap import ImapMailbox, MemoryState
from mailbot.shell.imap_session import is_loopback
from mailbot.store import Store

T0 = datetime(2026, 3, 2, 9, 15, 30, tzinfo=UTC)


def _raw(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n".encode()


def _settings(account: DovecotAccount, **changes: Any) -> MailboxSettings:
    base = MailboxSettings(
        backend="imap",
        host=account.host,
        port=account.port,
        security="plain",
        username=account.user,
        password=Secret(account.password),
        poll_seconds=1,
    )
    return replace(base, **changes)


@pytest.fixture
def opened() -> Iterator[Callable[..., ImapMailbox]]:
    """Make ImapMailbox objects that are closed after the test."""
    boxes: list[ImapMailbox] = []

    def make(*args: Any, **kwargs: Any) -> ImapMailbox:
        boxes.append(ImapMailbox(*args, **kwargs))
        return boxes[-1]

    yield make
    for box in boxes:
        box.close()


def sent_event(monkeypatch: pytest.MonkeyPatch, command: str) -> threading.Event:
    """An event set each time any IMAPClient has sent `command` (patched for the test)."""
    sent = threading.Event()
    real = getattr(IMAPClient, command)

    def spy(self: IMAPClient, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)
        sent.set()
        return result

    monkeypatch.setattr(IMAPClient, command, spy)
    return sent


@contextmanager
def append_after_first(
    monkeypatch: pytest.MonkeyPatch, account: DovecotAccount, command: str
) -> Iterator[list[float]]:
    """APPEND from another connection as soon as the mailbox has sent `command` once.

    Yields a list that receives the monotonic time at which the APPEND completed.
    """
    sent = sent_event(monkeypatch, command)
    appended: list[float] = []
    finished = threading.Event()

    def append() -> None:
        if sent.wait(10) and not finished.is_set():
            account.append(_raw("news"), T0)
            appended.append(time.monotonic())

    thread = threading.Thread(target=append)
    thread.start()
    try:
        yield appended
    finally:
        finished.set()
        sent.set()
        thread.join()


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    real = getattr(IMAPClient, name)

    def spy(self: IMAPClient, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(IMAPClient, name, spy)
    return calls


# -- reading -------------------------------------------------------------------------------


@pytest.mark.dovecot
def test_pending_is_ordered_by_internaldate_with_aware_utc_times(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oldest INTERNALDATE first; received_at is the APPEND time in UTC, whatever TZ is."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        plus_two = timezone(timedelta(hours=2))
        dovecot.append(_raw("late"), T0 + timedelta(hours=1))
        dovecot.append(_raw("early"), (T0 - timedelta(hours=1)).astimezone(plus_two))
        dovecot.append(_raw("middle"), T0)
        items = opened(_settings(dovecot)).pending()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    actual = [(item.key, item.received_at, item.received_at.utcoffset()) for item in items]
    expected = [
        ("2", T0 - timedelta(hours=1), timedelta(0)),
        ("3", T0, timedelta(0)),
        ("1", T0 + timedelta(hours=1), timedelta(0)),
    ]
    assert actual == expected


@pytest.mark.dovecot
def test_equal_internaldates_are_ordered_by_uid(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """Messages received in the same second come in UID order."""
    for subject in ("a", "b", "c"):
        dovecot.append(_raw(subject), T0)
    assert [item.key for item in opened(_settings(dovecot)).pending()] == ["1", "2", "3"]


@pytest.mark.dovecot
def test_pending_returns_the_exact_raw_bytes(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """The raw message comes back byte for byte (8-bit text, long lines), size included."""
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.org>\r\n"
        b"Subject: lek in het portaal\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Caf\xe9 \xe0 la cr\xe8me\r\n\tindented\r\n" + b"x" * 1500 + b"\r\n"
    )
    dovecot.append(raw, T0)
    [item] = opened(_settings(dovecot)).pending()
    assert (item.raw, item.size) == (raw, len(raw))


@pytest.mark.dovecot
def test_limit_and_batches(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pending(5) with batch=3 returns the 5 oldest, fetching bodies in 2 FETCH commands."""
    for minute in (6, 0, 5, 1, 4, 2, 3):
        dovecot.append(_raw(f"m{minute}"), T0 + timedelta(minutes=minute))
    box = opened(_settings(dovecot), batch=3)
    fetches = _count_calls(monkeypatch, "fetch")
    items = box.pending(5)
    body_fetches = [args for args in fetches if "BODY.PEEK[]" in args[1]]
    subjects = [item.raw.split(b"\r\n")[1] for item in items]
    assert (subjects, len(body_fetches)) == (
        [b"Subject: m0", b"Subject: m1", b"Subject: m2", b"Subject: m3", b"Subject: m4"],
        2,
    )


@pytest.mark.dovecot
def test_pending_leaves_messages_unseen_and_in_place(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """Fetching (BODY.PEEK) neither moves nor flags: a second pending() sees the same mail."""
    dovecot.append(_raw("one"), T0)
    box = opened(_settings(dovecot))
    first = box.pending()
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags([1])
    assert (box.pending(), flags) == (first, {1: ()})


# -- moving --------------------------------------------------------------------------------


@pytest.mark.dovecot
def test_marks_move_to_created_folders_and_empty_the_inbox(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """mark_processed/mark_quarantined move to Processed/Quarantine, creating them."""
    dovecot.append(_raw("good"), T0)
    dovecot.append(_raw("bad"), T0 + timedelta(seconds=1))
    box = opened(_settings(dovecot))
    good, bad = box.pending()
    box.mark_processed(good.key)
    box.mark_quarantined(bad.key)
    actual = [dovecot.folder_uids(f) for f in ("INBOX", "Processed", "Quarantine")]
    assert (actual, box.pending()) == ([[], [1], [1]], [])


@pytest.mark.dovecot
def test_many_messages_move_in_one_command(
    dovecot: DovecotAccount,
    opened: Callable[..., ImapMailbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mark_processed_many moves a whole batch with one MOVE, skipping gone UIDs."""
    for n in range(3):
        dovecot.append(_raw(f"m{n}"), T0 + timedelta(seconds=n))
    box = opened(_settings(dovecot))
    keys = [item.key for item in box.pending()]
    box.mark_processed("2")
    calls = _count_calls(monkeypatch, "move")
    box.mark_processed_many(keys)
    actual = [dovecot.folder_uids(f) for f in ("INBOX", "Processed")]
    assert (actual, len(calls)) == ([[], [1, 2, 3]], 1)


@pytest.mark.dovecot
def test_marking_twice_or_a_gone_uid_is_harmless(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """A UID already moved (say before a crash) is no error, and nothing else moves."""
    dovecot.append(_raw("one"), T0)
    dovecot.append(_raw("two"), T0 + timedelta(seconds=1))
    box = opened(_settings(dovecot))
    box.mark_processed("1")
    box.mark_processed("1")
    box.mark_quarantined("1")
    box.mark_quarantined("99")
    actual = [dovecot.folder_uids(f) for f in ("INBOX", "Processed", "Quarantine")]
    assert actual == [[2], [1], []]


@pytest.mark.dovecot
def test_without_move_copies_flags_and_uid_expunges_only_that_message(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No MOVE: UID COPY + \\Deleted + UID EXPUNGE; another \\Deleted message survives."""
    real = IMAPClient.capabilities
    monkeypatch.setattr(
        IMAPClient, "capabilities", lambda self: tuple(c for c in real(self) if c != b"MOVE")
    )
    dovecot.append(_raw("ours"), T0)
    dovecot.append(_raw("someone else's, flagged deleted"), T0)
    with dovecot.client() as client:
        client.select_folder("INBOX")
        client.add_flags([2], [b"\\Deleted"])
    box = opened(_settings(dovecot))
    moves = _count_calls(monkeypatch, "move")
    box.mark_processed("1")
    actual = (dovecot.folder_uids("INBOX"), dovecot.folder_uids("Processed"), moves)
    assert actual == ([2], [1], [])


@pytest.mark.dovecot
def test_uidvalidity_change_is_detected_and_all_mail_still_returned(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], tmp_path: Path
) -> None:
    """A new UIDVALIDITY replaces the stored one; every message is returned again."""
    store = Store(tmp_path / "mailbot.db")
    for second in range(3):
        dovecot.append(_raw(f"m{second}"), T0 + timedelta(seconds=second))
    box = opened(_settings(dovecot), store)
    before = (len(box.pending()), store.state_get("imap:INBOX:uidvalidity"))
    new = dovecot.recreate_folder("INBOX")
    after = (len(box.pending()), store.state_get("imap:INBOX:uidvalidity"))
    assert (before, after) == ((3, str(new - 1)), (3, str(new)))


@pytest.mark.dovecot
def test_a_key_from_before_a_uidvalidity_change_is_not_moved(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """After a UIDVALIDITY change an old UID may name another message: it stays put."""
    dovecot.append(_raw("one"), T0)
    box = opened(_settings(dovecot))
    [item] = box.pending()
    box.close()
    dovecot.recreate_folder("INBOX")
    box.mark_processed(item.key)
    assert (dovecot.folder_uids("INBOX"), dovecot.folder_uids("Processed")) == ([1], [])


@pytest.mark.dovecot
def test_last_uid_is_remembered(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """The highest UID seen is stored under imap:<folder>:last_uid."""
    state = MemoryState()
    for second in range(4):
        dovecot.append(_raw(f"m{second}"), T0)
    opened(_settings(dovecot), state).pending(2)
    assert state.state_get("imap:INBOX:last_uid") == "4"


# -- waiting -------------------------------------------------------------------------------


@pytest.mark.dovecot
def test_wait_returns_true_soon_after_an_append_while_idling(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """IDLE: an APPEND from another connection ends wait() within 2 s, with True."""
    box = opened(_settings(dovecot))
    box.pending()
    with append_after_first(monkeypatch, dovecot, "idle") as appended:
        result = box.wait(10)
        returned = time.monotonic()
    assert (result, returned - appended[0] < 2.0) == (True, True)


@pytest.mark.dovecot
def test_wait_returns_false_after_its_timeout(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """IDLE with nothing arriving: False after the timeout, and not much later."""
    box = opened(_settings(dovecot))
    box.pending()
    started = time.monotonic()
    result = box.wait(1.0)
    elapsed = time.monotonic() - started
    assert (result, 1.0 <= elapsed < 2.0) == (False, True)


@pytest.mark.dovecot
def test_wait_sees_mail_that_came_just_before_idle(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """Mail appended between pending() and wait() ends the wait at once."""
    box = opened(_settings(dovecot))
    box.pending()
    dovecot.append(_raw("in between"), T0)
    started = time.monotonic()
    result = box.wait(5)
    assert (result, time.monotonic() - started < 1.0) == (True, True)


@pytest.mark.dovecot
def test_idle_is_renewed_and_still_sees_mail(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a short renewal interval IDLE is re-issued and wait() still ends on time."""
    box = opened(_settings(dovecot), idle_renew=0.2)
    box.pending()
    idles = _count_calls(monkeypatch, "idle")
    started = time.monotonic()
    result = box.wait(1.0)
    elapsed = time.monotonic() - started
    assert (result, len(idles) >= 4, elapsed < 2.0) == (False, True, True)


@pytest.mark.dovecot
def test_noop_polling_sees_new_mail(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """idle = false: NOOP every poll_seconds notices the new message."""
    box = opened(_settings(dovecot, idle=False, poll_seconds=1))
    box.pending()
    idles = _count_calls(monkeypatch, "idle")
    with append_after_first(monkeypatch, dovecot, "noop") as appended:
        result = box.wait(5)
        returned = time.monotonic()
    assert (result, returned - appended[0] < 2.0, idles) == (True, True, [])


@pytest.mark.dovecot
def test_noop_polling_times_out(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """idle = false and no mail: False after the timeout."""
    box = opened(_settings(dovecot, idle=False, poll_seconds=60))
    box.pending()
    started = time.monotonic()
    result = box.wait(0.5)
    elapsed = time.monotonic() - started
    assert (result, 0.5 <= elapsed < 1.5) == (False, True)


@pytest.mark.dovecot
def test_wait_without_a_connection_connects_and_says_maybe(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """wait() with no connection (start, after a failure) connects and returns True at once."""
    box = opened(_settings(dovecot))
    started = time.monotonic()
    result = box.wait(5)
    assert (result, time.monotonic() - started < 1.0) == (True, True)


@contextmanager
def interrupt_after_first(
    monkeypatch: pytest.MonkeyPatch, box: ImapMailbox, command: str
) -> Iterator[None]:
    """Call box.interrupt() from another thread as soon as the mailbox has sent `command`."""
    sent = sent_event(monkeypatch, command)
    thread = threading.Thread(target=lambda: sent.wait(10) and box.interrupt())
    thread.start()
    try:
        yield
    finally:
        sent.set()
        thread.join()


@pytest.mark.dovecot
def test_interrupt_ends_an_idle_wait_at_once(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """interrupt() from another thread ends a 60 s IDLE early with False; later waits too."""
    box = opened(_settings(dovecot, poll_seconds=60))
    box.pending()
    started = time.monotonic()
    with interrupt_after_first(monkeypatch, box, "idle"):
        first = box.wait(60)
    again = box.wait(60)
    elapsed = time.monotonic() - started
    dovecot.append(_raw("still usable"), T0)
    keys = [item.key for item in box.pending()]
    assert (first, again, elapsed < 10.0, keys) == (False, False, True, ["1"])


@pytest.mark.dovecot
def test_interrupt_ends_noop_polling_at_once(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """idle = false: interrupt() ends the pause between two NOOPs, with False."""
    box = opened(_settings(dovecot, idle=False, poll_seconds=60))
    box.pending()
    started = time.monotonic()
    with interrupt_after_first(monkeypatch, box, "noop"):
        result = box.wait(60)
    assert (result, time.monotonic() - started < 10.0) == (False, True)


@pytest.mark.dovecot
def test_interrupt_before_wait_returns_without_connecting(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After interrupt() (shutdown) wait() returns False at once and opens no connection."""
    box = opened(_settings(dovecot))
    logins = _count_calls(monkeypatch, "login")
    box.interrupt()
    assert (box.wait(60), logins) == (False, [])


# -- failures and security -----------------------------------------------------------------


@pytest.mark.dovecot
def test_wrong_password_names_the_user(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """A refused LOGIN is MailboxUnavailable saying 'login failed for <user>', one line."""
    box = opened(_settings(dovecot, password=Secret("wrong")))
    with pytest.raises(MailboxUnavailable) as caught:
        box.pending()
    message = str(caught.value)
    expected = f"IMAP {dovecot.host}:{dovecot.port}: login failed for {dovecot.user}"
    assert (message.startswith(expected), "\n" in message) == (True, False)


def test_closed_port_names_host_and_port(opened: Callable[..., ImapMailbox]) -> None:
    """Nobody listening: MailboxUnavailable naming host:port and 'connection refused'."""
    port = free_port()
    settings = MailboxSettings(
        backend="imap",
        host="127.0.0.1",
        port=port,
        security="plain",
        username="bot",
        password=Secret("x"),
    )
    with pytest.raises(MailboxUnavailable) as caught:
        opened(settings).pending()
    assert str(caught.value) == f"IMAP 127.0.0.1:{port}: connection refused"


def test_plain_to_a_remote_host_is_refused_without_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """security = plain to a non-loopback host is a ConfigError; no socket is opened."""
    connects: list[object] = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connects.append(a))
    settings = MailboxSettings(
        backend="imap",
        host="imap.example.org",
        port=143,
        security="plain",
        username="bot",
        password=Secret("x"),
    )
    with pytest.raises(ConfigError, match=r'plain".*imap\.example\.org'):
        ImapMailbox(settings)
    assert connects == []


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"security": "starttls", "port": 993}, "port 993"),
        ({"password": None}, "password is not set for bot"),
        ({"host": ""}, "host is required"),
        ({"ca_file": Path("/nonexistent/ca.pem")}, "/nonexistent/ca.pem"),
    ],
)
def test_bad_settings_are_config_errors(changes: dict[str, Any], pattern: str) -> None:
    """Settings that cannot work fail at construction with a ConfigError naming the value."""
    settings = MailboxSettings(
        backend="imap", host="imap.example.org", username="bot", password=Secret("x")
    )
    with pytest.raises(ConfigError, match=pattern):
        ImapMailbox(replace(settings, **changes))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost.", True),
        ("10.0.0.1", False),
        ("localhost.example.org", False),
        ("imap.example.org", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    """Only 127.0.0.0/8, ::1 and localhost count as loopback (no DNS)."""
    assert is_loopback(host) == expected


@pytest.mark.dovecot
def test_implicit_tls_refuses_a_self_signed_certificate_by_default(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """Verification is on by default: the self-signed certificate is refused."""
    box = opened(_settings(dovecot, security="tls", port=dovecot.tls_port))
    with pytest.raises(MailboxUnavailable, match="TLS certificate verification failed"):
        box.pending()


@pytest.mark.dovecot
def test_implicit_tls_works_with_ca_file(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """With ca_file = the server's certificate, implicit TLS logs in and fetches."""
    dovecot.append(_raw("over tls"), T0)
    settings = _settings(dovecot, security="tls", port=dovecot.tls_port, ca_file=dovecot.cert_file)
    assert [item.key for item in opened(settings).pending()] == ["1"]


@pytest.mark.dovecot
def test_idle_over_tls_sees_new_mail(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over implicit TLS, IDLE notices mail from before and during the wait."""
    settings = _settings(dovecot, security="tls", port=dovecot.tls_port, ca_file=dovecot.cert_file)
    box = opened(settings)
    box.pending()
    dovecot.append(_raw("before"), T0)
    before = box.wait(5)
    box.pending()
    with append_after_first(monkeypatch, dovecot, "idle") as appended:
        during = box.wait(10)
        returned = time.monotonic()
    assert (before, during, returned - appended[0] < 2.0) == (True, True, True)


@pytest.mark.dovecot
def test_starttls_verifies_and_works_with_ca_file(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """STARTTLS refuses the unknown certificate, and works once it is trusted."""
    dovecot.append(_raw("over starttls"), T0)
    untrusted = opened(_settings(dovecot, security="starttls"))
    with pytest.raises(MailboxUnavailable, match="certificate verification failed"):
        untrusted.pending()
    trusted = opened(_settings(dovecot, security="starttls", ca_file=dovecot.cert_file))
    assert [item.key for item in trusted.pending()] == ["1"]


@pytest.mark.dovecot
def test_reconnects_after_the_server_restarted(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """Server down: MailboxUnavailable; back up: the same object reconnects on its own."""
    box = opened(_settings(dovecot))
    box.pending()
    dovecot.stop()
    with pytest.raises(MailboxUnavailable) as down:
        box.pending()
    dovecot.start()
    dovecot.append(_raw("after restart"), T0)
    keys = [item.key for item in box.pending()]
    expected = f"IMAP {dovecot.host}:{dovecot.port}: connection refused"
    assert (str(down.value), keys) == (expected, ["1"])


@pytest.mark.dovecot
def test_wait_raises_when_the_server_goes_away_while_idling(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """A server shutdown during IDLE ends wait() early with MailboxUnavailable."""
    box = opened(_settings(dovecot))
    box.pending()
    stopper = threading.Timer(0.2, dovecot.stop)
    stopper.start()
    started = time.monotonic()
    with pytest.raises(MailboxUnavailable, match="connection refused"):
        box.wait(10)
    stopper.join()
    assert time.monotonic() - started < 5.0


@pytest.mark.dovecot
def test_check_reports_and_creates_the_folders(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """check() logs in, creates the missing folders and says so; the second time they exist."""
    box = opened(_settings(dovecot))
    first, second = box.check(), box.check()
    assert (first[1:], second[2:]) == (
        [
            "folder INBOX: exists, 0 message(s) waiting",
            "processed folder Processed: created",
            "quarantine folder Quarantine: created",
        ],
        ["processed folder Processed: exists", "quarantine folder Quarantine: exists"],
    )


@pytest.mark.dovecot
def test_check_fails_for_a_missing_folder(
    dovecot: DovecotAccount, opened: Callable[..., ImapMailbox]
) -> None:
    """A folder to read that does not exist is MailboxUnavailable naming it."""
    box = opened(_settings(dovecot, folder="Meldpunt"))
    with pytest.raises(MailboxUnavailable, match="folder 'Meldpunt' does not exist"):
        box.check()


# -- pure helpers --------------------------------------------------------------------------

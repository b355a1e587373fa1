"""End-to-end faults: `mailbot` as a subprocess against a real Dovecot and a real aiosmtpd.

Reports arrive by IMAP APPEND (INTERNALDATE = receipt moment); acknowledgements leave by
SMTP to the `smtp_server` fixture. The clock is fixed with MAILBOT_NOW; crashes are
injected with MAILBOT_CRASH_AT (SIGKILL at before_commit / after_commit / after_send).
Every wait polls with a deadline; nothing sleeps for correctness.
"""

from __future__ import annotations

import contextlib
import email
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from conftest import SmtpTestServer, free_port
from dovecot import DovecotAccount

from mailbot.core.models import OutgoingMail
from mailbot.shell.clock import parse_moment
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.store import Store

pytestmark = pytest.mark.dovecot

NOW = "2025-12-15T10:05:00+01:00"
RECEIVED = datetime(2025, 12, 15, 9, 0, tzinfo=UTC)
"""In the past on purpose: Dovecot stores a future APPEND date as the moment of APPEND."""
BOT = "meldpunt@gemeente.example"
STAFF = "security@gemeente.example"
WAIT = 15.0
"""Upper bound for anything the daemon should do "at once" (seconds)."""


# -- helpers ------------------------------------------------------------------------------


def write_config(
    base: Path,
    account: DovecotAccount,
    smtp: SmtpTestServer,
    *,
    security: str = "plain",
    port: int | None = None,
    password: str | None = None,
) -> Path:
    """A config: IMAP on the account (plain on loopback), SMTP to the test server."""
    path = base / "config.toml"
    path.write_text(
        f"""
[identity]
address = "{BOT}"
organisation = "Gemeente Voorbeeld"
[mailbox]
backend = "imap"
host = "{account.host}"
port = {port if port is not None else account.port}
security = "{security}"
username = "{account.user}"
password = "{password if password is not None else account.password}"
poll_seconds = 1
idle = true
[outbound]
transport = "smtp"
host = "{smtp.host}"
port = {smtp.port}
security = "plain"
[staff]
addresses = ["{STAFF}"]
[database]
path = "{base / "mailbot.db"}"
[logging]
format = "json"
""",
        encoding="utf-8",
    )
    return path


def reporter(n: int) -> str:
    """The sender of report `n` (one per report: the daily cap per address stays out of it)."""
    return f"melder{n}@example.nl"


def report(n: int) -> bytes:
    """Report number `n`, Message-ID <r{n}@example.nl>."""
    return (
        f"From: Melder {n} <{reporter(n)}>\r\nTo: {BOT}\r\n"
        f"Subject: Melding {n}: lek in portaal\r\nMessage-ID: <r{n}@example.nl>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Op https://portaal{n}.gemeente.example staat een lek.\r\n"
    ).encode()


def env(now: str = NOW, crash_at: str = "") -> dict[str, str]:
    """The subprocess environment: fixed clock, optional crash point."""
    return {**os.environ, "MAILBOT_NOW": now, "MAILBOT_CRASH_AT": crash_at}


def mailbot(
    cfg: Path, *args: str, now: str = NOW, crash_at: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `python -m mailbot --config cfg ARGS` to completion."""
    result = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        env=env(now, crash_at),
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def events(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of `text` (other lines, e.g. tracebacks, are skipped)."""
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                found.append(record)
    return found


def dispositions(cfg: Path) -> list[tuple[str | None, str, str | None]]:
    """(message_id, disposition, case) of every inbound message, from `messages --json`."""
    rows = json.loads(mailbot(cfg, "messages", "--json").stdout)
    return [(m["message_id"], m["disposition"], m["case"]) for m in rows]


@dataclass(frozen=True)
class Sent:
    """One mail the SMTP server accepted."""

    rcpt: tuple[str, ...]
    message_id: str
    in_reply_to: str
    data: bytes


def accepted(smtp: SmtpTestServer) -> list[Sent]:
    """What the SMTP server accepted so far, in order."""
    out = []
    for _sender, rcpt, data in list(smtp.messages):
        msg = email.message_from_bytes(data, policy=policy.default)
        out.append(Sent(tuple(rcpt), str(msg["Message-ID"]), str(msg["In-Reply-To"] or ""), data))
    return out


def acks_per_report(smtp: SmtpTestServer) -> Counter[str]:
    """How often each report's reporter was sent an acknowledgement, by report Message-ID."""
    return Counter(s.in_reply_to for s in accepted(smtp) if STAFF not in s.rcpt)


def acked(smtp: SmtpTestServer, report_id: str) -> Callable[[], bool]:
    """A condition: the reporter of `report_id` has been sent an acknowledgement."""
    return lambda: acks_per_report(smtp)[report_id] > 0


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll `condition()` every 10 ms; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.01)


def queued_message_ids(base: Path) -> set[str]:
    """Message-IDs (with <>) of every mail in the outbox table, whatever its status."""
    store = Store(base / "mailbot.db")
    try:
        return {f"<{row['message_id']}>" for row in store.outbox_all()}
    finally:
        store.close()


class Daemon:
    """`mailbot run` in the background; stderr (the JSON log) goes to a file."""

    def __init__(self, cfg: Path) -> None:
        self.log_path = cfg.parent / "daemon.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "--config", str(cfg), "run"],
                env=env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def log(self) -> str:
        """The log so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log records whose event is `name`."""
        return [e for e in events(self.log()) if e["event"] == name]

    def wait_event(self, name: str, count: int = 1, seconds: float = WAIT) -> list[dict[str, Any]]:
        """Wait until `name` was logged `count` times; the daemon must stay alive."""

        def seen() -> bool:
            assert self.proc.poll() is None, f"daemon exited:\n{self.log()[-3000:]}"
            return len(self.events(name)) >= count

        wait_for(seen, seconds, f"{count} x {name} in\n{self.log()[-3000:]}")
        return self.events(name)

    def terminate(self) -> int:
        """SIGTERM; the exit code (the daemon must exit within WAIT seconds)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT)

    def kill(self) -> None:
        """SIGKILL if still running (teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def daemon(cfg: Path, ready: bool = True) -> Iterator[Daemon]:
    """A running daemon (READY reached unless `ready` is False), killed at teardown."""
    running = Daemon(cfg)
    try:
        if ready:
            running.wait_event("daemon_ready")
        yield running
    finally:
        running.kill()


def deliver_while_down(account: DovecotAccount, raw: bytes, when: datetime) -> None:
    """Deliver into the account's Maildir INBOX as a local MTA would while IMAP is down.

    (`doveadm save` needs the running server's auth socket, so it cannot do this.)
    """
    maildir = account.server.home_root / account.user / "Maildir"
    name = deliver_to_maildir(maildir, raw, when)
    owner = maildir.stat()
    os.chown(maildir / "new" / name, owner.st_uid, owner.st_gid)


# -- 1. end to end --------------------------------------------------------------------------


def test_run_acknowledges_report_and_moves_it(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """`mailbot run`: an APPENDed report is acknowledged over SMTP and moved to Processed."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    with daemon(cfg) as running:
        dovecot.append(report(1), RECEIVED)
        wait_for(lambda: len(smtp_server.messages) == 2, WAIT, "acknowledgement and notice")
        assert running.terminate() == 0
    mails = accepted(smtp_server)
    assert sorted(m.rcpt for m in mails) == [(reporter(1),), (STAFF,)]
    ack = next(m for m in mails if m.rcpt == (reporter(1),))
    assert ack.in_reply_to == "<r1@example.nl>"
    assert b"MK-2025-0001" in ack.data
    assert (dovecot.folder_uids("INBOX"), len(dovecot.folder_uids("Processed"))) == ([], 1)
    assert dispositions(cfg) == [("r1@example.nl", "new_case", "MK-2025-0001")]


def test_run_burst_of_reports_each_acknowledged_once(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """12 reports APPENDed back to back while `run` idles: each answered once, none left."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    with daemon(cfg) as running, dovecot.client() as client:
        for n in range(1, 13):
            client.append("INBOX", report(n), msg_time=RECEIVED + timedelta(seconds=n))
        wait_for(lambda: len(acks_per_report(smtp_server)) == 12, WAIT, "12 acknowledgements")
        wait_for(lambda: len(smtp_server.messages) == 24, WAIT, "12 staff notices")
        assert running.terminate() == 0
    assert acks_per_report(smtp_server) == Counter({f"<r{n}@example.nl>": 1 for n in range(1, 13)})
    assert len({m.message_id for m in accepted(smtp_server)}) == 24
    assert (dovecot.folder_uids("INBOX"), len(dovecot.folder_uids("Processed"))) == ([], 12)


def test_run_latency_from_append_to_smtp(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """20 reports one after another: each acknowledgement is accepted by SMTP within 5 s.

    Prints median and max from the start of the APPEND (on an open connection) to the
    moment the SMTP server holds the acknowledgement (polled every 10 ms); run with -s.
    """
    cfg = write_config(tmp_path, dovecot, smtp_server)
    latencies: list[float] = []
    with daemon(cfg) as running, dovecot.client() as client:
        for n in range(1, 21):
            started = time.monotonic()
            client.append("INBOX", report(n), msg_time=RECEIVED + timedelta(seconds=n))
            wait_for(acked(smtp_server, f"<r{n}@example.nl>"), WAIT, f"ack {n}")
            latencies.append(time.monotonic() - started)
        assert running.terminate() == 0
    print(
        f"\nAPPEND -> SMTP accepted over {len(latencies)} reports: "
        f"median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms, min {min(latencies) * 1000:.0f} ms"
    )
    assert max(latencies) < 5.0
    assert acks_per_report(smtp_server) == Counter({f"<r{n}@example.nl>": 1 for n in range(1, 21)})
    assert dovecot.folder_uids("INBOX") == []


# -- 2. Dovecot goes away and comes back -----------------------------------------------------


def enqueue_alert(db: Path, message_id: str) -> None:
    """Queue a staff alert straight into the outbox, as the scheduler task would."""
    raw = (
        f"From: {BOT}\r\nTo: {STAFF}\r\nSubject: herinnering\r\nMessage-ID: <{message_id}>\r\n"
        "Auto-Submitted: auto-generated\r\n\r\nQueued while the mailbox was down.\r\n"
    ).encode()
    mail = OutgoingMail("alert", message_id, BOT, (STAFF,), "herinnering", raw)
    store = Store(db)
    try:
        store.enqueue(mail, parse_moment(NOW, "NOW"))
    finally:
        store.close()


def test_run_survives_dovecot_restart(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """Dovecot stopped under `run`: reconnect with backoff, outbox goes on, nothing is lost."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    with daemon(cfg) as running:
        dovecot.append(report(1), RECEIVED)
        wait_for(acked(smtp_server, "<r1@example.nl>"), WAIT, "ack 1")
        try:
            dovecot.stop()
            enqueue_alert(tmp_path / "mailbot.db", "alert-while-down@gemeente.example")
            deliver_while_down(dovecot, report(2), RECEIVED + timedelta(minutes=1))
            running.wait_event("mailbox_reconnect", 2)
            wait_for(
                lambda: (
                    "<alert-while-down@gemeente.example>"
                    in {m.message_id for m in accepted(smtp_server)}
                ),
                WAIT,
                "outbox delivery while the mailbox is down",
            )
            assert running.events("mailbox_reconnected") == []
        finally:
            dovecot.start()
        dovecot.append(report(3), RECEIVED + timedelta(minutes=2))
        wait_for(lambda: len(acks_per_report(smtp_server)) == 3, 2 * WAIT, "acks 2 and 3")
        reconnected = running.wait_event("mailbox_reconnected")
        assert running.terminate() == 0
    reconnects = running.events("mailbox_reconnect")
    assert [r["attempt"] for r in reconnects] == list(range(1, len(reconnects) + 1))
    assert reconnected[0]["attempts"] == len(reconnects)
    assert all(r["delay"] > 0 and r["error"].startswith("IMAP 127.0.0.1:") for r in reconnects)
    assert "connection refused" in reconnects[-1]["error"]
    assert acks_per_report(smtp_server) == Counter({f"<r{n}@example.nl>": 1 for n in (1, 2, 3)})
    assert (dovecot.folder_uids("INBOX"), len(dovecot.folder_uids("Processed"))) == ([], 3)
    assert [d[1] for d in dispositions(cfg)] == ["new_case"] * 3


def test_run_once_with_mailbox_down_still_flushes_outbox(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """`run --once` with Dovecot stopped exits non-zero but still delivers the queued mail."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    enqueue_alert(tmp_path / "mailbot.db", "alert-queued@gemeente.example")
    try:
        dovecot.stop()
        result = mailbot(cfg, "run", "--once", check=False)
    finally:
        dovecot.start()
    assert result.returncode != 0
    assert "connection refused" in result.stderr
    assert [m.message_id for m in accepted(smtp_server)] == ["<alert-queued@gemeente.example>"]


# -- 3. SIGKILL at each step of a batch ----------------------------------------------------


KILL_POINTS = {
    # point: (reports left in INBOX by the killed run, (report, resumed) handled on restart)
    "before_commit": (
        3,
        [("r1@example.nl", False), ("r2@example.nl", False), ("r3@example.nl", False)],
    ),
    "after_commit": (
        3,
        [("r1@example.nl", True), ("r2@example.nl", False), ("r3@example.nl", False)],
    ),
    "after_send": (0, []),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_killed_during_batch_restart_handles_each_report_once(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer, point: str
) -> None:
    """SIGKILL at a step, restart: one disposition and one case per report, no repeated mail.

    The one exception is SMTP's own window after_send: the server said 250 and the process
    died before the outbox recorded it, so the mails in flight then (at most one per SMTP
    connection, same bytes, same Message-ID) are sent again. SMTP is at-least-once there;
    the Maildir transport is exactly-once.
    """
    cfg = write_config(tmp_path, dovecot, smtp_server)
    for n in (1, 2, 3):
        dovecot.append(report(n), RECEIVED + timedelta(minutes=n))
    killed = mailbot(cfg, "run", "--once", crash_at=point, check=False)
    assert killed.returncode == -signal.SIGKILL
    left, resumed = KILL_POINTS[point]
    assert len(dovecot.folder_uids("INBOX")) == left
    before_restart = accepted(smtp_server)
    store = Store(tmp_path / "mailbot.db")
    outbox = {f"<{r['message_id']}>": (r["status"], r["attempts"]) for r in store.outbox_all()}
    store.close()
    restart = events(mailbot(cfg, "run", "--once").stderr)
    handled = [(e["message_id"], e["resumed"]) for e in restart if e["event"] == "message_handled"]
    assert handled == resumed
    expected = [(f"r{n}@example.nl", "new_case", f"MK-2025-000{n}") for n in (1, 2, 3)]
    assert dispositions(cfg) == expected
    assert (dovecot.folder_uids("INBOX"), len(dovecot.folder_uids("Processed"))) == ([], 3)
    mails = accepted(smtp_server)
    times = Counter(m.message_id for m in mails)
    assert set(times) == queued_message_ids(tmp_path)  # every queued mail went out
    repeated = sorted(mid for mid, count in times.items() if count > 1)
    if point == "after_send":
        assert 1 <= len(before_restart) <= 3  # one lane per SMTP connection (default 3)
        assert repeated == sorted(m.message_id for m in before_restart)
        for again in before_restart:
            assert outbox[again.message_id] == ("queued", 0)  # killed between 250 and commit
            assert [m.data for m in mails if m.message_id == again.message_id] == [again.data] * 2
    else:
        assert (before_restart, repeated) == ([], [])
    acks = {(m.in_reply_to, m.message_id) for m in mails if STAFF not in m.rcpt}
    assert Counter(report_id for report_id, _ in acks) == Counter(
        {f"<r{n}@example.nl>": 1 for n in (1, 2, 3)}
    )


# -- 4. UIDVALIDITY changes ------------------------------------------------------------------


def relayed_copy(n: int) -> bytes:
    """Report `n` again with one more Received line: same Message-ID, other bytes."""
    return b"Received: from mx2.example.nl by mx.gemeente.example; 15 Dec 2025\r\n" + report(n)


def test_uidvalidity_change_with_handled_mail_back_in_inbox(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """New UIDVALIDITY over handled mail copied back: new items, each a listed duplicate."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    for n in (1, 2, 3):
        dovecot.append(report(n), RECEIVED + timedelta(minutes=n))
    mailbot(cfg, "run", "--once")
    assert len(acks_per_report(smtp_server)) == 3
    sent_before = len(smtp_server.messages)
    dovecot.append(report(1), RECEIVED + timedelta(minutes=1))
    dovecot.append(relayed_copy(2), RECEIVED + timedelta(minutes=2))
    dovecot.append(report(4), RECEIVED + timedelta(minutes=4))
    old = dovecot.uidvalidity()
    assert dovecot.recreate_folder("INBOX") != old
    second = events(mailbot(cfg, "run", "--once").stderr)
    changed = [e for e in second if e["event"] == "imap_uidvalidity_changed"]
    assert [(e["old"], e["new"]) for e in changed] == [(old, old + 1)]
    handled = [
        (e["message_id"], e["disposition"], e["resumed"])
        for e in second
        if e["event"] == "message_handled"
    ]
    assert handled == [
        ("r1@example.nl", "duplicate", False),
        ("r2@example.nl", "duplicate", False),
        ("r4@example.nl", "new_case", False),
    ]
    assert dispositions(cfg) == [
        ("r1@example.nl", "new_case", "MK-2025-0001"),
        ("r1@example.nl", "duplicate", None),  # the same bytes, a new mailbox item
        ("r2@example.nl", "new_case", "MK-2025-0002"),
        ("r2@example.nl", "duplicate", None),  # listed by receipt time
        ("r3@example.nl", "new_case", "MK-2025-0003"),
        ("r4@example.nl", "new_case", "MK-2025-0004"),
    ]
    assert acks_per_report(smtp_server) == Counter({f"<r{n}@example.nl>": 1 for n in (1, 2, 3, 4)})
    assert len(smtp_server.messages) == sent_before + 2  # r4: acknowledgement and staff notice
    assert (dovecot.folder_uids("INBOX"), len(dovecot.folder_uids("Processed"))) == ([], 6)


def test_uidvalidity_change_under_running_daemon(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """`run` idling on INBOX when its UIDVALIDITY changes: goes on, re-seen mail not re-answered."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    with daemon(cfg) as running:
        dovecot.append(report(1), RECEIVED)
        wait_for(acked(smtp_server, "<r1@example.nl>"), WAIT, "ack 1")
        old = dovecot.uidvalidity()
        dovecot.recreate_folder("INBOX")
        dovecot.append(report(1), RECEIVED)
        dovecot.append(report(2), RECEIVED + timedelta(minutes=1))
        wait_for(acked(smtp_server, "<r2@example.nl>"), WAIT, "ack 2")
        wait_for(lambda: dovecot.folder_uids("INBOX") == [], WAIT, "INBOX emptied")
        changed = running.wait_event("imap_uidvalidity_changed")
        assert running.terminate() == 0
    assert [(e["old"], e["new"]) for e in changed] == [(old, old + 1)]
    assert acks_per_report(smtp_server) == Counter({"<r1@example.nl>": 1, "<r2@example.nl>": 1})
    assert len(dovecot.folder_uids("Processed")) == 3
    assert [d[1] for d in dispositions(cfg)] == ["new_case", "duplicate", "new_case"]


# -- 5. the mailbox cannot be reached ----------------------------------------------------------


FAULTS: dict[str, tuple[Callable[[DovecotAccount], dict[str, Any]], str]] = {
    "wrong_password": (lambda account: {"password": "not-the-password"}, "login failed"),
    "closed_port": (lambda account: {"port": free_port()}, "connection refused"),
    "self_signed_tls": (
        lambda account: {"security": "tls", "port": account.tls_port},
        "TLS certificate verification failed",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_unreachable_mailbox_check_fails_and_run_retries(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer, fault: str
) -> None:
    """`check` exits 1 with one stderr line naming the cause; `run` retries, exits 0 on SIGTERM."""
    changes, cause = FAULTS[fault]
    cfg = write_config(tmp_path, dovecot, smtp_server, **changes(dovecot))
    checked = mailbot(cfg, "check", check=False)
    assert checked.returncode == 1
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1, checked.stderr
    assert lines[0].startswith("mailbot check: mailbox: IMAP 127.0.0.1:")
    assert cause in lines[0]
    assert "outbound: " in checked.stdout
    if fault == "wrong_password":
        # A refused login waits a minute or more before the next try (account lockout).
        with daemon(cfg, ready=False) as running:
            (failed,) = running.wait_event("mailbox_login_failed", 1)
            assert running.terminate() == 0
        assert (failed["attempt"], failed["delay"] >= 30, cause in failed["error"]) == (
            1,
            True,
            True,
        )
        assert running.events("mailbox_reconnect") == []
    else:
        with daemon(cfg, ready=False) as running:
            reconnects = running.wait_event("mailbox_reconnect", 2)
            assert running.terminate() == 0
        first, second = reconnects[:2]
        assert (first["attempt"], second["attempt"]) == (1, 2)
        assert 0 < first["delay"] <= second["delay"]
        assert cause in first["error"]
    assert running.events("daemon_ready") == []
    assert running.events("daemon_stopped") != []


# -- 6. SMTP answers 451 for a while ---------------------------------------------------------


def at(minutes: float) -> str:
    """NOW moved forward by `minutes`, as MAILBOT_NOW."""
    return (parse_moment(NOW, "NOW") + timedelta(minutes=minutes)).isoformat()


def test_smtp_451_for_a_while_then_each_mail_delivered_once(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """SMTP says 451 to the first six DATA, then 250: each queued mail is delivered exactly once.

    Driven by `run --once` with MAILBOT_NOW moved forward between runs, not by the live
    daemon: the outbox retries a 451 after 1 minute (then 2, 4 …), so a real-time test would
    wait minutes. Each run is the real process against the real servers, and the retry
    schedule lives in the database between runs, exactly as between two outbox passes of
    the daemon (whose outbox task calls the same `Outbox.deliver`).
    """
    cfg = write_config(tmp_path, dovecot, smtp_server)
    dovecot.append(report(1), RECEIVED)
    dovecot.append(report(2), RECEIVED + timedelta(minutes=1))
    smtp_server.fail_data_with("451 4.3.0 try again later", times=6)
    deferred: list[int] = []
    delivered: list[int] = []
    for minutes in (0, 0.5, 1.1, 3.2, 10):
        run = events(mailbot(cfg, "run", "--once", now=at(minutes)).stderr)
        deferred.append(sum(e["event"] == "mail_deferred" for e in run))
        delivered.append(len(smtp_server.messages))
    queued = queued_message_ids(tmp_path)
    assert len(queued) >= 4  # two acknowledgements, two staff notices (and maybe a digest)
    assert (deferred[0], delivered[0]) == (len(queued), 0)  # every first try got 451
    assert (deferred[1], delivered[1]) == (0, 0)  # half a minute later: nothing due yet
    assert sum(deferred) == 6
    assert delivered[-2:] == [len(queued)] * 2
    assert Counter(m.message_id for m in accepted(smtp_server)) == Counter(dict.fromkeys(queued, 1))
    assert acks_per_report(smtp_server) == Counter({"<r1@example.nl>": 1, "<r2@example.nl>": 1})
    store = Store(tmp_path / "mailbot.db")
    rows = [(r["status"], r["attempts"]) for r in store.outbox_all()]
    store.close()
    assert {status for status, _ in rows} == {"sent"}
    assert sum(attempts for _, attempts in rows) == len(queued) + 6

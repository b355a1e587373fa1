"""End-to-end faults: `mailbot` as a subprocess against a real Dovecot and a real aiosmtpd.

Reports arrive by IMAP APPEND (INTERNALDATE = receipt moment); acknowledgements leave by
SMTP to the `smtp_server` fixture. The clock is fixed with MAILBOT_NOW; crashes are
injected with MAILBOT_CRASH_AT (SIGKILL at before_commit / after_commit / after_send).
Every wait polls with a deadline; nothing sleeps for correctness.
"""

from __future__ import annotations

import signal
import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SmtpTestServer
from dovecot import DovecotAccount
from factories import (
    NOW,
    RECEIVED,
    STAFF,
    WAIT,
    accepted,
    acks_per_report,
    daemon,
    deliver_while_down,
    dispositions,
    events,
    free_port,
    mailbot,
    outgoing,
    report,
    wait_for,
    write_config,
)

from mailbot.shell.clock import parse_moment
from mailbot.store import Store

pytestmark = pytest.mark.dovecot

# -- helpers ------------------------------------------------------------------------------


def reporter(n: int) -> str:
    """The sender of report `n` (one per report: the daily cap per address stays out of it)."""
    return f"melder{n}@example.nl"


def acked(smtp: SmtpTestServer, report_id: str) -> Callable[[], bool]:
    """A condition: the reporter of `report_id` has been sent an acknowledgement."""
    return lambda: acks_per_report(smtp)[report_id] > 0


def queued_message_ids(base: Path) -> set[str]:
    """Message-IDs (with <>) of every mail in the outbox table, whatever its status."""
    store = Store(base / "mailbot.db")
    try:
        return {f"<{row.message_id}>" for row in store.outbox_all()}
    finally:
        store.close()


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
    body = "Queued while the mailbox was down."
    mail = outgoing(message_id, "herinnering", body, auto_submitted=True)
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
# The outbox is woken once a batch is recorded, before the batch's one MOVE (so that
# acknowledgements leave while the mailbox works). A kill after the first send may land
# on either side of that MOVE: all three moved, or all three recorded and still in INBOX.
AFTER_SEND_BEFORE_MOVE = (
    3,
    [("r1@example.nl", True), ("r2@example.nl", True), ("r3@example.nl", True)],
)


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
    if point == "after_send" and len(dovecot.folder_uids("INBOX")) == 3:
        left, resumed = AFTER_SEND_BEFORE_MOVE
    assert len(dovecot.folder_uids("INBOX")) == left
    before_restart = accepted(smtp_server)
    store = Store(tmp_path / "mailbot.db")
    outbox = {f"<{r.message_id}>": (r.status, r.attempts) for r in store.outbox_all()}
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
    rows = [(r.status, r.attempts) for r in store.outbox_all()]
    store.close()
    assert {status for status, _ in rows} == {"sent"}
    assert sum(attempts for _, attempts in rows) == len(queued) + 6

"""Faults from outside, end to end (issue 13): a full disk, SIGTERM with a queue, READY
before a backlog, a refused login, an IMAP outage.

`mailbot run` is a subprocess against a real Dovecot and a real aiosmtpd; the database
lives on a small tmpfs mounted for the test (root only: CI runs as root; elsewhere these
tests skip with the reason). Every wait polls with a deadline; nothing sleeps for
correctness. The figures (seconds to exit, to READY, to resume) are measured by
`python -m benchmarks --only faults`; the tests check what must be true, not how fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SmtpTestServer
from dovecot import DovecotAccount
from factories import (
    RECEIVED,
    WAIT,
    accepted,
    acks_per_report,
    daemon,
    deliver_while_down,
    dispositions,
    env,
    mailbot,
    outgoing,
    report,
    wait_for,
    write_config,
)

from mailbot.shell.clock import parse_moment
from mailbot.store import Store

pytestmark = pytest.mark.dovecot

RECOVERY = 45.0
"""Upper bound for retrying after a storage fault ends (the storage backoff caps at 30 s)."""


@contextlib.contextmanager
def small_filesystem(folder: Path, size_kb: int = 4096) -> Iterator[Path]:
    """A tmpfs of `size_kb` mounted at `folder` for the test (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a small tmpfs, which only root can mount (CI is root)")
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(folder)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a file into `folder` until the filesystem is full, then give back `leave` bytes."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while out.write(b"\0" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def db_config(base: Path, account: DovecotAccount, smtp: SmtpTestServer, db: Path) -> Path:
    """The daemon config of `test_daemon_imap` with the database at `db`."""
    cfg = write_config(base, account, smtp)
    text = cfg.read_text(encoding="utf-8").replace(str(base / "mailbot.db"), str(db))
    cfg.write_text(text + "[limits]\nmax_message_bytes = 1000000\n", encoding="utf-8")
    return cfg


def big_report(n: int) -> bytes:
    """Report `n` with a 60 KB proof of concept (more than a nearly full disk can take)."""
    poc = ("Content-Type: text/plain\r\n\r\n" + "curl https://portaal.example/x\r\n" * 2000)[
        :60_000
    ]
    return report(n).replace(b"staat een lek.\r\n", b"staat een lek.\r\n\r\n" + poc.encode())


def no_mail_twice(smtp: SmtpTestServer) -> None:
    """Every Message-ID the server accepted, it accepted once."""
    counts = Counter(s.message_id for s in accepted(smtp))
    assert [mid for mid, n in counts.items() if n > 1] == []


# -- 1 and 3. a full disk while reports arrive -------------------------------------------------


def test_full_disk_leaves_reports_in_the_mailbox_until_there_is_room(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """No room for a report: it stays in INBOX, named a storage fault; freed: one case each."""
    with small_filesystem(tmp_path / "db") as folder:
        cfg = db_config(tmp_path, dovecot, smtp_server, folder / "mailbot.db")
        with daemon(cfg) as running:
            filler = fill(folder, leave=16_384)
            for n in (1, 2, 3):
                dovecot.append(big_report(n), RECEIVED + timedelta(minutes=n))
            faults = running.wait_event("storage_unavailable", 2)
            assert "disk is full" in faults[0]["error"]
            assert running.events("mailbox_reconnect") == []
            status = mailbot(cfg, "status", check=False)
            assert (status.returncode, "storage: only" in status.stdout) == (1, True)
            assert (len(dovecot.folder_uids("INBOX")), dovecot.folder_uids("Quarantine")) == (
                3,
                [],
            )
            assert acks_per_report(smtp_server) == Counter()
            filler.unlink()
            wait_for(lambda: len(acks_per_report(smtp_server)) == 3, RECOVERY, "three acks")
            wait_for(lambda: dovecot.folder_uids("INBOX") == [], WAIT, "INBOX emptied")
            assert running.terminate() == 0
        assert [d[1] for d in dispositions(cfg)] == ["new_case"] * 3
        assert acks_per_report(smtp_server) == Counter({f"<r{n}@example.nl>": 1 for n in (1, 2, 3)})
        assert dovecot.folder_uids("Quarantine") == []
        no_mail_twice(smtp_server)


# -- 2. a full disk while mail is marked sent ----------------------------------------------------


def test_accepted_mail_is_never_sent_again_while_its_mark_cannot_be_written(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """The disk fills as the server accepts a mail: nothing is sent until the mark is written."""
    with small_filesystem(tmp_path / "db") as folder:
        cfg = db_config(tmp_path, dovecot, smtp_server, folder / "mailbot.db")
        fillers: list[Path] = []
        lock = threading.Lock()

        def fill_once() -> None:
            with lock:
                if not fillers:
                    fillers.append(fill(folder))

        smtp_server.on_accept = fill_once
        with daemon(cfg) as running:
            for n in (1, 2):
                dovecot.append(report(n), RECEIVED + timedelta(minutes=n))
            running.wait_event("mail_mark_failed")

            def outbox_faults() -> int:
                events = running.events("storage_unavailable")
                return sum(1 for e in events if e.get("task") == "outbox")

            # Every lane has ended before the outbox logs its fault: nothing is in flight.
            wait_for(lambda: outbox_faults() >= 1, WAIT, "the outbox's storage fault")
            at_fault = len(accepted(smtp_server))
            wait_for(lambda: outbox_faults() >= 3, RECOVERY, "two more outbox tries")
            assert len(accepted(smtp_server)) == at_fault  # tried again, sent nothing
            smtp_server.on_accept = None
            fillers[0].unlink()
            running.wait_event("mail_mark_written")
            wait_for(lambda: len(acks_per_report(smtp_server)) == 2, RECOVERY, "both acks")
            assert running.terminate() == 0
        assert acks_per_report(smtp_server) == Counter({"<r1@example.nl>": 1, "<r2@example.nl>": 1})
        no_mail_twice(smtp_server)
        statuses = Counter(r.status for r in Store(folder / "mailbot.db").outbox_all())
        assert statuses["queued"] == 0


# -- 4. SIGTERM with a queue and a slow server ---------------------------------------------------


def queue_alerts(db: Path, count: int) -> None:
    """`count` staff alerts straight into the outbox, as a backlog of mail to send."""
    store = Store(db)
    now = parse_moment("2025-12-15T10:05:00+01:00", "NOW")
    try:
        with store.transaction():
            for n in range(count):
                mail = outgoing(f"alert{n}@gemeente.example", f"alert {n}", f"alert {n}", title="a")
                store.enqueue(mail, now)
    finally:
        store.close()


def test_sigterm_finishes_mails_in_flight_and_sends_nothing_new(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """500 queued, a slow server: after SIGTERM at most one mail per connection, then exit 0."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    queue_alerts(tmp_path / "mailbot.db", 500)
    smtp_server.data_delay = 0.2
    with daemon(cfg) as running:
        running.wait_event("mail_sent", 3)
        assert running.terminate() == 0
    assert len(accepted(smtp_server)) < 500
    stopping = running.log().index('"daemon_stopping"')
    sent_after = running.log()[stopping:].count('"mail_sent"')
    assert sent_after <= 3


# -- 5. READY before the backlog -----------------------------------------------------------------


class NotifySocket:
    """A NOTIFY_SOCKET for a child: the datagrams it sends, in order."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.05)
        self.lines: list[str] = []

    def read(self) -> list[str]:
        """Every line received so far."""
        with contextlib.suppress(TimeoutError, BlockingIOError):
            while True:
                self.lines += self.sock.recv(65536).decode().splitlines()
        return self.lines


def test_ready_comes_before_a_backlog_is_handled_with_progress_in_status(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """3,000 waiting: READY=1 before the first is handled; STATUS= counts "N of 3,000"."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    assert dovecot.folder_uids("INBOX") == []  # the server makes the account's Maildir
    dovecot.stop()
    try:
        for n in range(3000):
            deliver_while_down(dovecot, report(n), RECEIVED + timedelta(seconds=n))
    finally:
        dovecot.start()
    notify = NotifySocket(tmp_path)
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(cfg), "run"],
            env={**env(), "NOTIFY_SOCKET": str(notify.path)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_for(lambda: "READY=1" in notify.read(), 2 * WAIT, "READY=1")
        handled_at_ready = log_path.read_text().count('"message_handled"')
        wait_for(
            lambda: any(line.startswith("STATUS=intake: ") for line in notify.read()),
            2 * WAIT,
            "a progress line",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = notify.read()
    assert lines.index("READY=1") < lines.index("STOPPING=1")
    assert handled_at_ready < 3000
    assert "STATUS=mailbox reached, intake: 0 of 3,000" in lines
    progress = [line for line in lines if line.startswith("STATUS=intake: ")]
    assert progress[0].endswith(" of 3,000")


# -- 6. a refused login ------------------------------------------------------------------------


def test_refused_login_waits_long_is_named_and_sighup_with_the_right_secret_retries(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """Wrong password: one try a minute at most, `status` says so; fixed + SIGHUP: at once."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    secret = tmp_path / "imap-password"
    secret.write_text("wrong\n", encoding="utf-8")
    text = cfg.read_text(encoding="utf-8")
    text = text.replace(f'password = "{dovecot.password}"', f'password_file = "{secret}"')
    cfg.write_text(text, encoding="utf-8")
    dovecot.append(report(1), RECEIVED)
    with daemon(cfg, ready=False) as running:
        (failed,) = running.wait_event("mailbox_login_failed")
        assert failed["delay"] >= 30
        status = mailbot(cfg, "status", check=False)
        assert (status.returncode, "mailbox login failed" in status.stdout) == (1, True)
        secret.write_text(f"{dovecot.password}\n", encoding="utf-8")
        running.proc.send_signal(signal.SIGHUP)
        running.wait_event("daemon_ready")
        wait_for(lambda: acks_per_report(smtp_server)["<r1@example.nl>"] == 1, WAIT, "ack 1")
        assert len(running.events("mailbox_login_failed")) == 1
        assert running.terminate() == 0


# -- 7. reconnect after an outage ------------------------------------------------------------------


def test_intake_resumes_within_seconds_of_the_server_coming_back(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """After an outage long enough for a backoff of 8 s or more, the open port ends the
    wait within seconds: well before the backoff the daemon had planned."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    with daemon(cfg) as running:
        dovecot.stop()
        try:
            deliver_while_down(dovecot, report(1), RECEIVED)
            wait_for(
                lambda: any(e["delay"] >= 8 for e in running.events("mailbox_reconnect")),
                90,
                "a reconnect delay of 8 s or more",
            )
        finally:
            dovecot.start()
        back = time.monotonic()
        planned = running.events("mailbox_reconnect")[-1]["delay"]
        wait_for(lambda: acks_per_report(smtp_server)["<r1@example.nl>"] == 1, WAIT, "ack 1")
        resumed = time.monotonic() - back
        assert running.events("mailbox_port_open") != []
        assert running.terminate() == 0
    assert (planned >= 8, resumed < 5) == (True, True), (resumed, planned)

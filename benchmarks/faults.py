"""Issue 13's figures: SIGTERM with a queue and a slow server, READY=1 with a full INBOX,
and intake after an IMAP outage, each next to a reference measured in the same run.

    .venv/bin/python -m benchmarks.faults [--quick]

1. SIGTERM → exit. QUEUED mails, each to its own recipient so that they spread over the
   SMTP connections, are written into a fresh database's outbox; the sink answers each
   DATA after DATA_DELAY seconds. `mailbot run` (CONNECTIONS connections, the default)
   starts sending; once the sink has accepted CONNECTIONS mails it gets SIGTERM. The
   figure is the time from the signal to the exit of the process (STOP_TRIALS trials,
   each on a fresh database). Reference: the mails in flight (one per connection, side
   by side) and what sending the whole queue would take.
2. READY=1 with WAITING messages in INBOX. They are written into the account's Maildir
   while Dovecot is stopped (the server made the Maildir first), so the first start is
   the first client to open the folder after the delivery; before each later start the
   INBOX is topped up to WAITING again (each start handles a few before its SIGTERM).
   Reference: READY=1 with an empty INBOX, the starts alternating (STARTS of each).
3. Intake after an OUTAGE-second outage. `mailbot run` waits in IDLE; Dovecot is stopped
   (master and sessions), a report is delivered into the Maildir, and OUTAGE seconds
   later Dovecot is started again. The figure is from the moment it answers LOGIN again
   to the moment the sink accepted the acknowledgement (n = 1). Reference: the reconnect
   delay the daemon had planned (its last `mailbox_reconnect` before that moment) and
   how much of it was still to wait: what the daemon would have waited without its probe.

`--quick` runs small sizes (seconds, not minutes) to check the harness.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from benchmarks.coldstart import Daemon, login_select, ms
from benchmarks.latency import report
from benchmarks.servers import (
    BOT,
    STAFF,
    DovecotAccount,
    DovecotServer,
    Sink,
    mailbot_config,
    servers,
    wait_until,
)
from benchmarks.table import Row, markdown
from mailbot.core.models import OutgoingMail
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.store import Store

DATA_DELAY = 1.0
"""Seconds the slow server waits before it answers each DATA."""
CONNECTIONS = 3
"""mailbot's default `[outbound] connections`."""
STOP_TARGET = 5.0
READY_TARGET = 2.0
RESUME_TARGET = 5.0
RESUME_TIMEOUT = 600.0
"""Longer than the longest reconnect delay (300 s), so a miss is measured, not a timeout."""
EXIT_TIMEOUT = 60.0
RECEIVED = datetime(2026, 12, 21, 7, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Sizes:
    """How much of each fault one run measures."""

    queued: int = 500
    stop_trials: int = 3
    waiting: int = 10_000
    starts: int = 5
    outage: float = 120.0


FULL = Sizes()
QUICK = Sizes(queued=30, stop_trials=1, waiting=200, starts=2, outage=4.0)


def config(base: Path, account: DovecotAccount, sink: Sink) -> Path:
    """The servers' daemon config, logging at info level (daemon_ready, mailbox_port_open)."""
    cfg = mailbot_config(base, account, sink)
    cfg.write_text(cfg.read_text().replace('level = "warning"', 'level = "info"'))
    return cfg


def log_events(text: str) -> list[dict[str, Any]]:
    """The JSON log records of a daemon's stderr (other lines skipped)."""
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        with suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                found.append(record)
    return found


def still_to_wait(events: list[dict[str, Any]], back: datetime) -> tuple[float, float, int]:
    """(planned delay, seconds of it left at `back`, attempts) of the last `mailbox_reconnect`
    logged at or before `back`; (0, 0, 0) when there was none."""
    before = [
        e
        for e in events
        if e.get("event") == "mailbox_reconnect" and datetime.fromisoformat(e["timestamp"]) <= back
    ]
    if not before:
        return 0.0, 0.0, 0
    last = before[-1]
    due = datetime.fromisoformat(last["timestamp"]) + timedelta(seconds=float(last["delay"]))
    return float(last["delay"]), max((due - back).total_seconds(), 0.0), int(last["attempt"])


def stopped(daemon: Daemon) -> None:
    """SIGTERM the daemon (if still running); raise with its log unless it exited 0."""
    code = daemon.stop()
    if code != 0:
        raise RuntimeError(f"mailbot exited {code}:\n{daemon.log()[-3000:]}")


# -- 1. SIGTERM with a queue and a slow server ------------------------------------------------


def queue_mails(db: Path, count: int) -> None:
    """`count` mails straight into the outbox at `db`, each to its own recipient: they
    spread over the lanes (one per case, else per recipient set) as a day's acks would."""
    store = Store(db)
    now = datetime.now(UTC)
    try:
        with store.transaction():
            for n in range(count):
                to, mid = f"melder{n}@example.nl", f"queued{n}@gemeente.example"
                raw = (
                    f"From: {BOT}\r\nTo: {to}\r\nSubject: mail {n}\r\n"
                    f"Message-ID: <{mid}>\r\n\r\nmail {n}\r\n"
                ).encode()
                store.enqueue(OutgoingMail("alert", mid, BOT, (to,), f"mail {n}", raw), now)
    finally:
        store.close()


def statuses(db: Path) -> Counter[str]:
    """How many outbox rows have each status."""
    store = Store(db)
    try:
        return Counter(row.status for row in store.outbox_all())
    finally:
        store.close()


@dataclass(frozen=True)
class Stop:
    """One SIGTERM trial."""

    seconds: float
    after: int
    """Mails the sink accepted after the signal."""
    left: int
    """Mails still queued after the exit."""


def stop_once(account: DovecotAccount, sink: Sink, queued: int) -> Stop:
    """Queue `queued` mails, start the daemon, SIGTERM it while it sends; time its exit."""
    with tempfile.TemporaryDirectory(prefix="mailbot-faults-") as tmp:
        cfg = config(Path(tmp), account, sink)
        queue_mails(Path(tmp) / "mailbot.db", queued)
        sink.clear()
        daemon = Daemon(cfg)
        try:
            daemon.wait_ready()
            wait_until(lambda: sink.count() >= CONNECTIONS, 60, "the first mails")
            signalled = time.monotonic()
            daemon.proc.send_signal(signal.SIGTERM)
            daemon.proc.wait(timeout=EXIT_TIMEOUT)
            seconds = time.monotonic() - signalled
        finally:
            stopped(daemon)
        after = sum(1 for mail in list(sink.mails) if mail[0] > signalled)
        return Stop(seconds, after, statuses(Path(tmp) / "mailbot.db")["queued"])


def stop_row(account: DovecotAccount, sink: Sink, sizes: Sizes) -> Row:
    """The SIGTERM row: time to exit next to the mails in flight and the whole queue."""
    sink.data_delay = DATA_DELAY
    try:
        trials = [stop_once(account, sink, sizes.queued) for _ in range(sizes.stop_trials)]
    finally:
        sink.data_delay = 0.0
        sink.clear()
    seconds = [t.seconds for t in trials]
    drain = sizes.queued * DATA_DELAY / CONNECTIONS
    return Row(
        what=(
            f"SIGTERM → exit of `mailbot run`, {sizes.queued} mails queued, the server "
            f"answering each DATA after {DATA_DELAY:.1f} s (n = {len(trials)})"
        ),
        ours=f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s",
        limit=(
            f"in flight: ≤ 1 mail x {CONNECTIONS} connections, {DATA_DELAY:.1f} s each, side "
            f"by side; sending the queue: {sizes.queued} x {DATA_DELAY:.1f} s / {CONNECTIONS}"
            f" ≈ {drain:.0f} s"
        ),
        target=f"≤ {STOP_TARGET:.0f} s",
        met=max(seconds) <= STOP_TARGET,
        note=(
            f"SIGTERM once the sink had accepted {CONNECTIONS} mails; accepted after the "
            f"signal: {', '.join(str(t.after) for t in trials)}; still queued after the exit: "
            f"{', '.join(f'{t.left:,}' for t in trials)}; exit code 0 each time"
        ),
    )


# -- 2. READY=1 with a full INBOX ---------------------------------------------------------------


def deliver(account: DovecotAccount, numbers: Iterable[int]) -> None:
    """Reports `numbers` into the account's Maildir INBOX, as a local MTA would."""
    for n in numbers:
        deliver_raw(account, report(n)[2], RECEIVED + timedelta(seconds=n))


def deliver_raw(account: DovecotAccount, raw: bytes, when: datetime) -> None:
    """`raw` into the account's Maildir INBOX, owned like the server's own files."""
    maildir = account.server.home_root / account.user / "Maildir"
    name = deliver_to_maildir(maildir, raw, when)
    owner = maildir.stat()
    os.chown(maildir / "new" / name, owner.st_uid, owner.st_gid)


def inbox_count(account: DovecotAccount) -> int:
    """Messages in INBOX (EXAMINE's EXISTS; Dovecot lists new files on the way)."""
    with account.client() as client:
        return int(client.select_folder("INBOX", readonly=True)[b"EXISTS"])


def seed_while_down(account: DovecotAccount, count: int) -> None:
    """Deliver `count` reports while Dovecot is stopped (it made the Maildir before)."""
    login_select(account)  # the server creates the Maildir, owned by its mail user
    account.stop()
    try:
        deliver(account, range(count))
    finally:
        account.start()


def top_up(account: DovecotAccount, count: int, next_number: int) -> int:
    """Deliver reports until INBOX holds `count` again; the next unused report number."""
    missing = count - inbox_count(account)
    deliver(account, range(next_number, next_number + missing))
    if inbox_count(account) != count:
        raise RuntimeError(f"benchmark: INBOX does not hold {count:,} messages")
    return next_number + missing


def ready_once(account: DovecotAccount, sink: Sink) -> tuple[float, int]:
    """(seconds to READY=1, messages the daemon counted) of one start on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="mailbot-faults-") as tmp:
        daemon = Daemon(config(Path(tmp), account, sink))
        try:
            seconds = daemon.wait_ready()
        finally:
            stopped(daemon)
        ready = [e for e in log_events(daemon.log()) if e["event"] == "daemon_ready"]
        return seconds, int(ready[0]["backlog"])


def ready_row(empty: DovecotAccount, full: DovecotAccount, sink: Sink, sizes: Sizes) -> Row:
    """The READY row: a full INBOX next to an empty one, starts alternating."""
    seed_while_down(full, sizes.waiting)
    ours: list[float] = []
    bare: list[float] = []
    number = sizes.waiting
    for start in range(sizes.starts):
        if start:
            number = top_up(full, sizes.waiting, number)
        bare.append(ready_once(empty, sink)[0])
        seconds, counted = ready_once(full, sink)
        if counted != sizes.waiting:
            raise RuntimeError(f"benchmark: the daemon counted {counted:,} waiting")
        ours.append(seconds)
    sink.clear()
    return Row(
        what=f"READY=1 with {sizes.waiting:,} messages waiting in INBOX (n = {sizes.starts})",
        ours=f"median {ms(statistics.median(ours))}, max {ms(max(ours))}",
        limit=(
            f"empty INBOX: median {ms(statistics.median(bare))}, max {ms(max(bare))}"
            f" (n = {len(bare)})"
        ),
        target=f"≤ {ms(READY_TARGET)}",
        met=max(ours) <= READY_TARGET,
        note=(
            "spawn to the READY=1 datagram, fresh database each start; the first start "
            f"({ms(ours[0])}) is the first client after the mail was written into the Maildir "
            "while Dovecot was down; later starts after a top-up to the same count"
        ),
    )


# -- 3. intake after an IMAP outage --------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    """One outage: how soon intake went on, and what the backoff had planned."""

    seconds: float
    """Dovecot answering again → the acknowledgement accepted by the sink."""
    dovecot_start: float
    planned: float
    left: float
    attempts: int


def acknowledged(sink: Sink, message_id: str) -> float | None:
    """Arrival time of the first mail to a reporter answering `message_id`, or None."""
    parser = BytesHeaderParser(policy=compat32)
    for arrived, _from, rcpt, data in list(sink.mails):
        if STAFF not in rcpt and str(parser.parsebytes(data)["In-Reply-To"]) == message_id:
            return arrived
    return None


def outage_once(
    dovecot: DovecotServer, account: DovecotAccount, sink: Sink, outage: float
) -> Resumed:
    """Stop Dovecot under a daemon in IDLE, deliver a report, start it `outage` s later."""
    login_select(account)
    sink.clear()
    _sender, message_id, raw = report(999_999)
    with tempfile.TemporaryDirectory(prefix="mailbot-faults-") as tmp:
        daemon = Daemon(config(Path(tmp), account, sink))
        try:
            daemon.wait_ready()
            down = time.monotonic()
            dovecot.stop()
            deliver_raw(account, raw, RECEIVED)
            time.sleep(max(down + outage - time.monotonic(), 0.0))  # the outage itself
            if daemon.proc.poll() is not None:
                raise RuntimeError(f"mailbot exited during the outage:\n{daemon.log()[-3000:]}")
            launched = time.monotonic()
            dovecot.start()
            back, back_wall = time.monotonic(), datetime.now(UTC)
            wait_until(lambda: acknowledged(sink, message_id) is not None, RESUME_TIMEOUT, "ack")
        finally:
            dovecot.start()
            stopped(daemon)
        planned, left, attempts = still_to_wait(log_events(daemon.log()), back_wall)
    arrived = acknowledged(sink, message_id)
    assert arrived is not None
    return Resumed(arrived - back, back - launched, planned, left, attempts)


def outage_row(dovecot: DovecotServer, account: DovecotAccount, sink: Sink, sizes: Sizes) -> Row:
    """The outage row: resumption next to the backoff that was planned."""
    r = outage_once(dovecot, account, sink, sizes.outage)
    sink.clear()
    minutes = f"{sizes.outage / 60:g}-minute" if sizes.outage >= 60 else f"{sizes.outage:g}-second"
    return Row(
        what=(
            f"intake after a {minutes} IMAP outage: server back → acknowledgement of a report "
            "delivered during the outage accepted by SMTP (n = 1)"
        ),
        ours=f"{r.seconds:.2f} s",
        limit=(
            f"reconnect delay planned when the server came back: {r.planned:.0f} s, "
            f"{r.left:.0f} s of it still to wait (attempt {r.attempts})"
        ),
        target=f"≤ {RESUME_TARGET:.0f} s",
        met=r.seconds <= RESUME_TARGET,
        note=(
            "Dovecot master and sessions stopped under the daemon in IDLE; the report written "
            "into the Maildir meanwhile; measured from Dovecot answering LOGIN again (its "
            f"start took {ms(r.dovecot_start)}); the daemon probes the port every 1 s"
        ),
    )


# -- the table -------------------------------------------------------------------------------


def rows(dovecot: DovecotServer, sink: Sink, sizes: Sizes = FULL) -> list[Row]:
    """The three rows of issue 13; uses three accounts and restarts Dovecot twice."""
    empty, full, outage = dovecot.account(), dovecot.account(), dovecot.account()
    login_select(empty)
    return [
        stop_row(empty, sink, sizes),
        ready_row(empty, full, sink, sizes),
        outage_row(dovecot, outage, sink, sizes),
    ]


def main() -> None:
    """Start the servers and print the rows."""
    sizes = QUICK if "--quick" in sys.argv[1:] else FULL
    with servers() as (dovecot, sink):
        print(markdown(rows(dovecot, sink, sizes)))


if __name__ == "__main__":
    main()

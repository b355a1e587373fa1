"""`mailbot run` as a real process: READY over NOTIFY_SOCKET, handles mail, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from factories import write_config

from mailbot.core.errors import MailboxUnavailable
from mailbot.shell.daemon import WAIT_SLICE, Daemon
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.retrying import BACKOFF_CAP, backoff
from mailbot.shell.sdnotify import Notifier

REPORT = (
    b"From: jan@example.nl\r\nTo: meldpunt@gemeente.example\r\nSubject: Lek\r\n"
    b"Message-ID: <d1@example.nl>\r\n\r\nLek in https://portaal.gemeente.example\r\n"
)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    yield sock, path
    sock.close()


def read_until(sock: socket.socket, wanted: str, seconds: float) -> list[str]:
    """Datagrams received until one contains `wanted` (or `seconds` pass)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if wanted in seen[-1]:
            break
    return seen


def wait_for(condition: object, seconds: float) -> bool:
    """Poll `condition()` every 50 ms for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_daemon_ready_handles_report_and_stops_cleanly(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    """READY=1 once the mailbox is reached, a new report is acknowledged, SIGTERM exits 0."""
    sock, path = notify_socket
    cfg = write_config(tmp_path, mailbox={"poll_seconds": 1})
    outside = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env = {**outside, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(cfg), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert any("READY=1" in d for d in read_until(sock, "READY=1", 15))
        assert any("WATCHDOG=1" in d for d in read_until(sock, "WATCHDOG=1", 5))
        deliver_to_maildir(tmp_path / "inbox", REPORT)
        outbox = tmp_path / "outbox" / "new"
        delivered = wait_for(lambda: outbox.exists() and len(list(outbox.iterdir())) == 2, 15)
        if not delivered:
            proc.kill()
            pytest.fail(proc.communicate()[1].decode()[-3000:])
        proc.send_signal(signal.SIGTERM)
        assert any("STOPPING=1" in d for d in read_until(sock, "STOPPING=1", 10))
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert '"event": "daemon_stopped"' in stderr
    assert '"event": "message_handled"' in stderr


def test_notifier_sends_datagrams(notify_socket: tuple[socket.socket, str]) -> None:
    """The notifier speaks the sd_notify protocol to the socket in NOTIFY_SOCKET."""
    sock, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("up") is True
    assert sock.recv(4096).decode() == "READY=1\nSTATUS=up"


def test_notifier_without_systemd_is_silent() -> None:
    """Outside systemd nothing is sent and nothing fails."""
    notifier = Notifier({})
    assert (notifier.enabled, notifier.ready("x"), notifier.watchdog_seconds) == (
        False,
        False,
        None,
    )


def test_watchdog_interval_from_environment() -> None:
    """WATCHDOG_USEC is read; a WATCHDOG_PID of another process disables it."""
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_seconds == 30.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_seconds is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    """Reconnect delays grow exponentially, vary by jitter, and never exceed the cap."""
    rng = random.Random(7)
    delays = [backoff(n, rng) for n in range(1, 15)]
    assert delays[0] <= 0.5
    assert delays[3] > delays[0]
    assert max(delays) <= BACKOFF_CAP
    assert delays[-1] >= BACKOFF_CAP / 2


# -- the tasks of Daemon, on a stub service ------------------------------------------------


class StubMailbox:
    """A mailbox whose wait blocks until interrupt() (like ImapMailbox); notes its timeouts."""

    def __init__(self) -> None:
        self.woken = threading.Event()
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        self.woken.wait(30)
        return False

    def interrupt(self) -> None:
        self.woken.set()

    def count_pending(self) -> int:
        return 0


class DownMailbox(StubMailbox):
    """A mailbox that cannot be reached."""

    def count_pending(self) -> int:
        raise MailboxUnavailable("IMAP 127.0.0.1:1: connection refused")


class PlainMailbox:
    """A mailbox without interrupt() (like Maildir)."""

    def wait(self, timeout: float) -> bool:
        return False

    def count_pending(self) -> int:
        return 0


def stub_service(mailbox: object, order: list[str], fail: bool = False) -> Any:
    """A service whose intake and tick note their turns in `order` (intake may fail)."""

    def intake(batch: int, stop: object, batch_done: Any, progress: Any = None) -> list[object]:
        order.append("intake")
        if fail:
            raise MailboxUnavailable("IMAP 127.0.0.1:1: connection refused")
        return []

    async def deliver() -> None:
        return None

    async def close() -> None:
        return None

    return SimpleNamespace(
        mailbox=mailbox,
        intake=intake,
        tick=lambda: order.append("tick") and 0,
        deliver=deliver,
        outbox=SimpleNamespace(close=close, owed_marks=list),
        settings=SimpleNamespace(mailbox=SimpleNamespace(poll_seconds=60)),
        store=SimpleNamespace(state_get=lambda key: None),
    )


def run_until_first_tick(service: Any) -> Daemon:
    """Run a Daemon on `service`; stop it (SIGTERM path) as soon as the scheduler ticked."""

    async def go() -> Daemon:
        daemon = Daemon(service, notifier=Notifier({}))
        tick = service.tick

        def tick_then_stop() -> int:
            tick()
            daemon.request_stop()
            return 0

        service.tick = tick_then_stop
        await asyncio.wait_for(daemon.run(), timeout=30)
        return daemon

    return asyncio.run(go())


def test_first_tick_comes_after_the_first_intake_pass() -> None:
    """The scheduler's first tick (holiday tables) waits for the intake pass that READY needs."""
    order: list[str] = []
    mailbox = StubMailbox()
    daemon = run_until_first_tick(stub_service(mailbox, order))
    assert (order[:2], daemon.ready, mailbox.woken.is_set()) == (["intake", "tick"], True, True)


def test_scheduler_starts_when_the_mailbox_is_down() -> None:
    """A mailbox down at start still lets the scheduler tick (no READY meanwhile)."""
    order: list[str] = []
    daemon = run_until_first_tick(stub_service(DownMailbox(), order, fail=True))
    assert (order[:1], daemon.ready) == (["tick"], False)


def test_an_interruptible_wait_lasts_poll_seconds() -> None:
    """IDLE (interrupt() on stop) waits poll_seconds; a mailbox without it WAIT_SLICE at most."""
    order: list[str] = []
    idle = Daemon(stub_service(StubMailbox(), order), notifier=Notifier({}))
    plain = Daemon(stub_service(PlainMailbox(), order), notifier=Notifier({}))
    assert (idle._slice(), plain._slice()) == (60.0, WAIT_SLICE)

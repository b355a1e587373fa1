"""Servers of a benchmark run: a private Dovecot and an aiosmtpd sink, both on 127.0.0.1.

`Sink` accepts every mail and remembers when it arrived (monotonic seconds) and its
bytes; the benchmark parses what it needs afterwards, so the sink costs little CPU. With
`data_delay` set it is a slow server: each DATA waits that long before its 250 reply
(connections wait side by side).
`mailbot_config` writes a config for a mailbot subprocess that reads the Dovecot
account and sends to the sink.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dovecot import DovecotAccount, DovecotServer, free_port

BOT = "meldpunt@gemeente.example"
STAFF = "security@gemeente.example"


@dataclass
class Sink:
    """aiosmtpd handler that keeps (arrival, mail_from, rcpt_tos, bytes) of every mail."""

    host: str = "127.0.0.1"
    port: int = 0
    data_delay: float = 0.0
    """Seconds each DATA waits before its reply (0: answer at once)."""
    mails: list[tuple[float, str, list[str], bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept the mail (after `data_delay`) and note when it was accepted."""
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        arrived = time.monotonic()
        with self._lock:
            self.mails.append(
                (arrived, envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 OK queued"

    def count(self) -> int:
        """How many mails arrived so far."""
        with self._lock:
            return len(self.mails)

    def start(self) -> None:
        """Listen on a free loopback port (aiosmtpd 1.4 cannot bind port 0)."""
        self.port = free_port()
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop the server thread."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        """Forget what arrived."""
        with self._lock:
            self.mails.clear()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` every millisecond; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.001)


@contextmanager
def servers() -> Iterator[tuple[DovecotServer, Sink]]:
    """A started Dovecot (stopped by its PID and removed afterwards) and a started sink."""
    dovecot = DovecotServer(accounts=8)
    sink = Sink()
    try:
        dovecot.start()
        sink.start()
        yield dovecot, sink
    finally:
        sink.stop()
        dovecot.destroy()


def mailbot_config(
    base: Path, account: DovecotAccount, sink: Sink, *, idle: bool = True, extra: str = ""
) -> Path:
    """Write `base/config.toml`: IMAP on `account` (plain, loopback), SMTP to `sink`."""
    path = base / "config.toml"
    path.write_text(
        f"""
[identity]
address = "{BOT}"
organisation = "Gemeente Voorbeeld"
[mailbox]
backend = "imap"
host = "{account.host}"
port = {account.port}
security = "plain"
username = "{account.user}"
password = "{account.password}"
poll_seconds = 1
idle = {"true" if idle else "false"}
[outbound]
transport = "smtp"
host = "{sink.host}"
port = {sink.port}
security = "plain"
[staff]
addresses = ["{STAFF}"]
[database]
path = "{base / "mailbot.db"}"
[logging]
format = "json"
level = "warning"
{extra}
""",
        encoding="utf-8",
    )
    return path

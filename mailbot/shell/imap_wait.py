"""Waiting for new IMAP mail: IDLE (renewed before servers drop it), else NOOP polling,
and the pipe that lets another thread end a wait at once (shutdown)."""

from __future__ import annotations

import contextlib
import imaplib
import os
import select
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbot.shell.imap_session import LOST, ImapConnection, Session

IDLE_RENEW_SECONDS = 25 * 60.0
"""Re-issue IDLE this often; servers may drop an IDLE after 29 minutes (RFC 2177)."""
MIN_POLL_SECONDS = 1.0


class _ServerBye(imaplib.IMAP4.abort):
    """The server said BYE while we were idling."""


def _news(responses: Iterable[Any]) -> bool:
    """True when untagged responses announce new mail (EXISTS, or RECENT > 0)."""
    for response in responses:
        if len(response) >= 2 and response[1] == b"EXISTS":
            return True
        if len(response) >= 2 and response[1] == b"RECENT" and response[0]:
            return True
    return False


def _check_bye(responses: Iterable[Any]) -> None:
    for response in responses:
        if response and response[0] == b"BYE":
            words = b" ".join(part for part in response[1:] if isinstance(part, bytes))
            raise _ServerBye(f"server said BYE {words.decode(errors='replace')}".strip())


class ImapWaiter:
    """Blocks until the server announces mail, the time is up, or `interrupt()`."""

    def __init__(self, connection: ImapConnection, idle_renew: float) -> None:
        self.connection = connection
        self.idle_renew = idle_renew
        self.interrupted = False
        self._wake: tuple[int, int] | None = None  # pipe that ends a wait (interrupt)
        self._wake_lock = threading.Lock()

    def interrupt(self) -> None:
        """End a running wait at once, and every later one (shutdown; thread-safe)."""
        with self._wake_lock:
            self.interrupted = True
            if self._wake is not None:
                with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
                    os.write(self._wake[1], b"!")

    def close(self) -> None:
        """Close the wake-up pipe."""
        with self._wake_lock:
            wake, self._wake = self._wake, None
        for fd in wake or ():
            os.close(fd)

    def idle(self, s: Session, deadline: float) -> bool:
        """IDLE until news (True) or `deadline` (False); renewed every `idle_renew` s."""
        client = s.client
        if self._start_idle(client):
            return True
        started = time.monotonic()
        while (now := time.monotonic()) < deadline:
            window = min(deadline - now, started + self.idle_renew - now)
            woken = window > 0 and self._readable(client.socket(), window)
            if self.interrupted:
                try:
                    client.idle_done()
                except (*LOST, IMAPClientError):  # shutting down: no reconnect for this
                    self.connection.drop()
                return False
            responses = client.idle_check(timeout=0) if woken else []
            _check_bye(responses)
            if _news(responses):
                client.idle_done()
                return True
            early = not responses and time.monotonic() - now < window / 2
            if early or time.monotonic() - started >= self.idle_renew:
                # renewal due, or woken without a whole line (EOF looks like this): DONE
                # answers on a live connection and raises on a dead one
                if _news(client.idle_done()[1]) or self._start_idle(client):
                    return True
                started = time.monotonic()
        return _news(client.idle_done()[1])

    def poll(self, s: Session, deadline: float) -> bool:
        """NOOP every poll_seconds until news (True) or `deadline` (False)."""
        interval = max(float(self.connection.settings.poll_seconds), MIN_POLL_SECONDS)
        while True:
            if _news(s.client.noop()[1]):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.interrupted:
                return False
            self._readable(None, min(interval, remaining))

    def _wake_fd(self) -> int:
        """The read end of the pipe `interrupt()` writes to (made on first use)."""
        with self._wake_lock:
            if self._wake is None:
                read, write = os.pipe()
                os.set_blocking(read, False)
                os.set_blocking(write, False)
                self._wake = (read, write)
            return self._wake[0]

    def _readable(self, sock: socket.socket | None, timeout: float) -> bool:
        """Block until `sock` is readable (True), `timeout` passes or interrupt() (False)."""
        wake = self._wake_fd()
        if self.interrupted:  # set before the pipe existed
            return False
        poller = select.poll()  # not select(): descriptors may be above 1024
        poller.register(wake, select.POLLIN)
        if sock is not None:
            poller.register(sock.fileno(), select.POLLIN)
        ready = {fd for fd, _ in poller.poll(max(timeout, 0.0) * 1000)}
        return sock is not None and sock.fileno() in ready and wake not in ready

    def _start_idle(self, client: IMAPClient) -> bool:
        """Enter IDLE; True (IDLE ended) when news came in the same read as "+ idling".

        imaplib reads the continuation through a buffer; lines that arrived with it sit
        there, where idle_check's socket poll cannot see them.
        """
        client.idle()
        if not _buffered(client, self.connection.timeout):
            return False
        if _news(client.idle_done()[1]):
            return True
        client.idle()
        return False


def _buffered(client: IMAPClient, timeout: float) -> bool:
    """True when imaplib's reader holds bytes not yet parsed (peek without blocking)."""
    reader = getattr(client._imap, "file", None)  # imaplib's line buffer
    if reader is None or not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    sock.setblocking(False)
    try:
        return bool(reader.peek(1))
    except OSError:  # nothing buffered, nothing on the socket (plain or TLS)
        return False
    finally:
        sock.settimeout(timeout)

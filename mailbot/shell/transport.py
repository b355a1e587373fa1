"""Outbound transports behind one protocol (DESIGN.md §7): Maildir here, SMTP in smtp.py.

A transport raises `TransportTemporaryError` (keep the mail queued, retry later) or
`TransportPermanentError` (mark it failed); see smtp.py for which SMTP answers are which.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Protocol

from mailbot.core.errors import TransportPermanentError, TransportTemporaryError
from mailbot.shell.mailbox import deliver_to_maildir


class Transport(Protocol):
    """Delivers one finished message (raw bytes) to its envelope recipients."""

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Hand the mail over, or raise TransportTemporaryError/TransportPermanentError."""
        ...

    async def check(self) -> list[str]:
        """Reach the server (EHLO, STARTTLS, AUTH) without sending; human lines."""
        ...

    async def close(self) -> None:
        """Release the connection, if any."""
        ...


class MaildirTransport:
    """Each sent mail becomes one file in `path/new/`, bytes unchanged (demo, tests).

    The file is named after the mail's Message-ID: sending the same mail again (after a
    crash between delivery and the outbox commit) writes nothing, so Maildir delivery is
    exactly-once. SMTP cannot promise that: a crash in that window resends the mail.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Write `raw` as one new Maildir file; the envelope is not stored."""
        if not recipients:
            raise TransportPermanentError(f"mail from {sender!r} has no recipients")
        try:
            await asyncio.to_thread(deliver_to_maildir, self.path, raw, None, _file_name(raw))
        except OSError as exc:
            raise TransportTemporaryError(
                f"cannot write outgoing mail to Maildir {self.path}: {exc}"
            ) from exc

    async def check(self) -> list[str]:
        """Create the Maildir when absent and say where mail will go."""
        try:
            await asyncio.to_thread(_make_dirs, self.path)
        except OSError as exc:
            raise TransportTemporaryError(f"cannot create Maildir {self.path}: {exc}") from exc
        return [f"outgoing mail is written to the Maildir {self.path}/new"]

    async def close(self) -> None:
        """Nothing to release."""


def _file_name(raw: bytes) -> str:
    """A name fixed by the mail's Message-ID, so that a resend after a crash is a no-op."""
    header = BytesHeaderParser(policy=compat32).parsebytes(raw)
    key = str(header.get("Message-ID") or "").encode() or raw
    return "mailbot-" + hashlib.sha256(key).hexdigest()[:32]


def _make_dirs(path: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)

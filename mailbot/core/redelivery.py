"""Is this the same mail again? (pure) Duplicates by Message-ID, sender and content.

A Message-ID is chosen by the sender, so it proves nothing on its own: an attacker who
sends first with the Message-ID of a later genuine report (predictable for web forms
and relays) must not turn that report into a silent duplicate. A mail is a duplicate of
an earlier one with the same Message-ID only when the sender is the same too and the
content is the same apart from the trace headers that every hop adds. Anything else is
a *collision*: handled as if the Message-ID were new, and staff are told.

Without a Message-ID, only the exact same bytes are a duplicate (DESIGN.md §3).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mailbot.core.wording import Phrase

#: Headers a hop adds or rewrites; a re-delivery may differ in these and nothing else.
TRACE_HEADERS = frozenset(
    {
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "authentication-results",
        "received-spf",
        "dkim-signature",
        "x-envelope-from",
        "x-envelope-to",
        "x-received",
        "x-spam-flag",
        "x-spam-status",
        "x-spam-score",
        "x-spam-level",
        "x-spam-report",
        "x-virus-scanned",
        "x-virus-status",
        "x-rspamd-queue-id",
        "x-rspamd-server",
        "x-rspamd-action",
        "status",
        "x-status",
        "x-keywords",
        "x-uid",
        "content-length",
        "lines",
    }
)
TRACE_PREFIXES = ("arc-", "x-ms-exchange-", "x-microsoft-", "x-forefront-", "x-google-")

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r\n|\r|\n")


def content_digest(raw: bytes) -> str:
    """sha256 of `raw` without its trace headers, line ends normalised (linear time)."""
    found = _BLANK_LINE.search(raw)
    head, body = (raw[: found.start()], raw[found.end() :]) if found else (raw, b"")
    digest = hashlib.sha256()
    for field in _fields(_LINE_END.split(head)):
        name = field.partition(b":")[0].strip().lower().decode("latin-1")
        if name not in TRACE_HEADERS and not name.startswith(TRACE_PREFIXES):
            digest.update(field.rstrip() + b"\n")
    digest.update(b"\n")
    for piece in _normalised(body):
        digest.update(piece)
    return digest.hexdigest()


def _fields(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Header fields with their continuation lines joined by one space (linear time)."""
    field: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and field and field[0]:
            field.append(line.strip())
            continue
        if field and field[0]:
            yield b" ".join(field)
        field = [line]
    if field and field[0]:
        yield b" ".join(field)


def _normalised(body: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """`body` with CRLF and CR as LF, a MiB at a time (no copy of the whole message)."""
    carry = b""
    for start in range(0, len(body), size):
        piece = carry + body[start : start + size]
        carry = b"\r" if piece.endswith(b"\r") else b""
        if carry:
            piece = piece[:-1]
        yield piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if carry:
        yield b"\n"


@dataclass(frozen=True)
class Earlier:
    """An earlier message with the same Message-ID, as the store recorded it."""

    from_address: str | None
    content_sha256: str | None


@dataclass(frozen=True)
class Sameness:
    """What the earlier messages say about this one."""

    duplicate: bool
    collision: bool
    """The Message-ID was used before by a different sender or for different content."""
    reason: str = ""


def judge(
    message_id: str | None,
    sender: str | None,
    content: str,
    earlier: Iterable[Earlier],
) -> Sameness:
    """Duplicate when an earlier message with this Message-ID has this sender and content."""
    seen = list(earlier)
    if message_id is None or not seen:
        return Sameness(duplicate=False, collision=False)
    for row in seen:
        if row.from_address == sender and row.content_sha256 == content:
            return Sameness(duplicate=True, collision=False)
    senders = {row.from_address for row in seen}
    why = Phrase("collision.other_sender" if sender not in senders else "collision.other_content")
    return Sameness(
        duplicate=False,
        collision=True,
        reason=Phrase("collision.reason", message_id=message_id[:200], why=why),
    )

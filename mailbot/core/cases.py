"""Cases (pure): tags, the state machine, and a new case built from a report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mailbot.core.claims import claim_flags
from mailbot.core.completeness import find_missing
from mailbot.core.models import Case, CaseState, InboundMessage
from mailbot.core.workdays import Calendar

S = CaseState

#: Allowed state changes, the one table the rest of the code consults.
TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    S.NEW: frozenset(
        {S.ACKNOWLEDGED, S.INVESTIGATING, S.CONFIRMED, S.REJECTED, S.DUPLICATE, S.SPAM}
    ),
    S.ACKNOWLEDGED: frozenset({S.INVESTIGATING, S.CONFIRMED, S.RESOLVED, S.REJECTED, S.DUPLICATE}),
    S.INVESTIGATING: frozenset({S.CONFIRMED, S.RESOLVED, S.REJECTED, S.DUPLICATE}),
    S.CONFIRMED: frozenset({S.INVESTIGATING, S.RESOLVED, S.REJECTED, S.DUPLICATE}),
    S.RESOLVED: frozenset({S.CLOSED, S.INVESTIGATING}),
    S.CLOSED: frozenset({S.INVESTIGATING}),
    S.REJECTED: frozenset({S.INVESTIGATING}),
    S.DUPLICATE: frozenset({S.INVESTIGATING}),
    S.SPAM: frozenset({S.INVESTIGATING}),
}

MAX_AFFECTED = 50
#: Flags a report's cryptography sets on its case (`InboundMessage.crypto`); "signed" alone
#: is not one: an unverified signature says nothing.
CRYPTO_FLAGS = ("encrypted", "decrypted", "signed_valid")
#: `find_tags` hands back at most this many distinct case ids (only the first few matter).
MAX_TAGS = 20
#: ... and looks at no more than this many tag-shaped words (repeats included).
MAX_TAG_WORDS = 1000


def can_transition(current: CaseState, target: CaseState) -> bool:
    """True when the state machine allows `current` → `target`."""
    return target in TRANSITIONS[current]


def format_tag(prefix: str, year: int, sequence: int) -> str:
    """The case id, e.g. "MK-2026-0042" (shown in subjects as "[MK-2026-0042]")."""
    return f"{prefix}-{year:04d}-{sequence:04d}"


@lru_cache(maxsize=16)
def _tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![A-Za-z0-9]){re.escape(prefix)}-([0-9]{{4}})-([0-9]{{4,6}})(?![A-Za-z0-9])", re.I
    )


def find_tags(text: str, prefix: str) -> tuple[str, ...]:
    """The case ids named in `text` (anywhere, any Re:/Fwd: prefix), in order, no repeats:
    the first MAX_TAGS distinct ones among the first MAX_TAG_WORDS tag-shaped words.

    Linear in `text` and bounded in what it hands back, so that a subject of a million
    tags costs its callers at most MAX_TAGS look-ups.
    """
    found: dict[str, None] = {}
    for count, match in enumerate(_tag_pattern(prefix).finditer(text), start=1):
        found.setdefault(format_tag(prefix, int(match.group(1)), int(match.group(2))))
        if len(found) >= MAX_TAGS or count >= MAX_TAG_WORDS:
            break
    return tuple(found)


def subject_with_tag(subject: str, case_id: str) -> str:
    """`subject` carrying "[case_id]" exactly once."""
    clean = " ".join(subject.split())
    if _names(clean.lower(), case_id.lower()):
        return clean
    return f"[{case_id}] {clean}".strip()


def _names(text: str, tag: str) -> bool:
    """True when `tag` occurs in `text` with no letter or digit right before or after it.

    A plain search: a pattern per case id would be compiled anew for every message.
    """
    start = text.find(tag)
    while start >= 0:
        end = start + len(tag)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (_is_word(before) or _is_word(after)):
            return True
        start = text.find(tag, start + 1)
    return False


def _is_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True)
class Reporter:
    """Who reported, as far as the message tells."""

    email: str | None
    name: str
    phone: str | None
    source: str
    relay_sender: str | None


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def find_reporter(msg: InboundMessage, relay_senders: frozenset[str], own_domain: str) -> Reporter:
    """The reporter of a direct or relayed report (DESIGN.md §3: never the relay itself)."""
    phone = msg.contacts.phones[0] if msg.contacts.phones else None
    sender = msg.from_address
    if sender is None or sender not in relay_senders:
        return Reporter(sender, msg.from_name, phone, "direct", None)
    excluded = {_domain(r) for r in relay_senders} | {own_domain.lower()}
    for candidate in (*msg.reply_to, *msg.contacts.emails):
        if _domain(candidate) not in excluded:
            return Reporter(candidate, "", phone, "relay", sender)
    return Reporter(None, "", phone, "relay", sender)


def affected_systems(msg: InboundMessage) -> tuple[str, ...]:
    """URLs, IP addresses and host names the report mentions (deduplicated, capped)."""
    seen: dict[str, None] = {}
    for item in (*msg.contacts.urls, *msg.contacts.ips, *msg.contacts.hostnames):
        seen.setdefault(item, None)
    return tuple(seen)[:MAX_AFFECTED]


def open_case(
    case_id: str,
    msg: InboundMessage,
    reporter: Reporter,
    calendar: Calendar,
    acknowledge_days: int,
    respond_days: int,
    reporter_key: str | None = None,
) -> Case:
    """A new case for report `msg` with its first two clocks (and the reporter's OpenPGP
    key, armoured, when the report carried a usable one), what it lacks (`completeness`)
    and its claims flags (`claims`: reward demands, threats)."""
    ack = calendar.due(msg.received_at, acknowledge_days)
    response = calendar.due(msg.received_at, respond_days)
    flags: tuple[str, ...] = ("no_contact",) if reporter.email is None else ()
    flags += claim_flags(msg.subject, msg.text)
    flags += tuple(f for f in CRYPTO_FLAGS if f in msg.crypto)
    affected = affected_systems(msg)
    return Case(
        id=case_id,
        state=CaseState.NEW,
        subject=" ".join(msg.subject.split())[:500],
        received_at=msg.received_at,
        reporter_email=reporter.email,
        reporter_name=reporter.name,
        reporter_phone=reporter.phone,
        source=reporter.source,
        relay_sender=reporter.relay_sender,
        language=msg.language,
        ontvangstdag=calendar.ontvangstdag(msg.received_at),
        ack_due=ack.due,
        ack_explanation=ack.explanation,
        response_due=response.due,
        response_explanation=response.explanation,
        flags=flags,
        affected=affected,
        missing=find_missing(msg.text, affected, reporter.email, reporter.phone),
        reporter_key=reporter_key,
    )

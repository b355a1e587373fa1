"""The header block of a hostile message read into its fields (addresses, message ids,
subject), each value decoded to one harmless line; repeated identity headers and header
lines read otherwise than an MTA reads them are flagged. Nothing here raises."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

from mailbot.core.models import AMBIGUOUS_DEFECT as AMBIGUOUS
from mailbot.mail.contacts import normalize_address
from mailbot.mail.decoding import content_type, decode_words, normalize_msgid, one_line, unfold

MAX_ADDRESS_CHARS = 16 * 1024
#: Addresses of one kind (To, Cc, Reply-To) kept at most.
MAX_ADDRESSES = 100
MAX_IDS = 1000
_BRACKETED = re.compile(r"<([^<>]*)>")
_EMPTY_PATH = re.compile(r"<\s*>")
_FROM_LINE = re.compile(r"From [ \t]*:")
#: Headers that name the sender or the thread: a mail carries authority only when each
#: occurs once (DKIM verifies the last instance, RFC 6376 §5.4.2; we read the first).
IDENTITY_HEADERS = ("from", "sender", "subject", "message-id", "in-reply-to", "references")
#: Header block read otherwise than an MTA reads it: a line skipped ("From : x" taken for
#: an mbox separator), the block ended early ("Subject\t: x"), a nameless or leading folded
#: line. What we skipped may hold headers the MTA saw and DKIM verified.
_HEAD_DEFECTS = frozenset(
    {
        "MissingHeaderBodySeparatorDefect",
        "MisplacedEnvelopeHeaderDefect",
        "InvalidHeaderDefect",
        "FirstHeaderLineIsContinuationDefect",
    }
)


@dataclass(frozen=True)
class Head:
    """What the header block says, decoded."""

    headers: tuple[tuple[str, str], ...]
    message_id: str | None
    subject: str
    from_address: str | None
    from_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    return_path: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    content_type: str


UNDECODED = frozenset({"authentication-results", "arc-authentication-results"})
"""Headers whose values stay as written (no RFC 2047 decoding): what a trusted MTA says."""


def read_head(msg: Message, defects: list[str]) -> Head:
    """Every header as one decoded line, plus the fields the rest of mailbot needs."""
    raw: dict[str, list[str]] = {}
    headers: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        key = one_line(str(name)).lower()
        text = unfold(value)
        raw.setdefault(key, []).append(text)
        # Authentication-Results are judged as our MTA wrote them: an encoded word copied
        # from a sender's envelope must not decode into a "dmarc=pass" of its own.
        shown = text if key in UNDECODED else decode_words(text, defects)
        headers.append((key, one_line(shown)))
    message_id = first_id(raw.get("message-id", []))
    if message_id is None:
        defects.append("no_message_id")
    from_address, from_name = _sender(raw.get("from", []), defects)
    defects += _ambiguity(raw, msg)
    return Head(
        headers=tuple(headers),
        message_id=message_id,
        subject=next((value for key, value in headers if key == "subject"), ""),
        from_address=from_address,
        from_name=from_name,
        reply_to=_address_list(raw.get("reply-to", []), defects),
        to=_address_list(raw.get("to", []), defects),
        cc=_address_list(raw.get("cc", []), defects),
        return_path=_return_path(raw.get("return-path", []), defects),
        in_reply_to=_ids(raw.get("in-reply-to", [])),
        references=_ids(raw.get("references", [])),
        content_type=content_type(msg),
    )


def _ambiguity(raw: dict[str, list[str]], msg: Message) -> list[str]:
    """An AMBIGUOUS defect per repeated identity header, and "header_block" when the parser
    skipped a header line: _HEAD_DEFECTS, a leading "From " line taken for an mbox
    separator, or a last one ("From : x") pushed into the body without a defect."""
    found = [AMBIGUOUS + name for name in IDENTITY_HEADERS if len(raw.get(name, ())) > 1]
    payload = msg.__dict__.get("_payload")
    body = payload if isinstance(payload, str) else msg.preamble or ""
    if (
        any(type(defect).__name__ in _HEAD_DEFECTS for defect in msg.defects)
        or msg.get_unixfrom() is not None
        or _FROM_LINE.match(body[:100])
    ):
        found.append(AMBIGUOUS + "header_block")
    return found


def _pairs(value: str, defects: list[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header, bounded in length."""
    if len(value) > MAX_ADDRESS_CHARS:
        value = value[: max(value.rfind(",", 0, MAX_ADDRESS_CHARS), 0)]
        defects.append("address_header_truncated")
    try:
        return getaddresses([value])
    except Exception:
        defects.append("bad_address_header")
        return []


def _sender(values: list[str], defects: list[str]) -> tuple[str | None, str]:
    """From address and display name; None with a defect when absent or unusable."""
    if not values:
        defects.append("no_from")
        return None, ""
    pairs = _pairs(values[0], defects)
    valid = [(name, address) for name, raw in pairs if (address := normalize_address(raw))]
    if len(values) > 1 or len(valid) > 1:
        defects.append("multiple_from")
    if sum(1 for _, raw in pairs if raw.strip()) > 1:
        defects.append(AMBIGUOUS + "from_addresses")  # usable or not: another reader may differ
    if not valid:
        defects.append("bad_from")
        return None, _display_name(pairs[0][0] if pairs else "", defects)
    return valid[0][1], _display_name(valid[0][0], defects)


def _display_name(name: str, defects: list[str]) -> str:
    """A display name decoded, on one line, runs of whitespace collapsed."""
    return " ".join(one_line(decode_words(name, defects)).split())


def _address_list(values: list[str], defects: list[str]) -> tuple[str, ...]:
    """Every usable address of every header given, normalised, without repeats; the
    headers read together up to MAX_ADDRESS_CHARS (getaddresses needs ~2 µs a character)."""
    found: dict[str, None] = {}
    if sum(map(len, values)) > MAX_ADDRESS_CHARS:
        values = [", ".join(values)]
    for value in values:
        for _, raw in _pairs(value, defects):
            address = normalize_address(raw)
            if address is not None:
                found.setdefault(address)
    return tuple(found)[:MAX_ADDRESSES]


def _return_path(values: list[str], defects: list[str]) -> str | None:
    """None without the header, "" for the null path `<>`, else the address."""
    if not values:
        return None
    if _EMPTY_PATH.fullmatch(values[0]):
        return ""
    for _, raw in _pairs(values[0], defects):
        address = normalize_address(raw)
        if address is not None:
            return address
    defects.append("bad_return_path")
    return None


def _ids(values: Iterable[str]) -> tuple[str, ...]:
    """Every `<...>` message id in `values`, normalised, in order, without repeats."""
    found: dict[str, None] = {}
    for value in values:
        for candidate in _BRACKETED.findall(value) if "<" in value else [value]:
            msgid = normalize_msgid(candidate)
            if msgid is not None:
                found.setdefault(msgid)
                if len(found) >= MAX_IDS:
                    return tuple(found)
    return tuple(found)


def first_id(values: list[str]) -> str | None:
    """The first usable message id of the first value, or None."""
    ids = _ids(values[:1])
    return ids[0] if ids else None

"""Pure parsing of one raw inbound message into an `InboundMessage`. Never raises.

Attackers write to the mailbox, so every step expects hostile bytes: the MIME tree is
read with the fast `compat32` policy and decoded by hand (charset fallbacks, RFC 2047
words, 8-bit headers), every header value ends up as one harmless line, and a fault
that slips through still yields a message, with a "parser_error:<type>" defect.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime
from email.message import Message

from mailbot.core.models import Attachment, InboundMessage
from mailbot.mail.bodies import Bodies, decoded, parse_bytes
from mailbot.mail.bodies import digest as payload_digest
from mailbot.mail.contacts import detect_language, extract_contacts, normalize_address
from mailbot.mail.decoding import (
    content_type,
    declared_filename,
    decode_bytes,
    decode_words,
    normalize_msgid,
    param_text,
    safe_parser,
    unfold,
)
from mailbot.mail.flowed import unflow_part
from mailbot.mail.headers import Head, read_head
from mailbot.mail.html_text import html_to_text
from mailbot.mail.mime_tree import (
    MAX_DEPTH,
    MAX_HEADER_BLOCK,
    MAX_PARTS,
    MimeNode,
    bounced_ids,
    is_attachment,
    walk,
)
from mailbot.mail.pgp_inbound import Findings, inspect
from mailbot.mail.relayparts import deliberate_parts

__all__ = [
    "normalize_address",
    "normalize_msgid",
    "parse",
    "parse_entity",
    "parse_headers_only",
    "parse_with_findings",
    "sanitize_filename",
    "with_plaintext",
]

MAX_TEXT_CHARS = 1_000_000
MAX_FILENAME_CHARS = 255
#: Header fields of a message read in full; with more it is read headers-only (quarantined).
MAX_HEADERS = 1000
#: Lines the feed parser may read (header, boundary and short lines: runs of body lines
#: reach it as one line); the rest of the message is then not read ("too_many_lines").
MAX_PARSED_LINES = 100_000

_DROP_CONTROLS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029])
_SLASHES = re.compile(r"[/\\]")
_DOTS = re.compile(r"\.{2,}")


def parse(raw: bytes, received_at: datetime) -> InboundMessage:
    """The decoded message; on any internal fault a reduced one with a parser_error defect."""
    return parse_with_findings(raw, received_at)[0]


def parse_with_findings(raw: bytes, received_at: datetime) -> tuple[InboundMessage, Findings]:
    """`parse`, and what the MIME tree says about encryption, signatures and keys."""
    size, digest = _fingerprint(raw)
    try:
        if _too_complex(raw):
            raise ValueError("too many multipart boundaries for its size")
        return _parse_full(raw, size, digest, received_at)
    except Exception as exc:
        defect = f"parser_error:{type(exc).__name__}"
        try:
            return _parse_head(raw, size, digest, received_at, [defect]), Findings()
        except Exception:
            return _minimal(size, digest, received_at, defect), Findings()


def parse_headers_only(raw: bytes, received_at: datetime) -> InboundMessage:
    """The header block only (first 256 KiB at most), for oversized messages."""
    size, digest = _fingerprint(raw)
    try:
        return _parse_head(raw, size, digest, received_at, ["headers_only"])
    except Exception as exc:
        return _minimal(size, digest, received_at, f"parser_error:{type(exc).__name__}")


# --- top level ---------------------------------------------------------------------


_BOUNDARY_PARAM = re.compile(rb"boundary\s*\*?\s*=", re.IGNORECASE)
MAX_BOUNDARY_LINES = 20_000_000
"""The email package checks every line against every open boundary: past this product of
boundaries and lines a message would block intake for minutes, so it is quarantined."""


def _too_complex(raw: bytes) -> bool:
    """True when boundaries x lines exceeds MAX_BOUNDARY_LINES (counted in linear time)."""
    lines = raw.count(b"\n") + 1
    cap = MAX_BOUNDARY_LINES // lines + 1
    if raw.count(b"=") < cap or _word_count(raw, b"boundary") < cap:
        return False  # every boundary parameter has both: counting is much cheaper
    matches = enumerate(_BOUNDARY_PARAM.finditer(raw), start=1)
    return any(found >= cap for found, _ in matches)


def _word_count(raw: bytes, word: bytes, size: int = 1 << 16) -> int:
    """Occurrences of lower-case `word` in `raw` in any case, lower-cased a slice at a time."""
    found = 0
    for start in range(0, len(raw), size):
        piece = raw[start : start + size + len(word) - 1].lower()
        found += piece.count(word)  # one that starts past `size` cannot fit in `piece`
    return found


def _fingerprint(raw: bytes) -> tuple[int, str]:
    """Size and sha256 of `raw` (0 and the empty digest for something that is not bytes)."""
    try:
        return len(raw), hashlib.sha256(raw).hexdigest()
    except TypeError:
        return 0, hashlib.sha256(b"").hexdigest()


def _minimal(size: int, digest: str, received_at: datetime, defect: str) -> InboundMessage:
    """The least message there is: fingerprint, receipt moment and why nothing else."""
    return InboundMessage(
        raw_sha256=digest,
        size=size,
        received_at=received_at,
        message_id=None,
        subject="",
        from_address=None,
        from_name="",
        defects=(defect,),
    )


def _parse_full(
    raw: bytes, size: int, digest: str, received_at: datetime
) -> tuple[InboundMessage, Findings]:
    """Headers, body text, attachments, contacts and bounce data of the whole message, and
    its cryptography (`pgp_inbound.inspect`)."""
    defects: list[str] = []
    root = parse_bytes(raw, max_parts=MAX_PARTS, max_lines=MAX_PARSED_LINES)
    bodies = root.bodies or Bodies(raw)
    if len(root) > MAX_HEADERS or (bodies.stopped and not bodies.head_done):
        raise ValueError(f"header block over {MAX_HEADERS} fields or {MAX_PARSED_LINES} lines")
    if bodies.stopped:
        defects.append(bodies.stopped)
    head = read_head(root, defects)
    nodes = walk(root, defects)
    text, html_only = _body_text(nodes, defects)
    attachments = tuple(_attachment(node.part, defects) for node in nodes if is_attachment(node))
    bounced = bounced_ids(head.content_type, nodes)
    defects += [type(d).__name__ for node in nodes for d in node.part.defects]
    autocrypt = [value for key, value in head.headers if key == "autocrypt"]
    found = inspect(nodes, raw, text, autocrypt, head.from_address)
    msg = _build(
        head,
        size=size,
        digest=digest,
        received_at=received_at,
        defects=defects,
        text=text,
        html_only=html_only,
        attachments=attachments,
        bounced=bounced,
    )
    return replace(
        msg, crypto=found.flags, crypto_note="; ".join(found.notes), keys=found.keys
    ), found


# --- decrypted content ---------------------------------------------------------------

#: Outer subjects that stand for a protected one (RFC 9788 §3.1 suggests "...").
PLACEHOLDER_SUBJECTS = frozenset(
    {"", "...", "…", "[...]", "encrypted message", "encrypted", "versleuteld bericht"}
)
#: Defects of a decrypted part's own header block that say nothing about the message.
_INNER_HEAD_DEFECTS = ("no_message_id", "no_from", "bad_from", "multiple_from", "ambiguous")


def parse_entity(outer: InboundMessage, entity: bytes) -> tuple[InboundMessage, Findings]:
    """`outer` (a PGP/MIME message) with the decrypted MIME `entity` as its content: text,
    attachments, contacts and language from the entity; the subject too when the entity
    declares protected-headers="v1" (RFC 9788) or the outer subject is a placeholder
    such as "..."; every other header (From, Message-ID, ...) stays the outer one."""
    try:
        if _too_complex(entity):
            raise ValueError("too many multipart boundaries for its size")
        inner, found = _parse_full(entity, outer.size, outer.raw_sha256, outer.received_at)
    except Exception as exc:
        return replace(
            outer, defects=(*outer.defects, f"decrypted_{type(exc).__name__}")
        ), Findings()
    placeholder = outer.subject.strip().lower() in PLACEHOLDER_SUBJECTS
    subject = inner.subject if inner.subject and (found.protected or placeholder) else outer.subject
    body = [d for d in inner.defects if not d.startswith(_INNER_HEAD_DEFECTS)]
    return replace(
        _retext(outer, subject, inner.text),
        html_only=inner.html_only,
        attachments=inner.attachments,
        defects=tuple(dict.fromkeys((*outer.defects, *body))),
    ), found


def with_plaintext(outer: InboundMessage, plaintext: bytes) -> InboundMessage:
    """`outer` (inline OpenPGP) with its first "-----BEGIN PGP MESSAGE-----" block replaced
    by the decrypted `plaintext` (UTF-8, else Latin-1)."""
    defects: list[str] = []
    clear = _clean_text(decode_bytes(plaintext, "utf-8", defects), defects)
    start = outer.text.find("-----BEGIN PGP MESSAGE-----")
    end = outer.text.find("-----END PGP MESSAGE-----", start)
    if start < 0 or end < 0:
        return outer
    stop = outer.text.find("\n", end)
    end = len(outer.text) if stop < 0 else stop
    text = f"{outer.text[:start]}{clear}{outer.text[end:]}"[:MAX_TEXT_CHARS]
    return replace(_retext(outer, outer.subject, text), defects=(*outer.defects, *defects))


def _retext(msg: InboundMessage, subject: str, text: str) -> InboundMessage:
    """`msg` with `subject` and `text`, and the contacts and language found in them."""
    return replace(
        msg,
        subject=subject,
        text=text,
        contacts=extract_contacts(subject, text),
        language=detect_language(f"{subject}\n{text}"),
    )


def attachment_payloads(raw: bytes, limit: int) -> list[tuple[str, str, bytes]]:
    """(sanitised name, type, bytes) of the attachments the sender meant to attach
    (`relayparts.deliberate_parts`: no inline or signature images, no attached mails),
    at most `limit` bytes in all (later ones are left out). Never raises: [] when unreadable."""
    try:
        defects: list[str] = []
        found: list[tuple[str, str, bytes]] = []
        total = 0
        tree = parse_bytes(raw, max_parts=MAX_PARTS, max_lines=MAX_PARSED_LINES)
        for part in deliberate_parts(tree, MAX_PARTS, MAX_DEPTH):
            meta, data = _attachment(part, defects), _payload(part)
            total += len(data)
            if total > limit:
                break
            found.append((meta.filename, meta.content_type, data))
        return found
    except Exception:
        return []


def _parse_head(
    raw: bytes, size: int, digest: str, received_at: datetime, defects: list[str]
) -> InboundMessage:
    """Only the header block: up to the first empty line, within MAX_HEADER_BLOCK."""
    block = raw[:MAX_HEADER_BLOCK]
    ends = [i for i in (block.find(b"\n\n"), block.find(b"\n\r\n")) if i >= 0]
    if block.startswith((b"\n", b"\r\n")):
        block = b""
    elif ends:
        block = block[: min(ends) + 1]
    elif len(raw) > MAX_HEADER_BLOCK:
        defects.append("headers_truncated")
    root = safe_parser().parsebytes(block, headersonly=True)
    head = read_head(root, defects)
    defects += [type(d).__name__ for d in root.defects]
    return _build(
        head,
        size=size,
        digest=digest,
        received_at=received_at,
        defects=defects,
        text="",
        html_only=False,
        attachments=(),
        bounced=(),
    )


def _build(
    head: Head,
    *,
    size: int,
    digest: str,
    received_at: datetime,
    defects: list[str],
    text: str,
    html_only: bool,
    attachments: tuple[Attachment, ...],
    bounced: tuple[str, ...],
) -> InboundMessage:
    """Assemble the value; contacts and language come from subject and text."""
    return InboundMessage(
        raw_sha256=digest,
        size=size,
        received_at=received_at,
        message_id=head.message_id,
        subject=head.subject,
        from_address=head.from_address,
        from_name=head.from_name,
        reply_to=head.reply_to,
        to=head.to,
        cc=head.cc,
        return_path=head.return_path,
        in_reply_to=head.in_reply_to,
        references=head.references,
        headers=head.headers,
        content_type=head.content_type,
        text=text,
        html_only=html_only,
        attachments=attachments,
        defects=tuple(dict.fromkeys(defects)),
        contacts=extract_contacts(head.subject, text),
        language=detect_language(f"{head.subject}\n{text}"),
        bounced_message_ids=bounced,
    )


def sanitize_filename(name: str) -> str:
    """A safe base name: no directories, "..", control characters or leading dots."""
    name = _SLASHES.split(name.translate(_DROP_CONTROLS))[-1]
    name = _DOTS.sub(".", name).lstrip(". ").rstrip(". ")
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 16:
            name = f"{stem[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip('. ')}.{extension}"
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(". ")
    return name or "attachment"


def _payload(part: Message) -> bytes:
    """The transfer-decoded body of a leaf (b"" when there is none)."""
    return decoded(part)


def _attachment(part: Message, defects: list[str]) -> Attachment:
    """Name, type, size and sha256 of one attachment's decoded bytes (decoded in slices)."""
    size, sha256 = payload_digest(part)
    name = decode_words(unfold(declared_filename(part) or ""), defects)
    return Attachment(
        filename=sanitize_filename(name),
        content_type=content_type(part),
        size=size,
        sha256=sha256,
    )


# --- body text ---------------------------------------------------------------------


def _body_text(nodes: list[MimeNode], defects: list[str]) -> tuple[str, bool]:
    """The first plain-text body (else HTML converted), preferring the outer message."""
    found: dict[tuple[bool, bool], Message] = {}
    for node in nodes:
        if not node.leaf or is_attachment(node):
            continue
        if node.content_type == "text/plain" or node.content_type.startswith("multipart/"):
            found.setdefault((node.embedded, False), node.part)
        elif node.content_type == "text/html":
            found.setdefault((node.embedded, True), node.part)
    for embedded in (False, True):
        plain, html = found.get((embedded, False)), found.get((embedded, True))
        text = unflow_part(plain, _part_text(plain, defects)) if plain is not None else ""
        if html is not None and not text.strip():
            return _clean_text(html_to_text(_part_text(html, defects), defects), defects), True
        if plain is not None:
            return _clean_text(text, defects), False
    return "", False


def _part_text(part: Message, defects: list[str]) -> str:
    """A text leaf decoded with its declared charset (and the usual fallbacks)."""
    value = part.get_param("charset")
    charset = None if value is None else param_text(value, defects)
    return decode_bytes(_payload(part), charset, defects)


def _clean_text(text: str, defects: list[str]) -> str:
    """Newlines as "\\n", no NUL characters, at most MAX_TEXT_CHARS."""
    text = text[: 2 * MAX_TEXT_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\x00", "")
    if len(text) > MAX_TEXT_CHARS:
        defects.append("text_truncated")
        text = text[:MAX_TEXT_CHARS]
    return text

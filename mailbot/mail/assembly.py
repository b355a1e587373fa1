"""A text/plain mail as bytes, written by hand from already validated, cleaned parts.

Pure. The email package is not used to assemble: its header classes parse every value
set on a message (Python 3.11.7 decodes an encoded word found in a plain string, CR/LF
included), its folder drops the quotes of a long quoted display name and turns long
Message-IDs into encoded words, and the whole round trip costs milliseconds per mail.

Each header is one *field*: ``Name: value``, folded with ``"\\n "`` between its lines.
`text_mail` refuses a field that is not printable ASCII on lines of at most 998 octets,
so a line break can only ever start a continuation line, never a header. Free text is
folded at spaces to 78 columns, or, when it is not plain ASCII or contains ``=?``,
written as RFC 2047 encoded words (as ``email.header.Header`` writes them, byte for
byte) so a reader shows it literally. Address lists fold after commas at 76 columns,
as the email package's SMTP policy did. The body is quoted-printable (lines of at most
76, trailing white space encoded) over UTF-8 with CRLF line ends; a line "." is left
as it is, since the SMTP client dot-stuffs.

An attachment's name goes into ``Content-Type: …; name`` and ``Content-Disposition:
attachment; filename``: quoted when it is short printable ASCII (without ``"``, ``\\``
or ``=?``), else as RFC 2231 UTF-8 with continuations (``filename*0*=utf-8''…;``
``filename*1*=…``), each segment on its own folded line and cut between characters, so
any name of any length fits. `check_lines` is the last word on every mail: CRLF line
ends only, no line over 998 octets.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
from base64 import b64encode
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email.quoprimime import body_encode
from email.utils import format_datetime
from string import ascii_letters, digits

from mailbot.core.errors import PermanentError

Attachments = Sequence[tuple[str, str, bytes]]
"""Attachments of an outgoing mail: (name, declared type, bytes)."""

FOLD_WIDTH = 78
"""Free text (Subject, display names), plain or encoded, is folded to this many columns."""
NARROW_WIDTH = 76
"""Address lists and quoted-printable body lines stay within this many columns."""
MAX_LINE_OCTETS = 998
"""RFC 5322's hard limit on a line, CRLF excluded."""

_CHARSET = "utf-8"
_CHROME = len(f"=?{_CHARSET}?q??=")
_NEXT_LINE_ROOM = FOLD_WIDTH - 1 - _CHROME  # a continuation line starts with a space
_Q_MAP = [f"={byte:02X}" for byte in range(256)]
for _byte in b"-!*+/" + ascii_letters.encode() + digits.encode():
    _Q_MAP[_byte] = chr(_byte)
_Q_MAP[ord(" ")] = "_"
_Q_CONTINUATION = frozenset("89AB")  # "=8X" ... "=BX": a UTF-8 continuation byte
_FIELD = re.compile(r"[!-9;-~]+:[ -~]*(?:\n [ -~]*[!-~])*")
_BODY_HEADERS = (
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "MIME-Version: 1.0\r\n"
)
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")


class MailInputError(PermanentError, ValueError):
    """A value must not go into a mail header (bad address, Message-ID, naive date).

    Callers pass only validated values, so this signals a bug upstream; it is also a
    ValueError. The message names the bad value.
    """


# --- fields --------------------------------------------------------------------------


def field(name: str, value: str) -> str:
    """``name: value`` for a value that is already safe and folded (IDs, dates, tokens)."""
    return f"{name}: {value}"


def text_field(name: str, text: str) -> str:
    """`name` with one line of clean `text`: folded at spaces, or as encoded words.

    Plain ASCII is folded at spaces; anything else, and ASCII containing ``=?``,
    becomes RFC 2047 encoded words, so no reader decodes the reporter's text.
    """
    return f"{name}: {_text_value(name, text)}"


def mailbox_field(name: str, phrase: str, address: str) -> str:
    """``name: phrase <address>``: a plain, quoted or encoded display name, or the address."""
    if not phrase:
        return f"{name}: {address}"
    if not phrase.isascii() or "=?" in phrase:
        phrase = _text_value(name, phrase)
    elif not _PLAIN_PHRASE.fullmatch(phrase):
        phrase = '"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"'
    last_line = phrase.rpartition("\n")[2]  # measured as if it followed "name: "
    room = FOLD_WIDTH - len(name) - len(": ") - len(" <>")
    separator = "\n " if len(last_line) + len(address) > room else " "
    return f"{name}: {phrase}{separator}<{address}>"


def address_field(name: str, addresses: Sequence[str]) -> str:
    """``name: a, b, ...`` of bare addresses, folded as the email package's SMTP policy did.

    On one line if it fits in 76 columns, else the whole list on the next line if it
    fits there, else each address on the current line if it fits (its comma may go
    one column over) or on a new one.
    """
    value = ", ".join(addresses)
    if len(name) + 2 + len(value) <= NARROW_WIDTH:
        return f"{name}: {value}"
    if 1 + len(value) <= NARROW_WIDTH:
        return f"{name}:\n {value}"
    lines = [f"{name}:"]
    for address in addresses[:-1]:
        _add_item(lines, address, ",")
    _add_item(lines, addresses[-1], "")
    return "\n".join(lines)


def _add_item(lines: list[str], item: str, suffix: str) -> None:
    """Put `item` and `suffix` on the last of `lines` if `item` fits, else on a new line."""
    if len(lines[-1]) + 1 + len(item) > NARROW_WIDTH:
        lines.append(f" {item}{suffix}")
    else:
        lines[-1] += f" {item}{suffix}"


def id_list_field(name: str, message_ids: Iterable[str]) -> str:
    """``name: <a>`` with each further Message-ID (no brackets) on its own line."""
    return f"{name}: " + "\n ".join(f"<{message_id}>" for message_id in message_ids)


def date_field(name: str, moment: datetime) -> str:
    """``name: Mon, 21 Dec 2026 10:00:03 +0100``; an offset with seconds is given as UTC."""
    offset = moment.utcoffset()
    if offset is None:
        raise MailInputError(f"date must be timezone-aware, got {moment.isoformat()}")
    if offset.seconds % 60 or offset.microseconds:
        moment = moment.astimezone(UTC)  # "+0019" would misstate it, "+001932" is invalid
    return f"{name}: {format_datetime(moment)}"


def _text_value(name: str, text: str) -> str:
    """The value part of `text_field` (its lines joined by ``"\\n "``)."""
    if text.isascii() and "=?" not in text:
        return _fold_words(len(name) + 2, text.split(" "))
    first_room = FOLD_WIDTH - len(name) - 2 - _CHROME
    return "\n ".join(encoded_words(text, first_room))


def _fold_words(used: int, words: list[str]) -> str:
    """`words` joined by spaces, broken into lines of at most 78 where a space allows.

    `used` counts the columns before the first word (the header name and ": ").
    """
    lines: list[str] = []
    current = ""
    for word in words:
        if current and used + len(current) + 1 + len(word) > FOLD_WIDTH:
            lines.append(current)
            current, used = word, 1
        else:
            current = f"{current} {word}" if current else word
    return "\n ".join([*lines, current])


# --- encoded words -------------------------------------------------------------------


def encoded_words(text: str, first_room: int) -> list[str]:
    """`text` as UTF-8 encoded words, one per line, as ``email.header.Header`` writes them.

    Q or B, whichever is shorter for the whole text; each word holds as many whole
    characters as fit: `first_room` encoded characters in the first, and in the others
    what fits on a continuation line of 78 columns.
    """
    data = text.encode()
    q_text = data.decode("latin-1").translate(_Q_MAP)
    if (len(data) + 2) // 3 * 4 < len(q_text):
        chunks = _b_chunks(data, first_room // 4 * 3, _NEXT_LINE_ROOM // 4 * 3)
        return [f"=?{_CHARSET}?b?{b64encode(chunk).decode()}?=" for chunk in chunks]
    return [f"=?{_CHARSET}?q?{chunk}?=" for chunk in _q_chunks(q_text, first_room)]


def _q_chunks(q_text: str, room: int) -> list[str]:
    """Q-encoded `q_text` cut at character boundaries into pieces of at most `room`."""
    chunks: list[str] = []
    start = 0
    while len(q_text) - start > room:
        cut = start + room
        while not _is_q_boundary(q_text, cut):
            cut -= 1
        chunks.append(q_text[start:cut])
        start, room = cut, _NEXT_LINE_ROOM
    chunks.append(q_text[start:])
    return chunks


def _is_q_boundary(q_text: str, pos: int) -> bool:
    """True when a character starts at `pos` (0 < pos < len) of Q-encoded UTF-8."""
    inside_escape = q_text[pos - 1] == "=" or (pos > 1 and q_text[pos - 2] == "=")
    return not inside_escape and not (q_text[pos] == "=" and q_text[pos + 1] in _Q_CONTINUATION)


def _b_chunks(data: bytes, first: int, rest: int) -> list[bytes]:
    """UTF-8 `data` cut at character boundaries: `first` octets at most, then `rest`."""
    chunks: list[bytes] = []
    start, room = 0, first
    while len(data) - start > room:
        cut = start + room
        while 0x80 <= data[cut] < 0xC0:
            cut -= 1
        chunks.append(data[start:cut])
        start, room = cut, rest
    chunks.append(data[start:])
    return chunks


# --- the message ---------------------------------------------------------------------


def quoted_printable(text: str) -> str:
    """`text` (lines ending ``\\n``) as quoted-printable, every line ending CRLF.

    Byte for byte what the email package writes for UTF-8 text: plain lines are kept,
    the others encoded by ``email.quoprimime`` (lines of at most 76, soft breaks never
    inside an escape, trailing white space encoded).
    """
    encoded = [
        line
        if _is_plain_line(line)
        else body_encode(line.encode().decode("latin-1"), NARROW_WIDTH, "\r\n")
        for line in text.splitlines()
    ]
    return "\r\n".join([*encoded, ""])


def _is_plain_line(line: str) -> bool:
    """True when quoted-printable leaves `line` as it is (no "=", ASCII, no end space)."""
    return (
        len(line) <= NARROW_WIDTH
        and line.isascii()
        and line.isprintable()
        and "=" not in line
        and not line.endswith(" ")
    )


def head_block(fields: Sequence[str]) -> str:
    """`fields` in order, CRLF-joined (no final CRLF).

    Raises MailInputError naming a field that is not ``Name: value`` in printable ASCII
    with continuation lines only, or has a line longer than 998 octets.
    """
    for one in fields:
        if not _FIELD.fullmatch(one) or max(map(len, one.split("\n"))) > MAX_LINE_OCTETS:
            raise MailInputError(f"unsafe header field {one[:200]!r}")
    return "\r\n".join(one.replace("\n", "\r\n") for one in fields)


def text_mail(fields: Sequence[str], body: str, type_params: str = "") -> bytes:
    """The mail: `fields` in order (see `head_block`), the text/plain MIME headers (its
    Content-Type with `type_params` added, e.g. ``; hp="cipher"``), the quoted-printable
    body."""
    head = head_block(fields)
    mime = _BODY_HEADERS.replace('"utf-8"', f'"utf-8"{type_params}', 1)
    return f"{head}\r\n{mime}\r\n{quoted_printable(body)}".encode("ascii")


_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")


_SEGMENT_CHARS = 60
"""Percent-encoded characters per RFC 2231 segment (a line stays under 78 columns)."""
_QUOTABLE = re.compile(r"[ !#-\[\]-~]{1,60}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def param_segments(name: str, value: str) -> list[str]:
    """MIME parameter `name` = `value` as ``name="value"`` or RFC 2231 segments.

    Each segment is short; the caller joins them with ``";\n "``. A lone surrogate
    (not encodable) becomes U+FFFD.
    """
    if _QUOTABLE.fullmatch(value) and "=?" not in value and value == value.strip():
        return [f'{name}="{value}"']
    value = _SURROGATE.sub("\ufffd", value)
    segments: list[str] = []
    current = "utf-8''"
    for char in value:
        piece = urllib.parse.quote(char, safe="")
        if len(current) + len(piece) > _SEGMENT_CHARS:
            segments.append(current)
            current = ""
        current += piece
    segments.append(current)
    if len(segments) == 1:
        return [f"{name}*={current}"]
    return [f"{name}*{index}*={segment}" for index, segment in enumerate(segments)]


def _attachment_head(name: str, kind: str) -> str:
    """The MIME header lines (CRLF) of one base64 attachment called `name`, without
    surrounding white space (readers strip it); "attachment" when nothing is left."""
    name = name.strip() or "attachment"
    type_params = ";\r\n ".join(param_segments("name", name))
    file_params = ";\r\n ".join(param_segments("filename", name))
    return (
        f"Content-Type: {kind};\r\n {type_params}\r\n"
        f"Content-Disposition: attachment;\r\n {file_params}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
    )


def check_lines(raw: bytes) -> bytes:
    """`raw` when every line ends in CRLF and has at most 998 octets, else MailInputError.

    The check every outgoing mail passes before it can be queued (RFC 5322 §2.1.1, §2.3).
    """
    lines = raw.split(b"\r\n")
    crlf_only = raw.count(b"\r") == raw.count(b"\n") == len(lines) - 1
    if crlf_only and max(map(len, lines)) <= MAX_LINE_OCTETS and not lines[-1]:
        return raw
    raise MailInputError(_line_fault(lines))


def _line_fault(lines: list[bytes]) -> str:
    """What is wrong with the first bad line of a mail split at CRLF."""
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_OCTETS:
            return f"line {number} of the mail is over 998 octets: {line[:80]!r}..."
        if b"\r" in line or b"\n" in line:
            return f"line {number} of the mail has a bare CR or LF: {line[:80]!r}"
    return "the mail does not end with CRLF"


def mixed_mail(
    fields: Sequence[str],
    body: str,
    attachments: Sequence[tuple[str, str, bytes]],
    boundary: str,
    type_params: str = "",
) -> bytes:
    """multipart/mixed (its Content-Type with `type_params` added): the text part, then
    each (name, type, bytes) as base64.

    The name is written quoted or as RFC 2231 parameter segments (any characters of any
    length survive, none can end the header); an unusual type becomes
    application/octet-stream.
    """
    head = head_block(fields)
    if not re.fullmatch(r"[A-Za-z0-9'()+_,./:=?-]{1,69}", boundary):
        raise MailInputError(f"unsafe MIME boundary {boundary!r}")
    parts = [
        f"{head}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"{type_params}\r\n\r\n',
        f"--{boundary}\r\n{_BODY_HEADERS.replace('MIME-Version: 1.0' + chr(13) + chr(10), '')}"
        f"\r\n{quoted_printable(body)}\r\n",
    ]
    for name, declared, data in attachments:
        kind = declared.lower() if _TYPE.fullmatch(declared.lower()) else "application/octet-stream"
        encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
        parts.append(f"--{boundary}\r\n{_attachment_head(name, kind)}\r\n{encoded}")
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode("ascii")


def assemble(
    fields: list[str], body: str, attachments: Attachments, type_params: str = ""
) -> bytes:
    """The mail's bytes: `text_mail`, or `mixed_mail` with attachments (its boundary from a
    digest of the content); `check_lines` refuses one with a line over 998 octets."""
    if not attachments:
        return check_lines(text_mail(fields, body, type_params))
    digest = hashlib.sha256(body.encode())
    for _, _, data in attachments:
        digest.update(data)
    # "=_" never occurs in quoted-printable or base64 text: the boundary cannot collide.
    boundary = f"=_mailbot_{digest.hexdigest()[:32]}"
    return check_lines(mixed_mail(fields, body, attachments, boundary, type_params))

"""Decoding of hostile header and body bytes.

Used by `mailbot.parsing`: charsets with safe fallbacks, RFC 2047 encoded words,
8-bit header bytes and MIME access that never runs a codec the sender picked, each
value ending up as one harmless line (the header block's fields: headers.py). Nothing
here raises on bad input.
"""

from __future__ import annotations

import binascii
import codecs
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import decode_params, unquote
from typing import Any

#: Parameters of one header read at most (the type and this many; RFC 2231 sections count).
MAX_PARAMS = 1000
#: RFC 2047 words decoded in one value at most (a real subject has a handful).
MAX_ENCODED_WORDS = 1000

_CONTROL_CHARS = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_TO_SPACE = dict.fromkeys(_CONTROL_CHARS, " ")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([qQbB])\?([^?\s]*)\?=")
#: One parameter of a header value: up to a ";" outside double quotes (a quote right
#: after a backslash does not count; an unclosed quote runs to the end).
_PARAM_ITEM = re.compile(r'(?:[^;"]|(?<=\\)"|"(?:[^"]|(?<=\\)")*(?:(?<!\\)"|\Z))*')
_BANNED_CODECS = frozenset(
    {"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined"}
)


def normalize_msgid(value: str) -> str | None:
    """`value` without surrounding whitespace and angle brackets; None when unusable.

    Unusable: empty, longer than 998 characters, or containing whitespace, control
    characters or further angle brackets.
    """
    msgid = value.strip().removeprefix("<").removesuffix(">")
    if not msgid or len(msgid) > 998 or "<" in msgid or ">" in msgid:
        return None
    if any(ch.isspace() for ch in msgid) or _CONTROL_RE.search(msgid):
        return None
    return msgid


# --- decoding ----------------------------------------------------------------------


def _codec(charset: str | None, defects: list[str]) -> str | None:
    """Python's name for a declared charset; None (with a defect) when unknown or unsafe."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").split("*", 1)[0].lower()
    try:
        info = codecs.lookup(name) if len(name) <= 64 else None
    except (LookupError, ValueError, TypeError):
        info = None
    if info is None or not info._is_text_encoding or info.name in _BANNED_CODECS:
        defects.append(f"unknown_charset:{safe_token(name)}")
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None, defects: list[str]) -> str:
    """`data` as text: the declared charset, else UTF-8, else Latin-1 (never fails)."""
    codec = _codec(charset, defects)
    if codec is not None and codec != "ascii":
        try:
            return data.decode(codec)
        except (UnicodeError, ValueError, LookupError):
            defects.append(f"charset_mismatch:{codec}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode(codec, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def recover(value: object) -> str:
    """A header value as read by BytesParser, its 8-bit bytes decoded as UTF-8 or Latin-1."""
    text = str(value)
    if text.isascii():
        return text
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_words(value: str, defects: list[str]) -> str:
    """`value` with RFC 2047 encoded words decoded; space between adjacent words dropped.

    Only the first MAX_ENCODED_WORDS words are decoded (about 2 µs each); later ones stay
    as they are, with an "encoded_words_left" defect.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    run: list[bytes] = []
    run_charset = ""
    done = 0
    for count, match in enumerate(_ENCODED_WORD.finditer(value)):
        if count >= MAX_ENCODED_WORDS:
            defects.append("encoded_words_left")
            break
        gap = value[done : match.start()]
        data = _word_bytes(match.group(2), match.group(3))
        charset = match.group(1).split("*", 1)[0].lower()
        adjacent = bool(run) and not gap.strip()
        if data is not None and adjacent and charset == run_charset:
            run.append(data)
        else:
            if run:
                out.append(decode_bytes(b"".join(run), run_charset, defects))
                run = []
            if not adjacent or data is None:
                out.append(gap)
            if data is None:
                out.append(match.group())
            else:
                run, run_charset = [data], charset
        done = match.end()
    if run:
        out.append(decode_bytes(b"".join(run), run_charset, defects))
    out.append(value[done:])
    return "".join(out)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes of one encoded word's payload, or None when it does not decode."""
    try:
        data = payload.encode("utf-8", "surrogateescape")
        if encoding in "bB":
            data = data.rstrip(b"=")
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError, UnicodeError):
        return None


def one_line(value: str) -> str:
    """`value` with every control character (CR, LF, NUL, ...) turned into a space, trimmed.

    Translating costs ~40 ns a character once the text is not ASCII; looking first is
    ~50 times cheaper.
    """
    if _CONTROL_RE.search(value) is None:
        return value.strip()
    return value.translate(_TO_SPACE).strip()


def safe_token(value: str) -> str:
    """A short printable form of attacker-chosen text for defect names."""
    return re.sub(r"[^A-Za-z0-9._+-]", "?", value[:40])


# --- safe access to MIME parts ------------------------------------------------------


class SafeMessage(Message):
    """A compat32 Message whose boundary lookup never runs a sender-chosen codec.

    The stock `get_boundary` decodes an RFC 2231 boundary (`boundary*=punycode''...`)
    with the declared codec while parsing; punycode takes minutes on a megabyte.
    The stock `get_param` raises TypeError when a parameter comes both whole and in
    numbered RFC 2231 sections (`name*=...; name*0*=...`); here that is "absent".
    The stock parameter splitter is quadratic (minutes for 100 KB of `a=b;` or of `;`
    inside an open quote); here it is linear.
    """

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        """(name, quoted value) pairs of `header`'s parameters, RFC 2231 sections joined;
        worked out once per header value (callers ask the same header several times)."""
        value = self.get(header)
        if value is None:
            return failobj
        text = str(value)
        cache: dict[str, tuple[str, list[Any]]] = vars(self).setdefault("_params_cache", {})
        known = cache.get(header.lower())
        if known is not None and known[0] == text:
            return known[1]
        params = []
        for item in split_params(text):
            name, equals, rest = item.partition("=")
            params.append((name.strip(), rest.strip()) if equals else (item.strip(), ""))
        decoded: list[Any] = decode_params(params)
        cache[header.lower()] = (text, decoded)
        return decoded

    def get_param(
        self, param: str, failobj: Any = None, header: str = "content-type", unquote: bool = True
    ) -> Any:
        """The stock parameter lookup; `failobj` when the parameters cannot be decoded."""
        try:
            return super().get_param(param, failobj, header, unquote)
        except (TypeError, ValueError):
            return failobj

    def get_boundary(self, failobj: Any = None) -> Any:
        """The boundary parameter, unquoted, its RFC 2231 charset ignored."""
        boundary = self.get_param("boundary", None)
        if boundary is None:
            return failobj
        return unquote(boundary[2] if isinstance(boundary, tuple) else boundary).rstrip()


def split_params(value: str, limit: int = MAX_PARAMS) -> list[str]:
    """`email.message._parseparam` in linear time: the ";"-separated items of a header
    value (a ";" after an odd number of unescaped quotes does not separate), each
    "name=value" with the name lower-cased and both sides stripped; the first `limit`."""
    text = ";" + value
    items: list[str] = []
    at = 0
    while text.startswith(";", at) and len(items) < limit:
        match = _PARAM_ITEM.match(text, at + 1)
        end = match.end() if match else len(text)
        item = text[at + 1 : end]
        if "=" in item:
            name, _, rest = item.partition("=")
            item = name.strip().lower() + "=" + rest.strip()
        items.append(item.strip())
        at = end
    return items


def safe_parser() -> BytesParser[SafeMessage]:
    """A fast compat32 parser that builds `SafeMessage` parts."""
    policy: Any = compat32  # typeshed ties the policy's message type to the default class
    return BytesParser(SafeMessage, policy=policy)


def sub_parts(part: Message) -> list[Message] | None:
    """The sub-parts of a multipart or message/* part; None for a leaf.

    Never calls `get_payload()` on a leaf: for 8-bit payloads that decodes with the
    declared charset, which may be a slow or failing codec chosen by the sender.
    """
    if not part.is_multipart():
        return None
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def declared_filename(part: Message) -> str | None:
    """The declared file name (RFC 2231 or 2047 encoded, or 8-bit), or None. Unquoted once
    (`param_text`): "<a.pdf>" stays as it is, where the stock getter would take the angle
    brackets off a second time."""
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = part.get_param(param, None, header, unquote=False)
        if value is not None:
            return recover(param_text(value, []))
    return None


def param_text(value: str | tuple[str | None, str | None, str], defects: list[str]) -> str:
    """A parameter value as text; RFC 2231 charsets go through the safe decoder."""
    if isinstance(value, tuple):
        charset, _, text = value
        return decode_bytes(unquote(text).encode("raw-unicode-escape"), charset, defects)
    return unquote(value)


def unfold(value: object) -> str:
    """A raw header value on one line: 8-bit decoded, folding undone, controls to spaces."""
    return one_line(recover(value).replace("\r", "").replace("\n", ""))


def content_type(part: Message) -> str:
    """The lower-cased type/subtype of `part` ("text/plain" when unreadable)."""
    try:
        return one_line(str(part.get_content_type())).lower()
    except Exception:
        return "text/plain"

"""Parsing a big message without copies of its bodies, or a Python step per body line;
decoding a body slice by slice.

The stock `BytesParser.parsebytes` turns `raw` into one str read through a StringIO
(four bytes a character), keeps every body as a list of lines, joins it and slices the
join again: about eight times a big attachment, and some microseconds for every line.
`parse_bytes` feeds the same slices to the same compat32 feed parser, but each run of
body lines reaches the parser as one short placeholder line that points back into `raw`
(`mailbot.mail.bodyruns` says which lines make a run).

Placeholders only ever appear in the str payload, preamble or epilogue of a part built
by `parse_bytes`. `materialize` puts the real text back in a leaf, `expand` in any
text; `digest` hashes the transfer-decoded body in slices straight from `raw`, with the
result and the defects of `get_payload(decode=True)` (compat32 `decode_b` semantics,
garbage and odd padding included).
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable, Iterator
from email import errors
from email.feedparser import FeedParser
from email.message import Message
from email.policy import compat32
from typing import Any

from mailbot.mail.bodyruns import Bodies, Runs, mentions
from mailbot.mail.decoding import SafeMessage

__all__ = [
    "Bodies",
    "LeanMessage",
    "chunks",
    "decoded",
    "digest",
    "expand",
    "materialize",
    "mentions",
    "parse_bytes",
]

SLICE_BYTES = 1 << 20
MIN_RUN_CHARS = 4096
"""Shorter runs of body lines stay in the payload as they are."""
FEED_BYTES = 8192
"""What `BytesParser.parsebytes` feeds the parser at a time (read from its StringIO)."""
# The parser decodes bytes as ASCII with surrogateescape: U+E000 never occurs in its text.
_PLACEHOLDER = re.compile("\ue000([0-9]+)\ue001")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_ALPHABET + b"=")))
_PAD_RUNS = re.compile(rb"={3,}")
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})


class LeanMessage(SafeMessage):
    """A part built by `parse_bytes`: its payload may hold placeholders into `bodies`."""

    bodies: Bodies | None = None


def parse_bytes(
    raw: bytes,
    *,
    feed_bytes: int = FEED_BYTES,
    min_run: int = MIN_RUN_CHARS,
    max_parts: int | None = None,
    max_lines: int | None = None,
) -> LeanMessage:
    """The tree `safe_parser().parsebytes(raw)` builds, runs of body lines left out
    (those of at least `min_run` characters within one `feed_bytes` slice).

    Past `max_parts` parts or `max_lines` lines handed to the parser, the rest of `raw`
    is not read (`bodies.stopped` says which); the tree is then that of the part before.
    """
    bodies = Bodies(raw)

    def factory(policy: Any = compat32) -> LeanMessage:
        part = LeanMessage(policy)
        part.bodies = bodies
        bodies.parts += 1
        return part

    policy: Any = compat32
    parser = FeedParser(factory, policy=policy)
    buffer: Any = vars(parser)["_input"]  # the parser's line buffer (BufferedSubFile)
    runs = Runs(bodies, min_run, mentions(raw, b"delivery-status"))
    buffer.pushlines = runs.wrap(buffer.pushlines)
    for start in range(0, len(raw), feed_bytes):
        parser.feed(raw[start : start + feed_bytes].decode("ascii", "surrogateescape"))
        bodies.stopped = _over(bodies, max_parts, max_lines)
        if bodies.stopped:
            break
    root: LeanMessage = parser.close()
    return root


def _over(bodies: Bodies, max_parts: int | None, max_lines: int | None) -> str:
    if max_parts is not None and bodies.parts > max_parts:
        return "too_many_parts"
    if max_lines is not None and bodies.lines > max_lines:
        return "too_many_lines"
    return ""


# --- payload bytes -----------------------------------------------------------------


def chunks(part: Message, size: int = SLICE_BYTES) -> Iterator[bytes]:
    """The bytes `get_payload` would transfer-decode, about `size` at a time.

    Raises UnicodeError for a payload character that is no byte (not from the parser).
    """
    payload = part.__dict__.get("_payload")
    if not isinstance(payload, str):
        return
    bodies = part.bodies if isinstance(part, LeanMessage) else None
    done = 0
    if bodies is not None:
        for match in _PLACEHOLDER.finditer(payload):
            yield from _text(payload[done : match.start()], size)
            start, end = bodies.runs[int(match.group(1))]
            for at in range(start, end, size):
                yield bodies.raw[at : min(at + size, end)]
            done = match.end()
    yield from _text(payload[done:], size)


def _text(text: str, size: int) -> Iterator[bytes]:
    """`text` as the bytes it was decoded from, `size` characters at a time."""
    for start in range(0, len(text), size):
        yield text[start : start + size].encode("ascii", "surrogateescape")


def expand(text: str, bodies: Bodies) -> str:
    """`text` (a payload, preamble or epilogue) with the runs back in place of placeholders."""
    return _PLACEHOLDER.sub(lambda m: _run_text(bodies, int(m.group(1))), text)


def _run_text(bodies: Bodies, index: int) -> str:
    start, end = bodies.runs[index]
    return bodies.raw[start:end].decode("ascii", "surrogateescape")


def materialize(part: Message) -> None:
    """Put the real text back in place of the placeholders of a leaf's payload."""
    payload = part.__dict__.get("_payload")
    bodies = part.bodies if isinstance(part, LeanMessage) else None
    if bodies is not None and isinstance(payload, str) and "\ue000" in payload:
        part.set_payload(expand(payload, bodies))


def decoded(part: Message) -> bytes:
    """`get_payload(decode=True)` of a leaf, b"" when that is not bytes."""
    materialize(part)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


# --- digests -----------------------------------------------------------------------


def digest(part: Message, size: int = SLICE_BYTES) -> tuple[int, str]:
    """Length and sha256 hex of `decoded(part)`, without holding the decoded bytes.

    Base64 defects are registered on `part` as `get_payload` does. Anything unusual
    (a non-str payload, uuencode, a character that is no byte) takes the stock path.
    """
    cte = str(part.get("content-transfer-encoding", "")).lower()
    payload = part.__dict__.get("_payload")
    if part.is_multipart() or not isinstance(payload, str) or cte in _UUENCODE:
        return _hash([decoded(part)])
    try:
        if cte == "base64":
            return _base64(part, size)
        if cte == "quoted-printable":
            return _hash(binascii.a2b_qp(c) for c in _whole_lines(chunks(part, size)))
        return _hash(chunks(part, size))
    except UnicodeError:
        return _hash([decoded(part)])


def _hash(pieces: Iterable[bytes]) -> tuple[int, str]:
    """Total length and sha256 hex of `pieces` joined."""
    sha, total = hashlib.sha256(), 0
    for piece in pieces:
        sha.update(piece)
        total += len(piece)
    return total, sha.hexdigest()


def _whole_lines(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """`pieces` joined and cut again just after a LF (a2b_qp never reads past one)."""
    held: list[bytes] = []
    for piece in pieces:
        cut = piece.rfind(b"\n") + 1
        if not cut:
            held.append(piece)
            continue
        yield b"".join([*held, piece[:cut]])
        held = [piece[cut:]]
    yield b"".join(held)


def _base64(part: Message, size: int) -> tuple[int, str]:
    """Size and sha256 of the base64 payload decoded the way compat32 `decode_b` does."""
    decoder = _Base64()
    for piece in chunks(part, size):
        decoder.feed(piece)
        if decoder.stopped:
            break
    defects = decoder.finish()
    if defects is None:  # one letter too many: decode_b hands back the letters as they are
        defects = [errors.InvalidBase64LengthDefect()]
        result = _hash(c.translate(None, b"\r\n") for c in chunks(part, size))
    else:
        result = decoder.size, decoder.sha.hexdigest()
    for defect in defects:
        part.policy.handle_defect(part, defect)
    return result


class _Base64:
    """Non-strict `a2b_base64` over a stream, stopping where it stops (a pad sequence)."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.carry = b""  # base64 letters and "=" after the last whole quantum
        self.stopped = False
        self.garbage = False  # characters other than base64 letters, "=", CR and LF
        self.pad_then_letter = False
        self.letters = 0
        self.pads = 0  # "=" at the end of what came so far

    def feed(self, piece: bytes) -> None:
        """Decode the whole quanta of what came so far; keep the rest for later."""
        encoded = piece.translate(None, b"\r\n")
        clean = encoded.translate(None, _NOT_BASE64)
        self._note_shape(clean, garbage=len(clean) != len(encoded))
        data = self.carry + clean
        if b"===" in data:  # a run of pads acts as two: it ends a quantum or is skipped
            data = _PAD_RUNS.sub(b"==", data)
        cut = _quantum_end(data)
        segment, self.carry = data[:cut], data[cut:]
        out = binascii.a2b_base64(segment)
        self.sha.update(out)
        self.size += len(out)
        # A segment holds whole quanta, so fewer bytes means a pad sequence ended it.
        self.stopped = len(out) < (len(segment) - segment.count(b"=")) // 4 * 3

    def _note_shape(self, clean: bytes, garbage: bool) -> None:
        """Track what decides `decode_b`'s first (strict) attempt."""
        self.garbage |= garbage
        letters = len(clean) - clean.count(b"=")
        body = clean.rstrip(b"=")
        if letters and (self.pads or b"=" in body):
            self.pad_then_letter = True
        self.pads = len(clean) - len(body) if body else self.pads + len(clean)
        self.letters += letters

    def finish(self) -> list[errors.MessageDefect] | None:
        """Decode the last partial quantum; the defects `decode_b` reports, or None when
        the payload does not decode at all (`decode_b` then returns it undecoded)."""
        padded = False
        if not self.stopped:
            try:
                out = binascii.a2b_base64(self.carry)
            except binascii.Error:
                try:
                    out, padded = binascii.a2b_base64(self.carry + b"=="), True
                except binascii.Error:
                    return None
            self.sha.update(out)
            self.size += len(out)
        strict = not (self.stopped or self.garbage or self.pad_then_letter)
        if strict and _strict_padding(self.letters, self.pads):
            short = (self.letters + self.pads) % 4
            return [errors.InvalidBase64PaddingDefect()] if short else []
        if padded:
            return [errors.InvalidBase64CharactersDefect(), errors.InvalidBase64PaddingDefect()]
        return [errors.InvalidBase64CharactersDefect()]


def _strict_padding(letters: int, pads: int) -> bool:
    """Whether `letters` base64 letters then `pads` "=", padded to a multiple of four,
    pass strict `a2b_base64`: pads only close a partial quantum, never lead."""
    if letters % 4 == 0:
        return letters > 0 or pads == 0
    return letters % 4 != 1 and pads <= -letters % 4


def _quantum_end(data: bytes) -> int:
    """Where to cut `data` so that the part before holds whole quanta of four letters.

    `data` holds base64 letters and "=" only, no run of more than two "=".
    """
    extra = (len(data) - data.count(b"=")) % 4
    end = len(data)
    while extra:
        end -= 1
        if data[end] != ord("="):
            extra -= 1
    return end

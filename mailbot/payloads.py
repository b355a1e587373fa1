"""Parsing a big message without copies of its bodies, or a Python step per body line;
decoding a body slice by slice.

The stock `BytesParser.parsebytes` turns `raw` into one str read through a StringIO
(four bytes a character), keeps every body as a list of lines, joins it and slices the
join again: about eight times a big attachment, and some microseconds for every line.
`parse_bytes` feeds the same slices to the same compat32 feed parser, but a run of body
lines reaches the parser as one short placeholder line that points back into `raw` (a
line starting with U+E000, which no header, boundary or blank line does).

A run is safe to replace when the parser reads each of its lines as one more body line,
whatever state it is in: the run never holds a line that may be a boundary (one starting
with "--"), nor, in a message that may have a delivery-status part, an empty line (which
ends a status block there), nor a line without its line ending. It starts where the
parser is surely in a body, or at an "inert" line (not empty, not header-like, no
boundary): there the parser, if still reading headers, ends them and takes the line as
the first body line, exactly as it takes the placeholder. The parser is surely in a
body after an inert line, and after two empty lines in a row (an empty header block can
nest in at most one message/* level: its own type is then text/plain).

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email import errors, feedparser
from email.feedparser import FeedParser
from email.message import Message
from email.policy import compat32
from typing import Any

from mailbot.decoding import SafeMessage

SLICE_BYTES = 1 << 20
MIN_RUN_CHARS = 4096
"""Shorter runs of body lines stay in the payload as they are."""
FEED_BYTES = 8192
"""What `BytesParser.parsebytes` feeds the parser at a time (read from its StringIO)."""
# The parser decodes bytes as ASCII with surrogateescape: U+E000 never occurs in its text.
_PLACEHOLDER = re.compile("\ue000([0-9]+)\ue001")
# With a delivery-status part about, a run of body lines also ends at an empty line: the
# start of a line that begins with "--", or of an empty one. A line starts after "\n" or
# a lone "\r".
_BOUNDARY_OR_EMPTY_LINE = re.compile(r"(?<=[\r\n])--|(?:(?<=\n)|(?<=\r)(?!\n))[\r\n]")
#: The feed parser's own test for a header or continuation line.
_HEADER_LIKE: re.Pattern[str] = vars(feedparser)["headerRE"]
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_ALPHABET + b"=")))
_PAD_RUNS = re.compile(rb"={3,}")
_UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})


@dataclass
class Bodies:
    """The raw message, the (start, end) of each run left out of the parse tree, and
    why the parse stopped early ("" when it did not)."""

    raw: bytes
    runs: list[tuple[int, int]] = field(default_factory=list)
    parts: int = 0
    lines: int = 0
    stopped: str = ""
    head_done: bool = False
    """The top header block has ended (a line that is no header line was read)."""


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
    runs = _Runs(bodies, min_run, mentions(raw, b"delivery-status"))
    buffer.pushlines = runs.wrap(buffer.pushlines)
    for start in range(0, len(raw), feed_bytes):
        parser.feed(raw[start : start + feed_bytes].decode("ascii", "surrogateescape"))
        bodies.stopped = _over(bodies, max_parts, max_lines)
        if bodies.stopped:
            break
    root: LeanMessage = parser.close()
    return root


def mentions(raw: bytes, word: bytes, size: int = 1 << 16) -> bool:
    """Whether lower-case `word` occurs in `raw` in any case (lower-cased a slice at a
    time: a case-blind regex takes three times as long)."""
    for start in range(0, len(raw), size):
        if word in raw[start : start + size + len(word) - 1].lower():
            return True
    return False


def _over(bodies: Bodies, max_parts: int | None, max_lines: int | None) -> str:
    if max_parts is not None and bodies.parts > max_parts:
        return "too_many_parts"
    if max_lines is not None and bodies.lines > max_lines:
        return "too_many_lines"
    return ""


class _Runs:
    """Replaces each long run of body lines pushed to the parser by a placeholder line.

    Lines arrive whole and in order, so the characters counted so far are the offset
    in `raw`. The placeholder keeps the run's last line ending: where the parser drops
    the ending before a boundary, it drops it from the placeholder line instead.
    """

    def __init__(self, bodies: Bodies, min_run: int, delivery_status: bool) -> None:
        self.bodies = bodies
        self.min_run = min_run
        self.empty_ends_body = delivery_status
        self.in_body = False  # the parser surely reads body lines now
        self.empty = 0  # empty lines in a row since the last header-like or boundary line
        self.offset = 0

    def wrap(self, pushlines: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
        def push(lines: list[str]) -> None:
            kept = self.replace(lines)
            self.bodies.lines += len(kept)
            pushlines(kept)

        return push

    def replace(self, lines: list[str]) -> list[str]:
        """`lines` with each long run of body lines replaced by its placeholder."""
        text = "".join(lines)
        kept: list[str] = []
        at = position = 0
        while at < len(lines):
            if not self.bodies.head_done and not _HEADER_LIKE.match(lines[at]):
                self.bodies.head_done = True
            self.in_body = self.in_body or self._starts_body(lines[at])
            count, size = self._run(lines, at, text, position) if self.in_body else (0, 0)
            if count:
                self._keep(lines, at, count, size, kept)
            else:  # a header or boundary line, an empty one, or the unended last line
                if self.in_body:
                    self.in_body, self.empty = False, 0
                count, size = 1, len(lines[at])
                kept.append(lines[at])
                self.offset += size
            at += count
            position += size
        return kept

    def _starts_body(self, line: str) -> bool:
        """Whether the parser surely reads `line` and what follows as body (see above)."""
        if line.startswith("--"):
            self.empty = 0
            return False
        if self.empty >= 2 and not self.empty_ends_body:
            return True
        if line[:1] in ("\r", "\n"):
            self.empty += 1
            return False
        if _HEADER_LIKE.match(line):
            self.empty = 0
            return False
        return True

    def _run(self, lines: list[str], at: int, text: str, position: int) -> tuple[int, int]:
        """Lines and characters of the run starting at line `at`, character `position` of
        `text` (all lines joined); (0, 0) when none starts there."""
        if text.startswith("--", position) or (
            self.empty_ends_body and text[position : position + 1] in ("\r", "\n")
        ):
            return 0, 0
        end = self._next_break(text, position)
        if end == len(text):  # the usual case: the run goes on past this slice
            count = len(lines) - at
            if text[-1:] not in ("\r", "\n"):  # the unended last line (at close) stays out
                count -= 1
                end -= len(lines[-1])
            return count, end - position
        count = text.count("\n", position, end) + text.count("\r", position, end)
        return count - text.count("\r\n", position, end), end - position

    def _next_break(self, text: str, position: int) -> int:
        """Where the next line that ends a run starts (`len(text)` when none does)."""
        if self.empty_ends_body:
            found = _BOUNDARY_OR_EMPTY_LINE.search(text, position)
            return len(text) if found is None else found.start()
        end = text.find("\n--", position)
        end = len(text) if end < 0 else end + 1
        lone = text.find("\r--", position, end)  # after a line ended by a lone CR
        return end if lone < 0 else lone + 1

    def _keep(self, lines: list[str], at: int, count: int, size: int, kept: list[str]) -> None:
        """Lines `at` to `at + count` (`size` characters from `self.offset`) into `kept`,
        as one placeholder when long."""
        if size >= self.min_run:
            last = lines[at + count - 1]
            ending = 2 if last.endswith("\r\n") else 1
            self.bodies.runs.append((self.offset, self.offset + size - ending))
            kept.append(f"\ue000{len(self.bodies.runs) - 1}\ue001{last[-ending:]}")
        else:
            kept.extend(lines[at : at + count])
        self.offset += size


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

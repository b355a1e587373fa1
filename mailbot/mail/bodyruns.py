"""Folding runs of body lines into placeholder lines before the feed parser sees them
(pure; used by `mailbot.mail.bodies.parse_bytes`).

The feed parser spends some microseconds on every line. A run of body lines reaches it
as one short placeholder line that points back into the raw message (a line starting
with U+E000, which no header, boundary or blank line does; the parser decodes bytes as
ASCII with surrogateescape, so U+E000 never occurs in its text).

A run is safe to replace when the parser reads each of its lines as one more body line,
whatever state it is in: the run never holds a line that may be a boundary (one starting
with "--"), nor, in a message that may have a delivery-status part, an empty line (which
ends a status block there), nor a line without its line ending. It starts where the
parser is surely in a body, or at an "inert" line (not empty, not header-like, no
boundary): there the parser, if still reading headers, ends them and takes the line as
the first body line, exactly as it takes the placeholder. The parser is surely in a
body after an inert line, and after two empty lines in a row (an empty header block can
nest in at most one message/* level: its own type is then text/plain).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import feedparser

# With a delivery-status part about, a run of body lines also ends at an empty line: the
# start of a line that begins with "--", or of an empty one. A line starts after "\n" or
# a lone "\r".
_BOUNDARY_OR_EMPTY_LINE = re.compile(r"(?<=[\r\n])--|(?:(?<=\n)|(?<=\r)(?!\n))[\r\n]")
#: The feed parser's own test for a header or continuation line.
_HEADER_LIKE: re.Pattern[str] = vars(feedparser)["headerRE"]


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


def mentions(raw: bytes, word: bytes, size: int = 1 << 16) -> bool:
    """Whether lower-case `word` occurs in `raw` in any case (lower-cased a slice at a
    time: a case-blind regex takes three times as long)."""
    for start in range(0, len(raw), size):
        if word in raw[start : start + size + len(word) - 1].lower():
            return True
    return False


class Runs:
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

"""Reply splitting (pure): what a staff member wrote above the quoted history.

The work is done by mail-parser-reply (`mailparser_reply.EmailMessage`, languages nl and
en, hyphen lists kept as text). It finds Outlook header blocks ("Van:/Verzonden:/Aan:/
Onderwerp:", "From:/Sent:/To:/Subject:", also html2text's "**Van:**"), "On … wrote:",
"-----Original Message-----", and signatures that start with "-- ", "Met vriendelijke
groet", "Kind regards", "Best regards", "Sent from my …", "Verzonden vanaf mijn …".

It misses some layouts; these extra rules fill the gaps (each has a test):

1. The quoted history also starts at the first line that is quoted with ">"; at a Dutch
   attribution line, Gmail's "Op ma 21 dec 2026 om 10:00 schreef X <…>:" or Apple Mail's
   "Op 21 dec. 2026, om 10:00 heeft X <…> het volgende geschreven:" (also wrapped over up
   to three lines); at "-----Oorspronkelijk bericht-----" (and the Original Message /
   forwarded-message markers); at a line of 32 or more "_" or "-" (Outlook's separator).
   The library only sees the text above the earliest of these.
2. When the library finds a header on the very first line (nothing written above it), its
   "latest reply" is the quoted mail itself: we return no text instead.
3. A closing alone on a line ("Groeten,", "Vriendelijke groet", "Mvg", "Kind regards,",
   "Best,", "--", …) starts the signature, also on the first line (the library skips the
   first line), and so does "Verstuurd vanaf mijn …" (Apple's Dutch phone signature).
   "Thanks"/"Bedankt" are not closings here: on top of a reply they open it.

`split_reply` never raises: if the library fails or the text above the history is over
`MAX_LIBRARY_CHARS` (the library takes ~10 µs a line), the text is what rule 1 leaves,
with the reason in `fallback_reason`. Lines keep their own indentation; trailing blanks go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailparser_reply import EmailMessage  # type: ignore[import-untyped]

#: Text above the quoted history longer than this is not given to the library.
MAX_LIBRARY_CHARS = 100_000
#: An attribution line may be wrapped over this many lines.
ATTRIBUTION_LINES = 3

_SEPARATOR = re.compile(
    r"[_-]{32,}|-{3,}\s*(?:oorspronkelijk bericht|original message|doorgestuurd bericht"
    r"|forwarded message)\s*-{3,}",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"(?:(?:(?:met\s+)?(?:vriendelijke|hartelijke|beste|hele)\s+)?groet(?:en|jes)?|mvg|m\.v\.g"
    r"|(?:(?:kind|best|warm|warmest)\s+)?regards|best|cheers|--)[\s,.!]*"
    r"|verstuurd\s+vanaf\s+mijn\s.*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReplyParts:
    """A staff reply cut in three: own text, signature, quoted history."""

    text: str
    """What the staff member wrote, without quoted history and signature."""
    signature: str
    quoted: str
    fallback_reason: str = ""
    """Empty when the library split the text; else why only the extra rules were used."""


def _normalize(body: str) -> list[str]:
    return body.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _dutch_attribution(joined: str) -> bool:
    """ "Op <date> schreef <name>:" (Gmail) or "Op <date> heeft <name> het volgende geschreven:"."""
    low = joined.lower()
    if not (low.startswith("op ") and low.endswith(":") and any(c.isdigit() for c in low)):
        return False
    if " schreef " in low or low.endswith(" schreef:"):
        return True
    return " heeft " in low and low.endswith(" het volgende geschreven:")


def _is_attribution(lines: list[str], index: int) -> bool:
    if lines[index].lstrip()[:3].lower() != "op ":
        return False
    for size in range(1, ATTRIBUTION_LINES + 1):
        joined = " ".join(" ".join(line.split()) for line in lines[index : index + size])
        if len(joined) <= 700 and _dutch_attribution(joined):
            return True
    return False


def history_start(lines: list[str]) -> int:
    """Index of the first line of quoted history by the extra rules (len(lines) if none)."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">") or _SEPARATOR.fullmatch(stripped):
            return index
        if _is_attribution(lines, index):
            return index
    return len(lines)


def _cut_closing(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split at the first closing line: (text lines, signature lines)."""
    for index, line in enumerate(lines):
        if _CLOSING.fullmatch(line.strip()):
            return lines[:index], lines[index:]
    return lines, []


def _restore_indentation(body: str, head: list[str]) -> str:
    """The library strips every line; take each kept line back from the original."""
    out: list[str] = []
    position = 0
    for line in body.split("\n"):
        wanted = line.strip()
        if not wanted:
            out.append("")
            continue
        while position < len(head) and head[position].strip() != wanted:
            position += 1
        if position == len(head):
            return body
        out.append(head[position])
        position += 1
    return "\n".join(out)


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n").rstrip()


def _with_library(head: list[str]) -> tuple[str, str, str]:
    """(text, signature, quoted) of the text above the history, by mail-parser-reply."""
    message = EmailMessage(text="\n".join(head), languages=["nl", "en"], keep_hyphen_lists=True)
    replies = message.read().replies
    first = replies[0]
    if str(first.headers):
        return "", "", "\n\n".join(str(r.content) for r in replies)
    quoted = "\n\n".join(str(r.content) for r in replies[1:])
    signature = "\n".join([*map(str, first.disclaimers), str(first.signatures)]).strip()
    return _restore_indentation(str(first.body), head), signature, quoted


def _assemble(text: str, signature: str, quoted: list[str], reason: str = "") -> ReplyParts:
    own, closing = _cut_closing(text.split("\n"))
    signature_text = _join([*closing, *signature.split("\n")])
    quoted_text = "\n\n".join(part for part in (_join(q.split("\n")) for q in quoted) if part)
    return ReplyParts(_join(own), signature_text, quoted_text, reason)


def split_reply(body: str) -> ReplyParts:
    """What the staff member wrote in `body`, their signature and the quoted history."""
    lines = _normalize(body)
    cut = history_start(lines)
    head, tail = lines[:cut], "\n".join(lines[cut:])
    if sum(len(line) + 1 for line in head) > MAX_LIBRARY_CHARS:
        reason = f"text above the quoted history is over {MAX_LIBRARY_CHARS} characters"
        return _assemble("\n".join(head), "", [tail], reason)
    try:
        text, signature, quoted = _with_library(head)
    except Exception as exc:  # a third-party parser must not stop the daemon
        reason = f"mail-parser-reply failed: {type(exc).__name__}: {exc}"
        return _assemble("\n".join(head), "", [tail], reason)
    return _assemble(text, signature, [quoted, tail])

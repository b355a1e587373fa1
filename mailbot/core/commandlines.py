"""Reading staff command lines (pure): what a line says once mail-client noise is gone.

Mail clients put characters nobody sees into what staff type: a byte-order mark at the
start of the body, zero-width spaces and joiners, bidi controls, soft hyphens, a
no-break space after a colon. `visible` removes every *invisible* character (Unicode
category Cf and the Default_Ignorable_Code_Point set, e.g. U+FEFF, U+200B..U+200F,
U+202A..U+202E, U+2060..U+206F, U+00AD, U+034F, U+3164, variation selectors, tag
characters) and turns every other Unicode space into " ", before a line is read as a
command (`split_commands`).

`internal_lines` finds what must never reach a reporter by mistake: a line *shaped* like
an ``Internal:`` command anywhere in a text, however it was decorated on the way: after
`visible`, NFKC (full-width letters and colons), colon look-alikes, any case, any
leading white space, quote marks, bullets or markdown emphasis (``**Internal:** yes``,
as html2text writes a bold word), white space or emphasis before the colon.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from mailbot.core.wording import Phrase
from mailbot.mail.pgp_outgoing import KEY_BEGIN, KEY_END

KEYS = (
    *("status", "assign", "severity", "reward", "reporter", "key"),
    *("close", "reply", "internal", "waiting", "note", "help"),
)


@dataclass(frozen=True)
class Command:
    """One recognised command line."""

    key: str
    value: str
    line: str


@dataclass(frozen=True)
class CommandError:
    """Why one command line was refused; `reason` names the bad value (shown after the line).

    `reason` is a `wording.Phrase` where mailbot wrote it: English as text (events), said
    in the staff language in the result mail."""

    line: str
    reason: str


#: Words that start a quoted mail header, not a command.
HEADER_WORDS = frozenset(
    {
        *("from", "sent", "to", "cc", "bcc", "subject", "date", "reply-to", "organization"),
        *("van", "verzonden", "aan", "onderwerp", "datum", "beantwoorden-aan", "bijlagen"),
        *("importance", "urgentie", "re", "fw", "fwd", "aw", "wg", "antw", "tr"),
    }
)

#: ``Key: value``: one word of letters and hyphens, a colon not followed by "//" (a URL).
KEY_LINE = re.compile(r"([A-Za-z][A-Za-z-]{0,30})[ \t]*:(?!//)[ \t]*(.*)")
#: ``Help`` alone, optionally followed by one of ".!?:".
HELP_LINE = re.compile(r"help[ \t]*[.!?:]?", re.IGNORECASE)

#: Category Cf (Unicode 14) and Default_Ignorable_Code_Point; a test checks it against
#: the running Python's Unicode database.
INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u115f-\u1160"
    "\u17b4-\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f"
    "\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
#: Unicode spaces other than " " (category Zs) and the line-breaking tab's cousins.
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
#: Colon look-alikes that NFKC leaves alone.
_COLONS = str.maketrans(dict.fromkeys("\ua789\u2236\u02d0\u02f8\u0589\u05c3\u16ec\u205a", ":"))
_INTERNAL = re.compile(r"[\W_\d]*internal[\W_]*?:")


def visible(line: str) -> str:
    """`line` without invisible characters, every Unicode space a plain space."""
    return _SPACES.sub(" ", INVISIBLE.sub("", line))


def is_command_line(line: str) -> bool:
    """True for a (visible, stripped) line that belongs to the command block."""
    if HELP_LINE.fullmatch(line):
        return True
    match = KEY_LINE.fullmatch(line)
    return match is not None and match.group(1).lower() not in HEADER_WORDS


def split_commands(body: str) -> tuple[list[str], str]:
    """The command lines on top of `body` (visible, stripped) and the text after them.

    Leading blank lines and blank lines between commands are skipped (HTML mail puts
    each line in its own paragraph); the first other line starts the text, which keeps
    its lines exactly as written. A `Key:` line followed by a public key block is one
    command "Key: <the block>" up to its END line (see `key_block`).
    """
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    commands: list[str] = []
    index = 0
    while index < len(lines):
        line = visible(lines[index]).strip()
        if line and not is_command_line(line):
            break
        block = key_block(lines, index) if line else None
        if block is not None:
            commands.append(f"Key: {block[0]}")
            index = block[1]
            continue
        if line:
            commands.append(line)
        index += 1
    return commands, "\n".join(lines[index:])


MAX_KEY_LINES = 50_000
"""A key block may run over this many lines (a 1 MB key, each line its own paragraph)."""
KEY_BLOCK_LINE = f"Key: {KEY_BEGIN} … {KEY_END}"
"""How a key block command is shown in refusals and events (never the block itself)."""
_ARMOUR_HEADER = re.compile(r"[A-Za-z-]+:.*")


def key_block(lines: list[str], index: int) -> tuple[str, int] | None:
    """When `lines[index]` is `Key:` (alone, or with the BEGIN line) and a public key block
    follows up to its END line: the block, rebuilt as clean armour, and the index after
    the END line. Else None.

    Mail programs add blank lines, white space and backslashes (html2text escapes a leading
    "-" or "+"); armour has none of them, so they are dropped, and so are armour header
    lines ("Comment: …"), which carry no key material.
    """
    match = KEY_LINE.fullmatch(visible(lines[index]).strip())
    if match is None or match.group(1).lower() != "key":
        return None
    first = match.group(2).replace("\\", "").strip()
    if first not in ("", KEY_BEGIN):
        return None
    body: list[str] = []
    begun = bool(first)
    for end in range(index + 1, min(len(lines), index + MAX_KEY_LINES)):
        line = "".join(visible(lines[end]).replace("\\", "").split())
        if not begun:
            if line and line != KEY_BEGIN.replace(" ", ""):
                return None
            begun = bool(line)
        elif line == KEY_END.replace(" ", ""):
            return "\n".join([KEY_BEGIN, "", *body, KEY_END, ""]), end + 1
        elif line and not _ARMOUR_HEADER.fullmatch(line):
            body.append(line)
    return None


def internal_lines(text: str) -> list[str]:
    """The lines of `text` shaped like an ``Internal:`` command (visible, stripped)."""
    found: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        shown = visible(line).strip()
        shape = unicodedata.normalize("NFKC", shown).translate(_COLONS).casefold()
        if _INTERNAL.match(shape):
            found.append(shown)
    return found


def parse_line(line: str) -> Command | CommandError:
    """One line of the command block as a Command, or why it is none (unknown key)."""
    if HELP_LINE.fullmatch(line):
        return Command("help", "", line)
    if line.startswith(f"Key: {KEY_BEGIN}\n"):  # a key block from `split_commands`
        return Command("key", line.removeprefix("Key: "), KEY_BLOCK_LINE)
    match = KEY_LINE.fullmatch(line)
    if match is None:  # pragma: no cover - split_commands only passes command lines
        return CommandError(line, Phrase("cmd.unreadable", line=repr(line)))
    key, value = match.group(1), match.group(2).strip()
    if key.lower() in KEYS:
        return Command(key.lower(), value, line)
    close = difflib.get_close_matches(key.lower(), KEYS, n=1, cutoff=0.6)
    known = ", ".join(k.capitalize() for k in KEYS)
    if close:
        hint = close[0].capitalize()
        return CommandError(
            line, Phrase("cmd.unknown_hint", key=repr(key), close=hint, known=known)
        )
    return CommandError(line, Phrase("cmd.unknown", key=repr(key), known=known))


def dedupe(commands: list[Command]) -> tuple[list[Command], list[CommandError]]:
    """Drop exact repeats; a key given twice with different values is an error."""
    seen: dict[str, Command] = {}
    kept: list[Command] = []
    errors: list[CommandError] = []
    for cmd in commands:
        if cmd.key == "note":
            kept.append(cmd)
            continue
        first = seen.setdefault(cmd.key, cmd)
        if first is cmd:
            kept.append(cmd)
        elif " ".join(first.value.lower().split()) != " ".join(cmd.value.lower().split()):
            why = Phrase("cmd.twice", key=cmd.key.capitalize(), first=repr(first.line))
            errors.append(CommandError(cmd.line, why))
    return kept, errors


STRAY_INTERNAL = Phrase("cmd.stray_internal")


def stray_internal(text: str) -> list[CommandError]:
    """An error for each line of `text` (below the command block) shaped like `Internal:`."""
    return [CommandError(line[:200], STRAY_INTERNAL) for line in internal_lines(text)]

"""Completeness (pure): what the policy asks of a report that the report lacks (issue 18).

The policy asks for "the IP address or URL of the affected system and a description of the
vulnerability" and "at least an email address or telephone number". A report lacks:

- "system": no URL, host name or IP address was found (`Case.affected` is empty);
- "description": fewer than MIN_DESCRIPTION_WORDS words of the reporter's own, counted
  after leaving out URLs, addresses, host names, greeting and closing lines and the
  signature (`own_words`);
- "contact": neither an email address nor a phone number of the reporter (a relayed
  report whose reporter left none).

A follow-up from the reporter can supply what was missing (`still_missing`): there quoted
text and everything below a reply header ("On ... wrote:", "-----Original Message-----")
is not the reporter's, as it is mostly our own acknowledgement.
"""

from __future__ import annotations

import re

from mailbot.mail.contacts import extract_contacts

#: In the order the acknowledgement and the staff notice name them.
MISSING_ORDER = ("system", "description", "contact")
#: A description has at least this many words of the reporter's own: below it is "almost no
#: text" ("Lek op <URL>", "lek gevonden, groet Jan", "Your site is vulnerable": 2 to 5
#: words). Set low on purpose: asking a genuine reporter again for a description they gave
#: costs more than a short one let through, and "Op <URL> staat een lek in het
#: inlogscherm" (7 words: what and where) is one.
MIN_DESCRIPTION_WORDS = 6
#: Only this much of a text is looked at (a description is found long before).
MAX_CHARS = 64 * 1024

_GREETING = re.compile(
    r"(?:beste|geachte|hallo|hoi|goedemorgen|goedemiddag|dag|dear|hi|hello|hey|"
    r"good (?:morning|afternoon)|to whom it may concern)\b",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"(?:met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|mvg|groet(?:en|jes)?|"
    r"hartelijke groet(?:en)?|kind regards|best regards|regards|best|cheers|thanks|thank you|"
    r"sincerely|yours sincerely|bedankt|alvast bedankt|dank u|dank je|"
    r"(?:sent|verzonden) (?:from|vanaf|met) my \w+|verzonden vanaf mijn \w+)\b",
    re.IGNORECASE,
)
#: Lines at or below which a follow-up quotes the mail it answers.
_REPLY_HEADER = re.compile(
    r"^(?:on .{1,200} wrote:|op .{1,200} (?:schreef|heeft .{1,100} geschreven)\s?.{0,100}:"
    r"|-{2,}\s*(?:original message|oorspronkelijk bericht|forwarded message|doorgestuurd "
    r"bericht)\s*-{2,}|(?:from|van):\s.{1,200}$)",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+")
_NOT_WORDS = re.compile(r"[/@=:]|\w\.\w")
#: A greeting or closing line has at most this many words (else it is a sentence).
_SHORT_LINE = 6


def _own_lines(text: str, *, reply: bool) -> list[str]:
    """The reporter's lines of `text`: without the signature (below "-- ") and, in a reply
    (`reply`), without quoted lines and what follows a reply header."""
    lines: list[str] = []
    for line in text[:MAX_CHARS].splitlines():
        stripped = line.strip()
        if line.rstrip(" ") == "--" or (reply and _REPLY_HEADER.match(stripped)):
            break
        if stripped.startswith(">"):
            if reply:
                continue
            stripped = stripped.lstrip("> ")
        lines.append(stripped)
    return lines


def own_words(text: str, *, reply: bool = False) -> list[str]:
    """The words of the reporter's own in `text`: no URLs, email addresses, host names,
    numbers, greeting or closing lines, signature (nor, in a `reply`, quoted text)."""
    words: list[str] = []
    for line in _own_lines(text, reply=reply):
        tokens = line.split()
        formula = _GREETING.match(line) or _CLOSING.match(line)
        if not tokens or (formula and len(tokens) <= _SHORT_LINE):
            continue
        for token in tokens:
            if _NOT_WORDS.search(token):
                continue
            words.extend(_WORD.findall(token))
    return words


def has_description(text: str, *, reply: bool = False) -> bool:
    """True when `text` has a description of the reporter's own (MIN_DESCRIPTION_WORDS)."""
    return len(own_words(text, reply=reply)) >= MIN_DESCRIPTION_WORDS


def find_missing(
    text: str, affected: tuple[str, ...], email: str | None, phone: str | None
) -> tuple[str, ...]:
    """What a new report lacks: its `text`, the systems found in it (`affected`) and the
    reporter's `email` and `phone` as found (`cases.find_reporter`)."""
    lacking = {
        "system": not affected,
        "description": not has_description(text),
        "contact": email is None and phone is None,
    }
    return tuple(m for m in MISSING_ORDER if lacking[m])


def systems_in_reply(text: str) -> tuple[str, ...]:
    """URLs, IP addresses and host names in the reporter's own lines of a follow-up."""
    own = "\n".join(_own_lines(text, reply=True))
    found = extract_contacts("", own)
    seen: dict[str, None] = {}
    for item in (*found.urls, *found.ips, *found.hostnames):
        seen.setdefault(item, None)
    return tuple(seen)


def still_missing(
    missing: tuple[str, ...], text: str, has_contact: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(what is still missing, the systems the follow-up names) after a follow-up `text`
    from the reporter; `has_contact`: the case has an address or phone number by now."""
    systems = systems_in_reply(text) if "system" in missing else ()
    supplied = {
        "system": bool(systems),
        "description": "description" in missing and has_description(text, reply=True),
        "contact": has_contact,
    }
    return tuple(m for m in missing if not supplied.get(m, False)), systems

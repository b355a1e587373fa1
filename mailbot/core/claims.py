"""Claims (pure): reports that demand payment or threaten publication (issue 18, item 4).

`claim_flags` sets "reward_demand" (payment or a reward asked for, before details or as a
condition) and "threat" (publication threatened: with a condition, a deadline or an
announced intention). Staff read these first in the staff notice; the acknowledgement
never changes because of them (it promises only the policy's "passende attentie").

Precision over recall: each pattern is a phrase, not a word. "betaal" or "publish" alone
is a payment page or a page that publishes data; a match with a negation just before or
inside it ("ik wil geen beloning", "I will not publish") does not count, nor does a
publication once the problem is fixed or with permission (coordinated disclosure).
"""

from __future__ import annotations

import re

#: Only this much of subject and text is looked at.
MAX_CHARS = 64 * 1024
REWARD_DEMAND, THREAT = "reward_demand", "threat"
CLAIM_FLAGS = frozenset({REWARD_DEMAND, THREAT})
"""The flags `claim_flags` sets (the monthly report counts cases with either)."""

_MONEY = (
    r"(?:bounty|bounties|reward|rewards|payment|compensation|fee|money|beloning|beloningen"
    r"|vergoeding|betaling|geld)"
)
_AMOUNT = r"(?:[$€£]\s?\d[\d.,]*|\b\d[\d.,]*\s?(?:euro|eur|usd|dollars?|btc|bitcoin)\b)"
_SHARE = (
    r"(?:share|send|disclose|reveal|give|provide|explain|deel|delen|stuur|sturen|geef|geven"
    r"|vertel|vertellen|details|gegevens|informatie|bevindingen)"
)
_SENTENCE = r"[^.!?\n]"

_REWARD = [
    # "beloning vooraf", "payment upfront", "bounty first", "vooraf betalen"
    rf"\b{_MONEY}\s+(?:\w+\s+){{0,2}}?(?:vooraf|in advance|upfront|up front|first)\b",
    r"\b(?:vooraf|in advance|upfront|up front)\s+(?:\w+\s+){0,2}?"
    rf"(?:betalen|betaald|pay|paid|{_MONEY})\b",
    # "pay me first, then I'll share", "eerst betalen, dan krijgt u de details"
    rf"\b(?:pay|betaal|betalen|{_MONEY})\b{_SENTENCE}{{0,50}}\b(?:then|dan|before|voordat)\s+"
    rf"(?:i|we|ik|wij|krijgt u|ontvangt u|you get|you receive)\b{_SENTENCE}{{0,30}}\b{_SHARE}",
    # "before I share the details, I want to know what you pay"
    rf"\b(?:before|voordat|alvorens|prior to)\s+(?:i|we|ik|wij)\b{_SENTENCE}{{0,60}}\b{_SHARE}"
    rf"\b{_SENTENCE}{{0,80}}\b(?:pay|paid|betaal\w*|{_MONEY})\b",
    # "I expect a reward", "wij eisen een vergoeding" (not "ik verwacht dat de betaling ...")
    r"\b(?:i|we|ik|wij)\s+(?:want|expect|demand|require|request|would like|wil|willen|"
    r"verwacht|verwachten|eis|eisen|vraag|vragen)\s+(?:(?!that\b|dat\b)\w+\s+){0,3}?"
    rf"{_MONEY}\b",
    # "what bounty do you pay", "welke beloning krijg ik", "hoeveel is de vergoeding"
    rf"\b(?:what|which|how much|welke|hoeveel)\b{_SENTENCE}{{0,30}}\b"
    r"(?:bounty|reward|payout|beloning|vergoeding)\b",
    r"\b(?:do|does|will|would)\s+you\s+(?:\w+\s+){0,2}?(?:offer|pay|have|give)\s+"
    r"(?:a\s+|any\s+)?(?:bug\s+)?(?:bounty|bounties|reward|rewards)\b",
    r"\b(?:heeft|hebben|biedt|bieden|geeft|geven)\s+(?:u|jullie)\s+(?:\w+\s+){0,2}?"
    r"(?:bug\s?bounty|bounty|beloning|beloningen|vergoeding)\b",
    # "in ruil voor een beloning", "tegen betaling", "in exchange for $500"
    rf"\b(?:in exchange for|in return for|in ruil voor)\s+(?:\w+\s+){{0,2}}?(?:{_MONEY}|pay)",
    r"\btegen\s+(?:een\s+)?(?:betaling|beloning|vergoeding)\b",
    rf"\b(?:in exchange for|in return for|in ruil voor)\s+{_AMOUNT}",
    # "betaal mij", "pay us", "send 0.5 BTC", "maak 500 euro over"
    r"\b(?:pay me|pay us|betaal (?:mij|me|ons))\b",
    rf"\b(?:pay|send|transfer|betaal|betalen|stuur|maak)\b{_SENTENCE}{{0,20}}?{_AMOUNT}",
]

_PUBLISH = (
    r"(?:publish|publishing|publiceren|publiceer|full disclosure|go public|going public"
    r"|make (?:\w+ ){0,2}public|public(?:ly)? disclos\w*|disclos\w* (?:\w+ ){0,2}publicly"
    r"|(?:the )?(?:press|media|journalists?)|twitter|reddit|social media|sell (?:it|this|them)"
    r"|openbaar (?:maken|maak|gemaakt)|maak (?:\w+ ){0,3}openbaar|bekend ?maken"
    r"|(?:de )?(?:pers|journalisten)|sociale media|online (?:zetten|plaatsen|gooien)"
    r"|zet (?:\w+ ){0,3}online|verkopen|verkoop)"
)
_CUE = (
    r"\b(?:if|unless|otherwise|or else|after that|als|tenzij|anders|zo niet|indien|daarna|dan)\b"
    r"|\b(?:within|binnen)\s+(?:\d+|a|an|one|two|three|een|één|twee|drie)\s*"
    r"(?:hours?|hrs?|h|days?|weeks?|uur|uren|dagen|weken)\b"
    r"|\b(?:i|we)(?:'ll|\s+will|\s+shall|\s+am going to|\s+are going to|\s+intend to"
    r"|\s+plan to)\b|\b(?:i|we)\s+(?:publish|sell)\b"
    r"|\b(?:ik|wij|we)\s+(?:zal|zullen|ga|gaan)\b|\b(?:zal|ga|zullen|gaan)\s+(?:ik|wij|we)\b"
)
#: A publication once fixed or with consent is coordinated disclosure, not a threat.
_AGREED = re.compile(
    r"\b(?:fixed|resolved|patched|remediated|permission|consent|coordinated|opgelost"
    r"|verholpen|gedicht|toestemming|in overleg|gecoördineerd)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|won't|don't|geen|niet|niets|nooit|zonder)\b|n't\b",
    re.IGNORECASE,
)
#: How many words before a match (same clause) a negation still counts ("I have no
#: intention of publishing"; not "als ik niets hoor, maak ik het openbaar").
_NEGATION_BEFORE = 3

_REWARD_RE = [re.compile(p, re.IGNORECASE) for p in _REWARD]
_PUBLISH_RE = re.compile(rf"\b{_PUBLISH}\b", re.IGNORECASE)
_CUE_RE = re.compile(_CUE, re.IGNORECASE)
_SENTENCES = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


def _negated(text: str, match: re.Match[str]) -> bool:
    """True when a negation is inside `match` or in the _NEGATION_BEFORE words before it
    (same clause)."""
    clause = re.split(r"[.!?\n,;:]", text[max(0, match.start() - 200) : match.start()])[-1]
    before = " ".join(clause.split()[-_NEGATION_BEFORE:])
    return bool(_NEGATION.search(before) or _NEGATION.search(match.group(0)))


def demands_reward(text: str) -> bool:
    """True when `text` asks for payment or a reward (see `_REWARD`), not negated."""
    return any(not _negated(text, m) for pattern in _REWARD_RE for m in pattern.finditer(text))


def threatens(text: str) -> bool:
    """True when a sentence of `text` names publication (`_PUBLISH`), not negated, with a
    condition, a deadline or an announced intention (`_CUE`), and not once fixed."""
    for sentence in _SENTENCES.finditer(text):
        words = sentence.group(0)
        if _AGREED.search(words) or not _CUE_RE.search(words):
            continue
        if any(not _negated(words, m) for m in _PUBLISH_RE.finditer(words)):
            return True
    return False


def claim_flags(subject: str, text: str) -> tuple[str, ...]:
    """The flags of a report: "reward_demand" and/or "threat" (in that order)."""
    paragraphs = re.split(r"\n\s*\n", f"{subject}\n\n{text[:MAX_CHARS]}")
    whole = "\n".join(" ".join(p.split()) for p in paragraphs)  # wrapped lines joined
    flags = (REWARD_DEMAND,) if demands_reward(whole) else ()
    return flags + ((THREAT,) if threatens(whole) else ())

"""Phrases of triage (issue 18; pure data), registered in `phrases.PHRASES`: the flags of
reward demands and threats, and what a report lacks per the policy (`completeness`)."""

from __future__ import annotations

from collections.abc import Mapping

_T = Mapping[str, str]

TRIAGE_PHRASES: dict[str, _T] = {
    "flag.reward_demand": {"nl": "eist betaling of beloning", "en": "demands payment or reward"},
    "flag.threat": {"nl": "dreigt met openbaarmaking", "en": "threatens publication"},
    "missing.system": {
        "nl": "getroffen systeem (URL, hostnaam of IP-adres)",
        "en": "affected system (URL, host name or IP address)",
    },
    "missing.description": {
        "nl": "omschrijving van de kwetsbaarheid",
        "en": "description of the vulnerability",
    },
    "missing.contact": {
        "nl": "contactgegevens (e-mailadres of telefoonnummer)",
        "en": "contact details (email address or phone number)",
    },
}
"""Triage phrases by key, then language ("nl", "en")."""

"""Phrases of known findings (pure data), registered in `phrases.PHRASES`: the `Reply:`
command (`[triage] known_findings`), its refusals and its line in the result mail.

`Reply:`, `Internal: yes`, `Reporter:` and the names of the findings are the same in both
languages: staff type them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

_T = Mapping[str, str]

KNOWN_PHRASES: dict[str, _T] = {
    "cmd.reply_unknown": {
        "nl": "{value} is geen bekende bevinding (bekend: {known})",
        "en": "{value} is not a known finding (known: {known})",
    },
    "cmd.reply_internal": {
        "nl": "een standaardantwoord naar de melder sturen en tegelijk Internal: yes (niets "
        "naar de melder) gaat niet samen: kies één",
        "en": "`Reply:` sends an answer to the reporter and `Internal: yes` sends nothing: use one",
    },
    "cmd.reply_no_reporter": {
        "nl": "de zaak heeft geen adres van de melder; zet het eerst met Reporter: <adres> "
        "(in dezelfde mail mag)",
        "en": "the case has no reporter address; set one with Reporter: <address> first "
        "(in the same mail is fine)",
    },
    "field.known_finding": {"nl": "bekende bevinding", "en": "known_finding"},
    "known.sent": {
        "nl": "het standaardantwoord bij bekende bevinding {name} is naar de melder gestuurd{text}",
        "en": "the reply of known finding {name} was sent to the reporter{text}",
    },
    "known.with_text": {"nl": ", met uw tekst eronder", "en": ", with your text below it"},
}
"""Phrases of known findings by key, then language ("nl", "en")."""

"""Titles (pure): every Dutch and English title an outgoing mail puts in its text."""

from __future__ import annotations

from collections.abc import Mapping

from mailbot.core.models import ClockName

ALERT_TITLES: Mapping[str, Mapping[str, str]] = {
    "quarantined": {"nl": "Bericht in quarantaine", "en": "Message quarantined"},
    "collision": {"nl": "Message-ID eerder gebruikt", "en": "Message-ID used before"},
    "flood": {"nl": "Veel meldingen van één adres", "en": "Many reports from one address"},
    "bounce": {"nl": "Bezorging mislukt (bounce)", "en": "Delivery failed (bounce)"},
    "delivery_failed": {"nl": "Bezorging mislukt", "en": "Delivery failed"},
}
"""Staff alert titles by alert, then language."""

CLOCK_TITLES: Mapping[str, Mapping[str, str]] = {
    "nl": {
        ClockName.ACK_DUE: "ontvangstbevestiging",
        ClockName.RESPONSE_DUE: "inhoudelijke reactie",
        ClockName.UPDATE_DUE: "voortgangsbericht",
        ClockName.RESOLVE_DUE: "oplossing",
    },
    "en": {
        ClockName.ACK_DUE: "acknowledgement",
        ClockName.RESPONSE_DUE: "substantive response",
        ClockName.UPDATE_DUE: "progress update",
        ClockName.RESOLVE_DUE: "resolution",
    },
}
"""What each clock is for, by language, then clock name (reminders, digests)."""

DIGEST_TITLES: Mapping[str, tuple[str, ...]] = {
    "nl": ("Verlopen", "Vandaag", "Volgende werkdag", "Later", "Gepauzeerd (wacht op melder)"),
    "en": ("Overdue", "Due today", "Due next working day", "Later", "Paused (waiting)"),
}
"""The digest's sections by language: overdue, today, next working day, later, paused."""


def alert_title(alert: str, language: str) -> str:
    """The title of staff alert `alert` in `language` (English when there is none)."""
    title = ALERT_TITLES[alert]
    return title.get(language, title["en"])

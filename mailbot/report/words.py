"""The words of the monthly report in Dutch and English (pure): labels, plain names for
codes (dispositions, states, promises, severities, rewards), and numbers, shares,
durations and dates written by Babel (CLDR) for the language.

`Words(language)` is the only way text and HTML get their words: `w["key"]` is a label,
the methods write a value. An unknown code is shown as it is.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit

from mailbot.report.rows import Month

LANGUAGES = ("nl", "en")
_LOCALES = {"nl": "nl_NL", "en": "en_GB"}

#: key: (English, Dutch).
LABELS: dict[str, tuple[str, str]] = {
    "overline": ("Responsible disclosure desk", "Meldpunt kwetsbaarheden"),
    "title": ("Monthly report {month}", "Maandrapportage {month}"),
    "period": (
        "Reports received from {first} to {last} ({tz}).",
        "Meldingen ontvangen van {first} tot en met {last} ({tz}).",
    ),
    "judged": ("Deadlines judged at {moment}.", "Termijnen beoordeeld op {moment}."),
    "running": ("The month is not over yet.", "De maand is nog niet voorbij."),
    "made": ("Made on {moment}.", "Gemaakt op {moment}."),
    # headline figures
    "t_received": ("Reports received", "Meldingen ontvangen"),
    "t_kept": ("Promises kept", "Toezeggingen nagekomen"),
    "t_response": ("Median to substantive response", "Mediaan tot inhoudelijke reactie"),
    "t_closed": ("Cases closed", "Zaken afgesloten"),
    "t_overdue": ("Overdue at month end", "Te laat aan het eind van de maand"),
    "t_overdue_now": ("Overdue now", "Nu te laat"),
    "t_messages": ("Messages received", "Berichten ontvangen"),
    # the trend
    "h_trend": ("The last 12 months", "De afgelopen 12 maanden"),
    "month": ("Month", "Maand"),
    "reports": ("Reports", "Meldingen"),
    "kept_pct": ("Promises kept", "Toezeggingen nagekomen"),
    "median_response": ("Median to substantive response", "Mediaan tot inhoudelijke reactie"),
    "partial": ("partial", "onvolledig"),
    "no_data": ("no data", "geen gegevens"),
    "c_received_month": ("Reports received per month", "Meldingen per maand"),
    "c_kept_month": (
        "Promises kept per month (target: all)",
        "Toezeggingen nagekomen per maand (doel: alle)",
    ),
    "c_response_month": (
        "Median working days to a substantive response (promise: within {n})",
        "Mediaan werkdagen tot inhoudelijke reactie (toezegging: binnen {n})",
    ),
    "target": ("target", "doel"),
    # the weeks
    "h_weeks": ("This month per week", "Deze maand per week"),
    "week": ("Week", "Week"),
    "week_n": ("week {n}", "week {n}"),
    "days": ("Days", "Dagen"),
    "kept": ("Kept", "Nagekomen"),
    "missed": ("Missed", "Niet nagekomen"),
    "kept_share": ("Kept %", "Nagekomen %"),
    "c_kept_week": (
        "Promises kept per week (target: all)",
        "Toezeggingen nagekomen per week (doel: alle)",
    ),
    "c_received_week": ("Reports received per week", "Meldingen per week"),
    "partial_days": ("{days} only", "maar {days}"),
    # the promises
    "h_promises": ("Promises falling due this month", "Toezeggingen met een termijn in deze maand"),
    "promise": ("Promise", "Toezegging"),
    "term": ("Term", "Termijn"),
    "pending": ("Not yet due", "Loopt nog"),
    "void": ("Lapsed", "Vervallen"),
    "all_promises": ("All promises", "Alle toezeggingen"),
    "p_ack_due": ("Acknowledgement", "Ontvangstbevestiging"),
    "p_response_due": ("Substantive response", "Inhoudelijke reactie"),
    "p_update_due": ("Progress update", "Voortgangsbericht"),
    "p_resolve_due": ("Resolution", "Afhandeling"),
    "within_wd": ("within {n}", "binnen {n}"),
    "every_wd": ("every {n}", "elke {n}"),
    "within_days": ("within {n}", "binnen {n}"),
    # the times
    "h_times": (
        "Time to acknowledgement and to substantive response",
        "Tijd tot ontvangstbevestiging en tot inhoudelijke reactie",
    ),
    "answered": ("Answered", "Beantwoord"),
    "median": ("Median", "Mediaan"),
    "p90": ("9 in 10 within", "9 van de 10 binnen"),
    "waiting": ("Still waiting", "Wacht nog"),
    # triage
    "h_triage": (
        "Kinds of report and time to substantive response",
        "Soorten meldingen en tijd tot inhoudelijke reactie",
    ),
    "kind": ("Kind of report", "Soort melding"),
    "k_incomplete": ("Incomplete on arrival", "Onvolledig binnengekomen"),
    "k_completed": ("{n} completed later", "{n} later aangevuld"),
    "k_related": ("Related to another report", "Verwant aan een andere melding"),
    "k_known_finding": ("Known finding", "Bekende bevinding"),
    "k_claim": ("Reward demand or threat", "Eist beloning of dreigt"),
    "k_other": ("None of these", "Geen van deze"),
    "k_": ("All reports", "Alle meldingen"),
    # closed cases
    "h_closed": ("Cases closed this month", "Zaken afgesloten in deze maand"),
    "outcome": ("Outcome", "Uitkomst"),
    "cases": ("Cases", "Zaken"),
    "median_close": ("Median time", "Mediane doorlooptijd"),
    "longest": ("Longest", "Langste"),
    "in_time": ("Within {n}", "Binnen {n}"),
    "all_closed": ("All closed", "Alle afgesloten"),
    "h_severity": ("By severity", "Naar ernst"),
    "severity": ("Severity", "Ernst"),
    "new_cases": ("New", "Nieuw"),
    "closed_cases": ("Closed", "Afgesloten"),
    # overdue
    "h_overdue": ("Overdue at the end of the month: {n}", "Te laat aan het eind van de maand: {n}"),
    "h_overdue_now": ("Overdue now: {n}", "Nu te laat: {n}"),
    "case": ("Case", "Zaak"),
    "due": ("Was due", "Termijn was"),
    "late": ("Working days late", "Werkdagen te laat"),
    "state": ("State", "Status"),
    "subject": ("Subject", "Onderwerp"),
    "none_overdue": ("No case is overdue.", "Geen zaak is te laat."),
    # volumes
    "h_volume": ("Messages, cases and rewards", "Berichten, zaken en beloningen"),
    "message_kind": ("Kind of message", "Soort bericht"),
    "messages": ("Messages", "Berichten"),
    "all_messages": ("All messages", "Alle berichten"),
    "month_cases": ("Reports of this month", "Meldingen van deze maand"),
    "new_reports": ("New reports", "Nieuwe meldingen"),
    "no_contact": ("Without contact details", "Zonder contactgegevens"),
    "still_open": ("Still open", "Nog open"),
    "month_rewards": ("Rewards for these reports", "Beloning voor deze meldingen"),
    "decided": ("set to {value} this month", "deze maand op {value} gezet"),
    "number": ("Number", "Aantal"),
    # how to read it
    "h_notes": ("How to read this report", "Zo leest u deze rapportage"),
    "notes": (
        "Reports count in the month they were received (local time). A promise counts in "
        "the month its deadline falls: kept when met in time, missed otherwise; not yet due "
        "while its deadline lies ahead or the case waits for the reporter; lapsed when the "
        "case was closed before the deadline (not counted). Promises kept = kept / (kept + "
        "missed). Working days count as the policy counts them: from the day of receipt "
        "(after 17:00 or on a closed day: the next working day), that day not counted. The "
        "median is the middle value; \u201c9 in 10 within\u201d is the time within which "
        "nine out of ten were answered. A case closed this month counts there with its time "
        "from receipt to closing; the resolution promise itself counts in the month of its "
        "deadline. Severity is as set by staff now. A report can be of several kinds (incomplete, "
        "related, known finding, reward demand or threat); it counts in each.",
        "Meldingen tellen in de maand waarin ze binnenkwamen (Nederlandse tijd). Een "
        "toezegging telt in de maand waarin haar termijn valt: nagekomen als die op tijd is "
        "gehaald, anders niet nagekomen; \u201cloopt nog\u201d zolang de termijn nog komt of "
        "de zaak op de melder wacht; vervallen als de zaak voor de termijn werd afgesloten "
        "(telt niet mee). Nagekomen = nagekomen / (nagekomen + niet nagekomen). Werkdagen "
        "tellen zoals de regeling ze telt: vanaf de ontvangstdag (na 17:00 of op een "
        "sluitingsdag: de volgende werkdag), die dag zelf niet meegeteld. De mediaan is de "
        "middelste waarde; \u201c9 van de 10 binnen\u201d is de tijd waarbinnen negen op de "
        "tien zijn beantwoord. Een zaak die deze maand is afgesloten telt daar mee met haar "
        "doorlooptijd vanaf ontvangst; de toezegging over de afhandeling zelf telt in de "
        "maand van haar termijn. De ernst is zoals medewerkers die nu hebben vastgesteld. "
        "Een melding kan van meer soorten zijn (onvolledig, verwant, bekende bevinding, "
        "eist beloning of dreigt); ze telt dan bij elk.",
    ),
    "generated_by": ("Made by mailbot.", "Gemaakt door mailbot."),
}

#: Plain names of codes: (English, Dutch).
CODES: dict[str, tuple[str, str]] = {
    # dispositions
    "new_case": ("new report", "nieuwe melding"),
    "followup": ("reply from a reporter", "reactie van een melder"),
    "staff_reply": ("reply by staff", "antwoord van een medewerker"),
    "unverified": ("sender not verified", "afzender niet geverifieerd"),
    "auto_reply": ("automatic reply", "automatisch antwoord"),
    "bounce": ("undeliverable notice", "bericht over onbestelbare mail"),
    "loop": ("our own mail, come back", "eigen mail, teruggekomen"),
    "spam": ("spam", "spam"),
    "duplicate": ("received twice", "dubbel ontvangen"),
    "quarantined": ("set aside (quarantine)", "apart gezet (quarantaine)"),
    # states (a closed state is also an outcome)
    "new": ("new", "nieuw"),
    "acknowledged": ("acknowledged", "ontvangst bevestigd"),
    "investigating": ("under investigation", "in onderzoek"),
    "confirmed": ("confirmed", "bevestigd"),
    "resolved": ("resolved", "opgelost"),
    "closed": ("closed otherwise", "anders afgesloten"),
    "rejected": ("rejected", "afgewezen"),
    "state:duplicate": ("duplicate of another report", "dubbele melding"),
    # sources
    "direct": ("sent directly", "rechtstreeks gestuurd"),
    "relay": ("forwarded by a relay", "doorgestuurd door een doorgever"),
    # severities
    "critical": ("critical", "kritiek"),
    "high": ("high", "hoog"),
    "medium": ("medium", "middel"),
    "low": ("low", "laag"),
    "severity:": ("not yet assessed", "nog niet beoordeeld"),
    # rewards
    "undecided": ("not yet decided", "nog niet besloten"),
    "yes": ("yes", "ja"),
    "no": ("no", "nee"),
    "sent": ("sent", "verstuurd"),
}


class Words:
    """The report's words in one language ("nl" or "en"; anything else: English)."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.locale = _LOCALES[self.language]
        self._pick = 1 if self.language == "nl" else 0

    def __getitem__(self, key: str) -> str:
        return LABELS[key][self._pick]

    def code(self, value: str, kind: str = "") -> str:
        """The plain name of a code (`kind` "state" or "severity" where codes clash)."""
        for key in (f"{kind}:{value}" if kind else value, value):
            if key in CODES:
                return CODES[key][self._pick]
        return value

    def state(self, value: str) -> str:
        """The plain name of a case state."""
        return self.code(value, "state")

    def severity(self, value: str) -> str:
        """The plain name of a severity ("" = not yet assessed)."""
        return self.code(value, "severity")

    # -- numbers ---------------------------------------------------------------------

    def number(self, value: float) -> str:
        """A count or a decimal ("1,5" in Dutch)."""
        return str(format_decimal(value, locale=self.locale))

    def share(self, share: float | None) -> str:
        """A whole percent, rounded half up ("72%"); "-" when nothing was decided."""
        if share is None:
            return "-"
        return str(format_percent(int(share * 100 + 0.5) / 100, locale=self.locale))

    def working_days(self, count: float | None) -> str:
        """ "1 working day", "1,5 werkdagen"; "-" for None."""
        if count is None:
            return "-"
        unit = {"nl": ("werkdag", "werkdagen"), "en": ("working day", "working days")}
        return f"{self.number(count)} {unit[self.language][count != 1]}"

    def days(self, count: int) -> str:
        """ "60 days" / "60 dagen"."""
        return str(format_unit(count, "duration-day", locale=self.locale))

    def duration(self, value: timedelta | None) -> str:
        """ "42 seconds", "17 minutes", "5 hours, 3 minutes", "3 days, 4 hours"; "-"."""
        if value is None:
            return "-"
        seconds = round(value.total_seconds())
        minutes, hours = seconds // 60, seconds // 3600
        if seconds < 60:
            parts = [(seconds, "second")]
        elif minutes < 60:
            parts = [(minutes, "minute")]
        elif hours < 48:
            parts = [(hours, "hour"), (minutes % 60, "minute")]
        else:
            parts = [(hours // 24, "day"), (hours % 24, "hour")]
        written = [
            str(format_unit(n, f"duration-{unit}", locale=self.locale))
            for i, (n, unit) in enumerate(parts)
            if n or i == 0
        ]
        return str(format_list(written, style="unit", locale=self.locale))

    # -- dates -----------------------------------------------------------------------

    def month(self, month: Month) -> str:
        """ "maart 2027" / "March 2027"."""
        return str(format_date(month.first, "LLLL y", locale=self.locale))

    def month_abbreviation(self, month: Month) -> str:
        """ "mrt" / "Mar"."""
        return str(format_date(month.first, "LLL", locale=self.locale))

    def month_short(self, month: Month) -> str:
        """ "mrt 2027" / "Mar 2027"."""
        return str(format_date(month.first, "LLL y", locale=self.locale))

    def day(self, day: date) -> str:
        """ "1 maart 2027"."""
        return str(format_date(day, "d MMMM y", locale=self.locale))

    def day_span(self, first: date, last: date) -> str:
        """'1-7 mrt' (an en dash); one day alone when first == last."""
        end = str(format_date(last, "d MMM", locale=self.locale))
        return end if first == last else f"{first.day}\u2013{end}"

    def moment(self, moment: datetime, zone: ZoneInfo) -> str:
        """ "1 april 2027 00:00" in `zone`."""
        return str(format_datetime(moment, "d MMMM y HH:mm", tzinfo=zone, locale=self.locale))

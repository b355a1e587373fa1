"""Everything a person reads is in the reader's language (issue 16, item 1): staff mail in
`[identity] language`, reporter mail in the report's language.

One scenario drives a Service on Maildir in and out through every mail staff can get
(notice, follow-up, command results with every kind of refusal and Help, unverified
notices, the alerts, reminder, escalation, digest, closure warning) with Dutch staff, and
fails on any word of a list of English words; a second one checks the mail of an English
reporter for Dutch words. What comes from outside (report text, subjects, names, a mail
server's answer) is data and is left out before the check.
"""

from __future__ import annotations

import asyncio
import copy
import email
import email.policy
import pickle
import re
import string
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from factories import MX, PASS, maildir_service

from mailbot.core import config
from mailbot.core.commandlines import KEYS as COMMAND_NAMES
from mailbot.core.commands import apply_commands, help_list
from mailbot.core.errors import TransportPermanentError
from mailbot.core.models import Case, CaseState
from mailbot.core.phrases import HELP, PHRASES
from mailbot.core.wording import Phrase, localise, say
from mailbot.core.workdays import make_calendar
from mailbot.mail.rendering import format_moment
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.transport import MaildirTransport

START = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)  # Monday 21 December 2026, 10:00 CET
STAFF = "security@gemeente.example"  # notify list
CISO = "ciso@gemeente.example"  # escalate list
REPORTER = "jan@example.nl"
ENGLISH_REPORTER = "john@example.com"
BROKEN = "kapot@example.nl"
SERVER_SAYS = "550 5.1.1 <kapot@example.nl>: Recipient address rejected: User unknown"
RULER = "-" * 72


def word_set(text: str) -> frozenset[str]:
    """The words of `text`."""
    return frozenset(text.split())


#: English words that must not appear in Dutch mail (whole words, any case). Command words
#: (Status, Close, Note, Severity, Reward, Waiting, resolved, closed, yes, none, ...), the
#: case states they set, header names and `mailbot` commands are the same in both
#: languages and are not on it.
ENGLISH = word_set(
    """
    the and with from by for to at on an or but not this that these your you please must
    cannot does will would should only after before been has have more than one itself
    received due state refused unknown reason required allowed details size too large
    subject working days day calendar start cutoff missed reply report case message anyway
    genuine process delivery failed bounced address sender verified trusted given twice
    command commands mean exist staff list text nothing empty characters attempts gave
    reached automatic hours still recorded until frees another different content used
    applied changes change assignee relayed handled see names repeated identity ambiguous
    gets say verdict results unreadable without aligned cap
    """
)
#: English day and month names (case-sensitive: Dutch writes "april", "dec").
ENGLISH_NAMES = word_set(
    """
    Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    Jan Feb Mar Apr May Jun Jul Aug Sep Sept Oct Nov Dec January February March April June
    July August September October November December
    """
)
#: Dutch words that must not appear in English reporter mail.
DUTCH = word_set(
    """
    de het een van en niet voor uw wij ons onze melding melder zaak zaaknummer ontvangen
    uiterlijk werkdag werkdagen dank hartelijk groet vriendelijke beste bericht onderwerp om
    op aan bij naar wordt worden heeft hebben zijn deze dit dat wat tot te attentie
    kwetsbaarheid maandag dinsdag woensdag donderdag vrijdag zaterdag zondag januari februari
    maart mei juni juli augustus oktober mrt okt
    """
)

STAFF_KINDS = {
    "staff_notice",
    "followup_notice",
    "command_result",
    "unverified_notice",
    "alert",
    "reminder",
    "escalation",
    "digest",
    "closure_warning",
}
ALERTS_NL = {
    "Bericht in quarantaine",
    "Message-ID eerder gebruikt",
    "Veel meldingen van één adres",
    "Bezorging mislukt (bounce)",
    "Bezorging mislukt",
}


class FailingFor(MaildirTransport):
    """Maildir, but mail to BROKEN is refused for good (as a server's 550)."""

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Refuse mail to BROKEN, write the rest."""
        if BROKEN in recipients:
            raise TransportPermanentError(SERVER_SAYS)
        await super().send(sender, recipients, raw)


class Meldpunt:
    """A service with staff of `language` (authenticated), a cap of 3 automatic mails a day
    and a 100 kB message limit; every text it is sent is remembered as data."""

    def __init__(self, base: Path, language: str = "nl") -> None:
        settings = config.embedded(base)
        staff = replace(settings.staff, require_authenticated=True, authserv_ids=(MX,))
        limits = replace(
            settings.limits, auto_mails_per_address_per_day=3, max_message_bytes=100_000
        )
        identity = replace(settings.identity, language=language)
        self.settings = replace(settings, staff=staff, limits=limits, identity=identity)
        self.clock = ManualClock(START)
        self.base = base
        self.service = maildir_service(
            base, self.settings, self.clock, transport=FailingFor(base / "outbox")
        )
        ident = self.settings.identity
        self.data = [ident.name, ident.organisation, SERVER_SAYS]
        self.count = 0

    def mail(self, sender: str, subject: str, body: str, *headers: str) -> EmailMessage:
        """A plain text mail to the meldpunt (`headers` as "Name: value")."""
        self.count += 1
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.settings.identity.address
        msg["Subject"] = subject
        msg["Message-ID"] = f"<m{self.count}@{sender.rpartition('@')[2]}>"
        for header in headers:
            name, _, value = header.partition(": ")
            msg[name] = value
        msg.set_content(body)
        return msg

    def send(self, sender: str, subject: str, body: str, *headers: str) -> str:
        """Deliver one mail a minute after the last and run once; the disposition."""
        return self.deliver(bytes(self.mail(sender, subject, body, *headers)), subject, body)

    def deliver(self, raw: bytes, *texts: str) -> str:
        """Deliver `raw` (its `texts` are data), run once; the first outcome's disposition."""
        self.data += [line.strip() for text in texts for line in text.splitlines()]
        self.clock.set(self.clock.now() + timedelta(minutes=1))
        deliver_to_maildir(self.base / "inbox", raw, self.clock.now())
        outcomes, _ = asyncio.run(self.service.run_once())
        return outcomes[0].disposition.value

    def tick_at(self, moment: datetime) -> None:
        """The scheduler at `moment`, then the outbox."""
        self.clock.set(moment)
        self.service.tick()
        asyncio.run(self.service.deliver())

    def mails(self) -> list[EmailMessage]:
        """Every mail in the outbox Maildir."""
        return [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for f in sorted(
                (self.base / "outbox" / "new").iterdir(), key=lambda f: f.stat().st_mtime_ns
            )
        ]

    def staff(self, subject: str, body: str, auth: str | None = PASS) -> str:
        """A reply from STAFF on case 0001 (authenticated unless `auth` says otherwise)."""
        headers = (f"Authentication-Results: {auth}",) if auth else ()
        return self.send(STAFF, f"Re: [MK-2026-0001] {subject}", body, *headers)


def kind_of(msg: EmailMessage) -> str:
    """The kind in our Message-ID, `mailbot.<kind>.<case>.<hash>@domain`."""
    return str(msg["Message-ID"]).strip("<>").split(".")[1]


def words(text: str, data: Sequence[str]) -> list[str]:
    """The words of `text` once data, quoted blocks and technical tokens are left out."""
    for block in re.findall(f"{RULER}\n.*?\n{RULER}", text, re.DOTALL):
        text = text.replace(block, "")
    for item in sorted((d for d in data if len(d) > 3), key=len, reverse=True):
        text = text.replace(item, " ")
    found = []
    for token in text.split():
        word = token.strip(string.punctuation + "\u2026\u2014\u2013")
        if len(word) < 2 or re.search(r"[@=/<>_|`.\d\[\]]", word):
            continue  # addresses, dkim=pass, paths, codes, case numbers, figures
        if token.endswith(":") and word.lower() in COMMAND_NAMES:
            continue  # a command word staff type ("Reply:"): the same in both languages
        found.append(word)
    return found


def text_of(msg: EmailMessage) -> str:
    """Subject and body of `msg`, with \\n line ends."""
    return f"{msg['Subject']}\n{msg.get_content()}".replace("\r\n", "\n")


def english_in(msg: EmailMessage, data: Sequence[str]) -> list[str]:
    """English words in the subject and body of `msg`."""
    return [w for w in words(text_of(msg), data) if w.lower() in ENGLISH or w in ENGLISH_NAMES]


def dutch_in(msg: EmailMessage, data: Sequence[str]) -> list[str]:
    """Dutch words in the subject and body of `msg`."""
    return [w for w in words(text_of(msg), data) if w.lower() in DUTCH]


def dsn(message_id: str) -> bytes:
    """A Postfix delivery report naming our mail `message_id`."""
    return (
        "From: MAILER-DAEMON@mx.example.nl (Mail Delivery System)\r\n"
        "To: meldpunt@gemeente.example\r\nSubject: Onbestelbaar\r\n"
        "Message-ID: <dsn1@mx.example.nl>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nOnbestelbaar.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.nl"
        "\r\n\r\nFinal-Recipient: rfc822; jan@example.nl\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: meldpunt@gemeente.example\r\nTo: jan@example.nl\r\nMessage-ID: <{message_id}>"
        "\r\n\r\n--B--\r\n"
    ).encode()


REFUSED = [  # one staff mail each; every refusal a staff command can get
    "Close: duplicate MK-2026-0001\nAssign: iemand\nReporter: piet@example.nl\nWaiting: soms\n"
    "Note:\nHelp: graag\nSeverity: urgent\nReward: yes\nReward: no\nStaus: confirmed\n"
    "Frobnicate: ja",
    "Close: resolved\nStatus: investigating",
    "Close: duplicate MK-2026-0099 zelfde lek",
    "Close: duplicate",
    "Close:",
    "Close: klaar",
    "Status: acknowledged",
    "Status: resolved",
    "Assign: buiten@example.org",
    "Dank u, we kijken ernaar.\n\nInternal: yes",
]


def run_desk(base: Path, language: str = "nl") -> Meldpunt:
    """Every kind of staff mail, with staff of `language`; see the module docstring."""
    desk = Meldpunt(base, language)
    report = desk.mail(REPORTER, "Lek in het portaal", "Op het portaal staat een lek.\n\nMarieke")
    report.add_attachment(b"x" * 12_345, maintype="text", subtype="plain", filename="bewijs.txt")
    assert desk.deliver(bytes(report), "Lek in het portaal") == "new_case"
    re_subject = "Re: [MK-2026-0001] Lek in het portaal"
    assert desk.send(REPORTER, re_subject, "Ook de zoekfunctie is lek.") == "followup"
    applied = "Status: confirmed\nSeverity: high\nAssign: ciso@gemeente.example\nWaiting: yes\n"
    assert desk.staff("Lek", applied + "Note: lijkt echt\n\nDank voor uw melding.") == "staff_reply"
    assert desk.staff("Lek", "Waiting: no\nReward: yes\nHelp") == "staff_reply"
    for body in REFUSED:
        assert desk.staff("Lek", body) == "staff_reply"
    assert desk.staff("Lek", "Status: resolved", auth=None) == "unverified"
    fail = f"{MX}; dkim=fail header.d=gemeente.example"
    assert desk.staff("Lek", "Status: resolved", auth=fail) == "unverified"
    assert desk.send("piet@example.org", re_subject, "Ik weet er meer van.") == "unverified"
    once = bytes(desk.mail(REPORTER, re_subject, "Nog iets."))
    twice = once.replace(b"Subject:", b"Subject: [MK-2026-0001] Anders\nSubject:", 1)  # ambiguous
    assert desk.deliver(twice, "Nog iets.", "Anders") == "unverified"
    for n in range(4):  # the fourth acknowledgement is held back: a flood alert
        assert desk.send("veel@example.nl", f"Melding {n}", f"Lek nummer {n}.") == "new_case"
    big = desk.mail("groot@example.nl", "Grote melding", "x" * 150_000)
    assert desk.deliver(bytes(big), "Grote melding") == "quarantined"
    reuse = desk.mail("ander@example.nl", "Andere melding", "Nog een lek.")
    reuse.replace_header("Message-ID", "<m1@example.nl>")  # the first report's Message-ID
    assert desk.deliver(bytes(reuse), "Andere melding", "Nog een lek.") == "new_case"
    ack = next(r for r in desk.service.store.outbox_all() if r.kind == "acknowledgement")
    assert desk.deliver(dsn(ack.message_id), "Onbestelbaar.") == "bounce"
    assert desk.send(BROKEN, "Lek in de app", "De app lekt.") == "new_case"
    for day, hour, minute in ((22, 8, 30), (22, 15, 0), (23, 8, 30)):  # CET
        desk.tick_at(datetime(2026, 12, day, hour - 1, minute, tzinfo=UTC))
    return desk


@pytest.fixture(scope="module")
def dutch_desk(tmp_path_factory: pytest.TempPathFactory) -> Meldpunt:
    """The Dutch scenario, run once for the tests below."""
    return run_desk(tmp_path_factory.mktemp("nl"))


def test_the_scenario_produces_every_kind_of_staff_mail(dutch_desk: Meldpunt) -> None:
    """Guard of the check below: each staff mail kind and each alert is among the mails."""
    mails = dutch_desk.mails()
    to_staff = [m for m in mails if str(m["To"]) in (STAFF, CISO)]
    titles = {t for t in ALERTS_NL for m in to_staff if str(m["Subject"]).endswith(": " + t)}
    assert ({kind_of(m) for m in to_staff} & STAFF_KINDS, titles) == (STAFF_KINDS, ALERTS_NL)


def test_staff_mail_in_dutch_has_no_english_word(dutch_desk: Meldpunt) -> None:
    """Not one word of the English list in any mail to staff, subject or body (the closure
    warning is checked on its own, below)."""
    mails = [
        m
        for m in dutch_desk.mails()
        if str(m["To"]) in (STAFF, CISO) and kind_of(m) != "closure_warning"
    ]
    found = {f"{kind_of(m)}: {m['Subject']}": english_in(m, dutch_desk.data) for m in mails}
    assert {mail: english for mail, english in found.items() if english} == {}


def test_closure_warning_in_dutch_has_no_english_word(dutch_desk: Meldpunt) -> None:
    """The closure warning, with the closed days and their reasons, is Dutch too."""
    mails = [m for m in dutch_desk.mails() if kind_of(m) == "closure_warning"]
    assert (len(mails), [english_in(m, dutch_desk.data) for m in mails]) == (1, [[]])


def test_dutch_reporter_mail_has_no_english_word(dutch_desk: Meldpunt) -> None:
    """The Dutch reporter's acknowledgement, relayed answer and status mail are Dutch too."""
    mails = [m for m in dutch_desk.mails() if str(m["To"]) == REPORTER]
    assert sorted({kind_of(m) for m in mails}) == ["acknowledgement", "relay", "status"]
    assert {kind_of(m): english_in(m, dutch_desk.data) for m in mails} == {
        "acknowledgement": [],
        "relay": [],
        "status": [],
    }


def test_result_mail_says_refusals_changes_and_help_in_dutch(dutch_desk: Meldpunt) -> None:
    """Spot checks of what the list cannot see: the Dutch text itself is there."""
    results = [text_of(m) for m in dutch_desk.mails() if kind_of(m) == "command_result"]
    text = "\n".join(results)
    expected = [
        "  - status: acknowledged → confirmed",
        "  - ernst: (geen) → high",
        "  - notitie: lijkt echt",
        "Close: resolved — een reden is verplicht, bijvoorbeeld Close: resolved <reden>",
        "Staus: confirmed — Onbekende opdracht 'Staus' — bedoelt u Status?",
        "Close: duplicate MK-2026-0099 zelfde lek — zaak MK-2026-0099 bestaat niet",
        "  Help: dit overzicht",
    ]
    assert [line for line in expected if line not in text] == []


def test_quarantine_alert_keeps_the_release_command_verbatim(dutch_desk: Meldpunt) -> None:
    """The quarantine alert is Dutch around a `mailbot release` command typed as it is."""
    alert = next(
        text_of(m)
        for m in dutch_desk.mails()
        if str(m["Subject"]).endswith("Bericht in quarantaine")
    )
    release = re.search(r"mailbot release [0-9a-f]{16} --max-bytes (\d+)\n", alert)
    assert release is not None
    grouped = f"{int(release.group(1)):,}".replace(",", ".")  # 154.107
    lines = [
        f"te groot: {grouped} bytes, meer dan de grens van 100.000 bytes",
        "  - Om het toch te verwerken (als het een echte melding is): mailbot release ",
        f"  - Grootte: {grouped} bytes, sha256 ",
        "Gegevens",
    ]
    assert [line for line in lines if line not in alert] == []


def test_staff_mail_in_english_has_no_dutch_word(tmp_path: Path) -> None:
    """The same scenario with `language = "en"`: no word of the Dutch list in staff mail
    (ontvangstdag, sluitingsdag and holiday names are the terms English explanations use)."""
    desk = run_desk(tmp_path, "en")
    mails = [m for m in desk.mails() if str(m["To"]) in (STAFF, CISO)]
    found = {f"{kind_of(m)}: {m['Subject']}": dutch_in(m, desk.data) for m in mails}
    kinds = {kind_of(m) for m in mails} & STAFF_KINDS
    assert (kinds, {mail: dutch for mail, dutch in found.items() if dutch}) == (STAFF_KINDS, {})


# --- the English reporter ----------------------------------------------------------------

ENGLISH_REPORT = (
    "Hello, I found a stored XSS vulnerability in your contact form. The details are below "
    "and I am happy to help you reproduce it.\n\nKind regards,\nJohn"
)
ANSWER = "Thank you for your report, we are looking into it."


@pytest.fixture(scope="module")
def english_desk(tmp_path_factory: pytest.TempPathFactory) -> Meldpunt:
    """An English reporter, Dutch staff: acknowledgement, relayed answer, status mails."""
    desk = Meldpunt(tmp_path_factory.mktemp("en"))
    assert desk.send(ENGLISH_REPORTER, "Stored XSS in the contact form", ENGLISH_REPORT) == (
        "new_case"
    )
    for body in (f"Status: investigating\n\n{ANSWER}", "Status: confirmed", "Reward: yes"):
        assert desk.staff("XSS", body) == "staff_reply"
    return desk


def test_english_reporter_mail_has_no_dutch_word(english_desk: Meldpunt) -> None:
    """Acknowledgement, relayed answer and status mails to an English reporter: no Dutch."""
    mails = [m for m in english_desk.mails() if str(m["To"]) == ENGLISH_REPORTER]
    kinds = [kind_of(m) for m in mails]
    assert kinds == ["acknowledgement", "relay", "status", "status"]
    assert [dutch_in(m, english_desk.data) for m in mails] == [[], [], [], []]
    ack = text_of(mails[0])
    assert "no later than\n  Tuesday 29 December 2026 at 17:00." in ack


# --- the words themselves ----------------------------------------------------------------


def test_every_phrase_has_both_languages_with_the_same_fields() -> None:
    """Each phrase is written in Dutch and English and both use the same parameters."""
    fields = string.Formatter()

    def names(text: str) -> set[str]:
        return {name for _, name, _, _ in fields.parse(text) if name}

    uneven = [key for key, texts in PHRASES.items() if set(texts) != {"nl", "en"}]
    uneven += [k for k, t in PHRASES.items() if names(t["nl"]) != names(t.get("en", ""))]
    assert uneven == []


def test_no_dutch_phrase_or_help_line_has_an_english_word() -> None:
    """Every phrase in Dutch (with neutral parameters) and the Dutch Help list pass the
    English list; phrases no scenario reaches (relay refusals, authres bounds) included."""
    fields = string.Formatter()
    found = {}
    for key, texts in PHRASES.items():
        params = {name: "x" for _, name, _, _ in fields.parse(texts["nl"]) if name}
        numbers = {"size", "limit", "count", "cap", "attempts", "days"}
        params = {
            n: 7 if n in numbers else ("x",) if n == "notes" else v for n, v in params.items()
        }
        text = say(key, "nl", **params)
        english = [w for w in words(text, ()) if w.lower() in ENGLISH or w in ENGLISH_NAMES]
        if english:
            found[key] = english
    for syntax, explanation in HELP["nl"]:
        english = [w for w in words(explanation, ()) if w.lower() in ENGLISH]
        if english:
            found[syntax] = english
    assert found == {}


def test_a_phrase_is_english_text_and_says_itself_in_dutch() -> None:
    """A Phrase reads as English (events, logs) and `localise` says it, nested, in Dutch,
    also after a copy or a pickle round trip."""
    original = Phrase("unverified.staff", why=Phrase("auth.no_header"))
    reason = pickle.loads(pickle.dumps(copy.deepcopy(original)))
    assert (reason, localise(reason, "nl"), localise("plain text", "nl")) == (
        "staff address not verified: no Authentication-Results from a trusted authserv-id",
        "adres van een medewerker, maar niet geverifieerd: geen Authentication-Results van "
        "een vertrouwde authserv-id",
        "plain text",
    )


def test_deadline_explanation_in_dutch() -> None:
    """A Dutch calendar explains a deadline with Dutch words and CLDR day and month names."""
    calendar = make_calendar(closure_days=[date(2026, 12, 24)], language="nl")
    deadline = calendar.due(datetime(2026, 12, 21, 9, 0, tzinfo=UTC), 5)
    assert deadline.explanation == (
        "ontvangen ma 21 dec 2026 10:00 → ontvangstdag ma 21 dec; do 24 dec gesloten "
        "(sluitingsdag), vr 25 dec gesloten (Eerste kerstdag) → uiterlijk wo 30 dec 17:00"
    )
    late = calendar.due_after(datetime(2027, 12, 30, 17, 0, tzinfo=UTC), 1)
    assert late.explanation == (
        "vanaf do 30 dec 2027 18:00 → startdag vr 31 dec (na sluitingstijd) "
        "→ uiterlijk ma 3 jan 2028 17:00"
    )


def test_moments_and_numbers_come_from_cldr() -> None:
    """format_moment keeps its format; numbers are grouped as the language does."""
    when = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    tz = make_calendar().timezone
    assert (format_moment(when, tz, "nl"), format_moment(when, tz, "en")) == (
        "maandag 1 maart 2027 om 10:00",
        "Monday 1 March 2027 at 10:00",
    )
    assert (say("bytes", "nl", size=26214400), say("bytes", "en", size=26214400)) == (
        "26.214.400 bytes",
        "26,214,400 bytes",
    )


# --- the staff notice's examples -----------------------------------------------------------


def notice_examples(language: str) -> list[str]:
    """The example command lines of the staff notice template (those without <...>): the
    first column of its command table, from `Status:` to `Help`."""
    folder = Path(__file__).resolve().parent.parent / "templates" / language
    lines = (folder / "staff_notice.txt").read_text(encoding="utf-8").splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("  Status: "))
    last = next(i for i, ln in enumerate(lines) if ln.startswith("  Help "))
    rows = [ln for ln in lines[first:last] if not ln.startswith("   ")]  # no continuations
    commands = [re.split(r"\s{2,}", row.strip())[0] for row in rows]
    return [c for c in commands if "<" not in c]


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_example_in_the_staff_notice_is_accepted(language: str) -> None:
    """Each example command the notice suggests (e.g. `Close: resolved <a reason>`) is
    applied as it stands to an acknowledged case: no refusal."""
    examples = notice_examples(language)
    assert any(e.startswith("Close: resolved ") for e in examples)
    case = Case("MK-2026-0001", CaseState.ACKNOWLEDGED, "Lek", START, reporter_email=REPORTER)
    refused = {}
    for line in examples:
        result = apply_commands(
            case, line, staff=frozenset({STAFF}), case_prefix="MK", known_cases=lambda _: False
        )
        if result.errors:
            refused[line] = [e.reason for e in result.errors]
    assert refused == {}


def test_help_lists_the_same_commands_in_both_languages() -> None:
    """The Dutch and English Help lists name the same command words, in the same order."""

    def keys(language: str) -> list[str]:
        return [syntax.split(" ")[0] for syntax, _ in help_list(language)]

    assert keys("nl") == keys("en")

"""Triage (issue 18, items 1 and 4): what a report lacks per the policy, and reward demands
and threats, through a Service on Maildir in and out.

The corpus is our own: genuine reports with a URL, an IP address or a host name, reports
without any system, one-liners, relayed reports without contact, reward demands and
threats in Dutch and English, and innocent look-alikes of each.
"""

from __future__ import annotations

import asyncio
import email.message
import re
from datetime import timedelta
from pathlib import Path

import pytest
from factories import BOT, MONDAY_0700, STAFF, bot, report, sent

from mailbot.cli.tables import case_detail
from mailbot.core import config
from mailbot.core.claims import claim_flags
from mailbot.core.completeness import MIN_DESCRIPTION_WORDS, find_missing, own_words
from mailbot.core.compose import case_context, identity_context
from mailbot.core.effects import Inputs
from mailbot.core.models import Case, CaseState
from mailbot.mail.rendering import Renderer
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import Service, calendar_for

REPORTER = "melder1@example.nl"
RELAY = "meldpunt@vng.example"
CASE = "MK-2026-0001"
NL_ASK = "Wat wij nog van u nodig hebben"
EN_ASK = "What we still need from you"
NL_SYSTEM = "de URL of het IP-adres waar u het probleem heeft"
NL_DESCRIPTION = "een omschrijving van de kwetsbaarheid: wat u heeft gevonden"
EN_SYSTEM = "the URL or IP address where you found the"
EN_DESCRIPTION = "a description of the vulnerability: what you found"
XSS_NL = (
    "Beste meldpunt,\n\nDe zoekfunctie op https://www.gemeente.example/zoeken is kwetsbaar "
    "voor reflected XSS: de parameter q wordt zonder escaping in de pagina gezet.\n\n"
    "Met vriendelijke groet,\nJan"
)
NO_SYSTEM_NL = (
    "Goedemiddag,\n\nIk heb op een van uw websites een ernstige kwetsbaarheid gevonden "
    "waarmee persoonsgegevens van inwoners kunnen worden ingezien.\n\nGroet,\nPiet"
)
NO_SYSTEM_EN = (
    "Hello,\n\nI found a serious vulnerability on one of your websites that lets anyone "
    "read the personal data of residents without logging in.\n\nKind regards,\nJohn"
)


def run(service: Service, clock: ManualClock, tmp: Path, raw: bytes, minutes: int = 0) -> None:
    """Deliver `raw` `minutes` after the start and run the service once."""
    clock.set(clock.now() + timedelta(minutes=minutes))
    deliver_to_maildir(tmp / "inbox", raw, clock.now())
    asyncio.run(service.run_once())


def intake(tmp_path: Path, body: str, **kw: str) -> tuple[Service, ManualClock]:
    """A service that took in one report with `body` (and `report` keywords `kw`)."""
    service, clock = bot(tmp_path)
    run(service, clock, tmp_path, report(1, body=body, **kw))
    return service, clock


def mail_to(tmp_path: Path, address: str, kind: str) -> email.message.EmailMessage:
    """The one mail of `kind` (its Message-ID) sent to `address`."""
    found = [
        m
        for m in sent(tmp_path)
        if str(m["To"]) == address and str(m["Message-ID"]).startswith(f"<mailbot.{kind}.")
    ]
    assert len(found) == 1, [str(m["Message-ID"]) for m in sent(tmp_path)]
    return found[0]


def body(mail: email.message.EmailMessage) -> str:
    """The plain-text body of `mail`."""
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def missing_shown(service: Service) -> list[str]:
    """`missing` as `case show --json` shows it."""
    case = service.store.case(CASE)
    assert case is not None
    shown: list[str] = case_detail(service.store, case)["missing"]
    return shown


# -- item 1: completeness ------------------------------------------------------------------

GENUINE = [
    pytest.param(XSS_NL, id="url"),
    pytest.param(
        "Hallo,\n\nOp de server 192.0.2.17 draait een verouderde OpenSSH-versie met een "
        "bekende kwetsbaarheid waarmee inloggen zonder wachtwoord mogelijk is.\n\nGroet",
        id="ip",
    ),
    pytest.param(
        "Dear team,\n\nThe host mail.gemeente.example accepts SMTP AUTH over plain text, so "
        "passwords of your staff can be read by anyone on the path.\n\nRegards, Anna",
        id="hostname",
    ),
]


@pytest.mark.parametrize("text", GENUINE)
def test_complete_report_misses_nothing_and_ack_asks_nothing(tmp_path: Path, text: str) -> None:
    """A report with a system and a description lacks nothing; the ack asks for nothing."""
    service, _ = intake(tmp_path, text)
    ack = body(mail_to(tmp_path, REPORTER, "acknowledgement"))
    notice = body(mail_to(tmp_path, STAFF, "staff_notice"))
    assert (missing_shown(service), NL_ASK in ack or EN_ASK in ack) == ([], False)
    assert ("Onvolledig" in notice or "Incomplete" in notice) is False


def test_report_without_system_asks_for_the_system_only(tmp_path: Path) -> None:
    """No URL, host or IP: missing is ["system"]; the Dutch ack asks for exactly that."""
    service, _ = intake(tmp_path, NO_SYSTEM_NL, subject="Lek in uw website")
    ack = body(mail_to(tmp_path, REPORTER, "acknowledgement"))
    assert missing_shown(service) == ["system"]
    assert (NL_ASK in ack, NL_SYSTEM in " ".join(ack.split()), NL_DESCRIPTION in ack) == (
        True,
        True,
        False,
    )


def test_english_report_without_system_gets_the_english_request(tmp_path: Path) -> None:
    """An English reporter is asked in English, for the system only."""
    service, _ = intake(tmp_path, NO_SYSTEM_EN, subject="Vulnerability on your website")
    ack = " ".join(body(mail_to(tmp_path, REPORTER, "acknowledgement")).split())
    assert missing_shown(service) == ["system"]
    assert (EN_ASK in ack, EN_SYSTEM in ack, EN_DESCRIPTION in ack) == (True, True, False)


def test_one_line_report_misses_description_and_staff_notice_says_so(tmp_path: Path) -> None:
    """A bare "lek op <URL>" lacks a description: the ack asks for it, the notice names it."""
    service, _ = intake(tmp_path, "Hoi,\nlek op https://portaal.gemeente.example/login\nJan")
    ack = " ".join(body(mail_to(tmp_path, REPORTER, "acknowledgement")).split())
    notice = body(mail_to(tmp_path, STAFF, "staff_notice"))
    assert missing_shown(service) == ["description"]
    assert (NL_SYSTEM in ack, NL_DESCRIPTION in ack) == (False, True)
    expected = "  Ontbreekt:    omschrijving van de kwetsbaarheid"
    assert [line for line in notice.splitlines() if "Ontbreekt:" in line] == [expected]


def test_bare_one_liner_misses_system_and_description(tmp_path: Path) -> None:
    """A one-liner without a system lacks both: the ack asks for both, system first."""
    service, _ = intake(tmp_path, "Bug found on your site.", subject="Security")
    ack = " ".join(body(mail_to(tmp_path, REPORTER, "acknowledgement")).split())
    assert missing_shown(service) == ["system", "description"]
    assert (ack.find(EN_SYSTEM) < ack.find(EN_DESCRIPTION), ack.find(EN_SYSTEM) > 0) == (
        True,
        True,
    )


def test_relayed_report_without_contact_misses_contact(tmp_path: Path) -> None:
    """A relayed report without address or phone lacks contact: no ack, the notice says it."""
    text = "Melding via VNG.\n" + XSS_NL
    service, _ = intake(tmp_path, text, sender=RELAY, name="Meldpunt VNG")
    notice = body(mail_to(tmp_path, STAFF, "staff_notice"))
    recipients = [str(m["To"]) for m in sent(tmp_path)]
    assert (missing_shown(service), recipients) == (["contact"], [STAFF])
    assert "contactgegevens (e-mailadres of telefoonnummer)" in notice


def test_relayed_report_with_phone_only_has_contact(tmp_path: Path) -> None:
    """The policy asks for an email address or a phone number: a phone is enough."""
    text = "Melding via VNG.\nTelefoon: 06 12345678\n" + XSS_NL
    service, _ = intake(tmp_path, text, sender=RELAY, name="Meldpunt VNG")
    assert missing_shown(service) == []


def test_followup_supplying_the_system_clears_it_and_records_it(tmp_path: Path) -> None:
    """A follow-up naming the URL clears "system", adds it to affected, and is audited."""
    service, clock = intake(tmp_path, NO_SYSTEM_NL, subject="Lek in uw website")
    ack = body(mail_to(tmp_path, REPORTER, "acknowledgement"))
    quoted = "\n".join(f"> {line}" for line in ack.splitlines())
    reply = (
        "Het gaat om https://inwoners.gemeente.example/profiel.\n\n"
        f"Op 21 dec. 2026 schreef meldpunt <{BOT}>:\n{quoted}"
    )
    subject = f"Re: [{CASE}] Ontvangstbevestiging: Lek in uw website"
    run(service, clock, tmp_path, report(body=reply, subject=subject, sender=REPORTER), 5)
    case = service.store.case(CASE)
    assert case is not None
    kinds = [(e.kind, e.detail) for e in service.store.events(CASE) if "missing" in e.kind]
    systems = ("https://inwoners.gemeente.example/profiel", "inwoners.gemeente.example")
    assert (case.missing, case.affected) == ((), systems)
    assert kinds == [
        ("missing_set", "system"),
        ("missing_updated", "supplied: system; still missing: nothing"),
    ]


def test_followup_of_quoted_text_only_leaves_missing_as_it_was(tmp_path: Path) -> None:
    """A follow-up that only says thanks above the quoted ack supplies no description."""
    service, clock = intake(tmp_path, "Lek op https://portaal.gemeente.example/login")
    ack = body(mail_to(tmp_path, REPORTER, "acknowledgement"))
    reply = "Dank u.\n\n" + "\n".join(f"> {line}" for line in ack.splitlines())
    subject = f"Re: [{CASE}] Ontvangstbevestiging"
    run(service, clock, tmp_path, report(body=reply, subject=subject, sender=REPORTER), 5)
    events = [e.kind for e in service.store.events(CASE)]
    assert (missing_shown(service), "missing_updated" in events) == (["description"], False)


def test_followup_with_a_description_clears_description(tmp_path: Path) -> None:
    """A follow-up with a sentence of the reporter's own supplies the description."""
    service, clock = intake(tmp_path, "Lek op https://portaal.gemeente.example/login")
    reply = (
        "Na het inloggen kan ik door het nummer in de adresbalk te veranderen de gegevens "
        "van andere inwoners zien."
    )
    subject = f"Re: [{CASE}] Ontvangstbevestiging"
    run(service, clock, tmp_path, report(body=reply, subject=subject, sender=REPORTER), 5)
    assert missing_shown(service) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lek gevonden op https://x.example/a, groet Jan", 5),
        ("Beste,\nIk heb een lek gevonden.\nMet vriendelijke groet,\nJan Jansen\n-- \nJan", 7),
        ("Dear team,\n\nYour site at portal.example.nl is vulnerable.\nRegards", 5),
    ],
)
def test_own_words_leave_out_urls_hosts_greetings_and_signature(text: str, expected: int) -> None:
    """Only the reporter's own words count towards a description."""
    assert len(own_words(text)) == expected


def test_threshold_is_the_boundary() -> None:
    """MIN_DESCRIPTION_WORDS words is a description, one fewer is not."""
    words = " ".join(["woord"] * MIN_DESCRIPTION_WORDS)
    fewer = " ".join(["woord"] * (MIN_DESCRIPTION_WORDS - 1))
    system = ("https://a.example",)
    actual = (find_missing(words, system, "a@b.nl", None), find_missing(fewer, system, None, None))
    assert actual == ((), ("description", "contact"))


# -- item 4: reward demands and threats ----------------------------------------------------

CLAIMS = [
    ("Betaal eerst 500 euro, dan stuur ik de details.", ("reward_demand",)),
    ("Ik wil een beloning vooraf voordat ik de details deel.", ("reward_demand",)),
    ("Welke beloning staat hier tegenover?", ("reward_demand",)),
    ("Heeft u een bug bounty programma?", ("reward_demand",)),
    ("Alleen tegen betaling geef ik de gegevens.", ("reward_demand",)),
    ("What bounty do you pay for this?", ("reward_demand",)),
    ("Before I share the details I want to know how much you will pay.", ("reward_demand",)),
    ("Payment upfront is required, 0.5 BTC to my wallet.", ("reward_demand",)),
    ("I expect a reward for this finding.", ("reward_demand",)),
    ("Reageer binnen 48 uur, anders publiceer ik alles op Twitter.", ("threat",)),
    ("Als ik binnen een week niets hoor, maak ik het lek openbaar.", ("threat",)),
    ("Ik ga dit\nnaar de pers sturen als het niet binnen 2 dagen is opgepakt.", ("threat",)),
    ("If you do not respond within 48 hours I will publish the vulnerability.", ("threat",)),
    ("I will go full disclosure unless you pay $1000.", ("reward_demand", "threat")),
    # innocent look-alikes
    ("Ik wil geen beloning, ik wil alleen dat het wordt opgelost.", ()),
    ("No bounty expected, just wanted to let you know.", ()),
    ("I do not want any reward.", ()),
    ("De betaalpagina op https://betalen.gemeente.example toont eerst kaartgegevens.", ()),
    ("Bij het betalen van de parkeervergunning krijgt u dan een mail met gegevens.", ()),
    ("The payment page at /pay leaks data before login.", ()),
    ("Full disclosure: I am a student at the university.", ()),
    ("I will not publish anything before it is fixed.", ()),
    ("Ik publiceer pas als het lek is verholpen, in overleg met u.", ()),
    ("The portal publishes personal data of residents publicly.", ()),
    ("I have no intention of publishing this.", ()),
    ("Ik zal dit niet openbaar maken.", ()),
    ("Ik verwacht dat de betaling via iDEAL niet goed gaat.", ()),
    ("Graag hoor ik binnen 5 dagen van u.", ()),
    ("If you need more details I will send them.", ()),
]


@pytest.mark.parametrize(("text", "expected"), CLAIMS)
def test_claim_flags(text: str, expected: tuple[str, ...]) -> None:
    """Demands and threats in Dutch and English are flagged; look-alikes are not."""
    assert claim_flags("Melding", text) == expected


def test_reward_demand_and_threat_come_first_in_the_staff_notice(tmp_path: Path) -> None:
    """Both flags are set, audited and said above everything else in the staff notice."""
    text = (
        "Ik heb een lek in https://portaal.gemeente.example gevonden. Betaal eerst 500 euro, "
        "dan stuur ik de details. Reageer binnen 48 uur, anders publiceer ik alles."
    )
    service, _ = intake(tmp_path, text)
    case = service.store.case(CASE)
    assert case is not None
    notice = body(mail_to(tmp_path, STAFF, "staff_notice"))
    lines = notice.splitlines()
    order = [i for i, line in enumerate(lines) if line.startswith(("LET OP:", "Zaak"))]
    flagged = [e.detail for e in service.store.events(CASE) if e.kind == "flag_set"]
    assert case.flags == ("reward_demand", "threat")
    assert [lines[i].split(" de melder ")[-1].split()[0] for i in order] == [
        "vraagt",
        "dreigt",
        "Zaak",
    ]
    assert lines[order[0]] == lines[0]
    assert flagged == [
        "reward_demand: the report asks for payment or a reward",
        "threat: the report threatens publication",
    ]


#: Words of payment in an acknowledgement beyond the policy's "passende attentie".
PAYMENT_WORDS = re.compile(
    r"\b(?:bounty|bounties|betalen|betaling|betaald|vergoeding|beloning|geld|euro|pay|paid"
    r"|payment|reward|money|compensation|fee)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("text", "_flags"), CLAIMS[:14])
def test_no_acknowledgement_promises_payment(tmp_path: Path, text: str, _flags: object) -> None:
    """Whatever the report asks, the acknowledgement's only reward wording is the policy's."""
    subject = " ".join(text[:40].split())
    intake(tmp_path, text + "\nhttps://portaal.gemeente.example", subject=subject)
    ack = " ".join(body(mail_to(tmp_path, REPORTER, "acknowledgement")).split())
    own = ack.replace(subject, "")  # the subject is the reporter's text, not ours
    assert PAYMENT_WORDS.findall(own) == []
    assert ("passende attentie" in own) or ("token of appreciation" in own)


# -- placeholders the other triage items fill ------------------------------------------------


@pytest.mark.parametrize("language", ["nl", "en"])
def test_staff_notice_shows_related_and_known_finding_at_the_top(
    tmp_path: Path, language: str
) -> None:
    """`Case.related` and `Case.known_finding` render at the top of the staff notice."""
    settings = config.embedded(tmp_path)
    inp = Inputs(settings, calendar_for(settings), Renderer(), MONDAY_0700)
    case = Case(
        id=CASE,
        state=CaseState.NEW,
        subject="DMARC",
        received_at=MONDAY_0700,
        related=(("MK-2026-0012", "zelfde systeem portal.example.nl, 87 % gelijke tekst"),),
        known_finding="dmarc",
    )
    context = {
        "case": case_context(case, inp, language),
        "report_text": "",
        "attachments": [],
        "identity": identity_context(inp),
    }
    text = inp.renderer.render("staff_notice", language, context).body
    lines = [line for line in text.splitlines() if line.strip()][:3]
    looks, known = ("Lijkt op", "Bekende") if language == "nl" else ("Looks like", "Known")
    assert lines == [
        f"{looks} MK-2026-0012: zelfde systeem portal.example.nl, 87 % gelijke tekst",
        lines[1] if lines[1].startswith(f"{known} ") else f"{known} ...",
        "  Reply: dmarc",
    ]

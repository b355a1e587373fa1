"""Staff run a case by email: a whole case life, and forgeries that must change nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from factories import DESK_START as START
from factories import MX, PASS, REPORTER, STAFF, Desk

from mailbot.core.models import CaseState, Disposition
from mailbot.shell.mailbox import deliver_to_maildir

SECRET = "wachtwoord-hunter2"

OUTLOOK_QUOTE = """\

Met vriendelijke groet,

Petra de Boer
Security officer | Gemeente Voorbeeld
T 070 123 4567

Van: Meldpunt kwetsbaarheden <meldpunt@gemeente.example>
Verzonden: maandag 21 december 2026 10:00
Aan: security@gemeente.example
Onderwerp: [MK-2026-0001] Nieuwe melding: Lek in portaal

Nieuwe melding van jan@example.nl: {secret}
"""


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    """A desk with one reported case, acknowledged."""
    d = Desk(tmp_path)
    body = f"Lek op https://portaal.gemeente.example, detail: {SECRET}"
    assert d.send(f"Jan <{REPORTER}>", "Lek in portaal", body) == Disposition.NEW_CASE
    return d


def staff_reply(desk: Desk, body: str, auth: str = PASS) -> Disposition:
    """Staff answer on the case, with our MTA's Authentication-Results."""
    headers = (f"Authentication-Results: {auth}",) if auth else ()
    return desk.send(
        f"Petra de Boer <{STAFF}>",
        "RE: [MK-2026-0001] Nieuwe melding: Lek in portaal",
        body,
        *headers,
    )


def test_full_case_life_by_email(desk: Desk) -> None:
    """Confirm with text, follow-up, internal note, reward, close: each step as intended."""
    body = "Status: confirmed\n\nDank u, we hebben het lek bevestigd en werken aan een fix."
    assert staff_reply(desk, body + OUTLOOK_QUOTE.format(secret=SECRET)) == Disposition.STAFF_REPLY
    case = desk.case()
    assert case.state == CaseState.CONFIRMED
    relay = desk.mails_to(REPORTER)[-1]
    text = relay.get_content()
    assert "we hebben het lek bevestigd" in text
    for leak in ("Petra", "070 123 4567", STAFF, "Status:", "Van:", SECRET):
        assert leak not in text
    assert str(relay["From"]) == "Meldpunt kwetsbaarheden <meldpunt@gemeente.example>"
    assert "[MK-2026-0001]" in str(relay["Subject"])
    assert relay["Auto-Submitted"] is None
    assert "<case.MK-2026-0001@gemeente.example>" in str(relay["References"])
    result = desk.mails_to(STAFF)[-1]
    assert "Uitgevoerd" in str(result["Subject"])
    clocks = {c.name: c for c in desk.service.store.clocks_of_case("MK-2026-0001")}
    assert clocks["response_due"].met_by is not None

    assert desk.send(f"Jan <{REPORTER}>", "Re: [MK-2026-0001] Lek", "Nog een vraag.") == (
        Disposition.FOLLOWUP
    )
    before = len(desk.mails_to(REPORTER))
    assert staff_reply(desk, "Internal: yes\nNote: fix staat gepland\n\nAlleen voor ons.") == (
        Disposition.STAFF_REPLY
    )
    assert len(desk.mails_to(REPORTER)) == before
    assert staff_reply(desk, "Reward: yes") == Disposition.STAFF_REPLY
    reward_mail = desk.mails_to(REPORTER)[-1]
    assert "passende attentie" in reward_mail.get_content()
    assert staff_reply(desk, "Close: resolved opgelost in release 4.2") == Disposition.STAFF_REPLY
    case = desk.case()
    assert (case.state, case.reward, case.close_reason) == (
        CaseState.RESOLVED,
        "yes",
        "opgelost in release 4.2",
    )
    assert "opgelost" in desk.mails_to(REPORTER)[-1].get_content()
    open_clocks = [c for c in desk.service.store.clocks_of_case(case.id) if c.done_at is None]
    assert open_clocks == []
    kinds = [e.kind for e in desk.service.store.events(case.id)]
    assert kinds.count("note") == 1
    assert "state_changed" in kinds


def test_invalid_command_applies_and_relays_nothing(desk: Desk) -> None:
    """One bad command: nothing changes, nothing reaches the reporter, staff told why."""
    before = len(desk.mails_to(REPORTER))
    assert staff_reply(desk, "Status: confirmed\nSeverity: huge\n\nTekst.") == (
        Disposition.STAFF_REPLY
    )
    assert desk.case().state == CaseState.ACKNOWLEDGED
    assert len(desk.mails_to(REPORTER)) == before
    result = desk.mails_to(STAFF)[-1]
    assert "Niet uitgevoerd" in str(result["Subject"])
    assert "Severity: huge" in result.get_content()


def test_help_returns_the_command_list(desk: Desk) -> None:
    """`Help` gets the command list back and sends nothing to the reporter."""
    before = len(desk.mails_to(REPORTER))
    staff_reply(desk, "Help")
    content = desk.mails_to(STAFF)[-1].get_content()
    for key in (
        "Status",
        "Assign",
        "Severity",
        "Reward",
        "Reporter",
        "Close",
        "Internal",
        "Waiting",
        "Note",
    ):
        assert f"{key}:" in content
    assert len(desk.mails_to(REPORTER)) == before


@pytest.mark.parametrize(
    "auth",
    [
        f"{MX}; dmarc=fail header.from=gemeente.example",
        "",
        f"{MX}; dmarc=none header.from=gemeente.example",
    ],
    ids=["dmarc-fail", "no-authentication-results", "dmarc-none"],
)
def test_forged_staff_mail_applies_nothing_and_leaks_nothing(desk: Desk, auth: str) -> None:
    """A staff address that our MTA does not vouch for is unverified: no change, no relay."""
    before = len(desk.mails_to(REPORTER))
    body = "Status: confirmed\nReporter: evil@attacker.example\n\nAlles is opgelost."
    assert staff_reply(desk, body, auth) == Disposition.UNVERIFIED
    assert desk.case().state == CaseState.ACKNOWLEDGED
    assert len(desk.mails_to(REPORTER)) == before
    assert desk.mails_to("evil@attacker.example") == []
    assert [m for m in desk.mails_to(STAFF) if "Uitgevoerd" in str(m["Subject"])] == []


def test_trusted_header_added_below_a_failing_one_is_ignored(desk: Desk) -> None:
    """A sender-added pass below our MTA's (topmost) fail counts for nothing."""
    ours = f"Authentication-Results: {MX}; dmarc=fail header.from=gemeente.example"
    forged = f"Authentication-Results: {PASS}"
    disposition = desk.send(f"<{STAFF}>", "RE: [MK-2026-0001] x", "Status: confirmed", ours, forged)
    assert disposition == Disposition.UNVERIFIED
    assert desk.case().state == CaseState.ACKNOWLEDGED


def test_guessed_tag_from_outsider_gets_no_case_text(desk: Desk) -> None:
    """An outsider naming the case gets nothing back; no mail to them holds case text."""
    outsider = "mallory@evil.example"
    assert desk.send(outsider, "Re: [MK-2026-0001] status?", "Wat is de status?") == (
        Disposition.UNVERIFIED
    )
    assert desk.mails_to(outsider) == []
    alert = desk.mails_to(STAFF)[-1]
    assert outsider in alert.get_content()


def test_reporter_command_on_relayed_case_sends_the_acknowledgement(tmp_path: Path) -> None:
    """A relayed report without contact gets its reporter by command, then the ack."""
    desk = Desk(tmp_path)
    assert desk.send("meldpunt@vng.example", "Doorgestuurd", "Melding zonder adres.") == (
        Disposition.NEW_CASE
    )
    assert desk.case().flags == ("no_contact",)
    staff_reply(desk, "Reporter: k.bakker@mail.example")
    case = desk.case()
    assert (case.reporter_email, case.flags) == ("k.bakker@mail.example", ())
    ack = desk.mails_to("k.bakker@mail.example")
    assert len(ack) == 1
    assert "[MK-2026-0001]" in str(ack[0]["Subject"])
    assert case.acknowledged_at is not None


def test_staff_attachment_is_relayed_unless_internal(desk: Desk) -> None:
    """A PDF from staff reaches the reporter with the relayed text; not when internal."""

    def reply_with_pdf(body: str) -> None:
        msg = EmailMessage()
        msg["From"] = f"Petra <{STAFF}>"
        msg["To"] = "meldpunt@gemeente.example"
        msg["Subject"] = "RE: [MK-2026-0001] Lek"
        desk.count += 1
        msg["Message-ID"] = f"<pdf{desk.count}@gemeente.example>"
        msg["Authentication-Results"] = PASS
        msg.set_content(body)
        msg.add_attachment(
            b"%PDF-1.4 rapport",
            maintype="application",
            subtype="pdf",
            filename="../rapport \u00e9\r\nBcc: x.pdf",
        )
        desk.clock.set(START + timedelta(minutes=desk.count))
        deliver_to_maildir(desk.inbox, bytes(msg), desk.clock.now())
        asyncio.run(desk.service.run_once())

    reply_with_pdf("Zie het rapport in de bijlage.")
    relay = desk.mails_to(REPORTER)[-1]
    files = [
        (p.get_filename(), p.get_content_type(), p.get_content()) for p in relay.iter_attachments()
    ]
    assert len(files) == 1
    name, kind, data = files[0]
    assert (kind, data) == ("application/pdf", b"%PDF-1.4 rapport")
    assert "/" not in name and "\n" not in name and "\r" not in name
    assert relay["Bcc"] is None
    assert "Zie het rapport" in relay.get_body(("plain",)).get_content()
    before = len(desk.mails_to(REPORTER))
    reply_with_pdf("Internal: yes\n\nAlleen intern.")
    assert len(desk.mails_to(REPORTER)) == before


def test_invisible_characters_before_internal_keep_the_mail_internal(desk: Desk) -> None:
    """A byte-order mark and a zero-width space before `Internal: yes`: still internal."""
    before = len(desk.mails_to(REPORTER))
    body = "\ufeff\u200bInternal:\u00a0yes\nNote: leverancier\u200d gebeld\n\nAlleen voor ons."
    assert staff_reply(desk, body) == Disposition.STAFF_REPLY
    notes = [e.detail for e in desk.service.store.events(desk.case().id) if e.kind == "note"]
    assert (len(desk.mails_to(REPORTER)) - before, notes) == (0, ["leverancier gebeld"])


def test_internal_line_below_the_text_relays_nothing(desk: Desk) -> None:
    """`Internal: yes` under a greeting is not applied: nothing relayed, staff told why."""
    before = len(desk.mails_to(REPORTER))
    staff_reply(desk, "Note: gebeld\nBeste melder,\nInternal: yes\n\nDe patch komt pas in Q3.")
    result = desk.mails_to(STAFF)[-1]
    assert (len(desk.mails_to(REPORTER)) - before, "Niet uitgevoerd" in str(result["Subject"])) == (
        0,
        True,
    )
    assert "Internal: yes" in result.get_content()


def test_long_attachment_name_reaches_the_reporter_within_line_limits(desk: Desk) -> None:
    """A 600-character name: relayed as RFC 2231 continuations, every line within 998."""
    msg = EmailMessage()
    msg["From"] = f"Petra <{STAFF}>"
    msg["To"] = "meldpunt@gemeente.example"
    msg["Subject"] = "RE: [MK-2026-0001] Lek"
    msg["Message-ID"] = "<longname@gemeente.example>"
    msg["Authentication-Results"] = PASS
    msg.set_content("Zie de bijlage.")
    name = "\u00e9\u20ac" * 300 + ".pdf"
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename=name)
    desk.clock.set(START + timedelta(minutes=30))
    deliver_to_maildir(desk.inbox, bytes(msg), desk.clock.now())
    asyncio.run(desk.service.run_once())
    relay = desk.mails_to(REPORTER)[-1]
    (attachment,) = relay.iter_attachments()
    longest = max(
        len(line) for f in (desk.outbox / "new").iterdir() for line in f.read_bytes().split(b"\r\n")
    )
    assert (attachment.get_filename(), longest <= 998) == (name[:251] + ".pdf", True)


def test_acknowledgement_named_by_staff_is_not_threaded_to_staff_mail(tmp_path: Path) -> None:
    """`Reporter:` sends the acknowledgement without the staff mail's Message-ID or thread."""
    desk = Desk(tmp_path)
    desk.send("meldpunt@vng.example", "Doorgestuurd", "Melding zonder adres.")
    staff_reply(desk, "Reporter: k.bakker@mail.example")
    (ack,) = desk.mails_to("k.bakker@mail.example")
    staff_ids = {f"<m{n}@gemeente.example>" for n in range(1, desk.count + 1)}
    references = set(str(ack["References"] or "").split())
    assert (ack["In-Reply-To"], references & staff_ids) == (None, set())
    assert references == {"<case.MK-2026-0001@gemeente.example>"}

"""Staff mail must not leak (issue 12, items 7, 8): Internal: lines, flowed text, inline images."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from factories import DESK_START as START
from factories import PASS, REPORTER, STAFF, Desk
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import config
from mailbot.core.classify import Verdict
from mailbot.core.effects import Inputs, Plan
from mailbot.core.models import Case, CaseState, Disposition, InboundMessage
from mailbot.core.staffmail import plan_staff_reply
from mailbot.mail import parsing
from mailbot.mail.flowed import decode_flowed, flowed_params, unflow_part
from mailbot.mail.relayparts import deliberate_parts
from mailbot.mail.rendering import Renderer
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import calendar_for

NOW = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)
SETTINGS = config.embedded(Path("/nonexistent"))
INPUTS = Inputs(SETTINGS, calendar_for(SETTINGS), Renderer(), NOW)
CASE = Case(
    id="MK-2026-0001",
    state=CaseState.ACKNOWLEDGED,
    subject="Lek in portaal",
    received_at=NOW - timedelta(hours=1),
    reporter_email=REPORTER,
    acknowledged_at=NOW - timedelta(hours=1),
)
LONG_NOTE = (
    "Note: leverancier gebeld, die zegt dat de patch pas in het kwartaal na de volgende "
    "release komt en dat we de melder daar vooral niets over moeten vertellen"
)


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    """A desk (test_staff_email.Desk) with one reported, acknowledged case."""
    office = Desk(tmp_path)
    office.send(f"Jan <{REPORTER}>", "Lek in portaal", "Lek op https://portaal.gemeente.example")
    return office


def plan(text: str, attachments: Sequence[tuple[str, str, bytes]] = ()) -> Plan:
    """What the staff mail with body `text` on CASE plans (pure, no store)."""
    msg = InboundMessage(
        raw_sha256="0" * 64,
        size=len(text),
        received_at=NOW,
        message_id="staff1@gemeente.example",
        subject="RE: [MK-2026-0001] Lek in portaal",
        from_address=STAFF,
        from_name="Petra",
        text=text,
    )
    verdict = Verdict(Disposition.STAFF_REPLY, "staff", CASE.id)
    return plan_staff_reply(msg, verdict, CASE, frozenset({CASE.id}), INPUTS, attachments)


def to_reporter(result: Plan) -> list[str]:
    """Kinds of the planned mails that go to the reporter."""
    return [q.mail.kind for q in result.mails if REPORTER in q.mail.recipients]


def flow(text: str, width: int) -> str:
    """`text` as a format=flowed sender writes it (DelSp=no): soft breaks, space-stuffing."""
    out: list[str] = []
    for original in text.split("\n"):
        line = _stuff(original)
        while len(line) > width and " " in line[1:width]:
            cut = line.rindex(" ", 1, width) + 1
            if line[:cut] == "-- ":  # a wrapped piece must not read as a signature separator
                cut = line.find(" ", cut) + 1
            if cut == 0 or cut == len(line):
                break
            out.append(line[:cut])
            line = _stuff(line[cut:])
        out.append(line)
    return "\r\n".join(out)


def _stuff(line: str) -> str:
    return " " + line if line.startswith((" ", ">", "From ")) else line


# --- format=flowed (RFC 3676) ------------------------------------------------------------


def test_flowed_soft_breaks_are_joined() -> None:
    """Lines ending in a space continue; the space stays (DelSp=no); a fixed line ends it."""
    text = "Note: a long \r\nline that \r\nwraps\r\nInternal: yes\r\n"
    assert decode_flowed(text) == "Note: a long line that wraps\nInternal: yes\n"


def test_flowed_delsp_removes_the_break_space() -> None:
    """With DelSp=yes the space that marks the soft break is not part of the text."""
    assert decode_flowed("Lang woord-\r\nafbreking \r\nhier\r\n", delsp=True) == (
        "Lang woord-\nafbrekinghier\n"
    )


def test_flowed_space_stuffing_is_removed() -> None:
    """One leading space (after any quote marks) is stuffing and goes; a second one stays."""
    assert decode_flowed(" From me\r\n  indented\r\n> quoted\r\n>  two\r\n") == (
        "From me\n indented\n> quoted\n>  two\n"
    )


def test_flowed_quote_depth_change_ends_the_paragraph() -> None:
    """A flowed line followed by a line of another quote depth is taken as fixed."""
    text = "Mijn tekst \r\n> eerder \r\n> bericht \r\n>> nog eerder\r\nslot\r\n"
    assert decode_flowed(text) == "Mijn tekst \n> eerder bericht \n>> nog eerder\nslot\n"


def test_flowed_signature_separator_is_not_flowed() -> None:
    """`-- ` stays a line of its own: it neither joins the next line nor the one above."""
    assert decode_flowed("Groet \r\n-- \r\nPetra\r\n") == "Groet \n-- \nPetra\n"


def test_flowed_last_line_flowed_and_empty_quote() -> None:
    """A flowed last line is kept as it is; a bare quote mark stays a bare quote mark."""
    assert decode_flowed(">\r\nslot ") == ">\nslot "


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.text(st.characters(exclude_characters="\r\n\x85\u2028\u2029\x0b\x0c\x1c\x1d\x1e")).map(
            lambda line: line.rstrip(" ")
        ),
        max_size=8,
    ),
    width=st.integers(10, 78),
)
def test_flowed_round_trip(lines: list[str], width: int) -> None:
    """Whatever a flowed sender wraps and stuffs, decoding gives the original lines back."""
    text = "\n".join(lines)
    assert decode_flowed(flow(text, width)) == text


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/plain; charset=UTF-8; format=flowed", (True, False)),
        ('text/plain; format="Flowed"; delsp=YES', (True, True)),
        ("text/plain; charset=UTF-8", (False, False)),
        ("text/plain; format=fixed; delsp=yes", (False, True)),
        ("text/plain; format*=utf-8''flowed", (True, False)),
    ],
)
def test_flowed_params(content_type: str, expected: tuple[bool, bool]) -> None:
    """format=flowed and DelSp=yes are read case-insensitively, quoted or RFC 2231."""
    part = email.message_from_string(f"Content-Type: {content_type}\n\nx\n")
    assert flowed_params(part) == expected


def test_unflow_part_only_unflows_flowed_parts() -> None:
    """A fixed part's text is returned as it is; a flowed part's text is decoded."""
    fixed = email.message_from_string("Content-Type: text/plain\n\nx\n")
    flowed = email.message_from_string("Content-Type: text/plain; format=flowed\n\nx\n")
    assert (unflow_part(fixed, "a \nb"), unflow_part(flowed, "a \nb")) == ("a \nb", "a b")


# --- Internal: is applied, or nothing is relayed ------------------------------------------

INVISIBLE = st.sampled_from(["\ufeff", "\u200b", "\u200d", "\u2060", "\u200f", "\u202e", "\u00ad"])


@st.composite
def internal_line_variants(draw: st.DrawFn) -> str:
    """`Internal: yes` in any case, with invisible characters and spaces anywhere."""
    line = "".join(
        char.upper() if draw(st.booleans()) else char.lower() for char in "Internal: yes"
    )
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(INVISIBLE) + line[at:]
    return draw(st.sampled_from(["", " ", "\u00a0", "\t"])) + line


BEFORE = st.sampled_from(
    [
        *("Status: confirmed", "Severity: high", "Reward: yes", "Waiting: yes", LONG_NOTE, ""),
        *("Beste melder,", "Dank voor uw melding; we kijken ernaar.", LONG_NOTE[6:], "Help"),
    ]
)
AFTER = st.sampled_from(
    ["", "Met vriendelijke groet,", "Petra de Boer", "> eerder bericht", "Tekst na de regel."]
)


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(BEFORE, max_size=5),
    line=internal_line_variants(),
    after=st.lists(AFTER, max_size=4),
    width=st.none() | st.integers(20, 78),
    decoded=st.booleans(),
)
def test_internal_yes_is_applied_or_nothing_is_relayed(
    before: list[str], line: str, after: list[str], width: int | None, decoded: bool
) -> None:
    """Any staff text with an `Internal: yes` line anywhere: no mail reaches the reporter."""
    text = "\n".join([*before, line, *after])
    if width is not None:
        text = flow(text, width)
        text = decode_flowed(text) if decoded else text.replace("\r\n", "\n")
    result = plan(text)
    kinds = {event.kind for event in result.events}
    assert (to_reporter(result), bool(kinds & {"internal", "commands_refused"})) == ([], True)


def test_wrapped_note_above_internal_refuses_and_says_why() -> None:
    """A Note line wrapped by the mail program pushes Internal: down: refused, explained."""
    result = plan(flow(f"{LONG_NOTE}\nInternal: yes\n\nBeste melder, intern.", 72))
    report = email.message_from_bytes(result.mails[-1].mail.raw, policy=email.policy.default)
    content = report.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    refused = "Niet uitgevoerd" in str(report["Subject"])
    assert (to_reporter(result), "Internal: yes" in content, refused) == ([], True, True)


def test_decoded_flowed_note_keeps_internal_applied() -> None:
    """Once flowed text is decoded, the wrapped Note is one note and Internal: yes applies."""
    text = decode_flowed(flow(f"{LONG_NOTE}\nInternal: yes\n\nBeste melder, intern.", 40))
    result = plan(text)
    notes = [event.detail for event in result.events if event.kind == "note"]
    assert (to_reporter(result), notes) == ([], [LONG_NOTE.removeprefix("Note: ")])


SECRET_TEXT = "Geheim, de patch komt pas in Q3."


def thunderbird_flowed(body: str, count: int) -> bytes:
    """A Thunderbird-shaped plain-text staff reply: format=flowed, wrapped at 72."""
    head = (
        f"From: Petra de Boer <{STAFF}>\r\nTo: meldpunt@gemeente.example\r\n"
        f"Subject: Re: [MK-2026-0001] Nieuwe melding: Lek in portaal\r\n"
        f"Message-ID: <tb{count}@gemeente.example>\r\nAuthentication-Results: {PASS}\r\n"
        "MIME-Version: 1.0\r\nUser-Agent: Mozilla Thunderbird\r\n"
        "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return (head + flow(body, 72) + "\r\n").encode()


def deliver(desk: Desk, raw: bytes) -> None:
    """Deliver `raw` to the desk one minute after the last mail and run once."""
    desk.count += 1
    desk.clock.set(START + timedelta(minutes=desk.count))
    deliver_to_maildir(desk.inbox, raw, desk.clock.now())
    asyncio.run(desk.service.run_once())


def test_thunderbird_flowed_internal_mail_reaches_no_reporter(desk: Desk) -> None:
    """End to end: a flowed Thunderbird reply, wrapped Note, Internal: yes: nothing leaks."""
    before = len(desk.mails_to(REPORTER))
    deliver(desk, thunderbird_flowed(f"{LONG_NOTE}\nInternal: yes\n\n{SECRET_TEXT}", 1))
    relayed = [m.get_content() for m in desk.mails_to(REPORTER)[before:]]
    assert (relayed, desk.case().state) == ([], CaseState.ACKNOWLEDGED)


def test_thunderbird_flowed_internal_mail_is_applied(desk: Desk) -> None:
    """End to end, once parsing unflows: the wrapped Note is one note, Internal: yes applied."""
    deliver(desk, thunderbird_flowed(f"{LONG_NOTE}\nInternal: yes\n\n{SECRET_TEXT}", 1))
    notes = [e.detail for e in desk.service.store.events(CASE.id) if e.kind == "note"]
    assert notes == [LONG_NOTE.removeprefix("Note: ")]


# --- deliberate attachments only (item 8) ---------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n signature logo"
PDF = b"%PDF-1.4 rapport"


def image(name: str, cid: str | None, disposition: str | None) -> EmailMessage:
    """An image part as mail programs write signature images."""
    part = EmailMessage()
    part.set_content(PNG, maintype="image", subtype="png", disposition=disposition, filename=name)
    if disposition is None:
        del part["Content-Disposition"]
        part.set_param("name", name)
    if cid:
        part["Content-ID"] = f"<{cid}>"
    return part


def html_with(images: list[EmailMessage]) -> EmailMessage:
    """multipart/related: an HTML body and the images it shows."""
    related = EmailMessage()
    related.set_content("<p>Beste melder,</p><img src='cid:logo'>", subtype="html")
    related.make_related()
    for part in images:
        related.attach(part)
    return related


def staff_mail(body: Message, *extra: Message) -> bytes:
    """A staff reply: multipart/mixed of (plain text | `body`) alternatives and `extra`."""
    alternative = EmailMessage()
    alternative.add_header("Content-Type", "multipart/alternative")
    alternative.set_payload([_plain("Beste melder,\n\nZie de bijlage.\n"), body])
    msg = EmailMessage()
    msg["From"] = f"Petra <{STAFF}>"
    msg["To"] = "meldpunt@gemeente.example"
    msg["Subject"] = "RE: [MK-2026-0001] Lek"
    msg["Authentication-Results"] = PASS
    msg["MIME-Version"] = "1.0"
    msg.add_header("Content-Type", "multipart/mixed")
    msg.set_payload([alternative, *extra])
    return bytes(msg)


def _plain(text: str) -> EmailMessage:
    part = EmailMessage()
    part.set_content(text)
    return part


def pdf_attachment(name: str = "rapport.pdf") -> EmailMessage:
    """A deliberate attachment: Content-Disposition: attachment."""
    part = EmailMessage()
    part.set_content(PDF, maintype="application", subtype="pdf", filename=name)
    return part


def relayed_names(raw: bytes) -> list[str]:
    """Names of the parts attachment_payloads would relay."""
    return [name for name, _, _ in parsing.attachment_payloads(raw, 10**6)]


OUTLOOK_SIGNATURE = b"""\
From: Petra de Boer <security@gemeente.example>\r
To: meldpunt@gemeente.example\r
Subject: RE: [MK-2026-0001] Lek\r
Message-ID: <ol1@gemeente.example>\r
Authentication-Results: mx.gemeente.example; dkim=pass header.d=gemeente.example;\r
 dmarc=pass header.from=gemeente.example\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="_mixed_"\r
\r
--_mixed_\r
Content-Type: multipart/related; boundary="_related_"; type="multipart/alternative"\r
\r
--_related_\r
Content-Type: multipart/alternative; boundary="_alt_"\r
\r
--_alt_\r
Content-Type: text/plain; charset="us-ascii"\r
\r
Beste melder, zie bijlage.\r
--_alt_\r
Content-Type: text/html; charset="us-ascii"\r
\r
<p>Beste melder, zie bijlage.</p><img src="cid:image001.png@01DB0000.00000000">\r
--_alt_--\r
--_related_\r
Content-Type: image/png; name="image001.png"\r
Content-Description: image001.png\r
Content-Disposition: inline; filename="image001.png"; size=16;\r
Content-ID: <image001.png@01DB0000.00000000>\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgogc2lnbmF0dXJlIGxvZ28=\r
--_related_--\r
--_mixed_\r
Content-Type: application/pdf; name="rapport.pdf"\r
Content-Description: rapport.pdf\r
Content-Disposition: attachment; filename="rapport.pdf"; size=16;\r
Content-Transfer-Encoding: base64\r
\r
JVBERi0xLjQgcmFwcG9ydA==\r
--_mixed_--\r
"""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (OUTLOOK_SIGNATURE, ["rapport.pdf"]),
        # Thunderbird: related image with Content-ID and an inline disposition.
        (
            staff_mail(html_with([image("logo.png", "logo", "inline")]), pdf_attachment()),
            ["rapport.pdf"],
        ),
        # Apple Mail: related image with Content-Id, no disposition.
        (
            staff_mail(html_with([image("sig.png", "logo", None)]), pdf_attachment()),
            ["rapport.pdf"],
        ),
        # Gmail: related image marked attachment but with a Content-ID the HTML shows.
        (staff_mail(html_with([image("img.png", "logo", "attachment")])), []),
        # An inline image outside multipart/related (Apple Mail's pasted picture).
        (staff_mail(_plain("x"), image("photo.png", None, "inline")), []),
        # A Content-ID resource without a disposition outside related.
        (staff_mail(_plain("x"), image("cid.png", "cid1", None)), []),
        # Deliberately attached screenshot, also with a Content-ID (Outlook adds one).
        (staff_mail(_plain("x"), image("screen.png", "s1", "attachment")), ["screen.png"]),
        # A named part without a disposition outside related.
        (staff_mail(_plain("x"), image("named.png", None, None)), ["named.png"]),
    ],
    ids=[
        "outlook",
        "thunderbird",
        "apple-mail",
        "gmail-related-attachment",
        "inline-image",
        "cid-without-disposition",
        "attached-screenshot",
        "named-part",
    ],
)
def test_only_deliberate_attachments_are_relayed(raw: bytes, expected: list[str]) -> None:
    """Signature and inline images never count as attachments; attached files do."""
    assert relayed_names(raw) == expected


@pytest.mark.parametrize(
    ("maintype", "subtype", "name"),
    [
        ("application", "ms-tnef", "winmail.dat"),
        ("application", "octet-stream", "WINMAIL.DAT"),
        ("application", "pkcs7-signature", "smime.p7s"),
        ("application", "pgp-keys", "OpenPGP_0xDEADBEEF.asc"),
        ("application", "pgp-signature", "signature.asc"),
        ("text", "vcard", "Petra de Boer.vcf"),
        ("application", "octet-stream", "petra.VCF"),
    ],
)
def test_automatic_attachments_are_never_relayed(maintype: str, subtype: str, name: str) -> None:
    """TNEF copies, S/MIME and OpenPGP signatures and keys, business cards stay home."""
    part = EmailMessage()
    part.set_content(b"secret staff data", maintype=maintype, subtype=subtype, filename=name)
    assert relayed_names(staff_mail(_plain("x"), part, pdf_attachment())) == ["rapport.pdf"]


def test_attached_mail_is_not_taken_apart() -> None:
    """A forwarded mail (message/rfc822) and its attachments are never relayed."""
    inner = EmailMessage()
    inner["Subject"] = "intern"
    inner.set_content("intern")
    inner.add_attachment(PDF, maintype="application", subtype="pdf", filename="intern.pdf")
    forwarded = EmailMessage()
    forwarded.set_content(inner)
    assert relayed_names(staff_mail(_plain("x"), forwarded)) == []


@pytest.mark.parametrize(
    ("start", "expected"), [("", ["res.pdf"]), ('; start="<root@x>"', [])], ids=["first", "start"]
)
def test_related_root_is_first_part_or_named_by_start(start: str, expected: list[str]) -> None:
    """The root of multipart/related is its first part, or the one `start` names."""
    related = email.message_from_string(
        f'Content-Type: multipart/related; boundary="b"{start}\n\n'
        "--b\nContent-Type: application/pdf; name=res.pdf\nContent-Location: res.pdf\n\nx\n"
        "--b\nContent-Type: text/html\nContent-ID: <root@x>\n\n<p>x</p>\n--b--\n"
    )
    parts = deliberate_parts(related, 100, 10)
    assert [p.get_filename() for p in parts] == expected


def test_outlook_signature_image_stays_out_of_the_relay(desk: Desk) -> None:
    """End to end: the reporter gets the PDF, not image001.png; the result mail says so."""
    deliver(desk, OUTLOOK_SIGNATURE)
    relay = desk.mails_to(REPORTER)[-1]
    files = [part.get_filename() for part in relay.iter_attachments()]
    result = desk.mails_to(STAFF)[-1].get_content()
    assert (files, "niet doorgestuurd" in result, "image001.png" in result) == (
        ["rapport.pdf"],
        True,
        True,
    )

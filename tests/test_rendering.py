"""Tests of mailbot.rendering: templates, safe headers, threading IDs, dates."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.errors import MailbotError
from mailbot.core.models import OutgoingMail
from mailbot.mail.assembly import (
    address_field,
    mailbox_field,
    quoted_printable,
    text_field,
    text_mail,
)
from mailbot.mail.rendering import (
    LOOP_HEADER,
    Identity,
    MailInputError,
    Renderer,
    build_mail,
    case_reference,
    clean_body_text,
    clean_header_text,
    format_moment,
    is_own_message_id,
    make_message_id,
)
from mailbot.mail.template_files import RenderError, packaged_templates_dir

AMS = ZoneInfo("Europe/Amsterdam")
IDENTITY = Identity("meldpunt@gemeente.example", "Meldpunt kwetsbaarheden", "Gemeente Voorbeeld")
CASE_ID = "MK-2026-0042"
CASE_REF = "case.MK-2026-0042@gemeente.example"
MESSAGE_ID = "mailbot.acknowledgement.MK-2026-0042.3f5a9c0e11d2b7a4c6e8@gemeente.example"
DATE = datetime(2026, 12, 21, 10, 0, 3, tzinfo=AMS)
TEMPLATES = ("acknowledgement", "staff_notice", "followup_notice", "alert", "unverified_notice")
BODY_HEADERS = ["Content-Transfer-Encoding", "Content-Type", "MIME-Version"]
AUTOMATIC_HEADERS = sorted(
    [
        "From",
        "To",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "References",
        "Auto-Submitted",
        "X-Auto-Response-Suppress",
        LOOP_HEADER,
        *BODY_HEADERS,
    ]
)
INJECTIONS = [
    "\r\nBcc: evil@attacker.example",
    "=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?=",
    "nul\x00byte\x00Bcc: evil@attacker.example",
    "A" * 2000,
    "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ ''.__class__ }}",
    "\nTo: evil@attacker.example\n\nfake body",
    "line\u2028Cc: evil@attacker.example\x85Bcc: evil@attacker.example",
]


def case_data(**changes: object) -> dict[str, object]:
    """A realistic case mapping as the service passes it to templates."""
    data: dict[str, object] = {
        "id": CASE_ID,
        "subject": "SQL-injectie op het inlogformulier",
        "reporter_name": "Jan de Vries",
        "reporter_email": "jan@example.org",
        "reporter_phone": "+31 6 12345678",
        "source": "relay",
        "relay_sender": "meldpunt@vng.example",
        "flags": ["relayed"],
        "flag_texts": ["relayed"],
        "affected": ["https://www.gemeente.example/login", "192.0.2.17"],
        "received": "maandag 21 december 2026 om 10:00",
        "ack_due": "dinsdag 22 december 2026 om 17:00",
        "ack_explanation": "ontvangen ma 21 dec 10:00 -> ontvangstdag ma 21 dec -> di 22 dec 17:00",
        "response_due": "dinsdag 29 december 2026 om 17:00",
        "response_explanation": "ontvangstdag ma 21 dec; 25 en 26 dec gesloten -> di 29 dec 17:00",
    }
    data.update(changes)
    return data


def context(
    name: str, text: str = "Onderzoek naar /login?id=1", **case: object
) -> dict[str, object]:
    """A full context for template `name`, with reporter `text` where that template has some."""
    the_case = case_data(**case)
    if name == "acknowledgement":
        return {"case": the_case, "identity": IDENTITY}
    if name == "staff_notice":
        attachments = [
            {
                "filename": "poc.txt",
                "content_type": "text/plain",
                "size": 2048,
                "size_text": "2.0 kB",
            }
        ]
        return {
            "case": the_case,
            "report_text": text,
            "attachments": attachments,
            "identity": IDENTITY,
        }
    if name == "followup_notice":
        return {"case": the_case, "message_text": text, "from_address": "jan@example.org"}
    if name == "alert":
        alert = {
            "title": "Bezorging mislukt",
            "reason": text,
            "details": ["550 5.1.1 user unknown"],
        }
        return {"alert": alert, "identity": IDENTITY, "case": the_case}
    return {
        "case": the_case,
        "from_address": "spoof@attacker.example",
        "reason": "afzender is niet de melder",
        "message_text": text,
    }


def parse(raw: bytes) -> EmailMessage:
    """The raw bytes as a receiving mail client reads them."""
    return cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))


def build(
    subject: str = "[MK-2026-0042] Test", body: str = "Tekst\n", **changes: Any
) -> OutgoingMail:
    """build_mail with realistic defaults."""
    arguments: dict[str, Any] = {
        "kind": "acknowledgement",
        "identity": IDENTITY,
        "to": ["jan@example.org"],
        "subject": subject,
        "body": body,
        "message_id": MESSAGE_ID,
        "date": DATE,
        "case_id": CASE_ID,
    }
    arguments.update(changes)
    return build_mail(**arguments)


def body_of(message: EmailMessage) -> str:
    """The decoded text body, with the wire's CRLF line ends as LF."""
    return cast(str, message.get_content()).replace("\r\n", "\n")


def visible(text: str) -> str:
    """Printable, non-space characters only (what survives any header or body cleaning)."""
    return "".join(c for c in text if c.isprintable() and not c.isspace() and c != "\ufffd")


def assert_wire_safe(raw: bytes) -> None:
    """Every line ends CRLF, none is longer than 998 octets."""
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


# --- templates -----------------------------------------------------------------------

MARKERS = {
    ("acknowledgement", "nl"): "Hartelijk dank voor uw melding",
    ("acknowledgement", "en"): "Thank you for your report",
    ("staff_notice", "nl"): "Zo handelt u deze melding af",
    ("staff_notice", "en"): "How to act on this report",
    ("followup_notice", "nl"): "heeft opnieuw geschreven",
    ("followup_notice", "en"): "has written again",
    ("alert", "nl"): "automatisch verstuurd door de mailbot",
    ("alert", "en"): "sent automatically by the mailbot",
    ("unverified_notice", "nl"): "geen geverifieerde",
    ("unverified_notice", "en"): "nor a verified member of staff",
}


def test_packaged_templates_dir_is_the_repository_folder() -> None:
    """Outside a wheel the packaged templates are <repo>/templates."""
    assert packaged_templates_dir() == Path(__file__).resolve().parent.parent / "templates"


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_exists_in_both_languages(name: str, language: str) -> None:
    """Each of the five templates has its own nl and en file (no silent fallback)."""
    assert (packaged_templates_dir() / language / f"{name}.txt").is_file()


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_with_a_realistic_context(name: str, language: str) -> None:
    """Each template renders in its language, carries the tag and the case's text."""
    rendered = Renderer().render(name, language, context(name))
    assert rendered.subject.startswith("[MK-2026-0042] ")
    assert MARKERS[(name, language)] in " ".join(rendered.body.split())
    assert "MK-2026-0042" in rendered.body
    assert rendered.body.endswith("\n") and not rendered.body.startswith("\n")


@pytest.mark.parametrize("name", TEMPLATES)
def test_missing_context_variable_raises(name: str) -> None:
    """StrictUndefined: leaving out any context variable is an error, not an empty string."""
    full = context(name)
    for key in full:
        if name == "alert" and key == "case":
            continue
        partial = {k: v for k, v in full.items() if k != key}
        with pytest.raises(RenderError, match=key):
            Renderer().render(name, "nl", partial)


def test_missing_case_field_raises() -> None:
    """A case mapping without its id cannot render an acknowledgement."""
    the_case = {k: v for k, v in case_data().items() if k != "id"}
    with pytest.raises(RenderError, match="id"):
        Renderer().render("acknowledgement", "nl", {"case": the_case, "identity": IDENTITY})


@pytest.mark.parametrize("language", ["nl", "en"])
def test_acknowledgement_restates_the_policy(language: str) -> None:
    """The acknowledgement names the due date, the tag, the rules, confidentiality and reward."""
    body = " ".join(
        Renderer().render("acknowledgement", language, context("acknowledgement")).body.split()
    )
    phrases = {
        "nl": [
            "Beste Jan de Vries,",
            "uiterlijk dinsdag 29 december 2026 om 17:00 een inhoudelijke reactie",
            "laat [MK-2026-0042] in het onderwerp staan",
            "zo snel mogelijk nadat u de kwetsbaarheid heeft ontdekt",
            "voldoende informatie om het probleem te reproduceren",
            "minimaal een e-mailadres of telefoonnummer",
            "informatie over het beveiligingsprobleem delen met anderen",
            "malware plaatsen",
            "kopiëren, wijzigen of verwijderen, of een directory listing",
            "veranderingen in het systeem aanbrengen",
            "herhaaldelijk binnentreden of de toegang delen met anderen",
            "bruteforcen",
            "denial-of-service of social engineering",
            "vertrouwelijk",
            "geen juridische gevolgen",
            "passende attentie",
        ],
        "en": [
            "Dear Jan de Vries,",
            "no later than dinsdag 29 december 2026 om 17:00",
            "keep [MK-2026-0042] in the subject line",
            "as soon as possible after discovering it",
            "enough information to reproduce the problem",
            "at least an email address or a telephone number",
            "share information about the security problem with others",
            "place malware",
            "copy, change or delete data in a system, or make a directory listing",
            "make changes to the system",
            "repeatedly access the system or share access with others",
            "brute force",
            "denial-of-service or social engineering",
            "confidentially",
            "no legal consequences",
            "token of appreciation",
        ],
    }[language]
    assert [p for p in phrases if p not in body] == []


def test_acknowledgement_without_reporter_name_greets_the_reporter() -> None:
    """An empty reporter name gives a neutral greeting."""
    rendered = Renderer().render(
        "acknowledgement", "nl", context("acknowledgement", reporter_name="")
    )
    assert rendered.body.splitlines()[0] == "Beste melder,"


@pytest.mark.parametrize("language", ["nl", "en"])
def test_staff_notice_shows_the_case_and_every_command(language: str) -> None:
    """The staff notice lists reporter, relay, systems, deadlines, attachments, report, commands."""
    rendered = Renderer().render("staff_notice", language, context("staff_notice", "Het rapport."))
    lines = rendered.body.splitlines()
    for expected in [
        "jan@example.org",
        "+31 6 12345678",
        "meldpunt@vng.example",
        "  - https://www.gemeente.example/login",
        "  - 192.0.2.17",
        "ontvangstdag ma 21 dec; 25 en 26 dec gesloten -> di 29 dec 17:00",
        "Het rapport.",
    ]:
        assert expected in rendered.body
    assert any(line.startswith("  - poc.txt (text/plain, 2.0 kB)") for line in lines)
    commands = ["Status", "Assign", "Severity", "Reward", "Reporter", "Close", "Internal"]
    commands += ["Waiting", "Note"]
    assert [c for c in commands if not any(ln.startswith(f"  {c}: ") for ln in lines)] == []
    assert any(line.startswith("  Help ") for line in lines)
    assert 'Internal: yes"' in rendered.body


def test_staff_notice_without_contact_warns_staff() -> None:
    """A case flagged no_contact says so in plain words."""
    ctx = context("staff_notice", flags=["no_contact"], reporter_email=None, reporter_phone=None)
    body = Renderer().render("staff_notice", "en", ctx).body
    assert "no usable email address or phone number" in body
    assert "  Email:        (unknown)" in body


@pytest.mark.parametrize("case", ["absent", None])
def test_alert_without_case_has_no_tag(case: str | None) -> None:
    """An alert renders with `case` None or absent, and then has no tag."""
    ctx = context("alert", "Verbinding met de IMAP-server verloren")
    if case == "absent":
        del ctx["case"]
    else:
        ctx["case"] = None
    rendered = Renderer().render("alert", "en", ctx)
    assert rendered.subject == "Alert Meldpunt kwetsbaarheden: Bezorging mislukt"
    assert "Verbinding met de IMAP-server verloren" in rendered.body
    assert "  - 550 5.1.1 user unknown" in rendered.body


def write_template(folder: Path, language: str, name: str, text: str) -> None:
    """Put one template file in an override folder."""
    (folder / language).mkdir(parents=True, exist_ok=True)
    (folder / language / f"{name}.txt").write_text(text, encoding="utf-8")


def test_override_dir_beats_packaged_file_by_file(tmp_path: Path) -> None:
    """An override file wins for its own name and language only."""
    write_template(
        tmp_path,
        "nl",
        "acknowledgement",
        "{# doc #}\nSubject: Eigen {{ case.id }}\n\nEigen tekst\n",
    )
    renderer = Renderer(tmp_path)
    own = renderer.render("acknowledgement", "nl", context("acknowledgement"))
    packaged_en = renderer.render("acknowledgement", "en", context("acknowledgement"))
    packaged_nl = renderer.render("staff_notice", "nl", context("staff_notice"))
    assert (own.subject, own.body) == ("Eigen MK-2026-0042", "Eigen tekst\n")
    assert (
        packaged_en.subject == "[MK-2026-0042] Acknowledgement: SQL-injectie op het inlogformulier"
    )
    assert packaged_nl.subject.startswith("[MK-2026-0042] Nieuwe melding: ")


def test_language_without_the_template_falls_back_to_nl(tmp_path: Path) -> None:
    """A language with only some templates gets the Dutch one for the rest."""
    write_template(tmp_path, "de", "acknowledgement", "Subject: Eingang {{ case.id }}\n\nDanke\n")
    renderer = Renderer(tmp_path)
    assert renderer.render("acknowledgement", "de", context("acknowledgement")).body == "Danke\n"
    dutch = renderer.render("alert", "nl", context("alert"))
    assert renderer.render("alert", "de", context("alert")) == dutch


@pytest.mark.parametrize("language", ["xx", "", "../../etc", "nl/../en", "klingon", "zz-ZZ"])
def test_unknown_language_falls_back_to_nl(language: str) -> None:
    """Unknown or odd language tags render the Dutch template."""
    renderer = Renderer()
    dutch = renderer.render("acknowledgement", "nl", context("acknowledgement"))
    assert renderer.render("acknowledgement", language, context("acknowledgement")) == dutch


def test_language_tag_with_region_uses_the_primary_language() -> None:
    """ "EN-gb" renders the English template."""
    rendered = Renderer().render("acknowledgement", "EN-gb", context("acknowledgement"))
    assert rendered.subject.startswith("[MK-2026-0042] Acknowledgement: ")


@pytest.mark.parametrize("name", ["nonexistent", "../nl/alert", "Alert", "alert.txt", ""])
def test_unknown_template_name_raises(name: str) -> None:
    """Only existing, plainly named templates can be rendered."""
    with pytest.raises(RenderError):
        Renderer().render(name, "nl", {})


def test_missing_override_dir_raises(tmp_path: Path) -> None:
    """A configured override folder that does not exist is an error naming it."""
    with pytest.raises(RenderError, match="nope"):
        Renderer(tmp_path / "nope")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hallo\n\nTekst\n", "expected a 'Subject:' line"),
        ("Subject: x\nTekst\n", "followed by an empty line"),
        ("{# unclosed\nSubject: x\n\nTekst\n", "expected a 'Subject:' line"),
    ],
)
def test_malformed_template_file_raises(tmp_path: Path, text: str, problem: str) -> None:
    """A file not in the Subject/empty line/body format is refused with the reason."""
    write_template(tmp_path, "nl", "alert", text)
    with pytest.raises(RenderError, match=problem):
        Renderer(tmp_path).render("alert", "nl", context("alert"))


def test_template_error_names_the_file_line(tmp_path: Path) -> None:
    """A syntax error in the body is reported at its line in the file."""
    write_template(tmp_path, "nl", "alert", "{#\n  doc\n#}\nSubject: x\n\nregel 6\n{% if %}\n")
    with pytest.raises(RenderError, match="line 7"):
        Renderer(tmp_path).render("alert", "nl", context("alert"))


def test_sandbox_refuses_unsafe_template_code(tmp_path: Path) -> None:
    """Even an admin template cannot reach Python internals."""
    write_template(
        tmp_path, "nl", "alert", "Subject: x\n\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n"
    )
    with pytest.raises(RenderError, match=r"unsafe|__class__"):
        Renderer(tmp_path).render("alert", "nl", context("alert"))


@pytest.mark.parametrize("name", TEMPLATES)
def test_jinja_syntax_in_reporter_text_comes_out_literally(name: str) -> None:
    """Template code in subject, name and body is data: printed as typed, never run."""
    code = "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ ''.__class__ }}"
    ctx = context(name, code, subject=code, reporter_name=code)
    rendered = Renderer().render(name, "nl", ctx)
    if name not in ("alert", "unverified_notice"):  # their subjects hold no reporter text
        assert code in rendered.subject
    assert code in rendered.body
    assert "49" not in rendered.subject + rendered.body
    assert "looploop" not in rendered.body


# --- injection through the whole path --------------------------------------------------


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_subject_name_and_body_adds_no_header(text: str) -> None:
    """Hostile subject, name and report text end up as text; headers and To stay exact."""
    renderer = Renderer()
    ack = renderer.render(
        "acknowledgement", "nl", context("acknowledgement", subject=text, reporter_name=text)
    )
    notice = renderer.render("staff_notice", "nl", context("staff_notice", text, subject=text))
    for rendered, to in [(ack, "jan@example.org"), (notice, "security@gemeente.example")]:
        mail = build(rendered.subject, rendered.body, to=[to])
        message = parse(mail.raw)
        assert sorted(message.keys()) == AUTOMATIC_HEADERS
        assert [a.addr_spec for a in message["To"].addresses] == [to]
        assert message["Bcc"] is None and message["Cc"] is None
        assert message["Subject"] == mail.subject
        assert visible(text)[:100] in visible(message["Subject"])
        assert visible(text) in visible(body_of(message))
        assert_wire_safe(mail.raw)


def test_crlf_in_subject_becomes_one_line() -> None:
    """CR/LF in a subject becomes a space; the would-be header stays subject text."""
    message = parse(build("[MK-2026-0042] Hallo\r\nBcc: evil@attacker.example").raw)
    assert message["Subject"] == "[MK-2026-0042] Hallo Bcc: evil@attacker.example"


def test_encoded_word_in_subject_is_shown_literally() -> None:
    """An encoded word in a subject is not decoded by the recipient (no CR/LF smuggled in)."""
    word = "=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?="
    message = parse(build(f"[MK-2026-0042] {word}").raw)
    assert message["Subject"] == f"[MK-2026-0042] {word}"
    assert sorted(message.keys()) == AUTOMATIC_HEADERS


def test_nul_and_controls_in_body_become_replacement_characters() -> None:
    """NUL and other controls in the body are shown as U+FFFD, line ends become LF."""
    message = parse(build(body="a\x00b\x1bc\r\nd\re").raw)
    assert body_of(message) == "a\ufffdb\ufffdc\nd\ne\n"


def test_long_subject_is_capped() -> None:
    """A 2,000-character subject is cut to 200 characters with an ellipsis, folded under 998."""
    mail = build("[MK-2026-0042] " + "A" * 2000)
    assert len(mail.subject) == 200 and mail.subject.endswith("\u2026")
    assert parse(mail.raw)["Subject"] == mail.subject
    assert_wire_safe(mail.raw)


def test_injection_in_identity_name_stays_in_the_display_name() -> None:
    """A CR/LF in the configured name cannot add a header either."""
    identity = Identity(IDENTITY.address, "Meldpunt\r\nBcc: evil@attacker.example", "Gemeente")
    message = parse(build(identity=identity).raw)
    assert sorted(message.keys()) == AUTOMATIC_HEADERS
    assert [(a.display_name, a.addr_spec) for a in message["From"].addresses] == [
        ("Meldpunt Bcc: evil@attacker.example", "meldpunt@gemeente.example")
    ]


@pytest.mark.parametrize(
    "name",
    [
        "Bcc: evil@attacker.example, Bcc: evil@attacker.example, Bcc: evil@attacker.example",
        'Meldpunt "kwetsbaarheden" \\ <evil@attacker.example>',
        "Meldpunt kwetsbaarheden, Gemeente Één (CISO-office) <evil@attacker.example>",
        "=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?=",
        "M" * 90,
    ],
)
def test_hostile_identity_name_is_only_a_display_name(name: str) -> None:
    """Specials, quotes, encoded words and long names stay the display name of our address."""
    message = parse(build(identity=Identity(IDENTITY.address, name, "Gemeente")).raw)
    assert sorted(message.keys()) == AUTOMATIC_HEADERS
    shown = [(a.display_name, a.addr_spec) for a in message["From"].addresses]
    if not name.isascii():  # Python 3.11 reads a space between adjacent encoded words
        shown = [(display.replace(" ", ""), spec) for display, spec in shown]
        name = name.replace(" ", "")
    assert shown == [(name, "meldpunt@gemeente.example")]


HOSTILE = st.sampled_from(
    [
        "\r\n",
        "\n",
        "\r",
        "\x00",
        "\t",
        "Bcc: evil@attacker.example",
        "=?utf-8?q?",
        "=0D=0A",
        "?=",
        ",",
        "<",
        ">",
        '"',
        "\\",
        "{{ 7*7 }}",
        "{%",
        "\u2028",
        "\x85",
        " ",
        "é",
        "\U0001f600",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=25), HOSTILE), max_size=10).map("".join)


@settings(max_examples=150, deadline=None)
@given(subject=TEXT, name=TEXT, body=TEXT)
def test_arbitrary_text_never_adds_a_header_or_recipient(
    subject: str, name: str, body: str
) -> None:
    """Property: any subject, name and body keep the header set, To and From exact."""
    identity = Identity(IDENTITY.address, name, IDENTITY.organisation)
    ctx = context("staff_notice", body, subject=subject, reporter_name=name)
    rendered = Renderer().render("staff_notice", "nl", ctx)
    mail = build(
        rendered.subject, rendered.body, identity=identity, to=["security@gemeente.example"]
    )
    message = parse(mail.raw)
    assert sorted(message.keys()) == AUTOMATIC_HEADERS
    assert [a.addr_spec for a in message["To"].addresses] == ["security@gemeente.example"]
    assert [a.addr_spec for a in message["From"].addresses] == [IDENTITY.address]
    assert message["Subject"] == mail.subject
    shown = visible(message["Subject"]).rstrip("\u2026")
    assert visible("[MK-2026-0042] Nieuwe melding: " + subject).startswith(shown)
    assert visible(name).startswith(
        visible(message["From"].addresses[0].display_name).rstrip("\u2026")
    )
    content = visible(body_of(message))
    assert visible(body) in content and visible(name) in content
    assert_wire_safe(mail.raw)


# --- build_mail ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "evil@attacker.example\r\nBcc: other@attacker.example",
        "jan@example.org\nCc: evil@attacker.example",
        "jan@example.org, evil@attacker.example",
        "jan@example.org,evil@attacker.example",
        "Jan <jan@example.org>",
        "<jan@example.org>",
        "jan de vries@example.org",
        "jan@example.org\x00",
        "no-at-sign",
        "",
        "jan@",
        "@example.org",
        "=?utf-8?q?a?=@example.org",
    ],
)
def test_build_mail_refuses_a_bad_recipient(bad: str) -> None:
    """A recipient that is not a plain local@domain raises a ValueError naming it."""
    with pytest.raises(ValueError, match="invalid recipient") as caught:
        build(to=["jan@example.org", bad])
    assert repr(bad) in str(caught.value)
    assert isinstance(caught.value, MailbotError)


def test_build_mail_needs_a_recipient() -> None:
    """An empty recipient list is refused."""
    with pytest.raises(MailInputError, match="at least one recipient"):
        build(to=[])


def test_build_mail_refuses_a_naive_date() -> None:
    """The Date must come from an aware datetime."""
    with pytest.raises(MailInputError, match="timezone-aware"):
        build(date=datetime(2026, 12, 21, 10, 0))


@pytest.mark.parametrize("bad", ["no-domain", "a b@c.example", "x@y>\r\nBcc: e@a.example", ""])
def test_build_mail_refuses_a_bad_message_id(bad: str) -> None:
    """Our own Message-ID must be a plain id-left@id-right."""
    with pytest.raises(MailInputError, match="invalid Message-ID"):
        build(message_id=bad)


def test_build_mail_refuses_an_unknown_auto_submitted_value() -> None:
    """Auto-Submitted is auto-replied or auto-generated, nothing else."""
    with pytest.raises(MailInputError, match="no\\\\r\\\\nBcc"):
        build(auto_submitted="no\r\nBcc: evil@attacker.example")


def test_automatic_mail_headers() -> None:
    """Machine mail: From, Reply-To, Date, Message-ID, Auto-Submitted, suppress and loop headers."""
    mail = build(auto_submitted="auto-generated", to=["a@gemeente.example", "b@gemeente.example"])
    message = parse(mail.raw)
    assert sorted(message.keys()) == AUTOMATIC_HEADERS
    assert str(message["From"]) == "Meldpunt kwetsbaarheden <meldpunt@gemeente.example>"
    assert str(message["To"]) == "a@gemeente.example, b@gemeente.example"
    assert str(message["Reply-To"]) == "meldpunt@gemeente.example"
    assert str(message["Date"]) == "Mon, 21 Dec 2026 10:00:03 +0100"
    assert str(message["Message-ID"]).strip() == f"<{MESSAGE_ID}>"
    assert str(message["Auto-Submitted"]) == "auto-generated"
    assert str(message["X-Auto-Response-Suppress"]) == "All"
    assert str(message[LOOP_HEADER]) == "meldpunt@gemeente.example"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"


def test_human_relay_has_loop_header_but_claims_no_automation() -> None:
    """A relayed staff reply carries the loop header, not Auto-Submitted or the suppress header."""
    mail = build(automatic=False, kind="relay")
    message = parse(mail.raw)
    expected = [
        h for h in AUTOMATIC_HEADERS if h not in ("Auto-Submitted", "X-Auto-Response-Suppress")
    ]
    assert sorted(message.keys()) == expected
    assert str(message[LOOP_HEADER]) == "meldpunt@gemeente.example"
    assert mail.automatic is False


def test_outgoing_mail_fields() -> None:
    """The OutgoingMail carries kind, bracket-free id, envelope sender, recipients and case."""
    mail = build(subject="[MK-2026-0042]  Dubbel\tspatie", to=["jan@example.org"])
    expected = ("acknowledgement", MESSAGE_ID, "meldpunt@gemeente.example", ("jan@example.org",))
    assert (mail.kind, mail.message_id, mail.sender, mail.recipients) == expected
    assert (mail.subject, mail.case_id, mail.automatic) == (
        "[MK-2026-0042] Dubbel spatie",
        CASE_ID,
        True,
    )


def test_unicode_body_round_trips() -> None:
    """Non-ASCII text and 2,000-character lines arrive unchanged, on lines of at most 78."""
    text = "Geachte heer/mevrouw, café \u2013 😀\n" + "B" * 2000 + "\n  ingesprongen  \n"
    mail = build(body=text)
    assert body_of(parse(mail.raw)) == text
    body_lines = mail.raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body_lines) <= 76


# --- the hand-written message against the email package -----------------------------

REFERENCE_POLICY = SMTP.clone(refold_source="none", max_line_length=76)
ATEXT = st.text("abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=12)
LABEL = st.text("abcdef0123", min_size=1, max_size=12)
ADDRESS = st.builds(
    "{}@{}".format,
    st.lists(ATEXT, min_size=1, max_size=5).map(".".join),
    st.lists(LABEL, min_size=1, max_size=4).map(".".join),
).filter(lambda address: len(address) <= 74 and "=?" not in address)
DATES = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, AMS, ZoneInfo("America/St_Johns"), ZoneInfo("Asia/Kolkata")]),
)
BODY = st.one_of(TEXT, st.text(max_size=400), st.text("aB =\t.\u00e9\U0001f600\n", max_size=400))
ENCODED = st.one_of(TEXT, st.text(max_size=300)).map(clean_header_text)


def value_of(field_text: str) -> str:
    """The value of a ``Name: value`` header field."""
    return field_text.partition(": ")[2]


def email_package_raw(
    subject: str, body: str, identity: Identity, to: list[str], date: datetime, automatic: bool
) -> bytes:
    """The mail as build_mail wrote it with the email package (From, Subject, IDs set raw)."""
    msg = EmailMessage(policy=REFERENCE_POLICY)
    phrase = clean_header_text(identity.name, 100)
    msg.set_raw("From", value_of(mailbox_field("From", phrase, identity.address)))
    msg["To"] = tuple(Address(addr_spec=address) for address in to)
    msg["Reply-To"] = Address(addr_spec=identity.address)
    msg.set_raw("Subject", value_of(text_field("Subject", clean_header_text(subject))))
    msg["Date"] = format_datetime(date)
    msg.set_raw("Message-ID", f"<{MESSAGE_ID}>")
    msg.set_raw("In-Reply-To", "<parent@example.org>")
    case_ref = case_reference(CASE_ID, identity.domain)
    msg.set_raw("References", f"<root@example.org>\n <parent@example.org>\n <{case_ref}>")
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = identity.address
    msg.set_content(clean_body_text(body), subtype="plain", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()


@settings(max_examples=150, deadline=None)
@given(
    subject=ENCODED,
    name=TEXT,
    body=BODY,
    to=st.lists(ADDRESS, min_size=1, max_size=8),
    own=ADDRESS.filter(lambda address: len(address) <= 60),
    date=DATES,
    automatic=st.booleans(),
)
def test_mail_is_byte_identical_to_the_email_package_one(
    subject: str, name: str, body: str, to: list[str], own: str, date: datetime, automatic: bool
) -> None:
    """Property: header order, folding, Date, MIME headers and body are the email package's."""
    identity = Identity(own, name, "Gemeente")
    mail = build(
        subject,
        body,
        identity=identity,
        to=to,
        date=date,
        automatic=automatic,
        in_reply_to="parent@example.org",
        references=["root@example.org"],
    )
    assert mail.raw == email_package_raw(subject, body, identity, to, date, automatic)
    assert_wire_safe(mail.raw)


@settings(max_examples=200, deadline=None)
@given(text=ENCODED, name=st.sampled_from(["Subject", "From"]))
def test_encoded_words_are_those_of_email_header(text: str, name: str) -> None:
    """Property: non-ASCII or ``=?`` text becomes exactly email.header.Header's encoded words."""
    text = text if not text.isascii() else f"=?{text}"
    expected = f"{name}: " + Header(text, "utf-8", header_name=name).encode(linesep="\n")
    assert text_field(name, text) == expected


@settings(max_examples=200, deadline=None)
@given(addresses=st.lists(ADDRESS, min_size=1, max_size=15))
def test_address_list_folds_like_the_smtp_policy(addresses: list[str]) -> None:
    """Property: To is folded where the email package's SMTP policy (76 columns) folded it."""
    msg = EmailMessage(policy=REFERENCE_POLICY)
    msg["To"] = tuple(Address(addr_spec=address) for address in addresses)
    expected = REFERENCE_POLICY.fold("To", msg["To"])
    assert address_field("To", addresses).replace("\n", "\r\n") + "\r\n" == expected


@settings(max_examples=200, deadline=None)
@given(text=BODY)
def test_quoted_printable_body_is_the_email_package_one(text: str) -> None:
    """Property: the body is the email package's quoted-printable, CRLF, lines of at most 76."""
    clean = clean_body_text(text)
    msg = EmailMessage(policy=REFERENCE_POLICY)
    msg.set_content(clean, subtype="plain", charset="utf-8", cte="quoted-printable")
    encoded = quoted_printable(clean).encode("ascii")
    assert encoded == msg.as_bytes().split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76
    assert_wire_safe(encoded)


def test_long_addresses_get_lines_of_their_own() -> None:
    """Addresses too long to fold stay whole, each on its own line, and all are read back."""
    to = ["a" * 150 + "@example.org", "kort@example.org", "b." * 60 + "c@example.org"]
    mail = build(to=to)
    message = parse(mail.raw)
    assert [a.addr_spec for a in message["To"].addresses] == to
    head = mail.raw.split(b"\r\n\r\n", 1)[0].decode()
    expected = f"To:\r\n {to[0]},\r\n {to[1]},\r\n {to[2]}\r\n"
    assert expected in head
    assert_wire_safe(mail.raw)


def test_long_identity_address_is_written_verbatim() -> None:
    """The loop header and Reply-To carry a long identity address as it is, not encoded."""
    address = "meldpunt.kwetsbaarheden.informatiebeveiliging@gemeente-voorbeeld.example"
    mail = build(identity=Identity(address, "Meldpunt", "Gemeente"))
    message = parse(mail.raw)
    assert f"{LOOP_HEADER}: {address}\r\n".encode() in mail.raw
    assert (str(message[LOOP_HEADER]), str(message["Reply-To"])) == (address, address)


def test_date_with_an_offset_in_seconds_is_written_in_utc() -> None:
    """A zone offset with seconds (Amsterdam before 1937) cannot be written, so UTC is."""
    date = datetime(1900, 1, 1, tzinfo=AMS)
    message = parse(build(date=date).raw)
    assert str(message["Date"]) == "Sun, 31 Dec 1899 23:40:28 +0000"
    assert message["Date"].datetime == date


def test_date_keeps_its_whole_minute_offset() -> None:
    """Offsets in whole minutes, east and west, are written as they are."""
    for offset, written in [
        (timedelta(hours=5, minutes=30), "+0530"),
        (-timedelta(hours=3), "-0300"),
    ]:
        date = datetime(2026, 12, 21, 10, 0, 3, 999, tzinfo=timezone(offset))
        assert str(parse(build(date=date).raw)["Date"]).endswith(f":03 {written}")


def test_text_mail_layout() -> None:
    """Fields in order with CRLF, then the three MIME headers, an empty line and the body."""
    raw = text_mail(["A: 1", "B-C: 2\n 3"], "x\n")
    expected = (
        b"A: 1\r\nB-C: 2\r\n 3\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"MIME-Version: 1.0\r\n\r\nx\r\n"
    )
    assert raw == expected


@pytest.mark.parametrize(
    "bad",
    [
        "Subject: a\nBcc: evil@attacker.example",
        "Subject: a\r\n b",
        "Subject: a\rBcc: evil@attacker.example",
        "Subject: a\n \n b",
        "Subject: caf\u00e9",
        "Subject: a\x00b",
        "Bcc evil@attacker.example",
        ": x",
        "Subject: " + "a" * 990,
    ],
)
def test_text_mail_refuses_an_unsafe_field(bad: str) -> None:
    """Only printable ASCII fields with continuation lines of at most 998 octets are written."""
    with pytest.raises(MailInputError, match="unsafe header field") as caught:
        text_mail(["From: a@b.example", bad], "x\n")
    assert repr(bad[:200]) in str(caught.value)


# --- identifiers and threading ----------------------------------------------------------


def test_message_id_is_deterministic_and_recognised() -> None:
    """The same inputs give the same Message-ID, which is_own_message_id recognises."""
    seed = "3f5a9c0e11d2b7a4c6e8ffffffffffff"
    first = make_message_id("acknowledgement", CASE_ID, seed, "Gemeente.Example")
    assert first == make_message_id("acknowledgement", CASE_ID, seed, "Gemeente.Example")
    digest = "9dc629e296dad0bce9dbdb2b25c8466d"
    assert first == f"mailbot.acknowledgement.MK-2026-0042.{digest}@gemeente.example"
    assert is_own_message_id(first, "gemeente.example")
    assert is_own_message_id(f"<{first.upper()}>", "GEMEENTE.EXAMPLE")
    assert make_message_id("acknowledgement", CASE_ID, "other", "gemeente.example") != first


def test_message_id_parts_are_sanitised() -> None:
    """Hostile kind, case and seed cannot break the Message-ID."""
    made = make_message_id("staff notice", None, "a.b/c<d>e\r\nf=?xyz", "gemeente.example")
    digest = "af107b5c6d328b15849e321dd6fb8916"
    assert made == f"mailbot.staff-notice.none.{digest}@gemeente.example"
    assert parse(build(message_id=made).raw)["Message-ID"].strip() == f"<{made}>"


@pytest.mark.parametrize(
    "other",
    [
        "mailbot.ack.MK-2026-0042.x@attacker.example",
        "someone@gemeente.example",
        "case.MK-2026-0042@gemeente.example",
        "mailbot.ack@sub.gemeente.example",
        "mailbot.no-domain",
        "",
    ],
)
def test_foreign_message_ids_are_not_ours(other: str) -> None:
    """Another domain, another local part or no domain is not one of ours."""
    assert not is_own_message_id(other, "gemeente.example")


def test_case_reference() -> None:
    """The case reference is case.<id>@domain, lower-cased domain, no brackets."""
    assert case_reference(CASE_ID, "Gemeente.Example") == CASE_REF


def test_references_contain_the_case_reference_once() -> None:
    """References keep the thread, add the parent, and hold the case reference exactly once."""
    mail = build(in_reply_to="<parent@example.org>", references=["root@example.org", CASE_REF])
    message = parse(mail.raw)
    refs = str(message["References"]).split()
    assert refs == ["<root@example.org>", "<parent@example.org>", f"<{CASE_REF}>"]
    assert str(message["In-Reply-To"]) == "<parent@example.org>"
    assert sorted(message.keys()) == sorted([*AUTOMATIC_HEADERS, "In-Reply-To"])


def test_references_without_case_have_no_case_reference() -> None:
    """A mail without a case only threads on what it was given."""
    message = parse(build(case_id=None, in_reply_to="parent@example.org").raw)
    assert str(message["References"]) == "<parent@example.org>"


def test_long_message_ids_are_not_encoded() -> None:
    """A long Outlook Message-ID is written verbatim, never as an encoded word."""
    long_id = "AM0PR07MB1234567890ABCDEF1234567890ABCDEF@AM0PR07MB1234.eurprd07.prod.outlook.com"
    mail = build(in_reply_to=long_id)
    assert f"In-Reply-To: <{long_id}>\r\n".encode() in mail.raw
    assert f"References: <{long_id}>\r\n <{CASE_REF}>\r\n".encode() in mail.raw
    assert_wire_safe(mail.raw)


def test_unsafe_thread_ids_are_left_out() -> None:
    """Outside Message-IDs that could smuggle text are dropped, not written."""
    atext_only_word = "=?utf-8?q?x=0D=0ABcc=3A_evil=40attacker.example?=@x.example"
    mail = build(
        in_reply_to="=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?=",
        references=[
            "a b@example.org",
            "x@y>\r\nBcc: evil@attacker.example",
            atext_only_word,
            "ok@example.org",
        ],
    )
    message = parse(mail.raw)
    assert sorted(message.keys()) == AUTOMATIC_HEADERS
    assert str(message["References"]).split() == ["<ok@example.org>", f"<{CASE_REF}>"]


def test_references_are_capped_keeping_root_and_case() -> None:
    """A long thread keeps its first ID, the most recent ones, and the case reference: 20 in all."""
    refs = [f"m{i}@example.org" for i in range(50)]
    message = parse(build(references=refs).raw)
    shown = str(message["References"]).split()
    assert len(shown) == 20
    assert shown[0] == "<m0@example.org>" and shown[-2:] == ["<m49@example.org>", f"<{CASE_REF}>"]


def test_identity_domain_and_validation() -> None:
    """The identity's domain is lower-cased; a bad identity address is refused."""
    assert Identity("Meldpunt@Gemeente.Example", "M", "G").domain == "gemeente.example"
    with pytest.raises(MailInputError, match="identity address"):
        Identity("meldpunt@gemeente.example\r\nBcc: x@y.example", "M", "G")


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "dutch", "english"),
    [
        (
            "2026-12-29T16:00Z",
            "dinsdag 29 december 2026 om 17:00",
            "Tuesday 29 December 2026 at 17:00",
        ),
        (
            "2026-10-23T15:00Z",
            "vrijdag 23 oktober 2026 om 17:00",
            "Friday 23 October 2026 at 17:00",
        ),
        ("2026-10-25T00:30Z", "zondag 25 oktober 2026 om 02:30", "Sunday 25 October 2026 at 02:30"),
        ("2026-10-25T01:30Z", "zondag 25 oktober 2026 om 02:30", "Sunday 25 October 2026 at 02:30"),
        (
            "2026-10-26T16:00Z",
            "maandag 26 oktober 2026 om 17:00",
            "Monday 26 October 2026 at 17:00",
        ),
        ("2027-03-26T16:00Z", "vrijdag 26 maart 2027 om 17:00", "Friday 26 March 2027 at 17:00"),
        (
            "2027-03-31T15:00Z",
            "woensdag 31 maart 2027 om 17:00",
            "Wednesday 31 March 2027 at 17:00",
        ),
        ("2027-05-05T06:30Z", "woensdag 5 mei 2027 om 08:30", "Wednesday 5 May 2027 at 08:30"),
    ],
)
def test_format_moment_across_dst(moment: str, dutch: str, english: str) -> None:
    """Local wall-clock time in Amsterdam, CET and CEST alike, with own day and month names."""
    when = datetime.fromisoformat(moment)
    assert (format_moment(when, AMS, "nl"), format_moment(when, AMS, "en")) == (dutch, english)


def test_format_moment_unknown_language_is_dutch() -> None:
    """A language without name tables gets Dutch names."""
    when = datetime(2026, 12, 29, 16, 0, tzinfo=UTC)
    assert format_moment(when, AMS, "fr") == "dinsdag 29 december 2026 om 17:00"


def test_format_moment_refuses_a_naive_datetime() -> None:
    """A naive datetime has no defined moment."""
    with pytest.raises(MailInputError, match="timezone-aware"):
        format_moment(datetime(2026, 12, 29, 17, 0), AMS, "nl")

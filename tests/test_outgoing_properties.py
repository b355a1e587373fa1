"""No input steers outgoing mail: arbitrary subject, name and body through the whole pipeline."""

from __future__ import annotations

import asyncio
import email
import email.policy
import email.utils
import re
import tempfile
import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailbot.core import config
from mailbot.core.classify import Verdict
from mailbot.core.effects import Inputs
from mailbot.core.models import Case, CaseState, Disposition
from mailbot.core.staffmail import plan_staff_reply
from mailbot.mail import parsing
from mailbot.mail.assembly import MailInputError, check_lines, param_segments
from mailbot.mail.rendering import Identity, Renderer, build_mail
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service, calendar_for
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store

NOW = datetime(2026, 12, 21, 6, 0, tzinfo=UTC)  # before office hours: no digest
REPORTER = "jan@example.nl"
STAFF = "security@gemeente.example"
MACHINE_HEADERS = {
    "from",
    "to",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-mailbot-loop",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
NASTY = st.sampled_from(
    [
        "\r\nBcc: evil@attacker.example",
        "\nTo: evil@attacker.example",
        "\x00",
        "\r",
        "=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?=",
        "{{ 7*7 }}",
        "{% raw %}",
        "é€🦀",
        "=?utf-8?b?DQpCY2M6IGV2aWxAYXR0YWNrZXIuZXhhbXBsZQ==?=",
        "x" * 1200,
        "<evil@attacker.example>",
    ]
)
TEXT = st.lists(st.one_of(NASTY, st.text(max_size=40)), max_size=6).map("".join)


def raw_report(subject: str, name: str, body: str, encode: bool) -> bytes:
    """A report whose Subject/From name carry the text raw (8-bit) or as encoded words."""

    def header(value: str) -> str:
        if encode:
            return Header(value, "utf-8").encode()
        # Unencoded, address syntax would just be another From the sender chose to write.
        return value.translate(str.maketrans('\r\n:<>,;"@()\\', " " * 12))

    lines = [
        f"From: {header(name)} <{REPORTER}>",
        "To: meldpunt@gemeente.example",
        f"Subject: {header(subject)}",
        "Message-ID: <prop@example.nl>",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogatepass")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=TEXT, name=TEXT, body=TEXT, encode=st.booleans())
def test_any_subject_name_body_gives_exactly_the_intended_mail(
    subject: str, name: str, body: str, encode: bool
) -> None:
    """Only the intended headers and recipients, whatever the reporter wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cfg = config.embedded(base)
        service = Service(
            cfg,
            Store(cfg.database.path),
            MaildirMailbox(base / "inbox"),
            MaildirTransport(base / "outbox"),
            ManualClock(NOW),
        )
        try:
            raw = raw_report(subject, name, body, encode)
        except UnicodeEncodeError:
            return  # lone surrogates cannot be sent by anyone
        deliver_to_maildir(base / "inbox", raw, NOW)
        asyncio.run(service.run_once())
        mails = [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            for f in (base / "outbox" / "new").iterdir()
        ]
        service.close()
    assert sorted(str(m["To"]) for m in mails) == [REPORTER, STAFF]
    for mail in mails:
        names = {key.lower() for key in mail}
        assert names <= MACHINE_HEADERS
        assert {"from", "to", "subject", "message-id", "x-mailbot-loop"} <= names
        assert len(mail.get_all("To")) == 1
        assert str(mail["From"]) == "Meldpunt kwetsbaarheden <meldpunt@gemeente.example>"
        assert "\n" not in str(mail["Subject"])
        assert "attacker" not in str(mail["To"])


# --- line limits: RFC 2231 names, 998 octets on every line (issue 12, item 15) ---------------

STAFF_INPUTS = Inputs(
    config.embedded(Path("/nonexistent")),
    calendar_for(config.embedded(Path("/nonexistent"))),
    Renderer(),
    NOW,
)
STAFF_CASE = Case(
    id="MK-2026-0001",
    state=CaseState.ACKNOWLEDGED,
    subject="Lek",
    received_at=NOW,
    reporter_email=REPORTER,
    acknowledged_at=NOW,
)
NAMES = st.one_of(
    st.text(max_size=3000),
    st.text(st.characters(codec="ascii"), min_size=900, max_size=3000),
    st.text(st.characters(min_codepoint=0x80), min_size=250, max_size=1200),
)


def line_lengths(raw: bytes) -> int:
    """The longest line of `raw`, CRLF excluded."""
    return max(map(len, raw.split(b"\r\n")))


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b"A: b\r\n\r\n" + b"x" * 999 + b"\r\n", "line 3 of the mail is over 998 octets"),
        (b"A: b\r\n\r\nbare\nfeed\r\n", "line 3 of the mail has a bare CR or LF"),
        (b"A: b\r\n\r\nbare\rreturn\r\n", "line 3 of the mail has a bare CR or LF"),
        (b"A: b\r\n\r\nno end", "the mail does not end with CRLF"),
    ],
)
def test_check_lines_refuses_what_smtp_would_break(raw: bytes, fault: str) -> None:
    """Over-long lines, bare CR or LF and a missing final CRLF are a clear error."""
    with pytest.raises(MailInputError) as error:
        check_lines(raw)
    assert str(error.value).startswith(fault)


def test_check_lines_accepts_998_octets() -> None:
    """A line of exactly 998 octets is allowed; the bytes come back unchanged."""
    raw = b"A: b\r\n\r\n" + b"x" * 998 + b"\r\n"
    assert check_lines(raw) is raw


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rapport.pdf", ['filename="rapport.pdf"']),
        ("a b;c.txt", ['filename="a b;c.txt"']),
        ("rapport \u00e9.pdf", ["filename*=utf-8''rapport%20%C3%A9.pdf"]),
        ('a"b.txt', ["filename*=utf-8''a%22b.txt"]),
        ("=?utf-8?q?x?=", ["filename*=utf-8''%3D%3Futf-8%3Fq%3Fx%3F%3D"]),
        ("x" * 70, ["filename*0*=utf-8''" + "x" * 53, "filename*1*=" + "x" * 17]),
    ],
)
def test_param_segments(name: str, expected: list[str]) -> None:
    """Short plain names are quoted; others are RFC 2231, in segments of at most 60."""
    assert param_segments("filename", name) == expected


def filename_of(part: email.message.EmailMessage) -> str:
    """The part's filename unquoted once (the stock `get_filename` unquotes twice, so that
    a name wholly in angle brackets or quotes would lose them)."""
    value = part.get_param("filename", header="content-disposition", unquote=False)
    return email.utils.collapse_rfc2231_value(value)


@settings(max_examples=150, deadline=None)
@given(name=NAMES, subject=TEXT)
@example(name="<>", subject="")  # found by hypothesis: the stock getter unquotes twice
def test_any_attachment_name_round_trips_within_998(name: str, subject: str) -> None:
    """Any name of any length: every line within 998 octets, the name intact (a lone
    surrogate, which UTF-8 cannot carry, as U+FFFD; surrounding white space dropped), read
    unquoted once (`filename_of`)."""
    mail = build_mail(
        kind="relay",
        identity=Identity("meldpunt@gemeente.example", "Meldpunt", "Gemeente"),
        to=(REPORTER,),
        subject=subject,
        body="Zie bijlage.",
        message_id="mailbot.relay.x@gemeente.example",
        date=NOW,
        attachments=((name, "application/pdf", b"%PDF"),),
    )
    parsed = email.message_from_bytes(mail.raw, policy=email.policy.default)
    (part,) = parsed.iter_attachments()
    names = (
        filename_of(part),
        email.utils.collapse_rfc2231_value(part.get_param("name", unquote=False)),
    )
    expected = re.sub("[\ud800-\udfff]", "\ufffd", name).strip() or "attachment"
    assert (line_lengths(mail.raw) <= 998, names) == (True, (expected, expected))


def staff_mail_with(name: str) -> bytes:
    """An authenticated staff reply with one PDF called `name` (one RFC 2231 parameter)."""
    quoted = urllib.parse.quote(name.encode("utf-8", "surrogatepass"), safe="")
    return (
        f"From: Petra <{STAFF}>\r\nTo: meldpunt@gemeente.example\r\n"
        "Subject: RE: [MK-2026-0001] Lek\r\nMessage-ID: <staff-prop@gemeente.example>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBeste melder, zie bijlage.\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{quoted}\r\n\r\n%PDF-1.4\r\n--b--\r\n"
    ).encode("ascii")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, subject=TEXT)
def test_staff_relay_of_any_name_and_subject_keeps_every_line_within_998(
    name: str, subject: str
) -> None:
    """Through the real staff relay path: all mails within 998 octets a line, name intact."""
    raw = staff_mail_with(name)
    files = parsing.attachment_payloads(raw, 10**6)
    msg = parsing.parse(raw, NOW)
    case = replace(STAFF_CASE, subject=subject)
    verdict = Verdict(Disposition.STAFF_REPLY, "staff", case.id)
    plan = plan_staff_reply(msg, verdict, case, frozenset(), STAFF_INPUTS, files)
    relay = next(q.mail for q in plan.mails if q.mail.kind == "relay")
    parsed = email.message_from_bytes(relay.raw, policy=email.policy.default)
    relayed = [filename_of(part) for part in parsed.iter_attachments()]
    longest = max(line_lengths(q.mail.raw) for q in plan.mails)
    expected = [files[0][0].strip() or "attachment"]  # mixed_mail drops surrounding blanks
    assert (longest <= 998, relayed, len(files)) == (True, expected, 1)

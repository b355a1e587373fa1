"""No input steers outgoing mail: arbitrary subject, name and body through the whole pipeline."""

from __future__ import annotations

import asyncio
import email
import email.policy
import tempfile
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot import config
from mailbot.clock import ManualClock
from mailbot.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.service import Service
from mailbot.store import Store
from mailbot.transport import MaildirTransport

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

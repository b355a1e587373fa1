"""End to end through the service: Maildir in, Maildir out, real SQLite, injected clock."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import factories
import pytest
from factories import maildir_service

import mailbot.shell.recording as recording_module
from mailbot.core import config
from mailbot.core.models import CaseState, Disposition
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store

MON_21_DEC_10H = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)  # 10:00 CET


report = partial(
    factories.report,
    sender="Jan de Vries <jan@example.nl>",
    message_id="<r1@example.nl>",
    body="Op https://portaal.gemeente.example/login is een XSS. Groet, Jan",
    name="",
    subject="Kwetsbaarheid in het portaal",
    mime_version=True,
)
"""A plain-text report as an MTA would deliver it."""


class Bot:
    """A service on a temporary Maildir pair with a manual clock."""

    def __init__(self, base: Path, settings: config.Settings | None = None) -> None:
        self.settings = settings or config.embedded(base)
        self.clock = ManualClock(MON_21_DEC_10H)
        self.inbox = base / "inbox"
        self.outbox = base / "outbox"
        self.service = maildir_service(base, self.settings, self.clock)

    def receive(self, raw: bytes, at: datetime = MON_21_DEC_10H) -> None:
        """Deliver `raw` into the inbox with receipt moment `at`."""
        deliver_to_maildir(self.inbox, raw, at)

    def run(self) -> list[Disposition]:
        """One `run --once`: intake then flush; returns the dispositions."""
        outcomes, _ = asyncio.run(self.service.run_once())
        return [o.disposition for o in outcomes]

    def sent(self, notices: bool = False) -> list[email.message.EmailMessage]:
        """Mails the Maildir transport delivered, parsed, in the order they were written.

        The scheduler's digest and reminders are left out unless `notices`.
        """
        folder = self.outbox / "new"
        files = (
            sorted(folder.iterdir(), key=lambda f: f.stat().st_mtime_ns) if folder.exists() else []
        )
        mails = [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for f in files
        ]
        return [m for m in mails if notices or not _is_notice(m)]


def _is_notice(mail: email.message.EmailMessage) -> bool:
    """True for the scheduler's mails (digest, reminder, escalation, closure warning)."""
    kinds = ("digest", "reminder", "escalation", "closure_warning")
    return str(mail["Message-ID"]).startswith(tuple(f"<mailbot.{k}." for k in kinds))


@pytest.fixture
def bot(tmp_path: Path) -> Bot:
    """A fresh bot on the embedded default settings."""
    return Bot(tmp_path)


def test_new_report_becomes_case_with_ack_and_staff_notice(bot: Bot) -> None:
    """A report becomes case MK-2026-0001, the reporter is acknowledged and staff notified."""
    bot.receive(report())
    assert bot.run() == [Disposition.NEW_CASE]
    case = bot.service.store.case("MK-2026-0001")
    assert case is not None
    assert (case.reporter_email, case.reporter_name) == ("jan@example.nl", "Jan de Vries")
    assert case.ack_due == datetime(2026, 12, 22, 16, 0, tzinfo=UTC)
    assert case.response_due == datetime(2026, 12, 29, 16, 0, tzinfo=UTC)
    assert case.state == CaseState.ACKNOWLEDGED
    assert case.acknowledged_at == MON_21_DEC_10H
    recipients = sorted(str(m["To"]) for m in bot.sent())
    assert recipients == ["jan@example.nl", "security@gemeente.example"]
    ack = next(m for m in bot.sent() if str(m["To"]) == "jan@example.nl")
    assert "[MK-2026-0001]" in str(ack["Subject"])
    assert str(ack["Auto-Submitted"]) == "auto-replied"
    assert str(ack["In-Reply-To"]) == "<r1@example.nl>"
    assert "<case.MK-2026-0001@gemeente.example>" in str(ack["References"])
    assert "29 december 2026" in ack.get_content()


def test_message_moves_to_cur_only_after_record(bot: Bot) -> None:
    """After a pass the inbox new/ is empty and the message sits in cur/ with the S flag."""
    bot.receive(report())
    bot.run()
    assert list((bot.inbox / "new").iterdir()) == []
    names = [p.name for p in (bot.inbox / "cur").iterdir()]
    assert len(names) == 1
    assert names[0].endswith(":2,S")


def test_same_message_twice_is_duplicate_and_silent(bot: Bot) -> None:
    """A re-delivery (same Message-ID, sender and content, other trace headers) is silent."""
    bot.receive(report(extra="Received: from mx1.example.nl by mx.gemeente.example"))
    bot.run()
    bot.receive(report(extra="Received: from mx2.example.nl by mx.gemeente.example"))
    assert bot.run() == [Disposition.DUPLICATE]
    assert len(bot.service.store.cases(include_closed=True)) == 1
    assert len(bot.sent()) == 2


def test_english_report_gets_english_ack(bot: Bot) -> None:
    """The acknowledgement follows the language of the report."""
    body = (
        "Hello, I found that the login page of https://portal.gemeente.example is"
        " vulnerable to SQL injection. Kind regards, Alice"
    )
    bot.receive(
        report(sender="alice@research.example", subject="SQL injection in the portal", body=body)
    )
    bot.run()
    ack = next(m for m in bot.sent() if str(m["To"]) == "alice@research.example")
    assert "29 December 2026" in ack.get_content()


def test_followup_by_reporter_threads_into_case(bot: Bot) -> None:
    """The reporter writing again with the tag is a follow-up: no new case, no second ack."""
    bot.receive(report())
    bot.run()
    bot.receive(
        report(
            subject="Re: [MK-2026-0001] Kwetsbaarheid",
            message_id="<r2@example.nl>",
            body="Aanvulling: ook /admin is kwetsbaar.",
        )
    )
    assert bot.run() == [Disposition.FOLLOWUP]
    kinds = [m["Subject"] for m in bot.sent()]
    assert len(kinds) == 3
    notice = bot.sent()[-1]
    assert str(notice["To"]) == "security@gemeente.example"
    assert "ook /admin is kwetsbaar" in notice.get_content()


def test_reply_to_our_mail_without_tag_is_followup(bot: Bot) -> None:
    """In-Reply-To naming our acknowledgement finds the case even without the tag."""
    bot.receive(report())
    bot.run()
    ack = next(m for m in bot.sent() if str(m["To"]) == "jan@example.nl")
    bot.receive(
        report(
            subject="Re: bedankt",
            message_id="<r3@example.nl>",
            extra=f"In-Reply-To: {ack['Message-ID']}",
        )
    )
    assert bot.run() == [Disposition.FOLLOWUP]


def test_guessed_tag_from_outsider_is_unverified_and_leaks_nothing(bot: Bot) -> None:
    """Another sender naming the case is unverified: staff alerted, nothing to the sender."""
    bot.receive(
        report(body="Geheim detail: wachtwoord hunter2 op https://portaal.gemeente.example")
    )
    bot.run()
    before = len(bot.sent())
    bot.receive(
        report(
            sender="mallory@evil.example",
            subject="Re: [MK-2026-0001] status?",
            message_id="<m1@evil.example>",
        )
    )
    assert bot.run() == [Disposition.UNVERIFIED]
    new = bot.sent()[before:]
    assert [str(m["To"]) for m in new] == ["security@gemeente.example"]
    assert all("mallory@evil.example" not in str(m["To"]) for m in bot.sent())
    rows = bot.service.store.messages_of_case("MK-2026-0001")
    assert [r.disposition for r in rows] == ["new_case"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("Auto-Submitted: auto-replied", Disposition.AUTO_REPLY),
        ("Precedence: BULK", Disposition.AUTO_REPLY),
        ("X-Spam-Flag: YES", Disposition.SPAM),
        ("X-Mailbot-Loop: meldpunt@gemeente.example", Disposition.LOOP),
    ],
)
def test_machine_mail_is_stored_and_never_answered(
    bot: Bot, extra: str, expected: Disposition
) -> None:
    """Automatic, spam and looping mail is recorded with its disposition and gets no mail."""
    bot.receive(report(extra=extra))
    assert bot.run() == [expected]
    assert bot.sent(notices=True) == []
    assert bot.service.store.cases(include_closed=True) == []
    assert list((bot.inbox / "new").iterdir()) == []


def test_oversized_message_is_quarantined_with_raw_and_alert(tmp_path: Path) -> None:
    """A message over max_message_bytes is parked in quarantine, raw kept, staff alerted."""
    settings = config.embedded(tmp_path)
    settings = replace(settings, limits=replace(settings.limits, max_message_bytes=2_000))
    b = Bot(tmp_path, settings)
    raw = report(body="x" * 5_000)
    b.receive(raw)
    assert b.run() == [Disposition.QUARANTINED]
    row = b.service.store.message_by_sha(__import__("hashlib").sha256(raw).hexdigest())
    assert row is not None
    assert b.service.store.message_raw(row.id) == raw
    assert [p.name.split(":")[0] for p in (tmp_path / "inbox" / ".Quarantine" / "cur").iterdir()]
    assert [str(m["To"]) for m in b.sent()] == ["security@gemeente.example"]


def test_daily_cap_suppresses_automatic_mail_beyond_limit(tmp_path: Path) -> None:
    """Past the daily cap, acknowledgements are recorded as suppressed, not sent."""
    settings = config.embedded(tmp_path)
    settings = replace(settings, limits=replace(settings.limits, auto_mails_per_address_per_day=2))
    b = Bot(tmp_path, settings)
    for n in range(4):
        b.receive(report(message_id=f"<flood{n}@example.nl>", subject=f"melding {n}"))
    assert b.run() == [Disposition.NEW_CASE] * 4
    to_reporter = [m for m in b.sent() if str(m["To"]) == "jan@example.nl"]
    assert len(to_reporter) == 2
    statuses = [r.status for r in b.service.store.outbox_all() if r.kind == "acknowledgement"]
    assert statuses == ["sent", "sent", "suppressed", "suppressed"]


def test_relayed_report_acknowledges_reporter_not_relay(bot: Bot) -> None:
    """A VNG-relayed report is answered to the labelled reporter address, never the relay."""
    body = "Melding via VNG.\nE-mailadres: k.bakker@mail.example\nOmschrijving: open directory"
    bot.receive(report(sender="Meldpunt VNG <meldpunt@vng.example>", body=body))
    bot.run()
    case = bot.service.store.case("MK-2026-0001")
    assert case is not None
    assert (case.source, case.reporter_email, case.relay_sender) == (
        "relay",
        "k.bakker@mail.example",
        "meldpunt@vng.example",
    )
    assert "meldpunt@vng.example" not in [str(m["To"]) for m in bot.sent()]


def test_relayed_report_without_contact_is_flagged(bot: Bot) -> None:
    """A relayed report without any reporter address is a case flagged no_contact, no ack."""
    bot.receive(report(sender="meldpunt@vng.example", body="Melding zonder contactgegevens."))
    bot.run()
    case = bot.service.store.case("MK-2026-0001")
    assert case is not None
    assert case.flags == ("no_contact",)
    assert [str(m["To"]) for m in bot.sent()] == ["security@gemeente.example"]


def test_failure_while_handling_parks_message_and_goes_on(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An internal error on one message quarantines it (raw kept); the next one is handled."""
    real = recording_module.classify

    def exploding(msg, ctx, rules):  # type: ignore[no-untyped-def]
        if "boom" in msg.subject:
            raise RuntimeError("simulated fault")
        return real(msg, ctx, rules)

    monkeypatch.setattr(recording_module, "classify", exploding)
    bot.receive(report(subject="boom", message_id="<b1@example.nl>"), MON_21_DEC_10H)
    bot.receive(
        report(subject="fine", message_id="<f1@example.nl>"), MON_21_DEC_10H + timedelta(minutes=1)
    )
    assert bot.run() == [Disposition.QUARANTINED, Disposition.NEW_CASE]
    reasons = [m.reason for m in bot.service.store.messages()]
    assert reasons[0] == "internal error: RuntimeError: simulated fault"


def test_case_numbers_restart_per_year(bot: Bot) -> None:
    """The sequence is per year of receipt (local time: 31 Dec 23:30 UTC is already next year)."""
    bot.receive(report(message_id="<y1@example.nl>"), datetime(2026, 12, 31, 22, 0, tzinfo=UTC))
    bot.receive(report(message_id="<y2@example.nl>"), datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    bot.run()
    ids = [c.id for c in bot.service.store.cases(include_closed=True)]
    assert ids == ["MK-2026-0001", "MK-2027-0001"]


def test_injection_in_subject_and_name_adds_no_header_or_recipient(bot: Bot) -> None:
    """Encoded CR/LF + Bcc in subject and display name reach no header; Jinja stays literal."""
    subject = "=?utf-8?q?Lek=0D=0ABcc:_evil@attacker.example?= {{ 7*7 }} {% raw %}"
    sender = "=?utf-8?q?Jan=0D=0ABcc:_evil@attacker.example?= <jan@example.nl>"
    body = "Zie {{ config }} en {% for x in y %}{{ x }}{% endfor %} op https://a.gemeente.example"
    bot.receive(report(sender=sender, subject=subject, body=body))
    assert bot.run() == [Disposition.NEW_CASE]
    for mail in bot.sent():
        assert mail["Bcc"] is None
        assert mail["Cc"] is None
        assert len(mail.get_all("To")) == 1
    ack = next(m for m in bot.sent() if str(m["To"]) == "jan@example.nl")
    assert "{{ 7*7 }}" in str(ack["Subject"])
    notice = next(m for m in bot.sent() if str(m["To"]) == "security@gemeente.example")
    assert "{% for x in y %}{{ x }}{% endfor %}" in notice.get_content()
    rows = [r for r in bot.service.store.outbox_all() if r.kind != "digest"]
    assert sorted(r.recipients for r in rows) == [
        ("jan@example.nl",),
        ("security@gemeente.example",),
    ]


def test_attachment_with_path_in_name_is_recorded_sanitised(bot: Bot) -> None:
    """An attachment named ../../etc/passwd is stored with a bare, safe name."""
    raw = (
        b"From: jan@example.nl\r\nTo: meldpunt@gemeente.example\r\nSubject: PoC\r\n"
        b"Message-ID: <att1@example.nl>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n"
        b"--XX\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\ncm9vdDp4OjA6MDo=\r\n--XX--\r\n"
    )
    bot.receive(raw)
    bot.run()
    names = [r[0] for r in bot.service.store.db.execute("SELECT filename FROM attachments")]
    assert names == ["passwd"]


def test_message_without_from_or_message_id_is_still_a_case(bot: Bot) -> None:
    """No From and no Message-ID: a case flagged no_contact; a copy is a recorded duplicate."""
    raw = b"To: meldpunt@gemeente.example\r\nSubject: anoniem\r\n\r\nLek op https://x.gemeente.example\r\n"
    bot.receive(raw)
    assert bot.run() == [Disposition.NEW_CASE]
    case = bot.service.store.case("MK-2026-0001")
    assert case is not None
    assert case.flags == ("no_contact",)
    bot.receive(raw)
    assert bot.run() == [Disposition.DUPLICATE]
    assert len(bot.service.store.messages()) == 2


def test_tick_sees_a_case_recorded_by_the_intake_connection(tmp_path: Path) -> None:
    """With separate connections (as in the daemon), a skipped tick never hides new work."""
    settings = config.embedded(tmp_path)
    clock = ManualClock(datetime(2026, 12, 22, 7, 30, tzinfo=UTC))  # 08:30 CET, office open
    service = Service(
        settings,
        Store(settings.database.path),
        MaildirMailbox(tmp_path / "inbox"),
        MaildirTransport(tmp_path / "outbox"),
        clock,
        outbox_store=Store(settings.database.path),
    )
    assert service.tick() == 0  # nothing open: no digest
    assert service.tick() == 0  # skipped: nothing changed
    deliver_to_maildir(tmp_path / "inbox", report(), datetime(2026, 12, 21, 9, 0, tzinfo=UTC))
    service.intake()
    # the digest and the "due today" reminder of ack_due, for the case the other
    # connection recorded (the acknowledgement is still queued: no deliver() here)
    assert service.tick() == 2
    assert service.tick() == 0
    service.close()

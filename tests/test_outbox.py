"""The outbox against a real aiosmtpd on loopback: retries, permanent failures, alerts."""

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
from conftest import SmtpTestServer

from mailbot.core import config
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.outbox import retry_delay
from mailbot.shell.pipeline import Service
from mailbot.shell.smtp import SmtpTransport
from mailbot.store import Store

START = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)


report = partial(
    factories.report,
    name="",
    message_id="<o{n}@example.nl>",
    body="Lek in https://site{n}.gemeente.example",
    subject="Melding {n}",
    content_type="text/plain",
)
"""Report number `n` from `sender`."""


def smtp_bot(tmp_path: Path, server: SmtpTestServer) -> tuple[Service, ManualClock]:
    """A service on a Maildir inbox that sends through the aiosmtpd `server`."""
    settings = config.embedded(tmp_path)
    settings = replace(
        settings,
        outbound=replace(
            settings.outbound,
            transport="smtp",
            host=server.host,
            port=server.port,
            security="plain",
        ),
    )
    clock = ManualClock(START)
    transport = SmtpTransport(server.host, server.port, "plain", None, None)
    service = Service(
        settings,
        Store(settings.database.path),
        MaildirMailbox(tmp_path / "inbox"),
        transport,
        clock,
    )
    return service, clock


def recipients_of(server: SmtpTestServer) -> list[str]:
    """The To header of every mail the server accepted, in order."""
    mails = [
        email.message_from_bytes(data, policy=email.policy.default)
        for _, _, data in server.messages
    ]
    return [str(m["To"]) for m in mails if not str(m["Message-ID"]).startswith("<mailbot.digest.")]


def test_report_is_acknowledged_through_smtp(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    """The acknowledgement and the staff notice are accepted by the SMTP server."""
    service, _ = smtp_bot(tmp_path, smtp_server)
    deliver_to_maildir(tmp_path / "inbox", report(1, "jan@example.nl"), START)
    asyncio.run(service.run_once())
    assert sorted(recipients_of(smtp_server)) == ["jan@example.nl", "security@gemeente.example"]
    assert ["jan@example.nl"] in [rcpts for _, rcpts, _ in smtp_server.messages]


def test_451_then_250_delivers_each_mail_once(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    """Temporary refusals are retried with backoff; every queued mail arrives exactly once."""
    service, clock = smtp_bot(tmp_path, smtp_server)
    deliver_to_maildir(tmp_path / "inbox", report(1, "jan@example.nl"), START)
    service.intake()
    smtp_server.fail_data_with("451 4.3.0 try again later", times=3)

    async def flushes() -> list[tuple[int, int]]:
        counts = []
        for moment in (
            START,
            START + retry_delay(1),
            START + retry_delay(1),
            START + retry_delay(1) + retry_delay(2),
        ):
            clock.set(moment)
            done = await service.deliver()
            counts.append((done.sent, done.retried))
        return counts

    # 2 deferred; 1 sent + 1 deferred again; nothing due; the last one sent.
    assert asyncio.run(flushes()) == [(0, 2), (1, 1), (0, 0), (1, 0)]
    assert sorted(recipients_of(smtp_server)) == ["jan@example.nl", "security@gemeente.example"]
    statuses = [r.status for r in service.store.outbox_all()]
    assert statuses == ["sent", "sent"]


def test_550_for_one_recipient_fails_that_mail_alerts_staff_rest_flows(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    """A 5xx for one reporter marks that mail failed and alerts staff; other mail goes out."""
    service, _ = smtp_bot(tmp_path, smtp_server)
    smtp_server.refuse_rcpt("gone@example.nl", "550 5.1.1 no such user")
    deliver_to_maildir(tmp_path / "inbox", report(1, "gone@example.nl"), START)
    deliver_to_maildir(tmp_path / "inbox", report(2, "alice@example.org"), START)
    service.intake()

    async def twice() -> None:
        await service.deliver()
        await service.deliver()  # the alert queued by the failure

    asyncio.run(twice())
    rows = {(r.kind, r.recipients): r for r in service.store.outbox_all()}
    failed = rows[("acknowledgement", ("gone@example.nl",))]
    assert failed.status == "failed"
    assert "550" in failed.reason
    assert rows[("acknowledgement", ("alice@example.org",))].status == "sent"
    alert = rows[("alert", ("security@gemeente.example",))]
    assert alert.status == "sent"
    assert "[MK-2026-0001]" in alert.subject
    assert "gone@example.nl" not in recipients_of(smtp_server)
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert case.acknowledged_at is None
    events = [e.kind for e in service.store.events("MK-2026-0001")]
    assert "mail_failed" in events


def test_temporary_failure_gives_up_after_two_days(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    """A mail deferred for two days is marked failed with the last error."""
    service, clock = smtp_bot(tmp_path, smtp_server)
    deliver_to_maildir(tmp_path / "inbox", report(1, "jan@example.nl"), START)
    service.intake()
    smtp_server.fail_data_with("451 4.3.0 busy", times=1000)

    async def now_and_later() -> None:
        await service.deliver()
        clock.set(START + timedelta(days=2, minutes=1))
        await service.deliver()

    asyncio.run(now_and_later())
    statuses = {r.kind: r.status for r in service.store.outbox_all()}
    assert statuses["acknowledgement"] == "failed"
    assert statuses["staff_notice"] == "failed"


def test_retry_delay_doubles_and_caps() -> None:
    """Backoff: 1, 2, 4 minutes … capped at one hour."""
    assert [retry_delay(n) for n in (1, 2, 3, 10)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(hours=1),
    ]


def test_a_fault_in_what_a_sent_mail_settles_never_sends_it_again(
    tmp_path: Path, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgement's consequences raise: it is marked sent anyway, sent once."""
    import mailbot.shell.outbox as outbox_module  # noqa: PLC0415

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug in the consequences")

    monkeypatch.setattr(outbox_module, "after_sent", broken)
    service, clock = smtp_bot(tmp_path, smtp_server)
    deliver_to_maildir(tmp_path / "inbox", report(1, "jan@example.nl"), START)
    asyncio.run(service.run_once())
    for minutes in (5, 60, 600):
        clock.set(START + timedelta(minutes=minutes))
        asyncio.run(service.deliver())
    acks = [m for m in smtp_server.messages if "jan@example.nl" in m[1]]
    statuses = {r.kind: r.status for r in service.store.outbox_all()}
    assert (len(acks), statuses["acknowledgement"]) == (1, "sent")

"""Bounces of our mail and floods from one address, through the whole service."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import factories
import pytest
from factories import bot, sent

from mailbot.core.models import Disposition
from mailbot.shell.mailbox import deliver_to_maildir

START = datetime(2026, 12, 21, 6, 0, tzinfo=UTC)  # 07:00 CET: no digest yet
REPORTER = "jan@example.nl"
STAFF = "security@gemeente.example"

POSTFIX = """\
From: MAILER-DAEMON@mx.example.nl (Mail Delivery System)
To: meldpunt@gemeente.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn1@mx.example.nl>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system at host mx.example.nl.
<jan@example.nl>: host mx.example.nl said: 550 5.1.1 User unknown

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.nl

Final-Recipient: rfc822; jan@example.nl
Action: failed
Status: 5.1.1

--B
Content-Type: text/rfc822-headers

From: Meldpunt kwetsbaarheden <meldpunt@gemeente.example>
To: jan@example.nl
Subject: [MK-2026-0001] Ontvangstbevestiging
Message-ID: <{message_id}>

--B--
"""

EXIM = """\
From: Mail Delivery System <Mailer-Daemon@mail.example.nl>
To: meldpunt@gemeente.example
Subject: Mail delivery failed: returning message to sender
Message-ID: <dsn2@mail.example.nl>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="E"

--E
Content-Type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.
A message that you sent could not be delivered to one or more of its recipients.
  jan@example.nl
    mailbox is full

--E
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.nl

Action: failed
Final-Recipient: rfc822;jan@example.nl
Status: 5.2.2

--E
Content-Type: message/rfc822

From: meldpunt@gemeente.example
To: jan@example.nl
Subject: [MK-2026-0001] Ontvangstbevestiging
Message-ID: <{message_id}>

(body)
--E--
"""

EXCHANGE = """\
From: Microsoft Outlook <postmaster@example.nl>
To: meldpunt@gemeente.example
Subject: Undeliverable: [MK-2026-0001] Ontvangstbevestiging
Message-ID: <dsn3@example.nl>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="X"

--X
Content-Type: text/plain; charset=us-ascii

Delivery has failed to these recipients or groups:
jan@example.nl
The email address you entered couldn't be found.

--X
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com

Final-recipient: RFC822; jan@example.nl
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound

--X
Content-Type: message/rfc822

From: Meldpunt kwetsbaarheden <meldpunt@gemeente.example>
To: <jan@example.nl>
Subject: [MK-2026-0001] Ontvangstbevestiging
Message-ID: <{message_id}>
Content-Type: text/plain

(body)
--X--
"""


report = partial(
    factories.report,
    name="",
    sender=REPORTER,
    message_id="<f{n}@example.nl>",
    body="Lek {n} op https://a.gemeente.example",
    subject="Melding {n}",
    content_type=None,
)
"""Report `n` from the same reporter."""


@pytest.mark.parametrize("layout", [POSTFIX, EXIM, EXCHANGE], ids=["postfix", "exim", "exchange"])
def test_bounce_of_acknowledgement_fails_it_flags_case_and_alerts(
    tmp_path: Path, layout: str
) -> None:
    """A DSN naming our acknowledgement: outbox row failed, case unreachable, one alert."""
    service, clock = bot(tmp_path)
    deliver_to_maildir(tmp_path / "inbox", report(1), START)
    asyncio.run(service.run_once())
    ack = next(r for r in service.store.outbox_all() if r.kind == "acknowledgement")
    dsn = layout.format(message_id=ack.message_id).replace("\n", "\r\n").encode()
    clock.set(START + timedelta(minutes=5))
    deliver_to_maildir(tmp_path / "inbox", dsn, clock.now())
    outcomes, _ = asyncio.run(service.run_once())
    assert [o.disposition for o in outcomes] == [Disposition.BOUNCE]
    row = next(r for r in service.store.outbox_all() if r.id == ack.id)
    assert (row.status, row.reason.startswith("bounced")) == ("failed", True)
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert "unreachable" in case.flags
    alerts = [m for m in sent(tmp_path) if "bounce" in str(m["Subject"]).lower()]
    assert [str(m["To"]) for m in alerts] == [STAFF]
    assert [str(m["To"]) for m in sent(tmp_path)].count(REPORTER) == 1


def test_bounce_naming_unknown_mail_is_only_stored(tmp_path: Path) -> None:
    """A DSN about mail we never sent changes nothing and sends nothing."""
    service, _ = bot(tmp_path)
    dsn = POSTFIX.format(message_id="other@elsewhere.example").replace("\n", "\r\n").encode()
    deliver_to_maildir(tmp_path / "inbox", dsn, START)
    outcomes, _ = asyncio.run(service.run_once())
    assert [o.disposition for o in outcomes] == [Disposition.BOUNCE]
    assert service.store.outbox_all() == []


def test_flood_from_one_address_all_cases_cap_acked_one_alert(tmp_path: Path) -> None:
    """1,000 reports from one address: 1,000 cases, `cap` acknowledgements, one flood alert."""
    service, _ = bot(tmp_path, cap=10)
    for n in range(1000):
        deliver_to_maildir(tmp_path / "inbox", report(n), START + timedelta(seconds=n))
    outcomes, _ = asyncio.run(service.run_once())
    assert len(outcomes) == 1000
    assert len(service.store.cases(include_closed=True)) == 1000
    mails = sent(tmp_path)
    assert [str(m["To"]) for m in mails].count(REPORTER) == 10
    floods = [
        m for m in mails if "flood" in str(m["Message-ID"]) or "één adres" in str(m["Subject"])
    ]
    assert len(floods) == 1
    assert str(floods[0]["To"]) == STAFF
    statuses = [r.status for r in service.store.outbox_all() if r.kind == "acknowledgement"]
    assert (statuses.count("sent"), statuses.count("suppressed")) == (10, 990)


def test_autoresponder_loop_stops_at_the_cap(tmp_path: Path) -> None:
    """A hostile responder that answers every mail without any auto header, as new reports:
    it gets at most `cap` automatic mails a day, then nothing, however long it goes on."""
    service, clock = bot(tmp_path, cap=3)
    responder = "bot@loop.example"
    for n in range(20):
        clock.set(START + timedelta(minutes=n))
        raw = (
            f"From: {responder}\r\nTo: meldpunt@gemeente.example\r\nSubject: reply {n}\r\n"
            f"Message-ID: <loop{n}@loop.example>\r\n\r\nThanks for your mail!\r\n"
        ).encode()
        deliver_to_maildir(tmp_path / "inbox", raw, clock.now())
        asyncio.run(service.run_once())
    to_responder = [m for m in sent(tmp_path) if str(m["To"]) == responder]
    assert len(to_responder) == 3


OPENING = datetime(2026, 12, 21, 7, 30, tzinfo=UTC)  # Mon 08:30 CET: the digest goes out


def digests(tmp_path: Path) -> list[str]:
    """The text of every digest in the outbox Maildir, oldest first."""
    return [
        str(m.get_content())  # type: ignore[attr-defined]
        for m in sent(tmp_path)
        if "digest" in str(m["Message-ID"])
    ]


def unknown_dsn(n: int) -> bytes:
    """A Postfix DSN about mail we never sent (its own Message-ID)."""
    text = POSTFIX.format(message_id=f"other{n}@elsewhere.example")
    return text.replace("<dsn1@", f"<dsn-u{n}@").replace("\n", "\r\n").encode()


def test_postmaster_writing_a_report_gets_a_case_and_an_acknowledgement(tmp_path: Path) -> None:
    """postmaster@ is a person too: a plain report from it is a case, acknowledged."""
    service, _ = bot(tmp_path)
    raw = (
        b"From: Postmaster <postmaster@example.nl>\r\nTo: meldpunt@gemeente.example\r\n"
        b"Subject: Open relay op uw mailserver\r\nMessage-ID: <pm1@example.nl>\r\n\r\n"
        b"Uw server mail.gemeente.example is een open relay.\r\n"
    )
    deliver_to_maildir(tmp_path / "inbox", raw, START)
    outcomes, _ = asyncio.run(service.run_once())
    assert [(o.disposition, o.case_id) for o in outcomes] == [
        (Disposition.NEW_CASE, "MK-2026-0001")
    ]
    assert [str(m["To"]) for m in sent(tmp_path)].count("postmaster@example.nl") == 1


def test_unmatched_bounce_is_listed_in_the_next_digest_once(tmp_path: Path) -> None:
    """A DSN naming no failed mail of ours sends nothing at once, is in the next digest (even with
    no case open) and in no later one; a bounce of our own mail is alerted, never listed."""
    service, clock = bot(tmp_path)
    deliver_to_maildir(tmp_path / "inbox", unknown_dsn(1), START)
    outcomes, _ = asyncio.run(service.run_once())
    assert [(o.disposition, o.reason) for o in outcomes] == [
        (
            Disposition.BOUNCE,
            "delivery status notification (multipart/report);"
            " names no failed mail of ours (listed in the digest)",
        )
    ]
    assert service.store.outbox_all() == []
    clock.set(OPENING)
    asyncio.run(service.run_once())
    sha256 = hashlib.sha256(unknown_dsn(1)).hexdigest()
    first = digests(tmp_path)
    assert len(first) == 1
    assert "Afleverberichten (bounces) zonder mislukte mail van ons (1)" in first[0]
    assert "mailer-daemon@mx.example.nl — Undelivered Mail Returned to Sender" in first[0]
    assert f"(`mailbot message show {sha256[:12]}`)" in first[0]
    clock.set(START + timedelta(days=1))  # Tuesday 07:00 CET
    for raw in (report(1), unknown_dsn(2)):
        deliver_to_maildir(tmp_path / "inbox", raw, clock.now())
    asyncio.run(service.run_once())
    ack = next(r for r in service.store.outbox_all() if r.kind == "acknowledgement")
    ours = POSTFIX.format(message_id=ack.message_id).replace("<dsn1@", "<dsn-o@")
    deliver_to_maildir(tmp_path / "inbox", ours.replace("\n", "\r\n").encode(), clock.now())
    asyncio.run(service.run_once())
    assert len(digests(tmp_path)) == 1
    for day in (1, 2):  # Tuesday and Wednesday at opening
        clock.set(OPENING + timedelta(days=day))
        asyncio.run(service.run_once())
    _, tuesday, wednesday = digests(tmp_path)
    assert (tuesday.count("— Undelivered Mail"), "mislukte mail van ons (1)" in tuesday) == (
        1,
        True,
    )
    assert "Afleverberichten" not in wednesday


def test_a_flood_of_unmatched_bounces_sends_nothing_and_one_digest_counts_them(
    tmp_path: Path,
) -> None:
    """250 DSNs about mail we never sent: no mail at intake; the digest lists 200 of them
    and counts the other 50."""
    service, clock = bot(tmp_path)
    for n in range(250):
        deliver_to_maildir(tmp_path / "inbox", unknown_dsn(n), START + timedelta(seconds=n))
    outcomes, _ = asyncio.run(service.run_once())
    assert {o.disposition for o in outcomes} == {Disposition.BOUNCE}
    assert service.store.outbox_all() == []
    clock.set(OPENING)
    asyncio.run(service.run_once())
    (digest,) = digests(tmp_path)
    assert "zonder mislukte mail van ons (250)" in digest
    assert (
        digest.count("— Undelivered Mail"),
        "… en nog 50 (zie `mailbot messages`)" in digest,
    ) == (
        200,
        True,
    )

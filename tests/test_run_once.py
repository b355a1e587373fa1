"""`run --once` with the outbox on its own connection: mail leaves during the intake pass."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import factories

from mailbot.core import config
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store

NOW = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)


report = partial(
    factories.report,
    name="",
    sender="melder{n}@example.nl",
    body="Lek in https://site{n}.gemeente.example",
    subject="Lek {n}",
    content_type="text/plain",
)
"""Report `n` from its own address."""


class CountingMailbox(MaildirMailbox):
    """A Maildir whose `pending` notes how many mails the outbox had sent at each call."""

    def __init__(self, path: Path, sent: list[bytes]) -> None:
        super().__init__(path)
        self.sent = sent
        self.sent_at_pending: list[int] = []

    def pending(self, limit: int = 50) -> list:  # type: ignore[type-arg]
        self.sent_at_pending.append(len(self.sent))
        return super().pending(limit)


class RecordingTransport(MaildirTransport):
    """Maildir output that also keeps the order of what it sent."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.sent: list[bytes] = []

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        await super().send(sender, recipients, raw)
        self.sent.append(raw)


def service(base: Path, separate_outbox: bool) -> tuple[Service, CountingMailbox]:
    """A service on a Maildir with 120 reports (`separate_outbox`: its own connection)."""
    settings = config.embedded(base)
    for n in range(120):
        deliver_to_maildir(base / "inbox", report(n), NOW + timedelta(seconds=n))
    transport = RecordingTransport(base / "out")
    mailbox = CountingMailbox(base / "inbox", transport.sent)
    outbox = Store(settings.database.path, durable=False) if separate_outbox else None
    clock = ManualClock(NOW + timedelta(hours=1))
    store = Store(settings.database.path)
    return Service(settings, store, mailbox, transport, clock, outbox_store=outbox), mailbox


def test_intake_calls_batch_done_after_each_batch(tmp_path: Path) -> None:
    """120 messages in batches of 50: the hook runs after each of the three batches."""
    bot, _ = service(tmp_path, separate_outbox=False)
    calls: list[int] = []
    outcomes = bot.intake(50, batch_done=lambda: calls.append(len(calls)))
    bot.close()
    assert (len(outcomes), calls) == (120, [0, 1, 2])


def test_separate_outbox_sends_during_the_pass_with_the_same_end_state(tmp_path: Path) -> None:
    """With its own connection the outbox sends before the pass ends; the end state is
    the same as one pass followed by one flush."""
    results = []
    for separate in (False, True):
        bot, mailbox = service(tmp_path / str(separate), separate_outbox=separate)
        outcomes, counts = asyncio.run(bot.run_once())
        rows = [(r.kind, r.case_id, r.status) for r in bot.outbox.store.outbox_all()]
        cases = [c.id for c in bot.store.cases()]
        results.append((len(outcomes), counts.sent, sorted(rows), cases))
        early = mailbox.sent_at_pending[1:-1]
        bot.close()
        if separate:
            assert max(early) > 0  # mail had left before the last batch was read
        else:
            assert early == [0] * len(early)
    assert results[0] == results[1]
    assert results[0][:2] == (120, 241)  # 120 acknowledgements, 120 notices, the digest

"""The outbox sender: queued → sent | failed, retries with backoff, staff alert on failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.core.compose import kind_text, staff_alert
from mailbot.core.delivery import after_sent
from mailbot.core.effects import Inputs
from mailbot.core.errors import (
    StorageUnavailable,
    TransportPermanentError,
    TransportTemporaryError,
)
from mailbot.core.models import TO_REPORTER
from mailbot.core.wording import Phrase, clip
from mailbot.shell.applying import apply_delivered
from mailbot.shell.clock import Clock
from mailbot.shell.logs import get_logger
from mailbot.shell.transport import Transport
from mailbot.store import Store, storage_error
from mailbot.store.schema import OutboxRow, iso

RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=2)
CRASH_ENV = "MAILBOT_CRASH_AT"
"""Fault-injection hook for the crash tests: SIGKILL ourselves at the named point."""


def crashpoint(name: str) -> None:
    """Die like `kill -9` when $MAILBOT_CRASH_AT names this point (crash tests only)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _never() -> bool:
    return False


def _redacted(exc: Exception, row: OutboxRow) -> str:
    """The error for the log, without the recipients' addresses (the outbox row keeps all)."""
    text = str(exc)[:300]
    for address in row.recipients:
        text = re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE)
    return text


def lane_of(row: OutboxRow, lanes: int) -> int:
    """The lane of a mail: the same for every mail of its case (else of its recipients)."""
    key = row.case_id or ",".join(sorted(row.recipients))
    return zlib.crc32(key.encode()) % lanes


def retry_delay(attempts: int) -> timedelta:
    """Backoff after `attempts` failed tries: 1, 2, 4 … minutes, at most an hour."""
    delay: timedelta = RETRY_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_CAP)


@dataclass
class DeliveryCounts:
    """What one outbox flush did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    def add(self, other: DeliveryCounts) -> None:
        """Count what another flush did as well."""
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed


class Outbox:
    """Delivers queued mail through one transport, with its own store connection."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        clock: Clock,
        inputs: Callable[[], Inputs],
        lanes: Sequence[Transport] = (),
    ) -> None:
        self.store = store
        self.lanes = (transport, *lanes)
        """Transports (connections) that send side by side; one case keeps to one lane."""
        self.clock = clock
        self.inputs = inputs
        self.log = get_logger(task="outbox")
        self.stopping: Callable[[], bool] = _never
        """Asked before each mail: True (SIGTERM) sends nothing new; mails in flight finish."""
        self.unconfirmed: dict[int, tuple[OutboxRow, datetime]] = {}
        """Mails the server accepted whose "sent" mark could not be written yet (by row id,
        with the moment of acceptance). They are never sent again by this process; while
        any is here, no new mail is sent (the store cannot record it)."""
        self.unmarkable: set[int] = set()
        """Accepted mails whose mark failed for a reason of its own (not storage): never sent
        again by this process, and no reason to stop sending the rest."""

    async def deliver(self) -> DeliveryCounts:
        """Send every queued mail that is due; temporary failures are retried later.

        The mails of one case (or, without a case, to one set of recipients) go through
        one lane in queue order; the lanes send side by side. Raises StorageUnavailable,
        sending nothing, while a mail's "sent" mark cannot be written.
        """
        counts = DeliveryCounts()
        self._confirm()
        seen: set[int] = {*self.unconfirmed, *self.unmarkable}
        while not self.stopping() and (batch := [r for r in self._due() if r.id not in seen]):
            seen.update(r.id for r in batch)
            shares: list[list[OutboxRow]] = [[] for _ in self.lanes]
            for row in batch:
                shares[lane_of(row, len(self.lanes))].append(row)
            # Every lane ends before an error goes up: a lane left running would still send
            # rows that the next flush picks up again.
            results = await asyncio.gather(
                *(
                    self._deliver_all(t, rows, counts)
                    for t, rows in zip(self.lanes, shares, strict=True)
                    if rows
                ),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return counts

    async def close(self) -> None:
        """Close every lane's connection."""
        for transport in self.lanes:
            await transport.close()

    def _due(self) -> list[OutboxRow]:
        try:
            return self.store.due_outbox(self.clock.now())
        except Exception as exc:
            if (storage := storage_error(exc)) is None:
                raise
            raise storage from exc

    def _confirm(self) -> None:
        """Write the "sent" marks still owed; StorageUnavailable while that cannot be done."""
        for row_id, (row, sent_at) in list(self.unconfirmed.items()):
            try:
                self._mark_sent(row, sent_at)
            except Exception as exc:
                if (storage := storage_error(exc)) is not None:
                    raise storage from exc
                self._unmarkable(row, exc)
            else:
                self.log.info("mail_mark_written", case=row.case_id, message_id=row.message_id)
            del self.unconfirmed[row_id]

    def owed_marks(self) -> list[str]:
        """Message-IDs of accepted mails whose mark is still owed (after a last try)."""
        with contextlib.suppress(StorageUnavailable):  # still unwritable: named below
            self._confirm()
        return [row.message_id for row, _ in self.unconfirmed.values()]

    def _unmarkable(self, row: OutboxRow, exc: Exception) -> None:
        """The server has `row` but its mark fails for a reason of its own: never resend."""
        self.unmarkable.add(row.id)
        self.log.error(
            "mail_mark_refused", case=row.case_id, message_id=row.message_id, error=repr(exc)[:300]
        )

    async def _deliver_all(
        self, transport: Transport, rows: list[OutboxRow], counts: DeliveryCounts
    ) -> None:
        for row in rows:
            if self.stopping() or self.unconfirmed:
                return  # SIGTERM, or the store cannot record a send: nothing new goes out
            await self._deliver_one(row, counts, transport)

    async def _deliver_one(
        self, row: OutboxRow, counts: DeliveryCounts, transport: Transport
    ) -> None:
        log = self.log.bind(case=row.case_id, message_id=row.message_id, kind=row.kind)
        try:
            await transport.send(row.sender, row.recipients, row.raw)
        except TransportTemporaryError as exc:
            self._retry_or_fail(row, str(exc), counts)
            log.warning("mail_deferred", error=_redacted(exc, row), attempts=row.attempts + 1)
            return
        except TransportPermanentError as exc:
            self._fail(row, str(exc))
            counts.failed += 1
            log.error("mail_failed", error=_redacted(exc, row))
            return
        crashpoint("after_send")
        now = self.clock.now()
        counts.sent += 1
        try:
            self._mark_sent(row, now)
        except Exception as exc:
            if (storage := storage_error(exc)) is None:
                self._unmarkable(row, exc)
                return
            self.unconfirmed[row.id] = (row, now)  # the server has it: never send it again
            log.error("mail_mark_failed", error=str(storage)[:300])
            raise storage from exc
        log.info("mail_sent", to=len(row.recipients))

    def _mark_sent(self, row: OutboxRow, at: datetime) -> None:
        """Record that the server accepted `row` at `at`, with what that settles; a fault
        of the consequences themselves (not the store's) is logged and never un-sends it."""
        with self.store.transaction():
            self.store.outbox_update(
                row.id, status="sent", sent_at=iso(at), attempts=row.attempts + 1
            )
            try:
                with self.store.savepoint("consequences"):
                    self._after_sent(row, at)
            except Exception as exc:
                if storage_error(exc) is not None:
                    raise
                self.log.exception(
                    "mail_consequences_failed", case=row.case_id, message_id=row.message_id
                )

    def _retry_or_fail(self, row: OutboxRow, error: str, counts: DeliveryCounts) -> None:
        now = self.clock.now()
        attempts = row.attempts + 1
        if now - row.created_at >= GIVE_UP_AFTER:
            self._fail(row, Phrase("delivery.gave_up", attempts=attempts, error=error[:400]))
            counts.failed += 1
            return
        self.store.outbox_update(
            row.id,
            attempts=attempts,
            reason=error[:500],
            next_attempt_at=iso(now + retry_delay(attempts)),
        )
        counts.retried += 1

    def _fail(self, row: OutboxRow, error: str) -> None:
        now = self.clock.now()
        detail = f"{row.kind} to {', '.join(row.recipients)}: {error[:300]}"
        with self.store.transaction():
            self.store.outbox_update(
                row.id, status="failed", reason=error[:500], attempts=row.attempts + 1
            )
            self.store.add_event(row.case_id, now, "mailbot", "mail_failed", detail)
            if row.kind == "alert":
                return  # an alert about a failed alert would loop
            details = [
                Phrase("alert.message_id", value=f"<{row.message_id}>"),
                Phrase("alert.to", value=row.recipients),
                Phrase("alert.subject", value=row.subject),
            ]
            reason = Phrase("delivery.failed", kind=kind_text(row.kind), error=clip(error, 500))
            inp, seed = self.inputs(), f"failed{row.id}"
            alert = staff_alert(inp, "delivery_failed", reason, details, seed, row.case_id)
            self.store.enqueue(alert, now)

    def _after_sent(self, row: OutboxRow, now: datetime) -> None:
        """Apply what the mail changes (`core.delivery.after_sent`: clocks, case state)."""
        if row.case_id is None or row.kind not in TO_REPORTER:
            return
        case = self.store.case(row.case_id)
        if case is None:
            return
        dues = {c.name: c.due for c in self.store.clocks_of_case(case.id) if c.done_at is None}
        inp = self.inputs()
        update_days = inp.settings.deadlines.update
        delivered = after_sent(row.kind, row.message_id, case, dues, now, inp.calendar, update_days)
        apply_delivered(self.store, case.id, delivered, now)

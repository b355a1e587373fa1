"""The shell around the core: handle one message, one intake pass, one outbox flush."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mailbot import cases, parsing
from mailbot.classify import Context, Rules, Verdict, classify
from mailbot.clock import Clock
from mailbot.config import Settings
from mailbot.decide import Inputs, Plan, decide, staff_alert
from mailbot.errors import MailbotError, TransportPermanentError, TransportTemporaryError
from mailbot.logs import get_logger
from mailbot.mailbox import Mailbox, MailboxItem
from mailbot.models import Case, CaseState, Disposition, InboundMessage
from mailbot.rendering import Renderer
from mailbot.store import Store, iso
from mailbot.transport import Transport
from mailbot.workdays import Calendar, make_calendar

D = Disposition
TO_QUARANTINE = frozenset({D.QUARANTINED})
CRASH_ENV = "MAILBOT_CRASH_AT"
"""Fault-injection hook for the crash tests: SIGKILL ourselves at the named point."""
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class Outcome:
    """What became of one mailbox item."""

    key: str
    disposition: Disposition
    case_id: str | None
    message_id: str | None
    reason: str
    resumed: bool = False


@dataclass
class DeliveryCounts:
    """What one outbox flush did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


def calendar_for(settings: Settings) -> Calendar:
    """The working-day calendar of the settings."""
    d = settings.deadlines
    return make_calendar(d.timezone, d.office_open, d.cutoff, d.closure_days)


class Service:
    """One mailbot instance: its settings, store, mailbox, transport and clock."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        mailbox: Mailbox,
        transport: Transport,
        clock: Clock,
        renderer: Renderer | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox
        self.transport = transport
        self.clock = clock
        self.renderer = renderer or Renderer(settings.templates.directory)
        self.calendar = calendar_for(settings)
        self.rules = Rules.from_settings(settings)
        self.log = get_logger()
        self._crash_at = os.environ.get(CRASH_ENV, "")

    def _crashpoint(self, name: str) -> None:
        if self._crash_at == name:
            os.kill(os.getpid(), signal.SIGKILL)

    async def run_once(self) -> tuple[list[Outcome], DeliveryCounts]:
        """One intake pass, then flush the outbox (`mailbot run --once`)."""
        outcomes = self.intake()
        counts = await self.deliver()
        await self.transport.close()
        return outcomes, counts

    def close(self) -> None:
        """Release the mailbox and the store."""
        self.mailbox.close()
        self.store.close()

    # -- intake ---------------------------------------------------------------------------

    def intake(self, batch: int = 50) -> list[Outcome]:
        """Handle every pending message once; returns what became of each."""
        outcomes: list[Outcome] = []
        tried: set[str] = set()
        while True:
            items = [i for i in self.mailbox.pending(batch + len(tried)) if i.key not in tried]
            if not items:
                return outcomes
            for item in items[:batch]:
                tried.add(item.key)
                outcome = self.handle(item)
                if outcome is not None:
                    outcomes.append(outcome)

    def handle(self, item: MailboxItem) -> Outcome | None:
        """Record one message in one transaction, then move it; never raises."""
        started = time.perf_counter()
        sha = hashlib.sha256(item.raw).hexdigest()
        try:
            existing = self.store.message_by_sha(sha)
            outcome: Outcome | None = (
                _resumed(item.key, existing) if existing is not None else self._record(item)
            )
        except Exception as exc:
            outcome = self._record_failure(item, sha, exc)
        if outcome is None:
            return None
        self._move(item.key, outcome)
        self.log.info(
            "message_handled",
            disposition=outcome.disposition.value,
            case=outcome.case_id,
            message_id=outcome.message_id,
            resumed=outcome.resumed,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return outcome

    def _record(self, item: MailboxItem) -> Outcome:
        msg = self._parse(item)
        with self.store.transaction():
            ctx = self._context(msg)
            verdict = classify(msg, ctx, self.rules)
            new_id = self._new_case_id(msg) if verdict.disposition is D.NEW_CASE else None
            plan = decide(msg, verdict, ctx.case, new_id, self._inputs(msg))
            self._apply(plan, msg, item)
            self._crashpoint("before_commit")
        self._crashpoint("after_commit")
        v = plan.verdict
        return Outcome(item.key, v.disposition, v.case_id, msg.message_id, v.reason)

    def _parse(self, item: MailboxItem) -> InboundMessage:
        if item.size > self.settings.limits.max_message_bytes:
            return parsing.parse_headers_only(item.raw, item.received_at)
        return parsing.parse(item.raw, item.received_at)

    def _context(self, msg: InboundMessage) -> Context:
        seen = (
            self.store.seen_message_id(msg.message_id)
            if msg.message_id
            else self.store.message_by_sha(msg.raw_sha256) is not None
        )
        case, found_by = self._named_case(msg)
        return Context(seen_before=seen, case=case, found_by=found_by)

    def _named_case(self, msg: InboundMessage) -> tuple[Case | None, str]:
        for tag in cases.find_tags(msg.subject, self.settings.identity.case_prefix):
            case = self.store.case(tag)
            if case is not None:
                return case, "tag"
        refs = (*msg.in_reply_to, *reversed(msg.references))
        domain = self.rules.own_domain
        for ref in refs:
            local, _, ref_domain = ref.partition("@")
            if ref_domain.lower() == domain and local.startswith("case."):
                case = self.store.case(local.removeprefix("case."))
                if case is not None:
                    return case, "reference"
        case_id = self.store.case_by_outgoing_id(refs)
        if case_id is not None:
            return self.store.case(case_id), "reference"
        return None, ""

    def _new_case_id(self, msg: InboundMessage) -> str:
        year = msg.received_at.astimezone(self.calendar.timezone).year
        case_id, _ = self.store.next_case_id(self.settings.identity.case_prefix, year)
        return case_id

    def _inputs(self, msg: InboundMessage | None = None) -> Inputs:
        now = self.clock.now()
        counts: dict[str, int] = {}
        if msg is not None:
            since = now - timedelta(days=1)
            for address in {msg.from_address, *msg.reply_to, *msg.contacts.emails} - {None}:
                assert address is not None
                counts[address] = self.store.automatic_mails_since(address, since)
        return Inputs(self.settings, self.calendar, self.renderer, now, counts)

    def _apply(self, plan: Plan, msg: InboundMessage, item: MailboxItem) -> None:
        now = self.clock.now()
        v = plan.verdict
        if plan.new_case is not None:
            year, seq = (int(p) for p in plan.new_case.id.split("-")[1:3])
            self.store.insert_case(plan.new_case, year, seq, now)
        if plan.updated_case is not None:
            self.store.update_case(plan.updated_case, now)
        on_case = v.case_id if v.disposition in {D.NEW_CASE, D.FOLLOWUP, D.STAFF_REPLY} else None
        self.store.record_message(
            _message_row(msg, v, on_case, item.key, item.raw, now),
            [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                }
                for a in msg.attachments
            ],
        )
        for event in plan.events:
            self.store.add_event(event.case_id, now, event.actor, event.kind, event.detail)
        for queued in plan.mails:
            self.store.enqueue(queued.mail, now, queued.status, queued.reason)

    def _record_failure(self, item: MailboxItem, sha: str, exc: Exception) -> Outcome | None:
        """Park a message whose handling failed (raw kept, staff alerted); None if that fails."""
        self.log.exception("message_failed", key=item.key, error=repr(exc)[:300])
        reason = f"internal error: {type(exc).__name__}: {str(exc)[:200]}"
        try:
            msg = parsing.parse_headers_only(item.raw, item.received_at)
            verdict = Verdict(D.QUARANTINED, reason)
            with self.store.transaction():
                if self.store.message_by_sha(sha) is None:
                    plan = decide(msg, verdict, None, None, self._inputs())
                    self._apply(plan, msg, item)
            return Outcome(item.key, D.QUARANTINED, None, msg.message_id, reason)
        except Exception as second:
            self.log.exception("message_left_in_mailbox", key=item.key, error=repr(second)[:300])
            return None

    def _move(self, key: str, outcome: Outcome) -> None:
        try:
            if outcome.disposition in TO_QUARANTINE:
                self.mailbox.mark_quarantined(key)
            else:
                self.mailbox.mark_processed(key)
        except MailbotError as exc:
            # Recorded already: the next pass finds the sha256 and finishes the move.
            self.log.warning("move_failed", key=key, error=str(exc)[:300])

    # -- outbox ---------------------------------------------------------------------------

    async def deliver(self) -> DeliveryCounts:
        """Send every queued mail that is due; temporary failures are retried later."""
        counts = DeliveryCounts()
        for row in self.store.due_outbox(self.clock.now()):
            await self._deliver_one(row, counts)
        return counts

    async def _deliver_one(self, row: dict[str, object], counts: DeliveryCounts) -> None:
        log = self.log.bind(case=row["case_id"], message_id=row["message_id"], kind=row["kind"])
        recipients = json.loads(str(row["recipients"]))
        raw = row["raw"]
        assert isinstance(raw, bytes)
        try:
            await self.transport.send(str(row["sender"]), recipients, raw)
        except TransportTemporaryError as exc:
            self._retry_or_fail(row, str(exc), counts)
            log.warning(
                "mail_deferred", error=str(exc)[:300], attempts=int(str(row["attempts"])) + 1
            )
            return
        except TransportPermanentError as exc:
            self._fail(row, str(exc))
            counts.failed += 1
            log.error("mail_failed", error=str(exc)[:300])
            return
        self._crashpoint("after_send")
        now = self.clock.now()
        with self.store.transaction():
            self.store.outbox_update(
                int(str(row["id"])),
                status="sent",
                sent_at=iso(now),
                attempts=int(str(row["attempts"])) + 1,
            )
            self._after_sent(row, now)
        counts.sent += 1
        log.info("mail_sent", to=len(recipients))

    def _retry_or_fail(self, row: dict[str, object], error: str, counts: DeliveryCounts) -> None:
        now = self.clock.now()
        attempts = int(str(row["attempts"])) + 1
        created = datetime.fromisoformat(str(row["created_at"]))
        if now - created >= GIVE_UP_AFTER:
            self._fail(row, f"gave up after {attempts} attempts: {error}")
            counts.failed += 1
            return
        delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP)
        self.store.outbox_update(
            int(str(row["id"])),
            attempts=attempts,
            reason=error[:500],
            next_attempt_at=iso(now + delay),
        )
        counts.retried += 1

    def _fail(self, row: dict[str, object], error: str) -> None:
        now = self.clock.now()
        case_id = row["case_id"] if isinstance(row["case_id"], str) else None
        with self.store.transaction():
            self.store.outbox_update(
                int(str(row["id"])),
                status="failed",
                reason=error[:500],
                attempts=int(str(row["attempts"])) + 1,
            )
            self.store.add_event(
                case_id,
                now,
                "mailbot",
                "mail_failed",
                f"{row['kind']} to {', '.join(json.loads(str(row['recipients'])))}: {error[:300]}",
            )
            if row["kind"] != "alert":
                title = {"nl": "Bezorging mislukt", "en": "Delivery failed"}
                details = [f"Message-ID: {row['message_id']}", f"Subject: {row['subject']}"]
                alert = staff_alert(
                    self._inputs(),
                    title,
                    error[:500],
                    details,
                    seed=f"failed{row['id']}",
                    case_id=case_id,
                )
                self.store.enqueue(alert, now)

    def _after_sent(self, row: dict[str, object], now: datetime) -> None:
        """Clocks met by this mail (the acknowledgement meets ack_due)."""
        if row["kind"] != "acknowledgement" or not isinstance(row["case_id"], str):
            return
        case = self.store.case(row["case_id"])
        if case is None or case.acknowledged_at is not None:
            return
        state = CaseState.ACKNOWLEDGED if case.state is CaseState.NEW else case.state
        self.store.update_case(replace(case, acknowledged_at=now, state=state), now)
        met = "met" if case.ack_due is None or now <= case.ack_due else "missed"
        self.store.add_event(case.id, now, "mailbot", "acknowledged", f"ack_due {met}")
        if state is not case.state:
            self.store.add_event(
                case.id, now, "mailbot", "state_changed", f"{case.state} → {state}"
            )


def _resumed(key: str, row: dict[str, object]) -> Outcome:
    """A message recorded before a crash: only its move remains to be done."""
    return Outcome(
        key,
        Disposition(str(row["disposition"])),
        row["case_id"] if isinstance(row["case_id"], str) else None,
        row["message_id"] if isinstance(row["message_id"], str) else None,
        str(row["reason"]),
        resumed=True,
    )


def _message_row(
    msg: InboundMessage, v: Verdict, case_id: str | None, key: str, raw: bytes, now: datetime
) -> dict[str, object]:
    return {
        "message_id": msg.message_id,
        "sha256": msg.raw_sha256,
        "size": msg.size,
        "from_address": msg.from_address,
        "from_name": msg.from_name,
        "subject": msg.subject[:1000],
        "received_at": iso(msg.received_at),
        "disposition": v.disposition.value,
        "reason": v.reason,
        "case_id": case_id,
        "named_case": v.case_id,
        "mailbox_key": key,
        "raw": raw,
        "recorded_at": iso(now),
    }

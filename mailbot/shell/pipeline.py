"""The shell around the core: handle one message, one intake pass, one outbox flush."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mailbot.core import cases, redelivery
from mailbot.core.authentication import AuthVerdict, verify_sender
from mailbot.core.bounces import BouncedMail, plan_bounce
from mailbot.core.classify import Context, Rules, Verdict, classify
from mailbot.core.config import Settings
from mailbot.core.decide import Inputs, Plan, decide, with_collision_alert
from mailbot.core.errors import MailbotError, MailboxUnavailable
from mailbot.core.models import Case, Disposition, InboundMessage
from mailbot.core.scheduler import SchedulePolicy
from mailbot.core.staffmail import plan_staff_reply
from mailbot.core.workdays import Calendar, make_calendar
from mailbot.mail import parsing
from mailbot.mail.rendering import Renderer
from mailbot.shell.clock import Clock
from mailbot.shell.logs import get_logger
from mailbot.shell.mailbox import Mailbox, MailboxItem
from mailbot.shell.outbox import DeliveryCounts, Outbox, crashpoint
from mailbot.shell.ticker import Ticker
from mailbot.shell.transport import Transport
from mailbot.store import Store, storage_error
from mailbot.store.schema import iso

D = Disposition
TO_QUARANTINE = frozenset({D.QUARANTINED})
MAX_RELAYED_BYTES = 10 * 1024 * 1024
"""Staff attachments relayed to a reporter, in all (later ones are left out)."""
RESTART_SECTIONS = ("mailbox", "outbound", "database", "logging")
"""Config sections a reload cannot apply: open connections and loggers keep the old ones."""


@dataclass(frozen=True)
class Outcome:
    """What became of one mailbox item."""

    key: str
    disposition: Disposition
    case_id: str | None
    message_id: str | None
    reason: str
    resumed: bool = False


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
        outbox_store: Store | None = None,
        lanes: tuple[Transport, ...] = (),
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox
        self.clock = clock
        self.renderer = renderer or Renderer(settings.templates.directory)
        self.calendar = calendar_for(settings)
        self.rules = Rules.from_settings(settings)
        self.log = get_logger()
        self.outbox = Outbox(outbox_store or store, transport, clock, self._inputs, lanes)
        policy = SchedulePolicy(hours_before=float(settings.deadlines.remind_hours_before))
        self.ticker = Ticker(self.outbox.store, self._inputs, policy)

    async def deliver(self) -> DeliveryCounts:
        """Flush the outbox (see `mailbot.outbox`)."""
        return await self.outbox.deliver()

    def tick(self) -> int:
        """One scheduler tick (on the outbox's connection); returns the mails it queued."""
        return self.ticker.tick()

    async def run_once(self) -> tuple[list[Outcome], DeliveryCounts]:
        """One intake pass, then a tick and a flush of the outbox (`mailbot run --once`).

        With a store connection of its own for the outbox, mail goes out during the pass:
        the intake runs in a worker thread and wakes the outbox after every batch, so a
        backlog's acknowledgements leave while the rest is still being read.
        """
        counts = DeliveryCounts()
        try:
            if self.outbox.store is self.store:
                outcomes = self.intake()
            else:
                outcomes = await self._intake_delivering(counts)
        except MailboxUnavailable:
            # The mailbox is down: what is recorded still gets its reminders and mail.
            self.tick()
            await self.deliver()
            await self.outbox.close()
            raise
        self.tick()
        counts.add(await self.deliver())
        await self.outbox.close()
        return outcomes, counts

    async def _intake_delivering(self, counts: DeliveryCounts) -> list[Outcome]:
        """`intake` in a worker thread while the outbox delivers what each batch queued."""
        loop = asyncio.get_running_loop()
        kick = asyncio.Event()

        def batch_done() -> None:
            loop.call_soon_threadsafe(kick.set)

        passing = asyncio.ensure_future(asyncio.to_thread(self.intake, 50, None, batch_done))
        while not passing.done():
            kicked = asyncio.ensure_future(kick.wait())
            await asyncio.wait({passing, kicked}, return_when=asyncio.FIRST_COMPLETED)
            kicked.cancel()
            kick.clear()
            counts.add(await self.deliver())
        return passing.result()

    def close(self) -> None:
        """Release the mailbox and the store connections."""
        self.mailbox.close()
        if self.outbox.store is not self.store:
            self.outbox.store.close()
        self.store.close()

    def reconfigure(self, settings: Settings, renderer: Renderer | None = None) -> tuple[str, ...]:
        """Take reloaded settings; returns the changed sections that need a restart.

        Call between two messages (never during an intake pass or a tick). Everything is
        built before anything is swapped; the RESTART_SECTIONS keep their running values.
        """
        restart = restart_sections(self.settings, settings)
        kept = {name: getattr(self.settings, name) for name in RESTART_SECTIONS}
        use_credentials = getattr(self.mailbox, "use_credentials", None)
        new_secret = "mailbox" in restart and _password_only(self.settings, settings)
        if new_secret and callable(use_credentials):  # a corrected secret after a refused login
            use_credentials(settings.mailbox)
            kept["mailbox"] = settings.mailbox
            restart = tuple(name for name in restart if name != "mailbox")
        new = replace(settings, **kept)
        new_renderer = renderer or Renderer(new.templates.directory)
        calendar, rules = calendar_for(new), Rules.from_settings(new)
        policy = SchedulePolicy(hours_before=float(new.deadlines.remind_hours_before))
        self.settings, self.renderer, self.calendar, self.rules = new, new_renderer, calendar, rules
        self.ticker = Ticker(self.outbox.store, self._inputs, policy)
        return restart

    # -- intake ---------------------------------------------------------------------------

    def intake(
        self,
        batch: int = 50,
        stop: Callable[[], bool] | None = None,
        batch_done: Callable[[], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Outcome]:
        """Handle every pending message once; returns what became of each.

        `stop` is asked between two messages: when it says True the pass ends after the
        message in hand (SIGTERM). `batch_done` is called once each batch is recorded,
        before its move (to wake the outbox); `progress` after it with the count so far.
        Raises MailboxUnavailable when the mailbox cannot be read and StorageUnavailable
        when the database cannot be written (the message in hand stays in the mailbox).
        """
        stop = stop or _never
        outcomes: list[Outcome] = []
        tried: set[str] = set()
        while not stop():
            # Handled mail leaves the pending set; what is still there after its turn (a
            # failed move) is skipped until the next pass.
            items = [i for i in self.mailbox.pending(batch) if i.key not in tried]
            if not items:
                break
            processed: list[str] = []
            try:
                self._handle_batch(items, stop, tried, outcomes, processed)
            finally:
                # Also when the store failed mid-batch: what it recorded is moved.
                if batch_done is not None:
                    batch_done()  # recorded and committed: the outbox may send while we move
                self._move_processed(processed)
            if progress is not None:
                progress(len(outcomes))
        try:
            self.store.state_set("heartbeat:intake", self.clock.now().isoformat())
        except Exception as exc:
            if (storage := storage_error(exc)) is None:
                raise
            raise storage from exc
        return outcomes

    def _handle_batch(
        self,
        items: list[MailboxItem],
        stop: Callable[[], bool],
        tried: set[str],
        outcomes: list[Outcome],
        processed: list[str],
    ) -> None:
        """Record each item of one batch (quarantine moved at once, the rest listed)."""
        for item in items:
            if stop():
                break
            tried.add(item.key)
            outcome = self.handle(item, move=False)
            if outcome is None:
                continue
            outcomes.append(outcome)
            if outcome.disposition in TO_QUARANTINE:
                self._move(item.key, outcome)
            else:
                processed.append(item.key)

    def handle(self, item: MailboxItem, move: bool = True) -> Outcome | None:
        """Record one message in one transaction, then (if `move`) move it; never raises.

        Without `move` the caller moves it later (intake moves a batch in one command).
        """
        started = time.perf_counter()
        sha = hashlib.sha256(item.raw).hexdigest()
        try:
            # Resumed: this very mailbox item was recorded before a crash or a failed move.
            # A new item with the same bytes is recorded again (as a duplicate).
            existing = self.store.message_by_item(item.origin, sha)
            outcome: Outcome | None = (
                _resumed(item.key, existing) if existing is not None else self._record(item)
            )
        except Exception as exc:
            if (storage := storage_error(exc)) is not None:
                raise storage from exc  # not the message's fault: it stays in the mailbox
            outcome = self._record_failure(item, sha, exc)
        if outcome is None:
            return None
        if move:
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
        content = redelivery.content_digest(item.raw)
        with self.store.transaction():
            sameness = self._sameness(msg, content)
            ctx = self._context(msg, sameness.duplicate)
            verdict = classify(msg, ctx, self.rules)
            new_id = self._new_case_id(msg) if verdict.disposition is D.NEW_CASE else None
            if verdict.disposition is D.BOUNCE:
                plan = self._bounce_plan(msg, verdict)
            elif verdict.disposition is D.STAFF_REPLY and ctx.case is not None:
                files = parsing.attachment_payloads(item.raw, MAX_RELAYED_BYTES)
                inputs = self._inputs(msg)
                plan = plan_staff_reply(msg, verdict, ctx.case, self._known(msg), inputs, files)
            else:
                plan = decide(msg, verdict, ctx.case, new_id, self._inputs(msg))
            if sameness.collision:
                plan = with_collision_alert(plan, msg, sameness.reason, self._inputs())
            self._apply(plan, msg, item, content)
            crashpoint("before_commit")
        crashpoint("after_commit")
        v = plan.verdict
        return Outcome(item.key, v.disposition, v.case_id, msg.message_id, v.reason)

    def _parse(self, item: MailboxItem) -> InboundMessage:
        if item.size > self.settings.limits.max_message_bytes:
            return parsing.parse_headers_only(item.raw, item.received_at)
        return parsing.parse(item.raw, item.received_at)

    def _sameness(self, msg: InboundMessage, content: str) -> redelivery.Sameness:
        """Duplicate or collision by Message-ID; without one, the same bytes seen before."""
        if msg.message_id is None:
            seen = self.store.seen_sha(msg.raw_sha256)
            return redelivery.Sameness(duplicate=seen, collision=False)
        rows = self.store.messages_with_id(msg.message_id)
        for row in rows:
            if row["content_sha256"] is None:  # recorded before the digest was kept
                raw = self.store.message_raw(int(row["id"]))
                row["content_sha256"] = redelivery.content_digest(raw) if raw else None
        earlier = redelivery.earlier_of(rows)
        return redelivery.judge(msg.message_id, msg.from_address, content, earlier)

    def _context(self, msg: InboundMessage, seen: bool) -> Context:
        case, found_by = self._named_case(msg) if not seen else (None, "")
        auth = self._authentication(msg, case)
        return Context(seen, case, found_by, auth.authenticated, auth.reason)

    def _authentication(self, msg: InboundMessage, case: Case | None) -> AuthVerdict:
        """Our MTA's word on the sender, asked only of staff and relay addresses (the
        Authentication-Results of everyone else are never parsed: they cannot matter)."""
        sender = msg.from_address
        relays = {*self.rules.relays, case.relay_sender if case is not None else None}
        if sender is None or (sender not in self.rules.staff and sender not in relays):
            return AuthVerdict(False, "not a staff or relay address")
        staff = self.settings.staff
        if not staff.require_authenticated:
            return AuthVerdict(True, "authentication not required by config")
        return verify_sender(msg, staff.authserv_ids)

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

    def _bounce_plan(self, msg: InboundMessage, verdict: Verdict) -> Plan:
        bounced = [
            BouncedMail(
                r["id"],
                r["message_id"],
                r["case_id"],
                r["kind"],
                tuple(json.loads(r["recipients"])),
            )
            for r in self.store.outbox_by_message_ids(msg.bounced_message_ids)
        ]
        named = {b.case_id for b in bounced if b.case_id}
        found = {c: case for c in named if (case := self.store.case(c)) is not None}
        return plan_bounce(msg, verdict, bounced, found, self._inputs())

    def _known(self, msg: InboundMessage) -> frozenset[str]:
        """The case ids named in a staff mail's text that exist (for `Close: duplicate`)."""
        tags = cases.find_tags(msg.text[:20_000], self.settings.identity.case_prefix)
        return frozenset(t for t in tags if self.store.case(t) is not None)

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

    def _apply(self, plan: Plan, msg: InboundMessage, item: MailboxItem, content: str) -> None:
        now = self.clock.now()
        v = plan.verdict
        if plan.new_case is not None:
            year, seq = (int(p) for p in plan.new_case.id.rsplit("-", 2)[1:3])
            self.store.insert_case(plan.new_case, year, seq, now)
        if plan.updated_case is not None:
            self.store.update_case(plan.updated_case, now)
        case = plan.new_case or plan.updated_case
        if case is not None:
            for name, deadline in plan.clocks:
                self.store.start_clock(case.id, name, deadline, now)
            if plan.end_clocks:
                self.store.end_clocks(case.id, now)
        on_case = v.case_id if v.disposition in {D.NEW_CASE, D.FOLLOWUP, D.STAFF_REPLY} else None
        # The bytes are kept once: a byte-identical copy gets its own row without them.
        raw = None if self.store.raw_kept(msg.raw_sha256) else item.raw
        self.store.record_message(
            {**_message_row(msg, v, on_case, item.origin, raw, now), "content_sha256": content},
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
            if not self.store.enqueue(queued.mail, now, queued.status, queued.reason):
                self.log.warning("outbox_id_taken", kind=queued.mail.kind, case=v.case_id)
        for key, mail in plan.once:
            if self.store.record_notice(key, mail.kind, mail.case_id, mail.message_id, now):
                self.store.enqueue(mail, now)
        for outbox_id, reason in plan.outbox_failed:
            self.store.outbox_update(outbox_id, status="failed", reason=reason[:500])

    def _record_failure(self, item: MailboxItem, sha: str, exc: Exception) -> Outcome | None:
        """Park a message whose handling failed (raw kept, staff alerted); None if that fails."""
        self.log.exception("message_failed", key=item.key, error=repr(exc)[:300])
        reason = f"internal error: {type(exc).__name__}: {str(exc)[:200]}"
        try:
            msg = parsing.parse_headers_only(item.raw, item.received_at)
            verdict = Verdict(D.QUARANTINED, reason)
            with self.store.transaction():
                if self.store.message_by_item(item.origin, sha) is None:
                    plan = decide(msg, verdict, None, None, self._inputs())
                    self._apply(plan, msg, item, redelivery.content_digest(item.raw))
            return Outcome(item.key, D.QUARANTINED, None, msg.message_id, reason)
        except Exception as second:
            self.log.exception("message_left_in_mailbox", key=item.key, error=repr(second)[:300])
            if (storage := storage_error(second)) is not None:
                raise storage from second
            return None

    def _move_processed(self, keys: list[str]) -> None:
        try:
            self.mailbox.mark_processed_many(keys)
        except MailbotError as exc:
            # Recorded already: the next pass finds each sha256 and finishes the move.
            self.log.warning("move_failed", keys=len(keys), error=str(exc)[:300])

    def _move(self, key: str, outcome: Outcome) -> None:
        try:
            if outcome.disposition in TO_QUARANTINE:
                self.mailbox.mark_quarantined(key)
            else:
                self.mailbox.mark_processed(key)
        except MailbotError as exc:
            # Recorded already: the next pass finds the sha256 and finishes the move.
            self.log.warning("move_failed", key=key, error=str(exc)[:300])


def _never() -> bool:
    return False


def _password_only(old: Settings, new: Settings) -> bool:
    """True when the [mailbox] sections differ in their password and nothing else."""
    return replace(old.mailbox, password=None) == replace(new.mailbox, password=None)


def restart_sections(old: Settings, new: Settings) -> tuple[str, ...]:
    """The RESTART_SECTIONS whose values differ between `old` and `new`."""
    return tuple(name for name in RESTART_SECTIONS if getattr(old, name) != getattr(new, name))


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
    msg: InboundMessage,
    v: Verdict,
    case_id: str | None,
    key: str,
    raw: bytes | None,
    now: datetime,
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

"""The shell around the core: handle one message, one intake pass, one outbox flush."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import replace

from mailbot.core.classify import Rules
from mailbot.core.config import Settings
from mailbot.core.effects import Inputs
from mailbot.core.errors import MailbotError, MailboxUnavailable
from mailbot.core.models import Disposition, InboundMessage
from mailbot.core.scheduler import SchedulePolicy
from mailbot.core.workdays import Calendar, make_calendar
from mailbot.mail.openpgp import MeldpuntKey
from mailbot.mail.rendering import Renderer
from mailbot.shell.clock import Clock
from mailbot.shell.keys import load_key
from mailbot.shell.logs import get_logger
from mailbot.shell.mailbox import Mailbox, MailboxItem
from mailbot.shell.outbox import DeliveryCounts, Outbox
from mailbot.shell.recording import Outcome, Recorder
from mailbot.shell.ticker import Ticker
from mailbot.shell.transport import Transport
from mailbot.store import Store, storage_error
from mailbot.store.rows import RecordedItem

D = Disposition
TO_QUARANTINE = frozenset({D.QUARANTINED})
RESTART_SECTIONS = ("mailbox", "outbound", "database", "logging")
"""Config sections a reload cannot apply: open connections and loggers keep the old ones."""


def calendar_for(settings: Settings) -> Calendar:
    """The working-day calendar of the settings (explanations in the staff language)."""
    d = settings.deadlines
    language = settings.identity.language
    return make_calendar(d.timezone, d.office_open, d.cutoff, d.closure_days, language)


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
        key: MeldpuntKey | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox
        self.clock = clock
        self.key = key
        """The meldpunt's OpenPGP secret key ([openpgp]; `build_service` loads it)."""
        self.renderer = renderer or Renderer(settings.templates.directory)
        self.calendar = calendar_for(settings)
        self.rules = Rules.from_settings(settings)
        self.log = get_logger()
        self.recorder = self._recorder()
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
        from mailbot.shell.monthly import MonthlyReports  # noqa: PLC0415 - the report's modules

        MonthlyReports().tick(self)  # last month's report by mail, when due and not sent
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
        The [openpgp] key files are read again: a key that cannot be loaded raises
        ConfigError before anything changed (the daemon then keeps the old config and key).
        """
        key = self._reloaded_key(settings)
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
        if key is not self.key:
            fingerprint = key.fingerprint if key is not None else None
            self.log.info("openpgp_key_reloaded", fingerprint=fingerprint)
        self.key = key
        self.recorder = self._recorder()
        self.ticker = Ticker(self.outbox.store, self._inputs, policy)
        return restart

    def _reloaded_key(self, settings: Settings) -> MeldpuntKey | None:
        """The key of reloaded `settings`, its files read again (the same object while they
        are unchanged). A key given to the constructor stays while neither the old nor the
        new settings name a secret_key_file."""
        named = settings.openpgp.secret_key_file, self.settings.openpgp.secret_key_file
        if named == (None, None):
            return self.key
        return load_key(settings.openpgp, self.clock.now())

    def _recorder(self) -> Recorder:
        return Recorder(
            self.settings,
            self.store,
            self.clock,
            self.renderer,
            self.calendar,
            self.rules,
            key=self.key,
        )

    def _inputs(self, msg: InboundMessage | None = None) -> Inputs:
        """The current configuration's inputs for the core (outbox and ticker ask too)."""
        return self.recorder.inputs(msg)

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
                _resumed(item.key, existing) if existing is not None else self.recorder.record(item)
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

    def _record_failure(self, item: MailboxItem, sha: str, exc: Exception) -> Outcome | None:
        """Park a message whose handling failed (raw kept, staff alerted); None if that fails."""
        self.log.exception("message_failed", key=item.key, error=repr(exc)[:300])
        reason = f"internal error: {type(exc).__name__}: {str(exc)[:200]}"
        try:
            return self.recorder.record_quarantined(item, sha, reason)
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


def _resumed(key: str, row: RecordedItem) -> Outcome:
    """A message recorded before a crash: only its move remains to be done."""
    return Outcome(
        key, Disposition(row.disposition), row.case_id, row.message_id, row.reason, resumed=True
    )

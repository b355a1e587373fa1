"""The scheduler tick (shell): read open clocks, record misses, queue each notice once.

A tick reads every open clock only while a notice about no single clock (today's digest,
a closure warning) is still to go out, in practice the first tick of the working day.
Otherwise it reads the clocks that can matter now: due before `reminder_horizon`, and
not missed clocks that today's escalation named already (their keys are recorded with
it). What it leaves out gives no notice now, and nothing of it changes before the
horizon's quiet moment. Until today's escalation is out, a tick also reads when the
previous one went out: the clocks missed since then are its newly missed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mailbot.core.bounces import NO_BOUNCES, BounceListing
from mailbot.core.effects import Inputs
from mailbot.core.escalations import PREFIX, day_key
from mailbot.core.models import OutgoingMail
from mailbot.core.notices_mail import DIGEST_ENTRIES, render_notice
from mailbot.core.scheduler import Notice as SchedulerNotice
from mailbot.core.scheduler import OpenClock as SchedulerOpenClock
from mailbot.core.scheduler import (
    SchedulePolicy,
    daily_keys,
    escalation_affixes,
    newly_missed,
    next_change,
    notices,
    reminder_horizon,
)
from mailbot.shell.applying import apply_notices
from mailbot.shell.logs import get_logger
from mailbot.store import Store
from mailbot.store.rows import OpenClockRow

#: Notices rendered, then recorded and queued in one transaction (the first tick of a
#: day may queue thousands: one commit each would cost more than the rendering).
BATCH = 100


class Ticker:
    """One scheduler tick: pure decision (`mailbot.scheduler`) plus its effects."""

    def __init__(self, store: Store, inputs: Callable[[], Inputs], policy: SchedulePolicy) -> None:
        self.store = store
        self.inputs = inputs
        self.policy = policy
        self.log = get_logger(task="scheduler")
        self._valid_until: datetime | None = None
        self._version: tuple[int, int] = (-1, -1)

    def _db_version(self) -> tuple[int, int]:
        """Changes by other connections (data_version) and by ours (total_changes)."""
        return self.store.data_version(), self.store.changes()

    def tick(self) -> int:
        """Record newly missed clocks and queue the notices due now; returns mails queued.

        A tick before the next moment that can change the answer (`scheduler.next_change`),
        with no write to the database since the last full tick, only beats the heartbeat.
        """
        inp = self.inputs()
        version = self._db_version()
        if self._valid_until and inp.now < self._valid_until and version == self._version:
            self.store.state_set("heartbeat:tick", inp.now.isoformat())
            self._version = (version[0], self.store.changes())
            return 0
        queued, valid_until = self._full_tick(inp)
        self._valid_until = valid_until
        self._version = (version[0], self.store.changes())
        return queued

    def _full_tick(self, inp: Inputs) -> tuple[int, datetime]:
        """Decide on the clocks that can matter now and act; returns (queued, valid until)."""
        now, calendar = inp.now, inp.calendar
        day_keys = daily_keys(now, calendar)
        escalation_key = [day_key(calendar, now)] if day_keys else []  # office hours only
        asked = [*day_keys, *escalation_key]
        sent = frozenset(self.store.recorded_notices(asked)) if asked else frozenset()
        if len(sent & set(day_keys)) < len(day_keys):  # a digest or closure warning to send
            found = self.store.open_clocks()
            quiet = None
        else:
            horizon, quiet = reminder_horizon(calendar, now, self.policy)
            escalated = (now, *escalation_affixes(now, calendar))
            found = self.store.open_clocks(until=horizon, escalated=escalated)
        clocks = [r.clock() for r in found]
        bounces = self._bounces(day_keys, sent)
        self._record_missed(now, clocks, found)
        previous = None
        if escalation_key and escalation_key[0] not in sent:
            previous = self.store.last_sent_between(PREFIX, escalation_key[0])
        due_now = notices(now, calendar, clocks, sent, self.policy, bounces.total > 0, previous)
        recorded = self.store.recorded_notices([n.key for n in due_now])  # one query
        queued = self._send([n for n in due_now if n.key not in recorded], inp, bounces)
        self.store.state_set("heartbeat:tick", inp.now.isoformat())
        until = next_change(now, calendar, clocks, self.policy)
        return queued, until if quiet is None else min(until, quiet)

    def _record_missed(
        self, now: datetime, clocks: list[SchedulerOpenClock], found: list[OpenClockRow]
    ) -> None:
        """Record the clocks newly past their due (`clocks` are the rows `found`)."""
        missed = [c for c in newly_missed(now, clocks) if c.missed_at is None]
        if not missed:
            return
        ids = {id(c): r.id for c, r in zip(clocks, found, strict=True)}  # the same read
        with self.store.transaction():
            for clock in missed:
                self.store.mark_missed(ids[id(clock)], now)
                self.store.add_event(clock.case_id, now, "mailbot", "clock_missed", clock.name)

    def _send(self, pending: list[SchedulerNotice], inp: Inputs, bounces: BounceListing) -> int:
        """Render, record and queue `pending` in batches; returns the mails queued."""
        queued = 0
        for start in range(0, len(pending), BATCH):
            batch: list[tuple[SchedulerNotice, OutgoingMail]] = []
            try:
                for notice in pending[start : start + BATCH]:
                    if notice.kind == "digest" and bounces.total:
                        mail = render_notice(notice, inp, self.policy, bounces)
                    else:
                        mail = render_notice(notice, inp, self.policy)
                    batch.append((notice, mail))
            finally:  # a notice that fails to render stops the tick after those before it
                queued += self._queue(batch, inp.now, bounces)
        return queued

    def _bounces(self, day_keys: list[str], sent: frozenset[str]) -> BounceListing:
        """The unmatched bounces for today's digest while it is still to go out."""
        if any(key.startswith("digest:") and key not in sent for key in day_keys):
            return self.store.unmatched_bounces(DIGEST_ENTRIES)
        return NO_BOUNCES

    def _queue(
        self,
        batch: list[tuple[SchedulerNotice, OutgoingMail]],
        now: datetime,
        bounces: BounceListing = NO_BOUNCES,
    ) -> int:
        """Record, queue and log rendered notices in one transaction; returns mails queued."""
        with self.store.transaction():
            queued = apply_notices(self.store, batch, now, bounces)
        for notice, _ in batch:
            kind, case, key = notice.kind, notice.case_id, notice.key
            self.log.info("notice_queued", kind=kind, case=case, key=key, clocks=len(notice.items))
        return queued

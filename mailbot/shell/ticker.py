"""The scheduler tick (shell): read open clocks, record misses, queue each notice once.

A tick reads every open clock only while a notice about no single clock (today's digest,
a closure warning) is still to go out, in practice the first tick of the working day.
Otherwise it reads the clocks that can matter now: due before `reminder_horizon`, and
not missed clocks whose escalation of today is recorded already. What it leaves out
gives no notice now, and nothing of it changes before the horizon's quiet moment.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from mailbot.core.decide import Inputs
from mailbot.core.models import OutgoingMail
from mailbot.core.scheduler import Notice as SchedulerNotice
from mailbot.core.scheduler import (
    OpenClock,
    SchedulePolicy,
    daily_keys,
    digest_sections,
    escalation_affixes,
    newly_missed,
    next_change,
    notices,
    reminder_horizon,
)
from mailbot.mail.rendering import build_mail, format_moment, make_message_id
from mailbot.shell.logs import get_logger
from mailbot.store import Store
from mailbot.store.bounces import BounceListing, mark_listed, unmatched_bounces

CLOCK_TITLES: Mapping[str, Mapping[str, str]] = {
    "nl": {
        "ack_due": "ontvangstbevestiging",
        "response_due": "inhoudelijke reactie",
        "update_due": "voortgangsbericht",
        "resolve_due": "oplossing",
    },
    "en": {
        "ack_due": "acknowledgement",
        "response_due": "substantive response",
        "update_due": "progress update",
        "resolve_due": "resolution",
    },
}
DIGEST_ENTRIES = 200
"""Entries per digest section; the rest is counted ("… and N more", `mailbot deadlines`).
A mail listing thousands of clocks is read by nobody and costs ~10x its size to build."""
DIGEST_TITLES = {
    "nl": ("Verlopen", "Vandaag", "Volgende werkdag", "Later", "Gepauzeerd (wacht op melder)"),
    "en": ("Overdue", "Due today", "Due next working day", "Later", "Paused (waiting)"),
}


NO_BOUNCES = BounceListing((), 0, 0)

#: `format_moment` of the many clocks sharing a due (a digest lists every open clock).
_format_moment = functools.lru_cache(maxsize=4096)(format_moment)

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
        sent = frozenset(self.store.recorded_notices(day_keys)) if day_keys else frozenset()
        if len(sent) < len(day_keys):  # a digest or closure warning to send: every clock
            found = self.store.open_clocks()
            quiet = None
        else:
            horizon, quiet = reminder_horizon(calendar, now, self.policy)
            escalated = (now, *escalation_affixes(now, calendar))
            found = self.store.open_clocks(until=horizon, escalated=escalated)
        clocks = [r.clock() for r in found]
        bounces = self._bounces(day_keys, sent)
        missed = [c for c in newly_missed(now, clocks) if c.missed_at is None]
        if missed:
            ids = {id(c): r.id for c, r in zip(clocks, found, strict=True)}  # the same read
            with self.store.transaction():
                for clock in missed:
                    self.store.mark_missed(ids[id(clock)], now)
                    self.store.add_event(
                        clock.case_id, now, "mailbot", "clock_missed", f"{clock.name}"
                    )
        queued = 0
        due_now = notices(now, calendar, clocks, sent, self.policy, bounces.total > 0)
        recorded = self.store.recorded_notices([n.key for n in due_now])  # one query
        pending = [n for n in due_now if n.key not in recorded]
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
                queued += self._queue(batch, now, bounces)
        self.store.state_set("heartbeat:tick", inp.now.isoformat())
        until = next_change(now, calendar, clocks, self.policy)
        return queued, until if quiet is None else min(until, quiet)

    def _bounces(self, day_keys: list[str], sent: frozenset[str]) -> BounceListing:
        """The unmatched bounces for today's digest while it is still to go out."""
        if any(key.startswith("digest:") and key not in sent for key in day_keys):
            return unmatched_bounces(self.store, DIGEST_ENTRIES)
        return NO_BOUNCES

    def _queue(
        self,
        batch: list[tuple[SchedulerNotice, OutgoingMail]],
        now: datetime,
        bounces: BounceListing = NO_BOUNCES,
    ) -> int:
        """Record, queue and log rendered notices in one transaction; returns mails queued.
        A digest recorded marks `bounces` as listed."""
        queued = 0
        with self.store.transaction():
            for notice, mail in batch:
                if self.store.record_notice(
                    notice.key, notice.kind, notice.case_id, mail.message_id, now
                ):
                    self.store.enqueue(mail, now)
                    if notice.kind == "digest":
                        mark_listed(self.store, bounces)
                    if notice.case_id:
                        detail = f"{notice.clock}: {notice.label}"
                        self.store.add_event(notice.case_id, now, "mailbot", notice.kind, detail)
                    queued += 1
        for notice, _ in batch:
            self.log.info("notice_queued", kind=notice.kind, case=notice.case_id, key=notice.key)
        return queued


def render_notice(
    notice: SchedulerNotice,
    inp: Inputs,
    policy: SchedulePolicy,
    bounces: BounceListing = NO_BOUNCES,
) -> OutgoingMail:
    """The mail for one notice, in the staff language, to notify or escalate; a digest
    also lists `bounces`."""
    language = inp.settings.identity.language
    context = _context(notice, inp, language, policy)
    if notice.kind == "digest":
        context.update(_digest_context(notice, inp, language, bounces))
    text = inp.renderer.render(notice.kind, language, context)
    staff = inp.settings.staff
    to = (
        (staff.escalate or inp.staff_recipients)
        if notice.audience == "escalate"
        else inp.staff_recipients
    )
    ident = inp.identity
    seed = hashlib.sha256(notice.key.encode()).hexdigest()
    return build_mail(
        kind=notice.kind,
        identity=ident,
        to=to,
        subject=text.subject,
        body=text.body,
        message_id=make_message_id(notice.kind, notice.case_id, seed, ident.domain),
        date=inp.now,
        case_id=notice.case_id,
        automatic=True,
        auto_submitted="auto-generated",
    )


def _context(
    notice: SchedulerNotice, inp: Inputs, language: str, policy: SchedulePolicy
) -> dict[str, object]:
    def moment(value: datetime) -> str:
        return _format_moment(value, inp.tz, language)

    identity = {
        "name": inp.identity.name,
        "organisation": inp.identity.organisation,
        "address": inp.identity.address,
    }
    context: dict[str, object] = {"identity": identity}
    if notice.kind in ("reminder", "escalation"):
        clock = notice.items[0] if notice.items else None
        context["case"] = {
            "id": notice.case_id,
            "subject": clock.subject if clock else "",
            "state": clock.state if clock else "",
        }
        assert notice.due is not None and notice.clock is not None
        context["clock"] = {
            "name": notice.clock,
            "title": CLOCK_TITLES[language][notice.clock],
            "due": moment(notice.due),
            "explanation": notice.explanation,
        }
        context["when"] = notice.key.rsplit(":", 1)[1]
        context["hours"] = f"{policy.hours_before:g}"
        match = re.search(r"working day (\d+)", notice.label)
        context["day"] = int(match.group(1)) if match else 1
    elif notice.kind == "closure_warning":
        assert notice.due is not None
        first = date.fromisoformat(notice.key.split(":", 1)[1])
        reopens = notice.due.astimezone(inp.tz).date()
        day = timedelta(days=1)
        context.update(
            period=notice.explanation,
            first=_day(first, language),
            last=_day(reopens - day, language),
            reopens=_day(reopens, language),
            items=[_item(c, inp, language) for c in notice.items],
        )
    return context


def _item(clock: OpenClock, inp: Inputs, language: str) -> dict[str, str]:
    """A clock as a digest or closure warning lists it."""
    return {
        "case_id": clock.case_id,
        "subject": clock.subject,
        "clock_title": CLOCK_TITLES[language][clock.name],
        "due": _format_moment(clock.due, inp.tz, language),
        "state": clock.state,
    }


def _digest_context(
    notice: SchedulerNotice, inp: Inputs, language: str, bounces: BounceListing
) -> dict[str, object]:
    """The digest's sections of clocks and its list of unmatched bounces."""
    sections = digest_sections(inp.now, inp.calendar, notice.items)
    groups = (
        sections.overdue,
        sections.today,
        sections.tomorrow,
        sections.later,
        sections.paused,
    )
    listed = [
        {
            "title": title,
            "entries": [_item(c, inp, language) for c in group[:DIGEST_ENTRIES]],
            "total": len(group),
            "more": max(len(group) - DIGEST_ENTRIES, 0),
        }
        for title, group in zip(DIGEST_TITLES[language], groups, strict=True)
    ]
    entries = [
        {
            "received": _format_moment(b.received_at, inp.tz, language),
            "from_address": b.from_address or "(none)",
            "subject": b.subject[:200],
            "ref": b.sha256[:12],
        }
        for b in bounces.entries[:DIGEST_ENTRIES]
    ]
    return {
        "sections": listed,
        "date": _format_moment(inp.now, inp.tz, language).rsplit(" ", 2)[0],  # no "om HH:MM"
        "open_count": len(notice.items),
        "bounces": {
            "entries": entries,
            "total": bounces.total,
            "more": bounces.total - len(entries),
        },
    }


def _day(day: date, language: str) -> str:
    return f"{day.day}-{day.month}-{day.year}" if language == "nl" else day.isoformat()

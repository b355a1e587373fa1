"""The scheduler tick (shell): read open clocks, record misses, queue each notice once."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from mailbot.decide import Inputs
from mailbot.logs import get_logger
from mailbot.models import OutgoingMail
from mailbot.rendering import build_mail, format_moment, make_message_id
from mailbot.scheduler import Notice as SchedulerNotice
from mailbot.scheduler import (
    OpenClock,
    SchedulePolicy,
    digest_sections,
    newly_missed,
    next_change,
    notices,
)
from mailbot.store import Store

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
DIGEST_TITLES = {
    "nl": ("Verlopen", "Vandaag", "Volgende werkdag", "Later", "Gepauzeerd (wacht op melder)"),
    "en": ("Overdue", "Due today", "Due next working day", "Later", "Paused (waiting)"),
}


def open_clocks(store: Store) -> list[OpenClock]:
    """The clocks the scheduler watches: not done, of open cases."""
    return [_open_clock(r) for r in store.open_clocks()]


def _open_clock(r: Mapping[str, Any]) -> OpenClock:
    return OpenClock(
        case_id=r["case_id"],
        name=r["name"],
        due=datetime.fromisoformat(r["due"]),
        explanation=r["explanation"],
        subject=r["subject"],
        state=r["state"],
        waiting=bool(r["waiting"]),
        missed_at=datetime.fromisoformat(r["missed_at"]) if r["missed_at"] else None,
    )


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
        other = int(self.store.db.execute("PRAGMA data_version").fetchone()[0])
        return other, self.store.db.conn.total_changes

    def tick(self) -> int:
        """Record newly missed clocks and queue the notices due now; returns mails queued.

        A tick before the next moment that can change the answer (`scheduler.next_change`),
        with no write to the database since the last full tick, only beats the heartbeat.
        """
        inp = self.inputs()
        version = self._db_version()
        if self._valid_until and inp.now < self._valid_until and version == self._version:
            self.store.state_set("heartbeat:tick", inp.now.isoformat())
            self._version = (version[0], self.store.db.conn.total_changes)
            return 0
        queued, clocks = self._full_tick(inp)
        self._valid_until = next_change(inp.now, inp.calendar, clocks, self.policy)
        self._version = (version[0], self.store.db.conn.total_changes)
        return queued

    def _full_tick(self, inp: Inputs) -> tuple[int, list[OpenClock]]:
        found = self.store.open_clocks()  # one read: ids and clocks from the same rows
        rows = {(r["case_id"], r["name"], r["due"]): r["id"] for r in found}
        clocks = [_open_clock(r) for r in found]
        with self.store.transaction():
            for clock in newly_missed(inp.now, clocks):
                if clock.missed_at is None:
                    self.store.mark_missed(rows[(clock.case_id, clock.name, _iso(clock))], inp.now)
                    self.store.add_event(
                        clock.case_id, inp.now, "mailbot", "clock_missed", f"{clock.name}"
                    )
        queued = 0
        due_now = notices(inp.now, inp.calendar, clocks, frozenset(), self.policy)
        recorded = self.store.recorded_notices([n.key for n in due_now])  # one query
        for notice in due_now:
            if notice.key in recorded:
                continue
            mail = render_notice(notice, inp, self.policy)
            with self.store.transaction():
                if self.store.record_notice(
                    notice.key, notice.kind, notice.case_id, mail.message_id, inp.now
                ):
                    self.store.enqueue(mail, inp.now)
                    if notice.case_id:
                        detail = f"{notice.clock}: {notice.label}"
                        self.store.add_event(
                            notice.case_id, inp.now, "mailbot", notice.kind, detail
                        )
                    queued += 1
            self.log.info("notice_queued", kind=notice.kind, case=notice.case_id, key=notice.key)
        self.store.state_set("heartbeat:tick", inp.now.isoformat())
        return queued, clocks


def _iso(clock: OpenClock) -> str:
    return clock.due.isoformat()


def render_notice(notice: SchedulerNotice, inp: Inputs, policy: SchedulePolicy) -> OutgoingMail:
    """The mail for one notice, in the staff language, to notify or escalate."""
    language = inp.settings.identity.language
    context = _context(notice, inp, language, policy)
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
        return format_moment(value, inp.tz, language)

    def item(clock: OpenClock) -> dict[str, str]:
        return {
            "case_id": clock.case_id,
            "subject": clock.subject,
            "clock_title": CLOCK_TITLES[language][clock.name],
            "due": moment(clock.due),
            "state": clock.state,
        }

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
    elif notice.kind == "digest":
        sections = digest_sections(inp.now, inp.calendar, notice.items)
        titles = DIGEST_TITLES[language]
        groups = (
            sections.overdue,
            sections.today,
            sections.tomorrow,
            sections.later,
            sections.paused,
        )
        context["sections"] = [
            {"title": title, "entries": [item(c) for c in group]}
            for title, group in zip(titles, groups, strict=True)
        ]
        context["date"] = moment(inp.now).rsplit(" ", 2)[0]  # without "om HH:MM"
        context["open_count"] = len(notice.items)
    else:  # closure_warning
        assert notice.due is not None
        first = date.fromisoformat(notice.key.split(":", 1)[1])
        reopens = notice.due.astimezone(inp.tz).date()
        day = timedelta(days=1)
        context.update(
            period=notice.explanation,
            first=_day(first, language),
            last=_day(reopens - day, language),
            reopens=_day(reopens, language),
            items=[item(c) for c in notice.items],
        )
    return context


def _day(day: date, language: str) -> str:
    return f"{day.day}-{day.month}-{day.year}" if language == "nl" else day.isoformat()

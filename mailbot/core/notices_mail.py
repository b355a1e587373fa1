"""Notice mails (pure): the mail of a scheduler notice (reminder, escalation, digest,
closure warning), in the staff language, through the one composer."""

from __future__ import annotations

import functools
import hashlib
from datetime import date, timedelta

from mailbot.core.bounces import NO_BOUNCES, BounceListing
from mailbot.core.compose import compose
from mailbot.core.effects import Inputs
from mailbot.core.models import OutgoingMail
from mailbot.core.scheduler import Missed, Notice, OpenClock, SchedulePolicy, digest_sections
from mailbot.core.titles import CLOCK_TITLES, DIGEST_TITLES
from mailbot.core.wording import day_text, long_date, number_text, say
from mailbot.mail.rendering import format_moment

DIGEST_ENTRIES = 200
"""Entries per digest section; the rest is counted ("… and N more", `mailbot deadlines`).
A mail listing thousands of clocks is read by nobody and costs ~10x its size to build."""

#: `format_moment` of the many clocks sharing a due (a digest lists every open clock).
_format_moment = functools.lru_cache(maxsize=4096)(format_moment)


def render_notice(
    notice: Notice,
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
    staff = inp.settings.staff
    to = (
        (staff.escalate or inp.staff_recipients)
        if notice.audience == "escalate"
        else inp.staff_recipients
    )
    return compose(
        inp,
        notice.kind,
        context,
        seed=hashlib.sha256(notice.key.encode()).hexdigest(),
        case_id=notice.case_id,
        to=to,
        tag_subject=False,  # the notice templates name the case themselves
    )


def _context(
    notice: Notice, inp: Inputs, language: str, policy: SchedulePolicy
) -> dict[str, object]:
    if notice.kind == "escalation":
        return _escalation_context(notice, inp, language)
    if notice.kind == "reminder":
        return _clock_context(notice, inp, language, policy)
    if notice.kind == "closure_warning":
        return _closure_context(notice, inp, language)
    return {}


def _clock_context(
    notice: Notice, inp: Inputs, language: str, policy: SchedulePolicy
) -> dict[str, object]:
    """A reminder's case and clock."""
    clock = notice.items[0] if notice.items else None
    assert notice.due is not None and notice.clock is not None
    return {
        "case": {
            "id": notice.case_id,
            "subject": clock.subject if clock else "",
            "state": clock.state if clock else "",
        },
        "clock": {
            "name": notice.clock,
            "title": CLOCK_TITLES[language][notice.clock],
            "due": _format_moment(notice.due, inp.tz, language),
            "explanation": notice.explanation,
        },
        "when": notice.when,
        "hours": number_text(policy.hours_before, language),
    }


def _escalation_context(notice: Notice, inp: Inputs, language: str) -> dict[str, object]:
    """The day's escalation: every missed clock, the newly missed ones apart."""
    new = [_missed(m, inp, language) for m in notice.missed if m.new]
    still = [_missed(m, inp, language) for m in notice.missed if not m.new]
    return {
        "date": _today(inp, language),
        "total": len(notice.missed),
        "new": new,
        "new_count": len(new),
        "still": still,
        "still_count": len(still),
    }


def _missed(missed: Missed, inp: Inputs, language: str) -> dict[str, object]:
    """A missed clock as the escalation lists it."""
    clock = missed.clock
    return {
        "case_id": clock.case_id,
        "subject": clock.subject,
        "clock_title": CLOCK_TITLES[language][clock.name],
        "due": _format_moment(clock.due, inp.tz, language),
        "days": missed.day,
        "explanation": clock.explanation,
    }


def _closure_context(notice: Notice, inp: Inputs, language: str) -> dict[str, object]:
    """A closure warning's period and the clocks due in it."""
    assert notice.due is not None and notice.first_closed is not None
    first = notice.first_closed
    reopens = notice.due.astimezone(inp.tz).date()
    return {
        "period": notice.explanation,
        "first": _day(first, language),
        "last": _day(reopens - timedelta(days=1), language),
        "reopens": _day(reopens, language),
        "items": [_item(c, inp, language) for c in notice.items],
    }


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
    notice: Notice, inp: Inputs, language: str, bounces: BounceListing
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
            "from_address": b.from_address or say("none", language),
            "subject": b.subject[:200],
            "ref": b.sha256[:12],
        }
        for b in bounces.entries[:DIGEST_ENTRIES]
    ]
    return {
        "sections": listed,
        "date": _today(inp, language),
        "open_count": len(notice.items),
        "bounces": {
            "entries": entries,
            "total": bounces.total,
            "more": bounces.total - len(entries),
        },
    }


def _today(inp: Inputs, language: str) -> str:
    """Today written out, e.g. "maandag 21 december 2026" / "Monday 21 December 2026"."""
    return long_date(inp.now.astimezone(inp.tz).date(), language)


def _day(day: date, language: str) -> str:
    """A closure period's day, short enough for a subject: 'do 24 dec 2026'."""
    return day_text(day, language)

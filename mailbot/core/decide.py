"""Decide (pure): what one classified message changes and which mails it causes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.core.cases import find_reporter, open_case, subject_with_tag
from mailbot.core.classify import Verdict
from mailbot.core.config import Settings
from mailbot.core.deadlines import resolve_deadline
from mailbot.core.models import Case, Deadline, Disposition, InboundMessage, OutgoingMail
from mailbot.core.workdays import Calendar
from mailbot.mail.contacts import mailbox_of
from mailbot.mail.rendering import Identity, Renderer, build_mail, format_moment, make_message_id

D = Disposition
MAX_QUOTED_TEXT = 20_000


@dataclass(frozen=True)
class Event:
    """One audit event to append."""

    case_id: str | None
    kind: str
    detail: str
    actor: str = "mailbot"


@dataclass(frozen=True)
class Queued:
    """One outgoing mail for the outbox; status "suppressed" is recorded, not sent."""

    mail: OutgoingMail
    status: str = "queued"
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """Everything the shell writes in the message's one transaction."""

    verdict: Verdict
    new_case: Case | None = None
    updated_case: Case | None = None
    events: tuple[Event, ...] = ()
    mails: tuple[Queued, ...] = ()
    clocks: tuple[tuple[str, Deadline], ...] = ()
    """Clocks to start on the case (name, deadline)."""
    end_clocks: bool = False
    """The case closed: every open clock of it is done."""
    outbox_failed: tuple[tuple[int, str], ...] = ()
    """Outbox rows (id, reason) to mark failed: a delivery report named them."""
    once: tuple[tuple[str, OutgoingMail], ...] = ()
    """Mails queued only if their key was never recorded (one flood alert per day)."""


@dataclass(frozen=True)
class Inputs:
    """What every decision may consult besides the message itself."""

    settings: Settings
    calendar: Calendar
    renderer: Renderer
    now: datetime
    sent_today: Mapping[str, int] = field(default_factory=dict)
    """Automatic mails to each address in the last 24 hours (for the daily cap)."""

    @property
    def identity(self) -> Identity:
        """The meldpunt identity mails are sent as."""
        ident = self.settings.identity
        return Identity(address=ident.address, name=ident.name, organisation=ident.organisation)

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's timezone."""
        return self.calendar.timezone

    @property
    def staff_recipients(self) -> tuple[str, ...]:
        """Who gets notices and alerts."""
        return self.settings.staff.notify or self.settings.staff.addresses


def decide(
    msg: InboundMessage, verdict: Verdict, case: Case | None, new_id: str | None, inp: Inputs
) -> Plan:
    """The plan for `msg` classified as `verdict` (`case`: the case it names, if any)."""
    if verdict.disposition is D.NEW_CASE:
        if new_id is None:
            raise ValueError("a new case needs an id")
        return _new_case(msg, verdict, new_id, inp)
    if verdict.disposition is D.FOLLOWUP and case is not None:
        return _followup(msg, verdict, case, inp)
    if verdict.disposition is D.UNVERIFIED and case is not None:
        return _unverified(msg, verdict, case, inp)
    if verdict.disposition is D.QUARANTINED:
        return _quarantined(msg, verdict, inp)
    return Plan(verdict)


def _new_case(msg: InboundMessage, verdict: Verdict, case_id: str, inp: Inputs) -> Plan:
    reporter = find_reporter(
        msg, frozenset(a.lower() for a in inp.settings.relays.senders), inp.identity.domain
    )
    d = inp.settings.deadlines
    case = open_case(case_id, msg, reporter, inp.calendar, d.acknowledge, d.respond)
    verdict = replace(verdict, case_id=case_id)
    events = [
        Event(
            case_id,
            "case_created",
            f"{case.source} report from {case.reporter_email or 'no address'}",
        ),
        Event(case_id, "clock_started", f"ack_due: {case.ack_explanation}"),
        Event(case_id, "clock_started", f"response_due: {case.response_explanation}"),
    ]
    if "no_contact" in case.flags:
        events.append(Event(case_id, "flag_set", "no_contact: no usable reporter address"))
    mails: list[Queued] = []
    once: tuple[tuple[str, OutgoingMail], ...] = ()
    if case.reporter_email is not None:
        mails.append(rate_limited(acknowledgement(msg, case, inp), inp))
        if mails[-1].status == "suppressed":
            once = (_flood_alert(case.reporter_email, inp),)
    mails.append(Queued(_staff_notice(msg, case, inp)))
    for queued in mails:
        kind = queued.mail.kind
        events.append(Event(case_id, f"{kind}_{queued.status}", queued.reason or _to(queued.mail)))
    clocks = _first_clocks(case, inp)
    events += [
        Event(case_id, "clock_started", f"{name}: {d.explanation}") for name, d in clocks[2:]
    ]
    return Plan(
        verdict,
        new_case=case,
        events=tuple(events),
        mails=tuple(mails),
        clocks=clocks,
        once=once,
    )


def _flood_alert(address: str, inp: Inputs) -> tuple[str, OutgoingMail]:
    """The one alert per address and day that its automatic mail is being held back."""
    day = inp.now.astimezone(inp.tz).date().isoformat()
    cap = inp.settings.limits.auto_mails_per_address_per_day
    title = {"nl": "Veel meldingen van één adres", "en": "Many reports from one address"}
    reason = (
        f"{address} reached the cap of {cap} automatic mails in 24 hours; its reports are "
        "still recorded as cases, but get no acknowledgement until the cap frees up"
    )
    details = [f"Address: {address}", f"Day: {day}", "See: mailbot messages / mailbot cases"]
    # The key is stored until purge: a hash keeps the address itself out of it.
    key = f"flood:{hashlib.sha256(mailbox_of(address).encode()).hexdigest()[:32]}:{day}"
    return key, staff_alert(inp, title, reason, details, seed=key)


def _first_clocks(case: Case, inp: Inputs) -> tuple[tuple[str, Deadline], ...]:
    """ack_due, response_due (on the case already) and resolve_due (calendar days)."""
    assert case.ack_due is not None and case.response_due is not None
    resolve = resolve_deadline(case.received_at, inp.settings.deadlines.resolve_days, inp.tz)
    return (
        ("ack_due", Deadline(case.ack_due, case.ack_explanation)),
        ("response_due", Deadline(case.response_due, case.response_explanation)),
        ("resolve_due", resolve),
    )


def _followup(msg: InboundMessage, verdict: Verdict, case: Case, inp: Inputs) -> Plan:
    events = [Event(case.id, "followup_received", f"from {msg.from_address}", "reporter")]
    updated = None
    if not case.is_open:
        if "followup_after_close" not in case.flags:
            updated = replace(case, flags=(*case.flags, "followup_after_close"))
        events.append(Event(case.id, "flag_set", f"followup_after_close: case is {case.state}"))
    context = {
        "case": case_context(case, inp),
        "message_text": msg.text[:MAX_QUOTED_TEXT],
        "from_address": msg.from_address or "",
        "identity": identity_context(inp),
    }
    notice = _render(inp, "followup_notice", inp.settings.identity.language, context, msg, case)
    events.append(Event(case.id, "followup_notice_queued", _to(notice)))
    return Plan(verdict, updated_case=updated, events=tuple(events), mails=(Queued(notice),))


def _unverified(msg: InboundMessage, verdict: Verdict, case: Case, inp: Inputs) -> Plan:
    context = {
        "case": {"id": case.id, "subject": case.subject},
        "from_address": msg.from_address or "(none)",
        "reason": verdict.reason,
        "message_text": msg.text[:MAX_QUOTED_TEXT],
        "identity": identity_context(inp),
    }
    alert = _render(inp, "unverified_notice", inp.settings.identity.language, context, msg, case)
    event = Event(case.id, "unverified_mail", f"from {msg.from_address}: {verdict.reason}")
    return Plan(verdict, events=(event,), mails=(Queued(alert),))


def _quarantined(msg: InboundMessage, verdict: Verdict, inp: Inputs) -> Plan:
    details = [
        f"From: {msg.from_address or '(none)'}",
        f"Subject: {msg.subject[:200]}",
        f"Message-ID: {msg.message_id or '(none)'}",
        f"Received: {format_moment(msg.received_at, inp.tz, inp.settings.identity.language)}",
        f"Size: {msg.size} bytes, sha256 {msg.raw_sha256}",
    ]
    title = {"nl": "Bericht in quarantaine", "en": "Message quarantined"}
    alert = staff_alert(inp, title, verdict.reason, details, seed=msg.raw_sha256)
    return Plan(verdict, mails=(Queued(alert),))


def with_collision_alert(plan: Plan, msg: InboundMessage, reason: str, inp: Inputs) -> Plan:
    """`plan` plus a staff alert: the message reused an earlier message's Message-ID.

    The message was handled as if its Message-ID were new (see `redelivery`); staff hear
    of it because either it or the earlier one may be an attempt to pre-empt a report.
    """
    v = plan.verdict
    details = [
        f"From: {msg.from_address or '(none)'}",
        f"Subject: {msg.subject[:200]}",
        f"Handled as: {v.disposition.value}" + (f" ({v.case_id})" if v.case_id else ""),
        f"sha256: {msg.raw_sha256}",
        "See: mailbot messages",
    ]
    title = {"nl": "Message-ID eerder gebruikt", "en": "Message-ID used before"}
    seed = f"collision:{msg.raw_sha256}"
    alert = staff_alert(inp, title, reason, details, seed=seed, case_id=v.case_id)
    events = (Event(v.case_id, "message_id_collision", reason),) if v.case_id else ()
    verdict = replace(v, reason=f"{v.reason}; {reason}")
    return replace(
        plan, verdict=verdict, events=plan.events + events, mails=(*plan.mails, Queued(alert))
    )


def staff_alert(
    inp: Inputs,
    title: Mapping[str, str],
    reason: str,
    details: list[str],
    seed: str,
    case_id: str | None = None,
) -> OutgoingMail:
    """A machine alert to staff; `title` per language ("nl", "en")."""
    language = inp.settings.identity.language
    alert = {"title": title.get(language, title["en"]), "reason": reason, "details": details}
    context = {"alert": alert, "identity": identity_context(inp), "case": None}
    text = inp.renderer.render("alert", language, context)
    ident = inp.identity
    subject = subject_with_tag(text.subject, case_id) if case_id else text.subject
    return build_mail(
        kind="alert",
        identity=ident,
        to=inp.staff_recipients,
        subject=subject,
        body=text.body,
        message_id=make_message_id("alert", case_id, seed, ident.domain),
        date=inp.now,
        case_id=case_id,
        automatic=True,
        auto_submitted="auto-generated",
    )


def acknowledgement(msg: InboundMessage, case: Case, inp: Inputs) -> OutgoingMail:
    """The acknowledgement of `case` to its reporter, threaded to `msg`."""
    context = {"case": case_context(case, inp, case.language), "identity": identity_context(inp)}
    if case.reporter_email is None:
        raise ValueError(f"case {case.id} has no reporter address to acknowledge")
    return _render(
        inp,
        "acknowledgement",
        case.language,
        context,
        msg,
        case,
        to=(case.reporter_email,),
        reply_to_msg=True,
    )


def _staff_notice(msg: InboundMessage, case: Case, inp: Inputs) -> OutgoingMail:
    context = {
        "case": case_context(case, inp),
        "report_text": msg.text[:MAX_QUOTED_TEXT],
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in msg.attachments
        ],
        "identity": identity_context(inp),
    }
    return _render(inp, "staff_notice", inp.settings.identity.language, context, msg, case)


def _render(
    inp: Inputs,
    template: str,
    language: str,
    context: Mapping[str, object],
    msg: InboundMessage,
    case: Case | None,
    *,
    to: tuple[str, ...] | None = None,
    reply_to_msg: bool = False,
    kind: str | None = None,
) -> OutgoingMail:
    text = inp.renderer.render(template, language, context)
    case_id = case.id if case else None
    kind = kind or template
    subject = subject_with_tag(text.subject, case_id) if case_id else text.subject
    ident = inp.identity
    references: tuple[str, ...] = ()
    in_reply_to = None
    if reply_to_msg and msg.message_id:
        in_reply_to = msg.message_id
        references = (*msg.references[-10:], msg.message_id)
    return build_mail(
        kind=kind,
        identity=ident,
        to=to if to is not None else inp.staff_recipients,
        subject=subject,
        body=text.body,
        message_id=make_message_id(kind, case_id, msg.raw_sha256, ident.domain),
        date=inp.now,
        case_id=case_id,
        in_reply_to=in_reply_to,
        references=references,
        automatic=True,
        auto_submitted="auto-replied" if reply_to_msg else "auto-generated",
    )


def rate_limited(mail: OutgoingMail, inp: Inputs) -> Queued:
    """Queued, or recorded as suppressed past the daily cap of automatic mail (not staff)."""
    cap = inp.settings.limits.auto_mails_per_address_per_day
    staff = {a.lower() for a in inp.settings.staff.addresses}
    for address in mail.recipients:
        if address.lower() in staff:
            continue
        if inp.sent_today.get(address, 0) >= cap:
            return Queued(
                mail, "suppressed", f"daily cap of {cap} automatic mails to {address} reached"
            )
    return Queued(mail)


def _to(mail: OutgoingMail) -> str:
    return "to " + ", ".join(mail.recipients)


def identity_context(inp: Inputs) -> dict[str, str]:
    """The meldpunt identity as templates see it."""
    ident = inp.identity
    return {"name": ident.name, "organisation": ident.organisation, "address": ident.address}


def case_context(case: Case, inp: Inputs, language: str | None = None) -> dict[str, object]:
    """The case as templates see it; moments written in `language` (default: staff's)."""
    lang = language or inp.settings.identity.language

    def moment(value: datetime | None) -> str:
        return format_moment(value, inp.tz, lang) if value else ""

    return {
        "id": case.id,
        "subject": case.subject,
        "state": case.state.value,
        "reporter_email": case.reporter_email or "",
        "reporter_name": case.reporter_name,
        "reporter_phone": case.reporter_phone or "",
        "source": case.source,
        "relay_sender": case.relay_sender or "",
        "flags": list(case.flags),
        "affected": list(case.affected),
        "received": moment(case.received_at),
        "ack_due": moment(case.ack_due),
        "ack_explanation": case.ack_explanation,
        "response_due": moment(case.response_due),
        "response_explanation": case.response_explanation,
    }

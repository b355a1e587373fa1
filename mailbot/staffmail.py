"""Staff replies (pure): commands applied all-or-nothing, text relayed, result mail back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mailbot.cases import subject_with_tag
from mailbot.classify import Verdict
from mailbot.commands import HELP_TEXT_KEYS, CommandResult, apply_commands
from mailbot.decide import (
    Event,
    Inputs,
    Plan,
    Queued,
    acknowledgement,
    case_context,
    identity_context,
    rate_limited,
)
from mailbot.models import Case, Deadline, InboundMessage, OutgoingMail
from mailbot.rendering import build_mail, make_message_id
from mailbot.replies import split_reply


def plan_staff_reply(
    msg: InboundMessage,
    verdict: Verdict,
    case: Case,
    known: frozenset[str],
    inp: Inputs,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> Plan:
    """What an authenticated staff mail on `case` does (`known`: case ids that exist;
    `attachments`: the staff mail's own, relayed with the text unless internal)."""
    actor = msg.from_address or "staff"
    result = apply_commands(
        case,
        msg.text,
        staff=frozenset(a.lower() for a in inp.settings.staff.addresses),
        case_prefix=inp.settings.identity.case_prefix,
        known_cases=known.__contains__,
    )
    events = [Event(case.id, "staff_reply_received", f"from {actor}", actor)]
    if result.errors:
        refused = [f"{e.line.strip()} — {e.reason}" for e in result.errors]  # reason only
        events.append(Event(case.id, "commands_refused", "; ".join(refused)[:1000], actor))
        report = _result_mail(msg, case, result, inp, refused=refused)
        return Plan(verdict, events=tuple(events), mails=(Queued(report),))
    updated = result.case
    events += [Event(case.id, c.event_kind, c.detail, actor) for c in result.changes]
    events += [Event(case.id, "note", note, actor) for note in result.notes]
    mails: list[Queued] = []
    text = "" if result.internal else split_reply(result.rest).text.strip()
    relayed = bool(text) and updated.reporter_email is not None
    if relayed:
        mails.append(Queued(_relay(msg, updated, text, inp, attachments)))
        events.append(Event(case.id, "relayed", f"to the reporter ({len(text)} chars)", actor))
    elif result.internal:
        events.append(Event(case.id, "internal", "nothing relayed (Internal: yes)", actor))
    status = ""
    if result.status_mail and not relayed and updated.reporter_email and not result.internal:
        status = result.status_mail
        mails.append(rate_limited(_status_mail(msg, updated, status, inp), inp))
    if result.new_reporter and updated.acknowledged_at is None and updated.reporter_email:
        mails.append(rate_limited(acknowledgement(msg, updated, inp), inp))
        events.append(Event(case.id, "acknowledgement_queued", f"to {updated.reporter_email}"))
    mails.append(Queued(_result_mail(msg, updated, result, inp, relayed=relayed, status=status)))
    clocks: tuple[tuple[str, Deadline], ...] = ()
    if case.waiting and not updated.waiting:  # the update clock runs again from now
        due = inp.calendar.due_after(inp.now, inp.settings.deadlines.update)
        clocks = (("update_due", due),)
    return Plan(
        verdict,
        updated_case=updated,
        events=tuple(events),
        mails=tuple(mails),
        clocks=clocks,
        end_clocks=case.is_open and not updated.is_open,
    )


def _relay(
    msg: InboundMessage,
    case: Case,
    text: str,
    inp: Inputs,
    attachments: Sequence[tuple[str, str, bytes]],
) -> OutgoingMail:
    """The staff text (and attachments) to the reporter, from the meldpunt identity."""
    context = {
        "case": {"id": case.id, "subject": case.subject},
        "text": text,
        "identity": identity_context(inp),
    }
    to = (case.reporter_email or "",)
    return _mail(msg, case, "relay", case.language, context, to, inp, False, attachments)


def _status_mail(msg: InboundMessage, case: Case, status: str, inp: Inputs) -> OutgoingMail:
    context = {
        "case": case_context(case, inp, case.language),
        "status": status,
        "reward": case.reward,
        "identity": identity_context(inp),
    }
    return _mail(msg, case, "status", case.language, context, (case.reporter_email or "",), inp)


def _result_mail(
    msg: InboundMessage,
    case: Case,
    result: CommandResult,
    inp: Inputs,
    *,
    refused: list[str] | None = None,
    relayed: bool = False,
    status: str = "",
) -> OutgoingMail:
    """Done / not done and why, to the staff member who wrote (never to the reporter)."""
    context = {
        "case": case_context(case, inp),
        "applied": [c.detail for c in result.changes] + [f"note: {n}" for n in result.notes],
        "refused": refused or [],
        "relayed": relayed,
        "status_mail": status,
        "help": [{"key": k, "explanation": e} for k, e in HELP_TEXT_KEYS] if result.help else [],
        "identity": identity_context(inp),
    }
    to = (msg.from_address or "",)
    return _mail(msg, case, "command_result", inp.settings.identity.language, context, to, inp)


def _mail(
    msg: InboundMessage,
    case: Case,
    template: str,
    language: str,
    context: Mapping[str, object],
    to: tuple[str, ...],
    inp: Inputs,
    automatic: bool = True,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> OutgoingMail:
    text = inp.renderer.render(template, language, context)
    ident = inp.identity
    return build_mail(
        kind=template,
        identity=ident,
        to=to,
        subject=subject_with_tag(text.subject, case.id),
        body=text.body,
        message_id=make_message_id(template, case.id, msg.raw_sha256, ident.domain),
        date=inp.now,
        case_id=case.id,
        automatic=automatic,
        auto_submitted="auto-generated",
        attachments=attachments,
    )

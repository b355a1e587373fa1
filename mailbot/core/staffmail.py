"""Staff replies (pure): commands applied all-or-nothing, text relayed, result mail back.

With `Reply: <name>` the body of that known finding's reply template (`[triage]
known_findings`, rendered in the case's language) is relayed first, then the staff's own
text, in one relay mail: so it settles `response_due` as any relayed staff reply does.
Both go, rather than refusing a mail with text: the text below the commands is relayed
anyway without `Reply:`, and a case-specific sentence under a standard answer is common.

What reaches the reporter is the staff member's own text (`CommandResult.reply`: above
the quoted history, without signature) and the attachments the shell passes (only
deliberate ones, see `relayparts`), never when the mail is internal or any command line
was refused (an `Internal:` line below the text included). The result mail to the staff
member names the attachments of their mail that were not relayed, and how each mail to
the reporter went out: encrypted to which key (`compose.reporter_mail`), or not sent
because the reporter's key cannot be used (the commands are applied all the same).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailbot.core.classify import Verdict
from mailbot.core.commands import CommandResult, apply_commands, help_list
from mailbot.core.compose import (
    ReporterMail,
    case_context,
    compose,
    kind_text,
    rendered,
    reporter_mail,
)
from mailbot.core.decide import rate_limited
from mailbot.core.delivery import SETTLES
from mailbot.core.effects import Event, Inputs, Plan, Queued
from mailbot.core.models import Case, ClockName, Deadline, InboundMessage, OutgoingMail
from mailbot.core.wording import Phrase, localise, say


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
        now=inp.now,
        keys=msg.keys,
        replies=[f.name for f in inp.settings.triage.known_findings],
    )
    events = [Event(case.id, "staff_reply_received", f"from {actor}", actor)]
    if result.errors:
        refused = [f"{e.line.strip()} — {e.reason}" for e in result.errors]  # reason only
        events.append(Event(case.id, "commands_refused", "; ".join(refused)[:1000], actor))
        report = _result_mail(msg, case, result, inp)
        return Plan(verdict, events=tuple(events), mails=(Queued(report),))
    updated = result.case
    events += [Event(case.id, c.event_kind, c.detail, actor) for c in result.changes]
    events += [Event(case.id, "note", note, actor) for note in result.notes]
    outcome = _to_reporter(msg, case, result, inp, attachments, actor)
    events += outcome.events
    clocks: tuple[tuple[str, Deadline], ...] = ()
    if case.waiting and not updated.waiting:  # the update clock runs again from now
        due = inp.calendar.due_after(inp.now, inp.settings.deadlines.update)
        clocks = ((ClockName.UPDATE_DUE, due),)
    return Plan(
        verdict,
        updated_case=updated,
        events=tuple(events),
        mails=outcome.mails,
        clocks=clocks,
        end_clocks=case.is_open and not updated.is_open,
        keep_clocks=tuple(SETTLES[q.mail.kind] for q in outcome.mails if q.mail.kind in SETTLES),
    )


@dataclass(frozen=True)
class _Outcome:
    mails: tuple[Queued, ...]
    events: tuple[Event, ...]


@dataclass
class _Sending:
    """The mails of an applied staff mail as they are planned, and what staff hear of them."""

    case: Case
    inp: Inputs
    actor: str
    mails: list[Queued] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    """For the result mail: how each mail to the reporter went (encrypted, or not sent)."""

    def send(self, made: ReporterMail, *, limited: bool = True) -> bool:
        """Queue `made` (rate limited unless not `limited`) unless it could not be encrypted;
        True when queued."""
        kind, lang, what = made.kind, self.inp.settings.identity.language, ""
        if made.refused is not None:
            what = say("pgp.refused", lang, kind=kind_text(kind), why=made.refused)
            detail = f"{kind} not sent: {made.refused}"[:1000]
            self.events.append(Event(self.case.id, "encryption_refused", detail, self.actor))
        elif made.fingerprint:
            key = "pgp.encrypted" if made.signed else "pgp.unsigned"
            signer = self.inp.openpgp.fingerprint if self.inp.openpgp else ""
            what = say(key, lang, kind=kind_text(kind), fingerprint=made.fingerprint, signer=signer)
        elif self.inp.openpgp is not None:
            what = say("pgp.plain", lang, kind=kind_text(kind))
        if what:
            self.lines.append(what)
        if made.refused is not None:
            return False
        self.mails.append(rate_limited(made.mail, self.inp) if limited else Queued(made.mail))
        return True


def _to_reporter(
    msg: InboundMessage,
    old: Case,
    result: CommandResult,
    inp: Inputs,
    attachments: Sequence[tuple[str, str, bytes]],
    actor: str,
) -> _Outcome:
    """The mails of an applied staff mail: relay or status mail, acknowledgement, result."""
    case = result.case
    out = _Sending(case, inp, actor)
    text = "" if result.internal else result.reply.text.strip()
    if result.known_reply is not None:
        out.lines.append(
            say(
                "known.sent",
                inp.settings.identity.language,
                name=result.known_reply,
                text=Phrase("known.with_text") if text else "",
            )
        )
        text = "\n\n".join(t for t in (_known_text(result.known_reply, case, inp), text) if t)
        out.events.append(Event(case.id, "known_reply", result.known_reply, actor))
    relayed = False
    if text and case.reporter_email is not None:
        relayed = out.send(_relay(msg, case, text, inp, attachments), limited=False)
        if relayed:
            out.events.append(
                Event(case.id, "relayed", f"to the reporter ({len(text)} chars)", actor)
            )
    elif result.internal:
        out.events.append(Event(case.id, "internal", "nothing relayed (Internal: yes)", actor))
    status = "" if text or not case.reporter_email or result.internal else result.status_mail or ""
    if status and not out.send(_status_mail(msg, case, status, inp)):
        status = ""
    key_changed = case.reporter_key != old.reporter_key
    if (
        (result.new_reporter or key_changed)
        and case.acknowledged_at is None
        and case.reporter_email
    ):
        context = {"case": case_context(case, inp, case.language)}
        if out.send(reporter_mail(inp, "acknowledgement", context, msg, case)):
            out.events.append(Event(case.id, "acknowledgement_queued", f"to {case.reporter_email}"))
    left_out = _left_out(msg, attachments) if relayed else []
    report = _result_mail(
        msg, case, result, inp, relayed=relayed, status=status, left_out=left_out, lines=out.lines
    )
    return _Outcome((*out.mails, Queued(report)), tuple(out.events))


def _known_text(name: str, case: Case, inp: Inputs) -> str:
    """The body of known finding `name`'s reply template in the case's language."""
    finding = next(f for f in inp.settings.triage.known_findings if f.name == name)
    context = {"case": {"id": case.id, "subject": case.subject}}
    return rendered(inp, finding.reply_template, case.language, context).body.strip()


def _relay(
    msg: InboundMessage,
    case: Case,
    text: str,
    inp: Inputs,
    attachments: Sequence[tuple[str, str, bytes]],
) -> ReporterMail:
    """The staff text (and attachments) to the reporter, from the meldpunt identity."""
    context = {
        "case": {"id": case.id, "subject": case.subject},
        "text": text,
    }
    return reporter_mail(inp, "relay", context, msg, case, automatic=False, attachments=attachments)


def _status_mail(msg: InboundMessage, case: Case, status: str, inp: Inputs) -> ReporterMail:
    context = {
        "case": case_context(case, inp, case.language),
        "status": status,
        "reward": case.reward,
    }
    return reporter_mail(inp, "status", context, msg, case)


def _result_mail(
    msg: InboundMessage,
    case: Case,
    result: CommandResult,
    inp: Inputs,
    *,
    relayed: bool = False,
    status: str = "",
    left_out: Sequence[str] = (),
    lines: Sequence[str] = (),
) -> OutgoingMail:
    """Done / not done (`result.errors`) and why, to the staff member who wrote (never to
    the reporter), in the staff language; `lines`: how the mails to the reporter went out
    (encrypted to which key, or not sent), already in the staff language."""
    lang = inp.settings.identity.language
    applied = [localise(c.detail, lang) for c in result.changes]
    applied += [say("applied.note", lang, text=n) for n in result.notes]
    shown = [f"{e.line.strip()} — {localise(e.reason, lang)}" for e in result.errors]
    context = {
        "case": case_context(case, inp),
        "applied": applied,
        "refused": shown,  # errors mean nothing was applied
        "relayed": relayed,
        "status_mail": say(f"status_mail.{status}", lang) if status else "",
        "not_relayed": list(left_out),
        "encryption": list(lines),
        "help": [{"key": k, "explanation": e} for k, e in help_list(lang)] if result.help else [],
    }
    to = (msg.from_address or "",)
    return compose(inp, "command_result", context, seed=msg.raw_sha256, case_id=case.id, to=to)


def _left_out(msg: InboundMessage, relayed: Sequence[tuple[str, str, bytes]]) -> list[str]:
    """Names of the staff mail's attachments (as parsed) that are not among `relayed`."""
    sent = Counter((name, len(data)) for name, _, data in relayed)
    names: list[str] = []
    for attachment in msg.attachments:
        key = (attachment.filename, attachment.size)
        if sent[key]:
            sent[key] -= 1
        else:
            names.append(attachment.filename)
    return names

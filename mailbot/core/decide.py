"""Decide (pure): what one classified message changes and which mails it causes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

from mailbot.core.cases import CRYPTO_FLAGS, MAX_AFFECTED, find_reporter, open_case
from mailbot.core.classify import Verdict
from mailbot.core.completeness import still_missing
from mailbot.core.compose import (
    attachment_context,
    case_context,
    compose,
    staff_alert,
    to_reporter,
)
from mailbot.core.deadlines import resolve_deadline
from mailbot.core.effects import Event, Inputs, Plan, Queued
from mailbot.core.known import match_known
from mailbot.core.models import Case, ClockName, Deadline, Disposition, InboundMessage, OutgoingMail
from mailbot.core.wording import Phrase, language_of, localise, long_date, say
from mailbot.mail.contacts import mailbox_of
from mailbot.mail.pgp_notes import describe
from mailbot.mail.pgp_reading import KeyChoice, reporter_key
from mailbot.mail.rendering import format_moment

D = Disposition
MAX_QUOTED_TEXT = 20_000
#: The audit line of each claims flag a report sets (`claims`).
CLAIMS = {
    "reward_demand": "reward_demand: the report asks for payment or a reward",
    "threat": "threat: the report threatens publication",
}


Planner = Callable[[InboundMessage, Verdict, Case | None, str | None, Inputs], Plan]


def decide(
    msg: InboundMessage, verdict: Verdict, case: Case | None, new_id: str | None, inp: Inputs
) -> Plan:
    """The plan for `msg` classified as `verdict` (`case`: the case it names, if any).

    The planner comes from PLANNERS by disposition; the silent ones plan nothing but
    their record (bounces and staff replies have planners of their own in the shell's
    table, as they need what the store knows about our mail and the case's commands).
    """
    planner = PLANNERS.get(verdict.disposition)
    return planner(msg, verdict, case, new_id, inp) if planner else Plan(verdict)


def _new_case_planner(
    msg: InboundMessage, verdict: Verdict, case: Case | None, new_id: str | None, inp: Inputs
) -> Plan:
    if new_id is None:
        raise ValueError("a new case needs an id")
    return _new_case(msg, verdict, new_id, inp)


def _on_case(
    plan: Callable[[InboundMessage, Verdict, Case, Inputs], Plan],
) -> Planner:
    """A planner of mail on a case; without the case there is nothing to plan."""

    def planner(
        msg: InboundMessage, verdict: Verdict, case: Case | None, new_id: str | None, inp: Inputs
    ) -> Plan:
        return plan(msg, verdict, case, inp) if case is not None else Plan(verdict)

    return planner


def _new_case(msg: InboundMessage, verdict: Verdict, case_id: str, inp: Inputs) -> Plan:
    reporter = find_reporter(
        msg, frozenset(a.lower() for a in inp.settings.relays.senders), inp.identity.domain
    )
    d = inp.settings.deadlines
    key = reporter_key(msg.keys, reporter.email, inp.now) if msg.keys else KeyChoice()
    case = open_case(case_id, msg, reporter, inp.calendar, d.acknowledge, d.respond, key.armor)
    known = match_known(msg.text, msg.subject, inp.settings.triage.known_findings)
    case = replace(case, related=inp.related, known_finding=known)
    verdict = replace(verdict, case_id=case_id, reason=_with_key(verdict.reason, key))
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
    events += [Event(case_id, "flag_set", CLAIMS[f]) for f in case.flags if f in CLAIMS]
    if known is not None:
        events.append(Event(case_id, "known_finding", known))
    if case.missing:
        events.append(Event(case_id, "missing_set", ", ".join(case.missing)))
    events += _crypto_events(case, msg, key, "the report")
    mails: list[Queued] = []
    once: tuple[tuple[str, OutgoingMail], ...] = ()
    if case.reporter_email is not None:
        mails.append(rate_limited(acknowledgement(msg, case, inp), inp))
        if mails[-1].status == "suppressed":
            once = (_flood_alert(case.reporter_email, inp),)
    mails.append(Queued(_staff_notice(msg, case, inp, key)))
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
    today = inp.now.astimezone(inp.tz).date()
    day = today.isoformat()
    cap = inp.settings.limits.auto_mails_per_address_per_day
    reason = Phrase("flood.reason", address=address, cap=cap)
    details = [
        Phrase("alert.address", value=address),
        Phrase("alert.day", value=long_date(today, inp.settings.identity.language)),
        Phrase("alert.see", command="mailbot messages / mailbot cases"),
    ]
    # The key is stored until purge: a hash keeps the address itself out of it.
    key = f"flood:{hashlib.sha256(mailbox_of(address).encode()).hexdigest()[:32]}:{day}"
    return key, staff_alert(inp, "flood", reason, details, seed=key)


def _first_clocks(case: Case, inp: Inputs) -> tuple[tuple[str, Deadline], ...]:
    """ack_due, response_due (on the case already) and resolve_due (calendar days)."""
    assert case.ack_due is not None and case.response_due is not None
    days, lang = inp.settings.deadlines.resolve_days, inp.calendar.language
    resolve = resolve_deadline(case.received_at, days, inp.tz, lang)
    return (
        (ClockName.ACK_DUE, Deadline(case.ack_due, case.ack_explanation)),
        (ClockName.RESPONSE_DUE, Deadline(case.response_due, case.response_explanation)),
        (ClockName.RESOLVE_DUE, resolve),
    )


def _followup(msg: InboundMessage, verdict: Verdict, case: Case, inp: Inputs) -> Plan:
    events = [Event(case.id, "followup_received", f"from {msg.from_address}", "reporter")]
    updated = None
    if not case.is_open:
        if "followup_after_close" not in case.flags:
            updated = replace(case, flags=(*case.flags, "followup_after_close"))
        events.append(Event(case.id, "flag_set", f"followup_after_close: case is {case.state}"))
    key = KeyChoice()
    if msg.keys and msg.from_address is not None and msg.from_address == case.reporter_email:
        key = reporter_key(msg.keys, case.reporter_email, inp.now)
    if key.armor is not None and key.armor != case.reporter_key:
        updated = replace(updated or case, reporter_key=key.armor)
    else:
        key = replace(key, armor=None)
    events += _crypto_events(case, msg, key, "a follow-up")
    completed = _completed(msg, updated or case)
    if completed is not None:
        updated, supplied = completed
        events.append(Event(case.id, "missing_updated", supplied, "reporter"))
    context = {
        "case": case_context(case, inp),
        "message_text": msg.text[:MAX_QUOTED_TEXT],
        "from_address": msg.from_address or "",
        "crypto": _crypto_context(msg, key, inp.settings.identity.language),
    }
    notice = compose(inp, "followup_notice", context, seed=msg.raw_sha256, case_id=case.id)
    events.append(Event(case.id, "followup_notice_queued", _to(notice)))
    return Plan(verdict, updated_case=updated, events=tuple(events), mails=(Queued(notice),))


def _completed(msg: InboundMessage, case: Case) -> tuple[Case, str] | None:
    """`case` with what the reporter's follow-up `msg` supplied no longer missing (the
    systems it names added to `affected`), and the audit line; None: nothing supplied."""
    if not case.missing:
        return None
    has_contact = bool(case.reporter_email or case.reporter_phone or msg.contacts.phones)
    left, systems = still_missing(case.missing, msg.text, has_contact)
    if left == case.missing:
        return None
    affected = tuple(dict.fromkeys((*case.affected, *systems)))[:MAX_AFFECTED]
    supplied = ", ".join(m for m in case.missing if m not in left)
    detail = f"supplied: {supplied}; still missing: {', '.join(left) or 'nothing'}"
    return replace(case, missing=left, affected=affected), detail


def _unverified(msg: InboundMessage, verdict: Verdict, case: Case, inp: Inputs) -> Plan:
    lang = inp.settings.identity.language
    context = {
        "case": {"id": case.id, "subject": case.subject},
        "from_address": msg.from_address or say("none", lang),
        "reason": localise(verdict.reason, lang),
        "message_text": msg.text[:MAX_QUOTED_TEXT],
    }
    alert = compose(inp, "unverified_notice", context, seed=msg.raw_sha256, case_id=case.id)
    event = Event(case.id, "unverified_mail", f"from {msg.from_address}: {verdict.reason}")
    return Plan(verdict, events=(event,), mails=(Queued(alert),))


def _quarantined(msg: InboundMessage, verdict: Verdict, inp: Inputs) -> Plan:
    received = format_moment(msg.received_at, inp.tz, inp.settings.identity.language)
    details = [
        *_sender_lines(msg),
        Phrase("alert.message_id", value=msg.message_id or Phrase("none")),
        Phrase("alert.received", value=received),
        Phrase("alert.size", size=msg.size, sha=msg.raw_sha256),
        Phrase("alert.release", command=release_command(msg, inp)),
    ]
    alert = staff_alert(inp, "quarantined", verdict.reason, details, seed=msg.raw_sha256)
    return Plan(verdict, mails=(Queued(alert),))


def _sender_lines(msg: InboundMessage) -> list[str]:
    """The From and Subject lines of an alert about `msg`."""
    return [
        Phrase("alert.from", value=msg.from_address or Phrase("none")),
        Phrase("alert.subject", value=msg.subject[:200]),
    ]


def release_command(msg: InboundMessage, inp: Inputs) -> str:
    """The `mailbot release` line for a quarantined message: named by its sha256 (a
    Message-ID is the sender's text, not for a shell), with --max-bytes when too large."""
    command = f"mailbot release {msg.raw_sha256[:16]}"
    if msg.size > inp.settings.limits.max_message_bytes:
        command += f" --max-bytes {msg.size}"
    return command


def with_collision_alert(plan: Plan, msg: InboundMessage, reason: str, inp: Inputs) -> Plan:
    """`plan` plus a staff alert: the message reused an earlier message's Message-ID.

    The message was handled as if its Message-ID were new (see `redelivery`); staff hear
    of it because either it or the earlier one may be an attempt to pre-empt a report.
    """
    v = plan.verdict
    handled = v.disposition.value + (f" ({v.case_id})" if v.case_id else "")
    details = [
        *_sender_lines(msg),
        Phrase("alert.handled_as", disposition=handled),
        Phrase("alert.sha256", value=msg.raw_sha256),
        Phrase("alert.see", command="mailbot messages"),
    ]
    shown = reason
    plain = not isinstance(reason, Phrase) and language_of(inp.settings.identity.language) != "en"
    if plain and msg.message_id:  # English text from `redelivery`: say what is known
        shown = Phrase("collision.either", message_id=msg.message_id[:200])
    seed = f"collision:{msg.raw_sha256}"
    alert = staff_alert(inp, "collision", shown, details, seed=seed, case_id=v.case_id)
    events = (Event(v.case_id, "message_id_collision", reason),) if v.case_id else ()
    verdict = replace(v, reason=f"{v.reason}; {reason}")
    return replace(
        plan, verdict=verdict, events=plan.events + events, mails=(*plan.mails, Queued(alert))
    )


def acknowledgement(
    msg: InboundMessage, case: Case, inp: Inputs, *, thread: bool = True
) -> OutgoingMail:
    """The acknowledgement of `case` to its reporter, threaded to `msg` when `msg` is the
    report itself (never to a staff mail: its Message-ID and thread stay internal)."""
    context = {"case": case_context(case, inp, case.language)}
    if case.reporter_email is None:
        raise ValueError(f"case {case.id} has no reporter address to acknowledge")
    return to_reporter(inp, "acknowledgement", context, msg, case, reply=thread)


def _staff_notice(msg: InboundMessage, case: Case, inp: Inputs, key: KeyChoice) -> OutgoingMail:
    lang = inp.settings.identity.language
    shown = case_context(case, inp)
    # The crypto flags have a section of their own (in words): the flag line keeps the rest.
    texts = shown["flag_texts"]
    assert isinstance(texts, list)
    kept = [(f, t) for f, t in zip(case.flags, texts, strict=True) if f not in CRYPTO_FLAGS]
    shown |= {"flags": [f for f, _ in kept], "flag_texts": [t for _, t in kept]}
    context = {
        "case": shown,
        "report_text": msg.text[:MAX_QUOTED_TEXT],
        "attachments": [
            attachment_context(a.filename, a.content_type, a.size, lang) for a in msg.attachments
        ],
        "crypto": _crypto_context(msg, key, lang),
    }
    return compose(inp, "staff_notice", context, seed=msg.raw_sha256, case_id=case.id)


# --- the message's cryptography (OpenPGP, S/MIME) -----------------------------------------


def _key_notes(key: KeyChoice) -> list[str]:
    """The notes of the reporter-key choice: refusals, and the key kept."""
    return [*key.notes, *([f"key_used: {key.fingerprint}"] if key.armor else [])]


def _with_key(reason: str, key: KeyChoice) -> str:
    """`reason` with what became of the keys the report carried."""
    notes = _key_notes(key)
    return "; ".join([reason, *notes]) if notes else reason


def _crypto_context(msg: InboundMessage, key: KeyChoice, language: str) -> dict[str, object]:
    """What staff read about the message's encryption, signatures and keys, in words."""
    note = "; ".join(n for n in [msg.crypto_note, *_key_notes(key)] if n)
    return {
        "encrypted": "encrypted" in msg.crypto,
        "decrypted": "decrypted" in msg.crypto,
        "signed_valid": "signed_valid" in msg.crypto,
        "lines": describe(note, language) if note else [],
    }


def _crypto_events(case: Case, msg: InboundMessage, key: KeyChoice, source: str) -> list[Event]:
    """The audit events of the message's cryptography and of the reporter key it set: a
    report's crypto flags are set on its new case ("flag_set"), a follow-up's are noted."""
    events = []
    flags = [f for f in CRYPTO_FLAGS if f in msg.crypto]
    if flags or msg.crypto_note:
        kind = "flag_set" if flags and source == "the report" else "crypto_note"
        detail = f"{', '.join(flags) or 'crypto'}: {msg.crypto_note or '-'}"
        events.append(Event(case.id, kind, detail[:1000]))
    if key.armor is not None:
        events.append(Event(case.id, "reporter_key_set", f"{key.fingerprint} from {source}"))
    elif key.notes:
        events.append(Event(case.id, "reporter_key_refused", "; ".join(key.notes)[:1000]))
    return events


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


PLANNERS: dict[Disposition, Planner] = {
    D.NEW_CASE: _new_case_planner,
    D.FOLLOWUP: _on_case(_followup),
    D.UNVERIFIED: _on_case(_unverified),
    D.QUARANTINED: lambda msg, verdict, case, new_id, inp: _quarantined(msg, verdict, inp),
}
"""Which planner each disposition gets (DESIGN.md §3's effects column, as data)."""

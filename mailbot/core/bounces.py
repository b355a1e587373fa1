"""Bounces (pure): a delivery report that names mail we sent marks it failed and tells staff;
one that names no failed mail of ours is recorded for the daily digest (no alert: bounces
come in floods, and a forged one must not buy a mail per message)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from mailbot.core.classify import Verdict
from mailbot.core.compose import kind_text, staff_alert
from mailbot.core.effects import Event, Inputs, Plan, Queued
from mailbot.core.models import TO_REPORTER, Case, InboundMessage
from mailbot.core.wording import Phrase

UNMATCHED = "bounce_unmatched"
"""Event kind of a delivery report naming no failed mail of ours (a delay notice, a report
about someone else's mail, mail from MAILER-DAEMON): no case, the detail is the report's
sha256 (`Store.unmatched_bounces` lists them in the digest)."""


@dataclass(frozen=True)
class UnmatchedBounce:
    """One delivery report that named no failed mail of ours."""

    received_at: datetime
    from_address: str | None
    subject: str
    sha256: str


@dataclass(frozen=True)
class BounceListing:
    """The unmatched reports since the last digest: the first `limit`, and how many."""

    entries: tuple[UnmatchedBounce, ...]
    total: int
    last_event: int
    """The id of the newest event counted (0 when none)."""


NO_BOUNCES = BounceListing((), 0, 0)


@dataclass(frozen=True)
class BouncedMail:
    """One of our outgoing mails that a delivery report names."""

    outbox_id: int
    message_id: str
    case_id: str | None
    kind: str
    recipients: tuple[str, ...]


def plan_bounce(
    msg: InboundMessage,
    verdict: Verdict,
    bounced: Sequence[BouncedMail],
    cases: Mapping[str, Case],
    inp: Inputs,
) -> Plan:
    """Mark each bounced mail failed; a reporter unreachable by mail flags the case.
    Without any: an UNMATCHED event (the digest lists it), nothing sent."""
    if not bounced:
        reason = f"{verdict.reason}; names no failed mail of ours (listed in the digest)"
        verdict = replace(verdict, reason=reason)
        return Plan(verdict, events=(Event(None, UNMATCHED, msg.raw_sha256),))
    reason = Phrase("bounce.reason", ref=msg.message_id or msg.raw_sha256[:16])
    failed = tuple((b.outbox_id, reason) for b in bounced)
    events = [
        Event(b.case_id, "mail_bounced", f"{b.kind} to {', '.join(b.recipients)}") for b in bounced
    ]
    updated = None
    first = next((b for b in bounced if b.case_id in cases and b.kind in TO_REPORTER), None)
    if first is not None and first.case_id is not None:
        case = cases[first.case_id]
        if "unreachable" not in case.flags:
            updated = replace(case, flags=(*case.flags, "unreachable"))
            events.append(Event(case.id, "flag_set", "unreachable: mail to the reporter bounced"))
    case_id = next((b.case_id for b in bounced if b.case_id), None)
    details = [
        Phrase("bounce.mail", kind=kind_text(b.kind), message_id=b.message_id, to=b.recipients)
        for b in bounced
    ]
    sender = msg.from_address or Phrase("none")
    details.append(Phrase("bounce.report", sender=sender, subject=msg.subject[:200]))
    alert = staff_alert(inp, "bounce", reason, details, seed=msg.raw_sha256, case_id=case_id)
    return Plan(
        verdict,
        updated_case=updated,
        events=tuple(events),
        mails=(Queued(alert),),
        outbox_failed=failed,
    )

"""Classification (pure): one disposition per inbound message, first rule wins."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mailbot.core.config import Settings
from mailbot.core.models import Case, Disposition, InboundMessage
from mailbot.core.wording import Phrase
from mailbot.mail.decoding import split_params
from mailbot.mail.rendering import LOOP_HEADER, is_own_message_id

D = Disposition

AUTO_SUBJECT_PREFIXES = ("automatisch antwoord:", "automatic reply:", "afwezig:", "out of office:")
#: The From local part that alone makes a bounce (DESIGN.md §3). `postmaster` is a person
#: too (RFC 5321 §4.5.1): without DSN structure its mail is read like anyone's.
BOUNCE_LOCAL_PART = "mailer-daemon"
#: report-type values of a multipart/report that is a delivery status notification.
DSN_REPORT_TYPES = frozenset({"delivery-status", "global-delivery-status"})
#: How a reason names each kind of `InboundMessage.ambiguous_identity`.
AMBIGUITY_TEXT: dict[str, str] = {
    **{
        name.lower(): Phrase("ambiguous.repeated", header=name)
        for name in ("From", "Sender", "Subject", "Message-ID", "In-Reply-To", "References")
    },
    "from_addresses": Phrase("ambiguous.from_addresses"),
    "header_block": Phrase("ambiguous.header_block"),
}
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


@dataclass(frozen=True)
class Rules:
    """What classification needs from the configuration."""

    own_address: str
    own_domain: str
    staff: frozenset[str]
    relays: frozenset[str]
    spam_header: tuple[str, str] | None
    max_message_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        """Rules taken from the settings."""
        address = settings.identity.address.lower()
        name, _, value = settings.limits.spam_header.partition(":")
        return cls(
            own_address=address,
            own_domain=address.rpartition("@")[2],
            staff=frozenset(settings.staff.addresses),
            relays=frozenset(settings.relays.senders),
            spam_header=(name.strip().lower(), value.strip().lower()) if name.strip() else None,
            max_message_bytes=settings.limits.max_message_bytes,
        )


@dataclass(frozen=True)
class Context:
    """What the store knows about the message (looked up by the shell)."""

    seen_before: bool = False
    case: Case | None = None
    """The existing case the message names (by tag or by reference), if any."""
    found_by: str = ""
    """"tag" or "reference": how `case` was found."""
    authenticated: bool = False
    """For staff and relay mail: whether our MTA vouched for the From address (see
    `authentication`); the shell sets it, True without checking only when
    `require_authenticated` is off."""
    auth_reason: str = ""


@dataclass(frozen=True)
class Verdict:
    """The disposition of one message with its reason (English text; a `wording.Phrase`
    where staff mail shows it: quarantined and unverified)."""

    disposition: Disposition
    reason: str
    case_id: str | None = None


Rule = Callable[[InboundMessage, Context, Rules], Verdict | None]


def classify(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict:
    """The disposition of `msg`: the first rule of DESIGN.md §3 that matches."""
    for rule in (_duplicate, _quarantine, _loop, _bounce, _auto_reply, _spam):
        verdict = rule(msg, ctx, rules)
        if verdict is not None:
            return verdict
    return _conversation(msg, ctx, rules)


def _duplicate(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict | None:
    if not ctx.seen_before:
        return None
    what = f"Message-ID <{msg.message_id}>" if msg.message_id else f"sha256 {msg.raw_sha256[:16]}"
    return Verdict(D.DUPLICATE, f"{what} seen before")


def _quarantine(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict | None:
    if msg.size > rules.max_message_bytes:
        limit = rules.max_message_bytes
        return Verdict(D.QUARANTINED, Phrase("quarantine.too_large", size=msg.size, limit=limit))
    errors = [d for d in msg.defects if d.startswith("parser_error")]
    if errors:
        return Verdict(D.QUARANTINED, Phrase("quarantine.unparseable", error=errors[0]))
    return None


def _loop(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict | None:
    for value in msg.header_all(LOOP_HEADER):
        if rules.own_address in value.lower():
            return Verdict(D.LOOP, f"carries our {LOOP_HEADER} header")
    if msg.message_id and is_own_message_id(msg.message_id, rules.own_domain):
        return Verdict(D.LOOP, f"Message-ID <{msg.message_id}> is one of ours")
    if msg.from_address == rules.own_address:
        return Verdict(D.LOOP, "sent from our own address")
    return None


def _local_part(address: str | None) -> str:
    return (address or "").partition("@")[0].lower()


def _report_type(msg: InboundMessage) -> str:
    """The lower-cased report-type parameter of the Content-Type ("" when absent)."""
    for item in split_params(msg.header("content-type") or "", limit=100)[1:]:
        name, _, value = item.partition("=")
        if name == "report-type":
            return value.strip().strip('"').strip().lower()
    return ""


def _bounce(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict | None:
    """A delivery report by its structure, or mail from MAILER-DAEMON; never by a local
    part alone otherwise (a report from postmaster@ is a report)."""
    if msg.content_type == "multipart/report" and _report_type(msg) in DSN_REPORT_TYPES:
        return Verdict(D.BOUNCE, "delivery status notification (multipart/report)")
    if msg.bounced_message_ids:
        return Verdict(D.BOUNCE, "names returned mail")
    if _local_part(msg.from_address) == BOUNCE_LOCAL_PART:
        return Verdict(D.BOUNCE, f"sent by {msg.from_address}")
    return None


def _auto_reply(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict | None:
    reason = _auto_reason(msg)
    return Verdict(D.AUTO_REPLY, reason) if reason else None


def _auto_reason(msg: InboundMessage) -> str | None:
    auto_submitted = (msg.header("auto-submitted") or "").strip().lower()
    keyword = re.split(r"[\s;(]", auto_submitted, maxsplit=1)[0]
    if auto_submitted and keyword != "no":
        return f"Auto-Submitted: {auto_submitted[:60]}"
    precedence = (msg.header("precedence") or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if msg.return_path == "":
        return "empty Return-Path"
    for name in ("x-autoreply", "x-autorespond"):
        if msg.header(name) is not None:
            return f"{name} header"
    if msg.header("x-auto-response-suppress") and msg.header("x-ms-exchange-inbox-rules-loop"):
        return "Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)"
    if msg.content_type == "multipart/report":
        kind = _report_type(msg)[:40] or "none"
        if kind == "disposition-notification":
            return "disposition notification (read receipt)"
        return f"machine report (multipart/report, report-type {kind})"
    subject = msg.subject.strip().lower()
    if subject.startswith(AUTO_SUBJECT_PREFIXES):
        return f"out-of-office subject {msg.subject[:40]!r}"
    return None


def _spam(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict | None:
    if rules.spam_header is None:
        return None
    name, wanted = rules.spam_header
    for value in msg.header_all(name):
        text = value.strip().lower()
        if text.startswith(wanted) and not text[len(wanted) : len(wanted) + 1].isalnum():
            return Verdict(D.SPAM, f"{name}: {value.strip()[:40]}")
    return None


def _conversation(msg: InboundMessage, ctx: Context, rules: Rules) -> Verdict:
    """staff_reply / unverified / followup / new_case (see `_on_case` for a named case).

    An ambiguous identity (`InboundMessage.ambiguous_identity`) never carries authority:
    without a case the mail is still a report (its first From is the reporter and gets the
    acknowledgement, as for any report), and the reason says what was ambiguous.
    """
    case = ctx.case
    ambiguous = _ambiguity(msg)
    if case is None:
        reason = "report without a valid case reference"
        return Verdict(D.NEW_CASE, f"{reason}; {ambiguous}" if ambiguous else reason)
    sender = msg.from_address or Phrase("unknown_sender")
    if ambiguous:
        reason = Phrase("unverified.ambiguous", ambiguous=ambiguous, sender=sender, case=case.id)
        return Verdict(D.UNVERIFIED, reason, case.id)
    return _on_case(msg, ctx, rules, case)


def _ambiguity(msg: InboundMessage) -> str:
    """One line naming what makes the identity ambiguous ("" when nothing does)."""
    parts = tuple(AMBIGUITY_TEXT.get(what, what) for what in msg.ambiguous_identity)
    return Phrase("ambiguous", parts=parts) if parts else ""


def _on_case(msg: InboundMessage, ctx: Context, rules: Rules, case: Case) -> Verdict:
    """Staff need our MTA's word for their address, and so does a relay (DESIGN.md §6);
    a reporter is recognised by address (a reporter cannot be authenticated)."""
    how = f"names {case.id} by {ctx.found_by}"
    sender = msg.from_address
    if sender is not None and sender in rules.staff:
        if ctx.authenticated:
            return Verdict(D.STAFF_REPLY, f"staff {sender} {how}", case.id)
        return Verdict(D.UNVERIFIED, Phrase("unverified.staff", why=_why(ctx)), case.id)
    is_case_relay = case.source == "relay" and sender == case.relay_sender
    if sender is not None and (sender in rules.relays or is_case_relay):
        if not ctx.authenticated:
            return Verdict(D.UNVERIFIED, Phrase("unverified.relay", why=_why(ctx)), case.id)
        if is_case_relay:
            return Verdict(D.FOLLOWUP, f"relay {sender} {how}", case.id)
    if sender is not None and sender == case.reporter_email:
        return Verdict(D.FOLLOWUP, f"reporter {how}", case.id)
    who = sender or Phrase("unknown_sender")
    return Verdict(
        D.UNVERIFIED, Phrase("unverified.not_reporter", sender=who, case=case.id), case.id
    )


def _why(ctx: Context) -> str:
    """Why the shell did not vouch for the sender ("no verdict" when it did not say); the
    shell passes `authentication`'s reason, a `wording.Phrase`."""
    return ctx.auth_reason or Phrase("auth.no_verdict")

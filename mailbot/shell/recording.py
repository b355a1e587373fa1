"""Record one message (shell): parse, look up what the store knows, classify, choose the
planner by disposition, apply its plan and the message row in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mailbot.core import cases, redelivery
from mailbot.core.authentication import AuthVerdict, verify_sender
from mailbot.core.bounces import plan_bounce
from mailbot.core.classify import Context, Rules, Verdict, classify
from mailbot.core.config import Settings
from mailbot.core.decide import decide, with_collision_alert
from mailbot.core.effects import Inputs, Plan
from mailbot.core.errors import StillQuarantined
from mailbot.core.models import Case, Disposition, InboundMessage
from mailbot.core.release import Release, with_release
from mailbot.core.staffmail import plan_staff_reply
from mailbot.core.workdays import Calendar
from mailbot.mail import parsing, pgp_reading
from mailbot.mail.openpgp import MeldpuntKey
from mailbot.mail.pgp_data import binary, key_ids
from mailbot.mail.rendering import Renderer
from mailbot.shell.applying import CaseNumber, Linking, apply_plan, find_links, write_links
from mailbot.shell.clock import Clock
from mailbot.shell.decrypting import ChildOpener
from mailbot.shell.logs import get_logger
from mailbot.shell.mailbox import MailboxItem
from mailbot.shell.outbox import crashpoint
from mailbot.store import Store
from mailbot.store.schema import iso

D = Disposition
MAX_RELAYED_BYTES = 10 * 1024 * 1024
"""Staff attachments relayed to a reporter, in all (later ones are left out)."""
ON_CASE = frozenset({D.NEW_CASE, D.FOLLOWUP, D.STAFF_REPLY})
"""Dispositions whose message joins the case's conversation."""


@dataclass(frozen=True)
class Outcome:
    """What became of one mailbox item."""

    key: str
    disposition: Disposition
    case_id: str | None
    message_id: str | None
    reason: str
    resumed: bool = False


@dataclass(frozen=True)
class Looked:
    """What the store knows about a message, gathered before it is planned."""

    msg: InboundMessage
    item: MailboxItem
    ctx: Context
    verdict: Verdict
    number: CaseNumber | None
    entity: bytes | None = None
    """The decrypted MIME entity of an encrypted message (its attachments' bytes)."""


Planner = Callable[[Looked], Plan]


@dataclass
class Recorder:
    """Records mailbox items in `store` under one configuration."""

    settings: Settings
    store: Store
    clock: Clock
    renderer: Renderer
    calendar: Calendar
    rules: Rules
    key: MeldpuntKey | None = None
    """The meldpunt's OpenPGP key: decrypts reports (None: encrypted mail stays unread)."""
    own_ids: frozenset[str] = field(default=frozenset(), init=False)

    def __post_init__(self) -> None:
        self.log = get_logger()
        self.linking: Linking | None = None
        """The relations of the new case in hand, found before it was planned."""
        self.own_ids = _own_ids(self.key)
        self.planners: dict[Disposition, Planner] = {
            D.BOUNCE: self._bounce_plan,
            D.STAFF_REPLY: self._staff_plan,
        }
        """Planner per disposition (the rest: `decide`), as Mailman's chains keep data."""

    def record(self, item: MailboxItem, release: Release | None = None) -> Outcome:
        """Record `item` in one transaction; raises on any fault (the caller parks it).

        With `release` (`mailbot release`) the quarantined row it names is replaced; a
        message that would be quarantined again raises StillQuarantined, changing nothing.
        """
        self.linking = None
        msg, entity = self._parse(item)
        content = redelivery.content_digest(item.raw)
        with self.store.transaction():
            if release is not None:
                self.store.forget_message(release.row)
            sameness = self._sameness(msg, content)
            ctx = self._context(msg, sameness.duplicate)
            verdict = classify(msg, ctx, self.rules)
            number = self._new_number(msg) if verdict.disposition is D.NEW_CASE else None
            looked = Looked(msg, item, ctx, verdict, number, entity)
            plan = self.planners.get(verdict.disposition, self._decide)(looked)
            if sameness.collision:
                plan = with_collision_alert(plan, msg, sameness.reason, self.inputs())
            if release is not None:
                if plan.verdict.disposition is D.QUARANTINED:
                    raise StillQuarantined(f"still quarantined: {plan.verdict.reason}")
                plan = with_release(plan, release)
            self._apply(plan, msg, item, content, number)
            crashpoint("before_commit")
        crashpoint("after_commit")
        v = plan.verdict
        return Outcome(item.key, v.disposition, v.case_id, msg.message_id, _reason(v, msg))

    def record_quarantined(self, item: MailboxItem, sha: str, reason: str) -> Outcome:
        """Park `item` as quarantined with `reason` (unless this very item is recorded)."""
        msg = parsing.parse_headers_only(item.raw, item.received_at)
        verdict = Verdict(D.QUARANTINED, reason)
        with self.store.transaction():
            if self.store.message_by_item(item.origin, sha) is None:
                plan = decide(msg, verdict, None, None, self.inputs())
                self._apply(plan, msg, item, redelivery.content_digest(item.raw), None)
        return Outcome(item.key, D.QUARANTINED, None, msg.message_id, reason)

    def _decide(self, looked: Looked) -> Plan:
        case_id = self._case_id(looked.number) if looked.number is not None else None
        inputs = self.inputs(looked.msg)
        if case_id is not None:  # a new case: its relations go into its staff notice
            msg, now = looked.msg, inputs.now
            self.linking = find_links(
                self.store,
                case_id,
                cases.affected_systems(msg),
                msg.text,
                self.rules.own_domain,
                now,
            )
            related = tuple((link.case_id, link.why) for link in self.linking.links)
            inputs = replace(inputs, related=related)
        return decide(looked.msg, looked.verdict, looked.ctx.case, case_id, inputs)

    def _staff_plan(self, looked: Looked) -> Plan:
        msg, case = looked.msg, looked.ctx.case
        if case is None:
            return self._decide(looked)
        files = parsing.attachment_payloads(looked.entity or looked.item.raw, MAX_RELAYED_BYTES)
        inputs = self.inputs(msg)
        return plan_staff_reply(msg, looked.verdict, case, self._known(msg), inputs, files)

    def _parse(self, item: MailboxItem) -> tuple[InboundMessage, bytes | None]:
        """The message as read, decrypted when it can be (and the decrypted entity)."""
        if item.size > self.settings.limits.max_message_bytes:
            return parsing.parse_headers_only(item.raw, item.received_at), None
        started = time.perf_counter()
        limit = self.settings.limits.max_message_bytes
        msg, entity = read_message(item.raw, item.received_at, self.key, limit, self.own_ids)
        if msg.crypto or msg.crypto_note:
            ms = round((time.perf_counter() - started) * 1000, 1)
            self.log.info("message_crypto", flags=list(msg.crypto), note=msg.crypto_note, ms=ms)
        return msg, entity

    def _sameness(self, msg: InboundMessage, content: str) -> redelivery.Sameness:
        """Duplicate or collision by Message-ID; without one, the same bytes seen before."""
        if msg.message_id is None:
            seen = self.store.seen_sha(msg.raw_sha256)
            return redelivery.Sameness(duplicate=seen, collision=False)
        earlier = [
            redelivery.Earlier(row.from_address, row.content_sha256 or self._digest_of(row.id))
            for row in self.store.messages_with_id(msg.message_id)
        ]
        return redelivery.judge(msg.message_id, msg.from_address, content, earlier)

    def _digest_of(self, rowid: int) -> str | None:
        """The content digest of a message recorded before the digest was kept."""
        raw = self.store.message_raw(rowid)
        return redelivery.content_digest(raw) if raw else None

    def _context(self, msg: InboundMessage, seen: bool) -> Context:
        case, found_by = self._named_case(msg) if not seen else (None, "")
        auth = self._authentication(msg, case)
        return Context(seen, case, found_by, auth.authenticated, auth.reason)

    def _authentication(self, msg: InboundMessage, case: Case | None) -> AuthVerdict:
        """Our MTA's word on the sender, asked only of staff and relay addresses (the
        Authentication-Results of everyone else are never parsed: they cannot matter)."""
        sender = msg.from_address
        relays = {*self.rules.relays, case.relay_sender if case is not None else None}
        if sender is None or (sender not in self.rules.staff and sender not in relays):
            return AuthVerdict(False, "not a staff or relay address")
        staff = self.settings.staff
        if not staff.require_authenticated:
            return AuthVerdict(True, "authentication not required by config")
        return verify_sender(msg, staff.authserv_ids)

    def _named_case(self, msg: InboundMessage) -> tuple[Case | None, str]:
        for tag in cases.find_tags(msg.subject, self.settings.identity.case_prefix):
            case = self.store.case(tag)
            if case is not None:
                return case, "tag"
        refs = (*msg.in_reply_to, *reversed(msg.references))
        domain = self.rules.own_domain
        for ref in refs:
            local, _, ref_domain = ref.partition("@")
            if ref_domain.lower() == domain and local.startswith("case."):
                case = self.store.case(local.removeprefix("case."))
                if case is not None:
                    return case, "reference"
        case_id = self.store.case_by_outgoing_id(refs)
        if case_id is not None:
            return self.store.case(case_id), "reference"
        return None, ""

    def _bounce_plan(self, looked: Looked) -> Plan:
        msg, verdict = looked.msg, looked.verdict
        bounced = self.store.outbox_by_message_ids(msg.bounced_message_ids)
        named = {b.case_id for b in bounced if b.case_id}
        found = {c: case for c in named if (case := self.store.case(c)) is not None}
        return plan_bounce(msg, verdict, bounced, found, self.inputs())

    def _known(self, msg: InboundMessage) -> frozenset[str]:
        """The case ids named in a staff mail's text that exist (for `Close: duplicate`)."""
        tags = cases.find_tags(msg.text[:20_000], self.settings.identity.case_prefix)
        return frozenset(t for t in tags if self.store.case(t) is not None)

    def _new_number(self, msg: InboundMessage) -> CaseNumber:
        """The next number of the year of receipt (inside the transaction)."""
        year = msg.received_at.astimezone(self.calendar.timezone).year
        return CaseNumber(year, self.store.next_sequence(year))

    def _case_id(self, number: CaseNumber) -> str:
        return cases.format_tag(self.settings.identity.case_prefix, number.year, number.seq)

    def inputs(self, msg: InboundMessage | None = None) -> Inputs:
        """What the core may consult: settings, calendar, templates, now, today's mail counts."""
        now = self.clock.now()
        counts: dict[str, int] = {}
        if msg is not None:
            since = now - timedelta(days=1)
            for address in {msg.from_address, *msg.reply_to, *msg.contacts.emails} - {None}:
                assert address is not None
                counts[address] = self.store.automatic_mails_since(address, since)
        return Inputs(self.settings, self.calendar, self.renderer, now, counts, openpgp=self.key)

    def _apply(
        self,
        plan: Plan,
        msg: InboundMessage,
        item: MailboxItem,
        content: str,
        number: CaseNumber | None,
    ) -> None:
        now = self.clock.now()
        apply_plan(self.store, plan, now, number)
        if plan.new_case is not None:
            linking = self.linking or find_links(
                self.store,
                plan.new_case.id,
                plan.new_case.affected,
                msg.text,
                self.rules.own_domain,
                now,
            )
            write_links(self.store, plan.new_case, linking, now)
        self.linking = None
        v = plan.verdict
        on_case = v.case_id if v.disposition in ON_CASE else None
        # The bytes are kept once: a byte-identical copy gets its own row without them.
        raw = None if self.store.raw_kept(msg.raw_sha256) else item.raw
        row = _message_row(msg, v, on_case, item.origin, raw, now)
        self.store.record_message({**row, "content_sha256": content}, _attachment_rows(msg))


def read_message(
    raw: bytes,
    received_at: datetime,
    key: MeldpuntKey | None,
    limit: int,
    own_ids: frozenset[str] | None = None,
) -> tuple[InboundMessage, bytes | None]:
    """`raw` as intake reads it: parsed, decrypted with `key` when it is encrypted to it (at
    most `limit` bytes of plaintext), its signatures checked (`mail.pgp_reading`, in a
    bounded child); and the decrypted MIME entity of a PGP/MIME message. `own_ids`: the
    key IDs of `key` (worked out here when not given)."""
    msg, found = parsing.parse_with_findings(raw, received_at)
    if not (found.sealed or found.signed or found.keys):
        return msg, None
    if own_ids is None:
        own_ids = _own_ids(key)
    read = pgp_reading.read(msg, found, ChildOpener(key, limit), own_ids)
    return read.msg, read.entity


def _own_ids(key: MeldpuntKey | None) -> frozenset[str]:
    """The fingerprints and key IDs of the meldpunt key (empty without one)."""
    public = binary(key.public_armor.encode()) if key is not None else None
    return key_ids(public) if public else frozenset()


def _reason(v: Verdict, msg: InboundMessage) -> str:
    """The verdict's reason, and what the message's cryptography was (if anything)."""
    return f"{v.reason}; {msg.crypto_note}" if msg.crypto_note else v.reason


def _attachment_rows(msg: InboundMessage) -> list[dict[str, object]]:
    return [
        {"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
        for a in msg.attachments
    ]


def _message_row(
    msg: InboundMessage,
    v: Verdict,
    case_id: str | None,
    key: str,
    raw: bytes | None,
    now: datetime,
) -> dict[str, object]:
    return {
        "message_id": msg.message_id,
        "sha256": msg.raw_sha256,
        "size": msg.size,
        "from_address": msg.from_address,
        "from_name": msg.from_name,
        "subject": msg.subject[:1000],
        "received_at": iso(msg.received_at),
        "disposition": v.disposition.value,
        "reason": _reason(v, msg),
        "case_id": case_id,
        "named_case": v.case_id,
        "mailbox_key": key,
        "raw": raw,
        "recorded_at": iso(now),
    }

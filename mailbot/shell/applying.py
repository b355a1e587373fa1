"""The one place that applies the core's plans to the store (inside the caller's
transaction): an inbound message's plan (new or updated case, clocks, events, queued
mail, once-only notices, outbox rows a delivery report failed) and what an accepted mail
changes (`core.delivery`), and the scheduler's notices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mailbot.core import related
from mailbot.core.bounces import NO_BOUNCES, BounceListing
from mailbot.core.delivery import Delivered
from mailbot.core.effects import Plan
from mailbot.core.models import Case, ClockName, OutgoingMail
from mailbot.core.scheduler import Notice
from mailbot.shell.logs import get_logger
from mailbot.store import Store


@dataclass(frozen=True)
class CaseNumber:
    """The number a new case gets: its year and its sequence in that year."""

    year: int
    seq: int


def apply_plan(store: Store, plan: Plan, now: datetime, number: CaseNumber | None = None) -> None:
    """Write everything `plan` asks for at `now` (a new case is inserted as `number`)."""
    if plan.new_case is not None:
        if number is None:
            raise ValueError(f"new case {plan.new_case.id} without its number")
        store.insert_case(plan.new_case, number.year, number.seq, now)
    if plan.updated_case is not None:
        store.update_case(plan.updated_case, now)
    case = plan.new_case or plan.updated_case
    if case is not None:
        for name, deadline in plan.clocks:
            store.start_clock(case.id, name, deadline, now)
        if plan.end_clocks:
            store.end_clocks(case.id, now, keep=plan.keep_clocks)
    for event in plan.events:
        store.add_event(event.case_id, now, event.actor, event.kind, event.detail)
    _queue(store, plan, now)
    for outbox_id, reason in plan.outbox_failed:
        store.outbox_update(outbox_id, status="failed", reason=reason[:500])


@dataclass(frozen=True)
class Linking:
    """What a new report is related to (`find_links`), and what indexes it."""

    systems: dict[str, str]
    signature: tuple[int, ...] | None
    links: tuple[related.Link, ...]


def find_links(
    store: Store, case_id: str, affected: Sequence[str], text: str, own_domain: str, now: datetime
) -> Linking:
    """The earlier cases new case `case_id` (its `affected` items, report `text`) is related
    to, by index; may run before the case is planned (its links then go into the notice)."""
    found = related.systems(affected, own_domain)
    sig = related.signature(text)
    candidates = store.related_candidates(found, sig, exclude=case_id)
    return Linking(found, sig, related.links(found, sig, candidates, now))


def write_links(store: Store, case: Case, linking: Linking, now: datetime) -> None:
    """Write `linking` to the new `case` and to each earlier case, an event on each, and
    index the new case."""
    new = case
    for link in linking.links:
        new = related.with_link(new, link.case_id, link.why)
        earlier = store.case(link.case_id)
        if earlier is not None:
            links = related.with_link(earlier, case.id, link.why).related
            store.set_related(earlier.id, links, now)
            store.add_event(earlier.id, now, "mailbot", "related", f"{case.id}: {link.why}")
        store.add_event(case.id, now, "mailbot", "related", f"{link.case_id}: {link.why}")
    if new != case:
        store.set_related(case.id, new.related, now)
    store.index_case(case.id, linking.systems, linking.signature)


def link_related(store: Store, case: Case, text: str, own_domain: str, now: datetime) -> None:
    """Relate the new `case` (report text `text`) to the earlier cases it shares a system
    or near-identical text with, both ways, with an event on each; and index it."""
    linking = find_links(store, case.id, case.affected, text, own_domain, now)
    write_links(store, case, linking, now)


def _queue(store: Store, plan: Plan, now: datetime) -> None:
    """The plan's mails, and its once-only mails whose key was never recorded."""
    for queued in plan.mails:
        if not store.enqueue(queued.mail, now, queued.status, queued.reason):
            get_logger().warning("outbox_id_taken", kind=queued.mail.kind, case=queued.mail.case_id)
    for key, mail in plan.once:
        if store.record_notice(key, mail.kind, mail.case_id, mail.message_id, now):
            store.enqueue(mail, now)


def apply_delivered(store: Store, case_id: str, delivered: Delivered, now: datetime) -> None:
    """Write what an accepted mail changed on case `case_id`."""
    for settle in delivered.settles:
        store.settle_clock(case_id, settle.name, settle.at, settle.by)
    if delivered.updated_case is not None:
        store.update_case(delivered.updated_case, now)
    for event in delivered.events:
        store.add_event(event.case_id, now, event.actor, event.kind, event.detail)
    update = delivered.update_clock
    if update is not None and store.start_clock(case_id, ClockName.UPDATE_DUE, update, now):
        store.add_event(
            case_id, now, "mailbot", "clock_started", f"update_due: {update.explanation}"
        )


def apply_notices(
    store: Store,
    batch: Sequence[tuple[Notice, OutgoingMail]],
    now: datetime,
    bounces: BounceListing = NO_BOUNCES,
) -> int:
    """Queue each notice's mail once (by its key), with its audit event; a digest marks
    `bounces` as listed; the day's escalation records the key of each clock it names,
    with an escalation event on its case. Returns how many were queued."""
    queued = 0
    for notice, mail in batch:
        if not store.record_notice(notice.key, notice.kind, notice.case_id, mail.message_id, now):
            continue
        store.enqueue(mail, now)
        if notice.kind == "digest":
            store.mark_listed(bounces)
        for missed in notice.missed:
            case_id = missed.clock.case_id
            store.record_notice(missed.key, notice.kind, case_id, mail.message_id, now)
            detail = f"{missed.clock.name}: {missed.label}"
            store.add_event(case_id, now, "mailbot", notice.kind, detail)
        if notice.case_id:
            detail = f"{notice.clock}: {notice.label}"
            store.add_event(notice.case_id, now, "mailbot", notice.kind, detail)
        queued += 1
    return queued

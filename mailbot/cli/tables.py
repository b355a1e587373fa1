"""What the inspection commands show: the §8 JSON shapes and their human tables."""

from __future__ import annotations

import email
import email.policy
import textwrap
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.core.errors import NotFoundError, UserError
from mailbot.core.models import Case, ClockName, InboundMessage
from mailbot.core.workdays import Calendar
from mailbot.mail.parsing import parse
from mailbot.store import Store
from mailbot.store.rows import StoredMessage
from mailbot.store.schema import iso

PURGED = "(purged)"
"""The text of a message whose raw bytes are no longer kept."""
WIDTH = 78
"""The width human output is wrapped at (JSON is not wrapped)."""


def case_summary(case: Case) -> dict[str, Any]:
    """The `cases --json` object of DESIGN.md §8 (keys may be added, never renamed)."""
    return {
        "id": case.id,
        "state": case.state.value,
        "reporter": case.reporter_email,
        "subject": case.subject,
        "source": case.source,
        "received_at": iso(case.received_at),
        "ack_due": iso(case.ack_due),
        "response_due": iso(case.response_due),
        "acknowledged_at": iso(case.acknowledged_at),
        "flags": list(case.flags),
        "reporter_name": case.reporter_name,
        "reporter_phone": case.reporter_phone,
        "relay_sender": case.relay_sender,
        "language": case.language,
        "affected": list(case.affected),
        "ack_explanation": case.ack_explanation,
        "response_explanation": case.response_explanation,
    }


Reader = Callable[[bytes, datetime], InboundMessage]
"""How a stored inbound message is read: `parse`, or intake's reading with the OpenPGP key
(an encrypted report is then shown decrypted)."""


def case_detail(store: Store, case: Case, read: Reader = parse) -> dict[str, Any]:
    """The `case show ID --json` object: the summary plus messages and events."""
    messages: list[dict[str, Any]] = [
        {
            "direction": "in",
            "kind": row.disposition,
            "message_id": row.message_id,
            "from": row.from_address,
            "to": None,
            "subject": row.subject,
            "at": iso(row.received_at),
            "status": "received",
            "text": inbound_text(store.message_raw(row.id), row.received_at, read),
        }
        for row in store.messages_of_case(case.id)
    ]
    messages += [
        {
            "direction": "out",
            "kind": row.kind,
            "message_id": row.message_id,
            "from": row.sender,
            "to": ", ".join(row.recipients),
            "subject": row.subject,
            "at": iso(row.sent_at or row.created_at),
            "status": row.status,
            "text": outgoing_text(store.outbox_raw(row.id)),
        }
        for row in store.outbox_of_case(case.id)
    ]
    messages.sort(key=lambda m: datetime.fromisoformat(m["at"]))
    events = [
        {"at": iso(e.at), "actor": e.actor, "kind": e.kind, "detail": e.detail}
        for e in store.events(case.id)
    ]
    staff = {"severity": case.severity, "assignee": case.assignee, "reward": case.reward}
    triage: dict[str, list[Any]] = {
        "related": [{"id": case_id, "why": why} for case_id, why in case.related],
        "missing": list(case.missing),
    }
    return {**case_summary(case), **staff, **triage, "messages": messages, "events": events}


def inbound_text(raw: bytes | None, received_at: datetime, read: Reader = parse) -> str:
    """The text of an inbound message as staff see it (read), or "(purged)"."""
    return PURGED if raw is None else read(raw, received_at).text


def outgoing_text(raw: bytes | None) -> str:
    """The text/plain part of one of our mails, or "(purged)"."""
    if raw is None:
        return PURGED
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)  # policy.default builds EmailMessage
    body = mail.get_body(preferencelist=("plain",))
    return str(body.get_content()) if isinstance(body, EmailMessage) else ""


def message_list(store: Store) -> list[dict[str, Any]]:
    """The `messages --json` array."""
    return [
        {
            "sha256": row.sha256,
            "message_id": row.message_id,
            "from": row.from_address,
            "subject": row.subject,
            "received_at": iso(row.received_at),
            "disposition": row.disposition,
            "case": row.case_id,
            "reason": row.reason,
        }
        for row in store.messages()
    ]


def find_message(store: Store, ref: str) -> StoredMessage:
    """The inbound message `ref` names: a Message-ID (with or without `<>`) or a prefix of
    at least 8 hex digits of its sha256. Unknown or ambiguous: NotFoundError / UserError."""
    message_id = ref.strip().removeprefix("<").removesuffix(">")
    prefix = message_id.lower() if len(message_id) >= 8 and _is_hex(message_id) else ""
    found = store.messages_by_ref(message_id, prefix)
    if not found:
        raise NotFoundError(f"no message {ref!r} (a Message-ID, or 8+ hex digits of its sha256)")
    if len({m.sha256 for m in found}) > 1:
        shas = ", ".join(sorted({m.sha256[:12] for m in found}))
        raise UserError(f"{ref!r} names {len(found)} different messages ({shas}): give more")
    return found[0]


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


_HEADERS = {
    name.lower(): name for name in ("From", "To", "Cc", "Reply-To", "Date", "Subject", "Message-ID")
}
"""The headers `message show` prints (in message order), by lower-cased name."""


def message_text(message: StoredMessage, tz: ZoneInfo, read: Reader = parse) -> str:
    """`message show`: headers, disposition, reason and the text staff see, wrapped."""
    shown = read(message.raw, message.received_at) if message.raw is not None else None
    lines = [
        f"{_HEADERS[name]}: {value}"
        for name, value in (shown.headers if shown else ())
        if name in _HEADERS
    ] or [
        f"From: {message.from_address or '-'}",
        f"Subject: {message.subject}",
        f"Message-ID: <{message.message_id}>" if message.message_id else "Message-ID: -",
    ]
    lines += [
        "",
        f"  received:    {local(iso(message.received_at), tz)}",
        f"  sha256:      {message.sha256} ({message.size} bytes)",
        f"  disposition: {message.disposition}",
        f"  reason:      {message.reason}",
        f"  case:        {message.case_id or '-'}",
        "",
        *wrapped(shown.text if shown else PURGED, indent=""),
    ]
    return "\n".join(lines) + "\n"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


def local(moment: str | None, tz: ZoneInfo) -> str:
    """An ISO moment as the office's wall clock with its offset: `2026-12-07 17:00+01:00`."""
    if not moment:
        return "-"
    return datetime.fromisoformat(moment).astimezone(tz).isoformat(" ", "minutes")


def cases_table(cases: list[dict[str, Any]], tz: ZoneInfo) -> str:
    """Cases as a text table."""
    if not cases:
        return "no cases\n"
    rows = [
        [
            c["id"],
            c["state"],
            c["reporter"] or "(no contact)",
            local(c["ack_due"], tz),
            local(c["response_due"], tz),
            c["subject"][:50],
        ]
        for c in cases
    ]
    return _table(["CASE", "STATE", "REPORTER", "ACK DUE", "RESPONSE DUE", "SUBJECT"], rows)


def messages_table(messages: list[dict[str, Any]], tz: ZoneInfo) -> str:
    """Inbound messages as a text table."""
    if not messages:
        return "no messages\n"
    rows = [
        [
            local(m["received_at"], tz),
            m["disposition"],
            m["case"] or "-",
            (m["from"] or "-")[:40],
            m["subject"][:40],
        ]
        for m in messages
    ]
    return _table(["RECEIVED", "DISPOSITION", "CASE", "FROM", "SUBJECT"], rows)


def case_text(detail: dict[str, Any], tz: ZoneInfo) -> str:
    """One case, readable: fields, deadlines with their reasons, conversation, audit log."""
    related = ", ".join(f"{r['id']} ({r['why']})" for r in detail["related"])
    lines = [
        f"[{detail['id']}] {detail['subject']}",
        f"  state:     {detail['state']}",
        f"  reporter:  {detail['reporter'] or '(no contact)'} {detail['reporter_name']}".rstrip(),
        f"  source:    {detail['source']}"
        + (f" via {detail['relay_sender']}" if detail["relay_sender"] else ""),
        f"  received:  {local(detail['received_at'], tz)}",
        f"  ack due:   {local(detail['ack_due'], tz)}  ({detail['ack_explanation']})",
        f"  response:  {local(detail['response_due'], tz)}  ({detail['response_explanation']})",
        f"  acknowledged: {local(detail['acknowledged_at'], tz)}",
        f"  severity:  {detail['severity'] or '-'}",
        f"  assignee:  {detail['assignee'] or '-'}",
        f"  reward:    {detail['reward']}",
        f"  flags:     {', '.join(detail['flags']) or '-'}",
        f"  affected:  {', '.join(detail['affected']) or '-'}",
        f"  related:   {related or '-'}",
        "",
        "Conversation (oldest first; [internal] never reached the reporter):",
        *_conversation(detail, tz),
        "",
        "Audit log:",
    ]
    for e in detail["events"]:
        lines.append(f"  {local(e['at'], tz)} {e['actor']:<8} {e['kind']}: {e['detail']}")
    return "\n".join(lines) + "\n"


def _conversation(detail: dict[str, Any], tz: ZoneInfo) -> list[str]:
    """Every mail (with its text, wrapped) and internal note of a case, oldest first."""
    entries = [
        (m["at"], [_message_line(m, tz), *wrapped(m["text"]), ""]) for m in detail["messages"]
    ]
    entries += [
        (e["at"], [f"  {local(e['at'], tz)} [internal] note by {e['actor']}: {e['detail']}", ""])
        for e in detail["events"]
        if e["kind"] == "note"
    ]
    ordered = sorted(entries, key=lambda pair: datetime.fromisoformat(pair[0]))
    return [line for _, lines in ordered for line in lines]


def wrapped(text: str, indent: str = "    ", width: int = WIDTH) -> list[str]:
    """`text` wrapped at `width` columns, each line indented; blank lines kept, URLs whole,
    a wrapped line's rest under its own start (under the text of a "- " item)."""
    lines: list[str] = []
    for line in text.strip("\n").splitlines():
        body = line.rstrip().expandtabs()
        start = indent + body[: len(body) - len(body.lstrip())]
        hang = start + "  " if body.lstrip().startswith(("- ", "* ")) else start
        pieces = textwrap.wrap(
            body.lstrip(),
            width,
            initial_indent=start,
            subsequent_indent=hang,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines += pieces or [""]
    return lines


INTERNAL_KINDS = frozenset(
    {
        "staff_notice",
        "followup_notice",
        "unverified_notice",
        "alert",
        "command_result",
        "reminder",
        "escalation",
        "digest",
    }
)


def _message_line(m: dict[str, Any], tz: ZoneInfo) -> str:
    """One mail of the conversation: who to whom, and whether the reporter saw it."""
    if m["direction"] == "in":
        return f"  {local(m['at'], tz)} <- {m['kind']:<16} from {m['from']}: {m['subject']}"
    mark = "[internal] " if m["kind"] in INTERNAL_KINDS else ""
    at = local(m["at"], tz)
    return f"  {at} -> {mark}{m['kind']} to {m['to']} ({m['status']}): {m['subject']}"


def deadlines(store: Store) -> list[dict[str, Any]]:
    """`deadlines --json`: every open clock of every open case, soonest first."""
    return [
        {
            "case": r.case_id,
            "clock": r.name,
            "due": iso(r.due),
            "state": "missed" if r.missed_at else "open",
            "missed_at": iso(r.missed_at),
            "explanation": r.explanation,
            "subject": r.subject,
            "case_state": r.state,
            "waiting": r.waiting,
        }
        for r in store.open_clocks()
    ]


def deadlines_text(rows: list[dict[str, Any]], tz: ZoneInfo) -> str:
    """Open clocks as a table, each with its explanation on the next line."""
    if not rows:
        return "no open deadlines\n"
    lines = []
    for r in rows:
        paused = " (paused: waiting)" if r["waiting"] and r["clock"] == ClockName.UPDATE_DUE else ""
        lines.append(f"{local(r['due'], tz)}  {r['state']:<7} {r['case']:<14} {r['clock']}{paused}")
        lines.append(f"    {r['explanation']}")
    return "\n".join(lines) + "\n"


def closed_days(calendar: Calendar, year: int) -> list[dict[str, str]]:
    """`calendar YEAR --json`: every closed weekday with its reason."""
    return [
        {"date": day.isoformat(), "weekday": day.strftime("%a"), "reason": reason}
        for day, reason in calendar.closed_days(year)
    ]


def closed_days_text(days: list[dict[str, str]]) -> str:
    """Closed weekdays, one a line."""
    return "".join(f"{d['date']} {d['weekday']}  {d['reason']}\n" for d in days)

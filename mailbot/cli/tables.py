"""What the inspection commands show: the §8 JSON shapes and their human tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailbot.core.models import Case, ClockName
from mailbot.core.workdays import Calendar
from mailbot.store import Store
from mailbot.store.schema import iso


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


def case_detail(store: Store, case: Case) -> dict[str, Any]:
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
        }
        for row in store.outbox_of_case(case.id)
    ]
    messages.sort(key=lambda m: datetime.fromisoformat(m["at"]))
    events = [
        {"at": iso(e.at), "actor": e.actor, "kind": e.kind, "detail": e.detail}
        for e in store.events(case.id)
    ]
    return {**case_summary(case), "messages": messages, "events": events}


def message_list(store: Store) -> list[dict[str, Any]]:
    """The `messages --json` array."""
    return [
        {
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


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


def _short(moment: str | None) -> str:
    return moment[:16].replace("T", " ") + "Z" if moment else "-"


def cases_table(cases: list[dict[str, Any]]) -> str:
    """Cases as a text table."""
    if not cases:
        return "no cases\n"
    rows = [
        [
            c["id"],
            c["state"],
            c["reporter"] or "(no contact)",
            _short(c["ack_due"]),
            _short(c["response_due"]),
            c["subject"][:50],
        ]
        for c in cases
    ]
    return _table(["CASE", "STATE", "REPORTER", "ACK DUE", "RESPONSE DUE", "SUBJECT"], rows)


def messages_table(messages: list[dict[str, Any]]) -> str:
    """Inbound messages as a text table."""
    if not messages:
        return "no messages\n"
    rows = [
        [
            _short(m["received_at"]),
            m["disposition"],
            m["case"] or "-",
            (m["from"] or "-")[:40],
            m["subject"][:40],
        ]
        for m in messages
    ]
    return _table(["RECEIVED", "DISPOSITION", "CASE", "FROM", "SUBJECT"], rows)


def case_text(detail: dict[str, Any]) -> str:
    """One case, readable: fields, deadlines with their reasons, conversation, audit log."""
    lines = [
        f"[{detail['id']}] {detail['subject']}",
        f"  state:     {detail['state']}",
        f"  reporter:  {detail['reporter'] or '(no contact)'} {detail['reporter_name']}".rstrip(),
        f"  source:    {detail['source']}"
        + (f" via {detail['relay_sender']}" if detail["relay_sender"] else ""),
        f"  received:  {detail['received_at']}",
        f"  ack due:   {detail['ack_due']}  ({detail['ack_explanation']})",
        f"  response:  {detail['response_due']}  ({detail['response_explanation']})",
        f"  acknowledged: {detail['acknowledged_at'] or '-'}",
        f"  flags:     {', '.join(detail['flags']) or '-'}",
        f"  affected:  {', '.join(detail['affected']) or '-'}",
        "",
        "Conversation (oldest first; [internal] never reached the reporter):",
    ]
    entries = [(m["at"], _message_line(m)) for m in detail["messages"]]
    entries += [
        (e["at"], f"  {_short(e['at'])} [internal] note by {e['actor']}: {e['detail']}")
        for e in detail["events"]
        if e["kind"] == "note"
    ]
    lines += [line for _, line in sorted(entries, key=lambda pair: pair[0])]
    lines += ["", "Audit log:"]
    lines += [
        f"  {_short(e['at'])} {e['actor']:<8} {e['kind']}: {e['detail']}" for e in detail["events"]
    ]
    return "\n".join(lines) + "\n"


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


def _message_line(m: dict[str, Any]) -> str:
    """One mail of the conversation: who to whom, and whether the reporter saw it."""
    if m["direction"] == "in":
        return f"  {_short(m['at'])} <- {m['kind']:<16} from {m['from']}: {m['subject']}"
    mark = "[internal] " if m["kind"] in INTERNAL_KINDS else ""
    return f"  {_short(m['at'])} -> {mark}{m['kind']} to {m['to']} ({m['status']}): {m['subject']}"


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


def deadlines_text(rows: list[dict[str, Any]]) -> str:
    """Open clocks as a table, each with its explanation on the next line."""
    if not rows:
        return "no open deadlines\n"
    lines = []
    for r in rows:
        paused = " (paused: waiting)" if r["waiting"] and r["clock"] == ClockName.UPDATE_DUE else ""
        lines.append(f"{_short(r['due'])}  {r['state']:<7} {r['case']:<14} {r['clock']}{paused}")
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

"""What the inspection commands show: the §8 JSON shapes and their human tables."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mailbot.models import Case
from mailbot.store import Store, iso


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
            "kind": row["disposition"],
            "message_id": row["message_id"],
            "from": row["from_address"],
            "to": None,
            "subject": row["subject"],
            "at": row["received_at"],
            "status": "received",
        }
        for row in store.messages_of_case(case.id)
    ]
    messages += [
        {
            "direction": "out",
            "kind": row["kind"],
            "message_id": row["message_id"],
            "from": row["sender"],
            "to": ", ".join(json.loads(row["recipients"])),
            "subject": row["subject"],
            "at": row["sent_at"] or row["created_at"],
            "status": row["status"],
        }
        for row in store.outbox_of_case(case.id)
    ]
    messages.sort(key=lambda m: datetime.fromisoformat(m["at"]))
    return {**case_summary(case), "messages": messages, "events": store.events(case.id)}


def message_list(store: Store) -> list[dict[str, Any]]:
    """The `messages --json` array."""
    return [
        {
            "message_id": row["message_id"],
            "from": row["from_address"],
            "subject": row["subject"],
            "received_at": row["received_at"],
            "disposition": row["disposition"],
            "case": row["case_id"],
            "reason": row["reason"],
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
        "Messages:",
    ]
    for m in detail["messages"]:
        arrow = "<-" if m["direction"] == "in" else "->"
        who = m["from"] if m["direction"] == "in" else m["to"]
        lines.append(f"  {_short(m['at'])} {arrow} {m['kind']:<16} {m['status']:<10} {who}")
    lines += ["", "Events:"]
    lines += [
        f"  {_short(e['at'])} {e['actor']:<8} {e['kind']}: {e['detail']}" for e in detail["events"]
    ]
    return "\n".join(lines) + "\n"

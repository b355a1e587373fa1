"""The cases and their audit events."""

from __future__ import annotations

from datetime import datetime

from mailbot.core.models import CLOSED_STATES, Case
from mailbot.store.db import Connection
from mailbot.store.rows import AuditEvent
from mailbot.store.schema import case_to_row, iso, row_to_case


class CaseStore(Connection):
    """Reads and writes of the cases and events tables."""

    def next_sequence(self, year: int) -> int:
        """The next free per-year sequence number (call inside a transaction); the case id
        is made of it by `core.cases.format_tag`."""
        row = self.db.execute("SELECT MAX(seq) FROM cases WHERE year = ?", [year]).fetchone()
        return int(row[0] or 0) + 1

    def insert_case(self, case: Case, year: int, seq: int, now: datetime) -> None:
        """Insert a new case row."""
        row = case_to_row(case)
        row.update(year=year, seq=seq, created_at=iso(now), updated_at=iso(now))
        self._insert("cases", row)

    def update_case(self, case: Case, now: datetime) -> None:
        """Write every field of `case` (the caller appends the matching events)."""
        row = case_to_row(case)
        row["updated_at"] = iso(now)
        self._update("cases", "id", case.id, row)

    def case(self, case_id: str) -> Case | None:
        """One case by id, or None."""
        row = next(self.db.query("SELECT * FROM cases WHERE id = ?", [case_id]), None)
        return row_to_case(row) if row is not None else None

    def cases(self, include_closed: bool = False) -> list[Case]:
        """Cases by receipt, open ones only unless `include_closed`."""
        closed = sorted(s.value for s in CLOSED_STATES)
        if include_closed:
            rows = self.db.table("cases").rows_where(order_by="received_at, id")
        else:
            marks = ",".join("?" * len(closed))
            rows = self.db.table("cases").rows_where(
                f"state NOT IN ({marks})", closed, order_by="received_at, id"
            )
        return [row_to_case(r) for r in rows]

    def case_by_outgoing_id(self, message_ids: tuple[str, ...]) -> str | None:
        """The case of the first of `message_ids` that is one of our outgoing mails."""
        for message_id in message_ids:
            row = self.db.execute(
                "SELECT case_id FROM outbox WHERE message_id = ? AND case_id IS NOT NULL",
                [message_id],
            ).fetchone()
            if row:
                return str(row[0])
        return None

    def add_event(
        self, case_id: str | None, at: datetime, actor: str, kind: str, detail: str
    ) -> None:
        """Append one audit event."""
        self._insert(
            "events",
            {"case_id": case_id, "at": iso(at), "actor": actor, "kind": kind, "detail": detail},
        )

    def events(self, case_id: str) -> list[AuditEvent]:
        """The audit log of one case, in order."""
        sql = "SELECT at, actor, kind, detail FROM events WHERE case_id = ? ORDER BY id"
        return [
            AuditEvent(datetime.fromisoformat(at), actor, kind, detail)
            for at, actor, kind, detail in self.db.execute(sql, [case_id])
        ]

"""The cases and their audit events."""

from __future__ import annotations

from datetime import datetime

from mailbot.core.models import CLOSED_STATES, Case
from mailbot.store.db import Connection
from mailbot.store.highwater import raise_mark, read_mark
from mailbot.store.rows import AuditEvent
from mailbot.store.schema import case_to_row, iso, row_to_case

FLOOR_KEY = "case_floor:"
"""mailbox_state key prefix of the per-year sequence floor (followed by the year)."""


class CaseStore(Connection):
    """Reads and writes of the cases and events tables."""

    def next_sequence(self, year: int) -> int:
        """The next free per-year sequence number (call inside a transaction); the case id
        is made of it by `core.cases.format_tag`. Above every case and the year's floor."""
        row = self.db.execute("SELECT MAX(seq) FROM cases WHERE year = ?", [year]).fetchone()
        return max(int(row[0] or 0), self.sequence_floor(year)) + 1

    def sequence_floor(self, year: int) -> int:
        """The number no case of `year` may get again (set by `mailbot restore`), or 0."""
        row = self.db.execute(
            "SELECT value FROM mailbox_state WHERE key = ?", [f"{FLOOR_KEY}{year}"]
        ).fetchone()
        return int(row[0]) if row is not None and str(row[0]).isdigit() else 0

    def raise_sequence_floor(self, year: int, seq: int) -> None:
        """Make the floor of `year` at least `seq`: the next case gets a higher number."""
        if seq > self.sequence_floor(year):
            self.db.execute(
                "INSERT INTO mailbox_state (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [f"{FLOOR_KEY}{year}", str(seq)],
            )

    def highest_sequences(self) -> dict[int, int]:
        """The highest sequence per year that this database knows (cases and floors)."""
        found = {
            int(y): int(s)
            for y, s in self.db.execute("SELECT year, MAX(seq) FROM cases GROUP BY year")
        }
        for key, value in self.db.execute(
            "SELECT key, value FROM mailbox_state WHERE key LIKE ?", [f"{FLOOR_KEY}%"]
        ):
            year = str(key).removeprefix(FLOOR_KEY)
            if year.isdigit() and str(value).isdigit():
                found[int(year)] = max(found.get(int(year), 0), int(value))
        return found

    def adopt_mark(self) -> dict[int, tuple[int, int]]:
        """Raise each year's floor to the high-water mark where this database is behind it
        (put back from a backup): {year: (highest known here, mark)} of what was raised."""
        known = self.highest_sequences()
        behind = {
            year: (known.get(year, 0), seq)
            for year, seq in read_mark(self.path).items()
            if seq > known.get(year, 0)
        }
        if behind:
            with self.transaction():
                for year, (_, seq) in behind.items():
                    self.raise_sequence_floor(year, seq)
        return behind

    def insert_case(self, case: Case, year: int, seq: int, now: datetime) -> None:
        """Insert a new case row (call inside a transaction); once that commits, and before
        any mail can name the number, the high-water mark beside the database is raised to
        it (`mailbot.store.highwater`). A crash before the commit leaves no gap."""
        row = case_to_row(case)
        row.update(year=year, seq=seq, created_at=iso(now), updated_at=iso(now))
        self._insert("cases", row)
        if self.keeps_mark:
            self.after_commit.append(lambda: raise_mark(self.path, year, seq, self.durable))

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

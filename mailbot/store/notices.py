"""Notices sent once (by key) and the remembered values of the mailbox and the daemon."""

from __future__ import annotations

import json
from datetime import datetime

from mailbot.store.db import Connection
from mailbot.store.schema import iso


class NoticeStore(Connection):
    """Reads and writes of the notices and mailbox_state tables."""

    def recorded_notices(self, keys: list[str]) -> set[str]:
        """The subset of `keys` already recorded (one query, however many keys)."""
        sql = "SELECT key FROM notices WHERE key IN (SELECT value FROM json_each(?))"
        return {str(r[0]) for r in self.db.execute(sql, [json.dumps(keys)]).fetchall()}

    def last_sent_between(self, low: str, high: str) -> datetime | None:
        """When the notice of no case with the greatest key in (low, high) was sent, or None
        (a range search of the key index: day keys sort by day; `+case_id` keeps the
        planner off the case index, which would list every notice of no case)."""
        row = self.db.execute(
            "SELECT sent_at FROM notices WHERE key > ? AND key < ? AND +case_id IS NULL"
            " ORDER BY key DESC LIMIT 1",
            [low, high],
        ).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def record_notice(
        self, key: str, kind: str, case_id: str | None, message_id: str, at: datetime
    ) -> bool:
        """Record a notice once; False when the key was there already (send nothing then)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO notices (key, kind, case_id, message_id, sent_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [key, kind, case_id, message_id, iso(at)],
        )
        return bool(cursor.rowcount == 1)

    def state_get(self, key: str) -> str | None:
        """A remembered value of the mailbox backend or the daemon, or None."""
        row = self.db.execute("SELECT value FROM mailbox_state WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else None

    def state_set(self, key: str, value: str) -> None:
        """Remember `value` under `key` (its own small transaction when none is open)."""
        self.db.execute(
            "INSERT INTO mailbox_state (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

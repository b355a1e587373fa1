"""What `mailbot restore` reads and notes in a database just put back from a backup."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from mailbot.store.db import Connection
from mailbot.store.schema import iso


class RestoreStore(Connection):
    """Reads and writes of `mailbot restore` (messages and outbox tables)."""

    def last_intake(self) -> datetime | None:
        """The latest receipt moment of a recorded message (None when there is none)."""
        moments = [
            datetime.fromisoformat(text)
            for (text,) in self.db.execute(
                "SELECT received_at FROM messages ORDER BY received_at DESC LIMIT 50"
            )
        ]
        return max(moments, default=None)  # the text order may differ from the time order

    def digests_since(self, since: datetime) -> list[str]:
        """The sha256 of every message recorded as received at or after `since`."""
        rough = iso(since - timedelta(days=1))
        rows = self.db.execute(
            "SELECT sha256, received_at FROM messages WHERE received_at >= ?", [rough]
        )
        return [sha for sha, text in rows if datetime.fromisoformat(text) >= since]

    def queued_mail(self) -> list[tuple[int, datetime]]:
        """Queued outgoing mails: row id and the moment they were due, oldest first."""
        rows = self.db.execute(
            "SELECT id, created_at, next_attempt_at FROM outbox WHERE status = 'queued' ORDER BY id"
        )
        return [
            (rowid, max(datetime.fromisoformat(c), datetime.fromisoformat(n or c)))
            for rowid, c, n in rows
        ]

    def last_outbox_id(self) -> int:
        """The highest outbox row id (0 when empty)."""
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0])

    def note_sent_before(
        self, ids: list[int], after_id: int, reason: str
    ) -> list[tuple[str | None, str, tuple[str, ...]]]:
        """Give `reason` to the sent rows `ids` and those after `after_id`; returns each as
        (case, kind, recipients), oldest first."""
        found = self.db.execute(
            "SELECT id, case_id, kind, recipients FROM outbox WHERE status = 'sent'"
            " AND (id > ? OR id IN (SELECT value FROM json_each(?))) ORDER BY id",
            [after_id, json.dumps(ids)],
        ).fetchall()
        with self.transaction():
            for rowid, *_ in found:
                self._update("outbox", "id", rowid, {"reason": reason})
        return [(case, kind, tuple(json.loads(to))) for _, case, kind, to in found]

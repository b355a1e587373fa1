"""What the monthly report and `mailbot status` read: rows of a window, outbox health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailbot.store.db import Connection
from mailbot.store.schema import from_iso, iso


class FigureStore(Connection):
    """The reads of `mailbot report` and `mailbot status`."""

    def report_rows(self, since: datetime, until: datetime) -> dict[str, list[dict[str, Any]]]:
        """Rows for the monthly report of the UTC window [since, until), compared as text.

        "messages" and "cases" received in the window; "cases" also those with a clock due
        before `until` that is due in the window or was not done by `since`; "clocks": every
        clock of those cases; "events": their `clock_late` events and the `reward_changed`
        events of the window. The caller widens the window and cuts by local date.
        """
        window = {"since": iso(since), "until": iso(until)}  # UTC moments, like the rows
        chosen = (
            "SELECT id FROM cases WHERE received_at >= :since AND received_at < :until"
            " UNION SELECT case_id FROM clocks WHERE due < :until"
            " AND (due >= :since OR done_at IS NULL OR done_at >= :since)"
        )
        # `chosen` is our constant text; every value is a bound parameter.
        sql = {
            "messages": "SELECT received_at, disposition FROM messages"
            " WHERE received_at >= :since AND received_at < :until ORDER BY received_at, id",
            "cases": "SELECT id, subject, state, source, flags, reward, received_at,"  # noqa: S608
            f" acknowledged_at, waiting FROM cases WHERE id IN ({chosen})"
            " ORDER BY received_at, id",
            "clocks": "SELECT case_id, name, due, met_at, missed_at, done_at FROM clocks"  # noqa: S608
            f" WHERE case_id IN ({chosen}) ORDER BY id",
            "events": "SELECT case_id, at, kind, detail FROM events WHERE"  # noqa: S608
            f" (kind = 'clock_late' AND case_id IN ({chosen}))"
            " OR (kind = 'reward_changed' AND at >= :since AND at < :until) ORDER BY id",
        }
        return {name: [dict(r) for r in self.db.query(q, window)] for name, q in sql.items()}

    def outbox_health(self) -> dict[str, Any]:
        """Queued mails (count, oldest created_at) and the moment each failed mail failed.

        A failed mail failed at its bounce (sent_at), else at its last attempt
        (next_attempt_at), else when it was made.
        """
        queued, oldest = self.db.execute(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'queued'"
        ).fetchone()
        failed = self.db.execute(
            "SELECT COALESCE(sent_at, next_attempt_at, created_at) FROM outbox"
            " WHERE status = 'failed'"
        ).fetchall()
        return {
            "queued": int(queued),
            "oldest_queued": from_iso(oldest),
            "failed_at": [datetime.fromisoformat(r[0]) for r in failed],
        }

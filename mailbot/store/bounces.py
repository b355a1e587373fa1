"""Unmatched delivery reports: what the daily digest lists, and the mark of the last listed.

`bounces.plan_bounce` records each such report as an event without a case (kind
`bounces.UNMATCHED`, detail the report's sha256). A digest lists the ones after the last
event an earlier digest covered; `mark_listed` moves that mark in the digest's own
transaction. Event ids only grow and writers take turns, so a report committed while a
digest is being made is never skipped: it waits for the next digest.
"""

from __future__ import annotations

from datetime import datetime

from mailbot.core.bounces import UNMATCHED, BounceListing, UnmatchedBounce
from mailbot.store.notices import NoticeStore

LISTED_KEY = "digest:bounces_listed"
"""mailbox_state key: the id of the last UNMATCHED event a recorded digest covered."""


class BounceStore(NoticeStore):
    """The unmatched delivery reports a digest lists, and the mark of the last one listed."""

    def unmatched_bounces(self, limit: int) -> BounceListing:
        """The unmatched delivery reports recorded after the last digest's mark, oldest first."""
        after = self._listed()
        total, last = self.db.execute(  # case_id IS NULL: a search of the events_case index
            "SELECT COUNT(*), MAX(id) FROM events WHERE case_id IS NULL AND kind = ? AND id > ?",
            [UNMATCHED, after],
        ).fetchone()
        rows = self.db.execute(
            "SELECT m.received_at, m.from_address, m.subject, m.sha256 FROM events e"
            " JOIN messages m ON m.sha256 = e.detail"
            " WHERE e.case_id IS NULL AND e.kind = ? AND e.id > ? ORDER BY e.id LIMIT ?",
            [UNMATCHED, after, limit],
        ).fetchall()
        entries = tuple(
            UnmatchedBounce(datetime.fromisoformat(r[0]), r[1], str(r[2]), str(r[3])) for r in rows
        )
        return BounceListing(entries, int(total), int(last or after))

    def mark_listed(self, listing: BounceListing) -> None:
        """Remember that a digest covered `listing` (call in the digest's transaction)."""
        if listing.last_event > self._listed():
            self.state_set(LISTED_KEY, str(listing.last_event))

    def _listed(self) -> int:
        """The mark (0 when none or unreadable)."""
        value = self.state_get(LISTED_KEY) or "0"
        return int(value) if value.isascii() and value.isdigit() else 0

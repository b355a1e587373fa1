"""What the monthly report and `mailbot status` read: rows of a window, outbox health."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbot.store.db import Connection
from mailbot.store.rows import CaseRow, ClockRow, EventRow, MessageRow, OutboxHealth, Rows
from mailbot.store.schema import from_iso, iso

#: The cases of a report window: received in it, with a clock due before its end that is
#: due in it or was not done by its start, or with a change of state in it. Our constant
#: text; every value is bound.
_CHOSEN = (
    "SELECT id FROM cases WHERE received_at >= :since AND received_at < :until"
    " UNION SELECT case_id FROM clocks WHERE due < :until"
    " AND (due >= :since OR done_at IS NULL OR done_at >= :since)"
    " UNION SELECT case_id FROM events WHERE kind = 'state_changed'"
    " AND at >= :since AND at < :until"
)
_REPORT_SQL = {
    "messages": "SELECT received_at, disposition FROM messages"
    " WHERE received_at >= :since AND received_at < :until ORDER BY received_at, id",
    "cases": "SELECT id, subject, state, source, flags, reward, received_at,"  # noqa: S608
    " acknowledged_at, waiting, severity, missing, related, known_finding"
    f" FROM cases WHERE id IN ({_CHOSEN})"
    " ORDER BY received_at, id",
    "clocks": "SELECT case_id, name, due, met_at, missed_at, done_at FROM clocks"  # noqa: S608
    f" WHERE case_id IN ({_CHOSEN}) ORDER BY id",
    "events": "SELECT case_id, at, kind, detail FROM events WHERE"  # noqa: S608
    " (kind IN ('clock_late', 'state_changed', 'missing_set')"
    f" AND case_id IN ({_CHOSEN}))"
    " OR (kind = 'reward_changed' AND at >= :since AND at < :until) ORDER BY id",
}


@dataclass(frozen=True)
class ReportCaseRow(CaseRow):
    """What the report needs of one case, with its severity (None: not assessed) and its
    triage as it stands: what it lacks, the cases it is related to, a known finding."""

    severity: str | None = None
    missing: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    """The ids of the related cases."""
    known_finding: str | None = None


@dataclass(frozen=True)
class ReportRows(Rows):
    """The report's rows: its cases with their severity, and when intake began."""

    cases: tuple[ReportCaseRow, ...] = ()
    first_received: datetime | None = None
    """When the first message on record was received (None: no message yet)."""


class FigureStore(Connection):
    """The reads of `mailbot report` and `mailbot status`."""

    def first_intake(self) -> datetime | None:
        """The earliest receipt moment of a recorded message (None when there is none)."""
        rows = self.db.execute(
            "SELECT received_at FROM messages ORDER BY received_at LIMIT 50"
        ).fetchall()
        return min((datetime.fromisoformat(text) for (text,) in rows), default=None)

    def quarantined_at(self) -> tuple[datetime, ...]:
        """When each inbound message still quarantined was received (`mailbot release` takes
        one out). One column, read before the raw bytes in the row (recorded_at comes after
        them: reaching it walks a 25 MB message's overflow pages)."""
        rows = self.db.execute(
            "SELECT received_at FROM messages WHERE disposition = 'quarantined'"
        ).fetchall()
        return tuple(datetime.fromisoformat(text) for (text,) in rows if text)

    def report_rows(self, since: datetime, until: datetime) -> ReportRows:
        """Rows for the monthly report of the UTC window [since, until), compared as text.

        "messages" and "cases" received in the window; "cases" also those with a clock due
        before `until` that is due in the window or was not done by `since`, and those whose
        state changed in the window; "clocks": every clock of those cases; "events": their
        `clock_late`, `state_changed` and `missing_set` events and the `reward_changed`
        events of the window; `first_received`: the receipt of the first message recorded
        (by id). The caller widens the window and cuts by local date.
        """
        window = {"since": iso(since), "until": iso(until)}  # UTC moments, like the rows

        def read(name: str) -> list[dict[str, Any]]:
            return list(self.db.query(_REPORT_SQL[name], window))

        messages = tuple(
            MessageRow(datetime.fromisoformat(r["received_at"]), r["disposition"])
            for r in read("messages")
        )
        first = self.db.execute("SELECT received_at FROM messages ORDER BY id LIMIT 1").fetchone()
        return ReportRows(
            cases=tuple(_case_row(r) for r in read("cases")),
            messages=messages,
            clocks=tuple(
                ClockRow(
                    case_id=r["case_id"],
                    name=r["name"],
                    due=datetime.fromisoformat(r["due"]),
                    met_at=from_iso(r["met_at"]),
                    missed_at=from_iso(r["missed_at"]),
                    done_at=from_iso(r["done_at"]),
                )
                for r in read("clocks")
            ),
            events=tuple(
                EventRow(r["case_id"], datetime.fromisoformat(r["at"]), r["kind"], r["detail"])
                for r in read("events")
            ),
            first_received=from_iso(first[0]) if first else None,
        )

    def outbox_health(self) -> OutboxHealth:
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
        return OutboxHealth(
            queued=int(queued),
            oldest_queued=from_iso(oldest),
            failed_at=tuple(datetime.fromisoformat(r[0]) for r in failed),
        )


def _case_row(r: dict[str, Any]) -> ReportCaseRow:
    """A report's case row of a cases row."""
    return ReportCaseRow(
        id=r["id"],
        subject=r["subject"],
        state=r["state"],
        received_at=datetime.fromisoformat(r["received_at"]),
        acknowledged_at=from_iso(r["acknowledged_at"]),
        source=r["source"],
        flags=tuple(json.loads(r["flags"])),
        reward=r["reward"],
        waiting=bool(r["waiting"]),
        severity=r["severity"],
        missing=tuple(json.loads(r["missing"])),
        related=tuple(pair[0] for pair in json.loads(r["related"])),
        known_finding=r["known_finding"],
    )

"""The clocks of cases (DESIGN.md §5): started, met, missed, done; and the open ones."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from mailbot.core.models import Deadline
from mailbot.store.db import Connection, closed_states
from mailbot.store.rows import CaseClock, OpenClockRow
from mailbot.store.schema import from_iso, iso

#: The columns of an `OpenClockRow`, in order.
_OPEN_CLOCK_COLUMNS = (
    "k.id, k.case_id, k.name, k.due, k.explanation, k.missed_at, c.subject, c.state, c.waiting"
)


class ClockStore(Connection):
    """Reads and writes of the clocks table."""

    def start_clock(self, case_id: str, name: str, deadline: Deadline, now: datetime) -> bool:
        """Start clock `name` of a case (an update clock restarts: the old one is done).

        A restart that lands on the same due (two mails on one start day) keeps the open
        clock as it is and returns False; True when a clock was started.
        """
        self.db.execute(
            "UPDATE clocks SET done_at = ? WHERE case_id = ? AND name = ? AND done_at IS NULL"
            " AND due != ?",
            [iso(now), case_id, name, iso(deadline.due)],
        )
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO clocks (case_id, name, due, explanation, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [case_id, name, iso(deadline.due), deadline.explanation, iso(now)],
        )
        return bool(cursor.rowcount == 1)

    def settle_clock(self, case_id: str, name: str, at: datetime, by: str) -> str | None:
        """The open clock `name` is fulfilled by mail `by` at `at`: "met", "late" or None.

        A clock met before its due records met_at/met_by; one fulfilled after its due keeps
        its missed result. Either way it is done: no more reminders or escalations.
        """
        row = self.db.execute(
            "SELECT id, due FROM clocks WHERE case_id = ? AND name = ? AND done_at IS NULL",
            [case_id, name],
        ).fetchone()
        if row is None:
            return None
        on_time = at <= datetime.fromisoformat(row[1])
        if on_time:
            self.db.execute(
                "UPDATE clocks SET met_at = ?, met_by = ?, done_at = ? WHERE id = ?",
                [iso(at), by, iso(at), row[0]],
            )
            return "met"
        self.db.execute(
            "UPDATE clocks SET missed_at = COALESCE(missed_at, due), done_at = ? WHERE id = ?",
            [iso(at), row[0]],
        )
        return "late"

    def end_clocks(self, case_id: str, at: datetime, keep: Sequence[str] = ()) -> None:
        """Every open clock of a case is done (the case closed), but those named in `keep`
        (a mail queued with the closing settles them once sent)."""
        self.db.execute(
            "UPDATE clocks SET done_at = ? WHERE case_id = ? AND done_at IS NULL"
            " AND name NOT IN (SELECT value FROM json_each(?))",
            [iso(at), case_id, json.dumps(list(keep))],
        )

    def mark_missed(self, clock_id: int, at: datetime) -> None:
        """Record once that a clock passed its due unmet (never overwritten)."""
        self.db.execute(
            "UPDATE clocks SET missed_at = ? WHERE id = ? AND missed_at IS NULL",
            [iso(at), clock_id],
        )

    def open_clocks(
        self, until: datetime | None = None, escalated: tuple[datetime, str, str] | None = None
    ) -> list[OpenClockRow]:
        """The clocks not done, of open cases, by due and id.

        With `until`: without the clocks due after it (every clock due before it is
        there; the index is searched with a day to spare for a due not stored in UTC,
        then cut with a second to spare). With `escalated` = (now, prefix, suffix):
        without the clocks recorded missed, due before `now`, whose notice
        prefix + "case:clock:due" + suffix is recorded (escalated today already).
        """
        where = ["k.done_at IS NULL", "c.state NOT IN (SELECT value FROM json_each(:closed))"]
        params: dict[str, Any] = {"closed": closed_states()}
        if until is not None:
            where.append("k.due < :spare AND coalesce(julianday(k.due) < julianday(:until), 1)")
            params.update(
                spare=iso(until + timedelta(days=1)), until=iso(until + timedelta(seconds=1))
            )
        if escalated is not None:
            where.append(
                "NOT (k.missed_at IS NOT NULL AND coalesce(julianday(k.due) < julianday(:now), 0)"
                " AND EXISTS (SELECT 1 FROM notices n WHERE n.key ="
                " :prefix || k.case_id || ':' || k.name || ':' || k.due || :suffix))"
            )
            now, prefix, suffix = escalated
            params.update(now=iso(now - timedelta(seconds=1)), prefix=prefix, suffix=suffix)
        sql = (
            f"SELECT {_OPEN_CLOCK_COLUMNS} FROM clocks k INDEXED BY clocks_open_due"  # noqa: S608
            f" CROSS JOIN cases c ON c.id = k.case_id WHERE {' AND '.join(where)}"
            " ORDER BY k.due, k.id"
        )
        return [
            OpenClockRow(
                id=r[0],
                case_id=r[1],
                name=r[2],
                due=datetime.fromisoformat(r[3]),
                explanation=r[4],
                missed_at=from_iso(r[5]),
                subject=r[6],
                state=r[7],
                waiting=bool(r[8]),
            )
            for r in self.db.execute(sql, params).fetchall()
        ]

    def clocks_of_case(self, case_id: str) -> list[CaseClock]:
        """Every clock of a case, in start order."""
        sql = (
            "SELECT id, case_id, name, due, explanation, started_at, met_at, met_by, missed_at,"
            " done_at FROM clocks WHERE case_id = ? ORDER BY id"
        )
        return [
            CaseClock(i, c, n, _at(d), e, _at(s), from_iso(ma), mb, from_iso(mi), from_iso(do))
            for i, c, n, d, e, s, ma, mb, mi, do in self.db.execute(sql, [case_id])
        ]


def _at(text: str) -> datetime:
    """A stored moment that is never empty."""
    return datetime.fromisoformat(text)

"""Retention (`mailbot purge`): anonymise closed cases past the retention period.

The pure part chooses: `cases_to_purge` and `rows_to_purge` take rows, `now` and the
retention in days. `purge` does the work on the store: one transaction per case, one for
the rows that belong to no case, then VACUUM and a WAL checkpoint so the bytes leave the
file. What is scrubbed, column by column, is `mailbot.store.purge_rules.SCRUB`; the case
skeleton (state, source, dates, deadlines, clocks, flags, severity, reward) and every
event's at/actor/kind stay for statistics. Purging twice changes nothing the second time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mailbot.core.errors import UserError
from mailbot.core.models import CLOSED_STATES, CaseState
from mailbot.store import Store
from mailbot.store.purge_rules import NOTICE_KEY_DAYS, RULES
from mailbot.store.schema import from_iso, iso

#: Which rows of each table belong to one case (the parameter is the case id). Mail still
#: queued is never touched: the sender needs its bytes (such a case is not chosen anyway).
#: Clocks and notices come before the outbox: they find the outbox row of a copy of its
#: Message-ID (met_by, the notice's mail) before that row loses it.
_OF_CASE: dict[str, str] = {
    "cases": "id = ?",
    "messages": "case_id = ?",
    "attachments": "message IN (SELECT id FROM messages WHERE case_id = ?)",
    "clocks": "case_id = ?",
    "notices": "case_id = ?",
    "outbox_recipients": (
        "outbox IN (SELECT id FROM outbox WHERE case_id = ? AND status != 'queued')"
    ),
    "outbox": "case_id = ? AND status != 'queued'",
    "events": "case_id = ?",
}

#: Rows that belong to no case, by the table whose ids were chosen (json_each of the ids);
#: notices before the outbox as above.
_IDS = "(SELECT value FROM json_each(?))"
_UNATTACHED: dict[str, tuple[str, str]] = {
    "messages": ("messages", f"id IN {_IDS}"),
    "attachments": ("messages", f"message IN {_IDS}"),
    "notices": ("notices", f"rowid IN {_IDS}"),
    "outbox_recipients": ("outbox", f"outbox IN {_IDS}"),
    "outbox": ("outbox", f"id IN {_IDS}"),
    "events": ("events", f"id IN {_IDS}"),
}

#: The candidates that belong to no case, with the moment their age counts from. A notice
#: whose mail still waits to be sent waits with it.
_UNATTACHED_CANDIDATES: dict[str, str] = {
    "messages": "SELECT id, received_at FROM messages WHERE case_id IS NULL",
    "outbox": "SELECT id, created_at FROM outbox WHERE case_id IS NULL AND status != 'queued'",
    "notices": "SELECT rowid, sent_at FROM notices WHERE case_id IS NULL AND NOT EXISTS"
    " (SELECT 1 FROM outbox o WHERE o.message_id = notices.message_id AND o.status = 'queued')",
    "events": "SELECT id, at FROM events WHERE case_id IS NULL",
}

_CASE_CANDIDATES = (
    "SELECT c.id, c.state, c.updated_at,"
    " (SELECT e.at FROM events e WHERE e.case_id = c.id"
    "  ORDER BY julianday(e.at) DESC LIMIT 1) AS last_event,"
    " (SELECT COUNT(*) FROM outbox o WHERE o.case_id = c.id AND o.status = 'queued') AS queued"
    " FROM cases c WHERE c.state IN (SELECT value FROM json_each(?)) ORDER BY c.received_at, c.id"
)


# -- the pure part ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    """What the choice needs to know about one case."""

    id: str
    state: CaseState
    updated_at: datetime
    last_event_at: datetime | None
    queued_mails: int = 0

    @property
    def last_change(self) -> datetime:
        """The later of the case row's last update and its last event.

        A follow-up on a closed case adds an event but may leave updated_at alone.
        """
        if self.last_event_at is None:
            return self.updated_at
        return max(self.updated_at, self.last_event_at)


@dataclass(frozen=True)
class DatedRow:
    """A row that belongs to no case, with the moment its age counts from."""

    id: int
    at: datetime


def cutoff(now: datetime, days: int) -> datetime:
    """The moment `days` calendar days before `now`; what changed before it is past retention."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    if days < 0:
        raise UserError(f"retention must be 0 days or more, got {days}")
    return now - timedelta(days=days)


def cases_to_purge(rows: Iterable[CaseRow], now: datetime, days: int) -> list[CaseRow]:
    """Closed cases with no change for `days` days and no mail still waiting to be sent."""
    limit = cutoff(now, days)
    return [
        r
        for r in rows
        if r.state in CLOSED_STATES and r.queued_mails == 0 and r.last_change < limit
    ]


def rows_to_purge(rows: Iterable[DatedRow], now: datetime, days: int) -> list[int]:
    """The ids of the rows (belonging to no case) older than `days` days."""
    limit = cutoff(now, days)
    return [r.id for r in rows if r.at < limit]


@dataclass(frozen=True)
class PurgedCase:
    """One case anonymised (or that would be): how many rows of each table changed."""

    id: str
    state: CaseState
    last_change: datetime
    rows: dict[str, int]


@dataclass(frozen=True)
class PurgeReport:
    """What one `mailbot purge` did, or would do with --dry-run."""

    dry_run: bool
    days: int
    cutoff: datetime
    cases: tuple[PurgedCase, ...] = ()
    unattached: dict[str, int] = field(default_factory=dict)
    vacuumed: bool = False
    wal_truncated: bool = False

    @property
    def changed(self) -> bool:
        """True when any row was (or would be) changed."""
        return bool(self.cases) or any(self.unattached.values())

    def to_json(self) -> dict[str, Any]:
        """The `purge --json` document."""
        return {
            "dry_run": self.dry_run,
            "older_than_days": self.days,
            "cutoff": iso(self.cutoff),
            "cases": [
                {
                    "id": c.id,
                    "state": c.state.value,
                    "last_change": iso(c.last_change),
                    "rows": c.rows,
                }
                for c in self.cases
            ],
            "unattached": self.unattached,
            "vacuumed": self.vacuumed,
            "wal_truncated": self.wal_truncated,
        }

    def text(self) -> str:
        """The human listing."""
        verb = "Would purge" if self.dry_run else "Purged"
        since = f"no change since {self.cutoff:%Y-%m-%d %H:%M} UTC ({self.days} days)"
        lines = [f"{verb} {len(self.cases)} closed case(s) with {since}."]
        for c in self.cases:
            lines.append(
                f"  {c.id}  {c.state.value:<10} last change {c.last_change:%Y-%m-%d}  "
                + _counts(c.rows)
            )
        if any(self.unattached.values()):
            lines.append(
                f"{verb} rows of no case, older than the cutoff: {_counts(self.unattached)}"
            )
        if self.changed and not self.dry_run:
            done = "compacted (VACUUM)" if self.vacuumed else "busy: not compacted (pages zeroed)"
            lines.append(f"Database {done}.")
        if not self.dry_run and not self.wal_truncated:
            lines.append("The WAL was busy and still holds old pages: run again when idle.")
        return "\n".join(lines) + "\n"


def _counts(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} {n}" for table, n in rows.items() if table != "cases")


# -- the store side -----------------------------------------------------------------------


def purge(store: Store, now: datetime, days: int, dry_run: bool = False) -> PurgeReport:
    """Anonymise what is past retention: one transaction per case, then compact the file.

    With `dry_run` nothing is written and the report lists the same rows.
    """
    limit = cutoff(now, days)
    if not dry_run:
        store.db.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed
    purged: list[PurgedCase] = []
    for row in cases_to_purge(_case_rows(store), now, days):
        rows = _purge_case(store, row.id, now, days, dry_run)
        if any(rows.values()):
            purged.append(PurgedCase(row.id, row.state, row.last_change, rows))
    unattached = _purge_unattached(store, now, days, dry_run)
    report = PurgeReport(dry_run, days, limit, tuple(purged), unattached)
    if dry_run:
        return report
    vacuumed = report.changed and _vacuum(store)
    # Always, so a run after a busy one still empties the WAL of the old page images.
    busy = store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    return replace(report, vacuumed=vacuumed, wal_truncated=busy == 0)


def _vacuum(store: Store) -> bool:
    """Rebuild the file without the freed pages; False when another writer kept it busy."""
    try:
        store.db.execute("VACUUM")
    except sqlite3.OperationalError:
        return False  # the freed pages were zeroed already (secure_delete)
    return True


def _case_rows(store: Store) -> list[CaseRow]:
    closed = json.dumps(sorted(s.value for s in CLOSED_STATES))
    return [
        CaseRow(
            id=r[0],
            state=CaseState(r[1]),
            updated_at=_moment(r[2]),
            last_event_at=from_iso(r[3]),
            queued_mails=int(r[4]),
        )
        for r in store.db.execute(_CASE_CANDIDATES, [closed]).fetchall()
    ]


def _purge_case(
    store: Store, case_id: str, now: datetime, days: int, dry_run: bool
) -> dict[str, int]:
    def run(dry: bool) -> dict[str, int]:
        return {t: _scrub(store, t, where, [case_id], dry) for t, where in _OF_CASE.items()}

    if dry_run:
        return run(True)
    with store.transaction():
        rows = run(False)
        if any(rows.values()):
            detail = f"anonymised after {days} days"
            store.add_event(case_id, now, "mailbot", "purged", detail)
    return rows


def _purge_unattached(store: Store, now: datetime, days: int, dry_run: bool) -> dict[str, int]:
    chosen: dict[str, str] = {}
    for table, sql in _UNATTACHED_CANDIDATES.items():
        found = store.db.execute(f"{sql} AND ({RULES[table][1]})").fetchall()
        dated = [DatedRow(int(r[0]), _moment(r[1])) for r in found]
        kept = max(days, NOTICE_KEY_DAYS) if table == "notices" else days
        chosen[table] = json.dumps(rows_to_purge(dated, now, kept))

    def run() -> dict[str, int]:
        return {
            table: _scrub(store, table, where, [chosen[by]], dry_run)
            for table, (by, where) in _UNATTACHED.items()
        }

    if dry_run:
        return run()
    with store.transaction():
        return run()


def _scrub(store: Store, table: str, where: str, params: Sequence[object], dry: bool) -> int:
    """Count (dry run) or scrub the rows of `table` matching `where` that still hold data."""
    setting, residue = RULES[table]
    condition = f"({where}) AND ({residue})"
    if dry:
        sql = f"SELECT COUNT(*) FROM [{table}] WHERE {condition}"  # noqa: S608 - ours
        return int(store.db.execute(sql, list(params)).fetchone()[0])
    cursor = store.db.execute(f"UPDATE [{table}] SET {setting} WHERE {condition}", list(params))  # noqa: S608
    return int(cursor.rowcount)


def _moment(text: str) -> datetime:
    moment = from_iso(text)
    if moment is None:
        raise ValueError(f"a stored moment is empty: {text!r}")
    return moment

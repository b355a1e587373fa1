"""The SQLite store: connections, migrating, transactions and the queries of the pipeline."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from mailbot.core.errors import PermanentError, StorageUnavailable, UserError
from mailbot.core.models import CLOSED_STATES, Case, Deadline, OutgoingMail
from mailbot.mail.contacts import mailbox_of
from mailbot.store.schema import (
    MIGRATIONS,
    OutboxRow,
    case_to_row,
    from_iso,
    iso,
    row_to_case,
)

#: The columns of `Store.open_clock_rows`, in order.
OPEN_CLOCK_COLUMNS = (
    "k.id",
    "k.case_id",
    "k.name",
    "k.due",
    "k.explanation",
    "k.missed_at",
    "c.subject",
    "c.state",
    "c.waiting",
)


_STORAGE_FAULTS = (
    "disk is full",
    "disk i/o error",
    "database is locked",
    "readonly database",
    "read-only file system",
    "unable to open database file",
    "database table is locked",
    "no space left",
    "malformed",
)
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT, errno.EACCES})


def storage_error(exc: BaseException) -> StorageUnavailable | None:
    """`exc` as a StorageUnavailable when the store, not the message, is at fault."""
    if isinstance(exc, StorageUnavailable):
        return exc
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) and any(f in text for f in _STORAGE_FAULTS):
        return StorageUnavailable(f"database: {exc}")
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return StorageUnavailable(f"storage: {exc}")
    return None


_MESSAGE_FIELDS = (
    "id, message_id, sha256, content_sha256, size, from_address, subject, received_at,"
    " disposition, reason, case_id, named_case, mailbox_key"
)


def _closed_states() -> str:
    """The closed case states as a JSON list (for json_each)."""
    return json.dumps(sorted(s.value for s in CLOSED_STATES))


_WRITERS: dict[Path, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: Path) -> threading.Lock:
    """One lock per database file for this process's transactions.

    Two connections of one process (intake and outbox) would otherwise meet at SQLite's
    busy handler, which sleeps 1, 2, 5 … ms between tries; a lock hands over at once.
    """
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(path.resolve(), threading.Lock())


class Store:
    """All reads and writes of mailbot's SQLite database.

    `durable=False` commits without waiting for the disk (WAL, synchronous=NORMAL): a
    crash of the process loses nothing, a power failure may lose the last commits. The
    outbox and scheduler connection uses it: what it could lose is a "sent" mark or a
    notice record, which means a mail sent twice, never a mail or a report lost. Intake
    stays synchronous=FULL: a message leaves the mailbox only after its record is on disk.
    """

    def __init__(self, path: Path, durable: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.path = path
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._writer = _writer_lock(path)
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.migrate()

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()

    def migrate(self) -> int:
        """Apply the migrations not yet applied; returns the schema version."""
        version: int = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version >= len(MIGRATIONS):
            return len(MIGRATIONS)
        # A table rebuild drops a table others refer to: foreign keys are off meanwhile
        # (the pragma is a no-op inside a transaction) and checked before each commit.
        self.db.execute("PRAGMA foreign_keys=OFF")
        try:
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                with self.transaction():
                    for statement in script.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {number}")
                    if self.db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                        raise PermanentError(f"migration {number} broke a foreign key")
        finally:
            self.db.execute("PRAGMA foreign_keys=ON")
        return len(MIGRATIONS)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: everything inside commits together or not at all.

        A COMMIT that fails (disk full, I/O error) is rolled back too, so that the
        connection is usable again once the store can write.
        """
        with self._writer:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    # sqlite-utils' insert()/update() commit on their own (`with conn:`), which would end
    # the transaction of the message in hand; these two stay inside it.

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        columns = ", ".join(f"[{c}]" for c in row)
        marks = ", ".join("?" * len(row))
        cursor = self.db.execute(
            f"INSERT INTO [{table}] ({columns}) VALUES ({marks})",  # noqa: S608 - names are ours
            list(row.values()),
        )
        return int(cursor.lastrowid or 0)

    def _update(self, table: str, key: str, value: object, row: dict[str, Any]) -> None:
        assignments = ", ".join(f"[{c}] = ?" for c in row)
        self.db.execute(
            f"UPDATE [{table}] SET {assignments} WHERE [{key}] = ?",  # noqa: S608
            [*row.values(), value],
        )

    # -- messages -------------------------------------------------------------------------

    def message_by_sha(self, sha256: str) -> dict[str, Any] | None:
        """The first recorded message with these exact raw bytes, if any."""
        return next(
            self.db.query("SELECT * FROM messages WHERE sha256 = ? ORDER BY id LIMIT 1", [sha256]),
            None,
        )

    def raw_kept(self, sha256: str) -> bool:
        """True when the bytes of a message with this sha256 are kept already (not purged)."""
        found = self.db.execute(
            "SELECT 1 FROM messages WHERE sha256 = ? AND raw IS NOT NULL LIMIT 1", [sha256]
        )
        return found.fetchone() is not None

    def seen_sha(self, sha256: str) -> bool:
        """True when a message with these exact raw bytes was recorded before."""
        found = self.db.execute("SELECT 1 FROM messages WHERE sha256 = ? LIMIT 1", [sha256])
        return found.fetchone() is not None

    def message_by_item(self, mailbox_key: str, sha256: str) -> dict[str, Any] | None:
        """The message recorded from this very mailbox item (same key, same bytes), if any."""
        return next(
            self.db.query(
                f"SELECT {_MESSAGE_FIELDS} FROM messages"  # noqa: S608
                " WHERE mailbox_key = ? AND sha256 = ? ORDER BY id LIMIT 1",
                [mailbox_key, sha256],
            ),
            None,
        )

    def messages_with_id(self, message_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The earliest recorded messages with this Message-ID (sender and content digests)."""
        sql = (
            "SELECT id, from_address, sha256, content_sha256 FROM messages"
            " WHERE message_id = ? ORDER BY id LIMIT ?"
        )
        return [dict(r) for r in self.db.query(sql, [message_id, limit])]

    def message_raw(self, rowid: int) -> bytes | None:
        """The raw bytes kept for message `rowid` (None when not kept)."""
        row = self.db.execute("SELECT raw FROM messages WHERE id = ?", [rowid]).fetchone()
        return bytes(row[0]) if row is not None and row[0] is not None else None

    def record_message(self, row: dict[str, Any], attachments: list[dict[str, Any]]) -> int:
        """Insert one inbound message (and its attachment metadata); returns its row id."""
        rowid = self._insert("messages", row)
        for attachment in attachments:
            self._insert("attachments", {**attachment, "message": rowid})
        return rowid

    def messages(self) -> list[dict[str, Any]]:
        """Every inbound message, oldest first (without raw bytes)."""
        sql = (
            "SELECT id, message_id, from_address, subject, received_at, disposition,"
            " COALESCE(case_id, named_case) AS case_id, reason, size"
            " FROM messages ORDER BY received_at, id"
        )
        return [dict(r) for r in self.db.query(sql)]

    def messages_of_case(self, case_id: str) -> list[dict[str, Any]]:
        """Inbound messages recorded on a case, oldest first."""
        sql = (
            "SELECT id, message_id, from_address, subject, received_at, disposition, reason"
            " FROM messages WHERE case_id = ? ORDER BY received_at, id"
        )
        return [dict(r) for r in self.db.query(sql, [case_id])]

    # -- cases ----------------------------------------------------------------------------

    def next_case_id(self, prefix: str, year: int) -> tuple[str, int]:
        """The next free per-year sequence number (call inside a transaction)."""
        row = self.db.execute("SELECT MAX(seq) FROM cases WHERE year = ?", [year]).fetchone()
        seq = (row[0] or 0) + 1
        return f"{prefix}-{year:04d}-{seq:04d}", seq

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

    # -- events ---------------------------------------------------------------------------

    def add_event(
        self, case_id: str | None, at: datetime, actor: str, kind: str, detail: str
    ) -> None:
        """Append one audit event."""
        self._insert(
            "events",
            {"case_id": case_id, "at": iso(at), "actor": actor, "kind": kind, "detail": detail},
        )

    def events(self, case_id: str) -> list[dict[str, Any]]:
        """The audit log of one case, in order."""
        sql = "SELECT at, actor, kind, detail FROM events WHERE case_id = ? ORDER BY id"
        return [dict(r) for r in self.db.query(sql, [case_id])]

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(
        self, mail: OutgoingMail, now: datetime, status: str = "queued", reason: str = ""
    ) -> bool:
        """Put one rendered mail in the outbox (status "suppressed" records without sending).

        Returns False, writing nothing, when a mail with its Message-ID is there already:
        every Message-ID is a hash of everything that makes the mail what it is, so the
        same ID is the same mail (one flood alert a day), and never a reason to fail.
        """
        taken = self.db.execute(
            "SELECT 1 FROM outbox WHERE message_id = ?", [mail.message_id]
        ).fetchone()
        if taken is not None:
            return False
        rowid = self._insert(
            "outbox",
            {
                "message_id": mail.message_id,
                "case_id": mail.case_id,
                "kind": mail.kind,
                "sender": mail.sender,
                "recipients": json.dumps(list(mail.recipients)),
                "subject": mail.subject,
                "raw": mail.raw,
                "automatic": int(mail.automatic),
                "status": status,
                "reason": reason,
                "next_attempt_at": iso(now),
                "created_at": iso(now),
            },
        )
        for address in mail.recipients:
            row = {"outbox": rowid, "address": address, "mailbox": mailbox_of(address)}
            self._insert(
                "outbox_recipients",
                {**row, "automatic": int(mail.automatic), "created_at": iso(now)},
            )
        return True

    def automatic_mails_since(self, address: str, since: datetime) -> int:
        """Automatic mails (queued or sent, not suppressed) to the mailbox of `address`.

        Sub-addresses count together: `victim+1@…` and `victim+2@…` are one mailbox.
        """
        row = self.db.execute(
            "SELECT COUNT(*) FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox"
            " WHERE r.mailbox = ? AND r.automatic = 1 AND r.created_at >= ?"
            " AND o.status != 'suppressed'",
            [mailbox_of(address), iso(since)],
        ).fetchone()
        return int(row[0])

    def due_outbox(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Queued mails whose next attempt is due, oldest first."""
        rows = self.db.query(
            "SELECT * FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?"
            " ORDER BY id LIMIT ?",
            [iso(now), limit],
        )
        return [
            OutboxRow(
                id=r["id"],
                message_id=r["message_id"],
                case_id=r["case_id"],
                kind=r["kind"],
                sender=r["sender"],
                recipients=tuple(json.loads(r["recipients"])),
                subject=r["subject"],
                raw=r["raw"],
                attempts=r["attempts"],
                created_at=datetime.fromisoformat(r["created_at"]),
            )
            for r in rows
        ]

    def outbox_update(self, outbox_id: int, **values: Any) -> None:
        """Change an outbox row (status, attempts, next_attempt_at, reason, sent_at)."""
        self._update("outbox", "id", outbox_id, values)

    def outbox_by_message_ids(self, message_ids: tuple[str, ...]) -> list[dict[str, Any]]:
        """Our outgoing mails with these Message-IDs (named by a delivery report)."""
        if not message_ids:
            return []
        sql = (
            "SELECT id, message_id, case_id, kind, recipients, status FROM outbox"
            " WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY id"
        )
        return [dict(r) for r in self.db.query(sql, [json.dumps(list(message_ids))])]

    def outbox_of_case(self, case_id: str) -> list[dict[str, Any]]:
        """Outgoing mails of one case, oldest first (without raw bytes)."""
        sql = (
            "SELECT id, message_id, kind, sender, recipients, subject, status, reason,"
            " created_at, sent_at FROM outbox WHERE case_id = ? ORDER BY id"
        )
        return [dict(r) for r in self.db.query(sql, [case_id])]

    def outbox_all(self) -> list[dict[str, Any]]:
        """Every outgoing mail, oldest first (with raw bytes)."""
        return list(self.db.table("outbox").rows_where(order_by="id"))

    # -- clocks and notices ---------------------------------------------------------------

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

    def end_clocks(self, case_id: str, at: datetime) -> None:
        """Every open clock of a case is done (the case closed)."""
        self.db.execute(
            "UPDATE clocks SET done_at = ? WHERE case_id = ? AND done_at IS NULL",
            [iso(at), case_id],
        )

    def mark_missed(self, clock_id: int, at: datetime) -> None:
        """Record once that a clock passed its due unmet (never overwritten)."""
        self.db.execute(
            "UPDATE clocks SET missed_at = ? WHERE id = ? AND missed_at IS NULL",
            [iso(at), clock_id],
        )

    def open_clocks(self) -> list[dict[str, Any]]:
        """Clocks not done, of open cases, soonest first, with their case's fields."""
        sql = (
            "SELECT k.id, k.case_id, k.name, k.due, k.explanation, k.missed_at, k.started_at,"
            " c.subject, c.state, c.waiting FROM clocks k INDEXED BY clocks_open_due"
            " CROSS JOIN cases c ON c.id = k.case_id"
            " WHERE k.done_at IS NULL AND c.state NOT IN (SELECT value FROM json_each(?))"
            " ORDER BY k.due, k.id"
        )
        return [dict(r) for r in self.db.query(sql, [_closed_states()])]

    def open_clock_rows(
        self, until: datetime | None = None, escalated: tuple[datetime, str, str] | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows (OPEN_CLOCK_COLUMNS) of the clocks not done, of open cases, by due and id.

        With `until`: without the clocks due after it (every clock due before it is
        there; the index is searched with a day to spare for a due not stored in UTC,
        then cut with a second to spare). With `escalated` = (now, prefix, suffix):
        without the clocks recorded missed, due before `now`, whose notice
        prefix + "case:clock:due" + suffix is recorded (escalated today already).
        """
        where = ["k.done_at IS NULL", "c.state NOT IN (SELECT value FROM json_each(:closed))"]
        params: dict[str, Any] = {"closed": _closed_states()}
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
            f"SELECT {', '.join(OPEN_CLOCK_COLUMNS)} FROM clocks k INDEXED BY clocks_open_due"  # noqa: S608
            f" CROSS JOIN cases c ON c.id = k.case_id WHERE {' AND '.join(where)}"
            " ORDER BY k.due, k.id"
        )
        rows: list[tuple[Any, ...]] = self.db.execute(sql, params).fetchall()
        return rows

    def clocks_of_case(self, case_id: str) -> list[dict[str, Any]]:
        """Every clock of a case, in start order."""
        sql = "SELECT * FROM clocks WHERE case_id = ? ORDER BY id"
        return [dict(r) for r in self.db.query(sql, [case_id])]

    def notice_recorded(self, key: str) -> bool:
        """True when the notice with this key was sent (queued) before."""
        return self.db.execute("SELECT 1 FROM notices WHERE key = ?", [key]).fetchone() is not None

    def recorded_notices(self, keys: list[str]) -> set[str]:
        """The subset of `keys` already recorded (one query, however many keys)."""
        sql = "SELECT key FROM notices WHERE key IN (SELECT value FROM json_each(?))"
        return {str(r[0]) for r in self.db.execute(sql, [json.dumps(keys)]).fetchall()}

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

    # -- mailbox state (UIDVALIDITY, last UID, heartbeats) ---------------------------------

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

    # -- monthly report (`mailbot report`) ---------------------------------------------------

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

    # -- operator views and backup (`mailbot status`, `mailbot backup`) --------------------

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

    def backup(self, path: Path, force: bool = False) -> int:
        """Copy the database to `path` (mode 0600) while the daemon may be writing.

        SQLite's online backup API copies every page in one step under one read
        transaction, so the copy is one committed state. It is written beside `path` and
        renamed into place, so `path` is never half-written; an existing `path` is refused
        unless `force`. The copy is a single file (rollback journal, not WAL) that passed
        `PRAGMA quick_check`. Returns its size in bytes.
        """
        if os.path.lexists(path) and not force:
            raise UserError(f"backup target {path} exists (use --force to overwrite)")
        if path.exists() and path.resolve() == self.path.resolve():
            raise UserError(f"backup target {path} is the database itself")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise UserError(f"cannot write backup {path}: {exc.strerror}") from exc
        try:
            self._copy_to(tmp)
            _fsync(tmp)
            if force:
                tmp.replace(path)
            else:
                try:
                    os.link(tmp, path)  # never replaces a file that appeared meanwhile
                except FileExistsError as exc:
                    raise UserError(f"backup target {path} exists (use --force)") from exc
            _fsync(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return path.stat().st_size

    def _copy_to(self, target_path: Path) -> None:
        try:
            target = sqlite3.connect(target_path, isolation_level=None)
            try:
                self.db.conn.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")
                verdict = str(target.execute("PRAGMA quick_check").fetchone()[0])
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise PermanentError(f"backup of {self.path} to {target_path} failed: {exc}") from exc
        if verdict != "ok":
            raise PermanentError(f"backup copy {target_path} failed quick_check: {verdict}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

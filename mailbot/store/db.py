"""The connection: opening, migrating, the writer lock, transactions, raw insert/update."""

from __future__ import annotations

import errno
import json
import os
import pwd
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from mailbot.core.errors import PermanentError, StorageUnavailable, UserError
from mailbot.core.models import CLOSED_STATES
from mailbot.store.schema import MIGRATIONS

_STORAGE_FAULTS = (
    "disk is full",
    "disk i/o error",
    "database is locked",
    "readonly database",
    "read-only file system",
    "unable to open database file",
    "database table is locked",
    "file is not a database",
    "malformed",
)
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT, errno.EACCES})


def storage_error(exc: BaseException) -> StorageUnavailable | None:
    """`exc` as a StorageUnavailable when the store, not the message, is at fault."""
    if isinstance(exc, StorageUnavailable):
        return exc
    text = str(exc).lower()
    if isinstance(exc, sqlite3.DatabaseError) and any(f in text for f in _STORAGE_FAULTS):
        return StorageUnavailable(f"database: {exc}")
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return StorageUnavailable(f"storage: {exc}")
    return None


def closed_states() -> str:
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


def _user(uid: int) -> str:
    """The name of user `uid` (its number when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _refusal(path: Path, cause: object) -> UserError:
    """One line: the database that cannot be opened, its owner and mode, and who tried."""
    me = _user(os.geteuid())
    try:
        st = path.stat()
    except FileNotFoundError:
        return UserError(f"no database at {path} ([database] path); `mailbot run` creates it")
    except OSError as exc:
        return UserError(f"cannot open database {path} as user {me}: {exc.strerror or exc}")
    owner, mode = _user(st.st_uid), f"{st.st_mode & 0o7777:04o}"
    return UserError(
        f"cannot open database {path} (owner {owner}, mode {mode}) as user {me}: {cause}"
    )


def open_read_only(path: Path) -> sqlite3.Connection:
    """`path` opened read-only (`mode=ro`): never created, migrated, or re-owned.

    A database at an older schema version is refused (a UserError asking for one
    `mailbot run`), as is one that cannot be read. In WAL mode a reader needs the `-shm`
    file: when the daemon is not running there is none, and SQLite creates an empty `-wal`
    and a `-shm` beside the database and leaves them (with the database's mode and, when run
    as root, its owner); the database file itself is not touched.
    """
    if not path.is_file():
        raise _refusal(path, "not a file")
    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise _refusal(path, exc) from exc
    if version < len(MIGRATIONS):
        conn.close()
        raise UserError(
            f"database {path} is at schema version {version}, this mailbot needs"
            f" {len(MIGRATIONS)}: run `mailbot run` once to migrate it"
        )
    return conn


class Connection:
    """One connection to mailbot's SQLite database, migrated on opening.

    `durable=False` commits without waiting for the disk (WAL, synchronous=NORMAL): a
    crash of the process loses nothing, a power failure may lose the last commits. The
    outbox and scheduler connection uses it: what it could lose is a "sent" mark or a
    notice record, which means a mail sent twice, never a mail or a report lost. Intake
    stays synchronous=FULL: a message leaves the mailbox only after its record is on disk.

    `read_only=True` (the commands that only look): see `open_read_only`.
    """

    def __init__(self, path: Path, durable: bool = True, read_only: bool = False) -> None:
        self.path = path
        self.durable = durable
        self.keeps_mark = True
        self.after_commit: list[Callable[[], None]] = []
        """Done once the transaction in hand commits (dropped if it rolls back)."""
        """Raise the case-number high-water mark (`store.highwater`); off while
        `mailbot restore` re-records mail, whose cases get back their own numbers."""
        self._writer = _writer_lock(path)
        if read_only:
            self.db = sqlite_utils.Database(open_read_only(path))
            self.db.execute("PRAGMA busy_timeout=10000")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.migrate()

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()

    def data_version(self) -> int:
        """A number that changes when another connection commits (PRAGMA data_version)."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def changes(self) -> int:
        """Rows changed by this connection since it opened (total_changes)."""
        return int(self.db.conn.total_changes)

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
                    if self.db.execute("PRAGMA user_version").fetchone()[0] >= number:
                        continue  # another process applied it meanwhile
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
                self.after_commit.clear()
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            done, self.after_commit = self.after_commit, []
            for action in done:
                action()

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A part of the transaction in hand that is undone alone when it raises."""
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        self.db.execute(f"RELEASE {name}")

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

"""`mailbot backup`: an online copy of the database, checked, renamed into place; and for
`mailbot restore`, a backup checked and put in the database's place."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from mailbot.core.errors import PermanentError, UserError
from mailbot.store.db import Connection
from mailbot.store.files import fsync_path
from mailbot.store.schema import MIGRATIONS


class BackupStore(Connection):
    """The online backup."""

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
            fsync_path(tmp)
            if force:
                tmp.replace(path)
            else:
                try:
                    os.link(tmp, path)  # never replaces a file that appeared meanwhile
                except FileExistsError as exc:
                    raise UserError(f"backup target {path} exists (use --force)") from exc
            fsync_path(path.parent)
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


def check_backup(backup: Path) -> int:
    """The schema version of `backup`, a mailbot database that passes `quick_check`; a
    UserError naming the file otherwise (not there, not SQLite, not mailbot's, too new)."""
    if not backup.is_file():
        raise UserError(f"no backup file at {backup}")
    try:
        conn = sqlite3.connect(f"{backup.absolute().as_uri()}?mode=ro", uri=True)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            verdict = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise UserError(f"{backup} is not a readable SQLite database: {exc}") from exc
    if not {"cases", "messages", "outbox"} <= tables:
        raise UserError(f"{backup} is not a mailbot database (no cases, messages, outbox)")
    if verdict != "ok":
        raise UserError(f"{backup} fails SQLite's quick_check: {verdict}")
    if version > len(MIGRATIONS):
        raise UserError(
            f"{backup} is at schema version {version}, newer than this mailbot's"
            f" {len(MIGRATIONS)}: restore it with the mailbot that wrote it"
        )
    return version


def put_in_place(backup: Path, database: Path, stamp: str) -> Path | None:
    """Copy `backup` over `database`, keeping the database's owner and mode (a new one: the
    folder's owner, 0600). The database it replaces, its write-ahead log folded in where
    SQLite still can, is kept beside it as `<name>.before-restore-<stamp>`, which is
    returned (None when there was none). Call only while nothing else uses the database.
    """
    folder = database.absolute().parent
    folder.mkdir(parents=True, exist_ok=True)
    if database.exists() and database.resolve() == backup.resolve():
        raise UserError(f"{backup} is the database itself")
    model = database.stat() if database.exists() else folder.stat()
    mode = model.st_mode & 0o777 if database.exists() else 0o600
    tmp = folder / f".{database.name}.restore.{os.getpid()}"
    try:
        # Never readable by others, not even for a moment: created 0600, then given `mode`.
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with backup.open("rb") as source, os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        tmp.chmod(mode)
        if os.geteuid() == 0:
            os.chown(tmp, model.st_uid, model.st_gid)
        fsync_path(tmp)
        aside = _put_aside(database, stamp)
        tmp.replace(database)
        fsync_path(folder)
    except OSError as exc:
        raise UserError(f"cannot restore {backup} to {database}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return aside


def _put_aside(database: Path, stamp: str) -> Path | None:
    """Rename `database` (and what is left of its -wal) aside; drop its -shm."""
    if not database.exists():
        return None
    try:  # a daemon killed hard leaves committed pages in the -wal: fold them in
        conn = sqlite3.connect(database)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # damaged: the -wal is kept beside it as it is
    aside = database.with_name(f"{database.name}.before-restore-{stamp}")
    database.replace(aside)
    wal = database.with_name(f"{database.name}-wal")
    if wal.exists():
        wal.replace(aside.with_name(f"{aside.name}-wal"))
    database.with_name(f"{database.name}-shm").unlink(missing_ok=True)
    return aside

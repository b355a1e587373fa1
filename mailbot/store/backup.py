"""`mailbot backup`: an online copy of the database, checked, renamed into place."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from mailbot.core.errors import PermanentError, UserError
from mailbot.store.db import Connection
from mailbot.store.files import fsync_path


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

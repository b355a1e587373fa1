"""Who may use the database now: `mailbot run` and the writing commands share it, while
`mailbot restore` needs it alone.

The lock is a BSD `flock` on the database's folder (opened read-only): no file to create,
own or clean up, and the kernel drops it when a process dies, also by SIGKILL. It is
independent of SQLite's own (POSIX) locks on the database file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from mailbot.core.errors import UserError


def _open_folder(database: Path) -> int:
    folder = database.absolute().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise UserError(f"cannot open the database folder {folder}: {exc.strerror}") from exc


@contextmanager
def _holding(database: Path, how: int, refusal: str) -> Iterator[None]:
    """Hold the lock `how` (LOCK_SH or LOCK_EX) without waiting; UserError(refusal) if not."""
    fd = _open_folder(database)
    try:
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(refusal) from None
        yield
    finally:
        os.close(fd)


def sharing(database: Path) -> AbstractContextManager[None]:
    """Hold the shared lock (the daemon, `run --once`, commands that write); refused with a
    UserError while `mailbot restore` holds it alone."""
    refusal = f"a `mailbot restore` of {database} is in progress; try again when it is done"
    return _holding(database, fcntl.LOCK_SH, refusal)


def alone(database: Path) -> AbstractContextManager[None]:
    """Hold the lock alone (`mailbot restore`); a UserError while anything else holds it."""
    refusal = (
        f"mailbot is running on {database} (the daemon, `run --once` or a writing"
        " command): stop it first, e.g. `systemctl stop mailbot`"
    )
    return _holding(database, fcntl.LOCK_EX, refusal)


def in_use(database: Path) -> bool:
    """True while a daemon (or another command that writes) holds the lock."""
    try:
        with alone(database):
            return False
    except UserError:
        return True

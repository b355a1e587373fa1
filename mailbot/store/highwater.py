"""The case-number high-water mark: a small file beside the database, never restored.

Every case number that leaves the system was first handed out by `CaseStore.insert_case`,
which raises this mark as soon as its transaction commits, before the outbox can read
the mail that names the number (the outbox sends only what is committed). A database put
back from a backup (by `mailbot restore`, or by hand with `cp`) may know fewer numbers
than reporters already hold; the mark still does, so the sequence never goes back.

The file (`<database>.case-numbers`, mode 0600, owner of the database) holds one JSON
object `{"2026": 42, ...}`: the highest sequence handed out per year, padded with spaces
to a fixed 512 bytes and written in place with one `pwrite` — a single sector, so a
crash leaves the old or the new content, never half. Its reading and writing happen under
an exclusive `flock` of the file: two processes (the daemon and `mailbot release`) never
lower each other's mark.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from mailbot.core.errors import StorageUnavailable

SIZE = 512
"""Bytes of the file: one sector."""
YEARS_KEPT = 20
"""Years the file remembers (the newest); older years can no longer receive a number."""


def mark_path(database: Path) -> Path:
    """Where the mark of `database` lives."""
    return database.with_name(f"{database.name}.case-numbers")


def read_mark(database: Path) -> dict[int, int]:
    """The highest number handed out per year ({} when there is no readable mark)."""
    try:
        data = mark_path(database).read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StorageUnavailable(f"cannot read {mark_path(database)}: {exc.strerror}") from exc
    return _parse(data)


def _parse(data: bytes) -> dict[int, int]:
    try:
        value = json.loads(data.decode("ascii").strip() or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        int(year): seq
        for year, seq in value.items()
        if str(year).isdigit() and isinstance(seq, int) and seq > 0
    }


def raise_mark(database: Path, year: int, seq: int, durable: bool = True) -> None:
    """Make the mark of `year` at least `seq` (right after the commit that made it).

    Created owned by the database's owner (a root `mailbot release` must not leave a file
    the daemon cannot write). `durable`: flushed to disk before returning.
    """
    path = mark_path(database)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageUnavailable(f"cannot open {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _adopt_owner(fd, database)
        marks = _parse(os.pread(fd, SIZE, 0))
        if marks.get(year, 0) >= seq:
            return
        marks[year] = seq
        newest = dict(sorted(marks.items())[-YEARS_KEPT:])
        text = json.dumps({str(y): s for y, s in newest.items()}, separators=(",", ":"))
        os.pwrite(fd, text.encode("ascii").ljust(SIZE - 1) + b"\n", 0)
        if durable:
            os.fdatasync(fd)
    except OSError as exc:
        raise StorageUnavailable(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _adopt_owner(fd: int, database: Path) -> None:
    """Give the file the database's owner when root made it (as SQLite does its WAL)."""
    if os.geteuid() != 0:
        return
    owner = database.stat()
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) != (owner.st_uid, owner.st_gid):
        os.fchown(fd, owner.st_uid, owner.st_gid)

"""Read-only commands and a database they cannot open (issue 15, DESIGN.md §11).

Real SQLite, real `python -m mailbot` subprocesses; the tests of another user need root.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import factories
import pytest

from mailbot.shell.mailbox import deliver_to_maildir

NOBODY = 65534
RECEIVED = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
NOW = "2026-12-21T10:05:00+01:00"
READ_ONLY = (
    ("cases",),
    ("case", "show", "MK-2026-0001"),
    ("messages",),
    ("deadlines",),
    ("status",),
    ("check",),
    ("report", "--month", "2026-12"),
)
root_only = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="running a command as another user needs root",
)


AS_USER = """
import concurrent.futures.thread, encodings.idna, encodings.unicode_escape, os, sys
import mailbot.cli, mailbot.cli.tables, mailbot.cli.status, mailbot.core.securitytxt
import mailbot.report.figures, mailbot.report.html, mailbot.report.render, mailbot.shell.daemon
os.setgroups([])
os.setgid(int(sys.argv[1]))
os.setuid(int(sys.argv[1]))
raise SystemExit(mailbot.cli.main(sys.argv[2:]))
"""
"""`python -m mailbot`, turned into user argv[1] (and its group only) once the code is loaded.

Here the interpreter lives under /root, which another user cannot reach: the process starts
as root, loads mailbot, then drops to the user before it reads the config or the database.
"""


def mailbot(cfg: Path, *args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m mailbot --config cfg ARGS`, as `user` when given (see AS_USER)."""
    start = ["-m", "mailbot"] if user is None else ["-c", AS_USER, str(user)]
    return subprocess.run(
        [sys.executable, *start, "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        env=factories.env(NOW),
        timeout=60,
        check=False,
    )


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A temporary folder every user can reach (pytest's own are root's, mode 0700)."""
    with tempfile.TemporaryDirectory() as name:
        Path(name).chmod(0o755)
        yield Path(name)


def with_one_case(base: Path) -> Path:
    """A Maildir config under `base` whose database holds one case (made by `run --once`)."""
    cfg = factories.write_config(base)
    deliver_to_maildir(base / "inbox", factories.report(1), RECEIVED)
    ran = mailbot(cfg, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    return cfg


def fingerprint(path: Path) -> tuple[int, int, int, int, int, bytes]:
    """What a reader must not change: mtime, owner, group, mode, size and the bytes."""
    st = path.stat()
    return (st.st_mtime_ns, st.st_uid, st.st_gid, st.st_mode, st.st_size, path.read_bytes())


@pytest.mark.parametrize("args", [a for a in READ_ONLY if a != ("check",)], ids=" ".join)
def test_a_missing_database_is_one_line_and_stays_missing(tmp_path: Path, args: tuple[str]) -> None:
    """No database: exit 2, one stderr line naming the file, and no file made."""
    cfg = factories.write_config(tmp_path)
    database = tmp_path / "mailbot.db"
    result = mailbot(cfg, *args)
    lines = result.stderr.splitlines()
    assert (result.returncode, len(lines)) == (2, 1), result.stderr
    assert str(database) in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_check_before_the_first_start_says_the_database_comes_later(tmp_path: Path) -> None:
    """`check` comes before the first start: a missing database is a line, not a failure,
    and it is not created."""
    cfg = factories.write_config(tmp_path)
    (tmp_path / "inbox").mkdir()
    result = mailbot(cfg, "check")
    database = tmp_path / "mailbot.db"
    expected = f"database: {database} not created yet (`mailbot run` creates it)"
    assert (expected in result.stdout.splitlines(), database.exists()) == (True, False)


@root_only
@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_a_database_of_root_0600_is_named_with_owner_mode_and_user(
    shared_dir: Path, args: tuple[str]
) -> None:
    """root's 0600 database, read by nobody: exit 2, one line with file, owner, mode, user."""
    cfg = with_one_case(shared_dir)
    cfg.chmod(0o644)
    database = shared_dir / "mailbot.db"
    database.chmod(0o600)
    before = fingerprint(database)
    result = mailbot(cfg, *args, user=NOBODY)
    lines = result.stderr.splitlines()
    assert (result.returncode, len(lines)) == (2, 1), result.stderr
    assert "Traceback" not in result.stderr
    for part in (str(database), "owner root", "mode 0600", "user nobody"):
        assert part in lines[0]
    assert fingerprint(database) == before


def test_an_older_schema_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """A database at an older schema version: exit 2, asks for `mailbot run`, not migrated."""
    cfg = with_one_case(tmp_path)
    database = tmp_path / "mailbot.db"
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    result = mailbot(cfg, "cases")
    lines = result.stderr.splitlines()
    assert (result.returncode, len(lines)) == (2, 1), result.stderr
    assert f"database {database} is at schema version 1" in lines[0]
    assert "run `mailbot run` once to migrate it" in lines[0]
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


@root_only
def test_readers_change_nothing_and_the_owner_runs_on(shared_dir: Path) -> None:
    """Read-only commands run by root leave the database as it was; its owner runs on after.

    With the daemon stopped there is no -wal/-shm; a WAL reader makes them (SQLite needs
    the -shm) and leaves them: empty -wal, both with the database's owner and mode.
    """
    cfg = with_one_case(shared_dir)
    for path in shared_dir.rglob("*"):
        os.chown(path, NOBODY, NOBODY)
    os.chown(shared_dir, NOBODY, NOBODY)
    database = shared_dir / "mailbot.db"
    before = fingerprint(database)
    for args in READ_ONLY:
        result = mailbot(cfg, *args)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert fingerprint(database) == before
    wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
    for extra in (wal, shm):
        if extra.exists():
            st = extra.stat()
            assert (st.st_uid, st.st_gid, st.st_mode) == (NOBODY, NOBODY, database.stat().st_mode)
    assert (wal.stat().st_size if wal.exists() else 0) == 0
    deliver_to_maildir(shared_dir / "inbox", factories.report(2), RECEIVED)
    for path in (shared_dir / "inbox").rglob("*"):
        os.chown(path, NOBODY, NOBODY)
    ran = mailbot(cfg, "run", "--once", user=NOBODY)
    assert ran.returncode == 0, ran.stderr
    cases = mailbot(cfg, "cases", user=NOBODY)
    assert (cases.returncode, "MK-2026-0002" in cases.stdout) == (0, True), (ran.stderr, cases)

"""`mailbot backup PATH`: a consistent copy of the database while it is written (item 6)."""

from __future__ import annotations

import re
import sqlite3
import stat
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import factories
import pytest

from mailbot.core.errors import UserError
from mailbot.store import Store
from mailbot.store.schema import MIGRATIONS

NOW = datetime(2026, 12, 21, 9, 5, tzinfo=UTC)


def _events(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return [(r[0], r[1]) for r in conn.execute("SELECT kind, detail FROM events ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with two audit events."""
    s = Store(tmp_path / "mailbot.db")
    s.add_event(None, NOW, "admin", "note", "one")
    s.add_event(None, NOW, "admin", "note", "two")
    return s


def test_backup_is_a_private_self_contained_copy(store: Store, tmp_path: Path) -> None:
    """The copy holds the same rows, has mode 0600, no WAL, and passes integrity_check."""
    target = tmp_path / "copy.db"
    size = store.backup(target)
    conn = sqlite3.connect(target)
    try:
        checks = (
            conn.execute("PRAGMA journal_mode").fetchone()[0],
            conn.execute("PRAGMA integrity_check").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
        )
    finally:
        conn.close()
    assert _events(target) == [("note", "one"), ("note", "two")]
    assert checks == ("delete", "ok", len(MIGRATIONS))
    assert (stat.S_IMODE(target.stat().st_mode), size) == (0o600, target.stat().st_size)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_existing_target_is_refused_unless_forced(store: Store, tmp_path: Path) -> None:
    """An existing file is left alone (UserError naming it); --force replaces it."""
    target = tmp_path / "copy.db"
    target.write_bytes(b"precious")
    target.chmod(0o644)
    with pytest.raises(UserError, match=re.escape(f"backup target {target} exists")):
        store.backup(target)
    assert target.read_bytes() == b"precious"
    store.backup(target, force=True)
    assert _events(target) == [("note", "one"), ("note", "two")]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_missing_folder_and_the_database_itself_are_refused(store: Store, tmp_path: Path) -> None:
    """A target in a missing folder, or the live database, is a UserError naming the path."""
    missing = tmp_path / "nowhere" / "copy.db"
    with pytest.raises(UserError, match=re.escape(f"cannot write backup {missing}: ")):
        store.backup(missing)
    with pytest.raises(UserError, match="is the database itself"):
        store.backup(store.path, force=True)


def test_backup_while_another_connection_writes_is_consistent(tmp_path: Path) -> None:
    """Copies taken while a writer commits pairs of events always hold whole pairs."""
    path = tmp_path / "mailbot.db"
    reader = Store(path)
    writer = Store(path)
    stop = threading.Event()
    started = threading.Event()
    commits = 0

    def write() -> None:
        nonlocal commits
        while not stop.is_set() and commits < 20_000:
            with writer.transaction():
                writer.add_event(None, NOW, "w", "pair", f"{commits}a")
                writer.add_event(None, NOW, "w", "pair", f"{commits}b")
            commits += 1
            started.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert started.wait(10)
        copies = [tmp_path / f"copy{n}.db" for n in range(5)]
        for copy in copies:
            reader.backup(copy)
    finally:
        stop.set()
        thread.join()
        reader.close()
        writer.close()
    counts = [len(_events(copy)) for copy in copies]
    assert [n % 2 for n in counts] == [0] * len(copies)
    assert counts[0] >= 2
    assert counts == sorted(counts)


def _mailbot(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`mailbot backup ARGS` with the clock at NOW."""
    return factories.mailbot(cfg, "backup", *args, now=NOW.isoformat(), check=False)


def test_cli_backup_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    """`backup PATH` exits 0, again exits 2 naming PATH, with --force exits 0."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[identity]\naddress = "meldpunt@gemeente.example"\n[mailbox]\npath = "inbox"\n'
        '[outbound]\npath = "outbox"\n[database]\npath = "mailbot.db"\n',
        encoding="utf-8",
    )
    target = tmp_path / "backup.db"
    missing = _mailbot(cfg, str(target))
    Store(tmp_path / "mailbot.db").close()
    first = _mailbot(cfg, str(target))
    again = _mailbot(cfg, str(target))
    forced = _mailbot(cfg, str(target), "--force")
    codes = (missing.returncode, first.returncode, again.returncode, forced.returncode)
    assert codes == (2, 0, 2, 0), first.stderr
    assert f"no database at {tmp_path / 'mailbot.db'}" in missing.stderr
    assert f"backup target {target} exists (use --force to overwrite)" in again.stderr
    assert first.stdout.startswith(f"backup of {tmp_path / 'mailbot.db'} written to {target}")

"""mailbot.store.files: whole-file writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mailbot.store.files import fsync_path, write_atomically


def test_write_atomically_replaces_the_file_with_its_mode_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    """The target holds the new bytes with the given mode; nothing else is left beside it."""
    target = tmp_path / "security.txt"
    target.write_bytes(b"old")
    write_atomically(target, b"new", 0o644)
    found = (target.read_bytes(), stat.S_IMODE(target.stat().st_mode), sorted(tmp_path.iterdir()))
    assert found == (b"new", 0o644, [target])


def test_write_atomically_into_a_missing_folder_raises_and_leaves_nothing(tmp_path: Path) -> None:
    """An unwritable target raises OSError and leaves no temporary file."""
    with pytest.raises(OSError):
        write_atomically(tmp_path / "absent" / "report.html", b"x")
    assert sorted(tmp_path.iterdir()) == []


def test_fsync_path_takes_files_and_folders(tmp_path: Path) -> None:
    """fsync_path flushes a file and a folder alike without error."""
    (tmp_path / "f").write_bytes(b"x")
    assert (fsync_path(tmp_path / "f"), fsync_path(tmp_path)) == (None, None)

"""The Maildir mailbox backend against real files (DESIGN.md §3)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mailbot.shell.mailbox as mailbox_module
from mailbot.core.errors import MailboxUnavailable
from mailbot.shell.mailbox import (
    MailboxItem,
    MaildirMailbox,
    deliver_to_maildir,
    split_info,
    with_flag,
)

T0 = datetime(2026, 3, 2, 9, 15, 30, 123456, tzinfo=UTC)


def _ls(folder: Path) -> list[str]:
    return sorted(child.name for child in folder.iterdir())


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def _put(folder: Path, name: str, raw: bytes, at: datetime) -> Path:
    path = folder / name
    path.write_bytes(raw)
    stamp = int(at.timestamp()) * 10**9 + at.microsecond * 1000
    os.utime(path, ns=(stamp, stamp))
    return path


def test_creates_maildir_folders(tmp_path: Path) -> None:
    """A missing Maildir is created with tmp/, new/ and cur/."""
    MaildirMailbox(tmp_path / "mail")
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == ["cur", "new", "tmp"]


def test_missing_maildir_without_create_is_unavailable(tmp_path: Path) -> None:
    """With create=False a missing Maildir raises MailboxUnavailable naming the path."""
    with pytest.raises(MailboxUnavailable, match="nowhere"):
        MaildirMailbox(tmp_path / "nowhere", create=False)


def test_pending_is_ordered_by_mtime_not_by_name(tmp_path: Path) -> None:
    """pending() returns the oldest receipt first, whatever the file names say."""
    box = MaildirMailbox(tmp_path)
    deliver_to_maildir(tmp_path, b"Subject: late\r\n\r\n", T0 + timedelta(minutes=5))
    deliver_to_maildir(tmp_path, b"Subject: early\r\n\r\n", T0)
    deliver_to_maildir(tmp_path, b"Subject: middle\r\n\r\n", T0 + timedelta(minutes=1))
    subjects = [item.raw.split(b"\r\n")[0] for item in box.pending()]
    assert subjects == [b"Subject: early", b"Subject: middle", b"Subject: late"]


def test_pending_respects_limit(tmp_path: Path) -> None:
    """pending(limit) returns at most `limit` items, the oldest ones."""
    box = MaildirMailbox(tmp_path)
    keys = [deliver_to_maildir(tmp_path, b"x", T0 + timedelta(seconds=i)) for i in range(5)]
    assert [item.key for item in box.pending(limit=2)] == keys[:2]


def test_item_carries_raw_bytes_size_and_mtime(tmp_path: Path) -> None:
    """An item holds the exact bytes, their size, and received_at equal to the file's mtime."""
    raw = b"From: a@example.test\r\n\r\nbody \xe9\r\n"
    key = deliver_to_maildir(tmp_path, raw, T0)
    [item] = MaildirMailbox(tmp_path).pending()
    assert item == MailboxItem(key, raw, T0, len(raw), where=f"maildir:{key}")
    assert item.received_at.tzinfo is UTC


def test_tmp_is_ignored(tmp_path: Path) -> None:
    """Files still being written in tmp/ are never pending."""
    box = MaildirMailbox(tmp_path)
    _put(tmp_path / "tmp", "123.456_1.host", b"half written", T0)
    assert box.pending() == []


def test_cur_without_seen_flag_is_pending(tmp_path: Path) -> None:
    """A message a client moved to cur/ without the S flag is still pending; with S it is not."""
    box = MaildirMailbox(tmp_path)
    _put(tmp_path / "cur", "1.1_1.host:2,F", b"flagged only", T0)
    _put(tmp_path / "cur", "2.1_1.host:2,S", b"seen", T0)
    _put(tmp_path / "cur", "3.1_1.host:2,", b"no flags", T0 + timedelta(seconds=1))
    assert [item.key for item in box.pending()] == ["1.1_1.host:2,F", "3.1_1.host:2,"]


def test_dot_files_are_not_messages(tmp_path: Path) -> None:
    """Hidden files in new/ (editor or tool leftovers) are not messages."""
    box = MaildirMailbox(tmp_path)
    _put(tmp_path / "new", ".hidden", b"x", T0)
    assert box.pending() == []


def test_vanished_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that disappears between listing and reading is skipped, the rest returned."""
    box = MaildirMailbox(tmp_path)
    gone = deliver_to_maildir(tmp_path, b"gone", T0)
    kept = deliver_to_maildir(tmp_path, b"kept", T0 + timedelta(seconds=1))
    listing = list(box._unprocessed())
    (tmp_path / "new" / gone).unlink()
    monkeypatch.setattr(box, "_unprocessed", lambda: iter(listing))
    assert [item.key for item in box.pending()] == [kept]


def test_mark_processed_moves_to_cur_with_seen_and_keeps_mtime(tmp_path: Path) -> None:
    """mark_processed renames new/<key> to cur/<key>:2,S with the same mtime."""
    box = MaildirMailbox(tmp_path)
    key = deliver_to_maildir(tmp_path, b"m", T0)
    before = _mtime(tmp_path / "new" / key)
    box.mark_processed(key)
    assert _ls(tmp_path / "cur") == [f"{key}:2,S"]
    assert _ls(tmp_path / "new") == []
    assert _mtime(tmp_path / "cur" / f"{key}:2,S") == before
    assert box.pending() == []


def test_mark_processed_keeps_other_flags(tmp_path: Path) -> None:
    """Flags a client set (F, keywords) survive, with S added in ASCII order."""
    box = MaildirMailbox(tmp_path)
    _put(tmp_path / "cur", "9.1_1.host:2,Fa", b"m", T0)
    box.mark_processed("9.1_1.host:2,Fa")
    assert _ls(tmp_path / "cur") == ["9.1_1.host:2,FSa"]


def test_mark_processed_twice_is_not_an_error(tmp_path: Path) -> None:
    """After a crash the same key is marked again: the file is already there, no error."""
    box = MaildirMailbox(tmp_path)
    key = deliver_to_maildir(tmp_path, b"m", T0)
    box.mark_processed(key)
    box.mark_processed(key)
    assert _ls(tmp_path / "cur") == [f"{key}:2,S"]


def test_mark_processed_follows_flag_change_by_client(tmp_path: Path) -> None:
    """If a client renamed the file (new flags) after pending(), the mark still finds it."""
    box = MaildirMailbox(tmp_path)
    _put(tmp_path / "cur", "7.1_1.host:2,", b"m", T0)
    [item] = box.pending()
    (tmp_path / "cur" / "7.1_1.host:2,").rename(tmp_path / "cur" / "7.1_1.host:2,F")
    box.mark_processed(item.key)
    assert _ls(tmp_path / "cur") == ["7.1_1.host:2,FS"]


def test_mark_unknown_key_raises_naming_it(tmp_path: Path) -> None:
    """A key that is nowhere (and was never moved) raises MailboxUnavailable naming it."""
    box = MaildirMailbox(tmp_path)
    with pytest.raises(MailboxUnavailable, match=r"123\.missing"):
        box.mark_processed("123.missing")


def test_mark_rejects_path_like_keys(tmp_path: Path) -> None:
    """A key that is not a plain file name is refused (no moves outside the Maildir)."""
    outside = tmp_path / "secret"
    outside.write_bytes(b"x")
    box = MaildirMailbox(tmp_path / "mail")
    with pytest.raises(MailboxUnavailable, match="not a message file name"):
        box.mark_processed("../../secret")
    assert outside.read_bytes() == b"x"


def test_mark_quarantined_moves_to_maildirplus_subfolder(tmp_path: Path) -> None:
    """mark_quarantined moves to .Quarantine/cur/<key>:2,S, creating the subfolder, mtime kept."""
    box = MaildirMailbox(tmp_path, quarantine_folder="Quarantine")
    key = deliver_to_maildir(tmp_path, b"bad", T0)
    before = _mtime(tmp_path / "new" / key)
    box.mark_quarantined(key)
    folder = tmp_path / ".Quarantine"
    assert sorted(p.name for p in folder.iterdir()) == ["cur", "maildirfolder", "new", "tmp"]
    assert _ls(folder / "cur") == [f"{key}:2,S"]
    assert _mtime(folder / "cur" / f"{key}:2,S") == before
    assert (folder / "cur" / f"{key}:2,S").read_bytes() == b"bad"
    assert box.pending() == []


def test_mark_quarantined_twice_is_not_an_error(tmp_path: Path) -> None:
    """Quarantining a key already moved by a previous run succeeds silently."""
    box = MaildirMailbox(tmp_path)
    key = deliver_to_maildir(tmp_path, b"bad", T0)
    box.mark_quarantined(key)
    box.mark_quarantined(key)
    assert _ls(tmp_path / ".Quarantine" / "cur") == [f"{key}:2,S"]


def test_processed_key_is_not_taken_for_quarantined(tmp_path: Path) -> None:
    """Idempotence looks in the right target: a processed key is not 'already quarantined'."""
    box = MaildirMailbox(tmp_path)
    key = deliver_to_maildir(tmp_path, b"m", T0)
    box.mark_processed(key)
    with pytest.raises(MailboxUnavailable, match=key):
        box.mark_quarantined(key)
    assert _ls(tmp_path / "cur") == [f"{key}:2,S"]


def test_large_file_returned_whole(tmp_path: Path) -> None:
    """With max_read_bytes set, a larger file is still returned whole for quarantine."""
    raw = b"x" * 5000
    deliver_to_maildir(tmp_path, raw, T0)
    [item] = MaildirMailbox(tmp_path, max_read_bytes=1000).pending()
    assert (item.raw, item.size) == (raw, 5000)


def test_deliver_names_are_unique(tmp_path: Path) -> None:
    """Many deliveries in the same second get distinct names, all in new/."""
    keys = {deliver_to_maildir(tmp_path, b"m") for _ in range(50)}
    assert (len(keys), _ls(tmp_path / "new")) == (50, sorted(keys))
    assert _ls(tmp_path / "tmp") == []


def test_deliver_rejects_naive_received_at(tmp_path: Path) -> None:
    """A naive received_at is a programming error, named in the message."""
    with pytest.raises(ValueError, match="timezone-aware"):
        deliver_to_maildir(tmp_path, b"m", datetime(2026, 1, 1))


@settings(max_examples=100, deadline=None)
@given(flags=st.text(alphabet="DFPRSTabc", max_size=6))
def test_with_flag_adds_seen_sorted_and_keeps_base(flags: str) -> None:
    """with_flag keeps the unique base, every old flag, adds S, in ASCII order, no repeats."""
    base, new_flags = split_info(with_flag(f"17.2_3.host:2,{flags}", "S"))
    assert (base, new_flags) == ("17.2_3.host", "".join(sorted(set(flags) | {"S"})))


def test_pending_batch_stops_at_the_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch holds messages up to BATCH_BYTES, at least one, so big mail is not piled up."""
    monkeypatch.setattr(mailbox_module, "BATCH_BYTES", 2500)
    box = MaildirMailbox(tmp_path / "md")
    for n in range(4):
        deliver_to_maildir(tmp_path / "md", b"x" * 1000 + str(n).encode())
    assert len(box.pending(50)) == 3
    monkeypatch.setattr(mailbox_module, "BATCH_BYTES", 10)
    assert len(box.pending(50)) == 1

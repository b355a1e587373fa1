"""Reading back what intake filed: the processed and quarantine folders, oldest receipt
first (`mailbot restore` re-records what came after a backup from them).

Nothing is moved or flagged: IMAP folders are opened read-only (EXAMINE) and Maildir
files only read. Each item keeps its receipt moment (IMAP INTERNALDATE and the Maildir
file's mtime survive the move out of the inbox) and is read only when its turn comes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any

from mailbot.core.errors import MailboxUnavailable
from mailbot.shell.mailbox import Mailbox, MailboxItem, MaildirMailbox, split_info

BODY_CHUNK = 20
"""Messages fetched from the IMAP server per command."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class _Filed:
    """One filed message before it is read: sortable by receipt, folder, then UID/name."""

    received_at: datetime
    rank: int  # 0: processed, 1: quarantine
    uid: int  # IMAP UID (0 in a Maildir)
    key: str
    folder: str
    size: int
    validity: int = 0


def archived_since(mailbox: Mailbox, since: datetime | None) -> Iterator[MailboxItem]:
    """The filed messages received at or after `since` (all with None), oldest first."""
    if isinstance(mailbox, MaildirMailbox):
        return _maildir_items(mailbox, since)
    archived = getattr(mailbox, "archived", None)
    if archived is None:
        raise MailboxUnavailable(f"{type(mailbox).__name__} cannot list its filed mail")
    items: Iterator[MailboxItem] = archived(since)
    return items


# -- Maildir --------------------------------------------------------------------------------


def _maildir_items(box: MaildirMailbox, since: datetime | None) -> Iterator[MailboxItem]:
    filed: list[_Filed] = []
    for rank, folder in enumerate((box.path / "cur", box.quarantine_path / "cur")):
        filed += _maildir_listing(folder, rank, since)
    for entry in sorted(filed):
        try:
            raw = (Path(entry.folder) / entry.key).read_bytes()
        except FileNotFoundError:
            continue  # removed since the listing
        except OSError as exc:
            raise MailboxUnavailable(f"cannot read {entry.folder}/{entry.key}: {exc}") from exc
        where = f"maildir:{split_info(entry.key)[0]}"
        yield MailboxItem(entry.key, raw, entry.received_at, len(raw), where)


def _maildir_listing(folder: Path, rank: int, since: datetime | None) -> list[_Filed]:
    try:
        scan = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise MailboxUnavailable(f"cannot list Maildir folder {folder}: {exc}") from exc
    found = []
    for dirent in scan:
        if dirent.name.startswith(".") or "S" not in split_info(dirent.name)[1]:
            continue
        try:
            st = dirent.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        received = _EPOCH + timedelta(microseconds=st.st_mtime_ns // 1000)
        if dirent.is_file(follow_symlinks=False) and (since is None or received >= since):
            found.append(_Filed(received, rank, 0, dirent.name, str(folder), st.st_size))
    return found


# -- IMAP -----------------------------------------------------------------------------------


def imap_archived(
    run: Callable[[str, Callable[[Any], Any]], Any],
    folders: tuple[str, str],
    since: datetime | None,
) -> Iterator[MailboxItem]:
    """The messages of `folders` (processed, quarantine) received at or after `since`.

    `run(what, op)` runs `op` on a live session (`ImapConnection.run`). The listing is
    one SEARCH and metadata FETCH per folder; bodies follow BODY_CHUNK at a time.
    """
    filed: list[_Filed] = sorted(
        run("archive", partial(_imap_listing, folders=folders, since=since))
    )
    for _, group in groupby(filed, key=lambda f: f.folder):
        run_of_folder = list(group)
        for start in range(0, len(run_of_folder), BODY_CHUNK):
            chunk = run_of_folder[start : start + BODY_CHUNK]
            bodies: dict[str, bytes] = run("archive", partial(_imap_bodies, chunk=chunk))
            for entry in chunk:
                if entry.key in bodies:  # else expunged meanwhile
                    raw = bodies[entry.key]
                    where = f"imap:{entry.folder}:{entry.validity}:{entry.key}"
                    yield MailboxItem(entry.key, raw, entry.received_at, len(raw), where)


def _imap_listing(s: Any, *, folders: tuple[str, str], since: datetime | None) -> list[_Filed]:
    found: list[_Filed] = []
    for rank, folder in enumerate(folders):
        if not s.client.folder_exists(folder):
            continue
        validity = _examine(s, folder)
        # SEARCH SINCE compares dates only (the server's): a day earlier, filtered below.
        criteria = ["SINCE", (since - timedelta(days=1)).date()] if since else ["ALL"]
        uids = sorted(s.client.search(criteria))
        for start in range(0, len(uids), 1000):
            data = s.client.fetch(uids[start : start + 1000], ["INTERNALDATE", "RFC822.SIZE"])
            for uid, fields in data.items():
                if b"INTERNALDATE" not in fields:
                    continue
                received = fields[b"INTERNALDATE"].astimezone(UTC)
                if since is None or received >= since:
                    size = int(fields[b"RFC822.SIZE"])
                    found.append(_Filed(received, rank, uid, str(uid), folder, size, validity))
    return found


def _imap_bodies(s: Any, *, chunk: list[_Filed]) -> dict[str, bytes]:
    _examine(s, chunk[0].folder)
    data = s.client.fetch([e.uid for e in chunk], ["BODY.PEEK[]"])
    return {str(uid): bytes(f[b"BODY[]"]) for uid, f in data.items() if b"BODY[]" in f}


def _examine(s: Any, folder: str) -> int:
    """Open `folder` read-only; its UIDVALIDITY. The inbox is selected again when needed."""
    response = s.client.select_folder(folder, readonly=True)
    s.selected = False
    return int(response[b"UIDVALIDITY"])

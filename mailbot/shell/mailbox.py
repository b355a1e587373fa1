"""Inbound mailbox behind one small protocol (DESIGN.md §3); the Maildir backend.

The pipeline asks a `Mailbox` for `pending()` messages, records each one in the
database, and only after that transaction committed calls `mark_processed` or
`mark_quarantined`. Both marks are idempotent, so a crash between commit and mark
leads to the same end state after a restart.

Maildir layout (https://cr.yp.to/proto/maildir.html, Maildir++ subfolders):
`new/` holds unseen deliveries, `cur/` holds messages with an info suffix
`:2,FLAGS`; `S` means seen, which is how this backend records "processed".
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from mailbot.core.errors import ConfigError, MailboxUnavailable
from mailbot.store.files import fsync_path

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUBDIRS = ("tmp", "new", "cur")
_SEEN = "S"
_counter = itertools.count(1)


BATCH_BYTES = 64 * 1024 * 1024
"""A batch of pending messages stops growing past this many bytes (at least one message),
so fifty 25 MB messages are never in memory at once."""
POLL_INTERVAL = 0.5
"""Seconds between two looks at a Maildir's new/ while waiting for mail."""


@dataclass(frozen=True)
class MailboxItem:
    """One unprocessed inbound message, as the backend stores it."""

    key: str  # stable id within the backend (Maildir: file name; IMAP: UID)
    raw: bytes
    received_at: datetime  # UTC aware; the receipt moment (Maildir: file mtime)
    size: int
    where: str = ""
    """This very item, for life: Maildir's unique base name, IMAP's folder, UIDVALIDITY and
    UID. Seen again after a crash it is *resumed*; a new item with the same bytes is not."""

    @property
    def origin(self) -> str:
        """`where`, or the key when the backend gave none."""
        return self.where or self.key


class Mailbox(Protocol):
    """What the intake pipeline needs from a mailbox backend."""

    def pending(self, limit: int = 50) -> list[MailboxItem]:
        """Unprocessed messages, oldest receipt first, at most `limit`."""
        ...

    def mark_processed(self, key: str) -> None:
        """Move the message out of the pending set; only after the DB commit."""
        ...

    def mark_quarantined(self, key: str) -> None:
        """Move the message to the quarantine folder; only after the DB commit."""
        ...

    def mark_processed_many(self, keys: Sequence[str]) -> None:
        """`mark_processed` for many messages at once (one IMAP command)."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block until new mail may have arrived or `timeout` seconds passed.

        True when the backend saw a sign of new mail (IMAP IDLE EXISTS, a changed Maildir);
        False on timeout. Called between intake passes, never while a message is in hand.
        """
        ...

    def check(self) -> list[str]:
        """Reach the mailbox and its folders; human lines of what is fine (`mailbot check`)."""
        ...

    def count_pending(self) -> int:
        """How many messages wait to be handled (cheap: no message is read)."""
        ...

    def close(self) -> None:
        """Release connections or handles."""
        ...


@dataclass(frozen=True)
class _Entry:
    path: Path
    key: str
    mtime_ns: int


def split_info(name: str) -> tuple[str, str]:
    """Split a Maildir file name into its unique base and its flags (`:2,FLAGS`)."""
    base, sep, info = name.partition(":")
    if sep and info.startswith("2,"):
        return base, info[2:]
    return base, ""


def with_flag(name: str, flag: str) -> str:
    """The `cur/` name of message `name` with `flag` added, flags in ASCII order."""
    base, flags = split_info(name)
    return f"{base}:2,{''.join(sorted(set(flags) | {flag}))}"


def _is_message_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\0" not in name


def _received_at(mtime_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=mtime_ns // 1000)


def _make_maildir(path: Path) -> None:
    for sub in _SUBDIRS:
        (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)


class MaildirMailbox:
    """A Maildir as the inbound mailbox; processed mail gets the `S` flag in `cur/`."""

    def __init__(
        self,
        path: Path,
        quarantine_folder: str = "Quarantine",
        max_read_bytes: int | None = None,
        create: bool = True,
    ) -> None:
        if not quarantine_folder or "/" in quarantine_folder or quarantine_folder[0] == ".":
            raise ConfigError(
                f"[mailbox] quarantine_folder {quarantine_folder!r}: "
                "must be a folder name without '/' and not starting with '.'"
            )
        self.path = path
        self.quarantine_path = path / f".{quarantine_folder}"
        # Accepted for symmetry with the IMAP backend: a Maildir file is always read
        # whole, in one read, even when larger (the pipeline quarantines it).
        self.max_read_bytes = max_read_bytes
        try:
            if create:
                _make_maildir(path)
        except OSError as exc:
            raise MailboxUnavailable(f"cannot create Maildir {path}: {exc}") from exc
        missing = [sub for sub in _SUBDIRS if not (path / sub).is_dir()]
        if missing:
            raise MailboxUnavailable(f"{path} is not a Maildir: missing {', '.join(missing)}/")

    def pending(self, limit: int = 50) -> list[MailboxItem]:
        """Messages in `new/` and unseen ones in `cur/`, oldest mtime first."""
        entries = sorted(self._unprocessed(), key=lambda e: (e.mtime_ns, e.key))
        items: list[MailboxItem] = []
        total = 0
        for entry in entries:
            if len(items) >= limit or (items and total >= BATCH_BYTES):
                break
            item = self._read(entry)
            if item is not None:
                items.append(item)
                total += item.size
        return items

    def mark_processed(self, key: str) -> None:
        """Rename to `cur/<base>:2,<flags>S`; no-op when a previous run already did."""
        self._move(key, self.path / "cur")

    def mark_quarantined(self, key: str) -> None:
        """Move to `.<quarantine_folder>/cur/<base>:2,<flags>S` (Maildir++ subfolder)."""
        try:
            _make_maildir(self.quarantine_path)
            (self.quarantine_path / "maildirfolder").touch(mode=0o600, exist_ok=True)
        except OSError as exc:
            raise MailboxUnavailable(
                f"cannot create quarantine folder {self.quarantine_path}: {exc}"
            ) from exc
        self._move(key, self.quarantine_path / "cur")

    def mark_processed_many(self, keys: Sequence[str]) -> None:
        """Rename each message to cur/ with the S flag."""
        for key in keys:
            self.mark_processed(key)

    def wait(self, timeout: float) -> bool:
        """Poll new/ every POLL_INTERVAL seconds until a file appears or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            if _names(self.path / "new"):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(POLL_INTERVAL, remaining))

    def check(self) -> list[str]:
        """The Maildir and its quarantine folder exist and are writable."""
        lines = []
        for folder in (self.path, self.quarantine_path):
            _make_maildir(folder)
            if not os.access(folder / "new", os.W_OK) or not os.access(folder / "cur", os.W_OK):
                raise MailboxUnavailable(f"Maildir {folder} is not writable")
            lines.append(f"Maildir {folder} is writable")
        lines.append(f"{len(_names(self.path / 'new'))} messages waiting in {self.path / 'new'}")
        return lines

    def count_pending(self) -> int:
        """Files in `new/` plus those in `cur/` without the S flag (none is read)."""
        return sum(1 for _ in self._unprocessed())

    def close(self) -> None:
        """Nothing to release for a Maildir."""

    def _unprocessed(self) -> Iterator[_Entry]:
        for sub in ("new", "cur"):
            folder = self.path / sub
            try:
                scan = list(os.scandir(folder))
            except OSError as exc:
                raise MailboxUnavailable(f"cannot list Maildir folder {folder}: {exc}") from exc
            for dirent in scan:
                if not _is_message_name(dirent.name):
                    continue
                if sub == "cur" and _SEEN in split_info(dirent.name)[1]:
                    continue
                try:
                    if not dirent.is_file(follow_symlinks=False):
                        continue
                    mtime_ns = dirent.stat(follow_symlinks=False).st_mtime_ns
                except FileNotFoundError:
                    continue  # moved by another reader since the listing
                yield _Entry(Path(dirent.path), dirent.name, mtime_ns)

    def _read(self, entry: _Entry) -> MailboxItem | None:
        try:
            with entry.path.open("rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None  # vanished between listing and reading
        except OSError as exc:
            raise MailboxUnavailable(f"cannot read Maildir message {entry.path}: {exc}") from exc
        where = f"maildir:{split_info(entry.key)[0]}"
        return MailboxItem(entry.key, raw, _received_at(entry.mtime_ns), len(raw), where)

    def _move(self, key: str, target_dir: Path) -> None:
        if not _is_message_name(key):
            raise MailboxUnavailable(f"Maildir key {key!r} is not a message file name")
        base = split_info(key)[0]
        for source in self._candidates(key, base):
            try:
                source.rename(target_dir / with_flag(source.name, _SEEN))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailboxUnavailable(f"cannot move Maildir message {key!r}: {exc}") from exc
            return
        if self._already_moved(base, target_dir):
            return
        raise MailboxUnavailable(
            f"Maildir message {key!r} is in neither {self.path}/new nor {self.path}/cur, "
            f"and not in {target_dir}"
        )

    def _candidates(self, key: str, base: str) -> Iterator[Path]:
        yield self.path / "new" / key
        yield self.path / "cur" / key
        for sub in ("new", "cur"):  # a client may have changed its flags meanwhile
            for name in _names(self.path / sub):
                base_here, flags = split_info(name)
                if base_here == base and (sub == "new" or _SEEN not in flags):
                    yield self.path / sub / name

    @staticmethod
    def _already_moved(base: str, target_dir: Path) -> bool:
        return any(
            split_info(name)[0] == base and _SEEN in split_info(name)[1]
            for name in _names(target_dir)
        )


def _names(folder: Path) -> list[str]:
    try:
        return [child.name for child in folder.iterdir()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise MailboxUnavailable(f"cannot list Maildir folder {folder}: {exc}") from exc


def _unique_name() -> str:
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    return f"{int(time.time())}.{os.getpid()}_{next(_counter)}.{host}"


def deliver_to_maildir(
    path: Path, raw: bytes, received_at: datetime | None = None, name: str | None = None
) -> str:
    """Deliver `raw` into `path/new/` the Maildir way; return the new file name.

    Writes `tmp/<name>` (fsynced), sets its mtime to `received_at` when given,
    then links it into `new/` (a link never replaces an existing file) and
    removes the tmp name. Creates `path/{tmp,new,cur}` when absent. With a fixed
    `name` the delivery is idempotent: when `new/<name>` exists nothing is written.
    """
    if received_at is not None and received_at.tzinfo is None:
        raise ValueError(f"received_at {received_at!r} must be timezone-aware")
    _make_maildir(path)
    while True:
        candidate = name or _unique_name()
        if name is not None and (path / "new" / name).exists():
            return name
        tmp = path / "tmp" / candidate
        if name is not None:
            tmp.unlink(missing_ok=True)  # a leftover of an interrupted delivery
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        try:
            _write_all(fd, tmp, raw, received_at)
            os.link(tmp, path / "new" / candidate)
        except FileExistsError:
            if name is not None:
                return name
            continue
        finally:
            tmp.unlink(missing_ok=True)
        fsync_path(path / "new")
        return candidate


def _write_all(fd: int, tmp: Path, raw: bytes, received_at: datetime | None) -> None:
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    if received_at is not None:
        delta = received_at - _EPOCH
        mtime_ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        os.utime(tmp, ns=(mtime_ns, mtime_ns))

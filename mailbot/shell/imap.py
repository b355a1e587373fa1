"""The IMAP mailbox backend (DESIGN.md §3, issue 3): imapclient against a real server.

Everything still in `folder` is pending: handled mail is moved to `processed_folder` or
`quarantine_folder` (MOVE, else UID COPY + \\Deleted + UID EXPUNGE), never deleted.
UIDVALIDITY and the highest UID seen are remembered through a `StateStore`; a changed
UIDVALIDITY resets them and the metadata cache, and marks of keys handed out under the
old UIDVALIDITY are skipped (that UID may now name another message).

The connection is opened lazily. Any failure drops it and raises `MailboxUnavailable`
with one line naming host:port and the cause; the next call reconnects (a call on a
connection that turns out dead reconnects once by itself). Nothing here sleeps except
the NOOP polling of `wait()` without IDLE. Not thread-safe: one caller at a time.
"""

from __future__ import annotations

import imaplib
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from imapclient.exceptions import IMAPClientError

from mailbot.core.config import MailboxSettings
from mailbot.core.errors import MailboxUnavailable
from mailbot.shell.archive import imap_archived
from mailbot.shell.imap_session import ImapConnection, Session, validate
from mailbot.shell.imap_wait import IDLE_RENEW_SECONDS, ImapWaiter
from mailbot.shell.logs import get_logger
from mailbot.shell.mailbox import BATCH_BYTES, MailboxItem
from mailbot.shell.oauth import TokenSource

META_CHUNK = 1000
_BODY = b"BODY[]"
_DATE = b"INTERNALDATE"
_SIZE = b"RFC822.SIZE"
_DELETED = b"\\Deleted"


class StateStore(Protocol):
    """Where the backend remembers UIDVALIDITY and the last UID (mailbot.store.Store)."""

    def state_get(self, key: str) -> str | None:
        """The remembered value, or None."""
        ...

    def state_set(self, key: str, value: str) -> None:
        """Remember `value` under `key`."""
        ...


class MemoryState(dict[str, str]):
    """A StateStore in memory, for when no database is given."""

    def state_get(self, key: str) -> str | None:
        return self.get(key)

    def state_set(self, key: str, value: str) -> None:
        self[key] = value


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _received_at(moment: datetime) -> datetime:
    return moment.astimezone(UTC)  # imapclient gives an aware time with normalise_times off


class ImapMailbox:
    """A folder on an IMAP server as the inbound mailbox (the `Mailbox` protocol)."""

    def __init__(
        self,
        settings: MailboxSettings,
        state: StateStore | None = None,
        *,
        batch: int = 50,
        timeout: float = 30,
        idle_renew: float = IDLE_RENEW_SECONDS,
        tokens: TokenSource | None = None,
    ) -> None:
        validate(settings)
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.settings = settings
        self.state: StateStore = state if state is not None else MemoryState()
        self.batch = batch
        self.timeout = timeout
        self.idle_renew = idle_renew
        self.address = f"{settings.host}:{settings.port}"
        self._connection = ImapConnection(settings, timeout, tokens)
        self._tokens = self._connection.tokens
        self._waiter = ImapWaiter(self._connection, idle_renew)
        self._uidvalidity: int | None = None
        self._meta: dict[int, tuple[datetime, int]] = {}  # uid → (received_at, size)
        self._handed: dict[str, int] = {}  # key → UIDVALIDITY it was handed out under
        self._log = get_logger(mailbox=self.address, folder=settings.folder)

    # -- the Mailbox protocol --------------------------------------------------------------

    def pending(self, limit: int = 50) -> list[MailboxItem]:
        """Messages in the folder, oldest INTERNALDATE first (ties by UID), at most `limit`."""
        if limit <= 0:
            return []
        return self._connection.run("fetch", lambda s: self._pending(s, limit))

    def mark_processed(self, key: str) -> None:
        """Move message `key` (a UID) to the processed folder; a gone UID is no error."""
        self._mark(key, self.settings.processed_folder)

    def mark_quarantined(self, key: str) -> None:
        """Move message `key` (a UID) to the quarantine folder; a gone UID is no error."""
        self._mark(key, self.settings.quarantine_folder)

    def wait(self, timeout: float) -> bool:
        """IDLE (or NOOP-poll) until new mail shows (True) or `timeout` seconds pass (False).

        After a reconnect it returns True at once: mail may have come while we were away.
        After `interrupt()` it returns False at once (an IDLE is ended with DONE).
        """
        if self._waiter.interrupted:
            return False
        deadline = time.monotonic() + max(timeout, 0.0)
        before = self._connection.session

        def op(session: Session) -> bool:
            if session is not before:
                self._select(session)
                return True
            if not session.selected:
                self._select(session)
            if self.settings.idle and b"IDLE" in session.capabilities:
                return self._waiter.idle(session, deadline)
            return self._waiter.poll(session, deadline)

        return self._connection.run("wait", op)

    def close(self) -> None:
        """Log out quietly."""
        self._waiter.close()
        self._connection.close()

    def check(self) -> list[str]:
        """Connect, log in, make sure the folders exist; human lines for `mailbot check`."""
        return self._connection.run("check", self._check)

    def count_pending(self) -> int:
        """Messages in the folder, from EXAMINE's EXISTS (read-only: no flag changes)."""
        return self._connection.run("count", self._count)

    def archived(self, since: datetime | None) -> Iterator[MailboxItem]:
        """Filed messages (processed, then quarantine folder) received at or after `since`,
        oldest first, read-only (`mailbot restore`; see `mailbot.shell.archive`)."""
        folders = (self.settings.processed_folder, self.settings.quarantine_folder)
        return imap_archived(self._connection.run, folders, since)

    def reachable(self, timeout: float = 1.0) -> bool:
        """True when a TCP connection to the server's port opens (no login: a cheap probe)."""
        try:
            with socket.create_connection((self.settings.host, self.settings.port), timeout):
                return True
        except OSError:
            return False

    def use_credentials(self, settings: MailboxSettings) -> None:
        """Take a new password (SIGHUP after a failed login); the next connect uses it."""
        self._connection.use_credentials(settings)
        self.settings = replace(self.settings, password=settings.password)

    def interrupt(self) -> None:
        """End a running `wait()` at once, and every later one (shutdown; thread-safe)."""
        self._waiter.interrupt()

    # -- reading ---------------------------------------------------------------------------

    def _select(self, s: Session) -> int:
        """SELECT the folder, note its UIDVALIDITY; return EXISTS."""
        response = s.client.select_folder(self.settings.folder)
        s.selected = True
        validity = int(response[b"UIDVALIDITY"])
        if validity != self._uidvalidity:
            self._adopt_uidvalidity(validity)
        return int(response.get(b"EXISTS", 0))

    def _adopt_uidvalidity(self, validity: int) -> None:
        key = self._key("uidvalidity")
        stored = _int_or_none(self.state.state_get(key))
        if stored is not None and stored != validity:
            self._log.warning("imap_uidvalidity_changed", old=stored, new=validity)
        if stored != validity:
            self.state.state_set(key, str(validity))
            self.state.state_set(self._key("last_uid"), "0")
        self._uidvalidity = validity
        self._meta.clear()

    def _key(self, name: str) -> str:
        return f"imap:{self.settings.folder}:{name}"

    def _pending(self, s: Session, limit: int) -> list[MailboxItem]:
        if self._select(s) == 0:
            return []
        leaves_deleted = not ({b"MOVE", b"UIDPLUS"} & s.capabilities)
        uids = set(s.client.search("UNDELETED" if leaves_deleted else "ALL"))
        self._meta = {uid: meta for uid, meta in self._meta.items() if uid in uids}
        self._fetch_meta(s, sorted(uids - self._meta.keys()))
        order = _within_budget(
            sorted(self._meta, key=lambda uid: (self._meta[uid][0], uid))[:limit], self._meta
        )
        items: list[MailboxItem] = []
        for chunk in _chunks(order, self.batch):
            data = s.client.fetch(list(chunk), ["BODY.PEEK[]", "INTERNALDATE", "RFC822.SIZE"])
            where = f"imap:{self.settings.folder}:{self._uidvalidity}:"
            items.extend(
                MailboxItem(
                    str(uid),
                    bytes(f[_BODY]),
                    _received_at(f[_DATE]),
                    int(f[_SIZE]),
                    f"{where}{uid}",
                )
                for uid in chunk
                if _BODY in (f := data.get(uid, {}))  # else expunged by someone meanwhile
            )
        self._remember(uids, items)
        return items

    def _fetch_meta(self, s: Session, uids: Sequence[int]) -> None:
        for chunk in _chunks(uids, META_CHUNK):
            data = s.client.fetch(list(chunk), ["INTERNALDATE", "RFC822.SIZE"])
            for uid, fields in data.items():
                if uid in chunk and _DATE in fields:
                    self._meta[uid] = (_received_at(fields[_DATE]), int(fields[_SIZE]))

    def _remember(self, uids: set[int], items: list[MailboxItem]) -> None:
        validity = self._uidvalidity
        assert validity is not None
        self._handed = {
            key: v for key, v in self._handed.items() if v != validity or int(key) in uids
        }
        self._handed.update((item.key, validity) for item in items)
        last = max(uids, default=0)
        if last > (_int_or_none(self.state.state_get(self._key("last_uid"))) or 0):
            self.state.state_set(self._key("last_uid"), str(last))

    # -- moving ----------------------------------------------------------------------------

    def _mark(self, key: str, folder: str) -> None:
        self.mark_many([key], folder)

    def mark_processed_many(self, keys: Sequence[str]) -> None:
        """Move many messages to the processed folder in one MOVE (or COPY) command."""
        self.mark_many(keys, self.settings.processed_folder)

    def mark_many(self, keys: Sequence[str], folder: str) -> None:
        """Move the messages `keys` (UIDs) to `folder`; gone UIDs are no error."""
        for key in keys:
            if not key.isdigit() or int(key) == 0:
                raise MailboxUnavailable(f"IMAP {self.address}: key {key!r} is not a UID")
        if not keys:
            return
        self._connection.run("move", lambda s: self._move(s, keys, folder))
        for key in keys:
            self._handed.pop(key, None)

    def _move(self, s: Session, keys: Sequence[str], folder: str) -> None:
        if not s.selected:
            self._select(s)
        uids = []
        for key in keys:
            handed = self._handed.get(key)
            if handed is not None and handed != self._uidvalidity:
                # the message is still there under a new UID and comes round again
                self._log.warning("imap_stale_key_not_moved", key=key, uidvalidity=handed)
                continue
            uids.append(int(key))
        if not uids:
            return
        try:
            self._transfer(s, uids, folder)
        except IMAPClientError as exc:
            if isinstance(exc, imaplib.IMAP4.abort) or s.client.folder_exists(folder):
                raise
            self._log.info("imap_folder_created", created=folder)
            s.client.create_folder(folder)
            self._transfer(s, uids, folder)

    @staticmethod
    def _transfer(s: Session, uids: list[int], folder: str) -> None:
        if b"MOVE" in s.capabilities:
            s.client.move(uids, folder)
            return
        s.client.copy(uids, folder)
        s.client.add_flags(uids, [_DELETED], silent=True)
        if b"UIDPLUS" in s.capabilities:
            s.client.uid_expunge(uids)  # never a plain EXPUNGE: it would hit others' mail

    def _count(self, s: Session) -> int:
        """EXISTS of a read-only select; without MOVE or UIDPLUS, undeleted ones only."""
        response = s.client.select_folder(self.settings.folder, readonly=True)
        s.selected = False  # read-only now: the next move or wait selects again
        exists = int(response.get(b"EXISTS", 0))
        if exists and not ({b"MOVE", b"UIDPLUS"} & s.capabilities):
            return len(s.client.search("UNDELETED"))
        return exists

    # -- check -----------------------------------------------------------------------------

    def _check(self, s: Session) -> list[str]:
        mb = self.settings
        idle = "IDLE" if b"IDLE" in s.capabilities else "no IDLE"
        move = "MOVE" if b"MOVE" in s.capabilities else "no MOVE"
        how = " with XOAUTH2" if self._tokens is not None else ""
        lines = [
            f"IMAP {self.address}: logged in as {mb.username}{how} ({mb.security}, {idle}, {move})"
        ]
        if not s.client.folder_exists(mb.folder):
            raise MailboxUnavailable(f"IMAP {self.address}: folder {mb.folder!r} does not exist")
        waiting = self._select(s)
        lines.append(f"folder {mb.folder}: exists, {waiting} message(s) waiting")
        for role, name in (
            ("processed", mb.processed_folder),
            ("quarantine", mb.quarantine_folder),
        ):
            exists = s.client.folder_exists(name)
            if not exists:
                s.client.create_folder(name)
            lines.append(f"{role} folder {name}: {'exists' if exists else 'created'}")
        return lines


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _within_budget(order: list[int], meta: dict[int, tuple[datetime, int]]) -> list[int]:
    """The first UIDs of `order` whose sizes add up to BATCH_BYTES (at least one)."""
    chosen: list[int] = []
    total = 0
    for uid in order:
        if chosen and total >= BATCH_BYTES:
            break
        chosen.append(uid)
        total += meta[uid][1]
    return chosen

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

import contextlib
import imaplib
import ipaddress
import os
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailbot.core.config import MailboxSettings
from mailbot.core.errors import ConfigError, MailboxLoginFailed, MailboxUnavailable
from mailbot.shell.logs import get_logger
from mailbot.shell.mailbox import BATCH_BYTES, MailboxItem
from mailbot.shell.oauth import TokenProvider, TokenSource, TokenUnavailable, oauth_client

IDLE_RENEW_SECONDS = 25 * 60.0
"""Re-issue IDLE this often; servers may drop an IDLE after 29 minutes (RFC 2177)."""
MIN_POLL_SECONDS = 1.0
META_CHUNK = 1000
_BODY = b"BODY[]"
_DATE = b"INTERNALDATE"
_SIZE = b"RFC822.SIZE"
_DELETED = b"\\Deleted"
_LOST = (OSError, imaplib.IMAP4.abort)  # the connection is gone or unusable
T = TypeVar("T")
_XOAUTH2_HINT = (
    " (XOAUTH2: does the app have IMAP.AccessAsApp with admin consent, and its service"
    " principal FullAccess to this mailbox?)"
)


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


class _ServerBye(imaplib.IMAP4.abort):
    """The server said BYE while we were idling."""


@dataclass
class _Session:
    client: IMAPClient
    capabilities: frozenset[bytes]
    selected: bool = False


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (no DNS lookup)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def uid_set(uids: Iterable[int]) -> str:
    """An IMAP sequence set with ranges: [1, 2, 3, 7] → "1:3,7"."""
    runs: list[list[int]] = []
    for uid in sorted(set(uids)):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(low) if low == high else f"{low}:{high}" for low, high in runs)


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _text(exc: BaseException) -> str:
    """The server's words from an imaplib/imapclient error, without b'…' noise."""
    raw = exc.args[0] if exc.args else exc
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    text = re.sub(r"""\bb(['"])(.*?)\1""", r"\2", text)
    return " ".join(text.split()) or type(exc).__name__


def describe(exc: BaseException, timeout: float) -> str:
    """One line saying what went wrong with the connection."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"connection lost: {_text(exc)}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return _text(exc)


def _news(responses: Iterable[Any]) -> bool:
    """True when untagged responses announce new mail (EXISTS, or RECENT > 0)."""
    for response in responses:
        if len(response) >= 2 and response[1] == b"EXISTS":
            return True
        if len(response) >= 2 and response[1] == b"RECENT" and response[0]:
            return True
    return False


def _check_bye(responses: Iterable[Any]) -> None:
    for response in responses:
        if response and response[0] == b"BYE":
            words = b" ".join(part for part in response[1:] if isinstance(part, bytes))
            raise _ServerBye(f"server said BYE {words.decode(errors='replace')}".strip())


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
        _validate(settings)
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.settings = settings
        self.state: StateStore = state if state is not None else MemoryState()
        self.batch = batch
        self.timeout = timeout
        self.idle_renew = idle_renew
        self.address = f"{settings.host}:{settings.port}"
        self._context = _tls_context(settings) if settings.security != "plain" else None
        self._password = settings.password.reveal() if settings.password else ""
        self._tokens = _token_source(settings, tokens)
        self._session: _Session | None = None
        self._uidvalidity: int | None = None
        self._meta: dict[int, tuple[datetime, int]] = {}  # uid → (received_at, size)
        self._handed: dict[str, int] = {}  # key → UIDVALIDITY it was handed out under
        self._log = get_logger(mailbox=self.address, folder=settings.folder)
        self._interrupted = False
        self._wake: tuple[int, int] | None = None  # pipe that ends a wait (interrupt)
        self._wake_lock = threading.Lock()

    # -- the Mailbox protocol --------------------------------------------------------------

    def pending(self, limit: int = 50) -> list[MailboxItem]:
        """Messages in the folder, oldest INTERNALDATE first (ties by UID), at most `limit`."""
        if limit <= 0:
            return []
        return self._run("fetch", lambda s: self._pending(s, limit))

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
        if self._interrupted:
            return False
        deadline = time.monotonic() + max(timeout, 0.0)
        before = self._session

        def op(session: _Session) -> bool:
            if session is not before:
                self._select(session)
                return True
            if not session.selected:
                self._select(session)
            if self.settings.idle and b"IDLE" in session.capabilities:
                return self._idle(session, deadline)
            return self._poll(session, deadline)

        return self._run("wait", op)

    def close(self) -> None:
        """Log out quietly."""
        with self._wake_lock:
            wake, self._wake = self._wake, None
        for fd in wake or ():
            os.close(fd)
        session, self._session = self._session, None
        if session is not None:
            try:
                session.client.logout()
            except Exception:  # closing: the connection may be dead already
                _shutdown(session.client)

    def check(self) -> list[str]:
        """Connect, log in, make sure the folders exist; human lines for `mailbot check`."""
        return self._run("check", self._check)

    def count_pending(self) -> int:
        """Messages in the folder, from EXAMINE's EXISTS (read-only: no flag changes)."""
        return self._run("count", self._count)

    def reachable(self, timeout: float = 1.0) -> bool:
        """True when a TCP connection to the server's port opens (no login: a cheap probe)."""
        try:
            with socket.create_connection((self.settings.host, self.settings.port), timeout):
                return True
        except OSError:
            return False

    def use_credentials(self, settings: MailboxSettings) -> None:
        """Take a new password (SIGHUP after a failed login); the next connect uses it."""
        self._password = settings.password.reveal() if settings.password else ""
        self.settings = replace(self.settings, password=settings.password)

    # -- connection ------------------------------------------------------------------------

    def _run(self, what: str, op: Callable[[_Session], T]) -> T:
        """Run `op` on a live session; reconnect once if a reused connection was dead."""
        reused = self._session is not None
        try:
            return op(self._session or self._connect())
        except _LOST as exc:
            self._drop()
            if not reused:
                raise self._unavailable(exc) from exc
            self._log.info("imap_reconnect", reason=describe(exc, self.timeout))
        except IMAPClientError as exc:
            self._drop()
            raise MailboxUnavailable(f"IMAP {self.address}: {what} failed: {_text(exc)}") from exc
        except BaseException:
            self._drop()
            raise
        return self._run(what, op)  # once: there is no session now, so no second retry

    def _connect(self) -> _Session:
        mb = self.settings
        token = self._access_token()
        try:
            client = IMAPClient(
                mb.host,
                mb.port,
                ssl=mb.security == "tls",
                ssl_context=self._context,
                timeout=self.timeout,
            )
        except (*_LOST, IMAPClientError) as exc:
            raise self._unavailable(exc) from exc
        try:
            if mb.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise MailboxUnavailable(f"IMAP {self.address}: server does not offer STARTTLS")
                client.starttls(self._context)
            self._login(client, token)
            capabilities = frozenset(client.capabilities())
        except LoginError as exc:
            _shutdown(client)
            raise MailboxLoginFailed(
                f"IMAP {self.address}: login failed for {mb.username}: {_text(exc)}"
                + (_XOAUTH2_HINT if token is not None else "")
            ) from exc
        except (*_LOST, IMAPClientError) as exc:
            _shutdown(client)
            raise self._unavailable(exc) from exc
        except BaseException:
            _shutdown(client)
            raise
        client.normalise_times = False
        self._session = _Session(client, capabilities)
        return self._session

    def _access_token(self) -> str | None:
        """The OAuth2 access token for XOAUTH2, or None with password auth."""
        if self._tokens is None:
            return None
        try:
            return self._tokens.token()
        except TokenUnavailable as exc:
            raise MailboxUnavailable(f"IMAP {self.address}: {exc}") from exc

    def _login(self, client: IMAPClient, token: str | None) -> None:
        if self._tokens is None or token is None:
            client.login(self.settings.username, self._password)
            return
        try:
            client.oauth2_login(self.settings.username, token)
        except LoginError:
            self._tokens.forget(token)  # fetch a fresh one next time
            raise

    def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            _shutdown(session.client)

    def _unavailable(self, exc: BaseException) -> MailboxUnavailable:
        return MailboxUnavailable(f"IMAP {self.address}: {describe(exc, self.timeout)}")

    # -- reading ---------------------------------------------------------------------------

    def _select(self, s: _Session) -> int:
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

    def _pending(self, s: _Session, limit: int) -> list[MailboxItem]:
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
            data = s.client.fetch(uid_set(chunk), ["BODY.PEEK[]", "INTERNALDATE", "RFC822.SIZE"])
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

    def _fetch_meta(self, s: _Session, uids: Sequence[int]) -> None:
        for chunk in _chunks(uids, META_CHUNK):
            data = s.client.fetch(uid_set(chunk), ["INTERNALDATE", "RFC822.SIZE"])
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
        self._run("move", lambda s: self._move(s, keys, folder))
        for key in keys:
            self._handed.pop(key, None)

    def _move(self, s: _Session, keys: Sequence[str], folder: str) -> None:
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
    def _transfer(s: _Session, uids: list[int], folder: str) -> None:
        if b"MOVE" in s.capabilities:
            s.client.move(uids, folder)
            return
        s.client.copy(uids, folder)
        s.client.add_flags(uids, [_DELETED], silent=True)
        if b"UIDPLUS" in s.capabilities:
            s.client.uid_expunge(uids)  # never a plain EXPUNGE: it would hit others' mail

    # -- waiting ---------------------------------------------------------------------------

    def interrupt(self) -> None:
        """End a running `wait()` at once, and every later one (shutdown; thread-safe)."""
        with self._wake_lock:
            self._interrupted = True
            if self._wake is not None:
                with contextlib.suppress(OSError):  # full pipe: a wake-up is pending anyway
                    os.write(self._wake[1], b"!")

    def _wake_fd(self) -> int:
        """The read end of the pipe `interrupt()` writes to (made on first use)."""
        with self._wake_lock:
            if self._wake is None:
                read, write = os.pipe()
                os.set_blocking(read, False)
                os.set_blocking(write, False)
                self._wake = (read, write)
            return self._wake[0]

    def _readable(self, sock: socket.socket | None, timeout: float) -> bool:
        """Block until `sock` is readable (True), `timeout` passes or interrupt() (False)."""
        wake = self._wake_fd()
        if self._interrupted:  # set before the pipe existed
            return False
        poller = select.poll()  # not select(): descriptors may be above 1024
        poller.register(wake, select.POLLIN)
        if sock is not None:
            poller.register(sock.fileno(), select.POLLIN)
        ready = {fd for fd, _ in poller.poll(max(timeout, 0.0) * 1000)}
        return sock is not None and sock.fileno() in ready and wake not in ready

    def _idle(self, s: _Session, deadline: float) -> bool:
        client = s.client
        if self._start_idle(client):
            return True
        started = time.monotonic()
        while (now := time.monotonic()) < deadline:
            window = min(deadline - now, started + self.idle_renew - now)
            woken = window > 0 and self._readable(client.socket(), window)
            if self._interrupted:
                try:
                    client.idle_done()
                except (*_LOST, IMAPClientError):  # shutting down: no reconnect for this
                    self._drop()
                return False
            responses = client.idle_check(timeout=0) if woken else []
            _check_bye(responses)
            if _news(responses):
                client.idle_done()
                return True
            early = not responses and time.monotonic() - now < window / 2
            if early or time.monotonic() - started >= self.idle_renew:
                # renewal due, or woken without a whole line (EOF looks like this): DONE
                # answers on a live connection and raises on a dead one
                if _news(client.idle_done()[1]) or self._start_idle(client):
                    return True
                started = time.monotonic()
        return _news(client.idle_done()[1])

    def _start_idle(self, client: IMAPClient) -> bool:
        """Enter IDLE; True (IDLE ended) when news came in the same read as "+ idling".

        imaplib reads the continuation through a buffer; lines that arrived with it sit
        there, where idle_check's socket poll cannot see them.
        """
        client.idle()
        if not _buffered(client, self.timeout):
            return False
        if _news(client.idle_done()[1]):
            return True
        client.idle()
        return False

    def _poll(self, s: _Session, deadline: float) -> bool:
        interval = max(float(self.settings.poll_seconds), MIN_POLL_SECONDS)
        while True:
            if _news(s.client.noop()[1]):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._interrupted:
                return False
            self._readable(None, min(interval, remaining))

    def _count(self, s: _Session) -> int:
        """EXISTS of a read-only select; without MOVE or UIDPLUS, undeleted ones only."""
        response = s.client.select_folder(self.settings.folder, readonly=True)
        s.selected = False  # read-only now: the next move or wait selects again
        exists = int(response.get(b"EXISTS", 0))
        if exists and not ({b"MOVE", b"UIDPLUS"} & s.capabilities):
            return len(s.client.search("UNDELETED"))
        return exists

    # -- check -----------------------------------------------------------------------------

    def _check(self, s: _Session) -> list[str]:
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


def _buffered(client: IMAPClient, timeout: float) -> bool:
    """True when imaplib's reader holds bytes not yet parsed (peek without blocking)."""
    reader = getattr(client._imap, "file", None)  # imaplib's line buffer
    if reader is None or not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    sock.setblocking(False)
    try:
        return bool(reader.peek(1))
    except OSError:  # nothing buffered, nothing on the socket (plain or TLS)
        return False
    finally:
        sock.settimeout(timeout)


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _shutdown(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):  # best effort on a connection we give up
        client.shutdown()


def _validate(mb: MailboxSettings) -> None:
    where = "[mailbox]"
    if not mb.host:
        raise ConfigError(f"{where} host is required for the imap backend")
    if not mb.username:
        raise ConfigError(f"{where} username is required for the imap backend")
    if mb.auth == "password" and mb.password is None:
        raise ConfigError(
            f"{where} password is not set for {mb.username} "
            "(password, password_file or MAILBOT_IMAP_PASSWORD)"
        )
    if mb.security not in ("tls", "starttls", "plain"):
        raise ConfigError(f"{where} security: must be tls, starttls or plain, got {mb.security!r}")
    if mb.security == "plain" and not is_loopback(mb.host):
        raise ConfigError(
            f'{where} security = "plain" would send the password unencrypted to {mb.host}; '
            "it is only allowed for a loopback host (use tls or starttls)"
        )
    if mb.security != "tls" and mb.port == 993:
        raise ConfigError(
            f'{where} port 993 is the implicit-TLS port; with security = "{mb.security}" '
            "set port (usually 143)"
        )


def _token_source(mb: MailboxSettings, given: TokenSource | None) -> TokenSource | None:
    """The token source for auth = "xoauth2" (the given one, else a new provider)."""
    if mb.auth != "xoauth2":
        return None
    return given if given is not None else TokenProvider(oauth_client(mb), "mailbox")


def _tls_context(mb: MailboxSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(mb.ca_file) if mb.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[mailbox] ca_file {mb.ca_file}: cannot load: {exc}") from exc


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

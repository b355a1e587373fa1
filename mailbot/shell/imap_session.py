"""The IMAP connection of one mailbox: TLS or STARTTLS, login (password or XOAUTH2), and
the one-line reasons a connection fails with.

The connection is opened lazily. Any failure drops it and raises `MailboxUnavailable`
with one line naming host:port and the cause; the next call reconnects (a call on a
connection that turns out dead reconnects once by itself). Not thread-safe.

A port that speaks otherwise than `security` says (plain text for "tls", implicit TLS
for "starttls" or "plain") gets the line naming the setting that fits it
(tls.Endpoint) within about GREETING_WAIT s, not after `timeout`; imapclient's own
warning about TLS to port 143 is left out for that line.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout

from mailbot.core.config import IMAP_PORTS, MailboxSettings
from mailbot.core.errors import ConfigError, MailboxLoginFailed, MailboxUnavailable
from mailbot.shell.logs import get_logger
from mailbot.shell.oauth import TokenProvider, TokenSource, TokenUnavailable, oauth_client
from mailbot.shell.tls import Endpoint, greeting_wait, silent, tls_context, tls_problem

LOST = (OSError, imaplib.IMAP4.abort)
"""The connection is gone or unusable."""
T = TypeVar("T")
_XOAUTH2_HINT = (
    " (XOAUTH2: does the app have IMAP.AccessAsApp with admin consent, and its service"
    " principal FullAccess to this mailbox?)"
)


@dataclass
class Session:
    """A logged-in client, what the server can do, and whether the folder is selected."""

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


def server_text(exc: BaseException) -> str:
    """The server's words from an imaplib/imapclient error, without b'…' noise."""
    raw = exc.args[0] if exc.args else exc
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    text = re.sub(r"""\bb(['"])(.*?)\1""", r"\2", text)
    return " ".join(text.split()) or type(exc).__name__


def describe(exc: BaseException, timeout: float) -> str:
    """One line saying what went wrong with the connection."""
    problem = tls_problem(exc)
    if problem is not None:
        return problem
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"connection lost: {server_text(exc)}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return server_text(exc)


def shutdown(client: IMAPClient) -> None:
    """Close the socket of a connection we give up, best effort."""
    with contextlib.suppress(Exception):
        client.shutdown()


def validate(mb: MailboxSettings) -> None:
    """Refuse settings the imap backend cannot work with, naming the key."""
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


def _no_port_143_warning(record: logging.LogRecord) -> bool:
    """imapclient warns before it tries TLS to port 143; a mismatch gets our own line."""
    return not record.getMessage().startswith("Attempting to establish an encrypted")


logging.getLogger("imapclient.imapclient").addFilter(_no_port_143_warning)


class _GreetedIMAP4(IMAP4WithTimeout):  # type: ignore[misc]  # imapclient is untyped
    """imapclient's plain-text connection; calls `on_silence` (which may raise) when the
    server has not greeted within GREETING_WAIT s of the TCP connect."""

    def __init__(
        self, host: str, port: int, timeout: float, on_silence: Callable[[], None]
    ) -> None:
        self._on_silence = on_silence
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock: socket.socket = super()._create_socket(timeout)
        if silent(sock, greeting_wait(sock.gettimeout())):
            try:
                self._on_silence()
            except BaseException:
                sock.close()
                raise
        return sock


class _Client(IMAPClient):  # type: ignore[misc]  # imapclient is untyped
    """An IMAPClient whose plain-text connect (starttls, plain) notices a silent server."""

    def __init__(
        self,
        mb: MailboxSettings,
        context: ssl.SSLContext | None,
        timeout: float,
        on_silence: Callable[[], None],
    ) -> None:
        self._connect_timeout = timeout
        self._on_silence = on_silence
        tls = mb.security == "tls"
        super().__init__(mb.host, mb.port, ssl=tls, ssl_context=context, timeout=timeout)

    def _create_IMAP4(self) -> imaplib.IMAP4:
        if self.ssl:
            return super()._create_IMAP4()  # type: ignore[no-any-return]
        return _GreetedIMAP4(self.host, self.port, self._connect_timeout, self._on_silence)


class ImapConnection:
    """The lazily opened, logged-in connection of one mailbox (settings already validated)."""

    def __init__(self, settings: MailboxSettings, timeout: float, tokens: TokenSource | None):
        self.settings = settings
        self.timeout = timeout
        self.address = f"{settings.host}:{settings.port}"
        self._context = (
            tls_context("mailbox", settings.ca_file) if settings.security != "plain" else None
        )
        self._password = settings.password.reveal() if settings.password else ""
        self.tokens = _token_source(settings, tokens)
        """With a token source, login is XOAUTH2 with its access token instead of a password."""
        self.session: Session | None = None
        self._log = get_logger(mailbox=self.address, folder=settings.folder)
        self._endpoint = Endpoint(
            "mailbox", settings.host, settings.port, settings.security, IMAP_PORTS
        )

    def run(self, what: str, op: Callable[[Session], T]) -> T:
        """Run `op` on a live session; reconnect once if a reused connection was dead."""
        reused = self.session is not None
        try:
            return op(self.session or self._connect())
        except LOST as exc:
            self.drop()
            if not reused:
                raise self._unavailable(exc) from exc
            self._log.info("imap_reconnect", reason=describe(exc, self.timeout))
        except IMAPClientError as exc:
            self.drop()
            message = f"IMAP {self.address}: {what} failed: {server_text(exc)}"
            raise MailboxUnavailable(message) from exc
        except BaseException:
            self.drop()
            raise
        return self.run(what, op)  # once: there is no session now, so no second retry

    def use_credentials(self, settings: MailboxSettings) -> None:
        """Take a new password; the next connect uses it."""
        self._password = settings.password.reveal() if settings.password else ""
        self.settings = replace(self.settings, password=settings.password)

    def drop(self) -> None:
        """Give up the connection without a word to the server."""
        session, self.session = self.session, None
        if session is not None:
            shutdown(session.client)

    def close(self) -> None:
        """Log out quietly."""
        session, self.session = self.session, None
        if session is not None:
            try:
                session.client.logout()
            except Exception:  # closing: the connection may be dead already
                shutdown(session.client)

    def _connect(self) -> Session:
        mb = self.settings
        token = self._access_token()
        try:
            client = _Client(mb, self._context, self.timeout, self._silent_server)
        except (*LOST, IMAPClientError) as exc:
            raise self._unavailable(exc, self._endpoint.after_tls_failure(exc)) from exc
        try:
            if mb.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise MailboxUnavailable(f"IMAP {self.address}: server does not offer STARTTLS")
                client.starttls(self._context)
            self._login(client, token)
            capabilities = frozenset(client.capabilities())
        except LoginError as exc:
            shutdown(client)
            raise MailboxLoginFailed(
                f"IMAP {self.address}: login failed for {mb.username}: {server_text(exc)}"
                + (_XOAUTH2_HINT if token is not None else "")
            ) from exc
        except (*LOST, IMAPClientError) as exc:
            shutdown(client)
            raise self._unavailable(exc) from exc
        except BaseException:
            shutdown(client)
            raise
        client.normalise_times = False
        self.session = Session(client, capabilities)
        return self.session

    def _access_token(self) -> str | None:
        """The OAuth2 access token for XOAUTH2, or None with password auth."""
        if self.tokens is None:
            return None
        try:
            return self.tokens.token()
        except TokenUnavailable as exc:
            raise MailboxUnavailable(f"IMAP {self.address}: {exc}") from exc

    def _login(self, client: IMAPClient, token: str | None) -> None:
        if self.tokens is None or token is None:
            client.login(self.settings.username, self._password)
            return
        try:
            client.oauth2_login(self.settings.username, token)
        except LoginError:
            self.tokens.forget(token)  # fetch a fresh one next time
            raise

    def _silent_server(self) -> None:
        """No greeting yet: an implicit-TLS port is named at once, else we wait on."""
        hint = self._endpoint.after_silence()
        if hint is not None:
            raise MailboxUnavailable(f"IMAP {self.address}: {hint}")

    def _unavailable(self, exc: BaseException, hint: str | None = None) -> MailboxUnavailable:
        why = hint if hint is not None else describe(exc, self.timeout)
        return MailboxUnavailable(f"IMAP {self.address}: {why}")

"""SMTP submission (DESIGN.md §7): the `Transport` that hands mail to a real server.

Errors follow what the outbox must do with the mail:

- `TransportTemporaryError`: keep it queued and retry later. Connection refused or
  lost, timeouts, any 4xx, and every failure while setting up the session
  (greeting, EHLO, TLS, STARTTLS missing, AUTH refused): the message itself was
  never judged, so it waits until the admin or the server fixes that — as Postfix
  defers mail in those cases.
- `TransportPermanentError`: mark it failed. A 5xx answer to MAIL FROM, RCPT TO or
  DATA, or an address that cannot be put on an SMTP command line.

A recipient refused at RCPT stops the transaction before DATA, so nobody gets the
mail: one outbox row has one truthful status and a retry never sends a copy twice.

A port that speaks otherwise than `security` says (plain text for "tls", implicit TLS
for "starttls" or "plain") fails with the line naming the setting that fits it
(tls.Endpoint), within about GREETING_WAIT s, not after `timeout`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import aiosmtplib
from aiosmtplib.email import parse_address

from mailbot.core.config import SMTP_PORTS
from mailbot.core.errors import ConfigError, TransportPermanentError, TransportTemporaryError
from mailbot.shell.oauth import TokenSource, TokenUnavailable
from mailbot.shell.tls import Endpoint, greeting_wait, tls_context, tls_problem

Security = Literal["tls", "starttls", "plain"]
_SECURITY = ("tls", "starttls", "plain")
_TransportError = TransportTemporaryError | TransportPermanentError
_XOAUTH2_HINT = (
    " (XOAUTH2: does the app have SMTP.SendAsApp with admin consent, SMTP AUTH enabled"
    " for the mailbox, and its service principal access to it?)"
)


class _StaleConnectionError(Exception):
    """A reused connection turned out dead before the transaction began."""


class SmtpTransport:
    """SMTP submission with aiosmtplib; one connection reused while it lives."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security | str,  # config hands a str; checked here
        username: str | None,
        password: str | None,
        *,
        timeout: float = 30,
        ca_file: Path | None = None,
        verify: bool = True,
        local_hostname: str | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        if security not in _SECURITY:
            raise ConfigError(f"[outbound] security {security!r}: use one of {_SECURITY}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.verify = verify
        self.local_hostname = local_hostname
        self.tokens = tokens
        """With a token source, AUTH is XOAUTH2 with its access token instead of a password."""
        self._tls = tls_context("outbound", ca_file, verify) if security != "plain" else None
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._endpoint = Endpoint("outbound", host, port, security, SMTP_PORTS)

    @property
    def where(self) -> str:
        """`host:port` as used in every error message."""
        return f"SMTP server {self.host}:{self.port}"

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Send `raw` as it is; reconnect once when the reused connection had died."""
        _check_envelope(sender, recipients)
        async with self._lock:
            reused = self._client is not None and self._client.is_connected
            client = self._client if reused and self._client else await self._connect()
            try:
                await self._transaction(client, sender, recipients, raw, reused=reused)
            except _StaleConnectionError:
                self._drop()
                client = await self._connect()
                await self._transaction(client, sender, recipients, raw, reused=False)

    async def check(self) -> list[str]:
        """Connect, EHLO, STARTTLS and AUTH as configured, send nothing; say what worked."""
        lines: list[str] = []
        await _quit(await self._open(lines))
        return lines

    async def close(self) -> None:
        """Say QUIT politely and close the connection."""
        async with self._lock:
            client, self._client = self._client, None
            if client is not None and client.is_connected:
                await _quit(client)

    async def _connect(self) -> aiosmtplib.SMTP:
        self._drop()
        self._client = await self._open([])
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _open(self, lines: list[str]) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=self.local_hostname,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=False,
            tls_context=self._tls,
        )
        stage = "connect"
        try:
            greeting = await self._greet(client)
            lines.append(f"connected to {self.host}:{self.port}: {_reply(greeting)}")
            if self.security == "tls":
                lines.append(f"implicit TLS: {self._tls_summary(client)}")
            stage = "EHLO"
            await client.ehlo()
            if self.security == "starttls":
                stage = "STARTTLS"
                await self._starttls(client, lines)
            elif self.security == "plain":
                lines.append("no TLS (security = plain): mail travels in clear")
            stage = "AUTH"
            await self._login(client, lines)
        except (TransportTemporaryError, TransportPermanentError):
            client.close()
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise TransportTemporaryError(
                f"{self.where}: {stage} failed: {self._why(exc)}"
            ) from exc
        return client

    async def _greet(self, client: aiosmtplib.SMTP) -> aiosmtplib.SMTPResponse:
        """Connect and read the greeting; a port speaking otherwise than `security` says
        fails with the hint (a silent server is asked after GREETING_WAIT s, not `timeout`)."""
        wait = greeting_wait(self.timeout)
        connecting = asyncio.ensure_future(client.connect())
        try:
            while self.security != "tls" and not connecting.done():
                await asyncio.wait({connecting}, timeout=wait)
                if client.is_connected and not connecting.done():  # connected, not greeted
                    hint = await asyncio.to_thread(self._endpoint.after_silence)
                    if hint is not None:
                        raise TransportTemporaryError(f"{self.where}: {hint}")
                    break
            return await connecting
        except (aiosmtplib.SMTPException, OSError) as exc:
            hint = await asyncio.to_thread(self._endpoint.after_tls_failure, exc)
            if hint is None:
                raise
            raise TransportTemporaryError(f"{self.where}: {hint}") from exc
        finally:
            connecting.cancel()  # nothing when it is done; else it stops with us

    async def _starttls(self, client: aiosmtplib.SMTP, lines: list[str]) -> None:
        if not client.supports_extension("starttls"):
            raise TransportTemporaryError(
                f"{self.where} does not offer STARTTLS; refusing to send in clear "
                "(security = starttls)"
            )
        await client.starttls()
        await client.ehlo()
        lines.append(f"STARTTLS: {self._tls_summary(client)}")

    async def _login(self, client: aiosmtplib.SMTP, lines: list[str]) -> None:
        if self.username is None:
            lines.append("no AUTH (no username configured)")
            return
        if not client.supports_extension("auth"):
            raise TransportTemporaryError(
                f"{self.where} does not offer AUTH on this connection; "
                f"cannot log in as {self.username!r}"
            )
        try:
            response = await self._authenticate(client, self.username)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TransportTemporaryError(
                f"{self.where}: authentication as {self.username!r} failed: "
                f"{exc.code} {exc.message}" + (_XOAUTH2_HINT if self.tokens else "")
            ) from exc
        how = " with XOAUTH2" if self.tokens else ""
        lines.append(f"AUTH as {self.username!r}{how}: {_reply(response)}")

    async def _authenticate(
        self, client: aiosmtplib.SMTP, username: str
    ) -> aiosmtplib.SMTPResponse:
        """AUTH with the password, or XOAUTH2 with an access token from `tokens`."""
        if self.tokens is None:
            return await client.login(username, self.password or "")
        if "xoauth2" not in client.server_auth_methods:
            offered = " ".join(client.server_auth_methods).upper() or "none"
            raise TransportTemporaryError(
                f"{self.where} does not offer AUTH XOAUTH2 (offers: {offered})"
            )
        try:
            token = await asyncio.to_thread(self.tokens.token)
        except TokenUnavailable as exc:
            raise TransportTemporaryError(f"{self.where}: {exc}") from exc
        try:
            return await client.auth_xoauth2(username, token)
        except aiosmtplib.SMTPAuthenticationError:
            self.tokens.forget(token)  # fetch a fresh one next time
            raise

    def _tls_summary(self, client: aiosmtplib.SMTP) -> str:
        ssl_object = client.get_transport_info("ssl_object")
        version = ssl_object.version() if ssl_object is not None else "unknown version"
        trust = "certificate verified" if self.verify else "certificate NOT verified (verify off)"
        return f"{version}, {trust}"

    def _why(self, exc: BaseException) -> str:
        problem = tls_problem(exc)
        if problem is not None:
            return problem
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return f"{exc.code} {exc.message}"
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout} s ({exc})"
        return str(exc) or type(exc).__name__

    async def _transaction(
        self,
        client: aiosmtplib.SMTP,
        sender: str,
        recipients: Sequence[str],
        raw: bytes,
        *,
        reused: bool,
    ) -> None:
        encoding, options = self._mail_options(client, sender, recipients, raw)
        try:
            await client.mail(sender, options=options, encoding=encoding)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            if reused:
                raise _StaleConnectionError from exc
            raise self._lost("MAIL FROM", exc) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if reused and exc.code == 421:
                raise _StaleConnectionError from exc
            raise await self._refused(client, f"sender {sender!r}", exc) from exc
        await self._recipients(client, recipients, encoding)
        try:
            await client.data(raw)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise self._lost("DATA", exc) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise await self._refused(client, "the message", exc) from exc

    def _mail_options(
        self, client: aiosmtplib.SMTP, sender: str, recipients: Sequence[str], raw: bytes
    ) -> tuple[str, list[str]]:
        options = (
            ["BODY=8BITMIME"] if not raw.isascii() and client.supports_extension("8bitmime") else []
        )
        wide = [a for a in (sender, *recipients) if not a.isascii()]
        if not wide:
            return "ascii", options
        if not client.supports_extension("smtputf8"):
            raise TransportPermanentError(
                f"{self.where} does not offer SMTPUTF8, needed for address {wide[0]!r}"
            )
        return "utf-8", [*options, "SMTPUTF8"]

    async def _recipients(
        self, client: aiosmtplib.SMTP, recipients: Sequence[str], encoding: str
    ) -> None:
        refused: list[aiosmtplib.SMTPRecipientRefused] = []
        for address in recipients:
            try:
                await client.rcpt(address, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
                raise self._lost("RCPT TO", exc) from exc
        if not refused:
            return
        await self._reset(client)
        detail = "; ".join(f"{e.recipient!r} ({e.code} {e.message})" for e in refused)
        permanent = any(e.code >= 500 for e in refused)
        kind = TransportPermanentError if permanent else TransportTemporaryError
        raise kind(f"{self.where} refused recipient {detail}; the mail was sent to nobody")

    async def _refused(
        self, client: aiosmtplib.SMTP, what: str, exc: aiosmtplib.SMTPResponseException
    ) -> _TransportError:
        await self._reset(client)
        kind = TransportPermanentError if 500 <= exc.code < 600 else TransportTemporaryError
        return kind(f"{self.where} refused {what}: {exc.code} {exc.message}")

    def _lost(self, stage: str, exc: Exception) -> TransportTemporaryError:
        self._drop()
        return TransportTemporaryError(
            f"{self.where}: connection lost at {stage}: {self._why(exc)}"
        )

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """RSET the envelope so the connection can be reused; drop it if that fails."""
        if not client.is_connected:
            self._drop()
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self._drop()


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
"""The common case of an envelope address, checked without parsing."""


def _check_envelope(sender: str, recipients: Sequence[str]) -> None:
    if isinstance(recipients, str) or not recipients:
        raise TransportPermanentError(
            f"mail from {sender!r} needs a list of recipients, got {recipients!r}"
        )
    for address in (sender, *recipients):
        if _PLAIN_ADDRESS.fullmatch(address):
            continue  # a dot-atom@domain: parse_address gives it back unchanged
        try:
            bare = parse_address(address)
        except ValueError:
            bare = None
        if bare != address:  # aiosmtplib would silently drop a display name or a tail
            raise TransportPermanentError(
                f"address {address!r} cannot be used in an SMTP envelope (bare addr-spec only)"
            )


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say QUIT politely, then close the connection whatever the answer."""
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def _reply(response: aiosmtplib.SMTPResponse) -> str:
    return f"{response.code} {response.message.splitlines()[0] if response.message else ''}"

"""Shared fixtures: a real aiosmtpd SMTP server on 127.0.0.1 (DESIGN.md §9).

`smtp_server` is a plain server; `smtp_server_tls_auth` requires STARTTLS and AUTH
(self-signed certificate made with the openssl CLI); `smtp_server_implicit_tls`
speaks TLS from the first byte. Each yields an `SmtpTestServer`:

    server.host, server.port          where to connect
    server.messages                   [(mail_from, rcpt_tos, data bytes)] accepted so far
    server.connections                how many clients said EHLO/HELO
    server.fail_data_with("451 4.3.0 try later", times=1)
    server.fail_mail_with("421 4.4.2 idle", times=1)
    server.refuse_rcpt("x@example.test", "550 5.1.1 no such user")
    server.disconnect_clients()       close every open connection from the server side
    server.username / server.password / server.cert_file   (TLS/AUTH variants)

`smtp_server_xoauth2` requires STARTTLS and AUTH and offers XOAUTH2 the way Exchange
Online does (an `XOAuth2TestServer`: `server.token` is the one bearer token it accepts
for `server.username`; `server.xoauth2_logins` records (user, token) of every attempt).

`dovecot` yields a fresh account on a private Dovecot started once per session
(tests/dovecot.py: plain, STARTTLS and implicit TLS; skipped when Dovecot is absent
unless MAILBOT_REQUIRE_DOVECOT=1). Tests using it are marked `@pytest.mark.dovecot`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from dovecot import DovecotAccount, DovecotServer, dovecot_binary, make_certificate
from factories import free_port

# CI runs every property test on the same examples (`HYPOTHESIS_PROFILE=ci`, set by .ci/run),
# so that a landing is judged on a fixed set; a run on a developer's machine draws anew.
hypothesis.settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


class SmtpTestServer:
    """A running aiosmtpd that records what it accepts and fails on demand."""

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        cert_file: Path | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.username = username
        self.password = password
        self.cert_file = cert_file
        self.messages: list[tuple[str, list[str], bytes]] = []
        self._lock = threading.Lock()
        self._peers: set[Any] = set()
        self._data_faults: list[str] = []
        self._mail_faults: list[str] = []
        self._rcpt_refusals: dict[str, str] = {}
        self._protocols: list[SMTP] = []
        self._controller: Controller | None = None
        self.data_delay = 0.0
        """Seconds each DATA waits before its reply (a slow server)."""
        self.on_accept: Callable[[], None] | None = None
        """Called (in the server's thread) after a DATA is recorded, before the 250."""

    @property
    def connections(self) -> int:
        """Number of client connections that got as far as EHLO/HELO."""
        with self._lock:
            return len(self._peers)

    def fail_data_with(self, reply: str, times: int = 1) -> None:
        """Answer the next `times` DATA commands with `reply` instead of accepting."""
        with self._lock:
            self._data_faults.extend([reply] * times)

    def fail_mail_with(self, reply: str, times: int = 1) -> None:
        """Answer the next `times` MAIL FROM commands with `reply`."""
        with self._lock:
            self._mail_faults.extend([reply] * times)

    def refuse_rcpt(self, address: str, reply: str) -> None:
        """Answer every RCPT TO for `address` (case-insensitive) with `reply`."""
        with self._lock:
            self._rcpt_refusals[address.lower()] = reply

    def disconnect_clients(self) -> None:
        """Close every open client connection from the server side; returns when done."""
        assert self._controller is not None

        async def close_all() -> None:
            for protocol in self._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()

        future = asyncio.run_coroutine_threadsafe(close_all(), self._controller.loop)
        future.result(timeout=5)

    def start(self, **smtp_kwargs: Any) -> None:
        """Start on a free loopback port; `smtp_kwargs` go to aiosmtpd's Controller."""
        self.port = free_port()
        controller = _RecordingController(self, hostname=self.host, port=self.port, **smtp_kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop the server thread; open connections are dropped."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _take(self, faults: list[str]) -> str | None:
        with self._lock:
            return faults.pop(0) if faults else None

    # aiosmtpd handler hooks (called in the server's thread)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        with self._lock:
            self._peers.add(session.peer)
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self._take(self._mail_faults)
        if fault is not None:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            refusal = self._rcpt_refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self._take(self._data_faults)
        if fault is not None:
            return fault
        assert envelope.mail_from is not None
        assert envelope.original_content is not None
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self._lock:
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        if self.on_accept is not None:
            self.on_accept()
        return "250 2.0.0 OK queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator: handled=False so a failure gets a 535 reply."""
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)


class _RecordingController(Controller):
    """Controller whose server objects are remembered, to drop their connections."""

    def __init__(self, recorder: SmtpTestServer, **kwargs: Any) -> None:
        super().__init__(recorder, **kwargs)
        self._recorder = recorder

    def factory(self) -> SMTP:
        with warnings.catch_warnings():  # implicit TLS: AUTH without STARTTLS is fine here
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            protocol = super().factory()
        self._recorder._protocols.append(protocol)
        return protocol


class XOAuth2TestServer(SmtpTestServer):
    """An SmtpTestServer that also offers AUTH XOAUTH2 and accepts one bearer token."""

    def __init__(self, username: str, token: str, cert_file: Path | None = None) -> None:
        super().__init__(username, None, cert_file)
        self.token = token
        self.xoauth2_logins: list[tuple[str, str]] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """aiosmtpd hook for AUTH XOAUTH2: base64 of "user=U^Aauth=Bearer T^A^A".

        A refused token gets what Exchange and Gmail send: a 334 challenge with a JSON
        error, then 535 once the client answers with an empty line.
        """
        blob = args[1] if len(args) > 1 else ""
        try:
            fields = dict(
                part.split("=", 1)
                for part in base64.b64decode(blob, validate=True).decode().split("\x01")
                if part
            )
        except ValueError:
            return AuthResult(success=False, handled=False, message="501 5.5.2 bad XOAUTH2")
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        token = bearer.removeprefix("Bearer ")
        with self._lock:
            self.xoauth2_logins.append((user, token))
        if user == self.username and bearer.startswith("Bearer ") and token == self.token:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        error = {"status": "401", "schemes": "bearer", "scope": "https://outlook.office.com"}
        await server.challenge_auth(json.dumps(error))
        message = "535 5.7.3 Authentication unsuccessful"
        return AuthResult(success=False, handled=False, message=message)


@pytest.fixture(scope="session")
def smtp_certificate() -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made with the openssl CLI."""
    with tempfile.TemporaryDirectory(prefix="mailbot-smtp-cert-") as folder:
        yield make_certificate(Path(folder))


def _server_tls(cert_and_key: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert_and_key)
    return context


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """A plain SMTP server on 127.0.0.1 (no TLS, no AUTH)."""
    server = SmtpTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server_tls_auth(smtp_certificate: tuple[Path, Path]) -> Iterator[SmtpTestServer]:
    """An SMTP server that requires STARTTLS and then AUTH (bot@example.test / secret)."""
    server = SmtpTestServer("bot@example.test", "secret", smtp_certificate[0])
    server.start(
        tls_context=_server_tls(smtp_certificate),
        require_starttls=True,
        authenticator=server.authenticate,
        auth_required=True,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server_implicit_tls(smtp_certificate: tuple[Path, Path]) -> Iterator[SmtpTestServer]:
    """An SMTP server speaking TLS from the first byte, with AUTH (bot@example.test / secret)."""
    server = SmtpTestServer("bot@example.test", "secret", smtp_certificate[0])
    server.start(
        ssl_context=_server_tls(smtp_certificate),
        authenticator=server.authenticate,
        auth_required=True,
        auth_require_tls=False,  # aiosmtpd only counts STARTTLS as TLS; this is TLS throughout
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server_xoauth2(smtp_certificate: tuple[Path, Path]) -> Iterator[XOAuth2TestServer]:
    """STARTTLS, then AUTH LOGIN or XOAUTH2 (bot@example.test, token "m365-token")."""
    server = XOAuth2TestServer("bot@example.test", "m365-token", smtp_certificate[0])
    server.start(
        tls_context=_server_tls(smtp_certificate),
        require_starttls=True,
        authenticator=server.authenticate,
        auth_required=True,
        auth_exclude_mechanism=["PLAIN"],  # Exchange Online offers "AUTH LOGIN XOAUTH2"
    )
    try:
        yield server
    finally:
        server.stop()


# -- Dovecot (IMAP), tests/dovecot.py ----------------------------------------------------


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One private Dovecot (plain, STARTTLS and implicit TLS) for the whole session."""
    if dovecot_binary() is None:
        if os.environ.get("MAILBOT_REQUIRE_DOVECOT") == "1":
            pytest.fail("MAILBOT_REQUIRE_DOVECOT=1 but Dovecot is missing (dovecot-imapd)")
        pytest.skip("Dovecot not installed (apt-get install dovecot-imapd)")
    server = DovecotServer(ssl=True)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> Iterator[DovecotAccount]:
    """A fresh, empty account on the session's Dovecot; running again after the test."""
    yield dovecot_server.account()
    dovecot_server.start()  # the test may have stopped it

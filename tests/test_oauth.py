"""Tests of XOAUTH2 (issue: Microsoft 365): tokens from msal against a local token endpoint,
the SASL exchange against a real Dovecot (oauth2 passdb + introspection) and aiosmtpd.

`FakeEntra` is a local HTTPS server speaking the part of Entra ID that msal uses for the
client credentials flow: the OpenID discovery document and /oauth2/v2.0/token. It checks
the client secret or verifies the signed client assertion (certificate credential) and
counts token requests. `Introspection` is the RFC 7662 endpoint Dovecot asks whether a
token is active: it says yes for the tokens FakeEntra issued, for the mailbox user.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from conftest import SmtpTestServer, XOAuth2TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from dovecot import DovecotServer, dovecot_binary, make_certificate

from mailbot.core.config import MailboxSettings, OutboundSettings, Settings, from_mapping
from mailbot.core.errors import ConfigError, MailboxUnavailable, TransportTemporaryError
from mailbot.shell.clock import ManualClock
from mailbot.shell.imap import ImapMailbox
from mailbot.shell.oauth import SCOPE, OAuthClient, TokenProvider, TokenUnavailable
from mailbot.shell.smtp import SmtpTransport
from mailbot.shell.wiring import TokenProviders, build_mailbox, build_transport

TENANT = "gemeente.onmicrosoft.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "Zeer~Geheim.Client-Secret_0123456789"
USER = "bot@example.test"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OPENSSL_RSA = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
OPENSSL_RSA += ["-subj", "/CN=mailbot"]
MESSAGE = (
    b"From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\nhi\r\n"
)


# -- a local Entra ID token endpoint (HTTPS) ----------------------------------------------


class FakeEntra:
    """HTTPS discovery + token endpoint for one tenant; counts and records token requests."""

    def __init__(self, folder: Path, secret: str = SECRET, expires_in: int = 3600) -> None:
        self.cert_file, key_file = make_certificate(folder)
        self.secret = secret
        self.expires_in = expires_in
        self.public_key: Any = None  # set to verify client assertions (certificate credential)
        self.requests: list[dict[str, str]] = []
        self.assertion_headers: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _entra_handler(self))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, key_file)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._httpd.server_port}"
        self.token_endpoint = f"{self.url}/{TENANT}/oauth2/v2.0/token"
        serve = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        serve.start()

    @property
    def token_requests(self) -> int:
        """How many token requests arrived (good or bad)."""
        with self._lock:
            return len(self.requests)

    def stop(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def discovery(self) -> dict[str, str]:
        """The OpenID configuration msal reads before the first token request."""
        base = f"{self.url}/{TENANT}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": self.token_endpoint,
        }

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one token request like Entra ID does."""
        with self._lock:
            self.requests.append(form)
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            return 400, {"error": "invalid_request", "error_description": f"bad form {form}"}
        if form.get("client_id") != CLIENT_ID or not self._authenticated(form):
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
                "Trace ID: 0000\r\nCorrelation ID: 1111",
            }
        with self._lock:
            value = f"access-token-{len(self.issued) + 1}"
            self.issued.append(value)
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": value}

    def _authenticated(self, form: dict[str, str]) -> bool:
        if self.public_key is None:
            return form.get("client_secret") == self.secret
        assertion = form.get("client_assertion", "")
        try:
            claims = jwt.decode(
                assertion,
                self.public_key,
                algorithms=["PS256", "RS256"],
                audience=self.token_endpoint,
            )
        except jwt.PyJWTError:
            return False
        with self._lock:
            self.assertion_headers.append(jwt.get_unverified_header(assertion))
        return bool(claims["iss"] == CLIENT_ID == claims["sub"])


def _entra_handler(entra: FakeEntra) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
                self._reply(200, entra.discovery())
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path != f"/{TENANT}/oauth2/v2.0/token":
                self._reply(404, {"error": "not_found"})
                return
            self._reply(*entra.token(form))

        def _reply(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEntra]:
    """A fresh local token endpoint whose certificate requests (msal) trusts."""
    with tempfile.TemporaryDirectory(prefix="mailbot-entra-") as folder:
        server = FakeEntra(Path(folder))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_file))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """The client secret in a file, as systemd's LoadCredential would hand it over."""
    path = tmp_path / "m365-secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    return path


def provider(entra: FakeEntra, clock: ManualClock | None = None, **client: Any) -> TokenProvider:
    """A TokenProvider for CLIENT_ID in TENANT at `entra`, trusting its certificate."""
    settings = OAuthClient(tenant=TENANT, client_id=CLIENT_ID, authority=entra.url, **client)
    return TokenProvider(settings, clock=clock or ManualClock(T0))


# -- token refresh ------------------------------------------------------------------------


def test_token_is_cached_until_five_minutes_before_expiry(
    entra: FakeEntra, secret_file: Path
) -> None:
    """Two calls make one request; a new one is made once expiry is within 5 minutes."""
    clock = ManualClock(T0)
    tokens = provider(entra, clock, client_secret_file=secret_file)
    first, again = tokens.token(), tokens.token()
    clock.set(T0 + timedelta(seconds=3600 - 300 - 1))
    still = tokens.token()
    assert (first, again, still, entra.token_requests) == ("access-token-1",) * 3 + (1,)
    clock.set(T0 + timedelta(seconds=3600 - 300))
    assert (tokens.token(), entra.token_requests) == ("access-token-2", 2)
    assert entra.requests[0]["client_secret"] == SECRET


def test_forget_makes_the_next_call_fetch(entra: FakeEntra, secret_file: Path) -> None:
    """A token the server refused is not handed out again."""
    tokens = provider(entra, client_secret_file=secret_file)
    refused = tokens.token()
    tokens.forget("some-other-token")
    assert tokens.token() == refused
    tokens.forget(refused)
    assert (tokens.token(), entra.token_requests) == ("access-token-2", 2)


def test_concurrent_callers_share_one_request(entra: FakeEntra, secret_file: Path) -> None:
    """Eight threads asking at once get the same token from a single request."""
    tokens = provider(entra, client_secret_file=secret_file)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(tokens.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (results, entra.token_requests) == (["access-token-1"] * 8, 1)


def test_wrong_secret_is_a_clear_error_without_the_secret(
    entra: FakeEntra, secret_file: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    """A refused secret raises one line naming client, tenant and Entra's error; no secret."""
    caplog.set_level(logging.DEBUG)
    entra.secret = "the-right-one"
    with pytest.raises(TokenUnavailable) as info:
        provider(entra, client_secret_file=secret_file).token()
    expected = (
        f"OAuth2 token for client {CLIENT_ID} in tenant {TENANT} refused by {entra.url}: "
        "invalid_client: AADSTS7000215: Invalid client secret provided."
    )
    assert str(info.value) == expected
    logged = caplog.text + "".join(capsys.readouterr())
    # msal's own DEBUG lines were captured, so "not in logged" looked at them
    assert (SECRET in logged, "msal" in caplog.text) == (False, True)


def test_success_logs_nothing_secret(
    entra: FakeEntra, secret_file: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    """Even at DEBUG, neither the secret nor the token shows up in any log."""
    caplog.set_level(logging.DEBUG)
    token = provider(entra, client_secret_file=secret_file).token()
    logged = caplog.text + "".join(capsys.readouterr())
    assert (SECRET in logged, token in logged) == (False, False)


def test_unreachable_authority_is_retryable(tmp_path: Path, secret_file: Path) -> None:
    """No token endpoint: TokenUnavailable naming client and tenant, made at first use."""
    with tempfile.TemporaryDirectory() as folder:
        closed = FakeEntra(Path(folder))
        closed.stop()
    tokens = provider(closed, client_secret_file=secret_file)
    with pytest.raises(TokenUnavailable) as info:
        tokens.token()
    message = str(info.value)
    assert message.startswith(f"OAuth2 token for client {CLIENT_ID} in tenant {TENANT}: ")
    assert ("\n" in message, SECRET in message) == (False, False)


# -- certificate credential ----------------------------------------------------------------


@pytest.fixture(scope="module")
def app_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, x509.Certificate]:
    """A PEM file with an RSA certificate and its unencrypted key (as Entra wants)."""
    folder = tmp_path_factory.mktemp("app-cert")
    cert, key = folder / "app-cert.pem", folder / "app-key.pem"
    subprocess.run(
        [*OPENSSL_RSA, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    combined = folder / "app.pem"
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    return combined, x509.load_pem_x509_certificate(cert.read_bytes())


def b64url(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_certificate_signs_the_client_assertion(
    entra: FakeEntra, app_certificate: tuple[Path, x509.Certificate]
) -> None:
    """A certificate file: the endpoint verifies the signed assertion (SHA-256 thumbprint)."""
    pem, cert = app_certificate
    entra.public_key = cert.public_key()
    assert provider(entra, client_certificate_file=pem).token() == "access-token-1"
    header = entra.assertion_headers[0]
    assert b64url(header["x5t#S256"]) == cert.fingerprint(hashes.SHA256())
    assert "client_secret" not in entra.requests[0]


def test_certificate_with_sha1_thumbprint(
    entra: FakeEntra, app_certificate: tuple[Path, x509.Certificate]
) -> None:
    """With client_certificate_thumbprint (as Entra shows it) the header carries that SHA-1."""
    pem, cert = app_certificate
    entra.public_key = cert.public_key()
    shown = cert.fingerprint(hashes.SHA1()).hex().upper()
    tokens = provider(entra, client_certificate_file=pem, client_certificate_thumbprint=shown)
    assert tokens.token() == "access-token-1"
    assert b64url(entra.assertion_headers[0]["x5t"]) == cert.fingerprint(hashes.SHA1())


@pytest.mark.parametrize(
    ("content", "thumbprint", "needle"),
    [
        ("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "", "private key"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n", "", "encrypted"),
        ("CERT", "xyz", "needs a PEM certificate"),
    ],
)
def test_bad_certificate_file_names_the_key(
    tmp_path: Path, content: str, thumbprint: str, needle: str
) -> None:
    """An unusable certificate file is a ConfigError naming client_certificate_file."""
    pem = tmp_path / "bad.pem"
    pem.write_text(content, encoding="utf-8")
    client = OAuthClient(TENANT, CLIENT_ID, client_certificate_file=pem)
    with pytest.raises(ConfigError) as info:
        TokenProvider(replace(client, client_certificate_thumbprint=thumbprint), "outbound")
    message = str(info.value)
    assert (message.startswith("[outbound] client_certificate_file"), needle in message) == (
        True,
        True,
    )


def test_missing_secret_file_names_the_key(tmp_path: Path) -> None:
    """An unreadable client_secret_file is a ConfigError naming the key and the path."""
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as info:
        TokenProvider(OAuthClient(TENANT, CLIENT_ID, client_secret_file=missing))
    assert str(info.value) == f"[mailbox] client_secret_file: cannot read {missing}: " + (
        "No such file or directory"
    )


# -- configuration ------------------------------------------------------------------------

IMAP = {"backend": "imap", "host": "imap.example.test", "username": USER, "auth": "xoauth2"}


def settings_with(mailbox: dict[str, Any], outbound: dict[str, Any] | None = None) -> Settings:
    """Settings from a mapping with the given [mailbox] (and [outbound]) tables."""
    data = {
        "identity": {"address": "meldpunt@example.test"},
        "mailbox": mailbox,
        "outbound": outbound or {"path": "/tmp/outbox"},
    }
    return from_mapping(data, "test.toml", Path("/etc/mailbot"))


APP = {"tenant": TENANT, "client_id": CLIENT_ID}
NOT_ONE = 'auth = "xoauth2" needs one of client_secret_file or client_certificate_file (not both)'


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, '[mailbox] tenant is required when auth = "xoauth2"'),
        ({"tenant": TENANT}, '[mailbox] client_id is required when auth = "xoauth2"'),
        (APP, f"[mailbox] {NOT_ONE}"),
        (
            {**APP, "client_secret_file": "s", "client_certificate_file": "c"},
            f"[mailbox] {NOT_ONE}",
        ),
        (
            {**APP, "client_secret_file": "s", "client_certificate_thumbprint": "AB"},
            "[mailbox] client_certificate_thumbprint needs client_certificate_file",
        ),
        (
            {**APP, "client_secret_file": "s", "password": "pw"},
            '[mailbox] password/password_file are not used with auth = "xoauth2"',
        ),
        (
            {**APP, "client_secret_file": "s", "authority": "http://x/"},
            "[mailbox] authority: must be an https:// URL, got 'http://x/'",
        ),
        ({"auth": "oauth"}, "[mailbox] auth: must be one of password, xoauth2, got 'oauth'"),
    ],
)
def test_xoauth2_config_errors_name_the_key(changes: dict[str, Any], expected: str) -> None:
    """auth = "xoauth2" needs tenant, client_id and exactly one credential file."""
    with pytest.raises(ConfigError) as info:
        settings_with({**IMAP, **changes})
    assert str(info.value) == f"test.toml: {expected}"


def test_xoauth2_config_loads() -> None:
    """A complete xoauth2 [mailbox] and [outbound] load; paths relative to the config."""
    oauth = {"auth": "xoauth2", "tenant": TENANT, "client_id": CLIENT_ID}
    settings = settings_with(
        {**IMAP, **oauth, "client_secret_file": "secret"},
        {
            "transport": "smtp",
            "host": "smtp.office365.com",
            "username": USER,
            **oauth,
            "client_certificate_file": "/etc/mailbot/app.pem",
        },
    )
    assert (settings.mailbox.client_secret_file, settings.mailbox.authority) == (
        Path("/etc/mailbot/secret"),
        "https://login.microsoftonline.com",
    )
    assert (settings.outbound.auth, settings.outbound.port) == ("xoauth2", 587)


def test_smtp_xoauth2_needs_a_username() -> None:
    """XOAUTH2 names the mailbox: [outbound] username is required."""
    oauth = {"auth": "xoauth2", "tenant": TENANT, "client_id": CLIENT_ID, "client_secret_file": "s"}
    with pytest.raises(ConfigError) as info:
        settings_with({"path": "/tmp/in"}, {"transport": "smtp", "host": "smtp.example", **oauth})
    assert '[outbound] username is required when auth = "xoauth2"' in str(info.value)


def test_wiring_shares_one_provider(tmp_path: Path, secret_file: Path) -> None:
    """IMAP and SMTP with the same app registration get one TokenProvider."""
    oauth = {"auth": "xoauth2", "tenant": TENANT, "client_id": CLIENT_ID}
    settings = settings_with(
        {**IMAP, **oauth, "client_secret_file": str(secret_file)},
        {
            "transport": "smtp",
            "host": "smtp.example",
            "username": USER,
            **oauth,
            "client_secret_file": str(secret_file),
        },
    )
    pool: TokenProviders = {}
    mailbox = build_mailbox(settings, None, pool)
    transport = build_transport(settings, pool)
    assert isinstance(mailbox, ImapMailbox) and isinstance(transport, SmtpTransport)
    assert (len(pool), mailbox._tokens is transport.tokens) == (1, True)


# -- IMAP: the SASL exchange against a real Dovecot ----------------------------------------


class Introspection:
    """RFC 7662 endpoint (plain HTTP on 127.0.0.1) for Dovecot's oauth2 passdb."""

    def __init__(self) -> None:
        self.active: dict[str, str] = {}  # token → user
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                token = form.get("token", [""])[0]
                outer.asked.append(token)
                user = outer.active.get(token)
                document = {"active": True, "username": user} if user else {"active": False}
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/introspect"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def oauth_dovecot() -> Iterator[tuple[DovecotServer, Introspection]]:
    """A private Dovecot whose XOAUTH2/OAUTHBEARER ask a local introspection endpoint."""
    if dovecot_binary() is None:
        if os.environ.get("MAILBOT_REQUIRE_DOVECOT") == "1":
            pytest.fail("MAILBOT_REQUIRE_DOVECOT=1 but Dovecot is missing (dovecot-imapd)")
        pytest.skip("Dovecot not installed (apt-get install dovecot-imapd)")
    introspection = Introspection()
    server = DovecotServer(accounts=3, oauth2_url=introspection.url)
    try:
        server.start()
        yield server, introspection
    finally:
        server.destroy()
        introspection.stop()


def imap_settings(server: DovecotServer, entra_url: str, secret_file: Path) -> MailboxSettings:
    """[mailbox] for USER on the oauth2 Dovecot with auth = "xoauth2"."""
    return MailboxSettings(
        backend="imap",
        host=server.host,
        port=server.port,
        security="plain",
        username=USER,
        auth="xoauth2",
        tenant=TENANT,
        client_id=CLIENT_ID,
        client_secret_file=secret_file,
        authority=entra_url,
    )


class FixedToken:
    """A TokenSource that always hands out one token and records what was forgotten."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.forgotten: list[str] = []

    def token(self) -> str:
        return self.value

    def forget(self, token: str) -> None:
        self.forgotten.append(token)


@pytest.mark.dovecot
def test_imap_xoauth2_logs_in_and_fetches(
    oauth_dovecot: tuple[DovecotServer, Introspection], entra: FakeEntra, secret_file: Path
) -> None:
    """A token from the local Entra logs in to Dovecot by XOAUTH2; pending() sees the mail."""
    server, introspection = oauth_dovecot
    account = server.account()
    assert account.user == USER
    uid = account.append(MESSAGE, T0)
    tokens = provider(entra, client_secret_file=secret_file)
    introspection.active["access-token-1"] = USER
    box = ImapMailbox(imap_settings(server, entra.url, secret_file), tokens=tokens, timeout=10)
    try:
        items = box.pending()
        lines = box.check()
    finally:
        box.close()
    assert ([item.key for item in items], introspection.asked[-1]) == ([str(uid)], "access-token-1")
    assert lines[0].startswith(
        f"IMAP {server.host}:{server.port}: logged in as {USER} with XOAUTH2"
    )
    assert ("method=XOAUTH2" in server.log_tail(5), entra.token_requests) == (True, 1)


@pytest.mark.dovecot
@pytest.mark.parametrize("active_for", [None, "bot-1@example.test"])
def test_imap_refused_token_is_a_clear_error(
    oauth_dovecot: tuple[DovecotServer, Introspection], tmp_path: Path, active_for: str | None
) -> None:
    """An inactive token, or one for another user, is refused; the token is forgotten."""
    server, introspection = oauth_dovecot
    token = f"token-for-{active_for}"
    if active_for:
        introspection.active[token] = active_for
    source = FixedToken(token)
    settings = imap_settings(server, "https://login.microsoftonline.com", tmp_path / "unused")
    box = ImapMailbox(settings, tokens=source, timeout=10)
    with pytest.raises(MailboxUnavailable) as info:
        box.pending()
    message = str(info.value)
    assert message.startswith(
        f"IMAP {server.host}:{server.port}: login failed for {USER}: "
        "[AUTHENTICATIONFAILED] Authentication failed. (XOAUTH2: does the app have IMAP."
    )
    assert (source.forgotten, token in message) == ([token], False)


def test_imap_token_failure_is_mailbox_unavailable(entra: FakeEntra, secret_file: Path) -> None:
    """When no token can be had, ImapMailbox raises MailboxUnavailable before connecting."""
    entra.secret = "another"
    settings = MailboxSettings(
        backend="imap", host="127.0.0.1", port=1, security="plain", username=USER, auth="xoauth2"
    )
    box = ImapMailbox(settings, tokens=provider(entra, client_secret_file=secret_file))
    with pytest.raises(MailboxUnavailable) as info:
        box.pending()
    assert str(info.value).startswith(
        f"IMAP 127.0.0.1:1: OAuth2 token for client {CLIENT_ID} in tenant {TENANT} refused"
    )


# -- SMTP: AUTH XOAUTH2 against aiosmtpd ---------------------------------------------------


def smtp(server: SmtpTestServer, tokens: Any) -> SmtpTransport:
    """SmtpTransport with STARTTLS and XOAUTH2 as USER."""
    return SmtpTransport(
        server.host, server.port, "starttls", USER, None, ca_file=server.cert_file, tokens=tokens
    )


def test_smtp_xoauth2_sends(
    smtp_server_xoauth2: XOAuth2TestServer, entra: FakeEntra, secret_file: Path
) -> None:
    """A token from the local Entra authenticates AUTH XOAUTH2; the mail is accepted."""
    smtp_server_xoauth2.token = "access-token-1"
    transport = smtp(smtp_server_xoauth2, provider(entra, client_secret_file=secret_file))

    async def run() -> list[str]:
        lines = await transport.check()
        await transport.send("a@example.test", ["b@example.test"], MESSAGE)
        await transport.close()
        return lines

    lines = asyncio.run(run())
    assert lines[-1] == f"AUTH as {USER!r} with XOAUTH2: 235 2.7.0 Authentication successful"
    assert smtp_server_xoauth2.xoauth2_logins == [(USER, "access-token-1")] * 2
    assert (len(smtp_server_xoauth2.messages), entra.token_requests) == (1, 1)


def test_smtp_refused_token_is_temporary_and_refetched(
    smtp_server_xoauth2: XOAuth2TestServer, entra: FakeEntra, secret_file: Path
) -> None:
    """A refused token: TransportTemporaryError with the 535 and a hint; the next try refetches."""
    smtp_server_xoauth2.token = "access-token-2"
    transport = smtp(smtp_server_xoauth2, provider(entra, client_secret_file=secret_file))
    with pytest.raises(TransportTemporaryError) as info:
        asyncio.run(transport.send("a@example.test", ["b@example.test"], MESSAGE))
    assert str(info.value).startswith(
        f"SMTP server 127.0.0.1:{smtp_server_xoauth2.port}: authentication as {USER!r} failed: "
        "535 5.7.3 Authentication unsuccessful (XOAUTH2: does the app have SMTP.SendAsApp"
    )
    asyncio.run(transport.send("a@example.test", ["b@example.test"], MESSAGE))
    assert [token for _, token in smtp_server_xoauth2.xoauth2_logins] == [
        "access-token-1",
        "access-token-2",
    ]
    assert len(smtp_server_xoauth2.messages) == 1


def test_smtp_server_without_xoauth2(smtp_server_tls_auth: SmtpTestServer) -> None:
    """A server that does not offer XOAUTH2 gives a clear temporary error, no token fetched."""
    source = FixedToken("never-sent")
    transport = smtp(smtp_server_tls_auth, source)
    with pytest.raises(TransportTemporaryError) as info:
        asyncio.run(transport.check())
    assert str(info.value) == (
        f"SMTP server 127.0.0.1:{smtp_server_tls_auth.port} does not offer AUTH XOAUTH2 "
        "(offers: LOGIN PLAIN)"
    )


def test_smtp_token_failure_is_temporary(
    smtp_server_xoauth2: XOAuth2TestServer, entra: FakeEntra, secret_file: Path
) -> None:
    """No token from Entra: TransportTemporaryError naming the server and Entra's error."""
    entra.secret = "another"
    transport = smtp(smtp_server_xoauth2, provider(entra, client_secret_file=secret_file))
    with pytest.raises(TransportTemporaryError) as info:
        asyncio.run(transport.check())
    assert str(info.value).startswith(
        f"SMTP server 127.0.0.1:{smtp_server_xoauth2.port}: OAuth2 token for client {CLIENT_ID}"
    )
    assert smtp_server_xoauth2.xoauth2_logins == []


def test_outbound_settings_default_to_password() -> None:
    """Without auth, both sections keep password AUTH (nothing changes for existing configs)."""
    assert (MailboxSettings().auth, OutboundSettings().auth) == ("password", "password")

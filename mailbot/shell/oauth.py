"""OAuth2 access tokens for XOAUTH2 (Microsoft 365 / Exchange Online), from msal.

`TokenProvider` runs the client credentials flow of an Entra ID app registration
(`msal.ConfidentialClientApplication`, scope `https://outlook.office365.com/.default`)
with a client secret or a certificate read from files. `token()` hands out the cached
access token and fetches a new one once it expires within `REFRESH_MARGIN` (5 minutes),
measured on the injected clock. msal keeps its own token cache on the real clock with the
same 5-minute rule; it is emptied before each fetch, so this class alone decides when a
token is fetched. A lock makes `token()` safe from the intake thread and the event loop.
HTTPS to the authority is verified with requests' CA bundle (certifi), or the file named
by $REQUESTS_CA_BUNDLE (e.g. behind a TLS-inspecting proxy; the tests use it too).

Failures raise `TokenUnavailable` (retryable) with one line naming the tenant, the client
id and the cause; the secret and the private key never appear in it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from mailbot.core.config import MailboxSettings, OutboundSettings
from mailbot.core.errors import ConfigError, RetryableError
from mailbot.shell.clock import Clock, SystemClock

SCOPE = "https://outlook.office365.com/.default"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
REFRESH_MARGIN = timedelta(minutes=5)
HTTP_TIMEOUT = 30.0
_PEM_KEY = re.compile(
    r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----.+?-----END (?:RSA |EC )?PRIVATE KEY-----", re.S
)
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}")


class TokenUnavailable(RetryableError):
    """No access token could be had right now (token endpoint, network, credentials)."""


class TokenSource(Protocol):
    """Hands out a valid access token (what IMAP and SMTP need from a TokenProvider)."""

    def token(self) -> str:
        """A token valid for at least a few minutes, or raise TokenUnavailable."""
        ...

    def forget(self, token: str) -> None:
        """The server refused `token`: do not hand it out again."""
        ...


@dataclass(frozen=True)
class OAuthClient:
    """Who asks for tokens: the app registration and where its credential lives."""

    tenant: str
    client_id: str
    authority: str = DEFAULT_AUTHORITY
    client_secret_file: Path | None = None
    client_certificate_file: Path | None = None
    client_certificate_thumbprint: str = ""


def oauth_client(section: MailboxSettings | OutboundSettings) -> OAuthClient:
    """The OAuth2 part of a [mailbox] or [outbound] section (equal ones share a provider)."""
    return OAuthClient(
        tenant=section.tenant,
        client_id=section.client_id,
        authority=section.authority,
        client_secret_file=section.client_secret_file,
        client_certificate_file=section.client_certificate_file,
        client_certificate_thumbprint=section.client_certificate_thumbprint,
    )


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: datetime


class TokenProvider:
    """Access tokens for one app registration, cached until 5 minutes before expiry."""

    def __init__(
        self,
        client: OAuthClient,
        section: str = "mailbox",
        *,
        clock: Clock | None = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        self.client = client
        self.section = section
        # The real time even under $MAILBOT_NOW: tokens expire on the wall clock.
        self._clock: Clock = clock if clock is not None else SystemClock(fake_now="")
        self._timeout = timeout
        self._credential, self._secret_text = _credential(client, section)
        self._app: Any = None  # msal.ConfidentialClientApplication, made on first use
        self._token: _Token | None = None
        self._lock = threading.Lock()

    @property
    def who(self) -> str:
        """The client and tenant, as named in every error."""
        return f"client {self.client.client_id} in tenant {self.client.tenant}"

    def token(self) -> str:
        """The cached token, or a fresh one when it expires within REFRESH_MARGIN."""
        with self._lock:
            now = self._clock.now()
            if self._token is None or self._token.expires_at - REFRESH_MARGIN <= now:
                self._token = self._fetch(now)
            return self._token.value

    def forget(self, token: str) -> None:
        """Drop `token` from the cache (the server refused it); the next call fetches."""
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = None

    def _fetch(self, now: datetime) -> _Token:
        try:
            app = self._application()
            cache = app.token_cache
            for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)  # msal's cache runs on its own clock
            result = app.acquire_token_for_client(scopes=[SCOPE])
        except Exception as exc:  # msal and requests raise many kinds; all mean "not now"
            raise TokenUnavailable(
                f"OAuth2 token for {self.who}: {self._scrub(_first_line(exc) or repr(exc))}"
            ) from None
        if "access_token" not in result:
            error = result.get("error", "no access_token in the answer")
            detail = _first_line(result.get("error_description", ""))
            raise TokenUnavailable(
                f"OAuth2 token for {self.who} refused by {self.client.authority}: "
                f"{self._scrub(f'{error}: {detail}' if detail else str(error))}"
            )
        lifetime = timedelta(seconds=int(result.get("expires_in", 0)))
        return _Token(str(result["access_token"]), now + lifetime)

    def _application(self) -> Any:
        if self._app is None:
            import msal  # type: ignore[import-untyped]  # noqa: PLC0415 - only when used

            custom = self.client.authority.rstrip("/") != DEFAULT_AUTHORITY
            self._app = msal.ConfidentialClientApplication(
                self.client.client_id,
                client_credential=self._credential,
                authority=f"{self.client.authority.rstrip('/')}/{self.client.tenant}",
                validate_authority=not custom,
                instance_discovery=False if custom else None,
                timeout=self._timeout,
            )
        return self._app

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret_text, "***") if self._secret_text else text


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""


def _credential(client: OAuthClient, section: str) -> tuple[str | dict[str, str], str]:
    """msal's client_credential from the secret or certificate file, and the secret text."""
    if client.client_secret_file is not None:
        secret = _read(client.client_secret_file, section, "client_secret_file").strip()
        if not secret:
            raise ConfigError(
                f"[{section}] client_secret_file: {client.client_secret_file} is empty"
            )
        return secret, secret
    if client.client_certificate_file is None:
        raise ConfigError(f"[{section}] client_secret_file or client_certificate_file is needed")
    pem = _read(client.client_certificate_file, section, "client_certificate_file")
    return _certificate_credential(client, section, pem), ""


def _certificate_credential(client: OAuthClient, section: str, pem: str) -> dict[str, str]:
    where = f"[{section}] client_certificate_file {client.client_certificate_file}"
    key, cert = _PEM_KEY.search(pem), _PEM_CERT.search(pem)
    if "ENCRYPTED PRIVATE KEY" in pem:
        raise ConfigError(f"{where}: the private key is encrypted; give it unencrypted")
    if key is None or cert is None:
        raise ConfigError(f"{where}: needs a PEM certificate and its private key in one file")
    thumbprint = client.client_certificate_thumbprint.replace(":", "").strip()
    if not thumbprint:
        return {"private_key": key.group(0), "public_certificate": cert.group(0)}
    if not _THUMBPRINT.fullmatch(thumbprint):
        raise ConfigError(
            f"[{section}] client_certificate_thumbprint: expected 40 hex digits (SHA-1), "
            f"got {client.client_certificate_thumbprint!r}"
        )
    return {"private_key": key.group(0), "thumbprint": thumbprint.upper()}


def _read(path: Path, section: str, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"[{section}] {key}: cannot read {path}: {reason}") from exc

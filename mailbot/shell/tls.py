"""TLS for IMAP and SMTP alike: the client context and what to say when TLS fails.

A port that speaks otherwise than `security` says is told apart by probing it once the
connection failed: "tls" on a port that greets in plain text (the handshake reads the
greeting as a TLS record), or "starttls"/"plain" on an implicit-TLS port (no greeting
within GREETING_WAIT s, and the port answers a TLS handshake). `Endpoint` gives the one
line naming what the port speaks and the setting that fits it.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mailbot.core.errors import ConfigError

_E = TypeVar("_E", bound=BaseException)


def tls_context(section: str, ca_file: Path | None, verify: bool = True) -> ssl.SSLContext:
    """A client context trusting the system CAs, or only `ca_file` when given.

    With `verify` off the certificate is not checked at all (SMTP's `verify = false`).
    A `ca_file` that cannot be loaded is a ConfigError naming `[section] ca_file`.
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[{section}] ca_file {ca_file}: cannot load: {exc}") from exc
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def tls_problem(exc: BaseException) -> str | None:
    """One line for a TLS failure in `exc` or its causes, with the fix; None otherwise."""
    untrusted = find_cause(exc, ssl.SSLCertVerificationError)
    if untrusted is not None:
        return (
            "TLS certificate verification failed: certificate not trusted"
            f" ({untrusted.verify_message or untrusted.reason});"
            " set ca_file to the CA that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    return None


def find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """`exc` itself or the first exception of type `kind` in its causes and contexts."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        if isinstance(current, kind):
            return current
        chain.append(current)
        current = current.__cause__ or current.__context__
    return None


GREETING_WAIT = 3.0
"""Seconds a server gets to greet in plain text before we ask whether its port speaks
implicit TLS (an IMAP or SMTP server greets at once; a TLS port waits for our
ClientHello). Also bounds each step of a probe (the connect, then the answer)."""


def greeting_wait(timeout: float | None) -> float:
    """GREETING_WAIT, or half of a shorter connection `timeout` (it must fire after)."""
    return GREETING_WAIT if timeout is None else min(GREETING_WAIT, timeout / 2)


@dataclass(frozen=True)
class Endpoint:
    """A server port and the security its config section asked for, for the line to say
    when the port speaks otherwise. Probing opens one extra connection, only after a
    failure (or a greeting that does not come): the normal path never probes."""

    section: str
    """The config section to name: "mailbox" or "outbound"."""
    host: str
    port: int
    security: str
    usual_ports: Mapping[str, int]
    """The usual port of each security (config.IMAP_PORTS or config.SMTP_PORTS)."""

    def after_tls_failure(self, exc: BaseException) -> str | None:
        """With security "tls", a handshake that failed (not on the certificate) on a
        port that greets in plain text: the line saying so, with the fix; else None."""
        failed = find_cause(exc, ssl.SSLError)
        if self.security != "tls" or failed is None:
            return None
        if isinstance(failed, ssl.SSLCertVerificationError):
            return None
        greeting = plain_greeting(self.host, self.port)
        if greeting is None:
            return None
        where = f"[{self.section}] security"
        return (
            f'{where} = "tls" but this port speaks plain text (greets "{greeting}");'
            f' set {where} = "starttls" for it, or port = {self.usual_ports["tls"]}'
            " for implicit TLS"
        )

    def after_silence(self) -> str | None:
        """With security "starttls" or "plain", a server silent for the greeting wait on a
        port that answers a TLS handshake: the line saying so, with the fix; else None."""
        if self.security == "tls" or not answers_tls(self.host, self.port):
            return None
        where = f"[{self.section}] security"
        way = "STARTTLS" if self.security == "starttls" else "plain text"
        return (
            f'{where} = "{self.security}" but this port speaks implicit TLS (no greeting,'
            f' and it answers a TLS handshake); set {where} = "tls" for it, or port ='
            f" {self.usual_ports[self.security]} for {way}"
        )


def silent(sock: socket.socket, wait: float) -> bool:
    """True when nothing arrives on `sock` within `wait` s (read without consuming it);
    the socket's timeout is left as it was."""
    before = sock.gettimeout()
    sock.settimeout(wait)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    except OSError:
        return False  # reset or closed: the normal read reports it
    finally:
        sock.settimeout(before)
    return False


def plain_greeting(host: str, port: int, wait: float = GREETING_WAIT) -> str | None:
    """The first line `host:port` sends unasked within `wait` s, when it is printable
    text (at most 40 characters of it); None for silence, binary data or no connection."""
    try:
        with socket.create_connection((host, port), timeout=wait) as sock:
            data = sock.recv(256)
    except OSError:
        return None
    line = data.split(b"\n", 1)[0].strip()
    if not line.isascii() or not line.decode().isprintable():
        return None
    text = line.decode()
    return text if len(text) <= 40 else text[:39] + "…"


def answers_tls(host: str, port: int, wait: float = GREETING_WAIT) -> bool:
    """True when `host:port` answers a TLS ClientHello in TLS within `wait` s: a finished
    handshake or a TLS alert. The certificate is not checked and nothing else is sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=wait) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except ssl.SSLError as exc:
        return "ALERT" in str(exc.reason)  # the server refused our offer, in TLS
    except OSError:
        return False

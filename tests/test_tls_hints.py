"""A port that speaks otherwise than `security` says gets one line with the fix, quickly.

"tls" on a plain-text port (Dovecot's IMAP port, a plain aiosmtpd) and "starttls" or
"plain" on an implicit-TLS port (Dovecot's imaps, aiosmtpd with TLS from the first
byte) fail with the line naming host:port, what the port speaks and the setting that
fits, well before the connection's timeout. A plain server that is only slow to greet
is probed once and then used as before; one that greets at once is never probed.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SmtpTestServer
from dovecot import DovecotAccount
from factories import mailbot, write_config

from mailbot.core.config import MailboxSettings
from mailbot.core.errors import MailboxLoginFailed, MailboxUnavailable, TransportTemporaryError
from mailbot.core.secret import Secret
from mailbot.shell.imap import ImapMailbox
from mailbot.shell.smtp import SmtpTransport

TIMEOUT = 20.0
"""The connections' timeout; each diagnosis must come well before it."""
PLAIN_PORT_IMAP = (
    '[mailbox] security = "tls" but this port speaks plain text (greets "…");'
    ' set [mailbox] security = "starttls" for it, or port = 993 for implicit TLS'
)
PLAIN_PORT_SMTP = (
    '[outbound] security = "tls" but this port speaks plain text (greets "…");'
    ' set [outbound] security = "starttls" for it, or port = 465 for implicit TLS'
)


def tls_port(section: str, security: str, port: int, way: str) -> str:
    """The hint for "starttls"/"plain" on an implicit-TLS port."""
    return (
        f'[{section}] security = "{security}" but this port speaks implicit TLS (no greeting,'
        f' and it answers a TLS handshake); set [{section}] security = "tls" for it, or'
        f" port = {port} for {way}"
    )


def greeting_elided(message: str) -> str:
    """`message` with the quoted greeting replaced by "…" (its text is the server's)."""
    return re.sub(r'greets "[^"]*"', 'greets "…"', message)


def imap_settings(
    host: str, port: int, security: str, user: str = "bot@example.test"
) -> MailboxSettings:
    """IMAP settings for `user` (password "secret") at host:port with `security`."""
    return MailboxSettings(
        backend="imap",
        host=host,
        port=port,
        security=security,
        username=user,
        password=Secret("secret"),
    )


def imap_check(settings: MailboxSettings) -> tuple[str, float]:
    """The MailboxUnavailable line of `check()` on `settings`, and the seconds it took."""
    box = ImapMailbox(settings, timeout=TIMEOUT)
    started = time.monotonic()
    try:
        with pytest.raises(MailboxUnavailable) as caught:
            box.check()
    finally:
        box.close()
    return str(caught.value), time.monotonic() - started


def smtp_check(server: SmtpTestServer, security: str) -> tuple[str, float]:
    """The TransportTemporaryError line of `check()` against `server`, and the seconds."""
    transport = SmtpTransport(server.host, server.port, security, None, None, timeout=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(TransportTemporaryError) as caught:
        asyncio.run(transport.check())
    return str(caught.value), time.monotonic() - started


# -- IMAP against Dovecot ------------------------------------------------------------------


@pytest.mark.dovecot
def test_imap_tls_on_the_plain_port_names_starttls(dovecot: DovecotAccount) -> None:
    """security = "tls" on Dovecot's plain port: the plain-text line, at once."""
    message, seconds = imap_check(imap_settings(dovecot.host, dovecot.port, "tls"))
    expected = f"IMAP {dovecot.host}:{dovecot.port}: {PLAIN_PORT_IMAP}"
    assert (greeting_elided(message), seconds < TIMEOUT) == (expected, True)
    assert [g[:5] for g in re.findall(r'greets "(.*?)"', message)] == ["* OK "]


@pytest.mark.dovecot
def test_imap_starttls_on_the_implicit_tls_port_names_tls(dovecot: DovecotAccount) -> None:
    """security = "starttls" on Dovecot's imaps port: the implicit-TLS line, not a timeout."""
    assert dovecot.tls_port is not None
    message, seconds = imap_check(imap_settings(dovecot.host, dovecot.tls_port, "starttls"))
    expected = f"IMAP {dovecot.host}:{dovecot.tls_port}: " + tls_port(
        "mailbox", "starttls", 143, "STARTTLS"
    )
    assert (message, seconds < TIMEOUT) == (expected, True)


@pytest.mark.dovecot
def test_imap_plain_on_the_implicit_tls_port_names_tls(dovecot: DovecotAccount) -> None:
    """security = "plain" (loopback) on Dovecot's imaps port: the implicit-TLS line."""
    assert dovecot.tls_port is not None
    message, seconds = imap_check(imap_settings(dovecot.host, dovecot.tls_port, "plain"))
    expected = f"IMAP {dovecot.host}:{dovecot.tls_port}: " + tls_port(
        "mailbox", "plain", 143, "plain text"
    )
    assert (message, seconds < TIMEOUT) == (expected, True)


# -- SMTP against aiosmtpd -----------------------------------------------------------------


def test_smtp_tls_on_a_plain_port_names_starttls(smtp_server: SmtpTestServer) -> None:
    """security = "tls" on a plain aiosmtpd: the plain-text line with its 220 greeting."""
    message, seconds = smtp_check(smtp_server, "tls")
    expected = f"SMTP server {smtp_server.host}:{smtp_server.port}: {PLAIN_PORT_SMTP}"
    assert (greeting_elided(message), seconds < TIMEOUT) == (expected, True)
    assert [g[:4] for g in re.findall(r'greets "(.*?)"', message)] == ["220 "]


def test_smtp_starttls_on_an_implicit_tls_port_names_tls(
    smtp_server_implicit_tls: SmtpTestServer,
) -> None:
    """security = "starttls" on an implicit-TLS aiosmtpd: the implicit-TLS line."""
    server = smtp_server_implicit_tls
    message, seconds = smtp_check(server, "starttls")
    expected = f"SMTP server {server.host}:{server.port}: " + tls_port(
        "outbound", "starttls", 587, "STARTTLS"
    )
    assert (message, seconds < TIMEOUT) == (expected, True)


def test_smtp_plain_on_an_implicit_tls_port_names_tls(
    smtp_server_implicit_tls: SmtpTestServer,
) -> None:
    """security = "plain" on an implicit-TLS aiosmtpd: the implicit-TLS line."""
    server = smtp_server_implicit_tls
    message, seconds = smtp_check(server, "plain")
    expected = f"SMTP server {server.host}:{server.port}: " + tls_port(
        "outbound", "plain", 25, "plain text"
    )
    assert (message, seconds < TIMEOUT) == (expected, True)


# -- plain servers that greet late, or at once ---------------------------------------------


class ScriptedServer:
    """A plain-text server on 127.0.0.1: sends `greeting`, then `answer(line)` to each line
    until it returns b"" (then closes).

    With `hold`, the first client is greeted only once a second connection (the port
    probe) has come and gone; that one is read from and closed without a word.
    """

    def __init__(self, greeting: bytes, answer: Callable[[bytes], bytes], hold: bool) -> None:
        self.greeting, self.answer, self.hold = greeting, answer, hold
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted = 0
        self._probed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed at the end of the test
            self.accepted += 1
            probe = self.hold and self.accepted > 1
            target = self._probe if probe else self._session
            threading.Thread(target=target, args=(conn,), daemon=True).start()

    def _probe(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(4096)  # the ClientHello
        self._probed.set()

    def _session(self, conn: socket.socket) -> None:
        if self.hold:
            self._probed.wait(60)  # a bound for a broken client, not a deadline
        with conn, conn.makefile("rb") as lines:
            conn.sendall(self.greeting)
            for line in lines:
                reply = self.answer(line)
                if not reply:
                    return
                conn.sendall(reply)


def smtp_answer(line: bytes) -> bytes:
    """EHLO → 250, QUIT → 221 and close, else 500."""
    verb = line.split()[0].upper() if line.split() else b""
    replies = {b"EHLO": b"250 slow.example\r\n", b"QUIT": b"221 bye\r\n"}
    return replies.get(verb, b"500 what\r\n") if verb != b"QUIT" else b""


def imap_answer(line: bytes) -> bytes:
    """CAPABILITY → IMAP4rev1, LOGIN → NO, else BAD; LOGOUT closes."""
    tag, _, rest = line.strip().partition(b" ")
    verb = rest.split()[0].upper() if rest.split() else b""
    if verb == b"CAPABILITY":
        return b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n"
    if verb == b"LOGIN":
        return tag + b" NO [AUTHENTICATIONFAILED] wrong password\r\n"
    return b"" if verb == b"LOGOUT" else tag + b" BAD what\r\n"


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    """Start ScriptedServers; their listeners are closed after the test."""
    servers: list[ScriptedServer] = []

    def start(greeting: bytes, answer: Callable[[bytes], bytes], hold: bool) -> ScriptedServer:
        servers.append(ScriptedServer(greeting, answer, hold))
        return servers[-1]

    yield start
    for server in servers:
        server.listener.close()


def test_smtp_slow_greeting_is_probed_once_then_used(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A plain SMTP server silent until probed: not TLS, so the session goes on as usual."""
    server = scripted(b"220 slow.example ESMTP\r\n", smtp_answer, hold=True)
    transport = SmtpTransport("127.0.0.1", server.port, "plain", None, None, timeout=TIMEOUT)
    lines = asyncio.run(transport.check())
    expected = [
        f"connected to 127.0.0.1:{server.port}: 220 slow.example ESMTP",
        "no TLS (security = plain): mail travels in clear",
        "no AUTH (no username configured)",
    ]
    assert (lines, server.accepted) == (expected, 2)


def test_smtp_prompt_greeting_makes_no_probe(scripted: Callable[..., ScriptedServer]) -> None:
    """A server that greets at once costs one connection, as before."""
    server = scripted(b"220 quick.example ESMTP\r\n", smtp_answer, hold=False)
    transport = SmtpTransport("127.0.0.1", server.port, "plain", None, None, timeout=TIMEOUT)
    asyncio.run(transport.check())
    assert server.accepted == 1


def test_imap_slow_greeting_is_probed_once_then_used(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A plain IMAP server silent until probed: not TLS, so login goes on (and is refused)."""
    server = scripted(b"* OK slow ready\r\n", imap_answer, hold=True)
    box = ImapMailbox(imap_settings("127.0.0.1", server.port, "plain"), timeout=TIMEOUT)
    try:
        with pytest.raises(MailboxLoginFailed) as caught:
            box.check()
    finally:
        box.close()
    expected = (
        f"IMAP 127.0.0.1:{server.port}: login failed for bot@example.test:"
        " [AUTHENTICATIONFAILED] wrong password"
    )
    assert (str(caught.value), server.accepted) == (expected, 2)


# -- mailbot check --------------------------------------------------------------------------


@pytest.mark.dovecot
def test_check_prints_one_hint_line_per_part_and_exits_1(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server_implicit_tls: SmtpTestServer
) -> None:
    """`mailbot check` with both ports mismatched: exit 1, one line each on stderr, no traceback."""
    smtp = smtp_server_implicit_tls
    cfg = write_config(tmp_path, dovecot, smtp, security="tls", outbound={"security": "starttls"})
    result = mailbot(cfg, "check", check=False)
    expected = [
        f"mailbot check: mailbox: IMAP {dovecot.host}:{dovecot.port}: {PLAIN_PORT_IMAP}",
        f"mailbot check: outbound: SMTP server {smtp.host}:{smtp.port}: "
        + tls_port("outbound", "starttls", 587, "STARTTLS"),
    ]
    assert (result.returncode, greeting_elided(result.stderr).splitlines()) == (1, expected)

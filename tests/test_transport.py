"""Outbound transports: Maildir files and SMTP against a real aiosmtpd (DESIGN.md §7, §9)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiosmtplib.email import parse_address
from conftest import SmtpTestServer
from factories import free_port
from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.errors import TransportPermanentError, TransportTemporaryError
from mailbot.shell.smtp import _PLAIN_ADDRESS, Security, SmtpTransport
from mailbot.shell.transport import MaildirTransport

SENDER = "meldpunt@gemeente.example"
RAW = (
    b"From: Meldpunt <meldpunt@gemeente.example>\r\n"
    b"To: reporter@example.test\r\n"
    b"Subject: [MK-2026-0001] Ontvangstbevestiging\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Beste melder, dank voor uw melding \xe2\x80\x93 caf\xc3\xa9.\r\n"
    b".a line that starts with a dot\r\n"
    b"..\r\n"
)


def _smtp(server: SmtpTestServer, security: Security = "plain", **kwargs: object) -> SmtpTransport:
    options: dict[str, object] = {"timeout": 5, "local_hostname": "mailbot.test"}
    options.update(kwargs)
    return SmtpTransport(server.host, server.port, security, None, None, **options)  # type: ignore[arg-type]


def _authed(server: SmtpTestServer, security: Security, password: str = "secret") -> SmtpTransport:
    return SmtpTransport(
        server.host,
        server.port,
        security,
        server.username,
        password,
        timeout=5,
        ca_file=server.cert_file,
        local_hostname="mailbot.test",
    )


async def _send_and_close(
    transport: SmtpTransport, recipients: list[str], raw: bytes = RAW
) -> None:
    try:
        await transport.send(SENDER, recipients, raw)
    finally:
        await transport.close()


# Maildir transport


def test_maildir_transport_writes_one_file_per_send(tmp_path: Path) -> None:
    """Each send becomes exactly one file in new/ holding the exact bytes."""
    transport = MaildirTransport(tmp_path / "outbox")

    async def run() -> None:
        await transport.send(SENDER, ["a@example.test"], RAW)
        await transport.send(SENDER, ["b@example.test"], b"second")
        await transport.close()

    asyncio.run(run())
    files = sorted((tmp_path / "outbox" / "new").iterdir(), key=lambda p: p.read_bytes())
    assert [p.read_bytes() for p in files] == sorted([RAW, b"second"])
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []


def test_maildir_transport_without_recipients_is_permanent(tmp_path: Path) -> None:
    """A mail without recipients is refused for good and writes nothing."""
    transport = MaildirTransport(tmp_path / "outbox")
    with pytest.raises(TransportPermanentError, match="no recipients"):
        asyncio.run(transport.send(SENDER, [], RAW))
    assert not (tmp_path / "outbox").exists()


def test_maildir_transport_unwritable_is_temporary(tmp_path: Path) -> None:
    """A Maildir path that cannot be created gives a temporary error naming it."""
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    transport = MaildirTransport(blocker / "outbox")
    with pytest.raises(TransportTemporaryError, match="file/outbox"):
        asyncio.run(transport.send(SENDER, ["a@example.test"], RAW))


# SMTP: delivery and connection reuse


def test_smtp_delivers_exact_bytes(smtp_server: SmtpTestServer) -> None:
    """The server receives the envelope and the raw bytes unchanged (8-bit, leading dots)."""
    rcpts = ["reporter@example.test", "staff@gemeente.example"]
    asyncio.run(_send_and_close(_smtp(smtp_server), rcpts))
    assert smtp_server.messages == [(SENDER, rcpts, RAW)]


def test_smtp_reuses_one_connection(smtp_server: SmtpTestServer) -> None:
    """Consecutive sends share one SMTP connection."""
    transport = _smtp(smtp_server)

    async def run() -> None:
        await transport.send(SENDER, ["a@example.test"], b"Subject: 1\r\n\r\none\r\n")
        await _send_and_close(transport, ["b@example.test"], b"Subject: 2\r\n\r\ntwo\r\n")

    asyncio.run(run())
    assert (len(smtp_server.messages), smtp_server.connections) == (2, 1)


def test_smtp_reconnects_once_after_server_dropped_connection(smtp_server: SmtpTestServer) -> None:
    """A connection the server closed meanwhile is replaced transparently on the next send."""
    transport = _smtp(smtp_server)

    async def run() -> None:
        await transport.send(SENDER, ["a@example.test"], b"Subject: 1\r\n\r\none\r\n")
        smtp_server.disconnect_clients()
        await _send_and_close(transport, ["b@example.test"], b"Subject: 2\r\n\r\ntwo\r\n")

    asyncio.run(run())
    assert [m[1] for m in smtp_server.messages] == [["a@example.test"], ["b@example.test"]]
    assert smtp_server.connections == 2


def test_smtp_reconnects_after_421_on_reused_connection(smtp_server: SmtpTestServer) -> None:
    """A 421 (server closing an idle session) at MAIL FROM on a reused connection is retried."""
    transport = _smtp(smtp_server)

    async def run() -> None:
        await transport.send(SENDER, ["a@example.test"], b"Subject: 1\r\n\r\none\r\n")
        smtp_server.fail_mail_with("421 4.4.2 idle too long, closing")
        await _send_and_close(transport, ["b@example.test"], b"Subject: 2\r\n\r\ntwo\r\n")

    asyncio.run(run())
    assert (len(smtp_server.messages), smtp_server.connections) == (2, 2)


def test_smtp_421_on_fresh_connection_is_temporary(smtp_server: SmtpTestServer) -> None:
    """On a new connection a 421 is not retried: it is a temporary error with the reply."""
    smtp_server.fail_mail_with("421 4.3.2 shutting down")
    with pytest.raises(TransportTemporaryError, match=r"421 4\.3\.2 shutting down"):
        asyncio.run(_send_and_close(_smtp(smtp_server), ["a@example.test"]))
    assert smtp_server.messages == []


def test_smtp_reconnects_after_close(smtp_server: SmtpTestServer) -> None:
    """After close() the transport opens a new connection on the next send."""
    transport = _smtp(smtp_server)

    async def run() -> None:
        await _send_and_close(transport, ["a@example.test"])
        await _send_and_close(transport, ["b@example.test"])

    asyncio.run(run())
    assert (len(smtp_server.messages), smtp_server.connections) == (2, 2)


# SMTP: server refusals


def test_smtp_451_at_data_is_temporary(smtp_server: SmtpTestServer) -> None:
    """451 at DATA raises TransportTemporaryError with the reply; the next send works."""
    smtp_server.fail_data_with("451 4.3.0 try later")
    transport = _smtp(smtp_server)

    async def run() -> None:
        with pytest.raises(TransportTemporaryError, match=r"451 4\.3\.0 try later"):
            await transport.send(SENDER, ["a@example.test"], RAW)
        await _send_and_close(transport, ["a@example.test"])

    asyncio.run(run())
    assert (smtp_server.messages, smtp_server.connections) == (
        [(SENDER, ["a@example.test"], RAW)],
        1,
    )


def test_smtp_550_at_data_is_permanent(smtp_server: SmtpTestServer) -> None:
    """550 at DATA raises TransportPermanentError carrying the server's reply."""
    smtp_server.fail_data_with("550 5.7.1 content rejected")
    with pytest.raises(TransportPermanentError, match=r"550 5\.7\.1 content rejected"):
        asyncio.run(_send_and_close(_smtp(smtp_server), ["a@example.test"]))
    assert smtp_server.messages == []


def test_smtp_one_refused_recipient_is_permanent_and_named(smtp_server: SmtpTestServer) -> None:
    """One recipient refused with 550 fails the mail, naming the address and the reply."""
    smtp_server.refuse_rcpt("ghost@example.test", "550 5.1.1 no such user")
    rcpts = ["reporter@example.test", "ghost@example.test"]
    with pytest.raises(TransportPermanentError) as caught:
        asyncio.run(_send_and_close(_smtp(smtp_server), rcpts))
    assert "'ghost@example.test' (550 5.1.1 no such user)" in str(caught.value)
    assert "reporter@example.test" not in str(caught.value)
    assert smtp_server.messages == []


def test_smtp_recipient_refused_with_4xx_is_temporary(smtp_server: SmtpTestServer) -> None:
    """A recipient refused with 450 gives a temporary error naming it."""
    smtp_server.refuse_rcpt("busy@example.test", "450 4.2.1 mailbox busy")
    with pytest.raises(TransportTemporaryError, match=r"busy@example\.test.*450 4\.2\.1"):
        asyncio.run(_send_and_close(_smtp(smtp_server), ["busy@example.test"]))


def test_smtp_sender_refused_is_permanent(smtp_server: SmtpTestServer) -> None:
    """553 at MAIL FROM is permanent and names the sender."""
    smtp_server.fail_mail_with("553 5.7.1 sender not allowed")
    with pytest.raises(TransportPermanentError, match=r"meldpunt@gemeente\.example.*553 5\.7\.1"):
        asyncio.run(_send_and_close(_smtp(smtp_server), ["a@example.test"]))


def test_smtp_connection_refused_is_temporary() -> None:
    """A closed port gives TransportTemporaryError naming host and port."""
    port = free_port()
    transport = SmtpTransport("127.0.0.1", port, "plain", None, None, timeout=5)
    with pytest.raises(TransportTemporaryError, match=f"127.0.0.1:{port}: connect failed"):
        asyncio.run(_send_and_close(transport, ["a@example.test"]))


def test_smtp_address_with_crlf_is_permanent_and_nothing_is_sent(
    smtp_server: SmtpTestServer,
) -> None:
    """An address that could inject SMTP commands is refused before connecting."""
    with pytest.raises(TransportPermanentError, match="cannot be used in an SMTP envelope"):
        asyncio.run(_send_and_close(_smtp(smtp_server), ["a@example.test\r\nRSET"]))
    assert smtp_server.connections == 0


# SMTP: TLS and AUTH


def test_smtp_starttls_and_auth_deliver(smtp_server_tls_auth: SmtpTestServer) -> None:
    """STARTTLS with a verified certificate, then AUTH, then the exact bytes arrive."""
    transport = _authed(smtp_server_tls_auth, "starttls")
    asyncio.run(_send_and_close(transport, ["a@example.test"]))
    assert smtp_server_tls_auth.messages == [(SENDER, ["a@example.test"], RAW)]


def test_smtp_implicit_tls_and_auth_deliver(smtp_server_implicit_tls: SmtpTestServer) -> None:
    """Implicit TLS (security = tls) with AUTH delivers the exact bytes."""
    transport = _authed(smtp_server_implicit_tls, "tls")
    asyncio.run(_send_and_close(transport, ["a@example.test"]))
    assert smtp_server_implicit_tls.messages == [(SENDER, ["a@example.test"], RAW)]


def test_smtp_wrong_password_is_a_clear_error(smtp_server_tls_auth: SmtpTestServer) -> None:
    """A refused login names the user and the server's 535 reply; nothing is sent."""
    transport = _authed(smtp_server_tls_auth, "starttls", password="wrong")
    with pytest.raises(
        TransportTemporaryError, match=r"authentication as 'bot@example\.test' failed: 535"
    ):
        asyncio.run(_send_and_close(transport, ["a@example.test"]))
    assert smtp_server_tls_auth.messages == []


def test_smtp_starttls_required_but_not_offered(smtp_server: SmtpTestServer) -> None:
    """security = starttls refuses to send in clear when the server lacks STARTTLS."""
    with pytest.raises(TransportTemporaryError, match="does not offer STARTTLS"):
        asyncio.run(_send_and_close(_smtp(smtp_server, "starttls"), ["a@example.test"]))
    assert smtp_server.messages == []


def test_smtp_untrusted_certificate_is_refused(smtp_server_tls_auth: SmtpTestServer) -> None:
    """Without ca_file the self-signed certificate is not trusted, and the error says so."""
    server = smtp_server_tls_auth
    transport = SmtpTransport(
        server.host, server.port, "starttls", server.username, server.password, timeout=5
    )
    with pytest.raises(TransportTemporaryError, match="certificate not trusted"):
        asyncio.run(_send_and_close(transport, ["a@example.test"]))
    assert server.messages == []


def test_smtp_verify_off_accepts_self_signed(smtp_server_tls_auth: SmtpTestServer) -> None:
    """verify = False accepts an unknown certificate (explicit operator choice)."""
    server = smtp_server_tls_auth
    transport = SmtpTransport(
        server.host, server.port, "starttls", server.username, "secret", timeout=5, verify=False
    )
    asyncio.run(_send_and_close(transport, ["a@example.test"]))
    assert len(server.messages) == 1


# SMTP: check()


def test_check_reports_each_step_and_sends_nothing(smtp_server_tls_auth: SmtpTestServer) -> None:
    """check() connects, STARTTLS, AUTH, reports those steps, and sends no mail."""
    lines = asyncio.run(_authed(smtp_server_tls_auth, "starttls").check())
    assert [line.split(":")[0] for line in lines] == [
        f"connected to {smtp_server_tls_auth.host}",
        "STARTTLS",
        "AUTH as 'bot@example.test'",
    ]
    assert "certificate verified" in lines[1]
    assert (smtp_server_tls_auth.messages, smtp_server_tls_auth.connections) == ([], 1)


def test_check_with_wrong_password_raises(smtp_server_tls_auth: SmtpTestServer) -> None:
    """check() raises the same clear error as send() when the login is refused."""
    with pytest.raises(TransportTemporaryError, match=r"authentication as 'bot@example\.test'"):
        asyncio.run(_authed(smtp_server_tls_auth, "starttls", password="wrong").check())


def test_check_plain_says_clear_text(smtp_server: SmtpTestServer) -> None:
    """check() on a plain server says mail travels in clear and that no AUTH is configured."""
    lines = asyncio.run(_smtp(smtp_server).check())
    assert lines[1:] == [
        "no TLS (security = plain): mail travels in clear",
        "no AUTH (no username configured)",
    ]
    assert smtp_server.messages == []


def test_smtp_display_name_in_envelope_is_refused(smtp_server: SmtpTestServer) -> None:
    """An address with a display name is refused rather than silently rewritten."""
    with pytest.raises(TransportPermanentError, match=r"Alice <alice@example\.test>"):
        asyncio.run(_send_and_close(_smtp(smtp_server), ["Alice <alice@example.test>"]))
    assert smtp_server.connections == 0


@given(
    st.from_regex(
        r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}){0,2}"
        r"@[A-Za-z0-9-]{1,8}(\.[A-Za-z0-9-]{1,8}){0,2}\Z"
    )
)
def test_plain_address_fast_path_agrees_with_parse_address(address: str) -> None:
    """Every address the envelope check lets through unparsed comes back unchanged."""
    assert _PLAIN_ADDRESS.fullmatch(address) is not None
    assert parse_address(address) == address

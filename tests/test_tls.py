"""mailbot.shell.tls: the one TLS context and failure line of IMAP and SMTP."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from mailbot.core.errors import ConfigError
from mailbot.shell.tls import tls_context, tls_problem


def test_an_unloadable_ca_file_is_a_config_error_naming_the_section(tmp_path: Path) -> None:
    """A ca_file that cannot be read names [section] ca_file and the path."""
    missing = tmp_path / "ca.pem"
    with pytest.raises(ConfigError, match=rf"\[outbound\] ca_file {missing}: cannot load"):
        tls_context("outbound", missing)


def test_verification_is_on_unless_turned_off() -> None:
    """The default context verifies host and certificate; verify=False checks neither."""
    on, off = tls_context("mailbox", None), tls_context("outbound", None, verify=False)
    found = (on.verify_mode, on.check_hostname, off.verify_mode, off.check_hostname)
    assert found == (ssl.CERT_REQUIRED, True, ssl.CERT_NONE, False)


def test_a_certificate_error_among_the_causes_gives_the_fix() -> None:
    """An untrusted certificate anywhere in the cause chain is named, with the fix."""
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    wrapper = ConnectionError("connect failed")
    wrapper.__cause__ = cert
    expected = (
        "TLS certificate verification failed: certificate not trusted"
        " (self-signed certificate); set ca_file to the CA that signed it"
    )
    assert (tls_problem(wrapper), tls_problem(OSError("refused"))) == (expected, None)

"""TLS for IMAP and SMTP alike: the client context and what to say when TLS fails."""

from __future__ import annotations

import ssl
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

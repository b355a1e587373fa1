"""Build the shell objects named by the settings (mailbox, transport, store, service)."""

from __future__ import annotations

from mailbot.clock import Clock
from mailbot.config import Settings
from mailbot.errors import ConfigError
from mailbot.mailbox import Mailbox, MaildirMailbox
from mailbot.service import Service
from mailbot.store import Store
from mailbot.transport import MaildirTransport, SmtpTransport, Transport


def build_mailbox(settings: Settings) -> Mailbox:
    """The mailbox backend of the settings."""
    mb = settings.mailbox
    if mb.backend == "maildir":
        assert mb.path is not None  # checked by config
        return MaildirMailbox(mb.path, quarantine_folder=mb.quarantine_folder)
    raise ConfigError(f"{settings.source}: [mailbox] backend {mb.backend!r} is not available yet")


def build_transport(settings: Settings) -> Transport:
    """The outbound transport of the settings."""
    out = settings.outbound
    if out.transport == "maildir":
        assert out.path is not None  # checked by config
        return MaildirTransport(out.path)
    return SmtpTransport(
        out.host,
        out.port,
        out.security,
        out.username or None,
        out.password.reveal() if out.password else None,
        ca_file=out.ca_file,
    )


def build_service(settings: Settings, clock: Clock) -> Service:
    """A ready service with its own store connection."""
    return Service(
        settings,
        Store(settings.database.path),
        build_mailbox(settings),
        build_transport(settings),
        clock,
    )

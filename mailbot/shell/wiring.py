"""Build the shell objects named by the settings (mailbox, transport, store, service)."""

from __future__ import annotations

from mailbot.core.config import MailboxSettings, OutboundSettings, Settings
from mailbot.core.errors import ConfigError
from mailbot.shell.clock import Clock
from mailbot.shell.keys import load_key
from mailbot.shell.logs import get_logger
from mailbot.shell.mailbox import Mailbox, MaildirMailbox
from mailbot.shell.oauth import OAuthClient, TokenProvider, oauth_client
from mailbot.shell.pipeline import Service
from mailbot.shell.smtp import SmtpTransport
from mailbot.shell.transport import MaildirTransport, Transport
from mailbot.store import Store

IMAP_TIMEOUT = 15.0
"""Seconds an IMAP connect or command may take (also bounds how long SIGTERM waits)."""

TokenProviders = dict[OAuthClient, TokenProvider]
"""One token provider per app registration, shared by IMAP and SMTP."""


def token_provider(
    name: str, section: MailboxSettings | OutboundSettings, shared: TokenProviders | None = None
) -> TokenProvider | None:
    """The token provider of an auth = "xoauth2" section (reused from `shared`), else None."""
    if section.auth != "xoauth2":
        return None
    key = oauth_client(section)
    pool: TokenProviders = shared if shared is not None else {}
    if key not in pool:
        pool[key] = TokenProvider(key, name)
    return pool[key]


def build_mailbox(
    settings: Settings, store: Store | None = None, tokens: TokenProviders | None = None
) -> Mailbox:
    """The mailbox backend of the settings (IMAP remembers UIDVALIDITY in `store`)."""
    mb = settings.mailbox
    if mb.backend == "maildir":
        if mb.path is None:
            raise ConfigError(f"{settings.source}: [mailbox] path is required for maildir")
        return MaildirMailbox(mb.path, quarantine_folder=mb.quarantine_folder)
    from mailbot.shell.imap import ImapMailbox  # noqa: PLC0415 - imapclient only when used

    return ImapMailbox(
        mb, state=store, timeout=IMAP_TIMEOUT, tokens=token_provider("mailbox", mb, tokens)
    )


def build_transport(settings: Settings, tokens: TokenProviders | None = None) -> Transport:
    """The outbound transport of the settings."""
    out = settings.outbound
    if out.transport == "maildir":
        if out.path is None:
            raise ConfigError(f"{settings.source}: [outbound] path is required for maildir")
        return MaildirTransport(out.path)
    return SmtpTransport(
        out.host,
        out.port,
        out.security,
        out.username or None,
        out.password.reveal() if out.password else None,
        ca_file=out.ca_file,
        tokens=token_provider("outbound", out, tokens),
    )


def build_service(settings: Settings, clock: Clock, outbox_store: Store | None = None) -> Service:
    """A ready service with its own store connection (and one for the outbox, if given);
    ConfigError, before the database is opened, when the [openpgp] key cannot be loaded."""
    key = load_key(settings.openpgp, clock.now())
    if key is not None:
        get_logger().info("openpgp_key_loaded", fingerprint=key.fingerprint)
    store = Store(settings.database.path)
    behind = store.adopt_mark()
    for year, (known, mark) in behind.items():
        # Put back by hand (`cp`): numbers up to the mark left the system already.
        get_logger().warning("case_numbers_behind", year=year, known=known, mark=mark)
    tokens: TokenProviders = {}
    extra = settings.outbound.connections - 1 if settings.outbound.transport == "smtp" else 0
    return Service(
        settings,
        store,
        build_mailbox(settings, store, tokens),
        build_transport(settings, tokens),
        clock,
        outbox_store=outbox_store,
        lanes=tuple(build_transport(settings, tokens) for _ in range(extra)),
        key=key,
    )

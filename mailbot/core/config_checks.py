"""Checks across keys of a loaded configuration: what each key allows alone is checked
while converting (config_values.py); what keys require of each other is checked here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.core.errors import ConfigError
from mailbot.mail.template_files import packaged_templates_dir

if TYPE_CHECKING:
    from mailbot.core.config import MailboxSettings, OutboundSettings, Settings

MAX_CONNECTIONS = 10
REPORT_LANGUAGES = ("", "nl", "en")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: A plain addr-spec (dot-atom@domain, as outgoing mail accepts it): no display name,
#: no list, no comment.
PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def check_consistency(s: Settings) -> None:
    """Refuse settings whose keys are fine alone but not together, naming the keys."""
    src = s.source
    if "@" not in s.identity.address or any(c in s.identity.address for c in " <>,\r\n"):
        raise ConfigError(f"{src}: [identity] address: not an address: {s.identity.address!r}")
    if not s.identity.case_prefix.isalnum() or not s.identity.case_prefix.isascii():
        raise ConfigError(f"{src}: [identity] case_prefix: letters and digits only")
    if s.mailbox.backend == "maildir" and s.mailbox.path is None:
        raise ConfigError(f'{src}: [mailbox] path is required when backend = "maildir"')
    if s.mailbox.backend == "imap" and not (s.mailbox.host and s.mailbox.username):
        raise ConfigError(f"{src}: [mailbox] host and username are required for imap")
    if s.outbound.transport == "maildir" and s.outbound.path is None:
        raise ConfigError(f'{src}: [outbound] path is required when transport = "maildir"')
    if s.outbound.transport == "smtp" and not s.outbound.host:
        raise ConfigError(f'{src}: [outbound] host is required when transport = "smtp"')
    if not 1 <= s.outbound.connections <= MAX_CONNECTIONS:
        raise ConfigError(
            f"{src}: [outbound] connections: 1 to {MAX_CONNECTIONS}, got {s.outbound.connections}"
        )
    try:
        ZoneInfo(s.deadlines.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{src}: [deadlines] timezone: unknown {s.deadlines.timezone!r}") from exc
    if s.deadlines.office_open >= s.deadlines.cutoff:
        raise ConfigError(f"{src}: [deadlines] office_open must be before cutoff")
    if s.limits.spam_header and ":" not in s.limits.spam_header:
        raise ConfigError(f"{src}: [limits] spam_header: expected 'Header: value'")
    for section in ("mailbox", "outbound"):
        sec = getattr(s, section)
        if sec.password is not None and sec.password_file is not None:
            raise ConfigError(f"{src}: [{section}] give password or password_file, not both")
    if s.mailbox.backend == "imap" and s.mailbox.auth == "xoauth2":
        _check_oauth(src, "mailbox", s.mailbox)
    if s.outbound.transport == "smtp" and s.outbound.auth == "xoauth2":
        _check_oauth(src, "outbound", s.outbound)
        if not s.outbound.username:
            raise ConfigError(f'{src}: [outbound] username is required when auth = "xoauth2"')
    _check_report(s)
    _check_triage(s)
    if s.openpgp.passphrase_file is not None and s.openpgp.secret_key_file is None:
        raise ConfigError(f"{src}: [openpgp] passphrase_file needs secret_key_file (the key)")


def _check_report(s: Settings) -> None:
    """[report] language is nl, en or empty; every recipient a plain address."""
    if s.report.language not in REPORT_LANGUAGES:
        raise ConfigError(
            f'{s.source}: [report] language: must be "nl", "en" or empty (the [identity] '
            f"language), got {s.report.language!r}"
        )
    for address in s.report.recipients:
        if len(address) > 254 or not PLAIN_ADDRESS.fullmatch(address):
            raise ConfigError(
                f"{s.source}: [report] recipients: not a plain address (local@domain): {address!r}"
            )


TRIAGE_LANGUAGES = ("nl", "en")


def _check_triage(s: Settings) -> None:
    """Every known finding's reply template exists in Dutch and English, in the
    [templates] directory or among the packaged templates."""
    folders = [d for d in (s.templates.directory, packaged_templates_dir()) if d is not None]
    for finding in s.triage.known_findings:
        for language in TRIAGE_LANGUAGES:
            file = f"{language}/{finding.reply_template}.txt"
            if not any((folder / file).is_file() for folder in folders):
                raise ConfigError(
                    f"{s.source}: [triage] known_findings {finding.name!r}: reply_template "
                    f"{finding.reply_template!r} has no file {file} (looked in "
                    f"{', '.join(str(f) for f in folders)})"
                )


def _check_oauth(src: str, section: str, sec: MailboxSettings | OutboundSettings) -> None:
    """auth = "xoauth2" needs tenant, client_id and exactly one credential file."""
    where = f"{src}: [{section}]"
    for key in ("tenant", "client_id"):
        if not getattr(sec, key):
            raise ConfigError(f'{where} {key} is required when auth = "xoauth2"')
    if (sec.client_secret_file is None) == (sec.client_certificate_file is None):
        raise ConfigError(
            f'{where} auth = "xoauth2" needs one of client_secret_file or '
            "client_certificate_file (not both)"
        )
    if sec.client_certificate_thumbprint and sec.client_certificate_file is None:
        raise ConfigError(f"{where} client_certificate_thumbprint needs client_certificate_file")
    if sec.password is not None or sec.password_file is not None:
        raise ConfigError(f'{where} password/password_file are not used with auth = "xoauth2"')
    if not sec.authority.startswith("https://"):
        raise ConfigError(f"{where} authority: must be an https:// URL, got {sec.authority!r}")

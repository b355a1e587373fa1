"""TOML configuration → frozen settings. Every error names the key and the file."""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, time
from pathlib import Path
from typing import Any

from mailbot.core.config_checks import check_consistency
from mailbot.core.config_values import did_you_mean, read_section
from mailbot.core.errors import ConfigError
from mailbot.core.known import KnownFinding
from mailbot.core.secret import Secret

DEFAULT_PATH = Path("/etc/mailbot/config.toml")
CONFIG_ENV = "MAILBOT_CONFIG"


@dataclass(frozen=True)
class IdentitySettings:
    """[identity]: who the bot is."""

    address: str
    name: str = "Meldpunt kwetsbaarheden"
    organisation: str = ""
    case_prefix: str = "MK"
    language: str = "nl"


@dataclass(frozen=True)
class ServerSettings:
    """What [mailbox] and [outbound] share: the server, its TLS, and how we log in."""

    path: Path | None = None
    host: str = ""
    port: int = 0
    """0: the usual port of `security` (IMAP 993 for tls, else 143; SMTP 465, 587, 25)."""
    security: str = "tls"
    username: str = ""
    password: Secret | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    auth: str = "password"
    """"password", or "xoauth2": OAuth2 client credentials (Microsoft 365, see oauth.py)."""
    tenant: str = ""
    client_id: str = ""
    client_secret_file: Path | None = None
    client_certificate_file: Path | None = None
    """PEM with the certificate and its unencrypted private key."""
    client_certificate_thumbprint: str = ""
    authority: str = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class MailboxSettings(ServerSettings):
    """[mailbox]: where reports arrive."""

    backend: str = "maildir"
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    idle: bool = True
    poll_seconds: int = 60


@dataclass(frozen=True)
class OutboundSettings(ServerSettings):
    """[outbound]: how mail leaves."""

    transport: str = "maildir"
    security: str = "starttls"
    connections: int = 3
    """SMTP connections that send side by side (1-10; Exchange Online allows 3)."""


@dataclass(frozen=True)
class StaffSettings:
    """[staff]: who may run cases, who is told, who is escalated to."""

    addresses: tuple[str, ...] = ()
    """Lower-cased and stripped here, once: compare sender addresses with them as they are."""
    notify: tuple[str, ...] = ()
    escalate: tuple[str, ...] = ()
    require_authenticated: bool = True
    authserv_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "addresses", normalised(self.addresses))


@dataclass(frozen=True)
class RelaySettings:
    """[relays]: trusted senders that forward reports of others (e.g. VNG)."""

    senders: tuple[str, ...] = ()
    """Lower-cased and stripped here, once, like the staff addresses."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "senders", normalised(self.senders))


def normalised(addresses: tuple[str, ...]) -> tuple[str, ...]:
    """`addresses` stripped and lower-cased, for comparing with a sender's address."""
    return tuple(a.strip().lower() for a in addresses)


@dataclass(frozen=True)
class DeadlineSettings:
    """[deadlines]: the working-day calendar and the policy's clocks."""

    timezone: str = "Europe/Amsterdam"
    office_open: time = time(8, 30)
    cutoff: time = time(17, 0)
    closure_days: tuple[date, ...] = ()
    acknowledge: int = 1
    respond: int = 5
    update: int = 10
    resolve_days: int = 60
    remind_hours_before: int = 2


@dataclass(frozen=True)
class LimitSettings:
    """[limits]: what one message and one address may cost us."""

    max_message_bytes: int = 25 * 1024 * 1024
    auto_mails_per_address_per_day: int = 10
    spam_header: str = "X-Spam-Flag: YES"


@dataclass(frozen=True)
class DatabaseSettings:
    """[database]: the SQLite file."""

    path: Path = Path("/var/lib/mailbot/mailbot.db")


@dataclass(frozen=True)
class LoggingSettings:
    """[logging]: format and level of the structured logs on stderr."""

    format: str = "console"
    level: str = "info"


@dataclass(frozen=True)
class TemplateSettings:
    """[templates]: an optional folder whose files override the packaged templates."""

    directory: Path | None = None


@dataclass(frozen=True)
class SecurityTxtSettings:
    """[security_txt]: what `mailbot security-txt` publishes (RFC 9116)."""

    policy_url: str = ""
    encryption: str = ""
    """URL of the public key (optional)."""
    expires: date | None = None
    """Required for `mailbot security-txt`; `mailbot status` warns 30 days ahead."""
    canonical: str = ""
    """Where the file is published (optional)."""


@dataclass(frozen=True)
class PrivacySettings:
    """[privacy]: how long reporter data is kept after a case closed (`mailbot purge`)."""

    retention_days: int = 730
    """Default of `mailbot purge --older-than`; 0: no default, the option is then required."""


@dataclass(frozen=True)
class OpenPGPSettings:
    """[openpgp]: the meldpunt's OpenPGP secret key (decrypts reports, signs answers).

    Only the paths live here: the key is read by the commands that use it
    (`mailbot.shell.keys`), like a password_file, and never shows in the settings."""

    secret_key_file: Path | None = None
    """An armoured OpenPGP secret key; None: encrypted reports are flagged, not decrypted."""
    passphrase_file: Path | None = None
    """The key's passphrase (its first line); None: the key is not protected."""


@dataclass(frozen=True)
class ReportSettings:
    """[report]: who gets the monthly report by mail, and in which language."""

    recipients: tuple[str, ...] = ()
    """Mailed last month's report on the first working day, at office opening; () = none."""
    language: str = ""
    """"nl" or "en"; empty: the [identity] language (`report_language`)."""


@dataclass(frozen=True)
class TriageSettings:
    """[triage]: findings the municipality already knows, answered with one command."""

    known_findings: tuple[KnownFinding, ...] = ()
    """Checked and compiled by `known.read_known_findings`; matched by `known.match_known`."""


def report_language(settings: Settings) -> str:
    """The language of the monthly report: [report] language, else [identity] language."""
    return settings.report.language or settings.identity.language


@dataclass(frozen=True)
class Settings:
    """The whole configuration, frozen."""

    identity: IdentitySettings
    mailbox: MailboxSettings = field(default_factory=MailboxSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    staff: StaffSettings = field(default_factory=StaffSettings)
    relays: RelaySettings = field(default_factory=RelaySettings)
    deadlines: DeadlineSettings = field(default_factory=DeadlineSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    templates: TemplateSettings = field(default_factory=TemplateSettings)
    security_txt: SecurityTxtSettings = field(default_factory=SecurityTxtSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    openpgp: OpenPGPSettings = field(default_factory=OpenPGPSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    source: str = field(default="<defaults>", compare=False)


SECTIONS: dict[str, type[Any]] = {
    f.name: typing.get_type_hints(Settings)[f.name] for f in fields(Settings) if f.name != "source"
}

SECRET_ENV = {"mailbox": "MAILBOT_IMAP_PASSWORD", "outbound": "MAILBOT_SMTP_PASSWORD"}


def config_path(cli_value: str | None, env: Mapping[str, str]) -> Path:
    """--config, else $MAILBOT_CONFIG, else /etc/mailbot/config.toml."""
    if cli_value:
        return Path(cli_value)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_PATH


def load(path: Path, env: Mapping[str, str] | None = None, secrets: bool = True) -> Settings:
    """Read and validate the TOML file at `path`; with `secrets`, read the passwords from
    their files or the environment (commands that only read the database skip that, so
    they work without $CREDENTIALS_DIRECTORY)."""
    environ = os.environ if env is None else env
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    settings = from_mapping(data, str(path), base_dir=path.parent)
    return resolve_secrets(settings, environ) if secrets else settings


def from_mapping(data: Mapping[str, Any], source: str, base_dir: Path) -> Settings:
    """Validate a parsed TOML document; relative paths are taken from `base_dir`."""
    for key in data:
        if key not in SECTIONS:
            raise ConfigError(f"{source}: unknown section [{key}]{did_you_mean(key, SECTIONS)}")
    values: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        if name == "identity" and "address" not in raw:
            raise ConfigError(f"{source}: missing required key [identity] address")
        values[name] = read_section(name, cls, raw, source, base_dir)
    settings = _default_ports(Settings(**values, source=source))
    check_consistency(settings)
    return settings


IMAP_PORTS = {"tls": 993, "starttls": 143, "plain": 143}
SMTP_PORTS = {"tls": 465, "starttls": 587, "plain": 25}


def _default_ports(s: Settings) -> Settings:
    """Port 0 (not given) becomes the usual port of the chosen security."""
    mailbox, outbound = s.mailbox, s.outbound
    if mailbox.port == 0:
        mailbox = replace(mailbox, port=IMAP_PORTS[mailbox.security])
    if outbound.port == 0:
        outbound = replace(outbound, port=SMTP_PORTS[outbound.security])
    return replace(s, mailbox=mailbox, outbound=outbound)


def resolve_secrets(settings: Settings, env: Mapping[str, str]) -> Settings:
    """Fill `password` from password_file or the environment variable of each section."""
    updates: dict[str, Any] = {}
    for section, variable in SECRET_ENV.items():
        sec = getattr(settings, section)
        if sec.password is not None:
            continue
        if sec.password_file is not None:
            updates[section] = replace(sec, password=_read_secret(sec.password_file, section))
        elif env.get(variable):
            updates[section] = replace(sec, password=Secret(env[variable]))
    return replace(settings, **updates) if updates else settings


_UNSET = re.compile(r"\$\{?(\w+)")
_CREDENTIALS_HINT = (
    "; systemd sets it for the unit (LoadCredential=); outside it, give the file's real path"
    " or run `systemd-run -P -p LoadCredential=NAME:/etc/mailbot/NAME mailbot ...`"
)


def _read_secret(path: Path, section: str) -> Secret:
    where = f"[{section}] password_file"
    try:
        secret = read_secret_file(path, where).decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: {path} is not UTF-8 text") from exc
    if not secret:
        raise ConfigError(f"{where}: {path} is empty (write the password in it)")
    return Secret(secret)


def read_secret_file(path: Path, where: str) -> bytes:
    """The bytes of the secret file `path` of key `where` (e.g. "[openpgp] secret_key_file");
    ConfigError naming both when a $VARIABLE in it is unset or it cannot be read."""
    unset = _UNSET.search(str(path))  # os.path.expandvars leaves an unset variable as it is
    if unset is not None:
        hint = _CREDENTIALS_HINT if unset.group(1) == "CREDENTIALS_DIRECTORY" else ""
        raise ConfigError(f"{where}: ${unset.group(1)} is not set ({path}){hint}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror or exc}") from exc


def embedded(base: Path) -> Settings:
    """The embedded default used by `mailbot demo`: Maildir in and out under `base`."""
    return _default_ports(
        Settings(
            identity=IdentitySettings(
                address="meldpunt@gemeente.example",
                organisation="Gemeente Voorbeeld",
            ),
            mailbox=MailboxSettings(backend="maildir", path=base / "inbox"),
            outbound=OutboundSettings(transport="maildir", path=base / "outbox"),
            staff=StaffSettings(
                addresses=("ciso@gemeente.example", "security@gemeente.example"),
                notify=("security@gemeente.example",),
                escalate=("ciso@gemeente.example",),
            ),
            relays=RelaySettings(senders=("meldpunt@vng.example",)),
            database=DatabaseSettings(path=base / "mailbot.db"),
            source="<embedded default>",
        )
    )

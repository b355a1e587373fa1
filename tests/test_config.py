"""Tests of the TOML configuration (DESIGN.md §8): loading, validation, secrets."""

from __future__ import annotations

import re
import tomllib
from dataclasses import MISSING, fields
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from factories import toml_literal

from mailbot.core import config
from mailbot.core.config import (
    DEFAULT_PATH,
    DeadlineSettings,
    Secret,
    Settings,
    config_path,
    embedded,
    from_mapping,
    load,
)
from mailbot.core.errors import ConfigError, UserError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
SECTION_LINE = re.compile(r"^\[([A-Za-z0-9_.]+)\]\s*$")
KEY_LINE = re.compile(r"^(#\s*)?([a-z_][a-z0-9_]*)\s*=")
PASSWORD = "hunter2-Zeer-Geheim"

MINIMAL = """\
[identity]
address = "meldpunt@gemeente.example"

[mailbox]
path = "inbox"

[outbound]
path = "outbox"
"""


def write(folder: Path, text: str, name: str = "config.toml") -> Path:
    """Write `text` as a config file in `folder` and return its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(folder: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    """Load `text` as a config file (empty environment unless given)."""
    return load(write(folder, text), env={} if env is None else env)


def with_section(extra: str) -> str:
    """MINIMAL plus `extra` appended (TOML lets a table appear once, so keep them apart)."""
    return MINIMAL + "\n" + extra


def example_keys() -> dict[str, dict[str, bool]]:
    """{section: {key: commented?}} of every `key = ...` and `# key = ...` line of the example."""
    found: dict[str, dict[str, bool]] = {}
    section: str | None = None
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        header = SECTION_LINE.match(line)
        if header:
            section = header.group(1)
            found.setdefault(section, {})
            continue
        key = KEY_LINE.match(line)
        if key and section is not None:
            found[section][key.group(2)] = key.group(1) is not None
    return found


def field_default(cls: type[Any], name: str) -> Any:
    """The default value of dataclass field `name` of `cls`."""
    for f in fields(cls):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
            raise AssertionError(f"{cls.__name__}.{name} has no default")
    raise AssertionError(f"{cls.__name__} has no field {name}")


def as_toml_value(value: Any) -> Any:
    """A settings value turned back into what TOML would give `from_mapping`."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [as_toml_value(v) for v in value]
    return value


def as_mapping(settings: Settings) -> dict[str, dict[str, Any]]:
    """Settings as a parsed-TOML mapping (None values left out)."""
    data: dict[str, dict[str, Any]] = {}
    for name in config.SECTIONS:
        section = getattr(settings, name)
        data[name] = {
            f.name: as_toml_value(getattr(section, f.name))
            for f in fields(section)
            if getattr(section, f.name) is not None
        }
    return data


def assert_config_error(path: Path, text: str, *needles: str) -> str:
    """Loading `text` raises ConfigError whose message holds every needle and the path."""
    file = write(path, text)
    with pytest.raises(ConfigError) as info:
        load(file, env={})
    message = str(info.value)
    for needle in (str(file), *needles):
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


# --- the example file --------------------------------------------------------------------


def test_example_loads() -> None:
    """config.example.toml is a valid configuration."""
    settings = load(EXAMPLE, env={})
    assert settings.identity.address == "meldpunt@gemeente.example"
    assert settings.mailbox.backend == "maildir"
    assert settings.mailbox.path == Path("/var/lib/mailbot/inbox")
    assert settings.outbound.path == Path("/var/lib/mailbot/outbox")
    assert settings.relays.senders == ("meldpunt@vng.example",)
    assert settings.deadlines.cutoff == time(17, 0)
    assert settings.source == str(EXAMPLE)


def test_example_sections_match_model() -> None:
    """The example has exactly the sections of the settings model."""
    assert sorted(example_keys()) == sorted(config.SECTIONS)


def test_example_documents_every_model_key() -> None:
    """Every field of every section appears in the example, set or as a `# key =` line."""
    documented = example_keys()
    missing = [
        f"[{name}] {f.name}"
        for name, cls in config.SECTIONS.items()
        for f in fields(cls)
        if f.name not in documented.get(name, {})
    ]
    assert missing == []


def test_example_has_no_key_unknown_to_model() -> None:
    """Every key in the example (set or commented) is a field of its section."""
    unknown = [
        f"[{section}] {key}"
        for section, keys in example_keys().items()
        for key in keys
        if key not in {f.name for f in fields(config.SECTIONS[section])}
    ]
    assert unknown == []


def test_example_commented_keys_show_their_defaults(tmp_path: Path) -> None:
    """Uncommenting every `# key = value` line of the example gives the model's defaults."""
    text = re.sub(r"(?m)^#\s*(?=[a-z_][a-z0-9_]*\s*=)", "", EXAMPLE.read_text(encoding="utf-8"))
    settings = load_text(tmp_path, text)
    commented = [
        (section, key)
        for section, keys in example_keys().items()
        for key, is_commented in keys.items()
        if is_commented
    ]
    assert commented != []
    actual = {(s, k): getattr(getattr(settings, s), k) for s, k in commented}
    expected = {(s, k): field_default(config.SECTIONS[s], k) for s, k in commented}
    # port 0 means "the usual port of the chosen security"
    expected[("mailbox", "port")] = config.IMAP_PORTS[settings.mailbox.security]
    expected[("outbound", "port")] = config.SMTP_PORTS[settings.outbound.security]
    assert actual == expected


# --- structure errors --------------------------------------------------------------------


def test_minimal_config_loads_with_paths_relative_to_config_folder(tmp_path: Path) -> None:
    """A minimal file loads; relative paths are taken from the config file's folder."""
    settings = load_text(tmp_path, MINIMAL)
    assert settings.mailbox.path == tmp_path / "inbox"
    assert settings.outbound.path == tmp_path / "outbox"
    assert settings.deadlines == DeadlineSettings()


def test_unknown_section_is_named_with_file(tmp_path: Path) -> None:
    """An unknown [section] is an error naming the section and the file."""
    assert_config_error(tmp_path, with_section("[mailboxx]\nhost = 'x'\n"), "mailboxx")


def test_unknown_key_is_named_with_file(tmp_path: Path) -> None:
    """An unknown key is an error naming section, key and file."""
    text = MINIMAL.replace('path = "inbox"', 'path = "inbox"\nhostname = "imap.example"')
    message = assert_config_error(tmp_path, text, "hostname", "[mailbox]")
    assert "unknown key" in message


def test_section_must_be_a_table(tmp_path: Path) -> None:
    """A section given as a plain value is an error naming it."""
    assert_config_error(tmp_path, 'logging = "json"\n' + MINIMAL, "[logging]")


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    """A TOML syntax error names the file."""
    assert_config_error(tmp_path, "[identity\naddress = 1\n", "invalid TOML")


def test_missing_file_names_path(tmp_path: Path) -> None:
    """A config file that does not exist is a ConfigError naming the path."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        load(missing, env={})


def test_config_error_is_a_user_error() -> None:
    """ConfigError is the operator's to fix (exit with a clear reason, not a traceback)."""
    assert issubclass(ConfigError, UserError)


# --- value errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "line", "needle"),
    [
        ("mailbox", "poll_seconds = 'sixty'", "poll_seconds"),
        ("mailbox", "poll_seconds = -1", "poll_seconds"),
        ("mailbox", "port = true", "port"),
        ("mailbox", "idle = 1", "idle"),
        ("mailbox", "idle = 'yes'", "idle"),
        ("mailbox", "backend = 'pop3'", "backend"),
        ("mailbox", "security = 'ssl'", "security"),
        ("outbound", "transport = 'sendmail'", "transport"),
        ("staff", "addresses = 'security@gemeente.example'", "addresses"),
        ("staff", "require_authenticated = 'true'", "require_authenticated"),
        ("deadlines", "cutoff = '25:00'", "cutoff"),
        ("deadlines", "office_open = 'half negen'", "office_open"),
        ("deadlines", "office_open = '08:30+01:00'", "office_open"),
        ("deadlines", "closure_days = ['2026-02-30']", "closure_days"),
        ("deadlines", "closure_days = ['24-12-2026']", "closure_days"),
        ("deadlines", "timezone = 'Europe/Amsterdarn'", "timezone"),
        ("deadlines", "timezone = '../../etc/passwd'", "timezone"),
        ("deadlines", "acknowledge = 1.5", "acknowledge"),
        ("limits", "max_message_bytes = '25 MB'", "max_message_bytes"),
        ("limits", "spam_header = 'X-Spam-Flag'", "spam_header"),
        ("logging", "format = 'xml'", "format"),
        ("logging", "level = 'verbose'", "level"),
        ("identity", "language = 'de'", "language"),
    ],
)
def test_bad_value_names_key_and_file(tmp_path: Path, section: str, line: str, needle: str) -> None:
    """A value of the wrong type or outside its choices is an error naming the key."""
    if section in {"identity", "mailbox", "outbound"}:
        text = MINIMAL.replace(f"[{section}]\n", f"[{section}]\n{line}\n")
    else:
        text = with_section(f"[{section}]\n{line}\n")
    message = assert_config_error(tmp_path, text, needle, f"[{section}]")
    assert message.count("\n") == 0


def test_bad_choice_lists_the_choices(tmp_path: Path) -> None:
    """backend = "pop3" says which values are allowed and what was given."""
    text = MINIMAL.replace("[mailbox]\n", "[mailbox]\nbackend = 'pop3'\n")
    assert_config_error(tmp_path, text, "backend", "imap", "maildir", "'pop3'")


def test_office_open_after_cutoff_is_refused(tmp_path: Path) -> None:
    """office_open must come before cutoff."""
    text = with_section("[deadlines]\noffice_open = '18:00'\ncutoff = '17:00'\n")
    assert_config_error(tmp_path, text, "office_open")


def test_missing_identity_address(tmp_path: Path) -> None:
    """[identity] without address is an error naming the key."""
    text = MINIMAL.replace('address = "meldpunt@gemeente.example"', 'name = "Meldpunt"')
    assert_config_error(tmp_path, text, "[identity] address")


def test_missing_identity_section(tmp_path: Path) -> None:
    """A file without [identity] is an error naming [identity] address."""
    text = MINIMAL.replace('[identity]\naddress = "meldpunt@gemeente.example"\n', "")
    assert_config_error(tmp_path, text, "[identity] address")


def test_identity_address_must_be_an_address(tmp_path: Path) -> None:
    """A display-name form or an address without @ is refused, naming the key."""
    text = MINIMAL.replace('"meldpunt@gemeente.example"', '"Meldpunt <meldpunt@x.example>"')
    assert_config_error(tmp_path, text, "[identity] address")


def test_maildir_backend_needs_path(tmp_path: Path) -> None:
    """backend = "maildir" without path is an error naming [mailbox] path."""
    text = MINIMAL.replace('[mailbox]\npath = "inbox"\n', '[mailbox]\nbackend = "maildir"\n')
    assert_config_error(tmp_path, text, "[mailbox] path")


def test_maildir_transport_needs_path(tmp_path: Path) -> None:
    """transport = "maildir" without path is an error naming [outbound] path."""
    text = MINIMAL.replace('[outbound]\npath = "outbox"\n', "[outbound]\n")
    assert_config_error(tmp_path, text, "[outbound] path")


def test_imap_backend_needs_host_and_username(tmp_path: Path) -> None:
    """backend = "imap" without host is an error naming [mailbox]."""
    text = MINIMAL.replace('[mailbox]\npath = "inbox"\n', '[mailbox]\nbackend = "imap"\n')
    assert_config_error(tmp_path, text, "[mailbox]", "host")


def test_smtp_transport_needs_host(tmp_path: Path) -> None:
    """transport = "smtp" without host is an error naming [outbound] host."""
    text = MINIMAL.replace('[outbound]\npath = "outbox"\n', '[outbound]\ntransport = "smtp"\n')
    assert_config_error(tmp_path, text, "[outbound] host")


def test_native_toml_time_and_date_are_accepted(tmp_path: Path) -> None:
    """TOML's own local-time and date values work as well as the quoted forms."""
    text = with_section("[deadlines]\noffice_open = 08:00:00\nclosure_days = [2026-12-24]\n")
    settings = load_text(tmp_path, text)
    assert (settings.deadlines.office_open, settings.deadlines.closure_days) == (
        time(8, 0),
        (date(2026, 12, 24),),
    )


def test_quoted_times_and_dates_are_parsed(tmp_path: Path) -> None:
    """office_open, cutoff and closure_days become time and date values."""
    text = with_section(
        "[deadlines]\noffice_open = '08:00'\ncutoff = '16:30'\n"
        "closure_days = ['2026-12-24', '2026-12-31']\n"
    )
    deadlines = load_text(tmp_path, text).deadlines
    assert (deadlines.office_open, deadlines.cutoff, deadlines.closure_days) == (
        time(8, 0),
        time(16, 30),
        (date(2026, 12, 24), date(2026, 12, 31)),
    )


# --- secrets -----------------------------------------------------------------------------

IMAP = """\
[identity]
address = "meldpunt@gemeente.example"

[mailbox]
backend = "imap"
host = "imap.gemeente.example"
username = "meldpunt"
{extra}

[outbound]
transport = "smtp"
host = "smtp.gemeente.example"
{outbound_extra}
"""


def imap_config(extra: str = "", outbound_extra: str = "") -> str:
    """An imap + smtp config with extra lines in [mailbox] and [outbound]."""
    return IMAP.format(extra=extra, outbound_extra=outbound_extra)


def revealed(secret: Secret | None) -> str | None:
    """The secret's text, or None."""
    return None if secret is None else secret.reveal()


def test_password_file_read_stripped_relative_to_config_folder(tmp_path: Path) -> None:
    """password_file is read (whitespace stripped) from a path relative to the config folder."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "imap").write_text(f"  {PASSWORD}\n\n", encoding="utf-8")
    (tmp_path / "secrets" / "smtp").write_text("smtp-pass\n", encoding="utf-8")
    text = imap_config('password_file = "secrets/imap"', 'password_file = "secrets/smtp"')
    env = {"MAILBOT_IMAP_PASSWORD": "from-env", "MAILBOT_SMTP_PASSWORD": "from-env"}
    settings = load_text(tmp_path, text, env)
    assert settings.mailbox.password_file == tmp_path / "secrets" / "imap"
    assert revealed(settings.mailbox.password) == PASSWORD
    assert revealed(settings.outbound.password) == "smtp-pass"


def test_password_file_missing_names_key(tmp_path: Path) -> None:
    """An unreadable password_file is a ConfigError naming the key and that file."""
    file = write(tmp_path, imap_config('password_file = "missing"'))
    with pytest.raises(ConfigError) as info:
        load(file, env={})
    assert "password_file" in str(info.value)
    assert str(tmp_path / "missing") in str(info.value)


def test_passwords_from_environment(tmp_path: Path) -> None:
    """MAILBOT_IMAP_PASSWORD and MAILBOT_SMTP_PASSWORD fill the passwords."""
    env = {"MAILBOT_IMAP_PASSWORD": PASSWORD, "MAILBOT_SMTP_PASSWORD": "smtp-pass"}
    settings = load_text(tmp_path, imap_config(), env)
    assert (revealed(settings.mailbox.password), revealed(settings.outbound.password)) == (
        PASSWORD,
        "smtp-pass",
    )


def test_no_password_anywhere_leaves_none(tmp_path: Path) -> None:
    """Without password, password_file or environment the password is None."""
    settings = load_text(tmp_path, imap_config(), {})
    assert (settings.mailbox.password, settings.outbound.password) == (None, None)


def test_password_in_file_wins_over_environment(tmp_path: Path) -> None:
    """A password written in the config is kept even when the environment has one."""
    text = imap_config(f'password = "{PASSWORD}"')
    settings = load_text(tmp_path, text, {"MAILBOT_IMAP_PASSWORD": "from-env"})
    assert revealed(settings.mailbox.password) == PASSWORD


@pytest.mark.parametrize("section", ["mailbox", "outbound"])
def test_password_and_password_file_together_refused(tmp_path: Path, section: str) -> None:
    """Giving both password and password_file is an error naming the section."""
    (tmp_path / "pw").write_text("x\n", encoding="utf-8")
    lines = 'password = "x"\npassword_file = "pw"'
    text = imap_config(lines) if section == "mailbox" else imap_config("", lines)
    assert_config_error(tmp_path, text, f"[{section}]", "password_file")


def test_secret_repr_hides_password() -> None:
    """repr() and str() of a Secret never show its text."""
    secret = Secret(PASSWORD)
    assert PASSWORD not in repr(secret)
    assert PASSWORD not in str(secret)
    assert secret.reveal() == PASSWORD


def test_settings_repr_hides_passwords(tmp_path: Path) -> None:
    """repr() of the whole Settings shows neither the IMAP nor the SMTP password."""
    (tmp_path / "smtp").write_text("smtp-Geheim-42\n", encoding="utf-8")
    text = imap_config(f'password = "{PASSWORD}"', 'password_file = "smtp"')
    settings = load_text(tmp_path, text)
    assert revealed(settings.outbound.password) == "smtp-Geheim-42"
    for shown in (repr(settings), str(settings), repr(settings.mailbox), f"{settings}"):
        assert PASSWORD not in shown
        assert "smtp-Geheim-42" not in shown


def test_mistyped_password_not_echoed_in_error(tmp_path: Path) -> None:
    """A password of the wrong type is refused without printing it to the logs."""
    file = write(tmp_path, imap_config("password = 73915824"))
    with pytest.raises(ConfigError) as info:
        load(file, env={})
    assert "password" in str(info.value)
    assert "73915824" not in str(info.value)


# --- where the file is, and the embedded default -----------------------------------------


def test_config_path_prefers_command_line() -> None:
    """--config wins over $MAILBOT_CONFIG."""
    assert config_path("/srv/a.toml", {"MAILBOT_CONFIG": "/srv/b.toml"}) == Path("/srv/a.toml")


def test_config_path_uses_environment() -> None:
    """Without --config, $MAILBOT_CONFIG is used."""
    assert config_path(None, {"MAILBOT_CONFIG": "/srv/b.toml"}) == Path("/srv/b.toml")


def test_config_path_default() -> None:
    """Without both, /etc/mailbot/config.toml."""
    assert config_path(None, {}) == Path("/etc/mailbot/config.toml")
    assert config_path(None, {"MAILBOT_CONFIG": ""}) == DEFAULT_PATH


def test_embedded_is_valid(tmp_path: Path) -> None:
    """The embedded demo settings pass the same validation as a file and live under base."""
    settings = embedded(tmp_path)
    rebuilt = from_mapping(as_mapping(settings), "<rebuilt>", base_dir=tmp_path)
    assert rebuilt == settings
    assert settings.mailbox.path is not None
    assert settings.mailbox.path.is_relative_to(tmp_path)
    assert settings.outbound.path is not None
    assert settings.outbound.path.is_relative_to(tmp_path)
    assert settings.database.path.is_relative_to(tmp_path)


def test_embedded_round_trips_through_toml_text(tmp_path: Path) -> None:
    """The mapping used above is real TOML: the example's own loader accepts it as text."""
    data = as_mapping(embedded(tmp_path))
    lines: list[str] = []
    for name, values in data.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_literal(value)}" for key, value in values.items())
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == data
    assert load_text(tmp_path, text) == embedded(tmp_path)


@pytest.mark.parametrize(
    ("imap_security", "smtp_security", "ports"),
    [("tls", "tls", (993, 465)), ("starttls", "starttls", (143, 587)), ("tls", "plain", (993, 25))],
)
def test_port_defaults_follow_security(
    tmp_path: Path, imap_security: str, smtp_security: str, ports: tuple[int, int]
) -> None:
    """Without a port the usual port of the chosen security is used, for IMAP and SMTP."""
    text = imap_config(f'security = "{imap_security}"', f'security = "{smtp_security}"')
    settings = load(write(tmp_path, text), env={})
    assert (settings.mailbox.port, settings.outbound.port) == ports


def test_commands_that_only_read_skip_the_secrets(tmp_path: Path) -> None:
    """Without secrets an unreadable password_file is no error (cases, deadlines, …)."""
    file = write(tmp_path, imap_config('password_file = "$CREDENTIALS_DIRECTORY/imap"'))
    with pytest.raises(ConfigError):
        load(file, env={"CREDENTIALS_DIRECTORY": str(tmp_path / "none")})
    settings = load(file, env={}, secrets=False)
    assert settings.mailbox.password is None


def test_staff_and_relay_addresses_are_lower_cased_and_stripped_once_on_load(
    tmp_path: Path,
) -> None:
    """[staff] addresses and [relays] senders come out stripped and lower-cased."""
    text = with_section(
        '[staff]\naddresses = [" CISO@Gemeente.Example "]\n'
        '[relays]\nsenders = ["Meldpunt@VNG.example"]\n'
    )
    settings = load_text(tmp_path, text)
    found = (settings.staff.addresses, settings.relays.senders)
    assert found == (("ciso@gemeente.example",), ("meldpunt@vng.example",))


def test_a_mistyped_key_or_section_gets_a_suggestion(tmp_path: Path) -> None:
    """ "did you mean" names the closest known key or section (difflib)."""
    key = MINIMAL.replace('path = "inbox"', 'path = "inbox"\nprocesed_folder = "Done"')
    key_message = assert_config_error(tmp_path, key, "procesed_folder")
    section_message = assert_config_error(
        tmp_path, with_section("[mailbx]\nhost = 'x'\n"), "mailbx"
    )
    assert (
        key_message.endswith("did you mean processed_folder?"),
        "did you mean mailbox?" in section_message,
    ) == (
        True,
        True,
    )


def test_an_empty_password_file_says_so(tmp_path: Path) -> None:
    """An empty password file is named as empty, not taken for a wrong password later."""
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    file = write(tmp_path, imap_config('password_file = "empty"'))
    with pytest.raises(ConfigError) as info:
        load(file, env={})
    assert (
        str(info.value)
        == f"[mailbox] password_file: {tmp_path / 'empty'} is empty (write the password in it)"
    )


def test_an_unset_credentials_directory_is_named_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`$CREDENTIALS_DIRECTORY/…` without the variable says it is unset and how to get it."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    file = write(tmp_path, imap_config('password_file = "$CREDENTIALS_DIRECTORY/imap-password"'))
    with pytest.raises(ConfigError) as info:
        load(file, env={})
    message = str(info.value)
    assert (
        message.startswith("[mailbox] password_file: $CREDENTIALS_DIRECTORY is not set"),
        "LoadCredential=" in message,
    ) == (True, True)


def test_read_only_commands_still_load_without_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without secrets (cases, status …) the unset variable is no error at all."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    file = write(tmp_path, imap_config('password_file = "$CREDENTIALS_DIRECTORY/imap-password"'))
    assert load(file, env={}, secrets=False).mailbox.password is None


def test_openpgp_paths_are_resolved_but_not_read_by_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[openpgp] paths are taken from the config folder or $CREDENTIALS_DIRECTORY; loading
    the config reads neither file (the commands that use the key read it)."""
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    text = with_section(
        '[openpgp]\nsecret_key_file = "$CREDENTIALS_DIRECTORY/openpgp-key"\n'
        'passphrase_file = "keys/passphrase"\n'
    )
    openpgp = load_text(tmp_path, text).openpgp
    actual = (openpgp.secret_key_file, openpgp.passphrase_file)
    assert actual == (tmp_path / "creds" / "openpgp-key", tmp_path / "keys" / "passphrase")


def test_openpgp_passphrase_file_alone_is_refused(tmp_path: Path) -> None:
    """passphrase_file without secret_key_file is an error naming both keys and the file."""
    assert_config_error(
        tmp_path,
        with_section('[openpgp]\npassphrase_file = "pw"\n'),
        "[openpgp] passphrase_file needs secret_key_file",
    )


def test_example_ships_the_usual_known_findings() -> None:
    """config.example.toml lists the usual scanner findings, each with its reply template."""
    findings = load(EXAMPLE, env={}).triage.known_findings
    assert [(f.name, f.reply_template) for f in findings] == [
        ("dmarc", "known_dmarc"),
        ("clickjacking", "known_clickjacking"),
        ("self-xss", "known_self_xss"),
        ("tls", "known_tls"),
        ("version", "known_version"),
        ("headers", "known_headers"),
    ]


def test_known_findings_must_be_a_list_of_tables(tmp_path: Path) -> None:
    """[triage] known_findings given as a string is an error naming the key and the file."""
    assert_config_error(
        tmp_path,
        with_section('[triage]\nknown_findings = "dmarc"\n'),
        "[triage] known_findings",
        "expected a list of tables",
    )

"""[openpgp] secret_key_file and passphrase_file (issue 17, DESIGN.md §11): the key read
like a password file, checked to decrypt and sign, reloaded on SIGHUP; `mailbot check`,
`security-txt` and `openpgp export-public` with it. Keys are made at test time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import factories
import pytest
from pysequoia import Cert, Tsk
from pysequoia.packet import PacketPile

from mailbot.core import config
from mailbot.core.config import OpenPGPSettings
from mailbot.core.errors import ConfigError
from mailbot.mail.openpgp import MeldpuntKey
from mailbot.shell.clock import ManualClock
from mailbot.shell.keys import KeyLoader, _round_trip
from mailbot.shell.wiring import build_service

UID = "Meldpunt kwetsbaarheden <meldpunt@gemeente.example>"
PASSPHRASE = "paard batterij nietje 42"
NOW = datetime(2026, 12, 21, 9, 5, tzinfo=UTC)
KEY_SETTING = "[openpgp] secret_key_file"


# -- keys made at test time ---------------------------------------------------------------


def new_key(validity_seconds: int | None = None) -> Any:
    """A fresh pysequoia key (certify, sign and encrypt subkeys; no passphrase)."""
    return Tsk.generate(UID, validity_seconds=validity_seconds)


def write_key(folder: Path, key: Any, name: str = "openpgp-key") -> Path:
    """`key` armoured (secret) into folder/name, mode 0600; returns the path."""
    path = folder / name
    path.write_text(str(key), encoding="ascii")
    path.chmod(0o600)
    return path


def revoked(key: Any) -> Any:
    """`key` with a revocation signature of its own after its primary key."""
    signature = key.extract_certificate().revoke(key.certifier())
    packets = list(PacketPile.from_bytes(str(key).encode()))
    (revocation,) = list(PacketPile.from_bytes(bytes(signature)))
    return Tsk.from_packets([packets[0], revocation, *packets[1:]])


def fingerprint(armored: str | bytes) -> str:
    """The upper-case fingerprint of an armoured key."""
    data = armored.encode() if isinstance(armored, str) else armored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return str(Cert.from_bytes(data).fingerprint).upper()


@dataclass(frozen=True)
class GpgKeys:
    """Armoured secret keys made by gpg, protected with PASSPHRASE."""

    protected: bytes
    """One signing primary key, one encryption subkey."""
    two_subkeys: bytes
    """The same key after a second encryption subkey was added (a rotation half done)."""


@pytest.fixture(scope="module")
def gpg_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgKeys]:
    """Keys made by gpg with a passphrase (pysequoia cannot set one), as an admin following
    the README makes them."""
    gpg = shutil.which("gpg")
    if gpg is None:
        pytest.skip("gpg is not installed: the passphrase-protected key is made with gpg")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    base = [gpg, "--homedir", str(home), "--batch", "--quiet", "--pinentry-mode", "loopback"]
    base += ["--passphrase", PASSPHRASE]

    def run(*args: str) -> bytes:
        return subprocess.run([*base, *args], capture_output=True, check=True, timeout=60).stdout

    try:
        run("--quick-gen-key", UID, "ed25519", "sign", "never")
        listing = run("--with-colons", "--list-secret-keys", "meldpunt@gemeente.example")
        fpr = next(line.split(":")[9] for line in listing.decode().splitlines() if "fpr" in line)
        run("--quick-add-key", fpr, "cv25519", "encr", "never")
        protected = run("--armor", "--export-secret-keys", fpr)
        run("--quick-add-key", fpr, "cv25519", "encr", "never")
        yield GpgKeys(protected, run("--armor", "--export-secret-keys", fpr))
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            subprocess.run([gpgconf, "--homedir", str(home), "--kill", "gpg-agent"], check=False)


@pytest.fixture
def protected_key(gpg_keys: GpgKeys) -> bytes:
    """The passphrase-protected key with one encryption subkey."""
    return gpg_keys.protected


def load(folder: Path, **openpgp: str) -> Any:
    """The key of an [openpgp] section with `openpgp` (paths relative to `folder`),
    loaded through config.load and a fresh KeyLoader at NOW."""
    lines = "".join(f'{k} = "{v}"\n' for k, v in openpgp.items())
    path = folder / "config.toml"
    path.write_text(
        '[identity]\naddress = "meldpunt@gemeente.example"\n[mailbox]\npath = "inbox"\n'
        f'[outbound]\npath = "outbox"\n[openpgp]\n{lines}',
        encoding="utf-8",
    )
    return KeyLoader().load(config.load(path, env={}).openpgp, NOW)


def refusal(folder: Path, **openpgp: str) -> str:
    """The ConfigError message of loading `openpgp` (see `load`)."""
    with pytest.raises(ConfigError) as info:
        load(folder, **openpgp)
    return str(info.value)


# -- loading ------------------------------------------------------------------------------


def test_no_secret_key_file_means_no_key(tmp_path: Path) -> None:
    """Without secret_key_file there is no key (encrypted reports are only flagged)."""
    assert load(tmp_path) is None


def test_key_loads_with_its_fingerprint_and_public_part(tmp_path: Path) -> None:
    """An unprotected key loads; fingerprint and public part are those of the file."""
    key = new_key()
    write_key(tmp_path, key)
    loaded = load(tmp_path, secret_key_file="openpgp-key")
    expected = str(key.extract_certificate().fingerprint).upper()
    assert (loaded.fingerprint, fingerprint(loaded.public_armor)) == (expected, expected)
    assert "PRIVATE KEY" not in loaded.public_armor


def test_key_from_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$CREDENTIALS_DIRECTORY in secret_key_file is expanded (systemd's LoadCredential=)."""
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    (tmp_path / "creds").mkdir()
    key = new_key()
    write_key(tmp_path / "creds", key)
    loaded = load(tmp_path, secret_key_file="$CREDENTIALS_DIRECTORY/openpgp-key")
    assert loaded.fingerprint == str(key.extract_certificate().fingerprint).upper()


def test_unset_credentials_directory_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unset $CREDENTIALS_DIRECTORY is named, with the LoadCredential= hint."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    message = refusal(tmp_path, secret_key_file="$CREDENTIALS_DIRECTORY/openpgp-key")
    assert message.startswith(f"{KEY_SETTING}: $CREDENTIALS_DIRECTORY is not set")
    assert "LoadCredential=" in message


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    """A missing key file: ConfigError naming the key and the file."""
    message = refusal(tmp_path, secret_key_file="absent.asc")
    expected = f"{KEY_SETTING}: cannot read {tmp_path / 'absent.asc'}: No such file or directory"
    assert message == expected


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    """A key path that cannot be read (a folder): ConfigError naming the key and the path."""
    (tmp_path / "keys").mkdir()
    message = refusal(tmp_path, secret_key_file="keys")
    assert message == f"{KEY_SETTING}: cannot read {tmp_path / 'keys'}: Is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 0000")
def test_key_file_without_permission_is_named(tmp_path: Path) -> None:
    """A key file the user may not read: ConfigError naming it and "Permission denied"."""
    write_key(tmp_path, new_key()).chmod(0)
    message = refusal(tmp_path, secret_key_file="openpgp-key")
    assert message == f"{KEY_SETTING}: cannot read {tmp_path / 'openpgp-key'}: Permission denied"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "is empty (write the armoured secret key"),
        (b"hunter2\n", "not an OpenPGP secret key ("),
        (b"-----BEGIN PGP MESSAGE-----\n\nxyz\n-----END PGP MESSAGE-----\n", "not an OpenPGP"),
    ],
)
def test_not_a_key_is_refused_naming_the_file(tmp_path: Path, content: bytes, needle: str) -> None:
    """An empty file, a password, a damaged armour: ConfigError naming key and file."""
    (tmp_path / "openpgp-key").write_bytes(content)
    message = refusal(tmp_path, secret_key_file="openpgp-key")
    assert message.startswith(f"{KEY_SETTING} {tmp_path / 'openpgp-key'}: ")
    assert needle in message


def test_public_key_instead_of_secret_key_is_named(tmp_path: Path) -> None:
    """The public key given by mistake: refused, saying it is the public key and how to
    export the secret one."""
    key = new_key()
    (tmp_path / "public.asc").write_text(str(key.extract_certificate()), encoding="ascii")
    message = refusal(tmp_path, secret_key_file="public.asc")
    fpr = str(key.extract_certificate().fingerprint).upper()
    expected = (
        f"{KEY_SETTING} {tmp_path / 'public.asc'}: holds the public key {fpr}, not its secret"
        " key (gpg --armor --export-secret-keys FINGERPRINT)"
    )
    assert message == expected


def test_revoked_key_is_refused(tmp_path: Path) -> None:
    """A revoked key is refused: answers must not be signed with it."""
    key = new_key()
    write_key(tmp_path, revoked(key))
    message = refusal(tmp_path, secret_key_file="openpgp-key")
    fpr = str(key.extract_certificate().fingerprint).upper()
    expected = (
        f"{KEY_SETTING} {tmp_path / 'openpgp-key'}: key {fpr} is revoked: configure a new key"
    )
    assert message == expected


def test_expired_key_is_refused_with_the_date(tmp_path: Path) -> None:
    """A key past its expiry at `now` is refused, naming the date and how to extend it."""
    key = new_key(validity_seconds=86_400)
    write_key(tmp_path, key)
    expires = Cert.from_bytes(str(key.extract_certificate()).encode()).expiration
    settings = OpenPGPSettings(secret_key_file=tmp_path / "openpgp-key")
    later = datetime(2100, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError) as info:
        KeyLoader().load(settings, later)
    assert f"expired on {expires:%Y-%m-%d}: extend it (gpg --quick-set-expire" in str(info.value)


def test_a_cached_key_is_still_checked_for_expiry(tmp_path: Path) -> None:
    """The same files again give the same key object, until `now` passes its expiry."""
    write_key(tmp_path, new_key(validity_seconds=86_400))
    settings = OpenPGPSettings(secret_key_file=tmp_path / "openpgp-key")
    loader = KeyLoader()
    first = loader.load(settings, NOW.replace(year=2000))
    again = loader.load(settings, NOW.replace(year=2000))
    assert again is first
    with pytest.raises(ConfigError, match="expired on"):
        loader.load(settings, datetime(2100, 1, 1, tzinfo=UTC))


def test_a_key_that_cannot_decrypt_to_itself_is_refused() -> None:
    """The round trip: a probe encrypted to the key's public part must decrypt with its
    secret part (here the secret part of another key: refused, naming the fingerprint)."""
    mine, other = new_key(), new_key()
    public = mine.extract_certificate()
    mismatched = MeldpuntKey(other, None, str(public.fingerprint).upper(), str(public))
    with pytest.raises(ConfigError) as info:
        _round_trip(mismatched, KEY_SETTING)
    expected = f"{KEY_SETTING}: key {mismatched.fingerprint} cannot decrypt what is encrypted to it"
    assert str(info.value).startswith(expected)


def test_changed_key_file_gives_the_new_key(tmp_path: Path) -> None:
    """A key file replaced by another key gives the other key on the next load."""
    loader = KeyLoader()
    settings = OpenPGPSettings(secret_key_file=tmp_path / "openpgp-key")
    write_key(tmp_path, new_key())
    first = loader.load(settings, NOW)
    second_key = new_key()
    write_key(tmp_path, second_key)
    second = loader.load(settings, NOW)
    assert first is not None and second is not None
    expected = str(second_key.extract_certificate().fingerprint).upper()
    assert (second.fingerprint != first.fingerprint, second.fingerprint) == (True, expected)


def test_passphrase_file_without_secret_key_file_is_refused(tmp_path: Path) -> None:
    """passphrase_file alone is a ConfigError naming the config file and both keys."""
    message = refusal(tmp_path, passphrase_file="pw")
    expected = f"{tmp_path / 'config.toml'}: [openpgp] passphrase_file needs secret_key_file"
    assert message == expected + " (the key)"


def test_mistyped_key_and_section_get_did_you_mean(tmp_path: Path) -> None:
    """A mistyped key or section name gets "did you mean" (as for every section)."""
    assert "did you mean secret_key_file?" in refusal(tmp_path, secret_keyfile="x")
    (tmp_path / "bad.toml").write_text('[opengpg]\nsecret_key_file = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown section \[opengpg\]; did you mean openpgp\?"):
        config.load(tmp_path / "bad.toml", env={})


# -- a passphrase-protected key (made with gpg) --------------------------------------------


def test_protected_key_loads_with_its_passphrase(tmp_path: Path, protected_key: bytes) -> None:
    """A gpg key with a passphrase loads with passphrase_file; the file's first line is the
    passphrase (its CRLF line end and a second line ignored, as gpg --passphrase-file does)."""
    (tmp_path / "openpgp-key").write_bytes(protected_key)
    (tmp_path / "pw").write_text(PASSPHRASE + "\r\nsecond line\n", encoding="utf-8")
    loaded = load(tmp_path, secret_key_file="openpgp-key", passphrase_file="pw")
    assert loaded.fingerprint == fingerprint(protected_key)


def test_protected_key_with_wrong_passphrase_is_named(tmp_path: Path, protected_key: bytes) -> None:
    """A wrong passphrase: ConfigError naming the key file and "wrong passphrase?"."""
    (tmp_path / "openpgp-key").write_bytes(protected_key)
    (tmp_path / "pw").write_text("not the passphrase\n", encoding="utf-8")
    message = refusal(tmp_path, secret_key_file="openpgp-key", passphrase_file="pw")
    assert message.startswith(f"{KEY_SETTING} {tmp_path / 'openpgp-key'}: the secret key cannot")
    assert message.endswith("(wrong passphrase?)")


def test_protected_key_without_passphrase_file_is_named(
    tmp_path: Path, protected_key: bytes
) -> None:
    """A protected key without passphrase_file: the message points at passphrase_file."""
    (tmp_path / "openpgp-key").write_bytes(protected_key)
    message = refusal(tmp_path, secret_key_file="openpgp-key")
    assert message.startswith(f"{KEY_SETTING} {tmp_path / 'openpgp-key'}: ")
    assert message.endswith("(wrong or missing passphrase_file?)")


def test_empty_passphrase_file_is_named(tmp_path: Path, protected_key: bytes) -> None:
    """A passphrase file with an empty first line is refused naming it."""
    (tmp_path / "openpgp-key").write_bytes(protected_key)
    (tmp_path / "pw").write_text("\n", encoding="utf-8")
    message = refusal(tmp_path, secret_key_file="openpgp-key", passphrase_file="pw")
    expected = f"[openpgp] passphrase_file {tmp_path / 'pw'}: the first line is empty"
    assert message == expected + " (write the passphrase)"


def test_key_with_two_encryption_subkeys_is_refused(tmp_path: Path, gpg_keys: GpgKeys) -> None:
    """A key with two valid encryption subkeys is refused: the library decrypts with one of
    them only (which one is not defined), so reports to the other would not be read."""
    (tmp_path / "openpgp-key").write_bytes(gpg_keys.two_subkeys)
    (tmp_path / "pw").write_text(PASSPHRASE + "\n", encoding="utf-8")
    message = refusal(tmp_path, secret_key_file="openpgp-key", passphrase_file="pw")
    fpr = fingerprint(gpg_keys.two_subkeys)
    expected = (
        f"{KEY_SETTING} {tmp_path / 'openpgp-key'}: key {fpr} has 2 valid encryption subkeys;"
        " mailbot decrypts with one of them only: expire the old ones"
    )
    assert message.startswith(expected)


# -- the service: start and reload --------------------------------------------------------


def keyed_config(folder: Path, **security_txt: object) -> Path:
    """factories.write_config with [openpgp] secret_key_file = folder/openpgp-key."""
    return factories.write_config(
        folder,
        openpgp={"secret_key_file": str(folder / "openpgp-key")},
        security_txt=security_txt or None,
    )


def test_build_service_loads_the_key_and_reload_changes_it(tmp_path: Path) -> None:
    """build_service hands the key to the Service; a reload reads the file again, takes a
    new key, and refuses a broken one before anything changed (the old key stays)."""
    write_key(tmp_path, new_key())
    cfg = keyed_config(tmp_path)
    service = build_service(config.load(cfg, env={}), ManualClock(NOW))
    try:
        first = service.key
        assert first is not None
        assert first.fingerprint == fingerprint((tmp_path / "openpgp-key").read_text())
        assert service.recorder.key is first
        second = new_key()
        write_key(tmp_path, second)
        service.reconfigure(config.load(cfg, env={}))
        expected = str(second.extract_certificate().fingerprint).upper()
        assert service.key is not None and service.key.fingerprint == expected
        assert service.recorder.key is service.key
        kept, recorder = service.key, service.recorder
        (tmp_path / "openpgp-key").write_text("broken\n", encoding="ascii")
        changed = replace(config.load(cfg, env={}), identity=replace(service.settings.identity))
        with pytest.raises(ConfigError, match="not an OpenPGP secret key"):
            service.reconfigure(changed)
        assert (service.key, service.recorder) == (kept, recorder)
    finally:
        service.close()


def test_build_service_refuses_a_bad_key_before_the_database(tmp_path: Path) -> None:
    """A key that cannot be loaded stops build_service before the database is created."""
    (tmp_path / "openpgp-key").write_text(str(new_key().extract_certificate()), encoding="ascii")
    settings = config.load(keyed_config(tmp_path), env={})
    with pytest.raises(ConfigError, match="holds the public key"):
        build_service(settings, ManualClock(NOW))
    assert not settings.database.path.exists()


def test_daemon_refuses_to_start_with_a_bad_key(tmp_path: Path) -> None:
    """`mailbot run` with a key it cannot load: exit 2, one line on stderr naming the file."""
    (tmp_path / "openpgp-key").write_text("not a key\n", encoding="ascii")
    result = factories.mailbot(keyed_config(tmp_path), "run", check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"mailbot: {KEY_SETTING} {tmp_path / 'openpgp-key'}: not an OpenPGP secret key"
        " (unexpected EOF)"
    ]


def test_sighup_loads_a_new_key_and_refuses_a_broken_one(tmp_path: Path) -> None:
    """A running daemon: SIGHUP after the key file changed logs the new fingerprint; after
    it broke, the reload is refused naming the file and the daemon keeps running."""
    write_key(tmp_path, new_key())
    with factories.daemon(keyed_config(tmp_path)) as running:
        (loaded,) = running.events("openpgp_key_loaded")
        second = new_key()
        write_key(tmp_path, second)
        running.proc.send_signal(signal.SIGHUP)
        (reloaded,) = running.wait_event("openpgp_key_reloaded")
        expected = str(second.extract_certificate().fingerprint).upper()
        assert (reloaded["fingerprint"], loaded["fingerprint"] != expected) == (expected, True)
        (tmp_path / "openpgp-key").write_text("broken\n", encoding="ascii")
        running.proc.send_signal(signal.SIGHUP)
        (refused,) = running.wait_event("config_reload_refused")
        assert refused["reason"].startswith(f"{KEY_SETTING} {tmp_path / 'openpgp-key'}: ")
        assert running.proc.poll() is None


# -- the commands -------------------------------------------------------------------------


@pytest.mark.parametrize("validity_seconds", [None, 400 * 86_400])
def test_check_says_the_key_is_loaded(tmp_path: Path, validity_seconds: int | None) -> None:
    """`mailbot check` with a key prints its fingerprint, what it does and, when it has
    one, its expiry date."""
    key = new_key(validity_seconds)
    write_key(tmp_path, key)
    result = factories.mailbot(keyed_config(tmp_path), "check")
    public = key.extract_certificate()
    expires = Cert.from_bytes(str(public).encode()).expiration
    until = f"; expires {expires:%Y-%m-%d}" if validity_seconds else ""
    lines = [line for line in result.stdout.splitlines() if line.startswith("openpgp:")]
    fpr = str(public.fingerprint).upper()
    assert lines == [f"openpgp: secret key {fpr} loaded (decrypts, signs{until})"]


def test_check_names_an_unusable_key_in_one_line(tmp_path: Path, protected_key: bytes) -> None:
    """`mailbot check` with a protected key and no passphrase: exit 1, one stderr line."""
    (tmp_path / "openpgp-key").write_bytes(protected_key)
    result = factories.mailbot(keyed_config(tmp_path), "check", check=False)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"mailbot check: openpgp: {KEY_SETTING} {tmp_path / 'openpgp-key'}: ")


def test_check_without_key_says_so(tmp_path: Path) -> None:
    """`mailbot check` without [openpgp] says encrypted reports are not decrypted."""
    result = factories.mailbot(factories.write_config(tmp_path), "check")
    lines = [line for line in result.stdout.splitlines() if line.startswith("openpgp:")]
    expected = "openpgp: no [openpgp] secret_key_file: encrypted reports are flagged, not decrypted"
    assert lines == [expected]


def security_txt(cfg: Path) -> subprocess.CompletedProcess[str]:
    """`mailbot security-txt` on Monday 21 December 2026."""
    return factories.mailbot(cfg, "security-txt", now="2026-12-21T10:05:00+01:00", check=False)


def test_security_txt_encryption_is_the_key_fingerprint(tmp_path: Path) -> None:
    """Without [security_txt] encryption, Encryption is openpgp4fpr: and the fingerprint."""
    key = new_key()
    write_key(tmp_path, key)
    result = security_txt(keyed_config(tmp_path, expires="2027-06-30"))
    fpr = str(key.extract_certificate().fingerprint).lower()
    lines = [line for line in result.stdout.splitlines() if line.startswith("Encryption:")]
    assert (result.returncode, lines) == (0, [f"Encryption: openpgp4fpr:{fpr}"])


def test_security_txt_configured_encryption_wins_without_reading_the_key(tmp_path: Path) -> None:
    """[security_txt] encryption set: it is published and the key file is not even read."""
    url = "https://gemeente.example/pgp-key.txt"
    result = security_txt(keyed_config(tmp_path, expires="2027-06-30", encryption=url))
    lines = [line for line in result.stdout.splitlines() if line.startswith("Encryption:")]
    assert (result.returncode, lines, result.stderr) == (0, [f"Encryption: {url}"], "")


def test_export_public_parses_back_to_the_same_key(tmp_path: Path, protected_key: bytes) -> None:
    """`openpgp export-public` prints the public part only; it parses to the same
    fingerprint and holds no secret key material."""
    (tmp_path / "openpgp-key").write_bytes(protected_key)
    (tmp_path / "pw").write_text(PASSPHRASE + "\n", encoding="utf-8")
    cfg = factories.write_config(
        tmp_path,
        openpgp={"secret_key_file": "openpgp-key", "passphrase_file": "pw"},
    )
    result = factories.mailbot(cfg, "openpgp", "export-public")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exported = Cert.from_bytes(result.stdout.encode("ascii"))
        actual = (str(exported.fingerprint).upper(), exported.has_secret_keys)
    assert result.stdout.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    assert result.stdout.endswith("-----END PGP PUBLIC KEY BLOCK-----\n")
    assert actual == (fingerprint(protected_key), False)


def test_export_public_without_key_exits_2(tmp_path: Path) -> None:
    """`openpgp export-public` without [openpgp] secret_key_file: exit 2, one line."""
    cfg = factories.write_config(tmp_path)
    result = factories.mailbot(cfg, "openpgp", "export-public", check=False)
    expected = [f"mailbot: no [openpgp] secret_key_file in {cfg}: no key to export"]
    assert (result.returncode, result.stdout, result.stderr.splitlines()) == (2, "", expected)

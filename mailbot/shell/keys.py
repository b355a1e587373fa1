"""The meldpunt's OpenPGP secret key named by [openpgp]: read from its files (also from
$CREDENTIALS_DIRECTORY, like a password_file), checked, and kept while the files stay
the same.

Checked before anything uses it: a secret key (not a public one), not revoked, not
expired at `now`, its passphrase right, and a round trip: a probe encrypted to its own
public part decrypts and a signature is made (`load_secret_key`). So "loaded" means
"decrypts and signs". Every error is one line naming the key and the file, never key
material.

A reload (SIGHUP) reads the files again; while their bytes are the same, the key
checked last is reused (a passphrase costs an unlocking, up to a few hundred ms).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailbot.core.config import OpenPGPSettings, read_secret_file
from mailbot.core.errors import ConfigError
from mailbot.mail.openpgp import MAX_KEY_BYTES, MeldpuntKey, first_line, load_secret_key

KEY_SETTING = "[openpgp] secret_key_file"
PHRASE_SETTING = "[openpgp] passphrase_file"
EXPORT_HINT = "gpg --armor --export-secret-keys FINGERPRINT"
PROBE = b"mailbot key check"


@dataclass(frozen=True)
class _Checked:
    """A key that passed every check, with what a later `now` must be checked against."""

    digest: str
    key: MeldpuntKey
    expires: datetime | None


class KeyLoader:
    """Loads the key of [openpgp]; the last one is reused while its files are unchanged."""

    def __init__(self) -> None:
        self._last: _Checked | None = None

    def load(self, settings: OpenPGPSettings, now: datetime) -> MeldpuntKey | None:
        """The key of `settings` checked at `now`, or None when no secret_key_file is set;
        ConfigError (one line naming the key and the file) when it cannot be used."""
        path = settings.secret_key_file
        if path is None:
            return None
        where = f"{KEY_SETTING} {path}"
        armored = read_secret_file(path, KEY_SETTING)
        passphrase = _passphrase(settings.passphrase_file)
        digest = _digest(armored, passphrase)
        last = self._last
        if last is not None and last.digest == digest:
            _check_expiry(where, last.key.fingerprint, last.expires, now)
            return last.key
        expires = _inspect(armored, where, now)
        key = load_secret_key(armored, passphrase, where)
        _round_trip(key, where)
        self._last = _Checked(digest, key, expires)
        return key


_LOADER = KeyLoader()


def load_key(settings: OpenPGPSettings, now: datetime) -> MeldpuntKey | None:
    """The key of `settings` (see `KeyLoader.load`), through the process's one loader."""
    return _LOADER.load(settings, now)


def _digest(armored: bytes, passphrase: str | None) -> str:
    """What identifies the files' contents (the key and the passphrase) for the cache."""
    said = b"-" if passphrase is None else b"+" + passphrase.encode("utf-8")
    return hashlib.sha256(armored).hexdigest() + hashlib.sha256(said).hexdigest()


def _passphrase(path: Path | None) -> str | None:
    """The first line of the passphrase file (without its line end), or None."""
    if path is None:
        return None
    data = read_secret_file(path, PHRASE_SETTING)
    try:
        line = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{PHRASE_SETTING} {path}: is not UTF-8 text") from exc
    if not line:
        raise ConfigError(
            f"{PHRASE_SETTING} {path}: the first line is empty (write the passphrase)"
        )
    return line


def _inspect(armored: bytes, where: str, now: datetime) -> datetime | None:
    """The key's expiry; ConfigError when `armored` is empty, too large, a public key,
    revoked or expired (clearer than the library's "no suitable signing subkey")."""
    from pysequoia import Cert  # noqa: PLC0415 - the library loads when a key is used

    if not armored.strip():
        raise ConfigError(f"{where}: is empty (write the armoured secret key: {EXPORT_HINT})")
    if len(armored) > MAX_KEY_BYTES:
        raise ConfigError(f"{where}: {len(armored)} bytes is too large for a secret key")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Cert of a secret key
            cert = Cert.from_bytes(armored)
            secret = cert.has_secret_keys
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"{where}: not an OpenPGP secret key ({first_line(exc)})") from exc
    fingerprint = str(cert.fingerprint).upper()
    if not secret:
        raise ConfigError(
            f"{where}: holds the public key {fingerprint}, not its secret key ({EXPORT_HINT})"
        )
    if cert.is_revoked:
        raise ConfigError(f"{where}: key {fingerprint} is revoked: configure a new key")
    expires: datetime | None = cert.expiration
    if expires is not None:
        expires = expires.astimezone(UTC)
    _check_expiry(where, fingerprint, expires, now)
    return expires


def _check_expiry(where: str, fingerprint: str, expires: datetime | None, now: datetime) -> None:
    if expires is not None and expires <= now:
        raise ConfigError(
            f"{where}: key {fingerprint} expired on {expires:%Y-%m-%d}: extend it"
            f" (gpg --quick-set-expire {fingerprint} 2y) and export it again"
        )


def _round_trip(key: MeldpuntKey, where: str) -> None:
    """A probe encrypted to the key's own public part must decrypt with the key, and go to
    one encryption subkey only: the library decrypts with one of several (which one is
    not defined), so mail to another would not be read."""
    from pysequoia import Cert, decrypt, encrypt  # noqa: PLC0415 - see _inspect
    from pysequoia.packet import PacketPile, Tag  # noqa: PLC0415

    try:
        cert: Any = Cert.from_bytes(key.public_armor.encode("ascii"))
        probe = encrypt(PROBE, recipients=[cert], armor=False)
        decrypted = decrypt(probe, decryptor=key.decryptor())
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(
            f"{where}: key {key.fingerprint} cannot decrypt what is encrypted to it:"
            f" {first_line(exc)} (no valid encryption subkey?)"
        ) from exc
    if decrypted.bytes != PROBE:  # pragma: no cover - the library's own round trip
        raise ConfigError(f"{where}: key {key.fingerprint} decrypts a probe wrongly")
    subkeys = sum(1 for packet in PacketPile.from_bytes(probe) if packet.tag == Tag.PKESK)
    if subkeys > 1:
        raise ConfigError(
            f"{where}: key {key.fingerprint} has {subkeys} valid encryption subkeys; mailbot"
            " decrypts with one of them only: expire the old ones"
            f" (gpg --quick-set-expire {key.fingerprint} seconds=1 SUBKEY-FINGERPRINT) and export"
            " the key again"
        )

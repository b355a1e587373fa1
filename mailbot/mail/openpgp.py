"""OpenPGP keys (pure): the meldpunt's secret key and the public keys of reporters, through
Sequoia-PGP (`pysequoia`: a wheel, no gpg binary, no agent, no network).

This module holds the key types every part of mailbot shares; decrypting, verifying and
encrypting live beside it (`mail/pgp_*.py`). Errors name what was wrong and where it came
from, never key material.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailbot.core.errors import ConfigError

os.environ.setdefault("RUST_BACKTRACE", "0")  # pysequoia appends a backtrace to errors otherwise

MAX_KEY_BYTES = 1_000_000
"""A public or secret key larger than this is refused before it is parsed."""
MAX_USER_IDS = 100
"""A key with more user IDs than this is refused (a key stuffed with thousands of IDs)."""


def first_line(exc: BaseException) -> str:
    """pysequoia's error text without its detail lines (and never key material)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


@dataclass(frozen=True)
class MeldpuntKey:
    """The meldpunt's OpenPGP secret key: decrypts reports, signs answers."""

    tsk: Any
    """A `pysequoia.Tsk` (untyped library)."""
    passphrase: str | None
    fingerprint: str
    """Upper-case hex, as `Cert.fingerprint` gives it."""
    public_armor: str
    """The public part, armoured (for security.txt and `mailbot openpgp export-public`)."""

    unlocked: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The decryptor and signer once made: unlocking a passphrase-protected key costs
    ~110 ms (its key derivation), reusing the unlocked one ~0.2 ms."""

    def decryptor(self) -> Any:
        """A decryptor of the encryption subkey (unlocked with the passphrase, once)."""
        if "decryptor" not in self.unlocked:
            self.unlocked["decryptor"] = self.tsk.decryptor(self.passphrase)
        return self.unlocked["decryptor"]

    def signer(self) -> Any:
        """A signer of the signing subkey (unlocked with the passphrase, once)."""
        if "signer" not in self.unlocked:
            self.unlocked["signer"] = self.tsk.signer(self.passphrase)
        return self.unlocked["signer"]


def load_secret_key(armored: bytes, passphrase: str | None, source: str) -> MeldpuntKey:
    """The secret key in `armored` (from `source`, named in errors), checked to decrypt and
    sign with `passphrase`; ConfigError when it is not a usable secret key."""
    from pysequoia import Tsk, sign  # noqa: PLC0415 - the library loads when a key is used

    if len(armored) > MAX_KEY_BYTES:
        raise ConfigError(f"{source}: {len(armored)} bytes is too large for a secret key")
    try:
        tsk = Tsk.from_bytes(armored)
        cert = tsk.extract_certificate()
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"{source}: not an OpenPGP secret key ({first_line(exc)})") from exc
    key = MeldpuntKey(tsk, passphrase, str(cert.fingerprint).upper(), str(cert))
    try:
        sign(key.signer(), b"mailbot key check")
        key.decryptor()
    except (ValueError, RuntimeError) as exc:
        hint = "wrong or missing passphrase_file?" if passphrase is None else "wrong passphrase?"
        raise ConfigError(
            f"{source}: the secret key cannot be used: {first_line(exc)} ({hint})"
        ) from exc
    return key


def load_public_key(data: bytes, source: str, now: datetime) -> Any:
    """A `pysequoia.Cert` from armoured or binary `data`, if it is a usable public key for
    encryption at `now`: not too large, not too many user IDs, not revoked, not expired.
    Raises ValueError naming `source` and the reason otherwise."""
    from pysequoia import Cert  # noqa: PLC0415 - the library loads when a key is used

    if len(data) > MAX_KEY_BYTES:
        raise ValueError(f"{source}: {len(data)} bytes is too large for a public key")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            cert = Cert.from_bytes(data)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"{source}: not an OpenPGP public key ({first_line(exc)})") from exc
    if len(cert.user_ids) > MAX_USER_IDS:
        raise ValueError(
            f"{source}: key has {len(cert.user_ids)} user IDs (at most {MAX_USER_IDS})"
        )
    if cert.is_revoked:
        raise ValueError(f"{source}: key {cert.fingerprint} is revoked")
    expires = cert.expiration
    if expires is not None and expires.astimezone(UTC) <= now:
        raise ValueError(f"{source}: key {cert.fingerprint} expired {expires:%Y-%m-%d}")
    return cert

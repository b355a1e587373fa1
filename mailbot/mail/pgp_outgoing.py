"""Mail encrypted to a reporter (pure apart from the randomness of encryption): PGP/MIME
(RFC 3156) with protected headers (RFC 9788), and the checks a reporter's key passes.

The wire format
    The outer message carries what delivery and threading need and nothing of the content:
    From, To, Reply-To, Date, Message-ID, In-Reply-To, References, Auto-Submitted,
    X-Auto-Response-Suppress, the loop header, and a placeholder Subject: the case tag and
    "[...]" (RFC 9788's placeholder), e.g. ``[MK-2026-0001] [...]``. The tag stays outside
    because replies are routed by it (a reply's client may not read protected headers),
    and it tells nothing new: the Message-ID and References already name the case. The
    body is ``multipart/encrypted; protocol="application/pgp-encrypted"`` with the
    ``Version: 1`` part and the armoured OpenPGP message as application/octet-stream.

    The encrypted part is the whole mail as it would otherwise have been sent (text/plain,
    or multipart/mixed with the relayed attachments), its Content-Type marked
    ``protected-headers="v1"; hp="cipher"`` (Thunderbird's and RFC 9788's marks), with every
    header field of the mail including the real Subject, and an ``HP-Outer`` field per outer
    header field (RFC 9788 §2.2): a reader can show the real subject and knows what was
    exposed. No Legacy Display Element: the body names the case and its subject anyway.

    It is encrypted to the reporter's key and to the meldpunt's own key (so the sent copy
    can be read later with the meldpunt's secret key), and signed with the meldpunt's key
    when one is configured (one OpenPGP message, signed then encrypted: RFC 3156 §6.2).

Keys
    `check_key` is the one check a reporter's key passes, at `Key:` and before every
    mail: not too large, a public key (never a secret one), `openpgp.load_public_key`
    (user IDs, revocation, expiry at `now`) and, with `trial`, a trial encryption (a
    sign-only key, or one whose encryption subkey expired, fails there). pysequoia encrypts
    to an expired or revoked key without complaint: this check is what refuses it.
    Refusals are `EncryptionRefused` with a `wording.Phrase` as the reason.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mailbot.core.errors import PermanentError
from mailbot.core.wording import Phrase
from mailbot.mail.assembly import Attachments, assemble, check_lines, head_block
from mailbot.mail.openpgp import MAX_KEY_BYTES, MAX_USER_IDS, MeldpuntKey, first_line
from mailbot.mail.openpgp import load_public_key as _load_public_key

PLACEHOLDER = "[...]"
"""The outer Subject's text after the case tag (RFC 9788's placeholder)."""
PROTECTED = ';\r\n protected-headers="v1"; hp="cipher"'
"""Parameters of the encrypted part's Content-Type: it carries the protected headers."""
MAX_SEALED_BYTES = 16 * 1024 * 1024
"""A mail larger than this (before encryption) is not encrypted, and so not sent."""
MAX_CANDIDATE_KEYS = 20
"""`find_key` looks at this many keys at most."""
KEY_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
KEY_END = "-----END PGP PUBLIC KEY BLOCK-----"
_FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")


class EncryptionRefused(PermanentError):
    """A mail cannot be encrypted to the reporter's key; `reason` (a `wording.Phrase`)
    says why, in words staff can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ReporterKey:
    """A reporter's public key that passed `check_key`."""

    cert: Any
    """A `pysequoia.Cert`."""
    fingerprint: str
    """Upper-case hex."""
    armor: str
    """The key as stored on the case (armoured by Sequoia: normalised, public parts only)."""


def _parse(data: bytes) -> Any:
    """A `pysequoia.Cert` from `data`; EncryptionRefused when it is none."""
    from pysequoia import Cert  # noqa: PLC0415 - the library loads when a key is used

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return Cert.from_bytes(data)
    except (ValueError, RuntimeError) as exc:
        raise EncryptionRefused(Phrase("key.not_a_key", error=first_line(exc))) from exc


def _why(data: bytes, now: datetime, exc: ValueError) -> str:
    """Why `load_public_key` refused `data`, as a phrase (its checks, said again)."""
    cert = _parse(data)
    fingerprint = str(cert.fingerprint).upper()
    if len(cert.user_ids) > MAX_USER_IDS:
        count = len(cert.user_ids)
        return Phrase("key.too_many_ids", fingerprint=fingerprint, count=count, limit=MAX_USER_IDS)
    if cert.is_revoked:
        return Phrase("key.revoked", fingerprint=fingerprint)
    expires = cert.expiration
    if expires is not None and expires.astimezone(UTC) <= now:
        return Phrase("key.expired", fingerprint=fingerprint, date=f"{expires:%Y-%m-%d}")
    return Phrase("key.unusable", fingerprint=fingerprint, error=first_line(exc))


def check_key(data: bytes, now: datetime, *, trial: bool = False) -> ReporterKey:
    """The reporter key in `data` (armoured or binary) if it can be encrypted to at `now`;
    with `trial`, a trial encryption proves it has a usable encryption subkey.
    Raises EncryptionRefused with the reason."""
    if len(data) > MAX_KEY_BYTES:
        raise EncryptionRefused(Phrase("key.too_large", size=len(data), limit=MAX_KEY_BYTES))
    try:
        cert = _load_public_key(data, "key", now)
    except ValueError as exc:
        raise EncryptionRefused(_why(data, now, exc)) from exc
    fingerprint = str(cert.fingerprint).upper()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "use Tsk": we refuse it
        secret = cert.has_secret_keys
    if secret:
        raise EncryptionRefused(Phrase("key.secret"))
    if trial:
        from pysequoia import encrypt  # noqa: PLC0415 - the library loads when a key is used

        try:
            encrypt(b"", recipients=[cert])
        except (ValueError, RuntimeError) as exc:
            why = Phrase("key.no_encryption", fingerprint=fingerprint, error=first_line(exc))
            raise EncryptionRefused(why) from exc
    return ReporterKey(cert, fingerprint, str(cert))


def fingerprint_of(armor: str | None) -> str:
    """The fingerprint of a stored key, "" when there is none or it cannot be read."""
    if not armor:
        return ""
    try:
        return str(_parse(armor.encode()).fingerprint).upper()
    except EncryptionRefused:
        return ""


def normal_fingerprint(text: str) -> str | None:
    """`text` as an upper-case fingerprint (spaces, colons and "0x" allowed), else None."""
    compact = re.sub(r"[\s:]", "", text).upper().removeprefix("0X")
    return compact if _FINGERPRINT.fullmatch(compact) else None


def find_key(fingerprint: str, candidates: Iterable[bytes | str | None]) -> bytes | None:
    """The first of `candidates` (key data; at most MAX_CANDIDATE_KEYS are read) whose
    fingerprint is `fingerprint`, else None. Unreadable or oversized ones are skipped."""
    seen = 0
    for candidate in candidates:
        if not candidate or seen >= MAX_CANDIDATE_KEYS:
            continue
        seen += 1
        data = candidate.encode() if isinstance(candidate, str) else candidate
        if len(data) > MAX_KEY_BYTES:
            continue
        try:
            if str(_parse(data).fingerprint).upper() == fingerprint:
                return data
        except EncryptionRefused:
            continue
    return None


@dataclass(frozen=True)
class Seal:
    """How one mail goes out encrypted: to `key`, signed with `signer` (None: unsigned),
    under the outer Subject `outer_subject`."""

    key: ReporterKey
    signer: MeldpuntKey | None
    outer_subject: str

    def encrypt(self, inner: bytes) -> bytes:
        """The armoured OpenPGP message of `inner` (the whole inner MIME entity).
        Raises EncryptionRefused when it is too large or the library refuses."""
        from pysequoia import Cert, encrypt  # noqa: PLC0415 - loads when a key is used

        if len(inner) > MAX_SEALED_BYTES:
            raise EncryptionRefused(
                Phrase("pgp.too_large", size=len(inner), limit=MAX_SEALED_BYTES)
            )
        recipients = [self.key.cert]
        try:
            if self.signer is not None:
                recipients.append(Cert.from_bytes(self.signer.public_armor.encode()))
                signer = self.signer.signer()
                return encrypt(inner, recipients=recipients, signer=signer)
            return encrypt(inner, recipients=recipients)
        except (ValueError, RuntimeError) as exc:
            raise EncryptionRefused(Phrase("pgp.failed", error=first_line(exc))) from exc

    def seal(
        self, inner: list[str], outer: list[str], body: str, attachments: Attachments
    ) -> bytes:
        """The PGP/MIME mail: the `outer` header fields outside; inside, the `inner` ones,
        an HP-Outer copy of each outer one, the body and the attachments."""
        entity = assemble([*inner, *hp_outer(outer)], body, attachments, PROTECTED)
        return check_lines(pgp_mime(head_block(outer), self.encrypt(entity)))


def hp_outer(fields: Iterable[str]) -> list[str]:
    """An ``HP-Outer`` field for each outer header field (RFC 9788 §2.2.1)."""
    return [f"HP-Outer: {one}" for one in fields]


def pgp_mime(head: str, armored: bytes) -> bytes:
    """The multipart/encrypted mail: `head` (checked header fields, CRLF-joined) and the
    two parts of RFC 3156 §4, the second holding `armored`."""
    text = armored.decode("ascii").replace("\r\n", "\n").rstrip("\n").replace("\n", "\r\n")
    # "=_" never occurs in armour (base64 and dashes): the boundary cannot collide.
    boundary = f"=_mailbot_pgp_{hashlib.sha256(armored).hexdigest()[:32]}"
    return (
        f"{head}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";\r\n'
        f' boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n"
        "Content-Type: application/pgp-encrypted\r\n"
        "Content-Description: PGP/MIME version identification\r\n\r\n"
        "Version: 1\r\n\r\n"
        f"--{boundary}\r\n"
        'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
        "Content-Description: OpenPGP encrypted message\r\n"
        'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
        f"{text}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode("ascii")

"""Reading an encrypted or signed message (pure, given an `Opener` that does the
cryptography: `mailbot.shell.decrypting.ChildOpener`, bounded in a child process).

`read` decrypts what `pgp_inbound` found, parses the plaintext as the report
(`parsing.parse_entity` for PGP/MIME, `parsing.with_plaintext` for inline armour),
checks the signatures against the keys the message carries, and sets the message's
`crypto` flags, `crypto_note` and `keys`. The raw message stays what it was: the store
keeps the encrypted bytes and their sha256.

`crypto_note` is a "; "-separated list of "code" or "code: detail" items; `describe` says
them in Dutch or English for staff. The codes:

- the kind: pgp_mime, pgp_inline, smime (S/MIME is detected, never decrypted);
- what decrypting gave: decrypted, no_key, not_for_us (recipients), damaged (the
  library's reason), too_large (the limit), too_slow (the limit), failed, not_encrypted;
- signatures: signature_valid (fingerprint), signature_bad (signer),
  signature_unknown_key (signer), signature_unchecked (reason);
- keys: key_refused (reason).
A signature never grants anything: `signed_valid` only says that the signature verified
with a key that came in the same message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from mailbot.core.models import InboundMessage
from mailbot.mail import parsing
from mailbot.mail.contacts import normalize_address
from mailbot.mail.openpgp import load_public_key
from mailbot.mail.pgp_data import Checked, Opened, key_ids
from mailbot.mail.pgp_inbound import MAX_KEYS, MAX_SIGNED, Findings, Sealed, SignedPart
from mailbot.mail.pgp_notes import refusal

FLAG_ORDER = ("encrypted", "decrypted", "signed", "signed_valid")


class Opener(Protocol):
    """Decrypts with the meldpunt key and verifies signatures."""

    def decrypt(self, message: bytes, certs: Sequence[bytes]) -> Opened:
        """The plaintext of binary `message`, its signatures checked against `certs`."""

    def verify(self, data: bytes, signature: bytes, certs: Sequence[bytes]) -> Checked:
        """A detached `signature` over `data` (clearsigned `data` when it is empty)."""


@dataclass(frozen=True)
class Read:
    """A message as read: decrypted where possible, its crypto flags and note set."""

    msg: InboundMessage
    entity: bytes | None = None
    """The decrypted MIME entity of a PGP/MIME message (its attachments' bytes)."""


@dataclass
class _State:
    msg: InboundMessage
    flags: list[str]
    notes: list[str]
    keys: list[bytes]
    signed: list[SignedPart]
    entity: bytes | None = None


def read(msg: InboundMessage, found: Findings, opener: Opener, own: frozenset[str]) -> Read:
    """`msg` (parsed, with `found`) decrypted and its signatures checked by `opener`
    (`own`: the meldpunt key's key IDs, to tell damage from another recipient)."""
    state = _State(msg, list(found.flags), list(found.notes), list(found.keys), [*found.signed])
    if found.sealed is not None and found.sealed.data:
        _decrypt(state, found.sealed, opener, own)
    for part in state.signed[:MAX_SIGNED]:
        checked = opener.verify(part.data, part.signature, state.keys)
        state.notes.append(_signature_note(checked, state.keys))
        state.flags += ["signed", *(["signed_valid"] if checked.valid else [])]
    flags = tuple(f for f in FLAG_ORDER if f in state.flags)
    note = "; ".join(dict.fromkeys(n for n in state.notes if n))
    keys = tuple(state.keys[:MAX_KEYS])
    return Read(replace(state.msg, crypto=flags, crypto_note=note, keys=keys), state.entity)


def _decrypt(state: _State, sealed: Sealed, opener: Opener, own: frozenset[str]) -> None:
    """Decrypt `sealed` into `state`: the report's content, or the note why not."""
    opened = opener.decrypt(sealed.data, state.keys)
    plaintext = opened.plaintext
    if plaintext is None:
        state.notes.append(_not_read(opened, sealed, own))
        return
    if sealed.kind == "pgp_mime":
        state.msg, inner = parsing.parse_entity(state.msg, plaintext)
        state.entity = plaintext
        known = len(state.keys)
        state.keys += [k for k in inner.keys if k not in state.keys][: MAX_KEYS - known]
        state.notes += [n for n in inner.notes if n.startswith("key_refused")]
        state.signed += inner.signed
        if inner.keys and opened.signature.signers and not opened.signature.valid:
            opened = replace(opened, signature=opener.decrypt(sealed.data, state.keys).signature)
    else:
        state.msg = parsing.with_plaintext(state.msg, plaintext)
    state.flags.append("decrypted")
    state.notes.append("decrypted")
    checked = opened.signature
    if checked.signers or checked.error:
        state.notes.append(_signature_note(checked, state.keys))
        state.flags += ["signed", *(["signed_valid"] if checked.valid else [])]


def _not_read(opened: Opened, sealed: Sealed, own: frozenset[str]) -> str:
    """The note of a message that could not be decrypted."""
    recipients = sealed.shape.recipients if sealed.shape else ()
    if opened.problem == "not_for_us":
        if own & set(recipients):
            return f"damaged: {opened.detail}"
        return f"not_for_us: {', '.join(recipients) or 'no recipient named'}"
    return f"{opened.problem}: {opened.detail}" if opened.detail else opened.problem


def _signature_note(checked: Checked, keys: Sequence[bytes]) -> str:
    """What a signature check says, as a note."""
    if checked.valid:
        return f"signature_valid: {checked.valid[0]}"
    if checked.error:
        return f"signature_unchecked: {checked.error}"
    signer = checked.signers[0] if checked.signers else "unknown"
    carried = frozenset().union(*(key_ids(k) for k in keys))
    if carried & set(checked.signers):
        return f"signature_bad: {signer}"
    return f"signature_unknown_key: {signer}"


# --- the reporter's key ------------------------------------------------------------


@dataclass(frozen=True)
class KeyChoice:
    """The key to encrypt to the reporter, chosen from the keys a message carries."""

    armor: str | None = None
    """The key, armoured; None when none of them is usable."""
    fingerprint: str = ""
    notes: tuple[str, ...] = ()
    """A "key_refused: <reason>" note per key not used."""


_ANGLED = re.compile(r"<([^<>]+)>")


def reporter_key(keys: Sequence[bytes], address: str | None, now: datetime) -> KeyChoice:
    """The first of `keys` that is a usable public key at `now` (`load_public_key`: not
    revoked, not expired, at most 100 user IDs), names `address` in a user ID and can
    encrypt; with a note for each key passed over."""
    if address is None:
        return KeyChoice()
    notes = []
    for data in keys:
        try:
            cert = load_public_key(data, "key", now)
        except ValueError as exc:
            notes.append(f"key_refused: {refusal(str(exc))}")
            continue
        if not _names(cert, address):
            notes.append("key_refused: other_address")
        elif not _encrypts(cert):
            notes.append("key_refused: no_encryption")
        else:
            return KeyChoice(_armored(cert), str(cert.fingerprint).upper(), tuple(notes))
    return KeyChoice(notes=tuple(notes))


def _names(cert: Any, address: str) -> bool:
    """True when a user ID of `cert` is, or has in angle brackets, `address`."""
    for user_id in cert.user_ids:
        text = str(user_id)
        found = _ANGLED.search(text)
        if normalize_address(found.group(1) if found else text) == address:
            return True
    return False


def _encrypts(cert: Any) -> bool:
    """True when Sequoia can encrypt to `cert` (it has a usable encryption subkey)."""
    from pysequoia import encrypt  # noqa: PLC0415 - the library loads when a key is used

    try:
        encrypt(b"", recipients=[cert])
    except (RuntimeError, ValueError):
        return False
    return True


def _armored(cert: Any) -> str:
    from pysequoia import ArmorKind, armor  # noqa: PLC0415 - the library loads when used

    return str(armor(bytes(cert), ArmorKind.PublicKey))

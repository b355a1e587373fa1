"""OpenPGP data read by hand (pure, standard library only): ASCII armour, packet headers,
the shape of an encrypted message and of a public key, and the results of opening a
message in the decrypting child (`mailbot.shell.decrypting`).

Nothing here decompresses, decrypts or verifies: it reads packet headers (RFC 9580 §4.2)
and the few bodies that are small and never compressed (key packets, session-key
packets). That is how a message is known to be encrypted, and to whom, and how a key with
thousands of user IDs is refused, before any of it reaches Sequoia.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

PKESK, SIGNATURE, SKESK, SECRET_KEY, PUBLIC_KEY = 1, 2, 3, 5, 6
SECRET_SUBKEY, SED, MARKER, TRUST, USER_ID = 7, 9, 10, 12, 13
PUBLIC_SUBKEY, USER_ATTRIBUTE, SEIPD, AEAD = 14, 17, 18, 20
ENCRYPTED_DATA = frozenset({SED, SEIPD, AEAD})
CERT_PACKETS = frozenset({PUBLIC_KEY, PUBLIC_SUBKEY, USER_ID, USER_ATTRIBUTE, SIGNATURE, TRUST})
MAX_PACKETS = 25_000
"""Packets read of one key or message at most (a real key has a few dozen; reading
25,000 takes 25 ms)."""
MAX_USER_IDS = 100
"""As `mailbot.mail.openpgp.MAX_USER_IDS`, counted here before Sequoia parses the key:
Sequoia's `Cert.user_ids` takes 4 s for a key of 5,000 user IDs."""

_END_OF = {b"SIGNED MESSAGE": b"SIGNATURE"}


@dataclass(frozen=True)
class Packet:
    """One packet: its tag and body (None when sent in partial or indeterminate pieces)."""

    tag: int
    body: bytes | None
    start: int


@dataclass(frozen=True)
class Shape:
    """What an OpenPGP message is, by its first packets."""

    encrypted: bool
    """Session-key packets followed by encrypted data."""
    recipients: tuple[str, ...]
    """Key IDs (or fingerprints) the session key is encrypted to; "passphrase" for a
    passphrase, "anonymous" for a hidden recipient."""
    first: int | None
    """The tag of the first packet that is no marker or session key (None: none)."""


@dataclass(frozen=True)
class Checked:
    """What verifying the signatures of one message or part found."""

    signers: tuple[str, ...] = ()
    """Issuer key IDs or fingerprints of the signatures (upper-case hex)."""
    valid: tuple[str, ...] = ()
    """Fingerprints of the certificates whose signature verified."""
    error: str = ""
    """The library's reason when the signatures could not be checked at all."""


@dataclass(frozen=True)
class Opened:
    """What decrypting one message gave: the plaintext, or the problem code and detail."""

    plaintext: bytes | None
    problem: str = ""
    """"" or one of: no_key, not_for_us, damaged, too_large, too_slow, failed."""
    detail: str = ""
    signature: Checked = Checked()


# --- armour ------------------------------------------------------------------------


def armor_span(data: bytes, label: bytes, start: int = 0) -> tuple[int, int] | None:
    """Where the first block "-----BEGIN PGP <label>-----" (at a line start) ... its END
    line lies in `data`, from `start`; None when there is no whole block."""
    begin = re.compile(rb"(?m)^-----BEGIN PGP " + re.escape(label) + rb"-----[ \t]*\r?$")
    found = begin.search(data, start)
    if found is None:
        return None
    end_label = _END_OF.get(label, label)
    end = re.compile(rb"(?m)^-----END PGP " + re.escape(end_label) + rb"-----[ \t]*\r?$")
    last = end.search(data, found.end())
    return None if last is None else (found.start(), last.end())


def dearmor(block: bytes) -> bytes | None:
    """The binary data of one armoured block (armour headers and checksum dropped);
    None when its body is no base64."""
    lines = block.splitlines()[1:]
    if lines and b":" in lines[0] and lines[0].strip():
        while lines and lines[0].strip():  # armour headers ("Version: ...") end at a blank
            lines.pop(0)
    body = []
    for line in lines:
        text = line.strip()
        if text.startswith(b"-----END"):
            break
        if text.startswith(b"=") and len(text) <= 5:
            continue  # the CRC-24 checksum line
        body.append(text)
    try:
        return base64.b64decode(b"".join(body), validate=True)
    except (binascii.Error, ValueError):
        return None


_ANY_BEGIN = re.compile(rb"(?m)^-----BEGIN PGP ([A-Z0-9 ,/]{1,40})-----")


def binary(data: bytes) -> bytes | None:
    """`data` as binary OpenPGP: the first armoured block in its first 64 KiB dearmoured,
    else `data` itself when it starts with a packet header; None when it is neither."""
    found = _ANY_BEGIN.search(data, 0, 1 << 16)
    if found is not None:
        span = armor_span(data, found.group(1), found.start())
        return dearmor(data[span[0] : span[1]]) if span else None
    return data if data[:1] and data[0] & 0x80 else None


# --- packets -----------------------------------------------------------------------


def packets(data: bytes, limit: int = MAX_PACKETS) -> Iterator[Packet]:
    """The top-level packets of `data`, at most `limit`; stops at the first malformed
    header (ValueError) or at the end."""
    at = 0
    for _ in range(limit):
        if at >= len(data):
            return
        ctb = data[at]
        if not ctb & 0x80:
            raise ValueError(f"no packet header at byte {at}")
        start = at
        if ctb & 0x40:
            tag, at, body = ctb & 0x3F, *_new_body(data, at + 1)
        else:
            tag, at, body = (ctb >> 2) & 0x0F, *_old_body(data, at + 1, ctb & 3)
        yield Packet(tag, body, start)


def _new_body(data: bytes, at: int) -> tuple[int, bytes | None]:
    """(end, body) of a new-format packet whose length starts at `at`."""
    partial = False
    while True:
        size, at, more = _new_length(data, at)
        if at + size > len(data):
            raise ValueError("packet runs past the end")
        if not more:
            end = at + size
            return end, None if partial else data[at:end]
        partial, at = True, at + size


def _new_length(data: bytes, at: int) -> tuple[int, int, bool]:
    """(length, where the body starts, whether more pieces follow) of a new-format length."""
    first = _byte(data, at)
    if first < 192:
        return first, at + 1, False
    if first < 224:
        return ((first - 192) << 8) + _byte(data, at + 1) + 192, at + 2, False
    if first == 255:
        return int.from_bytes(_take(data, at + 1, 4), "big"), at + 5, False
    return 1 << (first & 0x1F), at + 1, True


def _old_body(data: bytes, at: int, kind: int) -> tuple[int, bytes | None]:
    """(end, body) of an old-format packet with length type `kind`."""
    if kind == 3:
        return len(data), None  # indeterminate: to the end
    width = (1, 2, 4)[kind]
    size = int.from_bytes(_take(data, at, width), "big")
    at += width
    if at + size > len(data):
        raise ValueError("packet runs past the end")
    return at + size, data[at : at + size]


def _byte(data: bytes, at: int) -> int:
    if at >= len(data):
        raise ValueError("packet header runs past the end")
    return data[at]


def _take(data: bytes, at: int, width: int) -> bytes:
    if at + width > len(data):
        raise ValueError("packet header runs past the end")
    return data[at : at + width]


def message_shape(data: bytes) -> Shape:
    """Whether binary `data` is an encrypted OpenPGP message, and to whom."""
    recipients: list[str] = []
    esk = False
    try:
        for packet in packets(data, 100):
            if packet.tag == MARKER:
                continue
            if packet.tag in (PKESK, SKESK):
                esk = True
                recipients.append(_recipient(packet) if packet.tag == PKESK else "passphrase")
                continue
            return Shape(esk and packet.tag in ENCRYPTED_DATA, tuple(recipients), packet.tag)
    except ValueError:
        pass
    return Shape(False, tuple(recipients), None)


def _recipient(packet: Packet) -> str:
    """The key ID (v3) or fingerprint (v6) a session-key packet names."""
    body = packet.body or b""
    if body[:1] == b"\x03" and len(body) >= 9:
        key_id = body[1:9]
        return "anonymous" if not any(key_id) else key_id.hex().upper()
    if body[:1] == b"\x06" and len(body) >= 2:
        size = body[1]
        return body[3 : 2 + size].hex().upper() if size > 1 else "anonymous"
    return "unknown"


# --- keys --------------------------------------------------------------------------


def key_problem(data: bytes) -> str:
    """ "" when binary `data` has the shape of one or more public keys with at most
    MAX_USER_IDS user IDs each; else why not (in English, naming the number)."""
    try:
        found = list(packets(data, MAX_PACKETS + 1))
    except ValueError as exc:
        return f"not an OpenPGP key ({exc})"
    if len(found) > MAX_PACKETS:
        return f"more than {MAX_PACKETS} packets"
    if not found or found[0].tag != PUBLIC_KEY:
        secret = found and found[0].tag == SECRET_KEY
        return "a secret key (not used)" if secret else "not an OpenPGP public key"
    ids = most = 0
    for packet in found:
        if packet.tag in (SECRET_KEY, SECRET_SUBKEY):
            return "a secret key (not used)"
        if packet.tag not in CERT_PACKETS:
            return f"not an OpenPGP public key (packet type {packet.tag})"
        ids = 0 if packet.tag == PUBLIC_KEY else ids + (packet.tag in (USER_ID, USER_ATTRIBUTE))
        most = max(most, ids)
    return f"{most} user IDs (at most {MAX_USER_IDS})" if most > MAX_USER_IDS else ""


def split_keys(data: bytes) -> list[bytes]:
    """Binary `data` of several keys cut into one piece per key (at each primary key)."""
    starts = [p.start for p in packets(data) if p.tag == PUBLIC_KEY]
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def key_ids(data: bytes) -> frozenset[str]:
    """Fingerprints and key IDs (upper-case hex) of the primary key and subkeys in binary
    `data` (v4 and v6 keys); empty when unreadable."""
    found: set[str] = set()
    try:
        for packet in packets(data):
            if packet.tag in (PUBLIC_KEY, PUBLIC_SUBKEY) and packet.body:
                found.update(_fingerprint(packet.body))
    except ValueError:
        pass
    return frozenset(found)


def _fingerprint(body: bytes) -> tuple[str, ...]:
    """(fingerprint, key ID) of a v4 or v6 key packet body."""
    if body[0] == 4:
        digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest()  # noqa: S324 - RFC 4880 v4 fingerprint
        return digest.upper(), digest[-16:].upper()
    if body[0] == 6:
        digest = hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest()
        return digest.upper(), digest[:16].upper()
    return ()

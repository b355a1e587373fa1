"""Encrypted and signed mail, and the OpenPGP keys it carries, found in its MIME tree
(pure: nothing is decrypted or verified here; `mailbot.mail.pgp_reading` does that).

What counts as encrypted (the `encrypted` flag: the mail presents itself so):
- PGP/MIME, RFC 3156 §4: a multipart/encrypted part (its ciphertext is the
  application/octet-stream child);
- inline OpenPGP: a "-----BEGIN PGP MESSAGE-----" block in the body text;
- S/MIME: an application/(x-)pkcs7-mime part with smime-type enveloped-data or
  authEnveloped-data, or without smime-type but named *.p7m.
The ciphertext is read packet by packet (`pgp_data.message_shape`): a part that claims to
be encrypted but holds text, garbage or a signed-only message gets the note
"not_encrypted: ...".

Signatures to check: PGP/MIME multipart/signed (RFC 3156 §5: the first part's bytes
exactly as on the wire, line ends made CRLF, and the application/pgp-signature part) and
an inline clearsigned block ("-----BEGIN PGP SIGNED MESSAGE-----") in a text/plain body.

Keys: the `Autocrypt:` header (when its addr= is the From address), application/pgp-keys
parts, *.asc/*.key/*.pub attachments holding a public key block, and a public key block
pasted into the text; each one checked for shape (`pgp_data.key_problem`: size, user-ID
count, public packets only) before anything parses it.

Parts inside an attached message (message/rfc822) are not looked at.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailbot.mail.bodies import decoded
from mailbot.mail.contacts import normalize_address
from mailbot.mail.decoding import content_type, declared_filename, param_text, sub_parts
from mailbot.mail.mime_tree import MimeNode, is_attachment
from mailbot.mail.openpgp import MAX_KEY_BYTES
from mailbot.mail.pgp_data import Shape, armor_span, binary, key_problem, message_shape, split_keys
from mailbot.mail.pgp_notes import refusal

MAX_KEYS = 4
"""Keys kept of one message at most (the rest are not looked at)."""
MAX_SIGNED = 2
"""Signed parts checked of one message at most."""
_SMIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_SMIME_ENVELOPED = frozenset({"enveloped-data", "authenveloped-data"})
_KEY_NAMES = (".asc", ".key", ".pub")
_AUTOCRYPT_KNOWN = frozenset({"addr", "prefer-encrypt", "keydata"})
#: RFC 9580 names of the packets a message that is not encrypted may start with.
_PACKET_NAMES = {2: "Signature", 4: "One-Pass Signature", 8: "Compressed Data", 11: "Literal Data"}


@dataclass(frozen=True)
class Sealed:
    """The encrypted content of a message."""

    kind: str
    """"pgp_mime", "pgp_inline" or "smime"."""
    data: bytes = b""
    """The binary OpenPGP message (b"" when there is none to decrypt)."""
    shape: Shape | None = None
    problem: str = ""
    """Why there is nothing to decrypt ("not_encrypted: ..."), or ""."""


@dataclass(frozen=True)
class SignedPart:
    """Signed content and its signature."""

    kind: str
    """"pgp_mime" (detached signature) or "clearsigned" (`data` is the whole block)."""
    data: bytes
    signature: bytes = b""


@dataclass(frozen=True)
class Findings:
    """What a message's MIME tree says about its cryptography."""

    sealed: Sealed | None = None
    signed: tuple[SignedPart, ...] = ()
    keys: tuple[bytes, ...] = ()
    """Binary public keys of acceptable shape (at most MAX_KEYS)."""
    notes: tuple[str, ...] = ()
    """Notes for staff ("code: detail"), e.g. the kind of encryption and refused keys."""
    protected: bool = False
    """The root declares protected-headers="v1" (RFC 9788: its headers are the real ones)."""

    @property
    def flags(self) -> tuple[str, ...]:
        """ "encrypted" and "signed" as they apply."""
        return (("encrypted",) if self.sealed else ()) + (("signed",) if self.signed else ())


def inspect(
    nodes: list[MimeNode],
    raw: bytes,
    text: str,
    autocrypt: Iterable[str] = (),
    sender: str | None = None,
) -> Findings:
    """The findings of a parsed message: `nodes` of `raw`, its body `text`, and its
    Autocrypt header values (used when their addr= is `sender`)."""
    outer = [node for node in nodes if not node.embedded]
    sealed = _pgp_mime(outer) or _smime(outer) or _inline(text)
    notes = [] if sealed is None else [sealed.kind, *([sealed.problem] if sealed.problem else [])]
    signed = [*_mime_signed(outer, raw), *_clearsigned(outer)][:MAX_SIGNED]
    found = [*_autocrypt(list(autocrypt), sender), *_attached(outer), *_pasted(text)]
    keys: list[bytes] = []
    for data in found:
        problem = key_problem(data) if len(data) <= MAX_KEY_BYTES else "too large"
        if problem:
            notes.append(f"key_refused: {refusal(problem)}")
        elif len(keys) < MAX_KEYS and data not in keys:
            keys.append(data)
    root = nodes[0].part if nodes else None
    value = root.get_param("protected-headers") if root is not None else None
    protected = value is not None and param_text(value, []).strip().lower() == "v1"
    return Findings(sealed, tuple(signed), tuple(keys), tuple(dict.fromkeys(notes)), protected)


# --- encrypted ---------------------------------------------------------------------


def _pgp_mime(nodes: list[MimeNode]) -> Sealed | None:
    """The ciphertext of the first multipart/encrypted part."""
    for node in nodes:
        if node.content_type != "multipart/encrypted":
            continue
        children = sub_parts(node.part) or []
        data = next(
            (decoded(c) for c in children if content_type(c) == "application/octet-stream"),
            decoded(children[-1]) if children and not children[-1].is_multipart() else b"",
        )
        return _sealed("pgp_mime", data)
    return None


def _inline(text: str) -> Sealed | None:
    """The first "-----BEGIN PGP MESSAGE-----" block of the text."""
    if "-----BEGIN PGP MESSAGE-----" not in text:
        return None
    data = text.encode("utf-8", "replace")
    span = armor_span(data, b"MESSAGE")
    if span is None:
        return Sealed("pgp_inline", problem="not_encrypted")
    return _sealed("pgp_inline", data[span[0] : span[1]])


def _sealed(kind: str, data: bytes) -> Sealed:
    """Sealed content of `kind`, or why `data` is not an encrypted OpenPGP message (the
    note names the first packet when there is one)."""
    message = binary(data)
    shape = message_shape(message) if message is not None else None
    if message is None or shape is None or not shape.encrypted:
        first = shape.first if shape is not None else None
        name = "" if first is None else _PACKET_NAMES.get(first, f"tag {first}")
        return Sealed(kind, problem=f"not_encrypted: {name}" if name else "not_encrypted")
    return Sealed(kind, message, shape)


def _smime(nodes: list[MimeNode]) -> Sealed | None:
    """An S/MIME enveloped-data part (detected only: S/MIME is not decrypted)."""
    for node in nodes:
        if not node.leaf or node.content_type not in _SMIME_TYPES:
            continue
        value = node.part.get_param("smime-type")
        kind = param_text(value, []).strip().lower() if value is not None else ""
        name = (declared_filename(node.part) or "").strip().lower()
        if kind in _SMIME_ENVELOPED or (not kind and name.endswith(".p7m")):
            return Sealed("smime")
    return None


# --- signed ------------------------------------------------------------------------


def _protocol(node: MimeNode) -> str:
    value = node.part.get_param("protocol")
    return param_text(value, []).strip().lower() if value is not None else ""


def _mime_signed(nodes: list[MimeNode], raw: bytes) -> list[SignedPart]:
    """The first MAX_SIGNED multipart/signed parts with an OpenPGP signature: the signed
    bytes and it (each costs a search of `raw`, so no more are looked at)."""
    found = []
    candidates = [node for node in nodes if node.content_type == "multipart/signed"]
    for node in candidates[:MAX_SIGNED]:
        children = sub_parts(node.part) or []
        boundary = node.part.get_boundary()
        if len(children) != 2 or not boundary or _protocol(node) != "application/pgp-signature":
            continue
        signed = first_part_bytes(raw, boundary)
        if signed is not None:
            found.append(SignedPart("pgp_mime", signed, decoded(children[1])))
    return found


def first_part_bytes(raw: bytes, boundary: str) -> bytes | None:
    """The bytes of the first body part under `boundary` as they are in `raw`, every line
    end made CRLF (RFC 3156 §5), without the line end before the next delimiter."""
    delimiter = re.escape(b"--" + boundary.encode("ascii", "surrogateescape"))
    opening = re.compile(rb"\n" + delimiter + rb"[ \t]*\r?\n").search(raw)
    if opening is None:
        return None
    closing = re.compile(rb"\r?\n" + delimiter).search(raw, opening.end())
    if closing is None:
        return None
    return re.sub(rb"\r?\n", b"\r\n", raw[opening.end() : closing.start()])


def _clearsigned(nodes: list[MimeNode]) -> list[SignedPart]:
    """The clearsigned block of the first text/plain body that has one."""
    for node in nodes:
        if node.content_type != "text/plain" or not node.leaf or is_attachment(node):
            continue
        data = decoded(node.part)
        span = armor_span(data, b"SIGNED MESSAGE")
        if span is not None:
            return [SignedPart("clearsigned", data[span[0] : span[1]])]
    return []


# --- keys --------------------------------------------------------------------------


def _autocrypt(values: list[str], sender: str | None) -> list[bytes]:
    """The key of the one Autocrypt header whose addr= is `sender` (Autocrypt 1.1 §2.1:
    a header with an unknown critical attribute, or more than one header, counts as none)."""
    if len(values) != 1 or sender is None:
        return []
    attributes: dict[str, str] = {}
    for item in values[0].split(";"):
        name, _, value = item.strip().partition("=")
        attributes[name.strip().lower()] = value.strip()
    unknown = [n for n in attributes if n not in _AUTOCRYPT_KNOWN and not n.startswith("_")]
    if unknown or normalize_address(attributes.get("addr", "")) != sender:
        return []
    try:
        data = base64.b64decode("".join(attributes.get("keydata", "").split()), validate=True)
    except (binascii.Error, ValueError):
        return []
    return _keys_in(data) if data else []


def _attached(nodes: list[MimeNode]) -> list[bytes]:
    """Keys in application/pgp-keys parts and in *.asc, *.key, *.pub attachments."""
    found: list[bytes] = []
    for node in nodes:
        if not node.leaf:
            continue
        named = (declared_filename(node.part) or "").strip().lower().endswith(_KEY_NAMES)
        if node.content_type == "application/pgp-keys" or (named and is_attachment(node)):
            data = decoded(node.part)
            if node.content_type == "application/pgp-keys" or b"PUBLIC KEY BLOCK" in data:
                found += _keys_in(data)
        if len(found) > MAX_KEYS:
            break
    return found


def _pasted(text: str) -> list[bytes]:
    """The public key blocks pasted into the text (at most MAX_KEYS + 1)."""
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in text:
        return []
    data = text.encode("utf-8", "replace")
    found: list[bytes] = []
    start = 0
    while len(found) <= MAX_KEYS and (span := armor_span(data, b"PUBLIC KEY BLOCK", start)):
        found += _keys_in(data[span[0] : span[1]])
        start = span[1]
    return found


def _keys_in(data: bytes) -> list[bytes]:
    """The binary keys in armoured or binary `data`, one piece per key."""
    key = binary(data)
    if key is None or len(key) > 4 * MAX_KEY_BYTES:
        return []
    try:
        return split_keys(key)[: MAX_KEYS + 1] or [key]
    except ValueError:
        return [key]  # key_problem says what is wrong with it

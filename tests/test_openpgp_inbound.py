"""Encrypted and signed reports coming in (issue 17, items 1 and 2, and the hostile input
of its Done-when): PGP/MIME and inline OpenPGP reports in Dutch and English are decrypted
with the meldpunt key and read as the report; S/MIME is flagged; signatures are checked
against the keys the mail carries and never grant staff authority; a key that comes with
a report becomes the case's reporter key; and mail that only claims to be encrypted, a
compression bomb, a key with thousands of user IDs and expired or revoked keys each end
in a recorded disposition with a reason, within the per-message bound.

Every key is generated at test time. A Service on Maildir in and out drives the real code
paths, with the key handed to its Recorder.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import os
import re
import resource
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pysequoia
import pytest
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from factories import BOT, MONDAY_0700, Desk, report, sent
from pysequoia import Cert, SignatureMode, Tsk, encrypt, sign
from pysequoia.packet import PacketPile, Tag
from test_language import ENGLISH

from mailbot.core import config
from mailbot.core.models import Disposition
from mailbot.mail import parsing
from mailbot.mail.openpgp import MeldpuntKey, load_secret_key
from mailbot.mail.pgp_data import key_ids, key_problem, message_shape
from mailbot.mail.pgp_inbound import first_part_bytes
from mailbot.mail.pgp_notes import describe
from mailbot.shell import decrypting
from mailbot.shell.clock import ManualClock
from mailbot.shell.decrypting import ChildOpener
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.recording import Outcome
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store

JAN = "jan@example.nl"
JOHN = "john@example.com"
STAFF = "security@gemeente.example"
BOUND = 5.0
"""The per-message bound (seconds)."""
NEW = "report without a valid case reference"
"""The reason `classify` gives a new report."""


# --- keys ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meld() -> Any:
    """The meldpunt's key pair."""
    return Tsk.generate("Meldpunt <meldpunt@gemeente.example>")


@pytest.fixture(scope="module")
def key(meld: Any) -> MeldpuntKey:
    """The meldpunt's key as mailbot loads it."""
    return load_secret_key(str(meld).encode(), None, "test key")


@pytest.fixture(scope="module")
def jan() -> Any:
    """A Dutch reporter's key pair."""
    return Tsk.generate("Jan Melder <jan@example.nl>")


@pytest.fixture(scope="module")
def john() -> Any:
    """An English reporter's key pair."""
    return Tsk.generate("John Reporter <john@example.com>")


def cert(tsk: Any) -> Any:
    """The public key of `tsk`."""
    return tsk.extract_certificate()


def armored(tsk_or_cert: Any) -> str:
    """The armoured public key, CRLF line ends."""
    public = tsk_or_cert.extract_certificate() if hasattr(tsk_or_cert, "signer") else tsk_or_cert
    return str(public).replace("\r\n", "\n").replace("\n", "\r\n")


def fingerprint(tsk: Any) -> str:
    """The upper-case fingerprint of `tsk`'s primary key."""
    return str(cert(tsk).fingerprint).upper()


# --- mails ---------------------------------------------------------------------------------


def entity(
    subject: str,
    body: str,
    *,
    protected: bool = True,
    attachment: tuple[str, bytes] | None = None,
    key: Any = None,
) -> bytes:
    """The MIME entity a mail program encrypts: text (and an attachment, and a public key),
    with the real Subject inside (protected-headers="v1", RFC 9788)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment[1], maintype="text", subtype="plain", filename=attachment[0])
    if key is not None:
        msg.add_attachment(
            armored(key).encode(), maintype="application", subtype="pgp-keys", filename="key.asc"
        )
    if protected:
        msg.set_param("protected-headers", "v1")
    return msg.as_bytes(policy=email.policy.SMTP)


def autocrypt(address: str, tsk: Any) -> str:
    """An Autocrypt header line (folded) for `address` with `tsk`'s public key."""
    data = base64.b64encode(bytes(cert(tsk))).decode()
    lines = "\r\n ".join(data[i : i + 72] for i in range(0, len(data), 72))
    return f"Autocrypt: addr={address}; prefer-encrypt=mutual; keydata=\r\n {lines}"


def head(sender: str, subject: str, message_id: str, content_type: str, *extra: str) -> str:
    """A header block (CRLF, ending in the empty line)."""
    lines = [f"From: {sender}", f"To: {BOT}", f"Subject: {subject}", f"Message-ID: {message_id}"]
    lines += ["MIME-Version: 1.0", f"Content-Type: {content_type}", *extra]
    return "\r\n".join(lines) + "\r\n\r\n"


def pgp_mime(
    inner: bytes,
    to: Any,
    *,
    sender: str = JAN,
    subject: str = "...",
    signer: Any = None,
    extra: tuple[str, ...] = (),
    message_id: str = "<e1@example.nl>",
) -> bytes:
    """A PGP/MIME encrypted mail (RFC 3156 §4) of `inner` to key `to`."""
    sealed = encrypt(inner, recipients=[to], signer=signer).decode().replace("\n", "\r\n")
    kind = 'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b-enc"'
    body = (
        "--b-enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        '--b-enc\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
        f"{sealed}\r\n--b-enc--\r\n"
    )
    return (head(sender, subject, message_id, kind, *extra) + body).encode()


def inline(text_before: str, sealed: bytes, text_after: str, *, sender: str = JAN) -> bytes:
    """A plain-text mail with an armoured OpenPGP block in its body."""
    body = f"{text_before}\n\n{sealed.decode()}\n{text_after}"
    return report(sender=sender, message_id="<i1@example.nl>", body=body, subject="Melding")


def mime_signed(
    part: bytes, signer: Any, *, sender: str = JAN, subject: str = "Melding", tamper: bool = False
) -> bytes:
    """A PGP/MIME multipart/signed mail (RFC 3156 §5) of the CRLF entity `part`."""
    signature = sign(signer.signer(), part, mode=SignatureMode.DETACHED).decode()
    signed = part.replace(b"portaal", b"p0rtaal") if tamper else part
    kind = (
        'multipart/signed; micalg=pgp-sha512; protocol="application/pgp-signature";'
        ' boundary="b-sig"'
    )
    sig = signature.replace("\n", "\r\n")
    body = (
        b"--b-sig\r\n" + signed + b"\r\n--b-sig\r\n"
        b'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
        + sig.encode()
        + b"\r\n--b-sig--\r\n"
    )
    return head(sender, subject, "<s1@example.nl>", kind).encode() + body


def signed_entity(text: str, key: Any) -> bytes:
    """A multipart/mixed entity of `text` and an attached public key (CRLF)."""
    return (
        'Content-Type: multipart/mixed; boundary="b-in"\r\n\r\n'
        "--b-in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
        '--b-in\r\nContent-Type: application/pgp-keys; name="key.asc"\r\n'
        'Content-Disposition: attachment; filename="key.asc"\r\n\r\n'
        f"{armored(key)}\r\n--b-in--"
    ).encode()


# --- the service ---------------------------------------------------------------------------


def meldpunt(
    tmp_path: Path, key: MeldpuntKey | None, start: datetime = MONDAY_0700
) -> tuple[Service, ManualClock]:
    """A service on Maildir in and out with the meldpunt `key` (handed to its Recorder)."""
    settings, clock = config.embedded(tmp_path), ManualClock(start)
    inbox, outbox = MaildirMailbox(tmp_path / "inbox"), MaildirTransport(tmp_path / "outbox")
    service = Service(settings, Store(settings.database.path), inbox, outbox, clock, key=key)
    return service, clock


def deliver(service: Service, clock: ManualClock, tmp_path: Path, raw: bytes) -> Outcome:
    """Deliver `raw` a minute later than now and run once; what became of it."""
    clock.set(clock.now() + timedelta(minutes=1))
    deliver_to_maildir(tmp_path / "inbox", raw, clock.now())
    outcomes, _ = asyncio.run(service.run_once())
    return outcomes[0]


def mails(tmp_path: Path, kind: str) -> list[EmailMessage]:
    """The sent mails of `kind` (from our Message-ID, mailbot.<kind>.<case>.<hash>@...)."""
    return [m for m in sent(tmp_path) if str(m["Message-ID"]).strip("<>").split(".")[1] == kind]


def notice_text(tmp_path: Path, kind: str = "staff_notice") -> str:
    """The text of the one staff notice of `kind`, lines wrapped under a list item joined."""
    (notice,) = mails(tmp_path, kind)
    return re.sub(r"\n {4}(?=\S)", " ", str(notice.get_content()).replace("\r\n", "\n"))


def stored(service: Service) -> list[tuple[str, bytes | None, str, str]]:
    """(sha256, raw, disposition, reason) of every recorded message, in order."""
    rows = service.store.db.execute(
        "SELECT sha256, raw, disposition, reason FROM messages ORDER BY id"
    )
    return [(str(s), r, str(d), str(why)) for s, r, d, why in rows]


# --- decrypted reports ---------------------------------------------------------------------


def test_pgp_mime_report_in_dutch_is_decrypted_and_read_as_the_report(
    tmp_path: Path, meld: Any, key: MeldpuntKey
) -> None:
    """A PGP/MIME report with subject "..." becomes a case with the protected subject, the
    decrypted text's systems and language, flags encrypted+decrypted; the raw kept is the
    encrypted mail and its sha256 names it."""
    text = "Beste meldpunt,\n\nOp https://portaal.gemeente.example/zoek zit een XSS-lek.\n"
    raw = pgp_mime(entity("Lek in het portaal", text), cert(meld))
    service, clock = meldpunt(tmp_path, key)
    outcome = deliver(service, clock, tmp_path, raw)
    case = service.store.case("MK-2026-0001")
    assert outcome.disposition == Disposition.NEW_CASE
    assert case is not None
    assert (case.subject, case.flags, case.language) == (
        "Lek in het portaal",
        ("encrypted", "decrypted"),
        "nl",
    )
    assert case.affected[0] == "https://portaal.gemeente.example/zoek"
    assert stored(service)[0][:2] == (hashlib.sha256(raw).hexdigest(), raw)
    notice = notice_text(tmp_path)
    assert "Op https://portaal.gemeente.example/zoek zit een XSS-lek." in notice
    assert "Ontsleuteld met de sleutel van het meldpunt" in notice
    assert "BEGIN PGP MESSAGE" not in notice
    assert len(mails(tmp_path, "acknowledgement")) == 1


def test_pgp_mime_report_in_english_with_an_attachment(
    tmp_path: Path, meld: Any, key: MeldpuntKey
) -> None:
    """An English PGP/MIME report with an attachment: the case is English and the staff
    notice lists the decrypted attachment, not the ciphertext part."""
    text = "Hello,\n\nThe login page at https://login.gemeente.example leaks the session.\n"
    inner = entity("Session leak", text, attachment=("poc.txt", b"curl -v https://login\n"))
    service, clock = meldpunt(tmp_path, key)
    deliver(service, clock, tmp_path, pgp_mime(inner, cert(meld), sender=JOHN))
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert (case.language, case.subject, case.flags) == (
        "en",
        "Session leak",
        ("encrypted", "decrypted"),
    )
    notice = notice_text(tmp_path)
    assert "poc.txt (text/plain" in notice
    assert "encrypted.asc" not in notice


def test_inline_encrypted_report_replaces_the_block_with_the_plaintext(
    tmp_path: Path, meld: Any, key: MeldpuntKey
) -> None:
    """A report whose text holds an armoured OpenPGP block is read with the block
    decrypted in its place."""
    secret = "Het wachtwoord van https://beheer.gemeente.example is admin.\n"
    sealed = encrypt(secret.encode(), recipients=[cert(meld)])
    raw = inline("Hallo meldpunt, zie hieronder:", sealed, "Groeten, Jan")
    service, clock = meldpunt(tmp_path, key)
    deliver(service, clock, tmp_path, raw)
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert (case.flags, case.affected[0]) == (
        ("encrypted", "decrypted"),
        "https://beheer.gemeente.example",
    )
    notice = notice_text(tmp_path)
    assert (
        "zie hieronder:\n\nHet wachtwoord van https://beheer.gemeente.example is admin." in notice
    )
    assert "Groeten, Jan" in notice
    assert "Versleuteld ontvangen (OpenPGP, als blok in de tekst)." in notice


def test_inline_encrypted_and_signed_english_report_with_autocrypt(
    tmp_path: Path, meld: Any, key: MeldpuntKey, john: Any
) -> None:
    """Inline, encrypted and signed by the reporter whose key is in the Autocrypt header:
    signed_valid, and that key becomes the case's reporter key."""
    sealed = encrypt(b"The server at 192.0.2.7 runs an old OpenSSH.\n", [cert(meld)], john.signer())
    body = f"Please see below.\n\n{sealed.decode()}\nThanks, John"
    raw = report(
        sender=JOHN,
        message_id="<i2@example.com>",
        body=body,
        subject="Old OpenSSH",
        extra=autocrypt(JOHN, john),
    )
    service, clock = meldpunt(tmp_path, key)
    deliver(service, clock, tmp_path, raw)
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert (case.flags, case.language) == (("encrypted", "decrypted", "signed_valid"), "en")
    assert case.reporter_key is not None
    assert str(Cert.from_bytes(case.reporter_key.encode()).fingerprint).upper() == fingerprint(john)
    notice = notice_text(tmp_path)
    assert f"Ondertekend: de handtekening klopt met sleutel {fingerprint(john)}" in notice


def test_pgp_mime_signed_and_encrypted_with_autocrypt(
    tmp_path: Path, meld: Any, key: MeldpuntKey, jan: Any
) -> None:
    """PGP/MIME signed and encrypted in one (as Thunderbird sends it) with an Autocrypt
    header: encrypted, decrypted, signed_valid, reporter key set; the events say so."""
    raw = pgp_mime(
        entity("Lek", "Zie https://a.gemeente.example\n"),
        cert(meld),
        signer=jan.signer(),
        extra=(autocrypt(JAN, jan),),
    )
    service, clock = meldpunt(tmp_path, key)
    deliver(service, clock, tmp_path, raw)
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert case.flags == ("encrypted", "decrypted", "signed_valid")
    events = {e.kind: e.detail for e in service.store.events("MK-2026-0001")}
    assert events["reporter_key_set"] == f"{fingerprint(jan)} from the report"
    assert events["flag_set"].startswith("encrypted, decrypted, signed_valid: pgp_mime; decrypted")


def test_signed_inside_encrypted_pgp_mime_with_the_key_inside(
    tmp_path: Path, meld: Any, key: MeldpuntKey, jan: Any
) -> None:
    """RFC 3156 §6.1: multipart/signed inside the encryption, the key attached inside:
    the signature is checked over the decrypted part's bytes."""
    inner = mime_signed(signed_entity("Lek op https://b.gemeente.example", jan), jan)
    part = inner.partition(b"\r\n\r\n")[2]
    kind = 'multipart/signed; micalg=pgp-sha512; protocol="application/pgp-signature"; '
    inner_entity = (f'Content-Type: {kind}boundary="b-sig"\r\n\r\n').encode() + part
    service, clock = meldpunt(tmp_path, key)
    deliver(service, clock, tmp_path, pgp_mime(inner_entity, cert(meld), subject="Melding"))
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert (case.flags, case.affected[0]) == (
        ("encrypted", "decrypted", "signed_valid"),
        "https://b.gemeente.example",
    )
    assert case.reporter_key is not None


def test_report_encrypted_to_another_key_is_a_case_with_a_note(
    tmp_path: Path, key: MeldpuntKey
) -> None:
    """Encrypted to someone else's key: still a case, acknowledged, flagged encrypted only;
    staff read why, with the key ID it was encrypted to."""
    other = Tsk.generate("Iemand <iemand@example.nl>")
    raw = pgp_mime(entity("Lek", "geheim"), cert(other))
    service, clock = meldpunt(tmp_path, key)
    outcome = deliver(service, clock, tmp_path, raw)
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert (outcome.disposition, case.flags) == (Disposition.NEW_CASE, ("encrypted",))
    assert len(mails(tmp_path, "acknowledgement")) == 1
    recipient = message_shape(encrypt(b"x", [cert(other)], armor=False)).recipients[0]
    assert recipient in key_ids(bytes(cert(other)))
    notice = notice_text(tmp_path)
    assert (
        "Niet ontsleuteld: versleuteld voor een andere sleutel dan die van het meldpunt (" in notice
    )
    assert stored(service)[0][3] == f"{NEW}; pgp_mime; not_for_us: {recipient}"


def test_without_a_key_an_encrypted_report_is_flagged_and_acknowledged(
    tmp_path: Path, meld: Any
) -> None:
    """No [openpgp] key: the report is a case, acknowledged, flagged encrypted, and the
    note says no secret key is configured."""
    service, clock = meldpunt(tmp_path, None)
    deliver(service, clock, tmp_path, pgp_mime(entity("Lek", "tekst"), cert(meld)))
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert case.flags == ("encrypted",)
    assert len(mails(tmp_path, "acknowledgement")) == 1
    assert "Niet ontsleuteld: er is geen geheime sleutel ingesteld" in notice_text(tmp_path)


def test_smime_enveloped_report_is_detected_and_flagged(tmp_path: Path) -> None:
    """An S/MIME enveloped-data report: flagged encrypted; the note says mailbot decrypts
    OpenPGP only."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Meldpunt")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    body = b"Content-Type: text/plain\r\n\r\nEr zit een lek in de website.\r\n"
    envelope = pkcs7.PKCS7EnvelopeBuilder().set_data(body).add_recipient(certificate)
    smime = envelope.encrypt(serialization.Encoding.SMIME, [])
    raw = f"From: {JAN}\r\nTo: {BOT}\r\nSubject: Lek\r\nMessage-ID: <p7@example.nl>\r\n".encode()
    service, clock = meldpunt(tmp_path, None)
    deliver(service, clock, tmp_path, raw + smime.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert case.flags == ("encrypted",)
    assert "Versleuteld ontvangen (S/MIME). Mailbot ontsleutelt alleen OpenPGP" in notice_text(
        tmp_path
    )


# --- signed mail -----------------------------------------------------------------------------


@pytest.mark.parametrize("line_ends", ["crlf", "lf"])
def test_pgp_mime_signed_report_with_attached_key_verifies(
    tmp_path: Path, jan: Any, line_ends: str
) -> None:
    """multipart/signed with the key attached inside the signed part: signed_valid and the
    reporter key set, whether the mail is stored with CRLF or LF line ends."""
    raw = mime_signed(signed_entity("Lek op https://c.gemeente.example", jan), jan)
    service, clock = meldpunt(tmp_path, None)
    deliver(service, clock, tmp_path, raw if line_ends == "crlf" else raw.replace(b"\r\n", b"\n"))
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert case.flags == ("signed_valid",)
    assert case.reporter_key is not None


def test_tampered_signed_report_is_not_signed_valid(tmp_path: Path, jan: Any) -> None:
    """The signed part changed after signing: no signed_valid, a note that the signature
    does not verify with the key that came with it."""
    raw = mime_signed(
        signed_entity("Lek op https://portaal.gemeente.example", jan), jan, tamper=True
    )
    service, clock = meldpunt(tmp_path, None)
    deliver(service, clock, tmp_path, raw)
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert case.flags == ()
    assert (
        "Ondertekend, maar de handtekening klopt niet met de meegestuurde sleutel"
        in notice_text(tmp_path)
    )


def test_clearsigned_report_with_pasted_key_verifies(tmp_path: Path, john: Any) -> None:
    """An inline clearsigned report with the public key pasted below it: signed_valid."""
    signed = sign(
        john.signer(), b"The API at https://api.gemeente.example leaks.\n", mode=SignatureMode.CLEAR
    )
    body = f"{signed.decode()}\nMy key:\n{armored(john)}"
    service, clock = meldpunt(tmp_path, None)
    deliver(service, clock, tmp_path, report(sender=JOHN, message_id="<c@example.com>", body=body))
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert (case.flags, case.language) == (("signed_valid",), "en")
    assert case.reporter_key is not None


def test_a_valid_signature_grants_no_staff_authority(tmp_path: Path, meld: Any) -> None:
    """A mail from a staff address whose only authentication is a valid OpenPGP signature
    (no Authentication-Results of our MTA) stays unverified: it commands nothing."""
    desk = Desk(tmp_path)
    desk.send(JAN, "Lek", "Op https://d.gemeente.example zit een lek.")
    staff_key = Tsk.generate(f"Security <{STAFF}>")
    part = signed_entity("Close: resolved verholpen\r\n\r\nOpgelost.", staff_key)
    raw = mime_signed(part, staff_key, sender=STAFF, subject="Re: [MK-2026-0001] Lek")
    desk.clock.set(desk.clock.now() + timedelta(minutes=5))
    deliver_to_maildir(desk.inbox, raw, desk.clock.now())
    outcomes, _ = asyncio.run(desk.service.run_once())
    assert outcomes[0].disposition == Disposition.UNVERIFIED
    assert outcomes[0].reason.endswith(f"signature_valid: {fingerprint(staff_key)}")
    assert desk.case().state.value == "acknowledged"


# --- keys: follow-ups, refusals ------------------------------------------------------------


def test_followup_with_a_new_key_updates_the_reporter_key(
    tmp_path: Path, meld: Any, key: MeldpuntKey, jan: Any
) -> None:
    """The reporter writes again with a new Autocrypt key: the case's key becomes it, and
    the follow-up notice says so."""
    service, clock = meldpunt(tmp_path, key)
    first = pgp_mime(entity("Lek", "tekst"), cert(meld), extra=(autocrypt(JAN, jan),))
    deliver(service, clock, tmp_path, first)
    newer = Tsk.generate("Jan Melder <jan@example.nl>")
    followup = pgp_mime(
        entity("Re: [MK-2026-0001] Lek", "Nog een lek: https://e.gemeente.example"),
        cert(meld),
        extra=(autocrypt(JAN, newer),),
        message_id="<e2@example.nl>",
    )
    outcome = deliver(service, clock, tmp_path, followup)
    case = service.store.case("MK-2026-0001")
    assert case is not None and case.reporter_key is not None
    assert outcome.disposition == Disposition.FOLLOWUP
    assert str(Cert.from_bytes(case.reporter_key.encode()).fingerprint).upper() == fingerprint(
        newer
    )
    text = notice_text(tmp_path, "followup_notice")
    assert f"De sleutel van de melder ({fingerprint(newer)}) is bij de zaak bewaard" in text
    assert "Nog een lek: https://e.gemeente.example" in text


def test_expired_and_revoked_keys_are_refused_with_a_reason(tmp_path: Path) -> None:
    """An expired and a revoked key attached to a report: neither becomes the reporter
    key; the message's recorded reason and the notice say why."""
    real_now = datetime.now(UTC).replace(microsecond=0)
    short = Tsk.generate("Jan <jan@example.nl>", validity_seconds=3600)
    gone = Tsk.generate("Jan <jan@example.nl>")
    revoked = Cert.from_bytes(
        bytes(cert(gone)) + bytes(cert(gone).revoke(certifier=gone.certifier()))
    )
    keys = f"{armored(short)}\r\n{armored(revoked)}"
    raw = report(sender=JAN, message_id="<k@example.nl>", body=f"Lek.\n\n{keys}")
    service, clock = meldpunt(tmp_path, None, start=real_now + timedelta(days=2))
    outcome = deliver(service, clock, tmp_path, raw)
    case = service.store.case(outcome.case_id or "")
    assert case is not None
    assert case.reporter_key is None
    expired_on = cert(short).expiration.astimezone(UTC).date().isoformat()
    reason = stored(service)[0][3]
    assert reason == f"{NEW}; key_refused: expired {expired_on}; key_refused: revoked"
    notice = notice_text(tmp_path)
    assert f"Een meegestuurde sleutel is niet gebruikt: verlopen op {expired_on}." in notice
    assert "Een meegestuurde sleutel is niet gebruikt: ingetrokken." in notice


def test_key_with_thousands_of_user_ids_is_refused_within_the_bound(tmp_path: Path) -> None:
    """A 2,000-user-ID key in the Autocrypt header and a key with 20,000 unsigned user IDs
    attached: both refused by counting packets (Sequoia never lists them), well within the
    per-message bound."""
    stuffed = Tsk.generate(user_ids=[f"Jan {i} <jan@example.nl>" for i in range(2000)])
    junk = bytes(cert(Tsk.generate("Jan <jan@example.nl>"))) + b"".join(
        bytes([0xCD, len(u)]) + u for u in (f"x{i} <x{i}@x.org>".encode() for i in range(20_000))
    )
    attached = base64.encodebytes(junk).decode().replace("\n", "\r\n")
    kind = 'multipart/mixed; boundary="b-k"'
    body = (
        "--b-k\r\nContent-Type: text/plain\r\n\r\nLek op https://f.gemeente.example\r\n"
        '--b-k\r\nContent-Type: application/pgp-keys; name="k.gpg"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{attached}--b-k--\r\n"
    )
    raw = (head(JAN, "Lek", "<u@example.nl>", kind, autocrypt(JAN, stuffed)) + body).encode()
    service, clock = meldpunt(tmp_path, None)
    started = time.perf_counter()
    deliver(service, clock, tmp_path, raw)
    elapsed = time.perf_counter() - started
    case = service.store.case("MK-2026-0001")
    assert case is not None
    assert case.reporter_key is None
    assert stored(service)[0][3] == (
        f"{NEW}; key_refused: user_ids 2000; key_refused: user_ids 20001"
    )
    assert elapsed < BOUND


# --- hostile encrypted mail ------------------------------------------------------------------


def test_multipart_encrypted_holding_text_is_a_case_with_a_reason(
    tmp_path: Path, key: MeldpuntKey
) -> None:
    """multipart/encrypted whose parts are plain text: a case, flagged encrypted, the
    reason says it is not encrypted; the text is shown to staff."""
    kind = 'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"'
    body = (
        "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nGeen versleuteling, wel https://g.gemeente.example\r\n"
        "--b--\r\n"
    )
    raw = (head(JAN, "Lek", "<h1@example.nl>", kind) + body).encode()
    service, clock = meldpunt(tmp_path, key)
    outcome = deliver(service, clock, tmp_path, raw)
    assert (outcome.disposition, outcome.reason) == (
        Disposition.NEW_CASE,
        f"{NEW}; pgp_mime; not_encrypted",
    )
    case = service.store.case("MK-2026-0001")
    assert case is not None and case.flags == ("encrypted",)
    assert "het bericht zegt versleuteld te zijn, maar bevat geen" in notice_text(tmp_path)


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        ("AAAAbm90IHBncA==", f"{NEW}; pgp_inline; not_encrypted"),
        ("!!!! geen base64 !!!!", f"{NEW}; pgp_inline; not_encrypted"),
        ("yxJiAAAAAABoZWxsbyBtZWxkcHVudA==", f"{NEW}; pgp_inline; not_encrypted: Literal Data"),
    ],
)
def test_armour_with_garbage_is_a_case_with_a_reason(
    tmp_path: Path, key: MeldpuntKey, block: str, reason: str
) -> None:
    """An armoured "PGP MESSAGE" block of garbage, of text that is no base64, or of a plain
    literal packet: a case with a recorded reason; nothing is decrypted."""
    armour = f"-----BEGIN PGP MESSAGE-----\n\n{block}\n-----END PGP MESSAGE-----"
    raw = report(sender=JAN, message_id="<g@example.nl>", body=f"Zie:\n{armour}\n")
    service, clock = meldpunt(tmp_path, key)
    outcome = deliver(service, clock, tmp_path, raw)
    assert (outcome.disposition, outcome.reason) == (Disposition.NEW_CASE, reason)


def _packet(tag: int, body: bytes) -> bytes:
    """A new-format packet with a five-octet length."""
    return bytes([0xC0 | tag, 0xFF]) + len(body).to_bytes(4, "big") + body


def _zeros_compressed(size_mib: int) -> bytes:
    """A Compressed Data packet (zlib) of a Literal Data packet of `size_mib` MiB of zeros,
    built from one compressed MiB repeated (a full flush makes the blocks identical)."""
    literal = bytes([0xCB, 0xFF]) + (6 + (size_mib << 20)).to_bytes(4, "big") + b"b\x00" + bytes(4)
    z = zlib.compressobj(9)
    first = z.compress(literal) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(bytes(1 << 20)) + z.flush(zlib.Z_FULL_FLUSH)
    tail = z.flush()[:-4]
    adler = zlib.adler32(literal)
    low, high = adler & 0xFFFF, (adler >> 16) + (size_mib << 20) * (adler & 0xFFFF)
    trailer = (((high % 65521) << 16) | low).to_bytes(4, "big")
    return _packet(8, b"\x02" + first + block * size_mib + tail + trailer)


def _ecdh_subkey(public: Any) -> Any:
    for packet in PacketPile.from_bytes(bytes(public)):
        if packet.tag == Tag.PublicSubkey and packet.body[5] == 18:
            return packet
    raise LookupError("no ECDH subkey")


def _encrypted_to(public: Any, packets: bytes) -> bytes:
    """`packets` encrypted to `public`'s Curve25519 ECDH subkey (RFC 6637 PKESK v3, SEIPD
    v1): what Sequoia never builds itself, as it does not compress."""
    sub = _ecdh_subkey(public)
    body, session = sub.body, os.urandom(32)
    oid = body[7 : 7 + body[6]]
    at = 7 + len(oid)
    point = body[at + 3 : at + 2 + 33]
    kdf = body[at + 35 : at + 39]
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(point))
    param = bytes([len(oid)]) + oid + b"\x12" + kdf + b"Anonymous Sender    "
    param += bytes.fromhex(sub.fingerprint)
    digest = {8: hashlib.sha256, 9: hashlib.sha384, 10: hashlib.sha512}[kdf[2]]
    kek = digest(b"\x00\x00\x00\x01" + shared + param).digest()[: {7: 16, 8: 24, 9: 32}[kdf[3]]]
    plain = b"\x09" + session + (sum(session) % 65536).to_bytes(2, "big")
    wrapped = aes_key_wrap(kek, plain + bytes([5]) * 5)
    mpi = b"\x01\x07\x40" + ephemeral.public_key().public_bytes_raw()
    pkesk = b"\x03" + bytes.fromhex(sub.key_id) + b"\x12" + mpi + bytes([len(wrapped)]) + wrapped
    prefix = os.urandom(16)
    data = prefix + prefix[-2:] + packets + b"\xd3\x14"
    data += hashlib.sha1(data).digest()  # the MDC is SHA-1 by definition
    cipher = Cipher(algorithms.AES(session), CFB(bytes(16))).encryptor()
    return _packet(1, pkesk) + _packet(18, b"\x01" + cipher.update(data) + cipher.finalize())


@pytest.fixture(scope="module")
def bomb(meld: Any) -> bytes:
    """1 GiB of zeros, compressed and encrypted to the meldpunt key: about 1 MB."""
    return _encrypted_to(cert(meld), _zeros_compressed(1024))


def test_the_bomb_helper_makes_a_message_sequoia_decrypts(meld: Any, key: MeldpuntKey) -> None:
    """The hand-built encryption is sound: 2 MiB of zeros decrypt to 2 MiB of zeros."""
    small = _encrypted_to(cert(meld), _zeros_compressed(2))
    opened = ChildOpener(key, 4 << 20).decrypt(small, [])
    assert (opened.problem, opened.plaintext) == ("", bytes(2 << 20))


def test_compression_bomb_is_cut_off_within_the_bound(
    tmp_path: Path, meld: Any, key: MeldpuntKey, bomb: bytes
) -> None:
    """A 1 MB PGP/MIME report that decompresses to 1 GiB: a case with reason too_large,
    within the per-message bound, and this process never holds more than the limit."""
    armour = pysequoia.armor(bomb, pysequoia.ArmorKind.Message).replace("\n", "\r\n")
    kind = 'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"'
    body = (
        "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        f"--b\r\nContent-Type: application/octet-stream\r\n\r\n{armour}\r\n--b--\r\n"
    )
    raw = (head(JAN, "...", "<bomb@example.nl>", kind) + body).encode()
    service, clock = meldpunt(tmp_path, key)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcome = deliver(service, clock, tmp_path, raw)
    elapsed = time.perf_counter() - started
    limit = service.settings.limits.max_message_bytes
    assert (outcome.disposition, outcome.reason) == (
        Disposition.NEW_CASE,
        f"{NEW}; pgp_mime; too_large: {limit}",
    )
    assert elapsed < BOUND
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 4 * limit // 1024  # the plaintext read is at most the limit
    assert "Niet ontsleuteld: uitgepakt groter dan" in notice_text(tmp_path)


def test_decrypting_past_the_deadline_is_too_slow(key: MeldpuntKey, bomb: bytes) -> None:
    """With room for the whole GiB but a deadline of 0.2 s the child is stopped: too_slow."""
    started = time.perf_counter()
    opened = ChildOpener(key, 2 << 30, seconds=0.2).decrypt(bomb, [])
    assert (opened.problem, opened.plaintext) == ("too_slow", None)
    assert time.perf_counter() - started < 2.0


def test_the_child_runs_under_its_memory_limit(
    meld: Any, key: MeldpuntKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RLIMIT_AS holds in the child: with 16 MiB of address space it cannot even load
    Sequoia, and the message is "failed" with the child's exit status, not decrypted."""
    monkeypatch.setattr(decrypting, "MEMORY", 16 << 20)
    opened = ChildOpener(key, 1 << 20).decrypt(encrypt(b"x", [cert(meld)], armor=False), [])
    assert (opened.problem, opened.detail) == (
        "failed",
        "the decrypting process ended with status 1",
    )


# --- pure parts ------------------------------------------------------------------------------


def test_first_part_bytes_are_the_wire_bytes_with_crlf() -> None:
    """RFC 3156 §5: the signed bytes are the first part as sent, line ends made CRLF,
    without the line end before the next delimiter."""
    raw = (
        b"Content-Type: multipart/signed; boundary=x\n\n"
        b"--x\nA: b\n\nline 1 \nline 2\n--x\nsig\n--x--\n"
    )
    assert first_part_bytes(raw, "x") == b"A: b\r\n\r\nline 1 \r\nline 2"


def test_key_problem_counts_user_ids_per_key_and_refuses_secret_keys(meld: Any, jan: Any) -> None:
    """Shape checks: a normal key passes, two concatenated keys pass, a secret key and a
    key of 101 user IDs do not."""
    many = Tsk.generate(user_ids=[f"u{i} <u{i}@x.org>" for i in range(101)])
    found = [
        key_problem(bytes(cert(jan))),
        key_problem(bytes(cert(jan)) + bytes(cert(meld))),
        key_problem(bytes(meld)),
        key_problem(bytes(cert(many))),
    ]
    assert found == ["", "", "a secret key (not used)", "101 user IDs (at most 100)"]


def test_protected_subject_replaces_only_a_placeholder_without_the_declaration() -> None:
    """Without protected-headers="v1" the inner Subject is used only when the outer one
    is a placeholder such as "..."; with it, always."""
    received = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
    outer = parsing.parse(report(subject="Echt onderwerp", body="x"), received)
    placeholder = replace(outer, subject="...")
    plain = entity("Binnen", "tekst", protected=False)
    declared = entity("Binnen", "tekst")
    subjects = [
        parsing.parse_entity(outer, plain)[0].subject,
        parsing.parse_entity(placeholder, plain)[0].subject,
        parsing.parse_entity(outer, declared)[0].subject,
    ]
    assert subjects == ["Echt onderwerp", "Binnen", "Binnen"]


def test_dutch_crypto_lines_hold_no_english_words() -> None:
    """Every note the staff notice can show, said in Dutch, has none of test_language's
    English words (details are fingerprints and numbers here)."""
    note = (
        "pgp_mime; pgp_inline; smime; decrypted; no_key; not_for_us: 0123ABCD; damaged; "
        "too_large: 26214400; too_slow: 4; not_encrypted; signature_valid: ABCD; "
        "signature_bad: ABCD; signature_unknown_key: ABCD; signature_unchecked; "
        "key_refused: user_ids 2000; key_refused: revoked; key_refused: expired 2026-01-01; "
        "key_refused: secret_key; key_refused: other_address; key_refused: no_encryption; "
        "key_used: ABCD"
    )
    lines = describe(note, "nl")
    english = {w for line in lines for w in line.lower().replace("(", " ").split()} & ENGLISH
    assert (len(lines), english) == (21, set())

"""Encrypted reports end to end (issue 17), once through a real Dovecot and aiosmtpd:
a PGP/MIME report encrypted to the meldpunt key with the reporter's Autocrypt key is read
as the report (also by `case show`), its acknowledgement goes out encrypted to the
reporter, and a staff reply is relayed encrypted and decrypts with the reporter's key to
what staff wrote."""

from __future__ import annotations

import base64
import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import SmtpTestServer
from dovecot import DovecotAccount
from factories import BOT, MX, PASS, RECEIVED, STAFF, accepted, mailbot, write_config
from pysequoia import Cert, Tsk, decrypt, encrypt

pytestmark = pytest.mark.dovecot
REPORTER = "jan@example.nl"


def report_to(meld: Cert, jan: Tsk) -> bytes:
    """Jan's report, PGP/MIME encrypted to the meldpunt (real subject inside), with his
    Autocrypt key."""
    inner = EmailMessage()
    inner["Subject"] = "Lek in het afsprakenportaal"
    inner.set_content("Op https://afspraken.gemeente.example kan ik andermans afspraken zien.\n")
    inner.set_param("protected-headers", "v1")
    sealed = encrypt(inner.as_bytes(policy=email.policy.SMTP), recipients=[meld]).decode()
    keydata = base64.b64encode(bytes(jan.extract_certificate())).decode()
    folded = "\r\n ".join(keydata[i : i + 72] for i in range(0, len(keydata), 72))
    head = (
        f"From: Jan <{REPORTER}>\r\nTo: {BOT}\r\nSubject: ...\r\nMessage-ID: <e1@example.nl>\r\n"
        f"Autocrypt: addr={REPORTER}; keydata=\r\n {folded}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
        'boundary="b"\r\n\r\n'
    )
    body = (
        "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n\r\n"
        + sealed.replace("\n", "\r\n")
        + "\r\n--b--\r\n"
    )
    return (head + body).encode()


def staff_reply(case_id: str, text: str) -> bytes:
    """A staff reply to the case, vouched for by our MTA."""
    return (
        f"Authentication-Results: {PASS}\r\nFrom: {STAFF}\r\nTo: {BOT}\r\n"
        f"Subject: Re: [{case_id}] Lek\r\nMessage-ID: <s1@gemeente.example>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    ).encode()


def opened(raw: bytes, reader: Tsk, meld: Cert) -> tuple[str, str, list[str]]:
    """(outer subject, decrypted text, fingerprints of the signatures that verified)."""
    outer = email.message_from_bytes(raw, policy=email.policy.default)
    assert outer.get_content_type() == "multipart/encrypted"
    payload = list(outer.iter_parts())[1].get_content()
    data = payload.encode() if isinstance(payload, str) else payload
    plain = decrypt(data, decryptor=reader.decryptor(), store=lambda ids: [meld])
    inner = email.message_from_bytes(plain.bytes, policy=email.policy.default)
    body = inner.get_body(("plain",))
    assert isinstance(inner, EmailMessage) and body is not None
    signers = [str(s.certificate).upper() for s in plain.valid_sigs]
    return str(outer["Subject"]), str(body.get_content()), signers


def to_reporter(smtp: SmtpTestServer) -> list[bytes]:
    """What the SMTP server accepted for the reporter, in order."""
    return [s.data for s in accepted(smtp) if REPORTER in s.rcpt]


def test_encrypted_report_and_answers_through_dovecot_and_smtp(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """Encrypted report in over IMAP: a decrypted case, an encrypted and signed
    acknowledgement out over SMTP, a staff reply relayed encrypted to the reporter's key."""
    meld, jan = Tsk.generate("Meldpunt <meldpunt@gemeente.example>"), Tsk.generate(REPORTER)
    meld_pub: Any = meld.extract_certificate()
    (tmp_path / "meldpunt.asc").write_text(str(meld))
    cfg = write_config(
        tmp_path,
        dovecot,
        smtp_server,
        openpgp={"secret_key_file": str(tmp_path / "meldpunt.asc")},
        staff={"addresses": [STAFF], "require_authenticated": True, "authserv_ids": [MX]},
    )
    dovecot.append(report_to(meld_pub, jan), RECEIVED)
    mailbot(cfg, "run", "--once")
    case = json.loads(mailbot(cfg, "cases", "--json").stdout)[0]
    assert (case["subject"], "encrypted" in case["flags"], "decrypted" in case["flags"]) == (
        "Lek in het afsprakenportaal",
        True,
        True,
    )
    fingerprint = str(meld_pub.fingerprint).upper()
    subject, text, signers = opened(to_reporter(smtp_server)[0], jan, meld_pub)
    assert (case["id"] in subject, "Lek in het" in subject, signers) == (True, False, [fingerprint])
    assert case["id"] in text
    notice = next(s.data for s in accepted(smtp_server) if STAFF in s.rcpt)
    assert b"andermans afspraken" in notice
    shown = json.loads(mailbot(cfg, "case", "show", case["id"], "--json").stdout)
    assert "andermans afspraken" in shown["messages"][0]["text"]

    dovecot.append(staff_reply(case["id"], "Dank u, we hebben het lek gedicht."), RECEIVED)
    mailbot(cfg, "run", "--once", now="2025-12-15T11:00:00+01:00")
    _, relayed, signed_by = opened(to_reporter(smtp_server)[-1], jan, meld_pub)
    assert ("Dank u, we hebben het lek gedicht." in relayed, signed_by) == (True, [fingerprint])
    assert len(to_reporter(smtp_server)) == 2

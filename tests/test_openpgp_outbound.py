"""Answering encrypted (issue 17, items 3 and 4): mail to a reporter whose key is known goes
out PGP/MIME encrypted (and signed with the meldpunt key) with protected headers; `Key:`
sets, names or clears that key; a key that cannot be used sends nothing and tells staff.

Keys are generated at test time (pysequoia); no secret key is stored in the repository.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from factories import DESK_START as START
from factories import PASS, REPORTER, STAFF, Desk, report
from pysequoia import Cert, Tsk, decrypt

from mailbot.core import config
from mailbot.core.classify import Verdict
from mailbot.core.commands import apply_commands
from mailbot.core.compose import case_context, reporter_mail, to_reporter
from mailbot.core.decide import acknowledgement
from mailbot.core.effects import Inputs
from mailbot.core.models import Case, CaseState, Disposition, InboundMessage, OutgoingMail
from mailbot.core.staffmail import plan_staff_reply
from mailbot.core.wording import localise
from mailbot.mail import parsing
from mailbot.mail.openpgp import MeldpuntKey, load_secret_key
from mailbot.mail.pgp_outgoing import MAX_SEALED_BYTES, EncryptionRefused, Seal, check_key
from mailbot.mail.rendering import Renderer
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import Service, calendar_for

warnings.simplefilter("ignore", DeprecationWarning)  # pysequoia's Cert.from_bytes

CASE = "MK-2026-0001"
ANSWER = "Dank voor uw melding, we hebben het lek in het portaal bevestigd."
OUTER_NAMES = {
    *("from", "to", "reply-to", "subject", "date", "message-id", "references"),
    *("x-mailbot-loop", "mime-version", "content-type"),
}
"""The outer header fields of a relayed staff reply (not automatic, not a reply)."""


@pytest.fixture(scope="module")
def meld() -> MeldpuntKey:
    """The meldpunt's key, as `[openpgp] secret_key_file` would load it."""
    tsk = Tsk.generate("Meldpunt kwetsbaarheden <meldpunt@gemeente.example>")
    return load_secret_key(str(tsk).encode(), None, "test key")


@pytest.fixture(scope="module")
def jan() -> Tsk:
    """The reporter's key pair (the test plays the reporter's mail program too)."""
    return Tsk.generate(f"Jan <{REPORTER}>")


def public(tsk: Tsk) -> str:
    """The public key of `tsk`, armoured."""
    return str(tsk.extract_certificate())


def fingerprint(tsk: Tsk) -> str:
    """The fingerprint of `tsk`, as mailbot shows it (upper-case hex)."""
    return tsk.extract_certificate().fingerprint.upper()


# --- the reporter's side --------------------------------------------------------------------


@dataclass
class Opened:
    """An encrypted mail as the reporter's program reads it."""

    outer: EmailMessage
    inner: EmailMessage
    issuers: list[str]
    """Key IDs or fingerprints of the signatures (empty: unsigned)."""
    signers: list[str]
    """Fingerprints (upper-case) of the signatures that verified with the meldpunt key."""


def open_mail(raw: bytes, reader: Tsk, meld: MeldpuntKey | None = None) -> Opened:
    """Check the RFC 3156 structure of `raw`, decrypt it with `reader`'s key and verify its
    signature with `meld`'s public key."""
    outer = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(outer, EmailMessage)
    assert (outer.get_content_type(), outer.get_param("protocol")) == (
        "multipart/encrypted",
        "application/pgp-encrypted",
    )
    control, payload = outer.iter_parts()
    assert control.get_content_type() == "application/pgp-encrypted"
    assert control.get_content().strip() in (b"Version: 1", "Version: 1")
    assert payload.get_content_type() == "application/octet-stream"
    data = payload.get_content()
    data = data.encode() if isinstance(data, str) else data
    issuers: list[str] = []

    def nobody(ids: list[str]) -> list[Any]:
        issuers.extend(ids)
        return []

    try:
        decrypt(data, decryptor=reader.decryptor(), store=nobody)
    except RuntimeError as exc:
        assert "no valid signatures" in str(exc)
    signers: list[str] = []
    if meld is None:
        plain = decrypt(data, decryptor=reader.decryptor()).bytes
    else:
        cert = Cert.from_bytes(meld.public_armor.encode())
        opened = decrypt(data, decryptor=reader.decryptor(), store=lambda ids: [cert])
        plain, signers = opened.bytes, [s.certificate.upper() for s in opened.valid_sigs]
    inner = email.message_from_bytes(plain, policy=email.policy.default)
    assert isinstance(inner, EmailMessage)
    return Opened(outer, inner, issuers, signers)


def text_of(msg: EmailMessage) -> str:
    """The text/plain body of `msg`."""
    body = msg.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def head_of(raw: bytes) -> str:
    """The header section of `raw` (up to the first empty line)."""
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


# --- a desk of staff answering by mail --------------------------------------------------------


def sign_with(service: Service, key: MeldpuntKey) -> None:
    """Give the core `key` as `Inputs.openpgp` (what `[openpgp] secret_key_file` does once the
    shell passes the loaded key through the Recorder)."""
    recorder = service.recorder
    plain = recorder.inputs

    def inputs(msg: InboundMessage | None = None) -> Inputs:
        made = plain(msg)
        return made if made.openpgp is not None else replace(made, openpgp=key)

    recorder.inputs = inputs  # type: ignore[method-assign]


def desk_with_case(base: Path, key: MeldpuntKey | None, reporter_key: str | None) -> Desk:
    """A desk (signing with `key`) with Jan's report as case MK-2026-0001 and, when given,
    `reporter_key` on it (as intake or an earlier `Key:` would have put it)."""
    desk = Desk(base)
    if key is not None:
        sign_with(desk.service, key)
    body = "Lek op https://portaal.gemeente.example: sessie-id in de URL."
    assert desk.send(f"Jan <{REPORTER}>", "Lek in portaal", body) == Disposition.NEW_CASE
    if reporter_key is not None:
        case = desk.case()
        desk.service.store.update_case(replace(case, reporter_key=reporter_key), START)
    return desk


def staff_reply(desk: Desk, body: str, attachment: tuple[str, bytes] | None = None) -> None:
    """Staff answer on the case (authenticated by our MTA), with an attachment if given."""
    desk.count += 1
    msg = EmailMessage()
    msg["From"] = f"Petra de Boer <{STAFF}>"
    msg["To"] = "meldpunt@gemeente.example"
    msg["Subject"] = f"RE: [{CASE}] Nieuwe melding: Lek in portaal"
    msg["Message-ID"] = f"<s{desk.count}@gemeente.example>"
    msg["Authentication-Results"] = PASS
    msg.set_content(body)
    if attachment is not None:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    desk.clock.set(START + timedelta(minutes=desk.count))
    deliver_to_maildir(desk.inbox, bytes(msg), desk.clock.now())
    asyncio.run(desk.service.run_once())


def raw_to(desk: Desk, address: str) -> list[bytes]:
    """The bytes of every mail delivered to `address`, oldest first."""
    files = sorted((desk.outbox / "new").iterdir(), key=lambda f: f.stat().st_mtime_ns)
    return [f.read_bytes() for f in files if f"\r\nTo: {address}\r\n" in f.read_bytes().decode()]


# --- core inputs (deadlines, keys that expire) ---------------------------------------------


def inputs(base: Path, now: datetime = START, key: MeldpuntKey | None = None) -> Inputs:
    """What the core consults, for the embedded default settings."""
    settings = config.embedded(base)
    return Inputs(settings, calendar_for(settings), Renderer(), now, openpgp=key)


def report_message() -> InboundMessage:
    """Report 1 as parsed (its sender melder1@example.nl)."""
    return parsing.parse(report(1), START)


def make_case(reporter_key: str | None, **fields: Any) -> Case:
    """Case MK-2026-0001 of report 1, acknowledged unless `fields` say otherwise."""
    values: dict[str, Any] = {
        "state": CaseState.ACKNOWLEDGED,
        "reporter_email": "melder1@example.nl",
        "response_due": START + timedelta(days=7),
        "acknowledged_at": START,
        "reporter_key": reporter_key,
    }
    return Case(CASE, subject="Melding 1: lek in portaal", received_at=START, **values | fields)


def staff_message(body: str) -> InboundMessage:
    """A staff mail on the case, parsed."""
    raw = (
        f"From: Petra <{STAFF}>\r\nTo: meldpunt@gemeente.example\r\n"
        f"Subject: RE: [{CASE}] Lek\r\nMessage-ID: <p1@gemeente.example>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()
    return parsing.parse(raw, START)


def plan(base: Path, case: Case, body: str, now: datetime, key: MeldpuntKey | None = None):  # type: ignore[no-untyped-def]
    """The plan of a staff mail `body` on `case` at `now`."""
    verdict = Verdict(Disposition.STAFF_REPLY, "staff", case.id)
    return plan_staff_reply(staff_message(body), verdict, case, frozenset(), inputs(base, now, key))


def expiring(days: int = 1) -> Tsk:
    """A reporter key that expires `days` after its making."""
    return Tsk.generate(f"Jan <{REPORTER}>", validity_seconds=days * 86400)


def after_expiry(tsk: Tsk) -> datetime:
    """A moment one day after `tsk` expires."""
    expires = tsk.extract_certificate().expiration
    assert expires is not None
    return expires.astimezone(UTC) + timedelta(days=1)


# --- answering encrypted ---------------------------------------------------------------------


def test_relayed_reply_is_encrypted_signed_and_reads_as_written(
    tmp_path: Path, meld: MeldpuntKey, jan: Tsk
) -> None:
    """A staff reply on a case with the reporter's key: PGP/MIME to Jan, who decrypts it to
    the staff text under the real subject, signed by the meldpunt; staff are told which key."""
    desk = desk_with_case(tmp_path, meld, public(jan))
    staff_reply(desk, f"Status: confirmed\n\n{ANSWER}")
    opened = open_mail(raw_to(desk, REPORTER)[-1], jan, meld)
    assert ANSWER in text_of(opened.inner)
    assert (str(opened.inner["Subject"]), str(opened.outer["Subject"])) == (
        f"[{CASE}] Lek in portaal",
        f"[{CASE}] [...]",
    )
    assert opened.signers == [meld.fingerprint]
    assert opened.inner.get_param("hp") == "cipher"
    result = text_of(desk.mails_to(STAFF)[-1])
    assert f"versleuteld naar sleutel {fingerprint(jan)} en ondertekend" in " ".join(result.split())
    assert desk.case().state == CaseState.CONFIRMED


def test_outer_headers_leak_nothing_of_the_content(
    tmp_path: Path, meld: MeldpuntKey, jan: Tsk
) -> None:
    """Outside: only delivery and threading fields and the placeholder subject; no word of the
    subject or the text anywhere in the bytes; inside, an HP-Outer copy of each outer field."""
    desk = desk_with_case(tmp_path, meld, public(jan))
    staff_reply(desk, ANSWER)
    raw = raw_to(desk, REPORTER)[-1]
    head = head_of(raw)
    names = {line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] != " "}
    assert names == OUTER_NAMES
    for secret in ("Lek in portaal", "portaal", "bevestigd", "Petra", STAFF):
        assert secret.encode() not in raw
    opened = open_mail(raw, jan, meld)
    outer_fields = [f"{k}: {v}" for k, v in opened.outer.items() if k.lower() in OUTER_NAMES]
    shown = {str(v) for v in opened.inner.get_all("HP-Outer", [])}
    assert f"Subject: [{CASE}] [...]" in shown
    assert len(shown) == len(outer_fields) - 2  # all but MIME-Version and Content-Type
    assert str(opened.inner["Message-ID"]) == str(opened.outer["Message-ID"])
    assert f"<case.{CASE}@gemeente.example>" in str(opened.outer["References"])


def test_relayed_attachment_travels_inside_the_encryption(
    tmp_path: Path, meld: MeldpuntKey, jan: Tsk
) -> None:
    """A PDF staff attach goes inside the encrypted part: its name and bytes are not outside."""
    desk = desk_with_case(tmp_path, meld, public(jan))
    staff_reply(desk, "Zie het rapport.", ("pentest-rapport.pdf", b"%PDF-1.4 geheim rapport"))
    raw = raw_to(desk, REPORTER)[-1]
    assert b"pentest-rapport" not in raw and b"geheim" not in raw
    inner = open_mail(raw, jan, meld).inner
    files = [(p.get_filename(), p.get_content()) for p in inner.iter_attachments()]
    assert (inner.get_content_type(), files) == (
        "multipart/mixed",
        [("pentest-rapport.pdf", b"%PDF-1.4 geheim rapport")],
    )


def test_acknowledgement_to_a_reporter_with_a_key_is_encrypted(
    tmp_path: Path, meld: MeldpuntKey, jan: Tsk
) -> None:
    """The acknowledgement of a report that carried a key: encrypted and signed, still an
    automatic reply threaded to the report on the outside."""
    msg = report_message()
    case = make_case(public(jan), state=CaseState.NEW, acknowledged_at=None)
    mail = acknowledgement(msg, case, inputs(tmp_path, key=meld))
    opened = open_mail(mail.raw, jan, meld)
    assert "Hartelijk dank voor uw melding" in text_of(opened.inner)
    assert str(opened.inner["Subject"]).startswith(f"[{CASE}] Ontvangstbevestiging: Melding 1")
    assert (opened.outer["In-Reply-To"], opened.outer["Auto-Submitted"]) == (
        "<r1@example.nl>",
        "auto-replied",
    )
    assert (mail.kind, mail.recipients, opened.signers) == (
        "acknowledgement",
        ("melder1@example.nl",),
        [meld.fingerprint],
    )


def test_without_a_meldpunt_key_the_reply_is_encrypted_unsigned_and_staff_are_told(
    tmp_path: Path, jan: Tsk
) -> None:
    """No `[openpgp]` key: the reply is still encrypted to Jan, carries no signature, and the
    result mail says it was not signed."""
    desk = desk_with_case(tmp_path, None, public(jan))
    staff_reply(desk, ANSWER)
    opened = open_mail(raw_to(desk, REPORTER)[-1], jan)
    assert (ANSWER in text_of(opened.inner), opened.issuers) == (True, [])
    result = " ".join(text_of(desk.mails_to(STAFF)[-1]).split())
    assert f"versleuteld naar sleutel {fingerprint(jan)}, maar niet ondertekend" in result


def test_mail_of_a_case_without_key_is_unchanged(tmp_path: Path, meld: MeldpuntKey) -> None:
    """No reporter key: the acknowledgement is the same bytes with or without a meldpunt key,
    plain text/plain under the real subject."""
    msg, case = report_message(), make_case(None)
    context = {"case": case_context(case, inputs(tmp_path), case.language)}
    with_key = reporter_mail(inputs(tmp_path, key=meld), "acknowledgement", context, msg, case)
    without = to_reporter(inputs(tmp_path), "acknowledgement", context, msg, case)
    parsed = email.message_from_bytes(without.raw, policy=email.policy.default)
    assert (with_key.mail, with_key.fingerprint) == (without, "")
    assert (parsed.get_content_type(), str(parsed["Subject"])) == (
        "text/plain",
        f"[{CASE}] Ontvangstbevestiging: Melding 1: lek in portaal",
    )


def test_plain_case_relay_shows_no_encryption_line_without_openpgp(tmp_path: Path) -> None:
    """No meldpunt key and no reporter key: the relay is text/plain and the result mail
    says nothing about encryption (a meldpunt without OpenPGP sees no change)."""
    desk = desk_with_case(tmp_path, None, None)
    staff_reply(desk, ANSWER)
    relay = desk.mails_to(REPORTER)[-1]
    result = text_of(desk.mails_to(STAFF)[-1])
    assert (relay.get_content_type(), "versleuteld" in result) == ("text/plain", False)


# --- a key that cannot be used ----------------------------------------------------------------


def test_key_expired_since_sends_nothing_to_the_reporter(tmp_path: Path, meld: MeldpuntKey) -> None:
    """The reporter's key expired after it was set: the relay is not sent (not unencrypted
    either), the commands still apply, and the result mail says why and what to do."""
    short = expiring()
    case = make_case(public(short))
    result = plan(tmp_path, case, f"Status: confirmed\n\n{ANSWER}", after_expiry(short), meld)
    to_reporter_mails = [q for q in result.mails if "melder1@example.nl" in q.mail.recipients]
    (report_mail,) = [q.mail for q in result.mails]
    text = body_text(report_mail)
    assert to_reporter_mails == []
    assert "NIET verstuurd" in text and "is verlopen op" in text and "Key: none" in text
    assert "encryption_refused" in [e.kind for e in result.events]
    assert result.updated_case is not None and result.updated_case.state == CaseState.CONFIRMED


def body_text(mail: OutgoingMail) -> str:
    """The text of one of our plain mails, lines joined."""
    parsed = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return " ".join(text_of(parsed).split())


def test_acknowledgement_with_an_unusable_key_becomes_a_staff_alert(
    tmp_path: Path, meld: MeldpuntKey
) -> None:
    """An acknowledgement that cannot be encrypted is not sent: staff get an alert instead."""
    short = expiring()
    case = make_case(public(short), state=CaseState.NEW, acknowledged_at=None)
    mail = acknowledgement(report_message(), case, inputs(tmp_path, after_expiry(short), meld))
    assert (mail.kind, mail.recipients) == ("alert", ("security@gemeente.example",))
    text = body_text(mail)
    assert "ontvangstbevestiging aan de melder van MK-2026-0001 is NIET verstuurd" in text
    assert "Key: none" in text


def test_key_change_on_an_unacknowledged_case_sends_the_acknowledgement(
    tmp_path: Path, meld: MeldpuntKey
) -> None:
    """After a failed acknowledgement, `Key: none` sends it after all (unencrypted, as staff
    chose); `Key:` with a new key sends it encrypted."""
    short, fresh = expiring(), Tsk.generate(f"Jan <{REPORTER}>")
    case = make_case(public(short), state=CaseState.NEW, acknowledged_at=None)
    later = after_expiry(short)
    plain = plan(tmp_path, case, "Key: none", later, meld)
    encrypted = plan(tmp_path, case, f"Key:\n{public(fresh)}", later, meld)
    kinds = [[q.mail.kind for q in p.mails] for p in (plain, encrypted)]
    assert kinds == [["acknowledgement", "command_result"]] * 2
    assert b"multipart/encrypted" not in plain.mails[0].mail.raw
    assert "Hartelijk dank" in text_of(open_mail(encrypted.mails[0].mail.raw, fresh, meld).inner)


def test_oversized_mail_is_not_encrypted(jan: Tsk) -> None:
    """A mail over MAX_SEALED_BYTES is refused before the library sees it."""
    seal = Seal(check_key(public(jan).encode(), START), None, f"[{CASE}] [...]")
    with pytest.raises(EncryptionRefused) as refused:
        seal.encrypt(b"x" * (MAX_SEALED_BYTES + 1))
    assert getattr(refused.value.reason, "key", "") == "pgp.too_large"


# --- the Key: command ---------------------------------------------------------------------------


def test_key_command_with_a_pasted_block_encrypts_the_reply_in_the_same_mail(
    tmp_path: Path, meld: MeldpuntKey, jan: Tsk
) -> None:
    """`Key:` and the block, then the text: the key is set (shown by fingerprint only) and
    the text goes out encrypted to it."""
    desk = desk_with_case(tmp_path, meld, None)
    staff_reply(desk, f"Key:\n{public(jan)}\n{ANSWER}")
    assert check_key((desk.case().reporter_key or "").encode(), START).fingerprint == (
        fingerprint(jan)
    )
    assert ANSWER in text_of(open_mail(raw_to(desk, REPORTER)[-1], jan, meld).inner)
    (event,) = [e for e in desk.service.store.events(CASE) if e.kind == "reporter_key_changed"]
    result = " ".join(text_of(desk.mails_to(STAFF)[-1]).split())
    assert event.detail == f"reporter key: (none) → {fingerprint(jan)}"
    assert f"sleutel van de melder: (geen) → {fingerprint(jan)}" in result
    assert "BEGIN PGP" not in result


def test_key_none_stops_encrypting(tmp_path: Path, meld: MeldpuntKey, jan: Tsk) -> None:
    """`Key: none` clears the key: the text of the same mail goes out as plain text."""
    desk = desk_with_case(tmp_path, meld, public(jan))
    staff_reply(desk, f"Key: none\n\n{ANSWER}")
    relay = desk.mails_to(REPORTER)[-1]
    assert (desk.case().reporter_key, relay.get_content_type()) == (None, "text/plain")
    assert ANSWER in relay.get_content()


def test_revoked_key_by_mail_is_refused_in_dutch(tmp_path: Path, meld: MeldpuntKey) -> None:
    """A revoked key: nothing applied, nothing relayed, the refusal in the staff language."""
    desk = desk_with_case(tmp_path, meld, None)
    before = len(desk.mails_to(REPORTER))
    staff_reply(desk, f"Key:\n{revoked_key()}\n\n{ANSWER}")
    result = desk.mails_to(STAFF)[-1]
    assert "Niet uitgevoerd" in str(result["Subject"])
    assert "is ingetrokken" in " ".join(text_of(result).split())
    assert (desk.case().reporter_key, len(desk.mails_to(REPORTER))) == (None, before)


def revoked_key() -> str:
    """A public key with its revocation."""
    tsk = Tsk.generate(f"Jan <{REPORTER}>")
    cert = tsk.extract_certificate()
    return str(Cert.from_bytes(bytes(cert) + bytes(cert.revoke(certifier=tsk.certifier()))))


def run_key(case: Case, body: str, now: datetime = START, keys: tuple[bytes, ...] = ()):  # type: ignore[no-untyped-def]
    """apply_commands on `case` with the embedded staff list."""
    staff = frozenset({STAFF})
    return apply_commands(
        case, body, staff=staff, case_prefix="MK", known_cases=lambda _: False, now=now, keys=keys
    )


def html_mangled(armor: str) -> str:
    """`armor` as an HTML mail program may turn it into text: every line its own paragraph,
    indented with a no-break space, leading "-" and "+" escaped with a backslash."""
    lines = [re.sub(r"^([-+])", r"\\\1", line) for line in armor.splitlines()]
    return "\n\n".join(f"\u00a0{line}" for line in lines)


def test_key_block_survives_html_mail_formatting(jan: Tsk) -> None:
    """Blank lines, no-break spaces and backslash escapes around the armour: same key."""
    result = run_key(make_case(None), f"Key:\n\n{html_mangled(public(jan))}\n\nDank.")
    assert (result.errors, fingerprint_of_case(result.case), result.rest) == (
        (),
        fingerprint(jan),
        "Dank.",
    )


def fingerprint_of_case(case: Case) -> str:
    """The fingerprint of the key on `case`."""
    return check_key((case.reporter_key or "").encode(), START).fingerprint


def test_key_by_fingerprint_names_an_attached_or_the_current_key(jan: Tsk) -> None:
    """`Key: <fingerprint>` (grouped, any case) takes a key attached to the staff mail; the
    current key's fingerprint is no change; an unknown one is refused with the reason."""
    grouped = " ".join(re.findall("....", fingerprint(jan).lower()))
    attached = run_key(make_case(None), f"Key: {grouped}", keys=(bytes(jan.extract_certificate()),))
    current = run_key(make_case(public(jan)), f"Key: {fingerprint(jan)}")
    unknown = run_key(make_case(None), f"Key: {fingerprint(jan)}")
    assert (attached.errors, fingerprint_of_case(attached.case)) == ((), fingerprint(jan))
    assert (current.errors, current.changes) == ((), ())
    (error,) = unknown.errors
    assert localise(error.reason, "nl").startswith(
        f"geen bekende sleutel heeft vingerafdruk {fingerprint(jan)}"
    )


def secret_key() -> str:
    """A whole secret key, armoured, under the public-key armour lines (pasted by mistake)."""
    body = str(Tsk.generate("Geheim <g@example.nl>")).split("\n", 1)[1]
    return "-----BEGIN PGP PUBLIC KEY BLOCK-----\n" + body.replace("PRIVATE", "PUBLIC")


def refusal(case: Case, body: str, now: datetime = START) -> str:
    """The phrase key of the one refusal `body` gets; the case must be unchanged."""
    result = run_key(case, body, now)
    (error,) = result.errors
    assert (result.case, result.changes) == (case, ())
    return str(getattr(error.reason, "key", error.reason))


def test_key_refusals_name_the_reason() -> None:
    """Expired, revoked, secret, garbage, cut-off, too many user IDs, not a fingerprint,
    nothing: each refused with its own reason, nothing changed."""
    short, case = expiring(), make_case(None)
    crowded = Tsk.generate(user_ids=[f"Id {n} <id{n}@example.nl>" for n in range(101)])
    garbage = (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----"
    )
    found = {
        "expired": refusal(case, f"Key:\n{public(short)}", after_expiry(short)),
        "revoked": refusal(case, f"Key:\n{revoked_key()}"),
        "secret": refusal(case, f"Key:\n{secret_key()}"),
        "garbage": refusal(case, f"Key:\n{garbage}"),
        "cut off": refusal(case, "Key: -----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n"),
        "crowded": refusal(case, f"Key:\n{public(crowded)}"),
        "word": refusal(case, "Key: yes please"),
        "nothing": refusal(case, "Key:"),
    }
    assert found == {
        "expired": "key.expired",
        "revoked": "key.revoked",
        "secret": "key.secret",
        "garbage": "key.not_a_key",
        "cut off": "cmd.key_no_end",
        "crowded": "key.too_many_ids",
        "word": "cmd.key_not_fingerprint",
        "nothing": "cmd.key_missing",
    }


def test_expired_key_is_refused_with_its_date_in_dutch() -> None:
    """The Dutch refusal of an expired key names the key and the day it expired."""
    short = expiring()
    result = run_key(make_case(None), f"Key:\n{public(short)}", after_expiry(short))
    (error,) = result.errors
    expires = short.extract_certificate().expiration
    assert expires is not None
    expected = f"sleutel {fingerprint(short)} is verlopen op {expires:%Y-%m-%d}"
    assert (error.line, localise(error.reason, "nl")) == (
        "Key: -----BEGIN PGP PUBLIC KEY BLOCK----- … -----END PGP PUBLIC KEY BLOCK-----",
        expected,
    )


# --- a real reporter's program --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg (GnuPG) is not installed")
def test_gnupg_decrypts_and_verifies_the_reply(tmp_path: Path, meld: MeldpuntKey) -> None:
    """A reporter with a GnuPG key: gpg decrypts our PGP/MIME reply to the staff text and
    reports a good signature of the meldpunt key."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    gpg += ["--passphrase", ""]

    env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C"}

    def run(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*gpg, *args], input=data, capture_output=True, check=False, env=env)

    run("--quick-gen-key", f"Jan <{REPORTER}>", "ed25519", "sign", "never")
    listed = run("--with-colons", "--list-keys").stdout.decode()
    fpr = re.findall(r"^fpr:+([0-9A-F]+):", listed, re.MULTILINE)[0]
    run("--quick-add-key", fpr, "cv25519", "encr", "never")
    run("--import", data=meld.public_armor.encode())
    desk = desk_with_case(tmp_path / "desk", meld, run("--armor", "--export", fpr).stdout.decode())
    staff_reply(desk, ANSWER)
    outer = email.message_from_bytes(raw_to(desk, REPORTER)[-1], policy=email.policy.default)
    assert isinstance(outer, EmailMessage)
    payload = list(outer.iter_parts())[1].get_content()
    done = run("--decrypt", data=payload if isinstance(payload, bytes) else payload.encode())
    inner = email.message_from_bytes(done.stdout, policy=email.policy.default)
    assert isinstance(inner, EmailMessage)
    assert (done.returncode, ANSWER in text_of(inner)) == (0, True)
    assert "Good signature" in done.stderr.decode()

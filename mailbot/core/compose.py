"""Compose (pure): the one place an outgoing mail is made, from a template, a language and
a context (a case, an alert, a notice), sent as the meldpunt identity.

Every mail mailbot sends comes out of `compose`: the planners (`decide`, `staffmail`,
`bounces`), the scheduler's notices (`notices_mail`) and the outbox's failure alert. It adds
the identity to the context, tags the subject with the case, threads a reply to the mail
it answers and seeds the Message-ID, so a replayed decision makes the same mail.

Mail to a reporter goes through `reporter_mail`: with the reporter's key on the case
(`Case.reporter_key`) it is encrypted to that key and signed with the meldpunt's
(`Inputs.openpgp`), see `mail.pgp_outgoing`. A key that cannot be used sends nothing to
the reporter, never the mail unencrypted: the reporter asked for encryption by giving a
key, and a vulnerability report's answer can itself be sensitive. Staff get an alert (or,
for a staff reply, the result mail says so) and decide: a new key, or `Key: none`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from mailbot.core.cases import subject_with_tag
from mailbot.core.effects import Inputs
from mailbot.core.models import Case, InboundMessage, OutgoingMail
from mailbot.core.phrases import PHRASES
from mailbot.core.titles import alert_title
from mailbot.core.wording import Phrase, localise, say, size_text
from mailbot.mail.pgp_outgoing import PLACEHOLDER, EncryptionRefused, Seal, check_key
from mailbot.mail.rendering import RenderedText, build_mail, format_moment, make_message_id

MAX_REFERENCES = 10
"""References of the answered mail carried over into a reply (its own Message-ID added)."""


def rendered(
    inp: Inputs, template: str, language: str | None, context: Mapping[str, object]
) -> RenderedText:
    """`template` rendered in `language` (default: the staff's) with `context` and the
    identity: the one place a template is rendered (a mail's, or a text for one)."""
    full = {**context, "identity": identity_context(inp)}
    return inp.renderer.render(template, language or inp.settings.identity.language, full)


def compose(
    inp: Inputs,
    template: str,
    context: Mapping[str, object],
    *,
    seed: str,
    language: str | None = None,
    case_id: str | None = None,
    to: Sequence[str] | None = None,
    reply_to: InboundMessage | None = None,
    tag_subject: bool = True,
    automatic: bool = True,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    seal: Seal | None = None,
) -> OutgoingMail:
    """The mail of `template` (also its kind) rendered in `language` (default: the staff's)
    with `context` and the identity, to `to` (default: the staff recipients).

    `seed` makes the Message-ID; `case_id` tags the subject (unless not `tag_subject`) and
    threads the mail to the case; `reply_to` threads it to that mail, as an automatic reply;
    `seal` encrypts it (`pgp_outgoing`; raises EncryptionRefused when it cannot).
    """
    text = rendered(inp, template, language, context)
    subject = subject_with_tag(text.subject, case_id) if case_id and tag_subject else text.subject
    ident = inp.identity
    in_reply_to = None
    references: tuple[str, ...] = ()
    if reply_to is not None and reply_to.message_id:
        in_reply_to = reply_to.message_id
        references = (*reply_to.references[-MAX_REFERENCES:], reply_to.message_id)
    return build_mail(
        kind=template,
        identity=ident,
        to=to if to is not None else inp.staff_recipients,
        subject=subject,
        body=text.body,
        message_id=make_message_id(template, case_id, seed, ident.domain),
        date=inp.now,
        case_id=case_id,
        in_reply_to=in_reply_to,
        references=references,
        automatic=automatic,
        auto_submitted="auto-replied" if reply_to is not None else "auto-generated",
        attachments=attachments,
        seal=seal,
    )


@dataclass(frozen=True)
class ReporterMail:
    """A mail to a reporter, and whether it is encrypted."""

    kind: str
    """What mail it is (its template), also when `mail` is the alert instead."""
    mail: OutgoingMail
    """The mail; when it could not be encrypted, the alert to staff that says so."""
    fingerprint: str = ""
    """The key it is encrypted to ("" when it is not encrypted)."""
    signed: bool = False
    """Signed with the meldpunt's key (`Inputs.openpgp`)."""
    refused: str | None = None
    """Why it could not be encrypted (a `wording.Phrase`): then nothing goes to the reporter."""


def reporter_mail(
    inp: Inputs,
    template: str,
    context: Mapping[str, object],
    msg: InboundMessage,
    case: Case,
    *,
    reply: bool = False,
    automatic: bool = True,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> ReporterMail:
    """A mail on `case` to its reporter, in the case's language, caused by `msg` (its
    Message-ID seeded by it); with `reply`, an automatic reply threaded to `msg`.

    With a reporter key on the case it is encrypted to that key (and signed with the
    meldpunt's, when configured). A key that cannot be used (expired, revoked since) means
    the mail is not sent at all, never sent unencrypted: the reporter asked for encryption.
    """

    def make(seal: Seal | None) -> OutgoingMail:
        return compose(
            inp,
            template,
            context,
            seed=msg.raw_sha256,
            language=case.language,
            case_id=case.id,
            to=(case.reporter_email or "",),
            reply_to=msg if reply else None,
            automatic=automatic,
            attachments=attachments,
            seal=seal,
        )

    if not case.reporter_key:
        return ReporterMail(template, make(None))
    try:
        key = check_key(case.reporter_key.encode(), inp.now)
        seal = Seal(key, inp.openpgp, subject_with_tag(PLACEHOLDER, case.id))
        mail = make(seal)
    except EncryptionRefused as exc:
        alert = _not_sent(inp, template, msg, case, exc.reason)
        return ReporterMail(template, alert, refused=exc.reason)
    return ReporterMail(template, mail, key.fingerprint, signed=inp.openpgp is not None)


def to_reporter(
    inp: Inputs,
    template: str,
    context: Mapping[str, object],
    msg: InboundMessage,
    case: Case,
    *,
    reply: bool = False,
    automatic: bool = True,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> OutgoingMail:
    """`reporter_mail`'s mail: to the reporter (encrypted when their key is known), or,
    when it cannot be encrypted, the alert to staff instead."""
    return reporter_mail(
        inp, template, context, msg, case, reply=reply, automatic=automatic, attachments=attachments
    ).mail


def _not_sent(
    inp: Inputs, template: str, msg: InboundMessage, case: Case, why: str
) -> OutgoingMail:
    """The staff alert: the `template` mail to the reporter of `case` was not sent, `why`."""
    lang = inp.settings.identity.language
    reason = say("pgp.alert_reason", lang, kind=kind_text(template), case=case.id, why=why)
    details = [say("alert.see", lang, command=f"mailbot case show {case.id}")]
    alert = {"title": say("pgp.alert_title", lang), "reason": reason, "details": details}
    context = {"alert": alert, "case": {"id": case.id, "subject": case.subject}}
    return compose(inp, "alert", context, seed=f"pgp:{template}:{msg.raw_sha256}", case_id=case.id)


def staff_alert(
    inp: Inputs,
    alert: str,
    reason: str,
    details: Sequence[str],
    seed: str,
    case_id: str | None = None,
) -> OutgoingMail:
    """A machine alert to staff, titled by `alert` (a key of `titles.ALERT_TITLES`); the
    reason and detail lines that are `wording.Phrase`s are said in the staff language."""
    lang = inp.settings.identity.language
    shown = {
        "title": alert_title(alert, lang),
        "reason": localise(reason, lang),
        "details": [localise(line, lang) for line in details],
    }
    return compose(inp, "alert", {"alert": shown, "case": None}, seed=seed, case_id=case_id)


def kind_text(kind: str) -> str:
    """What a mail of `kind` is, as a phrase ("acknowledgement" -> "ontvangstbevestiging");
    a kind without words of its own as it is."""
    key = f"kind.{kind}"
    return Phrase(key) if key in PHRASES else kind


def attachment_context(
    filename: str, content_type: str, size: int, language: str
) -> dict[str, object]:
    """An attachment as templates see it: `size` in bytes and `size_text` ("12,3 kB")."""
    return {
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "size_text": size_text(size, language),
    }


def identity_context(inp: Inputs) -> dict[str, str]:
    """The meldpunt identity as templates see it."""
    ident = inp.identity
    return {"name": ident.name, "organisation": ident.organisation, "address": ident.address}


def case_context(case: Case, inp: Inputs, language: str | None = None) -> dict[str, object]:
    """The case as templates see it; moments and flags written in `language` (default:
    the staff's); `flags` are the codes, `flag_texts` the words; `missing` the codes of
    what the report lacks, `missing_texts` their words; `related` a list of {id, why};
    `known_finding` None or {name, reply} (reply: the staff command, "Reply: <name>")."""
    lang = language or inp.settings.identity.language

    def moment(value: datetime | None) -> str:
        return format_moment(value, inp.tz, lang) if value else ""

    return {
        "id": case.id,
        "subject": case.subject,
        "state": case.state.value,
        "reporter_email": case.reporter_email or "",
        "reporter_name": case.reporter_name,
        "reporter_phone": case.reporter_phone or "",
        "source": case.source,
        "relay_sender": case.relay_sender or "",
        "flags": list(case.flags),
        "flag_texts": [say(f"flag.{f}", lang) if f"flag.{f}" in PHRASES else f for f in case.flags],
        "affected": list(case.affected),
        "missing": list(case.missing),
        "missing_texts": [say(f"missing.{m}", lang) for m in case.missing],
        "related": [{"id": other, "why": why} for other, why in case.related],
        "known_finding": (
            {"name": case.known_finding, "reply": f"Reply: {case.known_finding}"}
            if case.known_finding
            else None
        ),
        "received": moment(case.received_at),
        "ack_due": moment(case.ack_due),
        "ack_explanation": case.ack_explanation,
        "response_due": moment(case.response_due),
        "response_explanation": case.response_explanation,
    }

"""Outgoing mail: Jinja2 templates to text, text to a safe RFC 5322 message.

Pure apart from reading template files.

Template files live in ``<dir>/<language>/<name>.txt`` (``templates/`` of the repository,
``mailbot/templates`` in a wheel); an admin override directory with the same layout wins
file by file. A template file is:

- any number of leading Jinja comments ``{# ... #}`` (used to document the context),
- one line ``Subject: <subject template>``,
- one empty line,
- the body template, to the end of the file.

The environment is a sandbox (``ImmutableSandboxedEnvironment``) with ``StrictUndefined``
(a missing context variable is an error), no autoescaping (text mail),
``keep_trailing_newline``, ``trim_blocks`` and ``lstrip_blocks`` (a block tag alone on its
line leaves no empty line). Reporter-supplied text is only ever context *data*: it is
never compiled, so ``{{ 7*7 }}`` in a subject stays ``{{ 7*7 }}``.

Headers are built so that no input can add a header or a recipient: every header text
loses its control characters and line breaks, recipients and Message-IDs must match a
strict pattern, and the message is written by hand in `mailbot.mail.assembly` (which explains why
the email package is not used for it). Text that is not plain ASCII, or that contains
``=?``, is sent as RFC 2047 encoded words, so a reader shows it literally. With a
`pgp_outgoing.Seal`, that mail travels encrypted inside a PGP/MIME one (see there).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailbot.core.models import OutgoingMail
from mailbot.core.wording import moment_text
from mailbot.mail.assembly import (
    Attachments,
    MailInputError,
    address_field,
    assemble,
    date_field,
    field,
    id_list_field,
    mailbox_field,
    text_field,
)
from mailbot.mail.pgp_outgoing import Seal
from mailbot.mail.template_files import (
    DEFAULT_LANGUAGE,
    PART,
    PartLoader,
    RenderError,
    normalise_language,
    packaged_templates_dir,
    render_error,
)

LOOP_HEADER = "X-Mailbot-Loop"
MAX_SUBJECT_CHARS = 200
MAX_NAME_CHARS = 100
MAX_REFERENCES = 20
AUTO_SUBMITTED_VALUES = frozenset({"auto-replied", "auto-generated"})

_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_ATOM = "[" + _ATEXT + "]+(?:\\.[" + _ATEXT + "]+)*"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(_LABEL + "(?:\\." + _LABEL + ")*")
_ADDRESS_RE = re.compile(_DOT_ATOM + "@" + _DOMAIN_RE.pattern)
_MESSAGE_ID_RE = re.compile(_DOT_ATOM + "@" + _DOT_ATOM)
_ID_PART_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BODY_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and line feed
_TEMPLATE_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Identity:
    """Who the bot speaks as: From, Reply-To, Message-ID domain, loop header."""

    address: str
    name: str
    organisation: str

    def __post_init__(self) -> None:
        _checked_address(self.address, "identity address")

    @property
    def domain(self) -> str:
        """Lower-cased domain of the identity address."""
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class RenderedText:
    """A rendered template: one clean subject line and the body text."""

    subject: str
    body: str


# --- text cleaning -------------------------------------------------------------------


def clean_header_text(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """One safe header line: controls and line breaks to space, whitespace collapsed, capped."""
    text = " ".join(_HEADER_UNSAFE.sub(" ", _SURROGATES.sub("\ufffd", text)).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return text


def clean_body_text(text: str) -> str:
    """Body text with ``\\n`` line ends only; other control characters become U+FFFD."""
    lines = _SURROGATES.sub("\ufffd", text).splitlines()
    return _BODY_UNSAFE.sub("\ufffd", "\n".join(lines)) + "\n"


# --- rendering -----------------------------------------------------------------------


class Renderer:
    """Renders ``<language>/<name>.txt``; the override directory wins file by file."""

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[BaseLoader] = []
        if override_dir is not None:
            if not override_dir.is_dir():
                raise RenderError(f"template override directory {override_dir} does not exist")
            loaders.append(FileSystemLoader(override_dir))
        loaders.append(FileSystemLoader(packaged_templates_dir()))
        self._env = ImmutableSandboxedEnvironment(
            loader=PartLoader(ChoiceLoader(loaders)),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # SIGHUP builds a new Renderer; no stat() per mail
        )
        self._resolved: dict[tuple[str, str], str] = {}

    def render(self, name: str, language: str, context: Mapping[str, object]) -> RenderedText:
        """Render template `name`; falls back to Dutch when `language` has no such file."""
        if not _TEMPLATE_NAME_RE.fullmatch(name):
            raise RenderError(f"invalid template name {name!r}")
        file_name = self._resolve(name, normalise_language(language))
        try:
            subject = self._env.get_template(file_name + PART + "subject").render(context)
            body = self._env.get_template(file_name + PART + "body").render(context)
        except TemplateError as exc:
            raise render_error(file_name, exc) from exc
        return RenderedText(subject=clean_header_text(subject), body=clean_body_text(body))

    def _resolve(self, name: str, language: str) -> str:
        """The file name to use: the language's own, else the default language's."""
        key = (name, language)
        if key not in self._resolved:
            self._resolved[key] = self._find(name, language)
        return self._resolved[key]

    def _find(self, name: str, language: str) -> str:
        for lang in dict.fromkeys((language, DEFAULT_LANGUAGE)):
            file_name = f"{lang}/{name}.txt"
            try:
                self._env.get_template(file_name + PART + "subject")
            except TemplateNotFound:
                continue
            except TemplateError as exc:
                raise render_error(file_name, exc) from exc
            return file_name
        raise RenderError(
            f"no template {name!r} for language {language!r} nor {DEFAULT_LANGUAGE!r}"
        )


# --- identifiers ---------------------------------------------------------------------


def _checked_address(address: str, what: str) -> str:
    """`address` when it is a plain ASCII local@domain, else MailInputError."""
    if len(address) > 254 or "=?" in address or not _ADDRESS_RE.fullmatch(address):
        raise MailInputError(f"invalid {what} {address!r}")
    return address


def _checked_domain(domain: str) -> str:
    """Lower-cased `domain` when it is a plain DNS name, else MailInputError."""
    if len(domain) > 253 or not _DOMAIN_RE.fullmatch(domain):
        raise MailInputError(f"invalid domain {domain!r}")
    return domain.lower()


def _is_safe_message_id(message_id: str) -> bool:
    """True when `message_id` (no brackets) can go into a header as ``<id>``."""
    return (
        len(message_id) <= 250
        and "=?" not in message_id
        and _MESSAGE_ID_RE.fullmatch(message_id) is not None
    )


def _id_part(value: str | None) -> str:
    """`value` as one dot-free atom of a Message-ID ("none" when empty)."""
    return _ID_PART_UNSAFE.sub("-", value or "") or "none"


def make_message_id(kind: str, case_id: str | None, seed: str, domain: str) -> str:
    """Deterministic Message-ID (no brackets): ``mailbot.<kind>.<case>.<hash>@<domain>``.

    `<hash>` is 128 bits of sha256 over kind, case and the *whole* seed, so two mails
    differ in Message-ID whenever their keys differ, however long and alike the keys are.
    """
    key = "\x00".join((kind, case_id or "", seed)).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(key).hexdigest()[:32]
    return f"mailbot.{_id_part(kind)}.{_id_part(case_id)}.{digest}@{_checked_domain(domain)}"


def case_reference(case_id: str, domain: str) -> str:
    """The stable pseudo Message-ID of a case, ``case.MK-2026-0042@<domain>`` (no brackets)."""
    return f"case.{_id_part(case_id)}@{_checked_domain(domain)}"


def is_own_message_id(message_id: str, domain: str) -> bool:
    """True for a Message-ID we made: local part ``mailbot.…``, our domain (any case)."""
    local, at, host = message_id.strip().strip("<>").rpartition("@")
    return bool(at) and local.lower().startswith("mailbot.") and host.lower() == domain.lower()


# --- dates ---------------------------------------------------------------------------


def format_moment(moment: datetime, tz: ZoneInfo, language: str) -> str:
    """``dinsdag 29 december 2026 om 17:00`` / ``Tuesday 29 December 2026 at 17:00`` (CLDR
    day and month names, see `wording.moment_text`; a language other than nl/en is Dutch)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MailInputError(f"moment must be timezone-aware, got {moment.isoformat()}")
    return moment_text(moment, tz, language)


# --- messages ------------------------------------------------------------------------


def _thread_ids(
    case_ref: str | None, in_reply_to: str | None, references: Sequence[str]
) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References): unsafe IDs dropped, parent and case reference added."""
    parent = (in_reply_to or "").strip().strip("<>")
    parent_id = parent if _is_safe_message_id(parent) else None
    refs = [r.strip().strip("<>") for r in references]
    refs = [r for r in dict.fromkeys([*refs, parent_id or ""]) if _is_safe_message_id(r)]
    if case_ref is None:
        return parent_id, _cap(refs, MAX_REFERENCES)
    return parent_id, [*_cap([r for r in refs if r != case_ref], MAX_REFERENCES - 1), case_ref]


def _cap(refs: list[str], limit: int) -> list[str]:
    """At most `limit` IDs: the thread's first one and the most recent ones."""
    return refs if len(refs) <= limit else [refs[0], *refs[len(refs) - limit + 1 :]]


def build_mail(
    *,
    kind: str,
    identity: Identity,
    to: Sequence[str],
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
    case_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    automatic: bool = True,
    auto_submitted: str = "auto-replied",
    attachments: Attachments = (),
    seal: Seal | None = None,
) -> OutgoingMail:
    """One text/plain mail from the identity to `to` (validated addresses only); with
    `attachments` (name, type, bytes) a multipart/mixed mail; with `seal`, that mail
    encrypted inside a PGP/MIME mail whose Subject is `seal.outer_subject` (the
    OutgoingMail's `subject` stays the real one: it is for staff's tools).

    Raises MailInputError (a ValueError) naming a bad recipient, Message-ID or date;
    unsafe In-Reply-To/References IDs (they come from outside) are silently left out.
    `seal` may raise `pgp_outgoing.EncryptionRefused`.
    """

    head = mail_head(
        identity=identity,
        to=to,
        subject=subject,
        message_id=message_id,
        date=date,
        case_id=case_id,
        in_reply_to=in_reply_to,
        references=references,
        auto_submitted=auto_submitted if automatic else None,
    )
    return OutgoingMail(
        kind=kind,
        message_id=head.message_id,
        sender=identity.address,
        recipients=head.recipients,
        subject=head.subject,
        raw=_raw(head, clean_body_text(body), attachments, seal),
        case_id=case_id,
        automatic=automatic,
    )


def _raw(head: MailHead, body: str, attachments: Attachments, seal: Seal | None) -> bytes:
    """The mail's bytes: plain, or sealed with the outer Subject in place of the real one."""
    if seal is None:
        return assemble(head.fields, body, attachments)
    shown = text_field("Subject", clean_header_text(seal.outer_subject))
    outer = [shown if one.startswith("Subject:") else one for one in head.fields]
    return seal.seal(head.fields, outer, body, attachments)


@dataclass(frozen=True)
class MailHead:
    """The checked header fields of one outgoing mail, and what they were made of."""

    fields: list[str]
    message_id: str  # without <>
    recipients: tuple[str, ...]
    subject: str  # cleaned


def mail_head(
    *,
    identity: Identity,
    to: Sequence[str],
    subject: str,
    message_id: str,
    date: datetime,
    case_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str | None = "auto-replied",
) -> MailHead:
    """The header fields every mail of ours has: From, To, Reply-To, Subject, Date,
    Message-ID, threading, Auto-Submitted (unless None) and the loop header.

    Raises MailInputError naming a bad recipient, Message-ID, date or Auto-Submitted value.
    """
    recipients = tuple(_checked_address(address, "recipient") for address in to)
    if not recipients:
        raise MailInputError("a mail needs at least one recipient, got none")
    own_id = message_id.strip().strip("<>")
    if not _is_safe_message_id(own_id):
        raise MailInputError(f"invalid Message-ID {message_id!r}")
    if date.tzinfo is None or date.utcoffset() is None:
        raise MailInputError(f"date must be timezone-aware, got {date.isoformat()}")
    if auto_submitted is not None and auto_submitted not in AUTO_SUBMITTED_VALUES:
        raise MailInputError(f"invalid Auto-Submitted value {auto_submitted!r}")
    clean_subject = clean_header_text(subject)
    case_ref = case_reference(case_id, identity.domain) if case_id else None
    parent, refs = _thread_ids(case_ref, in_reply_to, references)
    fields = [
        mailbox_field("From", clean_header_text(identity.name, MAX_NAME_CHARS), identity.address),
        address_field("To", recipients),
        address_field("Reply-To", [identity.address]),
        text_field("Subject", clean_subject),
        date_field("Date", date),
        field("Message-ID", f"<{own_id}>"),
    ]
    if parent:
        fields.append(field("In-Reply-To", f"<{parent}>"))
    if refs:
        fields.append(id_list_field("References", refs))
    if auto_submitted is not None:
        fields += [
            field("Auto-Submitted", auto_submitted),
            field("X-Auto-Response-Suppress", "All"),
        ]
    fields.append(field(LOOP_HEADER, identity.address))
    return MailHead(fields, own_id, recipients, clean_subject)

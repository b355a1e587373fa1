"""Value types shared by the pure core and the shell. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Disposition(StrEnum):
    """What became of one inbound message (DESIGN.md §3)."""

    NEW_CASE = "new_case"
    FOLLOWUP = "followup"
    STAFF_REPLY = "staff_reply"
    UNVERIFIED = "unverified"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LOOP = "loop"
    SPAM = "spam"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


class CaseState(StrEnum):
    """Life cycle of a case (DESIGN.md §4)."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    CONFIRMED = "confirmed"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    SPAM = "spam"


class ClockName(StrEnum):
    """The clocks of a case (DESIGN.md §4, §5)."""

    ACK_DUE = "ack_due"
    RESPONSE_DUE = "response_due"
    UPDATE_DUE = "update_due"
    RESOLVE_DUE = "resolve_due"


class Severity(StrEnum):
    """How bad staff judge a case (`Severity:`)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Reward(StrEnum):
    """The policy's "passende attentie" (`Reward:`)."""

    UNDECIDED = "undecided"
    YES = "yes"
    NO = "no"
    SENT = "sent"


#: States in which a case is no longer open.
CLOSED_STATES = frozenset(
    {
        CaseState.RESOLVED,
        CaseState.CLOSED,
        CaseState.REJECTED,
        CaseState.DUPLICATE,
        CaseState.SPAM,
    }
)


#: Prefix of the parser's defects that make the sender's identity ambiguous (DESIGN.md §6:
#: such mail never carries authority); see `InboundMessage.ambiguous_identity`.
AMBIGUOUS_DEFECT = "ambiguous_identity:"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment of an inbound message (the bytes stay in the raw message)."""

    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Contacts:
    """What a report offers about its reporter and the systems it concerns."""

    emails: tuple[str, ...] = ()
    """Addresses found after a label in the body ("E-mailadres:", "Email:")."""
    phones: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboundMessage:
    """One received message, decoded. Built by `parsing.parse`; never raises there."""

    raw_sha256: str
    size: int
    received_at: datetime
    """Receipt moment on our side (IMAP INTERNALDATE, Maildir mtime), UTC."""
    message_id: str | None
    """Message-ID without angle brackets, or None when absent/unusable."""
    subject: str
    from_address: str | None
    """Lower-cased addr-spec of From, or None when absent/unusable."""
    from_name: str
    reply_to: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    return_path: str | None = None
    """None: no Return-Path header; "": the null reverse-path `<>`."""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    """(lower-cased name, decoded one-line value) in message order."""
    content_type: str = "text/plain"
    text: str = ""
    html_only: bool = False
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    contacts: Contacts = field(default_factory=Contacts)
    language: str = "nl"
    bounced_message_ids: tuple[str, ...] = ()
    """Message-IDs (no brackets) of our mails that a delivery report names."""
    crypto: tuple[str, ...] = ()
    """What the message's cryptography was: any of "encrypted" (it came encrypted, OpenPGP
    or S/MIME), "decrypted" (we could read it; `text` etc. are the decrypted content),
    "signed" (it carries a signature), "signed_valid" (the signature verified with a key the
    message itself carries). Never grants authority: staff authority is our MTA's word."""
    crypto_note: str = ""
    """For staff: why an encrypted message could not be read, or what was verified."""
    keys: tuple[bytes, ...] = ()
    """OpenPGP public key data the message carries (Autocrypt keydata, attached keys),
    as found; not yet checked."""

    @property
    def ambiguous_identity(self) -> tuple[str, ...]:
        """What makes the sender's identity ambiguous, from the "ambiguous_identity:"
        defects the parser records: the name of each identity header (from, sender,
        subject, message-id, in-reply-to, references) that occurs more than once,
        "from_addresses" (From names more than one address), "header_block" (the parser
        skipped a line an MTA reads as a header). Empty when unambiguous."""
        return tuple(
            d.removeprefix(AMBIGUOUS_DEFECT) for d in self.defects if d.startswith(AMBIGUOUS_DEFECT)
        )

    def header(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        """Every value of header `name` (case-insensitive), in order."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key == wanted)


@dataclass(frozen=True, slots=True)
class Deadline:
    """A due moment (UTC) with the one-line reason it falls where it does."""

    due: datetime
    explanation: str


@dataclass(frozen=True)
class Case:
    """A case as the core sees it (the store maps rows to this)."""

    id: str
    """The tag without brackets, e.g. "MK-2026-0042"."""
    state: CaseState
    subject: str
    received_at: datetime
    reporter_email: str | None = None
    reporter_name: str = ""
    reporter_phone: str | None = None
    source: str = "direct"
    relay_sender: str | None = None
    language: str = "nl"
    ontvangstdag: date | None = None
    ack_due: datetime | None = None
    ack_explanation: str = ""
    response_due: datetime | None = None
    response_explanation: str = ""
    acknowledged_at: datetime | None = None
    flags: tuple[str, ...] = ()
    waiting: bool = False
    assignee: str | None = None
    severity: str | None = None
    reward: str = Reward.UNDECIDED
    close_reason: str | None = None
    affected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    """What the policy asks for that the report lacks: any of "system", "description",
    "contact" (issue 18); updated when a follow-up supplies it."""
    related: tuple[tuple[str, str], ...] = ()
    """Cases this one is related to: (case id, why), e.g. ("MK-2026-0012", "same system
    portal.example.nl")."""
    known_finding: str | None = None
    """The name of the `[triage] known_findings` entry the report matches, if any."""
    reporter_key: str | None = None
    """The reporter's OpenPGP public key, armoured (Autocrypt, attached, or `Key:`): mail
    to the reporter is encrypted to it. None: mail goes out as it always did."""

    @property
    def is_open(self) -> bool:
        """True while the case is not in a closed state."""
        return self.state not in CLOSED_STATES


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A fully rendered mail, ready for the outbox."""

    kind: str
    """e.g. "acknowledgement", "staff_notice", "alert"."""
    message_id: str
    """Without angle brackets; on our own domain."""
    sender: str
    """Envelope sender (our identity address)."""
    recipients: tuple[str, ...]
    subject: str
    raw: bytes
    case_id: str | None = None
    automatic: bool = True
    """Machine mail (counts against the per-address daily cap unless to staff)."""


#: Kinds of outgoing mail that go to the reporter (each restarts the update clock).
TO_REPORTER = frozenset({"acknowledgement", "relay", "status"})

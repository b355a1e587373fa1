"""What the store's reads return: one frozen dataclass per shape of row.

Moments are aware datetimes as stored (`datetime.fromisoformat` of the stored text, whose
`isoformat()` gives that text back); JSON columns are tuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailbot.core.scheduler import OpenClock


@dataclass(frozen=True)
class OpenClockRow:
    """A clock not done, of an open case, with the fields of its case the scheduler needs."""

    id: int
    case_id: str
    name: str
    due: datetime
    explanation: str
    missed_at: datetime | None
    subject: str
    state: str
    waiting: bool

    def clock(self) -> OpenClock:
        """The scheduler's view of this clock (due in UTC)."""
        return OpenClock(
            case_id=self.case_id,
            name=self.name,
            due=self.due,
            explanation=self.explanation,
            subject=self.subject,
            state=self.state,
            waiting=self.waiting,
            missed_at=self.missed_at,
        )


# -- what the inspection commands list (`mailbot messages`, `case show`) -------------------


@dataclass(frozen=True)
class InboundMessage:
    """One recorded inbound message (without its raw bytes)."""

    id: int
    message_id: str | None
    from_address: str | None
    subject: str
    received_at: datetime
    disposition: str
    reason: str
    case_id: str | None
    """The case it is on, else the case it named (if any)."""
    size: int
    sha256: str


@dataclass(frozen=True)
class OutgoingRow:
    """What every read of the outbox gives of a mail."""

    id: int
    message_id: str
    case_id: str | None
    kind: str
    sender: str
    recipients: tuple[str, ...]
    subject: str


@dataclass(frozen=True)
class OutboxRow(OutgoingRow):
    """One queued outgoing mail as the sender needs it."""

    raw: bytes
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class OutboxEntry(OutgoingRow):
    """One outgoing mail, every column (`raw` None when not read, or purged)."""

    raw: bytes | None
    automatic: bool
    status: str
    reason: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class AuditEvent:
    """One entry of a case's audit log."""

    at: datetime
    actor: str
    kind: str
    detail: str


@dataclass(frozen=True)
class OutboxHealth:
    """Queued mails (how many, the oldest's creation) and when each failed mail failed."""

    queued: int
    oldest_queued: datetime | None
    failed_at: tuple[datetime, ...]


# -- the monthly report's input (`Store.report_rows`) -------------------------------------


@dataclass(frozen=True)
class CaseRow:
    """What the report needs of one case."""

    id: str
    subject: str
    state: str
    received_at: datetime
    acknowledged_at: datetime | None = None
    source: str = "direct"
    flags: tuple[str, ...] = ()
    reward: str = "undecided"
    waiting: bool = False


@dataclass(frozen=True)
class MessageRow:
    """One inbound message."""

    received_at: datetime
    disposition: str


@dataclass(frozen=True)
class ClockRow:
    """One clock of a case (DESIGN.md §5)."""

    case_id: str
    name: str
    due: datetime
    met_at: datetime | None = None
    missed_at: datetime | None = None
    done_at: datetime | None = None


@dataclass(frozen=True)
class EventRow:
    """An audit event (`clock_late`, `reward_changed`)."""

    case_id: str | None
    at: datetime
    kind: str
    detail: str


@dataclass(frozen=True)
class Rows:
    """Everything `build_report` reads (a superset; it filters by local date)."""

    cases: tuple[CaseRow, ...] = ()
    messages: tuple[MessageRow, ...] = ()
    clocks: tuple[ClockRow, ...] = ()
    events: tuple[EventRow, ...] = ()


# -- what intake and the outbox look up --------------------------------------------------------


@dataclass(frozen=True)
class RecordedItem:
    """What became of a mailbox item recorded before (to resume its move)."""

    id: int
    disposition: str
    case_id: str | None
    message_id: str | None
    reason: str


@dataclass(frozen=True)
class SameIdMessage:
    """An earlier message with a given Message-ID: who sent it, what it held."""

    id: int
    from_address: str | None
    content_sha256: str | None


@dataclass(frozen=True)
class CaseClock:
    """One clock of a case, done or not (`clocks_of_case`)."""

    id: int
    case_id: str
    name: str
    due: datetime
    explanation: str
    started_at: datetime
    met_at: datetime | None
    met_by: str | None
    missed_at: datetime | None
    done_at: datetime | None


# -- what `message show` and `case show` read of the bytes ---------------------------------


@dataclass(frozen=True)
class StoredMessage(InboundMessage):
    """One recorded inbound message with its raw bytes (`raw` None once purged)."""

    raw: bytes | None

"""Effect types (pure): what a decision asks the shell to write and send, and its inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.core.classify import Verdict
from mailbot.core.config import Settings
from mailbot.core.models import Case, Deadline, OutgoingMail
from mailbot.core.workdays import Calendar
from mailbot.mail.openpgp import MeldpuntKey
from mailbot.mail.rendering import Identity, Renderer


@dataclass(frozen=True)
class Event:
    """One audit event to append."""

    case_id: str | None
    kind: str
    detail: str
    actor: str = "mailbot"


@dataclass(frozen=True)
class Queued:
    """One outgoing mail for the outbox; status "suppressed" is recorded, not sent."""

    mail: OutgoingMail
    status: str = "queued"
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """Everything the shell writes in the message's one transaction."""

    verdict: Verdict
    new_case: Case | None = None
    updated_case: Case | None = None
    events: tuple[Event, ...] = ()
    mails: tuple[Queued, ...] = ()
    clocks: tuple[tuple[str, Deadline], ...] = ()
    """Clocks to start on the case (name, deadline)."""
    end_clocks: bool = False
    """The case closed: every open clock of it is done (but those in `keep_clocks`)."""
    keep_clocks: tuple[str, ...] = ()
    """Clocks left open when the case closes: a mail of this plan to the reporter settles
    them once it is sent (a relayed reply with `Close:` still meets `response_due`)."""
    outbox_failed: tuple[tuple[int, str], ...] = ()
    """Outbox rows (id, reason) to mark failed: a delivery report named them."""
    once: tuple[tuple[str, OutgoingMail], ...] = ()
    """Mails queued only if their key was never recorded (one flood alert per day)."""


@dataclass(frozen=True)
class Inputs:
    """What every decision may consult besides the message itself."""

    settings: Settings
    calendar: Calendar
    renderer: Renderer
    now: datetime
    sent_today: Mapping[str, int] = field(default_factory=dict)
    """Automatic mails to each address in the last 24 hours (for the daily cap)."""
    openpgp: MeldpuntKey | None = None
    """The meldpunt's OpenPGP key: signs mails encrypted to a reporter (None: not configured)."""
    related: tuple[tuple[str, str], ...] = ()
    """For a new case: the earlier cases it is related to, (case id, why), found by the
    shell before the case is planned (so that the staff notice names them)."""

    @property
    def identity(self) -> Identity:
        """The meldpunt identity mails are sent as."""
        ident = self.settings.identity
        return Identity(address=ident.address, name=ident.name, organisation=ident.organisation)

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's timezone."""
        return self.calendar.timezone

    @property
    def staff_recipients(self) -> tuple[str, ...]:
        """Who gets notices and alerts."""
        return self.settings.staff.notify or self.settings.staff.addresses

"""The scheduler's values (pure): an open clock, a missed clock in the day's escalation,
and a notice the shell sends once. `mailbot.core.scheduler` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from mailbot.core.local_days import SchedulerError, check_aware
from mailbot.core.models import ClockName

CLOCKS = (ClockName.ACK_DUE, ClockName.RESPONSE_DUE, ClockName.UPDATE_DUE, ClockName.RESOLVE_DUE)
PAUSABLE = ClockName.UPDATE_DUE  # the one clock a waiting case pauses


@dataclass(frozen=True)
class OpenClock:
    """One clock of an open case that is not met (yet).

    A clock already recorded missed stays in the input until it is met late or its case
    closes: that is what makes the escalation name it every working day.
    """

    case_id: str
    name: str  # one of CLOCKS
    due: datetime  # aware; stored, compared and keyed in UTC
    explanation: str
    subject: str
    state: str
    waiting: bool  # the case waits for the reporter: `update_due` is paused
    missed_at: datetime | None = None  # when the shell recorded it missed

    def __post_init__(self) -> None:
        if self.name not in CLOCKS:
            raise SchedulerError(f"unknown clock {self.name!r} (expected one of {CLOCKS})")
        check_aware(self.due, "due")
        object.__setattr__(self, "due", self.due.astimezone(UTC))

    @property
    def paused(self) -> bool:
        """True for the update clock of a waiting case."""
        return self.waiting and self.name == PAUSABLE


def clock_order(clock: OpenClock) -> tuple[datetime, str, int]:
    """By due, then case, then the clock's place in CLOCKS."""
    return clock.due, clock.case_id, CLOCKS.index(clock.name)


@dataclass(frozen=True)
class Missed:
    """One missed clock as the day's escalation names it."""

    clock: OpenClock
    day: int
    """Which working day of being missed today is (1: the first)."""
    new: bool
    """Not named in an earlier escalation mail (missed since the last one)."""
    key: str
    """The clock's own key of today ("escalation:case:clock:due:day"), recorded with the mail."""

    @property
    def label(self) -> str:
        """What the case's audit event says: "missed", "still missed (working day N)"."""
        return "missed" if self.day == 1 else f"still missed (working day {self.day})"


@dataclass(frozen=True)
class Notice:
    """One mail to staff that the shell must send once (keyed by `key`)."""

    key: str
    kind: str  # "reminder" | "escalation" | "digest" | "closure_warning"
    audience: str  # "notify" | "escalate"
    case_id: str | None
    clock: str | None
    due: datetime | None
    """The deadline; for a closure warning the horizon (end of the reopening day)."""
    explanation: str
    """The deadline's explanation; for a closure warning the closed days with reasons."""
    label: str
    items: tuple[OpenClock, ...] = ()
    """Digest / closure warning: the clocks, by due; escalation: the missed clocks."""
    when: str = ""
    """A reminder's trigger ("tomorrow", "today", "hours"); an escalation's day (ISO date)."""
    first_closed: date | None = None
    """A closure warning's first closed day."""
    missed: tuple[Missed, ...] = ()
    """The day's escalation: every missed clock, newly missed first, each group by due."""

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

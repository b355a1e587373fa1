"""The two deadlines the scheduler computes for a case (DESIGN.md §5): the update clock
in working days, the resolve date in calendar days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.core.local_days import SchedulerError, check_aware, day_text
from mailbot.core.models import Deadline
from mailbot.core.wording import say
from mailbot.core.workdays import Calendar


def next_update_due(
    calendar: Calendar, last_mail_to_reporter: datetime, working_days: int
) -> Deadline:
    """The update clock: `working_days` working days after the last mail to the reporter."""
    return calendar.due_after(last_mail_to_reporter, working_days)


def resolve_deadline(received: datetime, days: int, tz: ZoneInfo, language: str = "en") -> Deadline:
    """`days` calendar days after receipt at the same local wall-clock time, in UTC; the
    explanation in `language` (the staff's: pass `calendar.language`).

    DST-safe: the local time is kept across a clock change (a time that does not exist on
    the target day is read with the offset before the change, as zoneinfo does).
    """
    check_aware(received, "received")
    if days < 0:
        raise SchedulerError(f"resolve days {days} must not be negative")
    local = received.astimezone(tz)
    target_day = local.date() + timedelta(days=days)
    due = datetime.combine(target_day, local.time(), tzinfo=tz).astimezone(UTC)
    text = say(
        "deadline.resolve",
        language,
        day=day_text(local.date(), language),
        time=f"{local:%H:%M}",
        days=days,
        end=day_text(target_day, language),
        end_time=f"{due.astimezone(tz):%H:%M}",
    )
    return Deadline(due=due, explanation=text)

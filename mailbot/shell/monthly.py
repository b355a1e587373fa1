"""The monthly report by mail (shell): last month's report to `[report] recipients`, once.

It is due from office opening on the first working day of a month, inside office hours
(like the scheduler's notices); a daemon that was stopped then sends it at the first
office moment after its start, while that month lasts. The key `report:YYYY-MM` is
recorded in the notices table in the same transaction that queues the mail, so it goes
out once across restarts and whoever calls `MonthlyReports.tick` (the daemon's scheduler
task, after each scheduler tick).

A failure to build or queue it is logged (`report_failed`) and tried again after
`RETRY`; it never stops the scheduler's own tick.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailbot.core.config import report_language
from mailbot.core.workdays import Calendar
from mailbot.mail.rendering import Identity
from mailbot.report.figures import report_of
from mailbot.report.mail import KIND, report_mail
from mailbot.report.rows import Month
from mailbot.shell.logs import get_logger

if TYPE_CHECKING:
    from mailbot.shell.pipeline import Service

RETRY = timedelta(minutes=10)


def due_month(now: datetime, calendar: Calendar) -> Month | None:
    """The month whose report is due at `now`: last month, from office opening on this
    month's first working day, inside office hours; None before that or outside them."""
    tz = calendar.timezone
    this = Month.of(now.astimezone(tz).date())
    first = this.first
    if not calendar.is_working_day(first):
        first = calendar.nth_working_day_after(first, 1)
    opening = datetime.combine(first, calendar.office_open, tzinfo=tz)
    if now < opening or not calendar.is_office_hours(now):
        return None
    return this.shifted(-1)


class MonthlyReports:
    """Sends each month's report once; remembers the month done so that a tick costs a
    query only on the day it is due."""

    def __init__(self) -> None:
        self.done: Month | None = None
        self.retry_at: datetime | None = None

    def tick(self, service: Service) -> bool:
        """Queue last month's report if it is due now and not yet recorded; True when it
        was queued. Never raises: a failure is logged and tried again after RETRY."""
        now: datetime | None = None
        try:
            now = service.clock.now()
            recipients = service.settings.report.recipients
            month = due_month(now, service.calendar) if recipients else None
            if month is None or month == self.done:
                return False
            if self.retry_at is not None and now < self.retry_at:
                return False
            queued = self._send(service, month, now)
        except Exception as exc:
            self.retry_at = None if now is None else now + RETRY
            get_logger(task="scheduler").error(
                "report_failed", error=str(exc)[:300], retry_at=str(self.retry_at)
            )
            return False
        self.done, self.retry_at = month, None
        return queued

    def _send(self, service: Service, month: Month, now: datetime) -> bool:
        """Build, record and queue the report of `month` (False: recorded already)."""
        store = service.outbox.store
        key = f"{KIND}:{month}"
        if store.recorded_notices([key]):
            return False
        first = store.first_intake()
        if first is None or first >= month.end(service.calendar):
            return False  # the month ended before mailbot recorded anything: nothing to say
        settings = service.settings
        report = report_of(store, settings, service.calendar, month, now)
        ident = settings.identity
        identity = Identity(address=ident.address, name=ident.name, organisation=ident.organisation)
        recipients = settings.report.recipients
        mail = report_mail(report, report_language(settings), identity, recipients, now)
        with store.transaction():
            queued = store.record_notice(key, KIND, None, mail.message_id, now)
            if queued:
                store.enqueue(mail, now)
        if queued:
            get_logger(task="scheduler").info(
                "report_queued", month=str(month), recipients=len(recipients), key=key
            )
        return queued

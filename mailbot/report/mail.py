"""The monthly report as a mail (pure): the HTML page inline, the text as its alternative.

Sent as the meldpunt identity to `[report] recipients`, as machine mail (Auto-Submitted,
X-Auto-Response-Suppress, our loop header) on no case. Its Message-ID is seeded by the
month, so the same month's report is the same mail. What outsiders wrote (subjects of
overdue cases) is escaped in the HTML and flattened to one line in the text; the subject
is our own title, cleaned like every header.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mailbot.core.config_checks import PLAIN_ADDRESS
from mailbot.core.models import OutgoingMail
from mailbot.mail.alternative import alternative_mail
from mailbot.mail.assembly import MailInputError
from mailbot.mail.rendering import Identity, mail_head, make_message_id
from mailbot.report.figures import Report
from mailbot.report.html import render_html
from mailbot.report.render import render_text
from mailbot.report.tables import overline, title
from mailbot.report.words import Words

KIND = "report"


def notice_key(report: Report) -> str:
    """The key that records the month's report as sent once: 'report:2027-03'."""
    return f"{KIND}:{report.month}"


def report_subject(report: Report, language: str) -> str:
    """The title, then who sends it: 'Maandrapportage maart 2027 - Meldpunt
    kwetsbaarheden - Gemeente Voorbeeld' (en dashes)."""
    w = Words(language)
    return f"{title(report, w)} \u2013 {overline(report, w)}"


def report_mail(
    report: Report,
    language: str,
    identity: Identity,
    recipients: Sequence[str],
    now: datetime,
) -> OutgoingMail:
    """The month's report to `recipients`, in `language`, dated `now`.

    Raises MailInputError naming a recipient that is not a plain address, or when there
    is none.
    """
    to = tuple(recipients)
    bad = [a for a in to if len(a) > 254 or not PLAIN_ADDRESS.fullmatch(a)]
    if bad or not to:
        raise MailInputError(f"report recipients must be plain addresses, got {list(to)!r}")
    head = mail_head(
        identity=identity,
        to=to,
        subject=report_subject(report, language),
        message_id=make_message_id(KIND, None, notice_key(report), identity.domain),
        date=now,
        auto_submitted="auto-generated",
    )
    text, html = render_text(report, language), render_html(report, language)
    return OutgoingMail(
        kind=KIND,
        message_id=head.message_id,
        sender=identity.address,
        recipients=head.recipients,
        subject=head.subject,
        raw=alternative_mail(head.fields, text, html),
    )

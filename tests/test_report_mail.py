"""The monthly report by mail: multipart/alternative (text, then HTML), safe headers, and
sent by the daemon's scheduler tick on the first working day of the month at office
opening, exactly once across restarts (SQLite, Maildir in and out, a ManualClock).

November 2026 begins on a Sunday: its first working day is Mon 2 Nov, the office opens at
08:30 CET. December begins on Tue 1 Dec. January 2027 begins on a holiday (Fri 1 Jan):
its first working day is Mon 4 Jan.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import factories
import pytest
import structlog
from factories import maildir_service, write_config

from mailbot.core import config
from mailbot.core.config import ReportSettings
from mailbot.core.errors import ConfigError
from mailbot.core.workdays import make_calendar
from mailbot.mail.assembly import MailInputError
from mailbot.mail.rendering import Identity
from mailbot.report.figures import Report, build_report
from mailbot.report.html import render_html
from mailbot.report.mail import report_mail
from mailbot.report.render import render_text
from mailbot.report.rows import CaseRow, ClockRow, Month, Rows
from mailbot.shell.clock import ManualClock
from mailbot.shell.daemon import Daemon
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.monthly import RETRY, MonthlyReports, due_month
from mailbot.shell.pipeline import Service
from mailbot.shell.sdnotify import Notifier

AMS = ZoneInfo("Europe/Amsterdam")
CALENDAR = make_calendar()
CISO = "ciso@gemeente.example"
BOARD = "bestuur@gemeente.example"
IDENTITY = Identity("meldpunt@gemeente.example", "Meldpunt kwetsbaarheden", "Gemeente Voorbeeld")
HOSTILE = "Lek\r\nBcc: evil@example.org <script>alert(1)</script>"
OCTOBER = Month(2026, 10)


def local(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    """A moment in Amsterdam."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def october_report() -> Report:
    """October 2026 with one case whose subject an outsider wrote, made 2 Nov 08:30."""
    received = local(10, 12, 10)
    rows = Rows(
        cases=(CaseRow("MK-2026-0001", HOSTILE, "acknowledged", received, received),),
        clocks=(ClockRow("MK-2026-0001", "response_due", local(10, 19, 17)),),
    )
    return build_report(rows, OCTOBER, CALENDAR, local(11, 2, 8, 30), organisation="Voorbeeld")


def parsed(raw: bytes) -> EmailMessage:
    """A mail as the email package reads it."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


# --- the mail ---------------------------------------------------------------------------


def test_report_mail_is_html_with_a_text_alternative() -> None:
    """multipart/alternative: text/plain first, then text/html, both UTF-8, the same report."""
    report = october_report()
    mail = report_mail(report, "nl", IDENTITY, (CISO, BOARD), local(11, 2, 8, 30))
    message = parsed(mail.raw)
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert (message.get_content_type(), parts) == (
        "multipart/alternative",
        ["text/plain", "text/html"],
    )
    text, page = (p.get_content().replace("\r\n", "\n") for p in message.iter_parts())
    assert (text, page) == (render_text(report, "nl"), render_html(report, "nl"))
    assert [p.get_content_charset() for p in message.iter_parts()] == ["utf-8", "utf-8"]
    assert (mail.kind, mail.recipients, mail.case_id, mail.automatic) == (
        "report",
        (CISO, BOARD),
        None,
        True,
    )


def test_report_mail_headers() -> None:
    """From the identity, To the recipients, a Dutch subject, machine-mail headers."""
    report = october_report()
    mail = report_mail(report, "nl", IDENTITY, (CISO, BOARD), local(11, 2, 8, 30))
    message = parsed(mail.raw)
    actual = {name: str(message[name]) for name in ("From", "To", "Subject", "Auto-Submitted")}
    assert actual == {
        "From": "Meldpunt kwetsbaarheden <meldpunt@gemeente.example>",
        "To": f"{CISO}, {BOARD}",
        "Subject": "Maandrapportage oktober 2026 \u2013 Meldpunt kwetsbaarheden \u2013 Voorbeeld",
        "Auto-Submitted": "auto-generated",
    }
    assert (message["X-Mailbot-Loop"], message["X-Auto-Response-Suppress"]) == (
        IDENTITY.address,
        "All",
    )


def test_what_outsiders_wrote_cannot_add_a_header_or_markup() -> None:
    """A subject with CR LF, "Bcc:" and <script>: no Bcc header, escaped in the HTML part,
    one line in the text part; every line of the mail ends in CRLF."""
    report = october_report()
    mail = report_mail(report, "en", IDENTITY, (CISO,), local(11, 2, 8, 30))
    message = parsed(mail.raw)
    text, page = (p.get_content() for p in message.iter_parts())
    assert (message["Bcc"], "<script" in page) == (None, False)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    line = next(x for x in text.splitlines() if "Bcc" in x)
    assert line.endswith("Lek Bcc: evil@example.org <script>alert(1)</script>")
    assert mail.raw.count(b"\n") == mail.raw.count(b"\r\n")


@pytest.mark.parametrize("bad", ["a@b.nl\r\nBcc: x@y.nl", "Jan <a@b.nl>", "a@b.nl, c@d.nl", ""])
def test_a_recipient_that_is_not_a_plain_address_is_refused(bad: str) -> None:
    """report_mail refuses a recipient that is not a plain address, naming it."""
    with pytest.raises(MailInputError, match="report recipients"):
        report_mail(october_report(), "en", IDENTITY, (bad,), local(11, 2, 8, 30))


def test_the_same_month_is_the_same_mail() -> None:
    """The Message-ID is seeded by the month: made twice, the same ID; another month, another."""
    report = october_report()
    first = report_mail(report, "en", IDENTITY, (CISO,), local(11, 2, 8, 30))
    again = report_mail(report, "en", IDENTITY, (CISO,), local(11, 3, 9))
    other = replace(report, month=Month(2026, 9))
    assert first.message_id == again.message_id
    assert report_mail(other, "en", IDENTITY, (CISO,), local(11, 2, 9)).message_id != (
        first.message_id
    )


# --- when it is due -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(11, 1, 12), None),  # Sunday 1 Nov: not a working day
        (local(11, 2, 8, 29), None),  # before opening
        (local(11, 2, 8, 30), "2026-10"),  # office opening on the first working day
        (local(11, 2, 17, 0), None),  # after the cutoff: the next office moment
        (local(11, 3, 10), "2026-10"),  # the daemon was down on Monday
        (local(11, 30, 10), "2026-10"),  # still October's, the whole of November
        (local(12, 1, 8, 30), "2026-11"),
        (local(1, 1, 10, year=2027), None),  # Nieuwjaarsdag
        (local(1, 4, 8, 30, year=2027), "2026-12"),  # Mon 4 Jan: first working day
    ],
)
def test_due_from_office_opening_on_the_first_working_day(
    moment: datetime, expected: str | None
) -> None:
    """Last month's report is due from opening on the first working day, in office hours."""
    month = due_month(moment.astimezone(UTC), CALENDAR)
    assert (None if month is None else str(month)) == expected


# --- the daemon sends it, once ------------------------------------------------------------


def settings_for(base: Path, **report: object) -> config.Settings:
    """The embedded default on base (Maildir in and out), report recipients CISO and BOARD,
    intake polled every second."""
    settings = config.embedded(base)
    mailbox = replace(settings.mailbox, poll_seconds=1)
    sections = ReportSettings(recipients=(CISO, BOARD), **report)
    return replace(settings, mailbox=mailbox, report=sections)


def service_at(base: Path, moment: datetime, **report: object) -> tuple[Service, ManualClock]:
    """A Service on base's Maildirs and database with a ManualClock at `moment`."""
    clock = ManualClock(moment)
    return maildir_service(base, settings_for(base, **report), clock), clock


def receive_in_october(base: Path) -> None:
    """Two reports received and acknowledged in October 2026."""
    service, clock = service_at(base, local(10, 12, 10))
    for n in (1, 2):
        deliver_to_maildir(base / "inbox", factories.report(n), clock.now())
    try:
        asyncio.run(service.run_once())
    finally:
        service.close()


def report_mails(base: Path) -> list[EmailMessage]:
    """The report mails in the outbound Maildir."""
    return [m for m in factories.sent(base) if "report" in str(m["Message-ID"])]


def notices(base: Path) -> list[str]:
    """The keys of the report notices recorded in the database."""
    with sqlite3.connect(base / "mailbot.db") as db:
        rows = db.execute("SELECT key FROM notices WHERE kind = 'report' ORDER BY key")
        return [key for (key,) in rows]


def run_daemon(service: Service, base: Path, until_mails: int) -> None:
    """Run the daemon on `service` until the outbound Maildir holds `until_mails` report
    mails and at least one scheduler tick ran, then stop it (SIGTERM's path)."""
    ticks = 0
    tick = service.tick

    def counting() -> int:
        nonlocal ticks
        ticks += 1
        return tick()

    service.tick = counting

    async def go() -> None:
        daemon = Daemon(service, notifier=Notifier({}))

        async def watch() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while ticks == 0 or len(report_mails(base)) < until_mails:
                assert loop.time() < deadline, "the report mail did not arrive"
                await asyncio.sleep(0.05)
            daemon.request_stop()

        await asyncio.wait_for(asyncio.gather(daemon.run(), watch()), timeout=30)

    try:
        asyncio.run(go())
    finally:
        service.close()


def test_daemon_mails_last_months_report_once_across_restarts(tmp_path: Path) -> None:
    """Mon 2 Nov 08:30: the daemon's tick mails October's report to both recipients; a
    restart at 09:00 sends nothing; a restart on Tue 1 Dec 08:30 mails November's."""
    receive_in_october(tmp_path)
    service, _ = service_at(tmp_path, local(11, 2, 8, 30))
    run_daemon(service, tmp_path, until_mails=1)
    mails = report_mails(tmp_path)
    assert [(str(m["To"]), str(m["Subject"])) for m in mails] == [
        (
            f"{CISO}, {BOARD}",
            "Maandrapportage oktober 2026 \u2013 Meldpunt kwetsbaarheden \u2013 Gemeente Voorbeeld",
        ),
    ]
    html = mails[0].get_body(("html",))
    assert html is not None and "Meldingen ontvangen" in html.get_content()
    service, _ = service_at(tmp_path, local(11, 2, 9))
    run_daemon(service, tmp_path, until_mails=1)
    assert (len(report_mails(tmp_path)), notices(tmp_path)) == (1, ["report:2026-10"])
    service, _ = service_at(tmp_path, local(12, 1, 8, 30))
    run_daemon(service, tmp_path, until_mails=2)
    assert notices(tmp_path) == ["report:2026-10", "report:2026-11"]
    assert len(report_mails(tmp_path)) == 2


def test_tick_before_opening_and_without_recipients_sends_nothing(tmp_path: Path) -> None:
    """08:29 on the first working day: nothing; 08:30 without recipients: nothing; with
    them: queued once, and a second tick the same day queues nothing."""
    receive_in_october(tmp_path)
    service, clock = service_at(tmp_path, local(11, 2, 8, 29))
    nobody = replace(service.settings, report=ReportSettings())
    monthly = MonthlyReports()
    try:
        before = monthly.tick(service)
        clock.set(local(11, 2, 8, 30))
        service.settings = nobody
        unsent = monthly.tick(service)
        service.settings = settings_for(tmp_path)
        actual = (before, unsent, monthly.tick(service), monthly.tick(service))
    finally:
        service.close()
    assert actual == (False, False, True, False)
    assert notices(tmp_path) == ["report:2026-10"]


def test_report_language_follows_the_report_section(tmp_path: Path) -> None:
    """[report] language = "en": the mail is in English although staff mail is Dutch."""
    receive_in_october(tmp_path)
    service, _ = service_at(tmp_path, local(11, 2, 8, 30), language="en")
    try:
        assert MonthlyReports().tick(service) is True
        raw = service.store.db.execute("SELECT raw FROM outbox WHERE kind = 'report'").fetchone()[0]
    finally:
        service.close()
    assert str(parsed(raw)["Subject"]).startswith("Monthly report October 2026")


def test_a_failure_is_logged_and_tried_again_later(tmp_path: Path) -> None:
    """A report that cannot be made is logged (report_failed), not raised; the next ticks
    wait RETRY, then try again; nothing is recorded meanwhile."""
    receive_in_october(tmp_path)
    service, clock = service_at(tmp_path, local(11, 2, 8, 30))
    identity = replace(service.settings.identity, address="not an address")
    service.settings = replace(service.settings, identity=identity)
    monthly = MonthlyReports()
    try:
        with structlog.testing.capture_logs() as logs:
            first = monthly.tick(service)
            clock.set(local(11, 2, 8, 30) + RETRY - timedelta(seconds=1))
            waiting = monthly.tick(service)
            clock.set(local(11, 2, 8, 30) + RETRY)
            again = monthly.tick(service)
    finally:
        service.close()
    failed = [e for e in logs if e["event"] == "report_failed"]
    assert (first, waiting, again, len(failed)) == (False, False, False, 2)
    assert notices(tmp_path) == []


# --- the configuration ----------------------------------------------------------------------


def test_report_section_in_the_config_file(tmp_path: Path) -> None:
    """[report] recipients and language load; language defaults to the identity's."""
    cfg = write_config(tmp_path, report={"recipients": [CISO], "language": "en"})
    settings = config.load(cfg, env={})
    assert (settings.report.recipients, config.report_language(settings)) == ((CISO,), "en")
    plain = config.load(write_config(tmp_path), env={})
    assert (plain.report.recipients, config.report_language(plain)) == ((), "nl")


@pytest.mark.parametrize(
    ("report", "needle"),
    [
        ({"language": "de"}, "[report] language"),
        ({"recipients": ["Jan <jan@gemeente.example>"]}, "'Jan <jan@gemeente.example>'"),
        ({"recipients": ["a@b.nl, c@d.nl"]}, "[report] recipients"),
        ({"recipient": [CISO]}, "did you mean recipients?"),
    ],
)
def test_a_bad_report_section_is_refused_naming_the_key(
    tmp_path: Path, report: dict[str, object], needle: str
) -> None:
    """A bad [report] value is a ConfigError naming the file and the key or value."""
    cfg = write_config(tmp_path, report=report)
    with pytest.raises(ConfigError) as info:
        config.load(cfg, env={})
    assert (needle in str(info.value), str(cfg) in str(info.value)) == (True, True)


def test_json_of_the_mailed_month_matches_the_command(tmp_path: Path) -> None:
    """`mailbot report --month 2026-10 --json` counts the two October reports the daemon
    mailed about."""
    receive_in_october(tmp_path)
    cfg = write_config(tmp_path)
    result = factories.mailbot(
        cfg, "report", "--month", "2026-10", "--json", now="2026-11-02T08:30:00+01:00"
    )
    assert json.loads(result.stdout)["cases"] == 2


def test_no_report_of_a_month_before_anything_was_recorded(tmp_path: Path) -> None:
    """The first `run --once` of a new installation (12 Oct, recipients set) does not mail
    September's report: mailbot recorded nothing in September, so it would say nothing."""
    receive_in_october(tmp_path)
    assert (notices(tmp_path), report_mails(tmp_path)) == ([], [])

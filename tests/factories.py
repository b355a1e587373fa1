"""Plain helpers the test modules share (fixtures stay in conftest.py and dovecot.py).

- `report(n, ...)`: a report as an MTA delivers it (bytes); a module names its own variant
  with `functools.partial` and only the keywords that differ.
- `write_config(base, ...)`: base/config.toml, Maildir in and out unless IMAP/SMTP are given.
- `bot(tmp_path)`, `sent(tmp_path)`: a Service on Maildir in and out, and what it sent.
- `Desk`: a Service with staff authentication required (the staff-mail tests).
- `mailbot(...)`, `Daemon`, `daemon(...)`, `accepted(...)`, ...: `mailbot` as a subprocess
  against Dovecot and aiosmtpd (test_daemon_imap.py, test_faults.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from mailbot.cli.status import Snapshot
from mailbot.core import config
from mailbot.core.models import Case, Disposition, OutgoingMail
from mailbot.mail.rendering import Identity, build_mail, make_message_id
from mailbot.shell.clock import Clock, ManualClock
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.transport import MaildirTransport, Transport
from mailbot.store import Store

if TYPE_CHECKING:
    from conftest import SmtpTestServer
    from dovecot import DovecotAccount

BOT = "meldpunt@gemeente.example"
STAFF = "security@gemeente.example"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (aiosmtpd 1.4.6 cannot use 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- reports ------------------------------------------------------------------------------


def report(
    n: int | None = None,
    sender: str = "melder{n}@example.nl",
    message_id: str | None = "<r{n}@example.nl>",
    body: str = "Op https://portaal{n}.gemeente.example staat een lek.",
    *,
    name: str = "Melder {n}",
    subject: str = "Melding {n}: lek in portaal",
    to: str = BOT,
    mime_version: bool = False,
    content_type: str | None = "text/plain; charset=utf-8",
    extra: str = "",
    trace: Sequence[str] = (),
) -> bytes:
    """Report number `n` as an MTA delivers it, CRLF line ends.

    With a number, "{n}" in every text becomes `n` (without one, texts are taken as they
    are). From is "name <sender>", or the bare `sender` when `name` is empty; Message-ID is
    left out when None; `trace` lines go on top (as hops prepend them), `extra` (one or
    more header lines) below Content-Type.
    """

    def text(value: str) -> str:
        return value if n is None else value.replace("{n}", str(n))

    lines = [*trace, f"From: {text(name)} <{text(sender)}>" if name else f"From: {text(sender)}"]
    lines += [f"To: {to}", f"Subject: {text(subject)}"]
    if message_id is not None:
        lines.append(f"Message-ID: {text(message_id)}")
    if mime_version:
        lines.append("MIME-Version: 1.0")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n" + text(body) + "\r\n").encode()


def email_message(
    sender: str,
    subject: str,
    body: str,
    message_id: str,
    *,
    reply_to: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> EmailMessage:
    """One plain-text mail to the bot (Reply-To and a text/plain attachment (name, data) when
    given), built with the email package."""
    msg = EmailMessage()
    msg["From"] = sender
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["To"] = BOT
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(body)
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="text", subtype="plain", filename=name)
    return msg


def outgoing(
    message_id: str,
    subject: str,
    body: str,
    *,
    to: str = STAFF,
    title: str | None = None,
    auto_submitted: bool = False,
) -> OutgoingMail:
    """A staff alert from the bot to `to` as the outbox stores it (no case: its lane follows
    the recipients); `title` is the outbox subject, `subject` unless given."""
    auto = "Auto-Submitted: auto-generated\r\n" if auto_submitted else ""
    raw = (
        f"From: {BOT}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
        f"{auto}\r\n{body}\r\n"
    ).encode()
    return OutgoingMail("alert", message_id, BOT, (to,), title or subject, raw)


# -- config files ---------------------------------------------------------------------------

MAILDIR_CONFIG: Mapping[str, Mapping[str, object]] = {
    "identity": {"address": BOT, "organisation": "Gemeente Voorbeeld"},
    "mailbox": {"backend": "maildir", "path": "inbox"},
    "outbound": {"transport": "maildir", "path": "outbox"},
    "staff": {"addresses": [STAFF]},
    "database": {"path": "mailbot.db"},
    "logging": {"format": "json"},
}
"""The sections `write_config` starts from: Maildir in and out under the config's folder."""


def toml_literal(value: Any) -> str:
    """A TOML literal for a str, bool, int or list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    base: Path,
    account: DovecotAccount | None = None,
    smtp: SmtpTestServer | None = None,
    *,
    security: str = "plain",
    port: int | None = None,
    password: str | None = None,
    **sections: Mapping[str, object] | None,
) -> Path:
    """base/config.toml: MAILDIR_CONFIG, with IMAP on `account` (plain on loopback unless
    `security`/`port`/`password` say otherwise, poll 1 s, IDLE; the database path absolute)
    and SMTP to `smtp` when given.

    Each keyword is a section whose keys are added to (or replace) the ones above; a
    section given as None is left out.
    """
    values = {name: dict(keys) for name, keys in MAILDIR_CONFIG.items()}
    if account is not None:
        values["mailbox"] = {
            "backend": "imap",
            "host": account.host,
            "port": port if port is not None else account.port,
            "security": security,
            "username": account.user,
            "password": password if password is not None else account.password,
            "poll_seconds": 1,
            "idle": True,
        }
        values["database"] = {"path": str(base / "mailbot.db")}  # test_faults.db_config moves it
    if smtp is not None:
        values["outbound"] = {
            "transport": "smtp",
            "host": smtp.host,
            "port": smtp.port,
            "security": "plain",
        }
    for name, keys in sections.items():
        if keys is None:
            values.pop(name, None)
        else:
            values.setdefault(name, {}).update(keys)
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {toml_literal(v)}\n" for key, v in keys.items())
        for name, keys in values.items()
    )
    path = base / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- a service in the test process ----------------------------------------------------------

MONDAY_0700 = datetime(2026, 12, 21, 6, 0, tzinfo=UTC)
"""Monday 21 December 2026, 07:00 CET: before the morning digest."""


def maildir_service(
    base: Path,
    settings: config.Settings,
    clock: Clock,
    *,
    store: Store | None = None,
    transport: Transport | None = None,
) -> Service:
    """A Service reading base/inbox and writing base/outbox (Maildir both) unless `transport`
    is given; its store is `store` or a new one on the settings' database."""
    return Service(
        settings,
        store or Store(settings.database.path),
        MaildirMailbox(base / "inbox"),
        transport or MaildirTransport(base / "outbox"),
        clock,
    )


def bot(
    tmp_path: Path, cap: int = 10, start: datetime = MONDAY_0700
) -> tuple[Service, ManualClock]:
    """A service on Maildir in/out with the given daily cap of automatic mail per address."""
    base = config.embedded(tmp_path)
    limits = replace(base.limits, auto_mails_per_address_per_day=cap)
    clock = ManualClock(start)
    return maildir_service(tmp_path, replace(base, limits=limits), clock), clock


def sent(tmp_path: Path) -> list[email.message.EmailMessage]:
    """Every mail written to the outbox Maildir, oldest first (none when it does not exist)."""
    folder = tmp_path / "outbox" / "new"
    files = sorted(folder.iterdir(), key=lambda f: f.stat().st_mtime_ns) if folder.exists() else []
    return [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for f in files
    ]


# -- the staff desk (test_staff_email.py, test_staff_leaks.py) -------------------------------

DESK_START = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
"""Monday 21 December 2026, 10:00 CET."""
MX = "mx.gemeente.example"
PASS = f"{MX}; dkim=pass header.d=gemeente.example; dmarc=pass header.from=gemeente.example"
REPORTER = "jan@example.nl"


class Desk:
    """A service with staff authentication required, on Maildir in and out."""

    def __init__(self, base: Path) -> None:
        settings = config.embedded(base)
        staff = replace(settings.staff, require_authenticated=True, authserv_ids=(MX,))
        self.settings = replace(settings, staff=staff)
        self.clock = ManualClock(DESK_START)
        self.inbox, self.outbox = base / "inbox", base / "outbox"
        self.service = maildir_service(base, self.settings, self.clock)
        self.count = 0

    def send(self, sender: str, subject: str, body: str, *headers: str) -> Disposition:
        """Deliver one mail, one minute later than the last, and run once."""
        self.count += 1
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = "meldpunt@gemeente.example"
        msg["Subject"] = subject
        msg["Message-ID"] = f"<m{self.count}@{sender.rpartition('@')[2].rstrip('>')}>"
        for header in headers:
            name, _, value = header.partition(": ")
            msg[name] = value
        msg.set_content(body)
        self.clock.set(DESK_START + timedelta(minutes=self.count))
        deliver_to_maildir(self.inbox, bytes(msg), self.clock.now())
        outcomes, _ = asyncio.run(self.service.run_once())
        return outcomes[0].disposition

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        """Mails delivered to `address`, oldest first."""
        files = sorted((self.outbox / "new").iterdir(), key=lambda f: f.stat().st_mtime_ns)
        parsed = [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files
        ]
        return [m for m in parsed if str(m["To"]) == address]  # type: ignore[misc]

    def case(self):  # type: ignore[no-untyped-def]
        """Case MK-2026-0001 as stored."""
        return self.service.store.case("MK-2026-0001")


EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
FINDINGS = config.load(EXAMPLE, env={}).triage.known_findings
"""The known findings of config.example.toml."""


def triage_desk(base: Path) -> Desk:
    """A Desk (staff authenticated by our MTA) whose settings hold the example's findings."""
    desk = Desk(base)
    desk.service.store.close()
    desk.settings = replace(desk.settings, triage=config.TriageSettings(FINDINGS))
    desk.service = maildir_service(base, desk.settings, desk.clock)
    return desk


# -- `mailbot` as a subprocess (test_daemon_imap.py, test_faults.py) -------------------------

NOW = "2025-12-15T10:05:00+01:00"
RECEIVED = datetime(2025, 12, 15, 9, 0, tzinfo=UTC)
"""In the past on purpose: Dovecot stores a future APPEND date as the moment of APPEND."""
WAIT = 15.0
"""Upper bound for anything the daemon should do "at once" (seconds)."""


def env(now: str = NOW, crash_at: str = "") -> dict[str, str]:
    """The subprocess environment: fixed clock, optional crash point; never the journal's
    stream (under it JSON log lines get a `<N>` priority prefix the tests do not parse)."""
    outside = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    return {**outside, "MAILBOT_NOW": now, "MAILBOT_CRASH_AT": crash_at}


def mailbot(
    cfg: Path, *args: str, now: str = NOW, crash_at: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `python -m mailbot --config cfg ARGS` to completion."""
    result = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        env=env(now, crash_at),
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def events(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of `text` (other lines, e.g. tracebacks, are skipped)."""
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "event" in record:
                found.append(record)
    return found


def dispositions(cfg: Path) -> list[tuple[str | None, str, str | None]]:
    """(message_id, disposition, case) of every inbound message, from `messages --json`."""
    rows = json.loads(mailbot(cfg, "messages", "--json").stdout)
    return [(m["message_id"], m["disposition"], m["case"]) for m in rows]


@dataclass(frozen=True)
class Sent:
    """One mail the SMTP server accepted."""

    rcpt: tuple[str, ...]
    message_id: str
    in_reply_to: str
    data: bytes


def accepted(smtp: SmtpTestServer) -> list[Sent]:
    """What the SMTP server accepted so far, in order."""
    out = []
    for _sender, rcpt, data in list(smtp.messages):
        msg = email.message_from_bytes(data, policy=email.policy.default)
        out.append(Sent(tuple(rcpt), str(msg["Message-ID"]), str(msg["In-Reply-To"] or ""), data))
    return out


def acks_per_report(smtp: SmtpTestServer) -> Counter[str]:
    """How often each report's reporter was sent an acknowledgement, by report Message-ID."""
    return Counter(s.in_reply_to for s in accepted(smtp) if STAFF not in s.rcpt)


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll `condition()` every 10 ms; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.01)


class Daemon:
    """`mailbot run` in the background; stderr (the JSON log) goes to a file."""

    def __init__(self, cfg: Path) -> None:
        self.log_path = cfg.parent / "daemon.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "--config", str(cfg), "run"],
                env=env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def log(self) -> str:
        """The log so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log records whose event is `name`."""
        return [e for e in events(self.log()) if e["event"] == name]

    def wait_event(self, name: str, count: int = 1, seconds: float = WAIT) -> list[dict[str, Any]]:
        """Wait until `name` was logged `count` times; the daemon must stay alive."""

        def seen() -> bool:
            assert self.proc.poll() is None, f"daemon exited:\n{self.log()[-3000:]}"
            return len(self.events(name)) >= count

        wait_for(seen, seconds, f"{count} x {name} in\n{self.log()[-3000:]}")
        return self.events(name)

    def terminate(self) -> int:
        """SIGTERM; the exit code (the daemon must exit within WAIT seconds)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=WAIT)

    def kill(self) -> None:
        """SIGKILL if still running (teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def daemon(cfg: Path, ready: bool = True) -> Iterator[Daemon]:
    """A running daemon (READY reached unless `ready` is False), killed at teardown."""
    running = Daemon(cfg)
    try:
        if ready:
            running.wait_event("daemon_ready")
        yield running
    finally:
        running.kill()


def deliver_while_down(account: DovecotAccount, raw: bytes, when: datetime) -> None:
    """Deliver into the account's Maildir INBOX as a local MTA would while IMAP is down.

    (`doveadm save` needs the running server's auth socket, so it cannot do this.)
    """
    maildir = account.server.home_root / account.user / "Maildir"
    name = deliver_to_maildir(maildir, raw, when)
    owner = maildir.stat()
    os.chown(maildir / "new" / name, owner.st_uid, owner.st_gid)


# -- `mailbot status` snapshots (test_status.py, test_prometheus.py) ------------------------

STATUS_NOW = datetime(2026, 12, 21, 9, 5, tzinfo=UTC)
"""Monday 21 December 2026, 10:05 in Amsterdam."""


def status_snapshot(**changes: Any) -> Snapshot:
    """A `status` snapshot at STATUS_NOW in which everything is fine, with `changes`."""
    now = STATUS_NOW
    fine = Snapshot(
        now=now,
        timezone=ZoneInfo("Europe/Amsterdam"),
        poll_seconds=60,
        intake=now - timedelta(seconds=5),
        tick=now - timedelta(seconds=40),
        backlog=0,
        backlog_error="",
        queued=0,
        oldest_queued=None,
        failed_at=(),
        cases={"new": 0, "acknowledged": 2, "investigating": 1, "confirmed": 0},
        due_today=1,
        overdue=0,
        security_txt_expires=date(2027, 6, 30),
    )
    return replace(fine, **changes)


def queue_relay(
    store: Store, settings: config.Settings, case: Case, body: str, seed: str, now: datetime
) -> None:
    """Queue a relayed staff reply to `case`'s reporter, as the staff path would (the
    simulations skip parsing a staff mail)."""
    assert case.reporter_email is not None
    ident = Identity(
        settings.identity.address, settings.identity.name, settings.identity.organisation
    )
    mail = build_mail(
        kind="relay",
        identity=ident,
        to=(case.reporter_email,),
        subject=f"[{case.id}] Re: {case.subject}",
        body=body,
        message_id=make_message_id("relay", case.id, seed, ident.domain),
        date=now,
        case_id=case.id,
        automatic=False,
    )
    store.enqueue(mail, now)

"""`mailbot status`: the daemon's vital signs, and what of them needs attention.

`gather` is the shell (database, mailbox); `attention`, `as_json` and `as_text` are pure.
Something needs attention (exit 1, for monitoring) when: the database's filesystem is
read-only or has no room for a message of the largest allowed size, the mailbox cannot be
reached (a refused login named as such), no intake pass for more than
3 times poll_seconds or 5 minutes, no scheduler tick for more than 5 minutes, outgoing mail
failed in the last 7 days, mail queued for more than an hour, a deadline is overdue, or
security.txt expires within 30 days.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.core.config import Settings
from mailbot.core.errors import MailbotError
from mailbot.core.models import CLOSED_STATES, CaseState
from mailbot.core.scheduler import digest_sections
from mailbot.core.securitytxt import days_left, expiry_warning
from mailbot.shell.mailbox import Mailbox, MaildirMailbox
from mailbot.shell.pipeline import calendar_for
from mailbot.store import Store

INTAKE_LIMIT = timedelta(minutes=5)
"""No intake for longer than this (or 3 times poll_seconds, if more) needs attention."""
TICK_LIMIT = timedelta(minutes=5)
FAILED_WINDOW = timedelta(days=7)
QUEUED_LIMIT = timedelta(hours=1)
STORAGE_MARGIN = 1_048_576
"""Room beyond twice the largest message (its raw bytes and the write-ahead log)."""
IMAP_TIMEOUT = 5.0
"""Seconds `status` gives the IMAP server to tell the backlog."""
OPEN_STATES = tuple(s.value for s in CaseState if s not in CLOSED_STATES)


@dataclass(frozen=True)
class Storage:
    """The filesystem of the database, as `statvfs` sees it."""

    folder: str
    free: int  # bytes available to us
    needed: int  # room one message of the largest allowed size may take
    read_only: bool


@dataclass(frozen=True)
class Snapshot:
    """Everything `mailbot status` looks at, read at one moment `now`."""

    now: datetime
    timezone: ZoneInfo
    poll_seconds: int
    intake: datetime | None  # last intake pass (heartbeat:intake)
    tick: datetime | None  # last scheduler tick (heartbeat:tick)
    backlog: int | None  # messages waiting in the mailbox; None: unknown
    backlog_error: str  # why the backlog is unknown
    queued: int
    oldest_queued: datetime | None
    failed_at: tuple[datetime, ...]  # when each failed outgoing mail failed
    cases: dict[str, int] = field(default_factory=dict)  # open cases per state
    due_today: int = 0
    overdue: int = 0
    security_txt_expires: date | None = None
    storage: Storage | None = None
    quarantined_at: tuple[datetime, ...] = ()  # when each quarantined message was received

    @property
    def failed_recently(self) -> int:
        """Outgoing mails that failed within FAILED_WINDOW before `now`."""
        return sum(1 for moment in self.failed_at if self.now - moment <= FAILED_WINDOW)

    @property
    def quarantined_recently(self) -> int:
        """Quarantined messages received within FAILED_WINDOW (7 days) before `now`."""
        return sum(1 for moment in self.quarantined_at if self.now - moment <= FAILED_WINDOW)


# --- judgement (pure) -----------------------------------------------------------------------


def intake_limit(poll_seconds: int) -> timedelta:
    """How long without an intake pass is still fine."""
    return max(timedelta(seconds=3 * poll_seconds), INTAKE_LIMIT)


CHECKS = (
    "storage",
    "mailbox",
    "intake",
    "tick",
    "outbox_failed",
    "outbox_queued",
    "clocks_overdue",
    "security_txt",
)
"""The names of the checks, in the order of their lines (`mailbot_attention_check{check=}`)."""


def checks(s: Snapshot) -> dict[str, str | None]:
    """Each check of CHECKS with the line of its reason, or None when it is fine."""
    overdue = f"{s.overdue} deadline(s) overdue (see `mailbot deadlines`)"
    return {
        "storage": _storage(s.storage),
        "mailbox": _mailbox(s),
        "intake": _stale("intake pass", s.intake, intake_limit(s.poll_seconds), s.now),
        "tick": _stale("scheduler tick", s.tick, TICK_LIMIT, s.now),
        "outbox_failed": _failed(s.failed_recently),
        "outbox_queued": _queued(s),
        "clocks_overdue": overdue if s.overdue else None,
        "security_txt": expiry_warning(s.security_txt_expires, s.now, s.timezone),
    }


def _failed(count: int) -> str | None:
    if not count:
        return None
    return (
        f"{count} outgoing mail(s) failed in the last 7 days "
        "(see `mailbot case show` of their cases and the staff alerts)"
    )


def _queued(s: Snapshot) -> str | None:
    if s.oldest_queued is None or s.now - s.oldest_queued <= QUEUED_LIMIT:
        return None
    return (
        f"{s.queued} mail(s) queued, the oldest for {_duration(s.now - s.oldest_queued)} "
        f"(since {_short(s.oldest_queued)}): is the outbound server reachable?"
    )


def attention(s: Snapshot) -> list[str]:
    """One line with its reason for each thing that needs attention; [] when all is fine."""
    return [line for line in checks(s).values() if line]


def _storage(st: Storage | None) -> str | None:
    """A full or read-only database filesystem: reports wait in the mailbox meanwhile."""
    if st is None:
        return None
    if st.read_only:
        return (
            f"storage: {st.folder} is mounted read-only: nothing can be recorded, "
            "reports wait in the mailbox"
        )
    if st.free < st.needed:
        return (
            f"storage: only {_mb(st.free)} free on {st.folder}, a message may need "
            f"{_mb(st.needed)}: reports wait in the mailbox until there is room"
        )
    return None


def _mailbox(s: Snapshot) -> str | None:
    """The mailbox cannot be reached (a refused login named as such)."""
    if s.backlog is not None or not s.backlog_error:
        return None
    if "login failed" in s.backlog_error:
        return (
            f"mailbox login failed: {s.backlog_error} (fix the password or token, "
            "then `systemctl reload mailbot`)"
        )
    return f"mailbox unreachable: {s.backlog_error}"


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"


def _stale(what: str, last: datetime | None, limit: timedelta, now: datetime) -> str | None:
    if last is None:
        return f"no {what} recorded: is `mailbot run` running?"
    age = now - last
    if age > limit:
        return (
            f"no {what} for {_duration(age)} (last {_short(last)}, limit {_duration(limit)}): "
            "is `mailbot run` running?"
        )
    return None


# --- output (pure) --------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def as_json(s: Snapshot, reasons: list[str]) -> dict[str, Any]:
    """The `status --json` document (keys may be added, never renamed)."""
    return {
        "now": _iso(s.now),
        "heartbeat": {"intake": _iso(s.intake), "tick": _iso(s.tick)},
        "backlog": s.backlog,
        "backlog_error": s.backlog_error or None,
        "outbox": {
            "queued": s.queued,
            "failed": len(s.failed_at),
            "failed_last_7_days": s.failed_recently,
            "oldest_queued": _iso(s.oldest_queued),
        },
        "cases": dict(s.cases),
        "clocks": {"due_today": s.due_today, "overdue": s.overdue},
        "security_txt_expires": s.security_txt_expires.isoformat()
        if s.security_txt_expires
        else None,
        "storage": {
            "free": s.storage.free,
            "needed": s.storage.needed,
            "read_only": s.storage.read_only,
        }
        if s.storage
        else None,
        "quarantined": {"total": len(s.quarantined_at), "last_7_days": s.quarantined_recently},
        "attention": list(reasons),
    }


def as_text(s: Snapshot, reasons: list[str]) -> str:
    """Human lines: the vital signs, then what needs attention (or that all is fine)."""
    open_cases = ", ".join(f"{state} {n}" for state, n in s.cases.items() if n) or "none"
    lines = [
        f"mailbot status at {_short(s.now)}",
        f"  last intake:  {_when(s.intake, s.now)}",
        f"  last tick:    {_when(s.tick, s.now)}",
        f"  backlog:      {_backlog(s)}",
        f"  outbox:       {s.queued} queued, {len(s.failed_at)} failed "
        f"({s.failed_recently} in the last 7 days)",
        f"  open cases:   {open_cases}",
        f"  deadlines:    {s.due_today} due today, {s.overdue} overdue",
        f"  quarantined:  {len(s.quarantined_at)} message(s) "
        f"({s.quarantined_recently} in the last 7 days)",
        f"  security.txt: {_expiry(s)}",
    ]
    if reasons:
        lines.append("needs attention:")
        lines += [f"  - {reason}" for reason in reasons]
    else:
        lines.append("all fine")
    return "\n".join(lines) + "\n"


def _backlog(s: Snapshot) -> str:
    if s.backlog is None:
        return f"unknown ({s.backlog_error})"
    return f"{s.backlog} message(s) waiting"


def _expiry(s: Snapshot) -> str:
    if s.security_txt_expires is None:
        return "no [security_txt] expires configured"
    left = days_left(s.security_txt_expires, s.now, s.timezone)
    return f"expires {s.security_txt_expires.isoformat()} ({left} day(s) left)"


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{_short(moment)} ({_duration(now - moment)} ago)"


def _short(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _duration(delta: timedelta) -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 4 h` (negative durations count as 0 s)."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


# --- gathering (shell) ----------------------------------------------------------------------


def gather(settings: Settings, store: Store, now: datetime) -> Snapshot:
    """Read heartbeats, outbox, cases and clocks from `store`, the backlog from the mailbox."""
    calendar = calendar_for(settings)
    sections = digest_sections(now, calendar, [r.clock() for r in store.open_clocks()])
    outbox = store.outbox_health()
    counts = Counter(case.state.value for case in store.cases())
    backlog, error = count_backlog(settings)
    return Snapshot(
        now=now,
        timezone=ZoneInfo(settings.deadlines.timezone),
        poll_seconds=settings.mailbox.poll_seconds,
        intake=_moment(store.state_get("heartbeat:intake")),
        tick=_moment(store.state_get("heartbeat:tick")),
        backlog=backlog,
        backlog_error=error,
        queued=outbox.queued,
        oldest_queued=outbox.oldest_queued,
        failed_at=outbox.failed_at,
        cases={state: counts.get(state, 0) for state in OPEN_STATES},
        due_today=len(sections.today),
        overdue=len(sections.overdue),
        security_txt_expires=settings.security_txt.expires,
        storage=storage_of(settings),
        quarantined_at=store.quarantined_at(),
    )


def storage_of(settings: Settings) -> Storage | None:
    """Free room and mount flags of the database's filesystem (None if it cannot be read)."""
    folder = settings.database.path.parent
    try:
        found = os.statvfs(folder)
    except OSError:
        return None
    return Storage(
        folder=str(folder),
        free=found.f_bavail * found.f_frsize,
        needed=2 * settings.limits.max_message_bytes + STORAGE_MARGIN,
        read_only=bool(found.f_flag & os.ST_RDONLY),
    )


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def count_backlog(settings: Settings) -> tuple[int | None, str]:
    """(messages waiting, "") or (None, why not): never raises for an unreachable mailbox."""
    try:
        box = _open_mailbox(settings)
        try:
            return box.count_pending(), ""
        finally:
            box.close()
    except MailbotError as exc:
        return None, str(exc)


def _open_mailbox(settings: Settings) -> Mailbox:
    """The configured mailbox, opened read-only in spirit: nothing is created or moved."""
    mb = settings.mailbox
    if mb.backend == "maildir":
        if mb.path is None:
            raise MailbotError("[mailbox] path is not set")
        return MaildirMailbox(mb.path, quarantine_folder=mb.quarantine_folder, create=False)
    from mailbot.shell.imap import ImapMailbox  # noqa: PLC0415 - imapclient only when used

    return ImapMailbox(mb, timeout=IMAP_TIMEOUT)

"""`mailbot status`: vital signs, what needs attention, exit codes (issue item 3)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dovecot import DovecotAccount
from factories import free_port, mailbot, status_snapshot, write_config

from mailbot.cli.status import (
    Snapshot,
    Storage,
    as_json,
    as_text,
    attention,
    count_backlog,
    gather,
)
from mailbot.core.config import MailboxSettings, Settings, from_mapping
from mailbot.core.models import OutgoingMail
from mailbot.core.secret import Secret
from mailbot.shell.imap import ImapMailbox
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.store import Store

NOW = datetime(2026, 12, 21, 9, 5, tzinfo=UTC)  # Monday, 10:05 in Amsterdam
TZ = ZoneInfo("Europe/Amsterdam")


def snapshot(**changes: Any) -> Snapshot:
    """A snapshot in which everything is fine, with `changes` applied."""
    return status_snapshot(**changes)


def test_all_fine_needs_no_attention() -> None:
    """Fresh heartbeats, nothing failed or stuck, nothing overdue: no attention lines."""
    assert attention(snapshot()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"intake": None}, "no intake pass recorded: is `mailbot run` running?"),
        (
            {"intake": NOW - timedelta(minutes=5, seconds=1)},
            "no intake pass for 5 min (last 2026-12-21T08:59:59+00:00, limit 5 min): "
            "is `mailbot run` running?",
        ),
        ({"tick": None}, "no scheduler tick recorded: is `mailbot run` running?"),
        (
            {"tick": NOW - timedelta(hours=2)},
            "no scheduler tick for 2 h 0 min (last 2026-12-21T07:05:00+00:00, limit 5 min): "
            "is `mailbot run` running?",
        ),
        (
            {"failed_at": (NOW - timedelta(days=1), NOW - timedelta(days=30))},
            "1 outgoing mail(s) failed in the last 7 days "
            "(see `mailbot case show` of their cases and the staff alerts)",
        ),
        (
            {"queued": 3, "oldest_queued": NOW - timedelta(minutes=61)},
            "3 mail(s) queued, the oldest for 1 h 1 min (since 2026-12-21T08:04:00+00:00): "
            "is the outbound server reachable?",
        ),
        ({"overdue": 2}, "2 deadline(s) overdue (see `mailbot deadlines`)"),
        (
            {"backlog": None, "backlog_error": "IMAP x:993: timed out after 5 s"},
            "mailbox unreachable: IMAP x:993: timed out after 5 s",
        ),
        (
            {"backlog": None, "backlog_error": "IMAP x:993: login failed for bot: no"},
            "mailbox login failed: IMAP x:993: login failed for bot: no (fix the password or "
            "token, then `systemctl reload mailbot`)",
        ),
        (
            {"storage": Storage("/var/lib/mailbot", 2**20, 3 * 2**20, False)},
            "storage: only 1.0 MB free on /var/lib/mailbot, a message may need 3.0 MB: "
            "reports wait in the mailbox until there is room",
        ),
        (
            {"storage": Storage("/var/lib/mailbot", 2**30, 3 * 2**20, True)},
            "storage: /var/lib/mailbot is mounted read-only: nothing can be recorded, "
            "reports wait in the mailbox",
        ),
        (
            {"security_txt_expires": date(2027, 1, 5)},
            "security.txt expires on 2027-01-05 (in 15 day(s)): set a later [security_txt] "
            "expires and regenerate it with `mailbot security-txt`",
        ),
    ],
)
def test_each_problem_gives_one_line_with_its_reason(
    changes: dict[str, Any], expected: str
) -> None:
    """Each condition of the issue, alone, gives exactly its own line."""
    assert attention(snapshot(**changes)) == [expected]


@pytest.mark.parametrize(
    "changes",
    [
        {"intake": NOW - timedelta(minutes=5)},
        {"tick": NOW - timedelta(minutes=5)},
        {"poll_seconds": 200, "intake": NOW - timedelta(minutes=10)},
        {"failed_at": (NOW - timedelta(days=7, seconds=1),)},
        {"queued": 1, "oldest_queued": NOW - timedelta(hours=1)},
        {"security_txt_expires": date(2027, 1, 21)},
        {"security_txt_expires": None},
        {"intake": NOW + timedelta(minutes=1)},
        {"storage": Storage("/var/lib/mailbot", 3 * 2**20, 3 * 2**20, False)},
    ],
)
def test_limits_themselves_are_still_fine(changes: dict[str, Any]) -> None:
    """At the limits (5 min, 3 x poll_seconds, 7 days, 1 hour, 31 days) nothing is raised."""
    assert attention(snapshot(**changes)) == []


def test_intake_limit_is_three_polls_when_longer_than_five_minutes() -> None:
    """With poll_seconds 200 the intake limit is 10 minutes, not 5."""
    late = snapshot(poll_seconds=200, intake=NOW - timedelta(minutes=10, seconds=1))
    assert attention(late) == [
        "no intake pass for 10 min (last 2026-12-21T08:54:59+00:00, limit 10 min): "
        "is `mailbot run` running?"
    ]


def test_json_document_has_the_issue_keys() -> None:
    """`status --json` carries heartbeat, backlog, outbox, cases, clocks, expiry, attention."""
    s = snapshot(failed_at=(NOW - timedelta(days=1), NOW - timedelta(days=30)), queued=2)
    s = replace(s, oldest_queued=NOW - timedelta(minutes=2))
    actual = as_json(s, ["a reason"])
    expected = {
        "now": "2026-12-21T09:05:00+00:00",
        "heartbeat": {"intake": "2026-12-21T09:04:55+00:00", "tick": "2026-12-21T09:04:20+00:00"},
        "backlog": 0,
        "backlog_error": None,
        "outbox": {
            "queued": 2,
            "failed": 2,
            "failed_last_7_days": 1,
            "oldest_queued": "2026-12-21T09:03:00+00:00",
        },
        "cases": {"new": 0, "acknowledged": 2, "investigating": 1, "confirmed": 0},
        "clocks": {"due_today": 1, "overdue": 0},
        "security_txt_expires": "2027-06-30",
        "storage": None,
        "quarantined": {"total": 0, "last_7_days": 0},
        "attention": ["a reason"],
    }
    assert actual == expected


def test_text_lists_vitals_and_each_reason() -> None:
    """The human text shows every vital sign and each reason, or `all fine`."""
    unknown = snapshot(backlog=None, backlog_error="IMAP x:993: connection refused")
    text = as_text(unknown, ["first reason", "second reason"])
    assert "  backlog:      unknown (IMAP x:993: connection refused)\n" in text
    assert "  open cases:   acknowledged 2, investigating 1\n" in text
    assert text.endswith("needs attention:\n  - first reason\n  - second reason\n")
    assert as_text(snapshot(), []).endswith("\nall fine\n")


# --- the backlog -------------------------------------------------------------------------


def test_maildir_count_pending_is_new_plus_unseen_cur(tmp_path: Path) -> None:
    """Maildir backlog: every file in new/ and those in cur/ without the S flag."""
    box = MaildirMailbox(tmp_path / "inbox")
    for n in range(2):
        deliver_to_maildir(box.path, f"Subject: {n}\r\n\r\nx\r\n".encode())
    (box.path / "cur" / "1.a.host:2,").write_bytes(b"Subject: unseen\r\n\r\nx\r\n")
    (box.path / "cur" / "2.b.host:2,FS").write_bytes(b"Subject: seen\r\n\r\nx\r\n")
    assert box.count_pending() == 3


def test_missing_maildir_backlog_is_unknown_and_nothing_is_created(tmp_path: Path) -> None:
    """status never creates the Maildir: the backlog is unknown with the reason."""
    settings = _settings(tmp_path)
    backlog, reason = count_backlog(settings)
    assert (backlog, f"{tmp_path / 'inbox'} is not a Maildir" in reason) == (None, True)
    assert not (tmp_path / "inbox").exists()


def test_unreachable_imap_backlog_is_unknown_with_reason(tmp_path: Path) -> None:
    """An IMAP server that refuses gives `unknown (reason)` at once, not an exception."""
    port = free_port()
    mailbox = MailboxSettings(
        backend="imap",
        host="127.0.0.1",
        port=port,
        security="plain",
        username="meldpunt",
        password=Secret("pw"),
    )
    settings = replace(_settings(tmp_path), mailbox=mailbox)
    started = time.monotonic()
    actual = count_backlog(settings)
    assert actual == (None, f"IMAP 127.0.0.1:{port}: connection refused")
    assert time.monotonic() - started < 5


@pytest.mark.dovecot
def test_imap_count_pending_examines_without_touching(dovecot: DovecotAccount) -> None:
    """IMAP backlog from EXAMINE: the count follows the folder and the mail stays pending."""
    for n in range(3):
        dovecot.append(f"Subject: {n}\r\n\r\nbody\r\n".encode(), NOW)
    settings = MailboxSettings(
        backend="imap",
        host=dovecot.host,
        port=dovecot.port,
        security="plain",
        username=dovecot.user,
        password=Secret(dovecot.password),
    )
    box = ImapMailbox(settings, timeout=5)
    try:
        before = box.count_pending()
        items = box.pending()
        box.mark_processed(items[0].key)
        after = box.count_pending()
        left = len(box.pending())
    finally:
        box.close()
    assert (before, len(items), after, left) == (3, 3, 2, 2)


# --- gathering from a real database ------------------------------------------------------


def _settings(base: Path, extra: dict[str, Any] | None = None) -> Settings:
    data: dict[str, Any] = {
        "identity": {"address": "meldpunt@gemeente.example"},
        "mailbox": {"path": "inbox"},
        "outbound": {"path": "outbox"},
        "database": {"path": "mailbot.db"},
        **(extra or {}),
    }
    return from_mapping(data, "<test>", base)


def _mail(n: int) -> OutgoingMail:
    return OutgoingMail(
        kind="acknowledgement",
        message_id=f"m{n}@gemeente.example",
        sender="meldpunt@gemeente.example",
        recipients=("jan@example.nl",),
        subject=f"mail {n}",
        raw=b"Subject: x\r\n\r\nx\r\n",
    )


def test_gather_reads_heartbeats_and_outbox(tmp_path: Path) -> None:
    """gather: heartbeats, queued and failed mail from the store; backlog from the Maildir."""
    settings = _settings(tmp_path, {"security_txt": {"expires": "2027-01-10"}})
    MaildirMailbox(tmp_path / "inbox")
    deliver_to_maildir(tmp_path / "inbox", b"Subject: waiting\r\n\r\nx\r\n")
    store = Store(settings.database.path)
    try:
        store.state_set("heartbeat:intake", (NOW - timedelta(seconds=3)).isoformat())
        store.state_set("heartbeat:tick", "not a moment")
        store.enqueue(_mail(1), NOW - timedelta(hours=2))
        store.enqueue(_mail(2), NOW - timedelta(days=2))
        store.outbox_update(2, status="failed")
        actual = gather(settings, store, NOW)
    finally:
        store.close()
    assert (actual.intake, actual.tick, actual.backlog) == (NOW - timedelta(seconds=3), None, 1)
    assert (actual.queued, actual.oldest_queued) == (1, NOW - timedelta(hours=2))
    assert actual.failed_at == (NOW - timedelta(days=2),)
    assert attention(actual) == [
        "no scheduler tick recorded: is `mailbot run` running?",
        "1 outgoing mail(s) failed in the last 7 days "
        "(see `mailbot case show` of their cases and the staff alerts)",
        "1 mail(s) queued, the oldest for 2 h 0 min (since 2026-12-21T07:05:00+00:00): "
        "is the outbound server reachable?",
        "security.txt expires on 2027-01-10 (in 20 day(s)): set a later [security_txt] "
        "expires and regenerate it with `mailbot security-txt`",
    ]


# --- the command line --------------------------------------------------------------------


def test_cli_status_exit_codes_for_monitoring(tmp_path: Path) -> None:
    """Exit 0 right after a pass; exit 1 with each reason when the daemon stopped long ago."""
    cfg = write_config(tmp_path)
    report = (
        b"From: Jan <jan@example.nl>\r\nTo: meldpunt@gemeente.example\r\n"
        b"Subject: Lek in portaal\r\nMessage-ID: <r1@example.nl>\r\n\r\n"
        b"Op https://portaal.gemeente.example staat een lek.\r\n"
    )
    deliver_to_maildir(tmp_path / "inbox", report, NOW - timedelta(hours=1))
    assert mailbot(cfg, "run", "--once", now=NOW.isoformat(), check=False).returncode == 0
    fine = mailbot(cfg, "status", "--json", now=NOW.isoformat(), check=False)
    later = mailbot(cfg, "status", "--json", now="2027-01-15T10:00:00+01:00", check=False)
    text = mailbot(cfg, "status", now="2027-01-15T10:00:00+01:00", check=False)
    assert (fine.returncode, later.returncode, text.returncode) == (0, 1, 1), fine.stderr
    doc = json.loads(fine.stdout)
    assert doc["heartbeat"] == {"intake": NOW.isoformat(), "tick": NOW.isoformat()}
    assert (doc["backlog"], doc["outbox"]["queued"], doc["attention"]) == (0, 0, [])
    assert doc["cases"]["acknowledged"] == 1
    reasons = json.loads(later.stdout)["attention"]
    assert [r.split(" for ")[0] for r in reasons[:2]] == ["no intake pass", "no scheduler tick"]
    assert reasons[2:] == ["2 deadline(s) overdue (see `mailbot deadlines`)"]
    assert all(f"  - {reason}\n" in text.stdout for reason in reasons)


def test_cli_status_bad_config_exits_2(tmp_path: Path) -> None:
    """A config error is exit 2, as for every command."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[identity]\naddress = "meldpunt@gemeente.example"\n[bogus]\n', "utf-8")
    result = mailbot(cfg, "status", now=NOW.isoformat(), check=False)
    assert (result.returncode, "unknown section [bogus]" in result.stderr) == (2, True)

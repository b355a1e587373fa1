"""`mailbot status --format prometheus`: the textfile collector's format, read back by the
`prometheus_client` parser (issue 15 item 6)."""

from __future__ import annotations

import json
import re
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from factories import mailbot, report, status_snapshot, write_config
from prometheus_client.parser import text_string_to_metric_families

from mailbot.cli.prometheus import escape_label, render
from mailbot.cli.status import CHECKS, Snapshot, Storage, attention
from mailbot.shell.mailbox import deliver_to_maildir

NOW = datetime(2026, 12, 21, 9, 5, tzinfo=UTC)  # Monday, 10:05 in Amsterdam
TZ = ZoneInfo("Europe/Amsterdam")

Samples = dict[str, list[tuple[dict[str, str], float]]]


def snapshot(**changes: Any) -> Snapshot:
    """A snapshot in which everything is fine, with mail queued, failed and quarantined,
    and `changes` applied."""
    busy = {
        "backlog": 3,
        "queued": 2,
        "oldest_queued": NOW - timedelta(minutes=2),
        "failed_at": (NOW - timedelta(days=1), NOW - timedelta(days=30)),
        "storage": Storage("/var/lib/mailbot", 5 * 2**30, 50 * 2**20, False),
        "quarantined_at": (NOW - timedelta(hours=3), NOW - timedelta(days=8)),
    }
    return status_snapshot(**{**busy, **changes})


def parsed(text: str) -> Samples:
    """Every family with its samples (labels, value), as Prometheus's own parser reads them."""
    return {
        family.name: [(dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def values(samples: Samples) -> dict[str, float]:
    """name → value of the families with exactly one unlabelled sample."""
    return {
        name: found[0][1] for name, found in samples.items() if len(found) == 1 and not found[0][0]
    }


def checks_of(samples: Samples) -> dict[str, float]:
    """check → value of mailbot_attention_check."""
    return {labels["check"]: value for labels, value in samples["mailbot_attention_check"]}


# --- render ------------------------------------------------------------------------------


def test_every_vital_sign_is_a_gauge_with_its_value() -> None:
    """A fine snapshot: each metric of the issue with the value the snapshot holds."""
    s = snapshot()
    samples = parsed(render(s, attention(s)))
    expected = {
        "mailbot_status_timestamp_seconds": NOW.timestamp(),
        "mailbot_intake_heartbeat_age_seconds": 5,
        "mailbot_intake_heartbeat_limit_seconds": 300,
        "mailbot_tick_heartbeat_age_seconds": 40,
        "mailbot_tick_heartbeat_limit_seconds": 300,
        "mailbot_mailbox_up": 1,
        "mailbot_backlog_messages": 3,
        "mailbot_messages_quarantined": 2,
        "mailbot_messages_quarantined_last_7_days": 1,
        "mailbot_outbox_queued_mails": 2,
        "mailbot_outbox_oldest_queued_age_seconds": 120,
        "mailbot_outbox_failed_mails": 2,
        "mailbot_outbox_failed_last_7_days_mails": 1,
        "mailbot_clocks_due_today": 1,
        "mailbot_clocks_overdue": 0,
        # 2027-06-30 23:59:59 in Amsterdam (CEST, UTC+2)
        "mailbot_security_txt_expiry_timestamp_seconds": datetime(
            2027, 6, 30, 21, 59, 59, tzinfo=UTC
        ).timestamp(),
        "mailbot_storage_free_bytes": 5 * 2**30,
        "mailbot_storage_needed_bytes": 50 * 2**20,
        "mailbot_storage_read_only": 0,
        "mailbot_attention": 1,  # one failed mail in the last 7 days
    }
    assert values(samples) == expected
    assert samples["mailbot_cases_open"] == [
        ({"state": "new"}, 0),
        ({"state": "acknowledged"}, 2),
        ({"state": "investigating"}, 1),
        ({"state": "confirmed"}, 0),
    ]


def test_each_family_has_help_and_type_gauge_before_its_samples() -> None:
    """The text: `# HELP`, `# TYPE name gauge`, then only that family's samples; names
    `mailbot_` + snake case; no NaN, no timestamps; one newline at the end."""
    s = snapshot(intake=None, backlog=None, backlog_error="timed out")
    text = render(s, attention(s))
    families: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            families.append(line.split()[2])
        elif line.startswith("# TYPE "):
            assert line == f"# TYPE {families[-1]} gauge"
        else:
            sample = re.fullmatch(r"([a-z_0-9]+)(?:\{.*\})? (\S+)", line)
            assert sample is not None, line
            assert (sample[1], sample[2].lower() != "nan") == (families[-1], True)
    assert all(re.fullmatch(r"mailbot_[a-z0-9_]+", name) for name in families)
    assert (len(families), len(set(families)), text.endswith("\n\n")) == (23, 23, False)


def test_unknown_values_are_left_out_not_nan() -> None:
    """No heartbeat, an unreachable mailbox, nothing queued, no statvfs, no expiry: those
    families have no sample, and mailbot_mailbox_up is 0."""
    s = snapshot(
        intake=None,
        tick=None,
        backlog=None,
        backlog_error="IMAP x:993: connection refused",
        queued=0,
        oldest_queued=None,
        storage=None,
        security_txt_expires=None,
    )
    samples = parsed(render(s, attention(s)))
    empty = sorted(name for name, found in samples.items() if not found)
    assert empty == [
        "mailbot_backlog_messages",
        "mailbot_intake_heartbeat_age_seconds",
        "mailbot_outbox_oldest_queued_age_seconds",
        "mailbot_security_txt_expiry_timestamp_seconds",
        "mailbot_storage_free_bytes",
        "mailbot_storage_needed_bytes",
        "mailbot_storage_read_only",
        "mailbot_tick_heartbeat_age_seconds",
    ]
    assert values(samples)["mailbot_mailbox_up"] == 0


def test_all_fine_gives_attention_0_and_every_check_0() -> None:
    """Nothing wrong: mailbot_attention 0, each of the 8 checks 0, no reason samples."""
    s = snapshot(failed_at=())
    samples = parsed(render(s, attention(s)))
    actual = (
        values(samples)["mailbot_attention"],
        checks_of(samples),
        samples["mailbot_attention_reason"],
    )
    assert actual == (0, dict.fromkeys(CHECKS, 0), [])


@pytest.mark.parametrize(
    ("check", "changes"),
    [
        ("storage", {"storage": Storage("/var/lib/mailbot", 2**20, 3 * 2**20, False)}),
        ("mailbox", {"backlog": None, "backlog_error": "IMAP x:993: timed out after 5 s"}),
        ("intake", {"intake": NOW - timedelta(minutes=6)}),
        ("tick", {"tick": None}),
        ("outbox_failed", {"failed_at": (NOW - timedelta(days=1),)}),
        ("outbox_queued", {"queued": 1, "oldest_queued": NOW - timedelta(hours=2)}),
        ("clocks_overdue", {"overdue": 2}),
        ("security_txt", {"security_txt_expires": date(2027, 1, 5)}),
    ],
)
def test_each_problem_sets_its_own_check_and_reason(check: str, changes: dict[str, Any]) -> None:
    """One problem: its check 1, the others 0, and one reason sample with the status line."""
    s = snapshot(**{"failed_at": (), **changes})
    reasons = attention(s)
    samples = parsed(render(s, reasons))
    expected_checks = {name: int(name == check) for name in CHECKS}
    actual = (checks_of(samples), samples["mailbot_attention_reason"])
    assert actual == (expected_checks, [({"check": check, "reason": reasons[0]}, 1)])


def test_reason_with_quotes_backslashes_and_newlines_survives_the_parser() -> None:
    """Label values are escaped as the format wants: the parser gives back the very text."""
    error = 'IMAP "x":993: C:\\path\nsecond line'
    s = snapshot(failed_at=(), backlog=None, backlog_error=error)
    samples = parsed(render(s, attention(s)))
    expected = [({"check": "mailbox", "reason": f"mailbox unreachable: {error}"}, 1)]
    assert samples["mailbot_attention_reason"] == expected
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_fractional_ages_keep_their_fraction() -> None:
    """An age of 2.5 s is written 2.5; whole numbers without a fraction."""
    s = snapshot(intake=NOW - timedelta(seconds=2, milliseconds=500))
    text = render(s, attention(s))
    lines = {line.split()[0]: line.split()[1] for line in text.splitlines() if line[0] != "#"}
    actual = (lines["mailbot_intake_heartbeat_age_seconds"], lines["mailbot_backlog_messages"])
    assert actual == ("2.5", "3")


# --- the command line ----------------------------------------------------------------------


def _big_report() -> bytes:
    """A report over the 4,000-byte limit of the test config: quarantined."""
    return report(2, body="Lek. " + "x" * 6000)


def test_cli_writes_the_textfile_0644_and_exits_0_also_when_attention_is_needed(
    tmp_path: Path,
) -> None:
    """After a pass: quarantined 1, backlog 0, all fine; weeks later: exit 0 still, with
    attention 1 and the intake, tick and overdue checks set; the file is mode 0644."""
    cfg = write_config(tmp_path, limits={"max_message_bytes": 4000})
    deliver_to_maildir(tmp_path / "inbox", report(1), NOW - timedelta(hours=1))
    deliver_to_maildir(tmp_path / "inbox", _big_report(), NOW - timedelta(hours=1))
    mailbot(cfg, "run", "--once", now=NOW.isoformat())
    target = tmp_path / "textfile" / "mailbot.prom"
    target.parent.mkdir()
    fine = mailbot(
        cfg, "status", "--format", "prometheus", "--output", str(target), now=NOW.isoformat()
    )
    samples = parsed(target.read_text())
    later = mailbot(cfg, "status", "--format", "prometheus", now="2027-01-15T10:00:00+01:00")
    late = parsed(later.stdout)
    assert (fine.stdout, stat.S_IMODE(target.stat().st_mode)) == ("", 0o644)
    first = values(samples)
    actual = {
        key: first[key]
        for key in (
            "mailbot_messages_quarantined",
            "mailbot_backlog_messages",
            "mailbot_mailbox_up",
            "mailbot_intake_heartbeat_age_seconds",
            "mailbot_outbox_queued_mails",
            "mailbot_attention",
        )
    }
    assert actual == {
        "mailbot_messages_quarantined": 1,
        "mailbot_backlog_messages": 0,
        "mailbot_mailbox_up": 1,
        "mailbot_intake_heartbeat_age_seconds": 0,
        "mailbot_outbox_queued_mails": 0,
        "mailbot_attention": 0,
    }
    assert ({"state": "acknowledged"}, 1) in samples["mailbot_cases_open"]
    failing = sorted(name for name, value in checks_of(late).items() if value)
    quarantined = (
        values(late)["mailbot_messages_quarantined"],
        values(late)["mailbot_messages_quarantined_last_7_days"],
    )
    assert (values(late)["mailbot_attention"], failing, quarantined) == (
        1,
        ["clocks_overdue", "intake", "tick"],
        (1, 0),
    )


def test_cli_json_and_text_carry_the_quarantined_count(tmp_path: Path) -> None:
    """`status --json` has quarantined.total and .last_7_days; the text a quarantined line."""
    cfg = write_config(tmp_path, limits={"max_message_bytes": 4000})
    deliver_to_maildir(tmp_path / "inbox", _big_report(), NOW - timedelta(hours=1))
    mailbot(cfg, "run", "--once", now=NOW.isoformat())
    doc = mailbot(cfg, "status", "--json", now=NOW.isoformat(), check=False)
    text = mailbot(cfg, "status", now=NOW.isoformat(), check=False)
    actual = (
        json.loads(doc.stdout)["quarantined"],
        "  quarantined:  1 message(s) (1 in the last 7 days)\n" in text.stdout,
    )
    assert actual == ({"total": 1, "last_7_days": 1}, True)

"""Human output of the inspection commands is in `[deadlines] timezone` with its offset;
JSON keeps ISO 8601 with offset (issue 16, item 2)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import mailbot, report, write_config

from mailbot.shell.mailbox import deliver_to_maildir

WINTER = datetime(2025, 12, 15, 9, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam (+01:00)
SUMMER = datetime(2025, 6, 16, 8, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam (+02:00)
UTC_LOOK = re.compile(r"\d{2}:\d{2}Z\b")


def recorded(tmp_path: Path, received: datetime, now: str) -> Path:
    """One report received at `received`, recorded by `run --once` at `now`."""
    cfg = write_config(tmp_path)
    deliver_to_maildir(tmp_path / "inbox", report(1), received)
    mailbot(cfg, "run", "--once", now=now)
    return cfg


@pytest.mark.parametrize(
    ("received", "now", "ack_due", "response_due"),
    [
        (WINTER, "2025-12-15T10:05:00+01:00", "2025-12-16 17:00+01:00", "2025-12-22 17:00+01:00"),
        (SUMMER, "2025-06-16T10:05:00+02:00", "2025-06-17 17:00+02:00", "2025-06-23 17:00+02:00"),
    ],
)
def test_human_output_is_local_with_offset(
    tmp_path: Path, received: datetime, now: str, ack_due: str, response_due: str
) -> None:
    """cases, deadlines, messages, case show and message show print the office's wall clock
    (17:00 for a 17:00 deadline) with its offset, never a UTC `…Z` time."""
    cfg = recorded(tmp_path, received, now)
    outputs = {
        args: mailbot(cfg, *args, now=now).stdout
        for args in (
            ("cases",),
            ("deadlines",),
            ("messages",),
            ("case", "show", "MK-2025-0001"),
            ("message", "show", "r1@example.nl"),
        )
    }
    assert {args: UTC_LOOK.findall(text) for args, text in outputs.items()} == {
        args: [] for args in outputs
    }
    received_local = f"{now[:10]} 10:00{now[-6:]}"
    shown = outputs[("case", "show", "MK-2025-0001")]
    assert [
        ack_due in outputs[("cases",)],
        response_due in outputs[("deadlines",)],
        f"received:  {received_local}" in shown,
        f"ack due:   {ack_due}" in shown,
        received_local in outputs[("messages",)],
        f"received:    {received_local}" in outputs[("message", "show", "r1@example.nl")],
    ] == [True] * 6


def test_json_keeps_iso_with_offset(tmp_path: Path) -> None:
    """`cases --json` times stay ISO 8601 with an offset, the same moments as before."""
    cfg = recorded(tmp_path, WINTER, "2025-12-15T10:05:00+01:00")
    case = json.loads(mailbot(cfg, "cases", "--json").stdout)[0]
    due = datetime.fromisoformat(case["ack_due"])
    assert (due.utcoffset() is not None, due) == (True, datetime(2025, 12, 16, 16, 0, tzinfo=UTC))

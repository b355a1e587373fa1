"""`mailbot release REF [--max-bytes N]` (issue 15, item 3): a genuine report held in
quarantine for its size is processed the same day, with its original receipt moment;
quarantine itself still never mails anyone outside."""

from __future__ import annotations

import email.message
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import (
    RECEIVED,
    STAFF,
    daemon,
    mailbot,
    report,
    sent,
    wait_for,
    write_config,
)

from mailbot.core import config
from mailbot.core.classify import Rules
from mailbot.core.errors import StillQuarantined
from mailbot.core.release import Release
from mailbot.mail.rendering import Renderer
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MailboxItem, deliver_to_maildir
from mailbot.shell.pipeline import calendar_for
from mailbot.shell.recording import Recorder
from mailbot.store import Store

LIMIT = 4000
POC = "Proof of concept:\n" + "A" * 70 + "\n"


def big_report(n: int = 1) -> bytes:
    """Report `n` with a proof of concept that takes it over LIMIT bytes."""
    return report(n, body="Op https://portaal.gemeente.example staat een lek.\n" + POC * 80)


def to_reporter(base: Path) -> list[email.message.EmailMessage]:
    """Mails sent to the reporter of report 1."""
    return [m for m in sent(base) if "melder1@example.nl" in str(m["To"])]


@pytest.fixture
def held(tmp_path: Path) -> Path:
    """A config whose size limit is LIMIT, with report 1 over it in quarantine."""
    cfg = write_config(tmp_path, limits={"max_message_bytes": LIMIT})
    deliver_to_maildir(tmp_path / "inbox", big_report(), RECEIVED)
    mailbot(cfg, "run", "--once")
    assert [m["disposition"] for m in json.loads(mailbot(cfg, "messages", "--json").stdout)] == [
        "quarantined"
    ]
    return cfg


def sha_prefix(cfg: Path) -> str:
    """The first 16 hex digits of the quarantined message's sha256."""
    return str(json.loads(mailbot(cfg, "messages", "--json").stdout)[0]["sha256"])[:16]


def test_quarantine_alert_names_the_release_command(held: Path) -> None:
    """The staff alert of an oversized report says the exact command that releases it, with
    the sender, subject and size; the reporter gets nothing."""
    size = len(big_report())
    alert = next(m for m in sent(held.parent) if STAFF in str(m["To"]))
    text = alert.get_content()
    assert f"mailbot release {sha_prefix(held)} --max-bytes {size}" in text
    dutch_size = f"{size:,} bytes".replace(",", ".")  # the staff language groups digits
    assert ("melder1@example.nl" in text, "Melding 1" in text, dutch_size in text) == (
        True,
        True,
        True,
    )
    assert to_reporter(held.parent) == []


def test_release_over_the_limit_needs_max_bytes(held: Path) -> None:
    """Without --max-bytes an oversized message is not released: exit 2 naming its size and
    the option to add."""
    refused = mailbot(held, "release", sha_prefix(held), check=False)
    assert refused.returncode == 2
    assert f"--max-bytes {len(big_report())}" in refused.stderr


def test_release_makes_a_case_with_original_receipt_and_flag(held: Path) -> None:
    """Released with --max-bytes: a case received at the original moment, flagged
    `oversized`, acknowledged at the next outbox flush, the release in its audit log."""
    out = mailbot(held, "release", sha_prefix(held), "--max-bytes", "100000")
    assert out.stdout.splitlines()[0] == (
        "released <r1@example.nl>: new_case MK-2025-0001 (flag oversized)"
    )
    mailbot(held, "run", "--once")
    case = json.loads(mailbot(held, "case", "show", "MK-2025-0001", "--json").stdout)
    assert (case["received_at"], "oversized" in case["flags"]) == (RECEIVED.isoformat(), True)
    released = [e for e in case["events"] if e["kind"] == "released"]
    assert [e["actor"].startswith("cli:") for e in released] == [True]
    assert len(to_reporter(held.parent)) == 1
    statuses = [m["disposition"] for m in json.loads(mailbot(held, "messages", "--json").stdout)]
    assert statuses == ["new_case"]


def test_release_of_a_message_not_quarantined_is_refused(held: Path) -> None:
    """A message that is not in quarantine (released already) cannot be released again."""
    mailbot(held, "release", sha_prefix(held), "--max-bytes", "100000")
    again = mailbot(held, "release", sha_prefix(held), "--max-bytes", "100000", check=False)
    assert (again.returncode, "is not quarantined" in again.stderr) == (2, True)


def test_release_of_an_unknown_reference_is_refused(held: Path) -> None:
    """An unknown REF: exit 2, one line."""
    refused = mailbot(held, "release", "deadbeefdeadbeef", check=False)
    assert (refused.returncode, refused.stderr.count("\n")) == (2, 1)


def test_running_daemon_sends_the_released_acknowledgement(tmp_path: Path) -> None:
    """With the daemon running, a release gets the reporter acknowledged within seconds."""
    cfg = write_config(tmp_path, limits={"max_message_bytes": LIMIT})
    with daemon(cfg) as running:
        deliver_to_maildir(tmp_path / "inbox", big_report(), RECEIVED)
        running.wait_event("message_handled")
        out = mailbot(cfg, "release", sha_prefix(cfg), "--max-bytes", "100000")
        assert "the running daemon sends its mail within seconds" in out.stdout
        wait_for(lambda: len(to_reporter(tmp_path)) == 1, 15, "the acknowledgement")


def limited(base: Path) -> Recorder:
    """A recorder on the embedded settings with a size limit of LIMIT bytes."""
    embedded = config.embedded(base)
    settings = replace(embedded, limits=replace(embedded.limits, max_message_bytes=LIMIT))
    clock = ManualClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    return Recorder(
        settings,
        Store(settings.database.path),
        clock,
        Renderer(None),
        calendar_for(settings),
        Rules.from_settings(settings),
    )


def test_still_quarantined_changes_nothing(tmp_path: Path) -> None:
    """A release under which the message would be quarantined again raises and leaves the
    quarantined record as it was."""
    recorder = limited(tmp_path)
    raw = big_report()
    item = MailboxItem("k", raw, recorder.clock.now() - timedelta(hours=1), len(raw), "here")
    recorder.record(item)
    row = recorder.store.messages()[0]
    with pytest.raises(StillQuarantined):
        recorder.record(item, Release(row.id, "cli:test", row.reason, len(raw), LIMIT))
    assert [(m.id, m.disposition) for m in recorder.store.messages()] == [(row.id, "quarantined")]

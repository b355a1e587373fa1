"""`mailbot restore BACKUP` (issue 15, item 1): a backup put back never hands out a case
number twice and never acknowledges a reporter twice.

Maildir in and out through the command line (fast), and once end to end against Dovecot
and aiosmtpd (backup → 3 reports → restore → 1 report).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SmtpTestServer
from dovecot import DovecotAccount
from factories import (
    RECEIVED,
    STAFF,
    acks_per_report,
    daemon,
    mailbot,
    report,
    write_config,
)

from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.store.highwater import mark_path

LATER = "2025-12-15T11:00:00+01:00"
"""An hour after factories.NOW: every retry delay has passed."""


def deliver(base: Path, n: int, subject: str = "Melding {n}: lek in portaal") -> None:
    """Report `n` into base/inbox, received `n` minutes after RECEIVED."""
    deliver_to_maildir(base / "inbox", report(n, subject=subject), RECEIVED + timedelta(minutes=n))


def case_ids(cfg: Path) -> list[str]:
    """Every case id, oldest first."""
    return [c["id"] for c in json.loads(mailbot(cfg, "cases", "--all", "--json").stdout)]


def acks(base: Path) -> Counter[str]:
    """How many acknowledgements each report got in base/outbox, by the report's Message-ID."""
    found: Counter[str] = Counter()
    for path in (base / "outbox" / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if STAFF not in str(msg["To"]) and msg["In-Reply-To"]:
            found[str(msg["In-Reply-To"])] += 1
    return found


def outbox_files(base: Path) -> int:
    """How many mails the Maildir transport wrote."""
    return len(list((base / "outbox" / "new").iterdir()))


@pytest.fixture
def lost(tmp_path: Path) -> Path:
    """Report 1 recorded, backed up to tmp_path/backup.db; then reports 2 to 4 recorded and
    acknowledged. Returns the config."""
    cfg = write_config(tmp_path)
    deliver(tmp_path, 1)
    mailbot(cfg, "run", "--once")
    mailbot(cfg, "backup", str(tmp_path / "backup.db"))
    for n in (2, 3, 4):
        deliver(tmp_path, n)
    mailbot(cfg, "run", "--once")
    assert case_ids(cfg) == [f"MK-2025-000{n}" for n in (1, 2, 3, 4)]
    return cfg


def test_restore_gives_cases_back_their_numbers_and_sends_nothing(lost: Path) -> None:
    """After a restore the three later reports have their numbers again, nothing is sent,
    and the next report gets a fifth number; every reporter was acknowledged once."""
    base = lost.parent
    before = outbox_files(base)
    done = mailbot(lost, "restore", str(base / "backup.db"))
    assert outbox_files(base) == before
    assert "re-recorded 3 message(s)" in done.stdout
    assert case_ids(lost) == [f"MK-2025-000{n}" for n in (1, 2, 3, 4)]
    deliver(base, 5)
    mailbot(lost, "run", "--once")
    assert case_ids(lost) == [f"MK-2025-000{n}" for n in (1, 2, 3, 4, 5)]
    assert acks(base) == Counter({f"<r{n}@example.nl>": 1 for n in range(1, 6)})


def test_restored_cases_are_acknowledged_not_overdue(lost: Path) -> None:
    """The re-recorded cases count as acknowledged at their original sending: no clock
    of theirs asks for an acknowledgement again."""
    mailbot(lost, "restore", str(lost.parent / "backup.db"))
    cases = json.loads(mailbot(lost, "cases", "--all", "--json").stdout)
    assert [(c["id"], c["state"], c["acknowledged_at"] is not None) for c in cases] == [
        (f"MK-2025-000{n}", "acknowledged", True) for n in (1, 2, 3, 4)
    ]
    clocks = json.loads(mailbot(lost, "deadlines", "--json").stdout)
    assert [c for c in clocks if c["clock"] == "ack_due"] == []


def test_replaced_database_is_kept_beside_it(lost: Path) -> None:
    """The database a restore replaces stays beside it, with the four cases it had."""
    base = lost.parent
    mailbot(lost, "restore", str(base / "backup.db"))
    kept = [p.name for p in base.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1
    assert kept[0].startswith("mailbot.db.before-restore-")


def test_missing_processed_mail_still_never_reuses_a_number(lost: Path) -> None:
    """With the filed mail gone, nothing can be re-recorded, but the next report still gets
    a number above every number handed out (the high-water mark beside the database)."""
    base = lost.parent
    shutil.rmtree(base / "inbox" / "cur")
    (base / "inbox" / "cur").mkdir()
    mailbot(lost, "restore", str(base / "backup.db"))
    deliver(base, 5)
    mailbot(lost, "run", "--once")
    assert case_ids(lost) == ["MK-2025-0001", "MK-2025-0005"]


def test_database_copied_back_by_hand_is_caught_at_start(lost: Path) -> None:
    """A backup copied over the database with `cp` (no restore): the next run still hands out
    a new number above the mark, and says so in the log."""
    base = lost.parent
    for suffix in ("", "-wal", "-shm"):
        Path(f"{base / 'mailbot.db'}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base / "backup.db", base / "mailbot.db")
    deliver(base, 5)
    run = mailbot(lost, "run", "--once")
    assert case_ids(lost) == ["MK-2025-0001", "MK-2025-0005"]
    assert '"case_numbers_behind"' in run.stderr


def test_forged_tag_in_later_mail_cannot_push_the_sequence(tmp_path: Path) -> None:
    """A subject naming MK-2025-9999 in mail after the backup does not move the next number
    there: a tag counts only up to what the re-recorded mail could have created."""
    cfg = write_config(tmp_path)
    deliver(tmp_path, 1)
    mailbot(cfg, "run", "--once")
    mailbot(cfg, "backup", str(tmp_path / "backup.db"))
    deliver(tmp_path, 2, subject="Re: [MK-2025-9999] lek")
    mailbot(cfg, "run", "--once")
    mark_path(tmp_path / "mailbot.db").unlink()
    mailbot(cfg, "restore", str(tmp_path / "backup.db"))
    deliver(tmp_path, 3)
    mailbot(cfg, "run", "--once")
    assert case_ids(cfg) == ["MK-2025-0001", "MK-2025-0002", "MK-2025-0003"]


def test_mail_queued_in_the_backup_is_not_sent_again(tmp_path: Path) -> None:
    """An acknowledgement still queued when the backup was made (and sent afterwards) is
    settled as sent by the restore, not sent a second time."""
    cfg = write_config(tmp_path, outbound={"transport": "maildir", "path": "unreachable"})
    (tmp_path / "unreachable").write_text("a file where the outbox folder should be")
    deliver(tmp_path, 1)
    mailbot(cfg, "run", "--once")  # recorded; the transport fails, the mail stays queued
    mailbot(cfg, "backup", str(tmp_path / "backup.db"))
    (tmp_path / "unreachable").unlink()
    mailbot(cfg, "run", "--once", now=LATER)  # past the retry delay: sent now
    sent_before = len(list((tmp_path / "unreachable" / "new").iterdir()))
    done = mailbot(cfg, "restore", str(tmp_path / "backup.db"), now=LATER)
    mailbot(cfg, "run", "--once", now=LATER)
    with sqlite3.connect(tmp_path / "backup.db") as backup:
        queued = backup.execute("SELECT COUNT(*) FROM outbox WHERE status = 'queued'")
        was_queued = queued.fetchone()[0]
    after = len(list((tmp_path / "unreachable" / "new").iterdir()))
    assert (after, f"not sent again: {was_queued}\n" in done.stdout) == (sent_before, True)
    assert was_queued >= 2  # the acknowledgement and the staff notice at least


def test_restore_refused_while_the_daemon_runs(tmp_path: Path) -> None:
    """`mailbot restore` while `mailbot run` uses the database: exit 2, one line, nothing
    replaced."""
    cfg = write_config(tmp_path)
    deliver(tmp_path, 1)
    mailbot(cfg, "run", "--once")
    mailbot(cfg, "backup", str(tmp_path / "backup.db"))
    with daemon(cfg):
        refused = mailbot(cfg, "restore", str(tmp_path / "backup.db"), check=False)
    assert (refused.returncode, refused.stderr.count("\n")) == (2, 1)
    assert "stop it first" in refused.stderr
    assert [p.name for p in tmp_path.iterdir() if "before-restore" in p.name] == []


def test_restore_refuses_what_is_not_a_mailbot_backup(tmp_path: Path) -> None:
    """A file that is not a mailbot database is refused by name before anything changes."""
    cfg = write_config(tmp_path)
    deliver(tmp_path, 1)
    mailbot(cfg, "run", "--once")
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database")
    refused = mailbot(cfg, "restore", str(bogus), check=False)
    assert refused.returncode == 2
    assert str(bogus) in refused.stderr
    assert case_ids(cfg) == ["MK-2025-0001"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_restore_keeps_owner_and_mode(lost: Path) -> None:
    """Run as root, the restored database keeps the owner and mode of the one it replaces
    (the daemon's user must still open it)."""
    db = lost.parent / "mailbot.db"
    os.chown(db, 65534, 65534)
    db.chmod(0o640)
    mailbot(lost, "restore", str(lost.parent / "backup.db"))
    st = db.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o640)


@pytest.mark.dovecot
def test_restore_end_to_end_with_dovecot(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    """Backup → 3 reports → restore → 1 report, over IMAP and SMTP: four distinct new
    numbers after the first, each reporter acknowledged exactly once."""
    cfg = write_config(tmp_path, dovecot, smtp_server)
    dovecot.append(report(1), RECEIVED)
    mailbot(cfg, "run", "--once")
    mailbot(cfg, "backup", str(tmp_path / "backup.db"))
    for n in (2, 3, 4):
        dovecot.append(report(n), RECEIVED + timedelta(seconds=n))
    mailbot(cfg, "run", "--once")
    sent_before = len(smtp_server.messages)
    done = mailbot(cfg, "restore", str(tmp_path / "backup.db"))
    assert "re-recorded 3 message(s)" in done.stdout
    assert len(smtp_server.messages) == sent_before
    dovecot.append(report(5), RECEIVED + timedelta(seconds=5))
    mailbot(cfg, "run", "--once")
    assert case_ids(cfg) == [f"MK-2025-000{n}" for n in (1, 2, 3, 4, 5)]
    assert acks_per_report(smtp_server) == Counter({f"<r{n}@example.nl>": 1 for n in range(1, 6)})


def test_restore_with_unreachable_mailbox_replaces_nothing(lost: Path) -> None:
    """When the filed mail cannot be read (the mailbox is gone), the restore exits 1 before
    replacing anything: the database still has all four cases."""
    base = lost.parent
    shutil.rmtree(base / "inbox")
    (base / "inbox").write_text("not a Maildir")
    refused = mailbot(lost, "restore", str(base / "backup.db"), check=False)
    assert (refused.returncode, refused.stderr.count("\n")) == (1, 1)
    assert [p.name for p in base.iterdir() if "before-restore" in p.name] == []
    assert case_ids(lost) == [f"MK-2025-000{n}" for n in (1, 2, 3, 4)]

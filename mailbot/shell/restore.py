"""`mailbot restore BACKUP`: put a backup in the database's place, then re-record what
intake filed after it, sending nothing again (DESIGN.md §11, issue 15).

1. Refused while anything uses the database (`runlock.alone`): the daemon, `run --once`,
   a writing command.
2. The backup is checked (`quick_check`, mailbot's tables, not newer than this mailbot) and
   copied into place with the database's owner and mode; the database it replaces is kept
   beside it as `<name>.before-restore-<moment>`.
3. Mail the backup still had queued was sent while the old database lived: it is settled
   as sent (acknowledgement clocks met) and never sent again. It is listed.
4. The messages in the processed and quarantine folders received at or after the backup's
   last intake and not in the backup are recorded again, in their order of receipt, each
   at its own receipt moment: cases get back the numbers their reporters already have, and
   every mail they cause is settled as sent before the restore, not sent.
5. The sequence never goes back: each year's floor is raised to the highest number known
   from the high-water mark beside the database (`store.highwater`), the replaced database
   (when readable) and the case tags in the re-recorded mail (only those a case created
   since the backup could have).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mailbot.core.cases import find_tags, format_tag
from mailbot.core.config import Settings
from mailbot.core.errors import MailboxUnavailable, RestoreIncomplete, UserError
from mailbot.mail import parsing
from mailbot.shell import runlock
from mailbot.shell.archive import archived_since
from mailbot.shell.clock import ManualClock
from mailbot.shell.keys import load_key
from mailbot.shell.pipeline import Service
from mailbot.shell.recording import Outcome
from mailbot.shell.wiring import build_mailbox
from mailbot.store import Store
from mailbot.store.backup import check_backup, put_in_place
from mailbot.store.highwater import raise_mark, read_mark

SENT_BEFORE = "sent before the restore; not sent again"
_NUMBER = re.compile(r"-([0-9]{4})-([0-9]+)$")


class AlreadySent:
    """A transport for mail that left before the restore: accepts each, sends nothing."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Count the mail; it went out while the replaced database lived."""
        self.count += 1

    async def check(self) -> list[str]:
        """Nothing to reach."""
        return []

    async def close(self) -> None:
        """Nothing to release."""


@dataclass
class Restored:
    """What one restore did (printed by the command)."""

    database: Path
    backup: Path
    aside: Path | None = None
    since: datetime | None = None
    presumed: list[tuple[str | None, str, tuple[str, ...]]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    floors: dict[int, int] = field(default_factory=dict)
    """Year → the highest number no new case may get again."""

    def text(self, prefix: str) -> str:
        """Human lines: what was put where, re-recorded and settled, and the next numbers."""
        lines = [f"restored {self.backup} to {self.database}"]
        if self.aside is not None:
            lines.append(f"  the replaced database is kept as {self.aside}")
        since = self.since.isoformat() if self.since else "the beginning"
        lines.append(f"  re-recorded {len(self.outcomes)} message(s) filed since {since}:")
        lines += [
            f"    {o.disposition.value:<12} {o.case_id or '-':<16} <{o.message_id or '-'}>"
            for o in self.outcomes
        ]
        lines.append(f"  settled as sent before the restore, not sent again: {len(self.presumed)}")
        lines += [
            f"    {case or '-':<16} {kind:<20} {', '.join(to)}" for case, kind, to in self.presumed
        ]
        for year, seq in sorted(self.floors.items()):
            lines.append(f"  next case number of {year}: {format_tag(prefix, year, seq + 1)}")
        return "\n".join(lines) + "\n"


def restore(settings: Settings, backup: Path, now: datetime, actor: str) -> Restored:
    """Restore `backup` over the database of `settings` (see the module's steps)."""
    database = settings.database.path
    check_backup(backup)
    with runlock.alone(database):
        box = build_mailbox(settings)
        box.check()  # the filed mail must be readable before anything is replaced
        earlier = _known_numbers(database)
        result = Restored(database, backup)
        result.aside = put_in_place(backup, database, now.strftime("%Y%m%dT%H%M%SZ"))
        store = Store(database)
        store.keeps_mark = False  # re-recorded cases take back their own numbers
        clock = ManualClock(now)
        key = load_key(settings.openpgp, now)  # encrypted reports are read again
        service = Service(settings, store, box, AlreadySent(), clock, key=key)
        try:
            after_id = store.last_outbox_id()
            queued = _settle_queued(service, clock)
            result.since = store.last_intake()
            try:
                result.outcomes, tags = _replay(service, clock, result.since)
            except MailboxUnavailable as exc:
                raise RestoreIncomplete(
                    f"{backup} is in place, but the filed mail after it could not all be"
                    f" read ({exc}): run `mailbot restore {backup}` again once the mailbox"
                    " answers (until then, do not start mailbot)"
                ) from exc
            result.presumed = store.note_sent_before(queued, after_id, SENT_BEFORE)
            result.floors = _raise_floors(store, earlier, tags, len(result.outcomes))
            clock.set(now)
            detail = f"from {backup}: {len(result.outcomes)} message(s) re-recorded"
            with store.transaction():
                store.add_event(None, now, actor, "restored", detail)
        finally:
            service.close()
    return result


def _known_numbers(database: Path) -> dict[int, int]:
    """The highest number per year of the database about to be replaced, where readable."""
    if not database.exists():
        return {}
    try:
        old = Store(database, read_only=True)
    except UserError:
        return {}  # damaged or older: the mark and the tags still count
    try:
        return old.highest_sequences()
    except Exception:
        return {}
    finally:
        old.close()


def _settle_queued(service: Service, clock: ManualClock) -> list[int]:
    """Settle the mail the backup had queued as sent, each at the moment it was due."""
    queued = service.store.queued_mail()
    for _, due in queued:
        clock.set(due)
        asyncio.run(service.deliver())
    return [rowid for rowid, _ in queued]


def _replay(
    service: Service, clock: ManualClock, since: datetime | None
) -> tuple[list[Outcome], list[str]]:
    """Record the filed messages that the backup lacks, oldest first; their case tags."""
    recorded = Counter(service.store.digests_since(since)) if since else Counter[str]()
    prefix = service.settings.identity.case_prefix
    outcomes: list[Outcome] = []
    tags: list[str] = []
    for item in archived_since(service.mailbox, since):
        sha = hashlib.sha256(item.raw).hexdigest()
        if recorded[sha] > 0:
            recorded[sha] -= 1  # in the backup already
            continue
        clock.set(item.received_at)
        outcome = service.handle(item, move=False)
        asyncio.run(service.deliver())
        if outcome is not None:
            outcomes.append(outcome)
        subject = parsing.parse_headers_only(item.raw, item.received_at).subject
        tags += find_tags(subject, prefix)
    return outcomes, tags


def _raise_floors(
    store: Store, earlier: dict[int, int], tags: list[str], replayed: int
) -> dict[int, int]:
    """Raise each year's floor over every number known to have left; returns the floors.

    A tag counts only up to the numbers the re-recorded messages could have created (one
    case each at most): a subject naming MK-2026-999999 cannot push the sequence there.
    """
    known = store.highest_sequences()
    highest: dict[int, int] = dict(known)
    for source in (earlier, read_mark(store.path)):
        for year, seq in source.items():
            highest[year] = max(highest.get(year, 0), seq)
    for tag in tags:
        if (m := _NUMBER.search(tag)) is not None:
            year, seq = int(m.group(1)), int(m.group(2))
            if seq <= known.get(year, 0) + replayed:
                highest[year] = max(highest.get(year, 0), seq)
    with store.transaction():
        for year, seq in highest.items():
            store.raise_sequence_floor(year, seq)
            raise_mark(store.path, year, seq)
    return highest

"""`mailbot release REF [--max-bytes N]`: record a quarantined message again, as if just
received but with its original receipt moment (DESIGN.md §11, issue 15).

It runs beside the daemon (SQLite serialises the writes): the acknowledgement and the
staff notice are queued, and the daemon's outbox sends them within seconds. The message
stays in the mailbox's quarantine folder, as evidence of what arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailbot.core.classify import Rules
from mailbot.core.config import Settings
from mailbot.core.errors import UserError
from mailbot.core.models import Disposition
from mailbot.core.release import Release
from mailbot.mail.rendering import Renderer
from mailbot.shell import runlock
from mailbot.shell.clock import Clock
from mailbot.shell.keys import load_key
from mailbot.shell.mailbox import MailboxItem
from mailbot.shell.pipeline import calendar_for
from mailbot.shell.recording import Outcome, Recorder
from mailbot.store import Store
from mailbot.store.rows import StoredMessage


@dataclass(frozen=True)
class Released:
    """What became of the released message, and whether a daemon will send its mail."""

    outcome: Outcome
    oversized: bool
    daemon_running: bool

    def text(self) -> str:
        """One line on the outcome, one on when its mail goes out."""
        o = self.outcome
        flag = " (flag oversized)" if self.oversized else ""
        when = (
            "the running daemon sends its mail within seconds"
            if self.daemon_running
            else "mailbot is not running: its mail goes out when `mailbot run` starts"
        )
        what = f"{o.disposition.value} {o.case_id or ''}".strip()
        return f"released <{o.message_id or '-'}>: {what}{flag}\n{when}\n"


def release(
    settings: Settings,
    store: Store,
    message: StoredMessage,
    max_bytes: int | None,
    clock: Clock,
    actor: str,
) -> Released:
    """Record quarantined `message` again under a size limit of `max_bytes` (default: the
    configured one); UserError when it is not quarantined, its bytes were purged, it is
    over the limit, or it would be quarantined again (then nothing changes)."""
    ref = message.message_id or message.sha256[:16]
    if message.disposition != Disposition.QUARANTINED.value:
        raise UserError(f"message {ref} is not quarantined (disposition {message.disposition})")
    if message.raw is None:
        raise UserError(f"the raw bytes of message {ref} were purged: nothing to release")
    configured = settings.limits.max_message_bytes
    limit = max(max_bytes or configured, configured)
    size = len(message.raw)
    if size > limit:
        raise UserError(
            f"message {ref} is {size} bytes, over the limit of {limit}:"
            f" add --max-bytes {size} to release it anyway"
        )
    lifted = replace(settings, limits=replace(settings.limits, max_message_bytes=limit))
    recorder = Recorder(
        lifted,
        store,
        clock,
        Renderer(settings.templates.directory),
        calendar_for(settings),
        Rules.from_settings(lifted),
        key=load_key(settings.openpgp, clock.now()),  # an encrypted report is read again
    )
    item = MailboxItem(
        "release", message.raw, message.received_at, size, f"release:{message.sha256[:32]}"
    )
    held = Release(message.id, actor, message.reason, size, configured)
    with runlock.sharing(settings.database.path):
        outcome = recorder.record(item, held)
    return Released(outcome, held.oversized, runlock.in_use(settings.database.path))

"""`mailbot restore BACKUP` and `mailbot release REF`: the two commands that put things
right after a loss or a hold (the work is in `mailbot.shell.restore` and `.release`)."""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

from mailbot.cli import tables as views
from mailbot.core.config import Settings
from mailbot.core.errors import NotFoundError
from mailbot.core.models import Disposition
from mailbot.shell.clock import SystemClock
from mailbot.store import Store


def actor() -> str:
    """Who runs this command, for the audit log: the user, and who used sudo to become it."""
    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        name = str(os.geteuid())
    sudo = os.environ.get("SUDO_USER", "")
    return f"{name} (sudo by {sudo})" if sudo and sudo != name else name


def restore_command(settings: Settings, backup: Path) -> int:
    """Restore `backup`; print what was put back, re-recorded and settled."""
    from mailbot.shell.restore import restore  # noqa: PLC0415 - only this command needs it

    done = restore(settings, backup, SystemClock().now(), f"cli:{actor()}")
    sys.stdout.write(done.text(settings.identity.case_prefix))
    return 0


def release_command(settings: Settings, ref: str, max_bytes: int | None) -> int:
    """Release the quarantined message `ref`; print its new disposition and case."""
    from mailbot.shell.release import release  # noqa: PLC0415 - only this command needs it

    if not settings.database.path.exists():
        raise NotFoundError(f"no database at {settings.database.path} ([database] path)")
    store = Store(settings.database.path)
    try:
        message = views.find_message(store, ref)
        held = [
            m
            for m in store.messages_by_ref(message.message_id or "", message.sha256)
            if m.disposition == Disposition.QUARANTINED.value and m.sha256 == message.sha256
        ]
        done = release(
            settings,
            store,
            held[0] if held else message,
            max_bytes,
            SystemClock(),
            f"cli:{actor()}",
        )
    finally:
        store.close()
    sys.stdout.write(done.text())
    return 0

"""The whole intake for the fuzz campaign: a real Service on a temporary Maildir pair."""

from __future__ import annotations

import asyncio
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from mailbot.core import config
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MailboxItem, MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.recording import Outcome
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store
from tests.fuzz.findings import Failure, Result

#: Receipt moment and clock of every message (Monday 21 December 2026, 10:00 CET).
NOW = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)


class WatchedService(Service):
    """A Service that keeps the traceback of every fault `handle` turns into quarantine."""

    crashes: list[str]

    def _record_failure(self, item: MailboxItem, sha: str, exc: Exception) -> Outcome | None:
        self.crashes.append("".join(traceback.format_exception(exc)))
        return super()._record_failure(item, sha, exc)


class Pipeline:
    """A real service on a temporary Maildir pair, for one chunk."""

    def __init__(self, base: Path) -> None:
        settings = config.embedded(base)
        self.inbox = base / "inbox"
        self.service = WatchedService(
            settings,
            Store(settings.database.path),
            MaildirMailbox(self.inbox),
            MaildirTransport(base / "outbox"),
            ManualClock(NOW),
        )
        self.service.crashes = []

    def run(self, raw: bytes, index: int, mutations: list[str], result: Result) -> None:
        """Intake of `raw` alone; every escaped or caught fault is a failure."""
        if index % 2:  # half get a fresh Message-ID, so they are not all duplicates
            raw = b"Message-ID: <fuzz.%d@pipeline.example>\n" % index + raw
        result.pipeline += 1
        started = time.perf_counter()
        try:
            deliver_to_maildir(self.inbox, raw, NOW)
            outcomes = self.service.intake()
        except Exception:
            result.fail(
                Failure(index, "exception:pipeline", traceback.format_exc(), raw, mutations)
            )
            return
        finally:
            result.timed(time.perf_counter() - started, index, "pipeline")
        result.counts.update(f"disposition:{o.disposition.value}" for o in outcomes)
        internal = [o for o in outcomes if o.reason.startswith("internal error")]
        if internal or self.service.crashes:
            detail = "\n".join([*(o.reason for o in internal), *self.service.crashes])
            result.fail(Failure(index, "internal_error", detail, raw, mutations))
            self.service.crashes.clear()
        if len(outcomes) != 1:
            result.fail(
                Failure(index, "left_in_mailbox", f"{len(outcomes)} outcomes", raw, mutations)
            )

    def finish(self, index: int, result: Result) -> None:
        """One scheduler tick and an outbox flush over everything the chunk recorded."""
        try:
            self.service.tick()
            asyncio.run(self.service.deliver())
        except Exception:
            result.fail(
                Failure(index, "exception:tick_or_deliver", traceback.format_exc(), b"", [])
            )
        finally:
            self.service.close()

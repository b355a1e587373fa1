"""Intake throughput on the embedded default: N mixed messages in a Maildir, run --once.

.venv/bin/python -m benchmarks.intake_maildir [COUNT]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.corpus import corpus
from mailbot.core import config
from mailbot.shell import logs
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.wiring import build_service


def main(count: int = 2000) -> None:
    """Print messages/s for intake and for outbox delivery."""
    logs.configure("console", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        settings = config.embedded(base)
        messages = corpus(count)
        start = datetime(2026, 12, 21, 8, 0, tzinfo=UTC)
        for n, raw in enumerate(messages):
            deliver_to_maildir(base / "inbox", raw, start + timedelta(seconds=n))
        size = sum(len(m) for m in messages)
        service = build_service(settings, ManualClock(start + timedelta(hours=1)))
        t0 = time.perf_counter()
        outcomes = service.intake()
        t1 = time.perf_counter()
        counts = asyncio.run(service.deliver())
        t2 = time.perf_counter()
        service.close()
    kinds: dict[str, int] = {}
    for o in outcomes:
        kinds[o.disposition.value] = kinds.get(o.disposition.value, 0) + 1
    print(f"messages: {count} ({size / 1e6:.1f} MB); dispositions: {kinds}")
    print(f"intake:   {t1 - t0:.2f} s = {count / (t1 - t0):.0f} msg/s")
    print(
        f"outbox:   {counts.sent} mails in {t2 - t1:.2f} s = {counts.sent / (t2 - t1):.0f} mail/s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

"""Intake of a backlog from a real Dovecot: N mixed messages in INBOX, one intake pass.

    .venv/bin/python -m benchmarks.intake_imap [COUNT]

Starts a private Dovecot (tests/dovecot.py), APPENDs the corpus, then times
`Service.intake()` (fetch, parse, classify, record, MOVE) and the outbox flush into a
Maildir sink.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.corpus import corpus
from mailbot import config, logs
from mailbot.clock import ManualClock
from mailbot.config import Secret
from mailbot.wiring import build_service

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dovecot import DovecotServer


def main(count: int = 2000) -> None:
    """Print msg/s of the intake pass and of the outbox flush."""
    logs.configure("console", "warning")
    server = DovecotServer(accounts=1)
    server.start()
    try:
        account = server.account()
        messages = corpus(count)
        start = datetime(2026, 12, 21, 8, 0, tzinfo=UTC)
        with account.client() as client:
            for n, raw in enumerate(messages):
                client.append("INBOX", raw, msg_time=start + timedelta(seconds=n))
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            settings = config.embedded(base)
            mailbox = replace(
                settings.mailbox,
                backend="imap",
                host=account.host,
                port=account.port,
                security="plain",
                username=account.user,
                password=Secret(account.password),
            )
            settings = replace(settings, mailbox=mailbox)
            service = build_service(settings, ManualClock(start + timedelta(hours=1)))
            t0 = time.perf_counter()
            outcomes = service.intake()
            t1 = time.perf_counter()
            counts = asyncio.run(service.deliver())
            t2 = time.perf_counter()
            service.close()
        left = len(account.folder_uids("INBOX"))
    finally:
        server.destroy()
    size = sum(len(m) for m in messages) / 1e6
    print(f"messages: {count} ({size:.1f} MB), handled {len(outcomes)}, left in INBOX {left}")
    print(f"intake:   {t1 - t0:.2f} s = {count / (t1 - t0):.0f} msg/s")
    print(f"outbox:   {counts.sent} mails in {t2 - t1:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

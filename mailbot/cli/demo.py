"""`mailbot demo`: the whole pipeline on sample reports, Maildir in and out, no network."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import tempfile
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from mailbot.cli.tables import case_summary, local
from mailbot.core import config
from mailbot.core.scheduler import reminder_moments
from mailbot.shell.clock import SystemClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.wiring import build_service

SAMPLES = ("01-nl-report.eml", "02-en-report.eml", "03-out-of-office.eml", "05-relay-report.eml")
FOLLOWUP = "04-nl-followup.eml"


def sample(name: str) -> bytes:
    """The bytes of one packaged sample report."""
    return resources.files("mailbot").joinpath("samples", name).read_bytes()


def run_demo(out: TextIO, base: Path | None = None) -> int:
    """Run the demo in a temporary folder (or `base`), print what happened; exit code."""
    if base is not None:
        return _run(base, out)
    with tempfile.TemporaryDirectory(prefix="mailbot-demo-") as tmp:
        return _run(Path(tmp), out)


def _run(base: Path, out: TextIO) -> int:
    settings = config.embedded(base)
    service = build_service(settings, SystemClock())
    try:
        assert settings.mailbox.path is not None
        for name in SAMPLES:
            deliver_to_maildir(settings.mailbox.path, sample(name))
        first, _ = asyncio.run(service.run_once())
        tag = next(o.case_id for o in first if o.case_id)
        followup = sample(FOLLOWUP).replace(b"{tag}", tag.encode())
        deliver_to_maildir(settings.mailbox.path, followup)
        asyncio.run(service.run_once())
        _report(service, base, out)
    finally:
        service.close()
    return 0


def _report(service: Service, base: Path, out: TextIO) -> None:
    store = service.store
    w = out.write
    w(f"mailbot demo — Maildir in {base / 'inbox'}, Maildir out {base / 'outbox'}\n\n")
    w("Messages and their dispositions:\n")
    for m in store.messages():
        named = m.case_id or "-"
        w(f"  {m.disposition:<12} {named:<14} {m.from_address}: {m.subject}\n")
    w("\nCases and deadlines:\n")
    for case in store.cases(include_closed=True):
        s = case_summary(case)
        w(f"  [{case.id}] {case.subject}\n")
        w(f"    state {s['state']}, reporter {s['reporter'] or '(no contact)'} ({case.source})\n")
        tz = service.calendar.timezone
        w(f"    acknowledgement due {local(s['ack_due'], tz)}: {case.ack_explanation}\n")
        w(f"    response due        {local(s['response_due'], tz)}: {case.response_explanation}\n")
        w(f"    acknowledged at     {local(s['acknowledged_at'], tz)}\n")
    _reminders(service, out)
    sent = [r for r in store.outbox_all() if r.status == "sent"]
    w(f"\nOutbox: {len(sent)} mails delivered to {base / 'outbox' / 'new'}\n")
    for r in sent:
        w(f"  {r.kind:<16} to {json.dumps(list(r.recipients))}: {r.subject}\n")
    ack = next((r for r in sent if r.kind == "acknowledgement"), None)
    if ack is not None and ack.raw is not None:
        message = email.message_from_bytes(ack.raw, policy=email.policy.default)
        body = message.get_body(("plain",))
        w("\nThe first acknowledgement, as the reporter receives it:\n\n")
        for name in ("From", "To", "Subject", "Message-ID", "References", "Auto-Submitted"):
            w(f"  {name}: {message[name]}\n")
        text = body.get_content() if body is not None else ""
        w("\n" + "".join(f"  {line}\n" for line in str(text).splitlines()))


def _reminders(service: Service, out: TextIO) -> None:
    """What the scheduler will send for the open clocks, if nobody acts."""
    cal = service.calendar
    tz = cal.timezone
    out.write("\nReminders and escalations that would follow if nobody acts:\n")
    for clock in (r.clock() for r in service.store.open_clocks()):
        if clock.paused:
            continue
        out.write(f"  [{clock.case_id}] {clock.name} due {_local(clock.due, tz)}\n")
        for label, moment in reminder_moments(cal, clock, service.ticker.policy):
            out.write(f"    {_local(moment, tz)}  reminder to staff: {label}\n")
        first = cal.next_office_opening(clock.due)
        out.write(
            f"    {_local(first, tz)}  in the day's escalation mail, each working day until met\n"
        )


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return local(moment.isoformat(), tz)

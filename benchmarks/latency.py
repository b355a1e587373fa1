"""Row 1: a report's acknowledgement accepted by SMTP, the daemon waiting in IDLE, next to
Dovecot's bare IDLE notification latency measured in the same run.

    .venv/bin/python -m benchmarks.latency [REPORTS] [--trace]

The floor: one imapclient connection IDLEs on a folder, another APPENDs to it; the time
from just before APPEND to the EXISTS response (Dovecot batches change notifications with
a compiled-in 0.5 s delay, so this is ~0.5 s on any machine).

Ours: `mailbot run` (subprocess, IMAP IDLE on INBOX of the same account, SMTP to the
sink, poll_seconds = POLL) is started and waited for READY=1. Then REPORTS reports (the
first one cold: SMTP connection, templates, Processed folder), one at a time,
each from its own sender (the daily cap of automatic mail per address stays out of it):
the time from just before APPEND to the moment the sink received the acknowledgement (the
mail to the reporter whose In-Reply-To is the report's Message-ID; the sink notes
monotonic arrival times itself). The next report goes out only after the staff notice
arrived too, plus a pause of SETTLE seconds so the daemon is back in IDLE. Floor and ours
alternate trial by trial, so both see the same load.

With --trace the daemon logs at debug level and the time beyond the floor is split into
stages from its log (IDLE wake, intake pass, message recorded, acknowledgement sent).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from benchmarks.coldstart import Daemon
from benchmarks.servers import (
    BOT,
    STAFF,
    DovecotAccount,
    DovecotServer,
    Sink,
    mailbot_config,
    servers,
    wait_until,
)
from benchmarks.table import Row, markdown

REPORTS = 50
RATIO = 1.2
SETTLE = 0.3
"""Pause after a report's mails arrived, so that the daemon is in IDLE again."""
TIMEOUT = 15.0
FLOOR_FOLDER = "Floor"
POLL = 60
"""poll_seconds of the daemon (the default): with IDLE, a safety-net intake pass this often.

The servers' config has 1 s, which would run a pass every second; a report caught by such
a pass, and not by IDLE, would come in under the floor and say nothing about IDLE.
"""


def report(n: int) -> tuple[str, str, bytes]:
    """(sender, Message-ID with <>, raw) of report `n`."""
    sender = f"melder{n}@example.nl"
    message_id = f"<latency{n}.{time.time_ns()}@example.nl>"
    raw = (
        f"From: Melder {n} <{sender}>\r\nTo: {BOT}\r\n"
        f"Subject: Melding {n}: lek in het portaal\r\nMessage-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Beste meldpunt,\r\n\r\nOp https://portaal{n}.gemeente.example/login staat een\r\n"
        "open redirect: ?next=https://evil.example brengt bezoekers naar een andere site.\r\n"
        "\r\nMet vriendelijke groet,\r\nMelder\r\n"
    ).encode()
    return sender, message_id, raw


@contextmanager
def connection(account: DovecotAccount) -> Iterator[IMAPClient]:
    """A logged-in imapclient connection, logged out afterwards."""
    client = IMAPClient(account.host, account.port, ssl=False, timeout=TIMEOUT)
    client.login(account.user, account.password)
    try:
        yield client
    finally:
        client.logout()


def _exists(responses: list[Any]) -> bool:
    return any(len(r) >= 2 and r[1] == b"EXISTS" for r in responses)


class Floor:
    """Bare IDLE: `idler` IDLEs on FLOOR_FOLDER, `appender` APPENDs to it."""

    def __init__(self, idler: IMAPClient, appender: IMAPClient) -> None:
        self.idler, self.appender = idler, appender
        if not appender.folder_exists(FLOOR_FOLDER):
            appender.create_folder(FLOOR_FOLDER)
        idler.select_folder(FLOOR_FOLDER)
        idler.idle()

    def trial(self, raw: bytes) -> float:
        """Seconds from just before APPEND to the EXISTS that announces it."""
        started = time.monotonic()
        self.appender.append(FLOOR_FOLDER, raw)
        deadline = started + TIMEOUT
        while not _exists(self.idler.idle_check(timeout=max(deadline - time.monotonic(), 0))):
            if time.monotonic() > deadline:
                raise TimeoutError("benchmark: no EXISTS in IDLE")
        arrived = time.monotonic()
        self.idler.idle_done()
        self.idler.idle()
        return arrived - started

    def close(self) -> None:
        """Leave IDLE."""
        self.idler.idle_done()


@dataclass
class Ours:
    """The daemon's side: APPEND a report to INBOX, find its acknowledgement in the sink."""

    appender: IMAPClient
    sink: Sink
    sent: list[tuple[str, str, float]] = field(default_factory=list)
    """(sender, Message-ID, APPEND start) of each report."""

    def trial(self, n: int) -> float:
        """Seconds from just before APPEND to the sink's arrival time of the acknowledgement."""
        sender, message_id, raw = report(n)
        expected = self.sink.count() + 2  # acknowledgement and staff notice
        started = time.monotonic()
        self.appender.append("INBOX", raw)
        self.sent.append((sender, message_id, started))
        wait_until(lambda: self.sink.count() >= expected, TIMEOUT, f"the mails of report {n}")
        ack = acknowledgement(self.sink, sender, message_id)
        return ack - started


def acknowledgement(sink: Sink, sender: str, message_id: str) -> float:
    """Arrival time of the mail to `sender` answering `message_id`."""
    parser = BytesHeaderParser(policy=compat32)
    with sink._lock:
        mails = list(sink.mails)
    for arrived, _from, rcpt, data in reversed(mails):
        if rcpt == [sender] and str(parser.parsebytes(data)["In-Reply-To"]).strip() == message_id:
            return arrived
    raise RuntimeError(f"benchmark: no acknowledgement of {message_id} among {len(mails)} mails")


def ms(seconds: float) -> str:
    """Milliseconds, no decimals."""
    return f"{seconds * 1000:.0f} ms"


@dataclass
class Result:
    """Both series of one run."""

    floor: list[float]
    ours: list[float]
    first: float
    """The first report, SETTLE seconds after READY=1 (cold: first SMTP connection and
    template use; counted in `ours`)."""
    load: str
    trace: str = ""


def measure(dovecot: DovecotServer, sink: Sink, reports: int, trace: bool = False) -> Result:
    """Start the daemon on a fresh account and folder; alternate floor and our trials."""
    account = dovecot.account()
    floor: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mailbot-latency-") as tmp:
        cfg = mailbot_config(Path(tmp), account, sink)
        text = cfg.read_text().replace("poll_seconds = 1\n", f"poll_seconds = {POLL}\n")
        if trace:
            text = text.replace('level = "warning"', 'level = "debug"')
        cfg.write_text(text)
        with connection(account) as idler, connection(account) as appender:
            floor_side = Floor(idler, appender)
            ours_side = Ours(appender, sink)
            daemon = Daemon(cfg)
            try:
                daemon.wait_ready()
                time.sleep(SETTLE)
                for n in range(reports):  # the first report after READY counts too
                    floor.append(floor_side.trial(report(n)[2]))
                    time.sleep(SETTLE)
                    ours.append(ours_side.trial(n))
                    time.sleep(SETTLE)
                first = ours[0]
            finally:
                code = daemon.stop()
                floor_side.close()
            if code != 0:
                raise RuntimeError(f"mailbot exited {code}:\n{daemon.log()[-3000:]}")
            stages = ""
            if trace:
                stages = breakdown(daemon.log(), ours_side.sent[1:], sink)
                stages += "\nfirst report:\n" + breakdown(daemon.log(), ours_side.sent[:1], sink)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return Result(floor, ours, first, load, stages)


def breakdown(log: str, sent: list[tuple[str, str, float]], sink: Sink) -> str:
    """Median per stage: the daemon's debug log (wall clock mapped to monotonic) and the
    sink's arrival times, each from just before the report's APPEND."""
    offset = time.time() - time.monotonic()
    events: list[dict[str, Any]] = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "timestamp" in record:
            record["t"] = datetime.fromisoformat(record["timestamp"]).timestamp() - offset
            events.append(record)
    stages: dict[str, list[float]] = {}
    with sink._lock:
        arrivals = [(arrived, rcpt) for arrived, _from, rcpt, _data in sink.mails]
    for k, (sender, message_id, started) in enumerate(sent):
        end = sent[k + 1][2] if k + 1 < len(sent) else float("inf")
        window = [e for e in events if started <= e["t"] < end]
        marks = {"APPEND": started}
        for e in window:
            marks.setdefault(e["event"], e["t"])
        marks["sink: acknowledgement"] = acknowledgement(sink, sender, message_id)
        notices = [t for t, rcpt in arrivals if rcpt == [STAFF] and started <= t < end]
        marks["sink: staff notice"] = min(notices, default=float("nan"))
        for name, t in marks.items():
            stages.setdefault(name, []).append(t - started)
    lines = ["stage (first log event after APPEND)          median ms   (n)"]
    for name, values in sorted(stages.items(), key=lambda kv: statistics.median(kv[1])):
        lines.append(f"{name:<46}{statistics.median(values) * 1000:>9.1f}   ({len(values)})")
    durations: dict[str, list[float]] = {}
    for e in events:
        if isinstance(e.get("ms"), int | float):
            durations.setdefault(e["event"], []).append(float(e["ms"]))
    lines.append("logged durations, whole run (field ms)        median ms   (n)")
    for name, values in sorted(durations.items()):
        lines.append(f"{name:<46}{statistics.median(values):>9.1f}   ({len(values)})")
    return "\n".join(lines)


def rows(dovecot: DovecotServer, sink: Sink, reports: int = REPORTS) -> list[Row]:
    """The latency row: our median and max next to the bare IDLE floor of the same run."""
    r = measure(dovecot, sink, reports)
    return [result_row(r)]


def result_row(r: Result) -> Row:
    """The row of one measurement."""
    floor, ours = statistics.median(r.floor), statistics.median(r.ours)
    return Row(
        what=f"report → acknowledgement accepted by SMTP, daemon in IDLE (n = {len(r.ours)})",
        ours=f"median {ms(ours)}, max {ms(max(r.ours))} ({ours / floor:.2f}x floor)",
        limit=(
            f"Dovecot IDLE APPEND → EXISTS: median {ms(floor)}, max {ms(max(r.floor))}"
            f" (n = {len(r.floor)})"
        ),
        target=f"median ≤ {RATIO}x floor = {ms(RATIO * floor)}",
        met=ours <= RATIO * floor,
        note=(
            "from just before APPEND to the sink's arrival time of the acknowledgement; "
            f"the first report after READY ({ms(r.first)}, cold) is counted; "
            f"trials alternate with the floor's; load {r.load}"
        ),
    )


def main() -> None:
    """Start the servers, measure, print the row (and the stages with --trace)."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    trace = "--trace" in sys.argv
    reports = int(args[0]) if args else REPORTS
    with servers() as (dovecot, sink):
        r = measure(dovecot, sink, reports, trace)
    print(markdown([result_row(r)]))
    if trace:
        print()
        print("ours, sorted ms:", " ".join(f"{x * 1000:.0f}" for x in sorted(r.ours)))
        print("floor, sorted ms:", " ".join(f"{x * 1000:.0f}" for x in sorted(r.floor)))
        print(r.trace)


if __name__ == "__main__":
    main()

"""A backlog already in INBOX: `mailbot run --once` end to end next to a bare pipeline.

    .venv/bin/python -m benchmarks.backlog [COUNT] [--profile FILE]

COUNT mixed messages (benchmarks/corpus.py: plain, alternative, HTML-only, auto-replies,
5 % with a 200 KB attachment) are delivered into the Dovecot account's Maildir, as an
MTA would. The bare pipeline then does, on its own connection and database: imapclient
FETCH BODY.PEEK[] in batches of 50 → `email.message_from_bytes(policy=default)` →
four headers and the text body → one SQLite transaction per message (WAL,
synchronous=FULL, as mailbot's store). It runs a second time sending two mails per
message over three aiosmtplib connections meanwhile, which is what mailbot must send (an
acknowledgement and a staff notice). Then `mailbot run --once` runs as a subprocess,
timed from spawn to exit: every message recorded, acknowledgements and staff notices
accepted by the sink, every message moved out of INBOX. Its RSS is sampled throughout.
With --profile FILE, `run --once` runs under py-spy (GIL samples, raw stacks; when
installed in the venv) or else cProfile.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import aiosmtplib
from imapclient import IMAPClient

from benchmarks.corpus import corpus
from benchmarks.procstat import Watched, watch
from benchmarks.servers import (
    BOT,
    STAFF,
    DovecotAccount,
    DovecotServer,
    Sink,
    mailbot_config,
    servers,
)
from benchmarks.table import Row
from mailbot.shell.mailbox import deliver_to_maildir

COUNT = 10_000
BATCH = 50
TARGET = 0.8
LANES = 3
"""SMTP connections of the bare pipeline with mail: mailbot's default `connections`."""
STEADY = 1.25
MB = 1e6
MAILBOT = Path(sys.executable).with_name("mailbot")
RECEIVED = datetime(2026, 12, 21, 7, 0, tzinfo=UTC)
ANSWER = (
    f"From: {BOT}\r\nTo: melder@example.nl\r\nSubject: [MK-2026-0001] Ontvangen\r\n"
    "Message-ID: <bare@gemeente.example>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    + "Hartelijk dank voor uw melding. Wij nemen binnen vijf werkdagen contact op.\r\n"
    * 20
).encode()
"""A mail the size of an acknowledgement (about 1.6 KB)."""


def seed(account: DovecotAccount, messages: list[bytes]) -> None:
    """Deliver `messages` into the account's Maildir INBOX (owned like Dovecot's files)."""
    with account.client() as client:
        client.select_folder("INBOX")  # Dovecot creates the Maildir on first use
    maildir = account.server.home_root / account.user / "Maildir"
    owner = maildir.stat()
    for n, raw in enumerate(messages):
        name = deliver_to_maildir(maildir, raw, RECEIVED + timedelta(seconds=n))
        os.chown(maildir / "new" / name, owner.st_uid, owner.st_gid)
    with account.client() as client:  # let Dovecot index the new files before timing
        client.select_folder("INBOX", readonly=True)
        client.fetch("1:*", ["RFC822.SIZE"])


def bare_pipeline(
    account: DovecotAccount, folder: Path, sink: Sink | None = None
) -> tuple[float, float]:
    """(seconds, CPU seconds) of FETCH in batches → email parse → one insert per message.

    With `sink`, each message is also answered by two mails sent over LANES aiosmtplib
    connections (what mailbot must send per report: acknowledgement and staff notice).
    It runs in a child process, as mailbot does, so that it does not share the
    interpreter lock with the sink's thread.
    """
    where = [account.host, str(account.port), account.user, account.password, str(folder)]
    smtp = [sink.host, str(sink.port)] if sink is not None else []
    command = [sys.executable, "-m", "benchmarks.backlog", "--bare", *where, *smtp]
    result = folder / "bare-seconds.txt"
    done = watch([*command, str(result)])
    if done.returncode != 0:
        raise RuntimeError(f"bare pipeline exited {done.returncode}: {done.stderr[-2000:]}")
    return float(result.read_text()), done.cpu


def _bare_child(args: list[str]) -> None:
    """In the child: run the bare pipeline and print its seconds."""
    host, port, user, password, folder = args[:5]
    smtp = (args[5], int(args[6])) if len(args) > 7 else None
    seconds = asyncio.run(_bare(host, int(port), user, password, Path(folder), smtp))
    Path(args[-1]).write_text(str(seconds))


async def _bare(
    host: str, port: int, user: str, password: str, folder: Path, sink: tuple[str, int] | None
) -> float:
    """Read, parse and insert in a worker thread; with `sink`, send two mails per message
    over LANES connections meanwhile (the shape of `run --once`, without its logic)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def queued() -> None:
        if sink is not None:
            for to in ("melder@example.nl", STAFF):  # acknowledgement and staff notice
                loop.call_soon_threadsafe(queue.put_nowait, to)

    started = time.perf_counter()
    senders = [asyncio.ensure_future(_send(sink, queue)) for _ in range(LANES if sink else 0)]
    await asyncio.to_thread(_read_parse_insert, host, port, user, password, folder, queued)
    for _ in senders:
        queue.put_nowait(None)
    await asyncio.gather(*senders)
    return time.perf_counter() - started


async def _send(sink: tuple[str, int] | None, queue: asyncio.Queue[str | None]) -> None:
    """Send ANSWER to each recipient that comes from `queue`, over one connection."""
    assert sink is not None
    smtp = aiosmtplib.SMTP(hostname=sink[0], port=sink[1])
    await smtp.connect()
    while (to := await queue.get()) is not None:
        await smtp.sendmail(BOT, [to], ANSWER)
    await smtp.quit()


def _read_parse_insert(
    host: str, port: int, user: str, password: str, folder: Path, queued: Callable[[], None]
) -> None:
    """FETCH in batches → `email` parse (policy.default) → one transaction per message."""
    db = sqlite3.connect(folder / f"bare-{time.monotonic_ns()}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, message_id TEXT, sender TEXT,"
        " subject TEXT, date TEXT, body TEXT, raw BLOB)"
    )
    with IMAPClient(host, port, ssl=False) as client:
        client.login(user, password)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        for i in range(0, len(uids), BATCH):
            for data in client.fetch(uids[i : i + BATCH], ["BODY.PEEK[]"]).values():
                raw = data[b"BODY[]"]
                msg = message_from_bytes(raw, policy=policy.default)
                body = msg.get_body(("plain", "html"))  # type: ignore[attr-defined]
                text = body.get_content() if body is not None else ""
                row = (msg["Message-ID"], msg["From"], msg["Subject"], msg["Date"], text, raw)
                db.execute("BEGIN")
                db.execute(
                    "INSERT INTO messages (message_id, sender, subject, date, body, raw)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    tuple(str(v) if not isinstance(v, bytes) else v for v in row),
                )
                db.execute("COMMIT")
                queued()
    db.close()


def run_once(config: Path, sink: Sink, profile: Path | None = None) -> Watched:
    """`mailbot run --once` from spawn to exit, its RSS sampled against mails delivered.

    With `profile`: py-spy's raw stacks (when py-spy is installed next to Python, it
    samples without slowing the run down much), else cProfile's stats.
    """
    command = [str(MAILBOT), "--config", str(config), "run", "--once"]
    spy = MAILBOT.with_name("py-spy")
    if profile is not None and spy.exists():
        record = ["record", "-r", "200", "--gil", "-f", "raw", "-o", str(profile), "--"]
        command = [str(spy), *record, *command]
    elif profile is not None:
        cprofile = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "mailbot"]
        command = [*cprofile, *command[1:]]
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env["MAILBOT_NOW"] = "2026-12-21T09:00:00+01:00"
    done = watch(command, env, sink.count, every=0.1)
    if done.returncode != 0:
        raise RuntimeError(f"mailbot run --once exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def cases_in(db: Path) -> int:
    """How many cases the run recorded."""
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0])


def rows(
    dovecot: DovecotServer, sink: Sink, count: int = COUNT, profile: Path | None = None
) -> list[Row]:
    """The backlog row: our end-to-end rate next to the bare pipeline's."""
    account = dovecot.account()
    messages = corpus(count)
    megabytes = sum(len(m) for m in messages) / 1e6
    seed(account, messages)
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp:
        folder = Path(tmp)
        bare_s, bare_cpu = bare_pipeline(account, folder)
        answered_s, _ = bare_pipeline(account, folder, sink)
        sink.clear()
        config = mailbot_config(folder, account, sink)
        run = run_once(config, sink, profile)
        made = cases_in(folder / "mailbot.db")
    left = len(account.folder_uids("INBOX"))
    mails = sink.count()
    bare, answered, ours = count / bare_s, count / answered_s, count / run.seconds
    early, late = run.rss_at(0.1), run.rss_at(1.0)
    return [
        Row(
            f"backlog: {count:,} messages ({megabytes:.0f} MB) in INBOX, `run --once` end to end",
            f"{ours:.0f} msg/s ({run.seconds:.1f} s)",
            f"{bare:.0f} msg/s ({bare_s:.1f} s): FETCH → parse → insert",
            f"≥ {TARGET:.0%} of the limit",
            ours / bare >= TARGET and left == 0,
            f"{ours / bare:.0%} of the bare pipeline; {made:,} cases, {mails:,} mails accepted"
            f" by the sink, {left} left in INBOX; CPU per message: mailbot"
            f" {run.cpu / count * 1000:.1f} ms, the bare pipeline {bare_cpu / count * 1000:.1f} ms",
        ),
        Row(
            "backlog, next to a bare pipeline that also sends two mails per message",
            f"{ours:.0f} msg/s",
            f"{answered:.0f} msg/s ({answered_s:.1f} s): the same + 2 mails per message over"
            f" {LANES} aiosmtplib connections",
            "(informative)",
            None,
            f"{ours / answered:.0%} of it",
        ),
        Row(
            "memory during the backlog (RSS of `run --once`)",
            f"{early / MB:.0f} MB at 10 % of the mail, {late / MB:.0f} MB at the end,"
            f" peak {run.peak_rss / MB:.0f} MB",
            f"{early / MB:.0f} MB (itself at 10 %)",
            f"steady: end ≤ {STEADY} x the 10 % mark",
            late <= STEADY * early,
            "RSS and VmHWM sampled every 0.1 s against the mails the sink had accepted",
        ),
    ]


def main() -> None:
    """Print the rows (standalone run with its own servers)."""
    args = sys.argv[1:]
    if args[:1] == ["--bare"]:
        _bare_child(args[1:])
        return
    profile = Path(args[args.index("--profile") + 1]) if "--profile" in args else None
    count = int(args[0]) if args and args[0].isdigit() else COUNT
    with servers() as (dovecot, sink):
        for row in rows(dovecot, sink, count, profile):
            print(f"{row.what}\n  ours {row.ours}, limit {row.limit}: {row.verdict}\n  {row.note}")


if __name__ == "__main__":
    main()

"""Scheduler tick on a large database: 100,000 cases of which 5,000 open.

.venv/bin/python -m benchmarks.tick [--profile]

Rows go in with executemany (cases and their clocks; closed cases' clocks are done).
Times the first tick at Wed 13 Jan 2027 10:00 (it records and renders that day's digest,
escalations and reminders), then the tick that must recompute: each one after a small
write by another connection (an event, as an incoming message makes), so the skip of
an unchanged database cannot apply. Its median is set next to the plain indexed query
of every open clock (`Store.open_clocks`, typed rows) of the same run. Informative:
the skipped tick (nothing written), the first tick of the day, and the decision over
every open clock (what a tick costs while the digest is still to go out, renders aside).
The ticker runs on its own connection with synchronous=NORMAL, as in the daemon.
With --profile, cProfile of one tick after a write.
"""

from __future__ import annotations

import cProfile
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.table import Row, markdown
from mailbot.core import config
from mailbot.core.deadlines import resolve_deadline
from mailbot.core.scheduler import next_change, notices
from mailbot.core.workdays import Calendar
from mailbot.shell import logs
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox
from mailbot.shell.pipeline import Service, calendar_for
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2027, 1, 13, 10, 0, tzinfo=AMS).astimezone(UTC)
CASES = 100_000
OPEN = 5_000
RUNS = 20
WRITES = 30  # ticks after a write
TARGET_MS = 50.0
OPEN_STATES = ("acknowledged", "investigating", "confirmed")


@dataclass(frozen=True)
class Clock:
    """One clock row to insert."""

    name: str
    due: datetime
    explanation: str
    met: bool  # met on time (done) rather than still open


def case_row(n: int, received: datetime, state: str) -> tuple[object, ...]:
    """One cases row: (id, year, seq, state, subject, reporter_email, source, language, …)."""
    year = received.astimezone(AMS).year
    at = received.isoformat()
    email = f"melder{n % 5000}@example{n % 13}.nl"
    subject = f"Kwetsbaarheid {n} in portal{n % 97}.gemeente.example"
    return (f"MK-{year}-{n:06d}", year, n, state, subject, email, "direct", "nl", at, at, at)


def closed_clocks(received: datetime) -> list[Clock]:
    """The four clocks of a closed case, all met (done; their dues are never read)."""
    days = (("ack_due", 1), ("response_due", 7), ("update_due", 14), ("resolve_due", 60))
    return [Clock(name, received + timedelta(days=n), f"{name} (closed)", True) for name, n in days]


def open_case_clocks(calendar: Calendar, received: datetime, rng: random.Random) -> list[Clock]:
    """ack (met), response (met, open or missed), update (open), resolve (open)."""
    ack = calendar.due(received, 1)
    response = calendar.due(received, 5)
    update = calendar.due_after(received, 10)
    resolve = resolve_deadline(received, 60, AMS)
    answered = response.due < NOW and rng.random() < 0.9
    return [
        Clock("ack_due", ack.due, ack.explanation, True),
        Clock("response_due", response.due, response.explanation, answered),
        Clock("update_due", update.due, update.explanation, False),
        Clock("resolve_due", resolve.due, resolve.explanation, False),
    ]


def fill(store: Store, calendar: Calendar, seed: int = 7) -> None:
    """CASES cases, the last OPEN of them open (received in the 60 days before NOW)."""
    rng = random.Random(seed)
    cases: list[tuple[object, ...]] = []
    clocks: list[tuple[object, ...]] = []
    first_open = NOW - timedelta(days=60)
    for n in range(1, CASES + 1):
        is_open = n > CASES - OPEN
        if is_open:
            received = first_open + timedelta(minutes=rng.randrange(60 * 24 * 59))
            state = OPEN_STATES[n % 3]
        else:
            received = datetime(2017, 1, 1, tzinfo=UTC) + timedelta(minutes=n * 50)
            state = "closed"
        row = case_row(n, received, state)
        cases.append(row)
        made = open_case_clocks(calendar, received, rng) if is_open else closed_clocks(received)
        for c in made:
            done = (not is_open) or c.met
            missed = None if c.met or c.due > NOW else c.due.isoformat()
            end = (received + timedelta(hours=1)).isoformat() if done else None
            met = end if c.met else None
            clocks.append(
                (row[0], c.name, c.due.isoformat(), c.explanation, row[8], met, missed, end)
            )
    conn = store.db.conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO cases (id, year, seq, state, subject, reporter_email, source, language,"
        " received_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        cases,
    )
    conn.executemany(
        "INSERT INTO clocks (case_id, name, due, explanation, started_at, met_at, missed_at,"
        " done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        clocks,
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")


def timed(action: Callable[[], object]) -> tuple[float, object]:
    """(milliseconds, result) of one call."""
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


def median_ms(action: Callable[[], object], runs: int = RUNS) -> float:
    """Median milliseconds of `runs` calls."""
    return statistics.median(timed(action)[0] for _ in range(runs))


@dataclass
class Result:
    """The figures of one run (milliseconds unless named otherwise)."""

    fill_s: float
    clocks: int
    open_clocks: int
    query: float  # every open clock, typed rows (`Store.open_clocks`, the limit)
    query_clocks: float  # the same, each made an OpenClock (`OpenClockRow.clock`)
    decide_all: float  # rows -> OpenClock, notices and next_change over every open clock
    first: float
    first_queued: int
    after_write: list[float]
    after_write_queued: set[object]
    skipped: list[float]
    load: str


def measure(profile: bool = False) -> Result:
    """Fill a database, tick it; returns the figures (prints a profile with `profile`)."""
    logs.configure("console", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        settings = config.embedded(base)
        calendar = calendar_for(settings)
        clock = ManualClock(NOW)
        store = Store(settings.database.path)
        t0 = time.perf_counter()
        fill(store, calendar)
        fill_s = time.perf_counter() - t0
        writer = Store(settings.database.path)  # another connection: intake's writes
        service = Service(
            settings,
            store,
            MaildirMailbox(base / "inbox"),
            MaildirTransport(base / "out"),
            clock,
            outbox_store=Store(settings.database.path, durable=False),
        )
        ticker_store = service.ticker.store
        rows = ticker_store.open_clocks()
        query_ms = median_ms(ticker_store.open_clocks)
        clocks_ms = median_ms(lambda: [r.clock() for r in ticker_store.open_clocks()])
        policy = service.ticker.policy

        def decide_all() -> None:
            clocks = [r.clock() for r in ticker_store.open_clocks()]
            notices(NOW, calendar, clocks, frozenset(), policy)
            next_change(NOW, calendar, clocks, policy)

        decide_ms = median_ms(decide_all, 5)
        first_ms, queued = timed(service.tick)
        cases = [r.case_id for r in rows]
        after: list[float] = []
        again: set[object] = set()
        for k in range(WRITES):
            clock.set(NOW + timedelta(seconds=k + 1))
            writer.add_event(cases[k * 97 % len(cases)], clock.now(), "mailbot", "note", "x")
            ms, result = timed(service.tick)
            after.append(ms)
            again.add(result)
        skipped: list[float] = []
        for k in range(RUNS):
            clock.set(NOW + timedelta(seconds=WRITES + k + 1))
            skipped.append(timed(service.tick)[0])
        if profile:
            profiler = cProfile.Profile()
            clock.set(NOW + timedelta(minutes=1))
            writer.add_event(cases[0], clock.now(), "mailbot", "note", "profiled")
            profiler.runcall(service.tick)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        total = int(store.db.execute("SELECT COUNT(*) FROM clocks").fetchone()[0])
        writer.close()
        service.close()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return Result(
        fill_s,
        total,
        len(rows),
        query_ms,
        clocks_ms,
        decide_ms,
        first_ms,
        int(str(queued)),
        after,
        again,
        skipped,
        load,
    )


def result_rows(r: Result) -> list[Row]:
    """The rows of one measurement."""
    after = statistics.median(r.after_write)
    scale = f"{CASES:,} cases ({OPEN:,} open, {r.open_clocks:,} open clocks)"
    return [
        Row(
            what=f"scheduler tick after a write, {scale}",
            ours=f"median {after:.1f} ms, max {max(r.after_write):.1f} ms",
            limit=f"SQL of every open clock: median {r.query:.1f} ms",
            target=f"median ≤ {TARGET_MS:.0f} ms",
            met=after <= TARGET_MS,
            note=(
                f"n = {len(r.after_write)} ticks, each after an event written by another"
                " connection (the skip cannot apply); the tick reads the clocks due before"
                " the reminder horizon and not escalated today, decides, records; queued"
                f" {sorted(map(str, r.after_write_queued))}; load {r.load}"
            ),
        ),
        Row(
            what="scheduler tick, nothing written (skipped)",
            ours=f"median {statistics.median(r.skipped):.2f} ms",
            limit="",
            target="",
            met=None,
            note=f"n = {len(r.skipped)}; only the heartbeat is written",
        ),
        Row(
            what="first tick of the day (digest, escalations, reminders)",
            ours=f"{r.first / 1000:.2f} s, {r.first_queued:,} mails queued",
            limit=f"decision over every open clock: {r.decide_all:.0f} ms",
            target="",
            met=None,
            note=(
                "once a day; reads every open clock and renders and queues each notice;"
                f" the decision alone (rows to clocks, notices, next_change) is the limit"
                f" column; Store.open_clocks made OpenClocks {r.query_clocks:.0f} ms"
            ),
        ),
    ]


def rows() -> list[Row]:
    """Fill 100,000 cases and measure (about 30 s)."""
    return result_rows(measure())


def main(profile: bool = False) -> None:
    """Print the table (and a profile of one tick after a write with --profile)."""
    r = measure(profile)
    print(f"cases {CASES:,} ({OPEN:,} open); clocks {r.clocks:,} ({r.open_clocks:,} open)")
    print(f"fill: {r.fill_s:.1f} s; now {NOW.astimezone(AMS):%a %d %b %Y %H:%M} local")
    print(markdown(result_rows(r)))


if __name__ == "__main__":
    main(profile="--profile" in sys.argv[1:])

"""Scheduler tick on a large database: 100,000 cases of which 5,000 open.

.venv/bin/python -m benchmarks.tick [--profile]

Rows go in with executemany (cases and their clocks; closed cases' clocks are done).
Times the first tick at Wed 13 Jan 2027 10:00 (it records and renders that day's notices)
and then the steady state (median of 20 ticks that find every notice recorded), next to
the plain indexed query of the open clocks (`Store.open_clocks`) and the pure decision
(`scheduler.notices`) alone. With --profile, cProfile of one steady tick.
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

from mailbot import config, logs
from mailbot.clock import ManualClock
from mailbot.mailbox import MaildirMailbox
from mailbot.scheduler import notices, resolve_deadline
from mailbot.service import Service, calendar_for
from mailbot.store import Store
from mailbot.ticker import open_clocks
from mailbot.transport import MaildirTransport
from mailbot.workdays import Calendar

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2027, 1, 13, 10, 0, tzinfo=AMS).astimezone(UTC)
CASES = 100_000
OPEN = 5_000
RUNS = 20
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


def main(profile: bool = False) -> None:
    """Print the table (and a profile of one steady tick with --profile)."""
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
        service = Service(
            settings, store, MaildirMailbox(base / "inbox"), MaildirTransport(base / "out"), clock
        )
        rows = store.open_clocks()
        query_ms = median_ms(store.open_clocks)
        convert_ms = median_ms(lambda: open_clocks(store))
        first_ms, queued = timed(service.tick)
        clocks = open_clocks(store)
        decide_ms = median_ms(lambda: notices(NOW, calendar, clocks, frozenset()))
        ticks: list[float] = []
        again: list[object] = []
        for k in range(RUNS):
            clock.set(NOW + timedelta(seconds=k + 1))
            ms, result = timed(service.tick)
            ticks.append(ms)
            again.append(result)
        steady = statistics.median(ticks)
        total = store.db.execute("SELECT COUNT(*) FROM clocks").fetchone()[0]
        print(f"cases {CASES:,} ({OPEN:,} open); clocks {total:,} ({len(rows):,} open)")
        print(f"fill: {fill_s:.1f} s; now {NOW.astimezone(AMS):%a %d %b %Y %H:%M} local")
        print(f"{'what':<44}{'ms':>10}")
        for label, value in (
            ("Store.open_clocks() (indexed SQL, dicts)", query_ms),
            ("ticker.open_clocks() (+ OpenClock objects)", convert_ms),
            ("scheduler.notices() (pure decision)", decide_ms),
            (f"first tick ({queued} mails queued)", first_ms),
            (f"steady tick, median of {RUNS}", steady),
            (f"steady tick, max of {RUNS}", max(ticks)),
        ):
            print(f"{label:<44}{value:>10.1f}")
        verdict = "meets" if steady <= TARGET_MS else "MISSES"
        print(f"target median <= {TARGET_MS:.0f} ms: {verdict}; steady ticks queued {set(again)}")
        if profile:
            profiler = cProfile.Profile()
            clock.set(NOW + timedelta(minutes=1))
            profiler.runcall(service.tick)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        service.close()


if __name__ == "__main__":
    main(profile="--profile" in sys.argv[1:])

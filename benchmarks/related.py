"""Linking a new report to related earlier cases (issue 18), with 10,000 earlier cases.

.venv/bin/python -m benchmarks.related

10,000 cases go in first, each indexed by its systems and text (`Store.index_case`); a
third of the reports that follow names the system of an earlier case, a third re-sends
an earlier text with a few words changed, a third is unrelated. Timed per report: all
that `shell.applying.link_related` adds to recording it (systems, MinHash signature,
index lookups, the decision, the links written to both cases, events, its own index
rows), inside the record transaction; the commit is the record's own and is not
counted. The limit column is the insert of the case row itself, in the same run.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.table import Row, markdown
from mailbot.core import related
from mailbot.core.models import Case, CaseState
from mailbot.shell.applying import link_related
from mailbot.store import Store

EARLIER = 10_000
REPORTS = 300
TARGET_MS = 5.0
NOW = datetime(2027, 1, 13, 9, 0, tzinfo=UTC)
OWN = "gemeente.example"
WORDS = [f"w{n}" for n in range(3000)]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(120))


def _case(n: int, system: str) -> Case:
    return Case(
        id=f"MK-2026-{n:05d}",
        state=CaseState.NEW if n % 3 else CaseState.CLOSED,
        subject=f"report {n}",
        received_at=NOW - timedelta(minutes=EARLIER - n),
        affected=(system,),
    )


def _fill(store: Store, rng: random.Random) -> list[tuple[Case, str]]:
    earlier = []
    with store.transaction():
        for n in range(1, EARLIER + 1):
            case, text = _case(n, f"https://host{n}.example/path{n % 7}"), _text(rng)
            store.insert_case(case, 2026, n, NOW)
            found = related.systems(case.affected, OWN)
            store.index_case(case.id, found, related.signature(text))
            earlier.append((case, text))
    return earlier


def _report(n: int, rng: random.Random, earlier: list[tuple[Case, str]]) -> tuple[Case, str]:
    case, text = rng.choice(earlier)
    kind = n % 3
    if kind == 0:  # the same system, other words
        return replace(_case(n, case.affected[0]), id=f"MK-2027-{n:05d}"), _text(rng)
    if kind == 1:  # the same text, a few words changed, no system
        words = text.split()
        for i in rng.sample(range(len(words)), 4):
            words[i] = rng.choice(WORDS)
        return replace(_case(n, ""), id=f"MK-2027-{n:05d}", affected=()), " ".join(words)
    return replace(_case(n, f"https://new{n}.example/"), id=f"MK-2027-{n:05d}"), _text(rng)


def measure() -> tuple[list[float], list[float], int]:
    """Per report: ms of linking, ms of the case insert; and how many links were made."""
    rng = random.Random(18)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "mailbot.sqlite3")
        earlier = _fill(store, rng)
        related.signature(_text(rng))  # the library's import is the daemon's, once
        linking, inserting, links = [], [], 0
        for n in range(1, REPORTS + 1):
            case, text = _report(n, rng, earlier)
            with store.transaction():
                started = time.perf_counter()
                store.insert_case(case, 2027, n, NOW)
                inserted = time.perf_counter()
                link_related(store, case, text, OWN, NOW)
                done = time.perf_counter()
            inserting.append((inserted - started) * 1000)
            linking.append((done - inserted) * 1000)
            stored = store.case(case.id)
            links += len(stored.related) if stored else 0
        store.close()
    return linking, inserting, links


def rows() -> list[Row]:
    """The benchmark's row for RESULTS.md."""
    linking, inserting, links = measure()
    median = statistics.median(linking)
    return [
        Row(
            what=f"linking a report to related cases, {EARLIER:,} earlier cases",
            ours=f"median {median:.2f} ms, max {max(linking):.1f} ms",
            limit=f"inserting the case row: median {statistics.median(inserting):.2f} ms",
            target=f"median ≤ {TARGET_MS:.0f} ms added per report",
            met=median <= TARGET_MS,
            note=(
                f"n = {REPORTS} reports (a third same system, a third near-identical text,"
                f" a third unrelated), {links} links made; index lookups, MinHash"
                " (datasketch, 64 permutations, 16 bands) and the writes to both cases"
            ),
        )
    ]


def main() -> int:
    """Print the row; exit 1 when the target was missed."""
    found = rows()
    print(markdown(found))
    return 0 if all(r.met is not False for r in found) else 1


if __name__ == "__main__":
    sys.exit(main())

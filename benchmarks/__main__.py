"""Every benchmark in one run: our figures next to their limits, measured side by side.

    .venv/bin/python -m benchmarks [--count N] [--no-write] [--only NAME ...]

Starts a private Dovecot and an aiosmtpd sink on 127.0.0.1, runs the benchmarks
(scheduler tick, large-message memory, adversarial message shapes, cold start, IDLE
latency, backlog), prints a Markdown table and writes it with a description of the
machine to benchmarks/RESULTS.md. `--count` sets the backlog size (default 10,000); `--only`
runs the named benchmarks (tick, memory, adversarial, coldstart, latency, backlog,
faults: SIGTERM, READY and an IMAP outage, issue 13; it restarts Dovecot, so it runs last).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.servers import DovecotServer, Sink, servers
from benchmarks.table import Row, markdown

RESULTS = Path(__file__).with_name("RESULTS.md")
NAMES = ("tick", "memory", "adversarial", "coldstart", "latency", "backlog", "faults")


def machine() -> list[str]:
    """Lines describing this machine and the software under test."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    memory = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    dovecot = subprocess.run(
        ["/usr/sbin/dovecot", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory:,} MB",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" Dovecot {dovecot or 'unknown'}",
        f"- load average at the start: {Path('/proc/loadavg').read_text().split()[0]}",
    ]


def run(names: list[str], count: int) -> list[Row]:
    """The rows of the named benchmarks, in the order of NAMES."""
    found: list[Row] = []
    plain: dict[str, Callable[[], list[Row]]] = {
        "tick": lambda: _module("tick").rows(),
        "memory": lambda: _module("memory").rows(),
        "adversarial": lambda: _module("adversarial").rows(),
    }
    for name in (n for n in NAMES if n in names and n in plain):
        found += _timed(name, plain[name])
    served = [n for n in NAMES if n in names and n not in plain]
    if served:
        with servers() as (dovecot, sink):
            for name in served:
                found += _timed(name, lambda n=name: _served(n, dovecot, sink, count))
    return found


def _served(name: str, dovecot: DovecotServer, sink: Sink, count: int) -> list[Row]:
    module = _module(name)
    sink.clear()
    if name == "backlog":
        rows: list[Row] = module.rows(dovecot, sink, count)
        return rows
    result: list[Row] = module.rows(dovecot, sink)
    return result


def _module(name: str) -> object:
    return importlib.import_module(f"benchmarks.{name}")


def _timed(name: str, action: Callable[[], list[Row]]) -> list[Row]:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {name} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    rows = action()
    print(f"    {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write RESULTS.md; exit 1 when a target was missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--count", type=int, default=10_000, help="backlog size")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    args = parser.parse_args(argv)
    about = machine()
    started = time.perf_counter()
    rows = run(args.only, args.count)
    minutes = (time.perf_counter() - started) / 60
    about.append(f"- load average at the end: {Path('/proc/loadavg').read_text().split()[0]}")
    about.append(f"- whole run: {minutes:.1f} minutes, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    table = markdown(rows)
    print(table)
    print("\n".join(about))
    if not args.no_write:
        RESULTS.write_text(_document(table, about), encoding="utf-8")
        print(f"written: {RESULTS}")
    return 0 if all(r.met is not False for r in rows) else 1


def _document(table: str, about: list[str]) -> str:
    notes = RESULTS.with_name("NOTES.md")
    tail = notes.read_text(encoding="utf-8") if notes.exists() else ""
    return (
        "# Benchmark results\n\n"
        "Written by `python -m benchmarks`; each row's limit was measured in the same run.\n\n"
        f"{table}\n\n## Machine\n\n" + "\n".join(about) + "\n" + (f"\n{tail}" if tail else "")
    )


if __name__ == "__main__":
    sys.exit(main())

"""Fuzz campaign: hostile, mutated mail through the parser and, sampled, the whole pipeline.

Run from the repository root (N messages, default 100000):

    .venv/bin/python -m tests.fuzz.campaign [N] [--seed S] [--workers W] [--every K] [--out DIR]

Message i is made by its own generator, seeded with (S, i): a random MIME tree
(tests/fuzz/generate.py) or a seed message (tests/corpus, tests/data/parsing,
mailbot/samples), then 0-6 mutations (tests/fuzz/mutators.py); one in a hundred gets a
heavy one (huge line, deep nesting, part or parameter flood). The first messages are
the seeds themselves, unmutated.
Each goes through `parsing.parse` and `parsing.parse_headers_only`; every K-th
(default 50) also through a real Service (Maildir in and out, SQLite, manual clock):
intake = parse, classify, decide, record, move; each chunk of messages ends with a
scheduler tick and an outbox flush. Chunks of messages share one Service, so results
do not depend on the number of workers.

Counted as failures, each saved (traceback and input) to the output folder:
  exception:<stage>  an exception escaped parse, parse_headers_only or the pipeline
  internal_error     Service.handle turned an exception into "internal error" quarantine
  fallback           parse needed its safety net (a parser_error defect) other than for
                     recursion (deep nesting), with the traceback of the fault it caught
  invariant          a parsed value broke a promise (header with CR/LF/NUL, unsanitised
                     file name, wrong fingerprint, ...)
  slow               one message took more than SLOW_SECONDS in one stage
Exit status 1 when there is any failure other than `slow`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from mailbot.core.models import InboundMessage
from mailbot.mail import parsing
from mailbot.mail.contacts import normalize_address
from mailbot.mail.decoding import normalize_msgid
from tests.fuzz.findings import Failure, Result, first_of_each_kind, save
from tests.fuzz.generate import generated
from tests.fuzz.mutators import mutate
from tests.fuzz.pipeline import NOW, Pipeline

ROOT = Path(__file__).resolve().parents[2]
SEED_DIRS = (
    ROOT / "tests" / "corpus",
    ROOT / "tests" / "data" / "parsing",
    ROOT / "mailbot" / "samples",
)
#: Seeds larger than this (10,000 parts, deep nesting, ...) are mutated only rarely.
HEAVY_SEED_BYTES = 64 * 1024
#: Share of messages that get one heavy mutation (huge line, deep nesting, floods).
HEAVY_SHARE = 0.01
#: Share of messages mutated from a heavy seed.
HEAVY_SEED_SHARE = 0.0005
SLOW_SECONDS = 2.0
NOT_FATAL = frozenset({"slow"})


# --- inputs --------------------------------------------------------------------------------

_SEEDS: list[bytes] = []
_HEAVY: list[bytes] = []


def load_seeds() -> tuple[list[bytes], list[bytes]]:
    """(light, heavy) seed messages, in a fixed order."""
    light: list[bytes] = []
    heavy: list[bytes] = []
    for folder in SEED_DIRS:
        for path in sorted(folder.glob("*.eml")):
            data = path.read_bytes()
            (heavy if len(data) > HEAVY_SEED_BYTES else light).append(data)
    return light, heavy


def make_input(seed: int, index: int) -> tuple[bytes, list[str]]:
    """Message `index` of the campaign with the names of the mutations that made it."""
    everything = _SEEDS + _HEAVY
    if index < len(everything):
        return everything[index], ["seed"]
    rng = random.Random(f"{seed}:{index}")
    roll = rng.random()
    heavy = rng.random() < HEAVY_SHARE
    if roll < 0.45:
        base, rounds, names = generated(rng), rng.choice([0, 0, 1, 2, 3]), ["generated"]
    elif roll < 1 - HEAVY_SEED_SHARE or not _HEAVY:
        base, rounds, names = rng.choice(_SEEDS), rng.choice([1, 1, 2, 2, 3, 4, 6]), ["seed"]
    else:
        base, rounds, names = rng.choice(_HEAVY), 1, ["heavy-seed"]
    data, applied = mutate(rng, base, _SEEDS, rounds, heavy)
    return data, names + applied


# --- parser checks -------------------------------------------------------------------------


def invariants(msg: object, raw: bytes, headers_only: bool) -> list[str]:
    """The promises of `parsing` that `msg` breaks (empty when all hold)."""
    if not isinstance(msg, InboundMessage):
        return [f"not an InboundMessage: {type(msg).__name__}"]
    problems: list[str] = []
    if (msg.size, msg.raw_sha256) != (len(raw), hashlib.sha256(raw).hexdigest()):
        problems.append("wrong size or sha256")
    if msg.received_at != NOW:
        problems.append("wrong received_at")
    lines = [*msg.headers, ("subject", msg.subject), ("from_name", msg.from_name)]
    for key, value in lines:
        if any(ch in key + value for ch in "\r\n\x00"):
            problems.append(f"CR/LF/NUL in header {key[:40]!r}")
    addresses = [msg.from_address, *msg.reply_to, *msg.to, *msg.cc, msg.return_path or None]
    problems += [
        f"unnormalised address {a!r}" for a in addresses if a and normalize_address(a) != a
    ]
    ids = [msg.message_id, *msg.in_reply_to, *msg.references, *msg.bounced_message_ids]
    problems += [f"bad message id {i[:60]!r}" for i in ids if i and normalize_msgid(i) != i]
    for attachment in msg.attachments:
        name = attachment.filename
        if name != parsing.sanitize_filename(name) or any(ch in name for ch in "/\\\x00"):
            problems.append(f"unsafe file name {name[:60]!r}")
    if "\x00" in msg.text or "\r" in msg.text:
        problems.append("NUL or CR in text")
    if headers_only and (msg.text or msg.attachments):
        problems.append("headers-only message has a body")
    return problems


def caught_fault(raw: bytes, headers_only: bool) -> str:
    """The traceback of the fault behind a parser_error defect (re-run without the net)."""
    size, digest = len(raw), hashlib.sha256(raw).hexdigest()
    try:
        if headers_only:
            parsing._parse_head(raw, size, digest, NOW, [])
        else:
            parsing._parse_full(raw, size, digest, NOW)
    except Exception:
        return traceback.format_exc()
    return "(the fault did not recur)"


STAGES: tuple[tuple[str, Callable[[bytes, datetime], InboundMessage], bool], ...] = (
    ("parse", parsing.parse, False),
    ("headers_only", parsing.parse_headers_only, True),
)


def check_parsers(raw: bytes, index: int, mutations: list[str], result: Result) -> None:
    """Both parsers on `raw`: no exception, invariants hold, no unexpected fallback."""
    for stage, function, headers_only in STAGES:
        started = time.perf_counter()
        try:
            msg = function(raw, NOW)
        except Exception:
            result.fail(
                Failure(index, f"exception:{stage}", traceback.format_exc(), raw, mutations)
            )
            continue
        finally:
            elapsed = time.perf_counter() - started
            result.timed(elapsed, index, stage)
        if elapsed > SLOW_SECONDS:
            result.fail(Failure(index, "slow", f"{stage}: {elapsed:.2f} s", raw, mutations))
        problems = invariants(msg, raw, headers_only)
        if problems:
            result.fail(
                Failure(index, "invariant", f"{stage}: " + "; ".join(problems), raw, mutations)
            )
        for defect in msg.defects:
            if not defect.startswith("parser_error"):
                continue
            result.counts[f"{stage}:{defect}"] += 1
            if defect != "parser_error:RecursionError":
                detail = f"{stage}: {defect}\n{caught_fault(raw, headers_only)}"
                result.fail(Failure(index, "fallback", detail, raw, mutations))


# --- driver --------------------------------------------------------------------------------


def _quiet() -> None:
    """Silence structlog (the service logs every message) and load the seeds."""
    devnull = Path(os.devnull).open("w")  # noqa: SIM115 - lives as long as the process
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
        logger_factory=structlog.PrintLoggerFactory(file=devnull),
    )
    light, heavy = load_seeds()
    _SEEDS[:], _HEAVY[:] = light, heavy


def run_chunk(job: tuple[int, int, int, int]) -> Result:
    """Messages [start, stop) of the campaign with seed `seed`; every `every`-th piped."""
    seed, start, stop, every = job
    result = Result()
    with tempfile.TemporaryDirectory(prefix="mailbot-fuzz-") as base:
        pipeline = Pipeline(Path(base))
        for index in range(start, stop):
            raw, mutations = make_input(seed, index)
            result.messages += 1
            check_parsers(raw, index, mutations, result)
            if every and index % every == 0:
                pipeline.run(raw, index, mutations, result)
        pipeline.finish(stop - 1, result)
    return result


def report(result: Result, args: argparse.Namespace, elapsed: float, out: Path) -> str:
    """The summary printed at the end."""
    c = result.counts
    exceptions = {
        k.removeprefix("failure:"): v for k, v in c.items() if k.startswith("failure:exception")
    }
    fallbacks = {k: v for k, v in c.items() if ":parser_error" in k}
    dispositions = {
        k.removeprefix("disposition:"): v
        for k, v in sorted(c.items())
        if k.startswith("disposition:")
    }
    failures = {k.removeprefix("failure:"): v for k, v in c.items() if k.startswith("failure:")}
    seconds, index, stage = result.slowest
    return "\n".join(
        [
            f"messages run:          {result.messages} (each through parse and parse_headers_only)",
            f"pipeline samples:      {result.pipeline} (every {args.every}th, whole intake)",
            f"unhandled exceptions:  {sum(exceptions.values())} {exceptions or ''}".rstrip(),
            f"internal errors:       {c['failure:internal_error']} (caught by Service.handle)",
            f"invariant violations:  {c['failure:invariant']}",
            f"parser fallbacks:      {fallbacks or 'none'} (RecursionError: by design)",
            f"failures by kind:      {failures or 'none'}",
            f"dispositions:          {dispositions}",
            f"slowest stage:         {seconds:.3f} s (message {index}, {stage})",
            f"over {SLOW_SECONDS} s:            {c['failure:slow']}",
            f"throughput:            {result.messages / elapsed:.0f} msg/s",
            f"time:                  {elapsed:.1f} s, {args.workers} worker(s), seed {args.seed}",
            f"failures saved to:     {out if result.failures else '(none)'}",
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz.campaign", description=__doc__.splitlines()[0]
    )
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="messages to run")
    parser.add_argument("--seed", type=int, default=20261221)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--every", type=int, default=50, help="pipe every K-th message (0: none)")
    parser.add_argument("--chunk", type=int, default=500, help="messages per chunk (one Service)")
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "mailbot-fuzz-failures"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the campaign; 0 when nothing but slowness was found."""
    args = parse_args(argv)
    jobs = [
        (args.seed, s, min(s + args.chunk, args.n), args.every)
        for s in range(0, args.n, args.chunk)
    ]
    total = Result()
    started = time.perf_counter()
    results: Any
    if args.workers <= 1:
        _quiet()
        results = map(run_chunk, jobs)
    else:
        pool = multiprocessing.get_context("fork").Pool(args.workers, initializer=_quiet)
        results = pool.imap_unordered(run_chunk, jobs)
    step = max(1, len(jobs) // 10)
    for done, result in enumerate(results, 1):
        total.merge(result)
        if done % step == 0:
            rate = total.messages / (time.perf_counter() - started)
            print(f"  {total.messages} messages, {rate:.0f} msg/s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    if args.workers > 1:
        pool.close()
        pool.join()
    total.failures = first_of_each_kind(total.failures)
    if total.failures:
        save(total.failures, args.out)
    print(report(total, args, elapsed, args.out))
    fatal = [
        k
        for k, v in total.counts.items()
        if k.startswith("failure:") and v and k[8:] not in NOT_FATAL
    ]
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())

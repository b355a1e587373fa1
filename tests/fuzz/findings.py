"""What the fuzz campaign finds: failures and counts, merged over chunks, saved to disk."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: Failures kept (with input and traceback) per kind.
SAVED_PER_KIND = 10


@dataclass
class Failure:
    """One failing input."""

    index: int
    kind: str
    detail: str
    raw: bytes
    mutations: list[str]


@dataclass
class Result:
    """What a chunk (or the whole campaign) found."""

    messages: int = 0
    pipeline: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    slowest: tuple[float, int, str] = (0.0, -1, "")

    def fail(self, failure: Failure) -> None:
        """Count `failure`; keep its details while few of its kind are kept."""
        self.counts[f"failure:{failure.kind}"] += 1
        if self.counts[f"failure:{failure.kind}"] <= SAVED_PER_KIND:
            self.failures.append(failure)

    def timed(self, elapsed: float, index: int, stage: str) -> None:
        """Remember the slowest stage seen."""
        if elapsed > self.slowest[0]:
            self.slowest = (elapsed, index, stage)

    def merge(self, other: Result) -> None:
        """Add another chunk's findings."""
        self.messages += other.messages
        self.pipeline += other.pipeline
        self.counts.update(other.counts)
        self.failures += other.failures
        if other.slowest[0] > self.slowest[0]:
            self.slowest = other.slowest


def first_of_each_kind(failures: list[Failure]) -> list[Failure]:
    """The SAVED_PER_KIND failures of each kind with the lowest indexes (deterministic)."""
    kept: list[Failure] = []
    seen: Counter[str] = Counter()
    for failure in sorted(failures, key=lambda f: (f.kind, f.index)):
        seen[failure.kind] += 1
        if seen[failure.kind] <= SAVED_PER_KIND:
            kept.append(failure)
    return kept


def save(failures: list[Failure], out: Path) -> None:
    """Each failure as <index>-<kind>.txt (what and how) and .eml (the input)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in failures:
        stem = f"{f.index:07d}-{f.kind.replace(':', '-')}"
        (out / f"{stem}.txt").write_text(
            f"index {f.index}\nkind {f.kind}\nmutations {' '.join(f.mutations)}\n\n{f.detail}\n"
        )
        (out / f"{stem}.eml").write_bytes(f.raw)

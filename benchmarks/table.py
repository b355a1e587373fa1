"""One row of the benchmark table: our figure next to its limit, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """Our figure, the limit measured in the same run, and the target that relates them.

    `met` is None for rows that only inform (no target of their own).
    """

    what: str
    ours: str
    limit: str
    target: str
    met: bool | None
    note: str = ""

    @property
    def verdict(self) -> str:
        """ "met", "MISSED" or "" (an informative row)."""
        if self.met is None:
            return ""
        return "met" if self.met else "MISSED"


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table (RESULTS.md and the terminal)."""
    lines = [
        "| what | ours | limit (same run) | target | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.what} | {r.ours} | {r.limit} | {r.target} | {r.verdict} |")
    notes = [f"- {r.what}: {r.note}" for r in rows if r.note]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)

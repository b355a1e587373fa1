"""The README's command table and exit-code table name every command the parser knows
(docs checked against the parser, as sqlite-utils checks its docs against `--help`)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mailbot.cli.parser import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def commands() -> set[str]:
    """Every command of `mailbot`, with its action where it has one (`case show`)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = set()
    for name, command in sub.choices.items():
        actions = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        found |= {f"{name} {act}" for act in actions[0].choices} if actions else {name}
    return found


def section(title: str) -> str:
    """The README text from the heading `title` to the next heading of any level."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{title}\n")
    end = re.search(r"\n#{2,3} ", text[start + 1 :])
    return text[start : start + 1 + end.start()] if end else text[start:]


def test_commands_table_names_every_command() -> None:
    """Every command has a row `mailbot COMMAND ...` in README "## Commands"."""
    rows = section("## Commands")
    missing = sorted(c for c in commands() if f"| `mailbot {c}" not in rows)
    assert missing == []


def test_exit_code_table_names_every_command() -> None:
    """Every command appears in the first column of README "### Exit codes"."""
    first_columns = " ".join(
        line.split("|")[1]
        for line in section("### Exit codes").splitlines()
        if line.startswith("| `")
    )
    named = set(re.findall(r"`([a-z -]+)`", first_columns))
    missing = sorted(c for c in commands() if c not in named)
    assert missing == []

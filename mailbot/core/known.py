"""Known findings (pure): `[triage] known_findings`, checked at load, matched at intake.

A known finding is something the municipality already knows or does not treat as a
vulnerability (missing DMARC, a version banner, clickjacking on a static page). Each has a
`name` (the value of the staff command `Reply: <name>`), regular expressions of which any
may match the report's subject or text, and a reply template (`templates/<lang>/<name>.txt`,
overridable through `[templates] directory` like every template).

Matching runs on text a stranger wrote, with Python's `re` (no timeout). Three bounds keep
it fast: only the first `MAX_TEXT_CHARS` characters of the text and `MAX_SUBJECT_CHARS` of
the subject are searched; at most `MAX_PATTERNS` patterns of at most `MAX_PATTERN_CHARS`
characters each; and a pattern with a nested unbounded repeat (``(a+)+``, ``(\\w*)*``,
``(?:x.*)+``), the shape of catastrophic backtracking, is refused at load. Patterns are
case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mailbot.core.errors import ConfigError

# The parser of `re` itself (Python 3.11+; `sre_parse` is its deprecated alias), to read
# the shape of a pattern: stable in practice, checked by the tests.
_c: Any = re._constants  # type: ignore[attr-defined]
_p: Any = re._parser  # type: ignore[attr-defined]

MAX_TEXT_CHARS = 20_000
MAX_SUBJECT_CHARS = 1_000
MAX_PATTERNS = 200
MAX_PATTERN_CHARS = 300
NAME = re.compile(r"[a-z0-9_-]{1,40}")
TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
"""What the renderer accepts as a template name (`rendering._TEMPLATE_NAME_RE`)."""
KEYS = ("name", "match", "reply_template")

_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT)
_UNBOUNDED = _c.MAXREPEAT


@dataclass(frozen=True)
class KnownFinding:
    """One entry of `[triage] known_findings`."""

    name: str
    match: tuple[str, ...]
    reply_template: str
    patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)
    """`match` compiled (case-insensitive)."""


def match_known(text: str, subject: str, findings: Sequence[KnownFinding]) -> str | None:
    """The name of the first of `findings` with a pattern found in `subject` or `text`
    (their first `MAX_SUBJECT_CHARS` / `MAX_TEXT_CHARS` characters), else None."""
    head, title = text[:MAX_TEXT_CHARS], subject[:MAX_SUBJECT_CHARS]
    for finding in findings:
        if any(p.search(title) or p.search(head) for p in finding.patterns):
            return finding.name
    return None


def read_known_findings(value: object, where: str) -> tuple[KnownFinding, ...]:
    """The list of tables at `where` ("<file>: [triage] known_findings") as findings, each
    checked: keys, a safe unique name, patterns that compile and cannot backtrack without
    bound, a template name the renderer accepts. ConfigError naming the bad value."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of tables, got {value!r}")
    findings: list[KnownFinding] = []
    for index, entry in enumerate(value):
        finding = _read_one(entry, f"{where}[{index}]")
        if any(f.name == finding.name for f in findings):
            raise ConfigError(f"{where}[{index}] name: {finding.name!r} is given twice")
        findings.append(finding)
    if sum(len(f.match) for f in findings) > MAX_PATTERNS:
        raise ConfigError(f"{where}: more than {MAX_PATTERNS} patterns in all")
    return tuple(findings)


def _read_one(entry: object, where: str) -> KnownFinding:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table {{name, match, reply_template}}")
    for key in entry:
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (keys: {', '.join(KEYS)})")
    for key in KEYS:
        if key not in entry:
            raise ConfigError(f"{where}: missing key {key!r}")
    name, match, template = entry["name"], entry["match"], entry["reply_template"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"{where} name: 1-40 of a-z, 0-9, _ and -, got {name!r}")
    if not isinstance(template, str) or not TEMPLATE_NAME.fullmatch(template):
        raise ConfigError(
            f"{where} reply_template: a template file name without .txt "
            f"(a-z, 0-9 and _, starting with a letter), got {template!r}"
        )
    if not isinstance(match, list) or not match or not all(isinstance(m, str) for m in match):
        raise ConfigError(f"{where} match: expected a non-empty list of strings, got {match!r}")
    patterns = tuple(_compile(m, f"{where} match") for m in match)
    return KnownFinding(name, tuple(match), template, patterns)


def _compile(source: str, where: str) -> re.Pattern[str]:
    if not source.strip():
        raise ConfigError(f"{where}: an empty pattern matches every report")
    if len(source) > MAX_PATTERN_CHARS:
        raise ConfigError(f"{where}: pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        parsed = _p.parse(source, re.IGNORECASE)
        pattern = re.compile(source, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"{where}: {source!r} is not a regular expression: {exc}") from exc
    if _nested_repeat(list(parsed)):
        raise ConfigError(
            f"{where}: {source!r} repeats a repeat without bound (like (a+)+), which can take "
            "exponential time on hostile text; write it without the outer repeat"
        )
    return pattern


def _nested_repeat(items: list[Any]) -> bool:
    """True when an unbounded repeat in the parse tree `items` contains another repeat."""
    for op, arg in items:
        if op in _REPEATS:
            high, sub = arg[1], list(arg[2])
            if (high == _UNBOUNDED and _has_repeat(sub)) or _nested_repeat(sub):
                return True
        elif any(_nested_repeat(s) for s in _children(op, arg)):
            return True
    return False


def _has_repeat(items: list[Any]) -> bool:
    """True when the parse tree `items` repeats anything more than once."""
    for op, arg in items:
        if op in _REPEATS and arg[1] > 1:
            return True
        if any(_has_repeat(s) for s in _children(op, arg)):
            return True
    return False


def _children(op: Any, arg: Any) -> list[list[Any]]:
    """The sub-patterns of one parse-tree node (groups, alternatives, look-arounds)."""
    if op is _c.SUBPATTERN:
        return [list(arg[-1])]
    if op is _c.BRANCH:
        return [list(b) for b in arg[1]]
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return [list(arg[1])]
    if op is _c.GROUPREF_EXISTS:
        return [list(b) for b in arg[1:] if b is not None]
    return []

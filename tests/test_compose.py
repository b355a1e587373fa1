"""Tests of the one mail composer: every outgoing mail is built in `core.compose.compose`."""

from __future__ import annotations

import ast
from pathlib import Path

import mailbot

PACKAGE = Path(mailbot.__file__).parent


def _callers(callee: str) -> list[tuple[str, str]]:
    """(module, function) of every call in the package whose callee's text ends in `callee`."""
    found: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [
                    (path.relative_to(PACKAGE).as_posix(), func.name)
                    for node in ast.walk(func)
                    if isinstance(node, ast.Call)
                    and ast.unparse(node.func).split(".")[-len(callee.split(".")) :]
                    == callee.split(".")
                ]
    return found


def test_build_mail_is_called_by_the_composer_only() -> None:
    """One place builds an outgoing mail: `compose` in core/compose.py calls build_mail."""
    assert _callers("build_mail") == [("core/compose.py", "compose")]


def test_templates_are_rendered_by_the_composer_only() -> None:
    """No planner renders a mail template itself: `compose` is the one renderer.render call."""
    assert _callers("renderer.render") == [("core/compose.py", "rendered")]

"""README's "Where things live" names every module of the package, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mailbot"


def listed() -> set[str]:
    """The module paths the README's map lists (relative to mailbot/)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Where things live", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([a-z_]+/[a-z_]+\.py)`: \S", section, re.MULTILINE))


def modules() -> set[str]:
    """Every module in a layer package (package __init__ files only where they hold code)."""
    found = set()
    for path in PACKAGE.glob("*/*.py"):
        code = path.read_text(encoding="utf-8").strip()
        if path.name == "__init__.py" and code.count("\n") < 3:
            continue  # a package docstring only
        found.add(str(path.relative_to(PACKAGE)))
    return found


def test_every_module_is_in_the_readme_map() -> None:
    """A module added or renamed without its line in the README fails here (and the reverse)."""
    assert sorted(listed()) == sorted(modules())


def test_no_module_is_left_at_the_top_level() -> None:
    """Only the package marker and `python -m mailbot` stay outside the layer packages."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py"]

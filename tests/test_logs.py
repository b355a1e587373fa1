"""Logs: JSON for journald with each line's priority, plain JSON elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from mailbot.shell import logs


@pytest.fixture(autouse=True)
def default_logging() -> Iterator[None]:
    """structlog is global: each test here leaves it as it found it (the default)."""
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("method", "priority"), [("debug", 7), ("info", 6), ("warning", 4), ("error", 3)]
)
def test_json_to_the_journal_carries_the_priority(
    capsys: pytest.CaptureFixture[str], method: str, priority: int
) -> None:
    """Under systemd ($JOURNAL_STREAM) each JSON line starts with `<N>`, then the JSON."""
    logs.configure("json", "debug", env={"JOURNAL_STREAM": "8:12345"})
    getattr(logs.get_logger(case="MK-2026-0001"), method)("something_happened")
    line = capsys.readouterr().err.strip()
    prefix, _, document = line.partition(">")
    record = json.loads(document)
    assert (prefix, record["event"], record["case"]) == (
        f"<{priority}",
        "something_happened",
        "MK-2026-0001",
    )


def test_json_elsewhere_is_plain_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Without $JOURNAL_STREAM (a terminal, a file, the tests) every line is plain JSON."""
    logs.configure("json", "info", env={})
    logs.get_logger().warning("something_happened")
    record = json.loads(capsys.readouterr().err)
    assert (record["event"], record["level"]) == ("something_happened", "warning")

"""The benchmark harness itself: the table it prints and how it watches a child."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from benchmarks import adversarial
from benchmarks.procstat import Watched, watch
from benchmarks.table import Row, markdown


def test_markdown_has_one_line_per_row_and_the_notes_below() -> None:
    """Rows become table lines with their verdicts; notes follow the table."""
    rows = [
        Row("tick", "18 ms", "81 ms", "≤ 50 ms", True, "n = 30"),
        Row("backlog", "113 msg/s", "233 msg/s", "≥ 80%", False),
        Row("skipped tick", "0.05 ms", "", "", None),
    ]
    assert markdown(rows).splitlines() == [
        "| what | ours | limit (same run) | target | verdict |",
        "|---|---|---|---|---|",
        "| tick | 18 ms | 81 ms | ≤ 50 ms | met |",
        "| backlog | 113 msg/s | 233 msg/s | ≥ 80% | MISSED |",
        "| skipped tick | 0.05 ms |  |  |  |",
        "",
        "- tick: n = 30",
    ]


def test_watch_reports_exit_status_cpu_and_the_child_own_peak() -> None:
    """A child that holds 60 MB: its peak is its own (not the parent's), its CPU counted."""
    code = "b = bytearray(60_000_000); import time; time.sleep(0.5); raise SystemExit(3)"
    done = watch([sys.executable, "-c", code], every=0.05)
    assert done.returncode == 3
    assert 60e6 <= done.peak_rss < 200e6
    assert done.cpu > 0
    assert done.samples and all(progress == 0 for progress, _ in done.samples)


def test_rss_at_picks_the_first_sample_that_reached_the_share() -> None:
    """rss_at(0.5) is the RSS of the first sample at or past half the final progress."""
    run = Watched(1.0, 0, 9, [(0, 5), (40, 6), (50, 7), (100, 8)])
    assert (run.rss_at(0.1), run.rss_at(0.5), run.rss_at(1.0)) == (6, 7, 8)


def test_adversarial_shapes_go_through_a_real_intake() -> None:
    """At 50 KB every adversarial shape is recorded by a real intake (none fails or hangs)."""
    _, shapes = adversarial.measure_all(50_000, repeat=1)
    failed = [m.name for m in shapes if m.disposition not in ("new_case", "quarantined")]
    assert ([m.name for m in shapes], failed) == ([s.name for s in adversarial.SHAPES], [])


def test_adversarial_row_names_every_shape() -> None:
    """The row's note gives the ms per MB of every shape."""
    (row,) = adversarial.rows(sizes=(50_000,), repeat=1)
    missing = [s.name for s in adversarial.SHAPES if f"{s.name} " not in row.note]
    assert (row.what.startswith("adversarial intake, "), missing) == (True, [])


def _reconnect(at: str, delay: float, attempt: int) -> dict[str, object]:
    return {"event": "mailbox_reconnect", "timestamp": at, "delay": delay, "attempt": attempt}


def test_still_to_wait_reads_the_last_reconnect_before_the_server_came_back() -> None:
    """The outage row's limit: the last delay planned before `back`, and what was left of it."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from benchmarks.faults import still_to_wait  # noqa: PLC0415

    events = [
        _reconnect("2026-12-06T10:00:00.000000Z", 32.0, 7),
        {"event": "mailbox_port_open", "timestamp": "2026-12-06T10:00:20.000000Z"},
        _reconnect("2026-12-06T10:00:40.000000Z", 76.5, 8),
        _reconnect("2026-12-06T10:03:00.000000Z", 150.0, 9),  # after `back`: not counted
    ]
    back = datetime(2026, 12, 6, 10, 1, 0, tzinfo=UTC)
    assert still_to_wait(events, back) == (76.5, 56.5, 8)
    late = datetime(2026, 12, 6, 10, 2, 0, tzinfo=UTC)  # the 76.5 s had run out at 10:01:56.5
    assert still_to_wait(events[:3], late) == (76.5, 0.0, 8)
    assert still_to_wait(events[1:2], back) == (0.0, 0.0, 0)


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in Path(__file__).parent.parent.glob("benchmarks/*.py"))
)
def test_every_benchmark_module_imports(name: str) -> None:
    """Each benchmark still imports after the package moves (mypy does not check them)."""
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__name__ == f"benchmarks.{name}"

"""Peak memory while handling one large message (a 25 MB report with a big attachment).

    .venv/bin/python -m benchmarks.memory [MEGABYTES]

Measures the peak RSS growth of one intake pass over one message, against its size.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from benchmarks.table import Row
from mailbot.core import config
from mailbot.shell import logs
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.wiring import build_service

TARGET = 4.0


def big_message(megabytes: float) -> bytes:
    """A report with one attachment, the whole message about `megabytes` MB (10^6 bytes)."""
    msg = EmailMessage()
    msg["From"] = "jan@example.nl"
    msg["To"] = "meldpunt@gemeente.example"
    msg["Subject"] = "Groot bewijsbestand"
    msg["Message-ID"] = "<big@example.nl>"
    msg.set_content("Zie de bijlage: https://portaal.gemeente.example is lek.")
    payload = bytes(range(256)) * int(megabytes * 1e6 * 0.73 / 256)  # base64 grows 4/3
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="dump.bin")
    return bytes(msg)


def peak_rss() -> int:
    """Peak resident set size (VmHWM) since the last `reset_peak`, in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> None:
    """Start the peak over from the current RSS (ru_maxrss even survives exec)."""
    Path("/proc/self/clear_refs").write_text("5")


def measure(base: Path) -> None:
    """In a fresh process: warm up, then one intake pass over the waiting message."""
    logs.configure("console", "warning")
    settings = config.embedded(base)
    now = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
    size = sum(f.stat().st_size for f in (base / "inbox" / "new").iterdir())
    service = build_service(settings, ManualClock(now))
    service.renderer.render("acknowledgement", "nl", _WARM)  # templates compiled
    service.calendar.due(now, 5)  # holiday tables imported (about 8 MB, once per process)
    reset_peak()
    before = peak_rss()
    outcomes = service.intake()
    asyncio.run(service.deliver())
    after = peak_rss()
    service.close()
    growth = after - before
    print(
        json.dumps(
            {
                "size": size,
                "before": before,
                "growth": growth,
                "disposition": outcomes[0].disposition.value,
            }
        )
    )


_WARM = {
    "case": {
        "id": "MK-2026-0001",
        "subject": "x",
        "reporter_name": "",
        "received": "",
        "response_due": "",
    },
    "identity": {"name": "x", "organisation": "x", "address": "x@x.example"},
}


def measure_in_child(megabytes: float = 25.0) -> dict[str, object]:
    """Write the message, then measure in a child process so the generation's peak is gone."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        deliver_to_maildir(
            base / "inbox", big_message(megabytes), datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
        )
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", "--child", tmp],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def rows(megabytes: float = 25.0) -> list[Row]:
    """The row: peak RSS growth while handling one large message, against its size."""
    m = measure_in_child(megabytes)
    size, growth = float(str(m["size"])), float(str(m["growth"]))
    return [
        Row(
            f"memory: one {size / 1e6:.1f} MB message (peak RSS growth of the intake pass)",
            f"{growth / 1e6:.1f} MB = {growth / size:.2f} x the message",
            f"{size / 1e6:.1f} MB (the message)",
            f"growth ≤ {TARGET:.0f} x the message",
            growth <= TARGET * size,
            f"RSS {float(str(m['before'])) / 1e6:.0f} MB before; disposition {m['disposition']}",
        )
    ]


def main(megabytes: float = 25.0) -> None:
    """Print the row."""
    for row in rows(megabytes):
        print(f"{row.what}: {row.ours} (target {row.target}): {row.verdict}; {row.note}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        measure(Path(sys.argv[2]))
    else:
        main(float(sys.argv[1]) if len(sys.argv) > 1 else 25.0)

"""A child process timed from spawn to exit, with its resident memory sampled meanwhile."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Watched:
    """What one child did: seconds, exit status, peak RSS and (progress, RSS) samples."""

    seconds: float
    returncode: int
    peak_rss: int  # bytes: the highest VmHWM sampled
    samples: list[tuple[int, int]] = field(default_factory=list)  # (progress, RSS bytes)
    stderr: str = ""
    cpu: float = 0.0  # seconds of user + system time of the child

    def rss_at(self, share: float) -> int:
        """RSS of the first sample whose progress reached `share` of the last sample's."""
        if not self.samples:
            return 0
        goal = self.samples[-1][0] * share
        return next(rss for progress, rss in self.samples if progress >= goal)


def rss_of(pid: int, field: str = "VmRSS") -> int | None:
    """VmRSS (or another Vm field, e.g. VmHWM) of `pid` in bytes, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def watch(
    command: list[str],
    env: dict[str, str] | None = None,
    progress: Callable[[], int] = lambda: 0,
    every: float = 0.25,
) -> Watched:
    """Run `command`; sample its RSS every `every` seconds with `progress()` at that moment.

    The peak is the highest VmHWM sampled, not the child's ru_maxrss: that one starts
    from the parent's RSS at fork (it survives exec), which says nothing of the child.
    """
    samples: list[tuple[int, int]] = []
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    peak = 0
    reader = threading.Thread(
        target=lambda: errors.append(child.stderr.read() if child.stderr else "")
    )
    reader.start()
    while True:
        ended = os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if ended is not None:
            break
        rss, high = rss_of(child.pid), rss_of(child.pid, "VmHWM")
        if rss is not None and high is not None:
            samples.append((progress(), rss))
            peak = max(peak, high)
        time.sleep(every)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    cpu = usage.ru_utime + usage.ru_stime
    return Watched(seconds, child.returncode, peak, samples, "".join(errors), cpu)

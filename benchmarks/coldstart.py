"""Row 5: cold start of `mailbot run` to READY=1, next to bare Python and Dovecot figures.

    .venv/bin/python -m benchmarks.coldstart [STARTS]

Each start spawns `.venv/bin/mailbot --config CFG run` with NOTIFY_SOCKET set to a
datagram socket the benchmark binds in its temporary folder, and times from just before
Popen to the READY=1 datagram; then SIGTERM to its PID. Every start uses a fresh
database (a new temporary folder: the schema is created each time, the worst case) and
an empty INBOX (one Dovecot account for all starts). One unmeasured start first, with byte-code
writing allowed, so that every measured start reads compiled modules as an installed
package does (pip compiles at install time).

Limits measured in the same run, interleaved with the starts: `python -c pass`, the bare
import of our dependencies, and an imapclient LOGIN + SELECT against the same Dovecot.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.servers import DovecotAccount, DovecotServer, Sink, mailbot_config, servers
from benchmarks.table import Row

STARTS = 9
TARGET = 1.0
MAILBOT = Path(sys.executable).with_name("mailbot")
DEPENDENCIES = "import imapclient, aiosmtplib, jinja2, sqlite_utils, structlog"
READY_TIMEOUT = 30.0


def child_env(notify: str | None = None, bytecode: bool = False) -> dict[str, str]:
    """The environment of a child: no systemd variables but `notify`; .pyc writing as told."""
    env = dict(os.environ)
    for name in (
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "MAILBOT_CONFIG",
        "JOURNAL_STREAM",
    ):
        env.pop(name, None)
    if notify is not None:
        env["NOTIFY_SOCKET"] = notify
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class Daemon:
    """`mailbot run` as a subprocess; READY=1 and its time come from a NOTIFY_SOCKET."""

    def __init__(self, cfg: Path, *, bytecode: bool = False) -> None:
        self.folder = cfg.parent
        self.log_path = self.folder / "daemon.log"
        path = self.folder / f"notify-{time.monotonic_ns()}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        env = child_env(str(path), bytecode)
        with self.log_path.open("ab") as log:
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                [str(MAILBOT), "--config", str(cfg), "run"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.ready_at: float | None = None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Seconds from just before Popen to the READY=1 datagram."""
        deadline = time.monotonic() + timeout
        while self.ready_at is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"no READY=1 within {timeout:.0f} s:\n{self.log()[-3000:]}")
            self.sock.settimeout(min(remaining, 0.5))
            try:
                datagram = self.sock.recv(4096)
            except TimeoutError:
                continue
            if b"READY=1" in datagram.split(b"\n"):
                self.ready_at = time.monotonic()
        return self.ready_at - self.started

    def log(self) -> str:
        """The daemon's stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM to the daemon's PID; its exit code (SIGKILL after 30 s)."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        finally:
            self.sock.close()


def run_python(code: str) -> float:
    """Seconds from spawn to exit of `python -c code` (reads the same .pyc as mailbot)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True)
    return time.monotonic() - started


def login_select(account: DovecotAccount) -> float:
    """Seconds of connect + LOGIN + SELECT INBOX + LOGOUT with imapclient (already imported)."""
    from imapclient import IMAPClient  # noqa: PLC0415 - imported once, before timing

    started = time.monotonic()
    client = IMAPClient(account.host, account.port, ssl=False, timeout=10)
    client.login(account.user, account.password)
    client.select_folder("INBOX")
    elapsed = time.monotonic() - started
    client.logout()
    return elapsed


def start_once(account: DovecotAccount, sink: Sink, *, bytecode: bool = False) -> float:
    """One cold start on a fresh folder and database; seconds to READY=1."""
    with tempfile.TemporaryDirectory(prefix="mailbot-coldstart-") as tmp:
        cfg = mailbot_config(Path(tmp), account, sink)
        daemon = Daemon(cfg, bytecode=bytecode)
        try:
            return daemon.wait_ready()
        finally:
            code = daemon.stop()
            if code != 0:
                raise RuntimeError(f"mailbot exited {code}:\n{daemon.log()[-3000:]}")


def ms(seconds: float) -> str:
    """Milliseconds, no decimals."""
    return f"{seconds * 1000:.0f} ms"


def rows(dovecot: DovecotServer, sink: Sink, starts: int = STARTS) -> list[Row]:
    """The cold-start row and its limits (one Dovecot account, its INBOX stays empty)."""
    account = dovecot.account()
    login_select(account)  # the first LOGIN creates the Maildir; not measured
    start_once(account, sink, bytecode=True)  # writes any missing .pyc; not measured
    run_python(DEPENDENCIES)
    ours: list[float] = []
    bare: list[float] = []
    deps: list[float] = []
    imap: list[float] = []
    for _ in range(starts):
        bare.append(run_python("pass"))
        deps.append(run_python(DEPENDENCIES))
        imap.append(login_select(account))
        ours.append(start_once(account, sink))
    median = statistics.median(ours)
    floor = statistics.median(deps) + statistics.median(imap)
    load = Path("/proc/loadavg").read_text().split()[:3]
    return [
        Row(
            what=f"cold start to READY=1 (median, max of {starts})",
            ours=f"{ms(median)}, max {ms(max(ours))}",
            limit=(
                f"`python -c pass` {ms(statistics.median(bare))}; python importing the "
                f"dependencies {ms(statistics.median(deps))} + IMAP LOGIN+SELECT "
                f"{ms(statistics.median(imap))} = {ms(floor)}"
            ),
            target=f"≤ {ms(TARGET)}",
            met=median <= TARGET,
            note=(
                "spawn of .venv/bin/mailbot run with NOTIFY_SOCKET to the READY=1 datagram; "
                "fresh database and empty INBOX each start, .pyc present; medians; "
                f"dependencies: `python -c '{DEPENDENCIES}'`; load {' '.join(load)}"
            ),
        )
    ]


def main() -> None:
    """Start the servers and print the row."""
    from benchmarks.table import markdown  # noqa: PLC0415

    starts = int(sys.argv[1]) if len(sys.argv) > 1 else STARTS
    with servers() as (dovecot, sink):
        print(markdown(rows(dovecot, sink, starts)))


if __name__ == "__main__":
    main()

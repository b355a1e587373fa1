"""The systemd notify protocol: a few datagrams on $NOTIFY_SOCKET, no libsystemd needed."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class Notifier:
    """Sends READY=1, STATUS=…, WATCHDOG=1, STOPPING=1 when systemd asked for them."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        self.address = address
        self.watchdog_seconds = _watchdog_seconds(environ)

    @property
    def enabled(self) -> bool:
        """True when running under systemd with Type=notify."""
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send `lines` as one datagram; False (never an exception) when it cannot."""
        if not self.address:
            return False
        payload = "\n".join(line.replace("\n", " ") for line in lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall(payload)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> bool:
        """Tell systemd the service is up."""
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        """Update the status line `systemctl status` shows."""
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        """Keep-alive ping for WatchdogSec=."""
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        """Tell systemd we are shutting down."""
        return self.send("STOPPING=1", "STATUS=stopping")


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """Seconds of WatchdogSec= (from WATCHDOG_USEC), if the watchdog is meant for us."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000

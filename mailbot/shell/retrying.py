"""How the daemon waits before trying again (pure policy): exponential backoff with jitter,
slow for a refused login, capped for a store that cannot write; and what systemd's STATUS=
says meanwhile."""

from __future__ import annotations

import random

from mailbot.core.errors import MailboxLoginFailed, StorageUnavailable

BACKOFF_BASE = 0.5
BACKOFF_CAP = 300.0
LOGIN_BACKOFF_BASE = 60.0
LOGIN_BACKOFF_CAP = 3600.0
"""A refused login is retried from once a minute to once an hour: never hammered."""
STORAGE_BACKOFF_CAP = 30.0
"""A store that cannot write is tried again at least this often (space may be freed)."""
PROBE_INTERVAL = 1.0
"""While waiting out a reconnect delay, the mailbox's port is probed this often."""


def backoff(
    attempt: int, rng: random.Random, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP
) -> float:
    """Delay before reconnect `attempt` (1, 2, …): exponential, capped, with jitter."""
    ceiling = min(cap, base * float(2 ** max(attempt - 1, 0)))
    return ceiling * rng.uniform(0.5, 1.0)


def retry_delay(exc: Exception, attempt: int, rng: random.Random) -> tuple[str, float]:
    """The log event and the delay for a failed intake pass (`attempt` failures in a row)."""
    if isinstance(exc, MailboxLoginFailed):
        return "mailbox_login_failed", backoff(attempt, rng, LOGIN_BACKOFF_BASE, LOGIN_BACKOFF_CAP)
    if isinstance(exc, StorageUnavailable):
        return "storage_unavailable", backoff(attempt, rng, cap=STORAGE_BACKOFF_CAP)
    return "mailbox_reconnect", backoff(attempt, rng)


def problem_status(event: str, exc: Exception, delay: float) -> str:
    """The systemd STATUS= line for a failed intake pass."""
    if event == "mailbox_login_failed":
        return (
            f"mailbox login failed, next try in {delay:.0f} s "
            f"(fix the secret, then `systemctl reload mailbot`): {exc}"
        )
    if event == "storage_unavailable":
        return f"storage error, reports wait in the mailbox; retry in {delay:.0f} s: {exc}"
    return f"mailbox unavailable, retry in {delay:.0f} s: {exc}"

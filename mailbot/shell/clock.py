"""The one place that reads the time. Everything else is handed `now`."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Protocol

from mailbot.core.errors import ConfigError

#: Test hook: an ISO 8601 moment with offset that the system clock reports instead of the
#: real time (used by end-to-end tests through the command line; never set it in production).
FAKE_NOW_ENV = "MAILBOT_NOW"


class Clock(Protocol):
    """Something that tells the current moment, timezone-aware, in UTC."""

    def now(self) -> datetime:
        """The current moment (UTC)."""
        ...


class SystemClock:
    """The real clock (or the moment in $MAILBOT_NOW when set)."""

    def __init__(self, fake_now: str | None = None) -> None:
        text = fake_now if fake_now is not None else os.environ.get(FAKE_NOW_ENV)
        self._fixed = parse_moment(text, FAKE_NOW_ENV) if text else None

    def now(self) -> datetime:
        """The current moment (UTC)."""
        if self._fixed is not None:
            return self._fixed
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        self._now = _require_aware(start, "start")

    def now(self) -> datetime:
        """The moment this clock was set to (UTC)."""
        return self._now

    def set(self, moment: datetime) -> None:
        """Move the clock to `moment`."""
        self._now = _require_aware(moment, "moment")


def parse_moment(text: str, what: str) -> datetime:
    """Parse an ISO 8601 moment with offset into UTC; ConfigError names `what`."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{what}: not an ISO 8601 moment: {text!r}") from exc
    if moment.tzinfo is None:
        raise ConfigError(f"{what}: moment {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _require_aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)

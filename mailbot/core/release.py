"""Releasing a quarantined message (pure): what `mailbot release` adds to the plan of the
message recorded again — the `oversized` flag and the audit event naming who released it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailbot.core.effects import Event, Plan
from mailbot.core.models import Case

OVERSIZED = "oversized"


@dataclass(frozen=True)
class Release:
    """Who releases which quarantined message, and why it was held."""

    row: int
    """The message's row, replaced by the new record."""
    actor: str
    was: str
    """The quarantine reason."""
    size: int
    limit: int
    """The configured size limit ([limits] max_message_bytes)."""

    @property
    def oversized(self) -> bool:
        """True when the message is over the configured limit."""
        return self.size > self.limit


def with_release(plan: Plan, release: Release) -> Plan:
    """`plan` with the release's audit event, and the flag `oversized` on its case."""
    detail = f"released from quarantine ({release.was}); {release.size} bytes"
    event = Event(plan.verdict.case_id, "released", detail, actor=release.actor)
    return replace(
        plan,
        new_case=_flagged(plan.new_case, release),
        updated_case=_flagged(plan.updated_case, release),
        events=(*plan.events, event),
    )


def _flagged(case: Case | None, release: Release) -> Case | None:
    if case is None or not release.oversized or OVERSIZED in case.flags:
        return case
    return replace(case, flags=(*case.flags, OVERSIZED))

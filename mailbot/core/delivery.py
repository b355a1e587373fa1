"""What a mail the server accepted changes (pure): the clock it settles, the case's state
and acknowledgement moment, the update clock it restarts, and the events that say so.

The acknowledgement settles `ack_due` and acknowledges the case (NEW → ACKNOWLEDGED, the
state machine's own transition); a relayed staff reply settles `response_due`; every mail
to the reporter of an open case restarts `update_due` (DESIGN.md §5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from mailbot.core.cases import can_transition
from mailbot.core.effects import Event
from mailbot.core.models import TO_REPORTER, Case, CaseState, ClockName, Deadline
from mailbot.core.workdays import Calendar

SETTLES = {"acknowledgement": ClockName.ACK_DUE, "relay": ClockName.RESPONSE_DUE}
"""The clock each kind of mail to the reporter settles."""


@dataclass(frozen=True)
class Settle:
    """Clock `name` of the case is done: met by mail `by` at `at`, or late."""

    name: str
    at: datetime
    by: str
    met: bool


@dataclass(frozen=True)
class Delivered:
    """The consequences of one accepted mail, for the shell to apply."""

    settles: tuple[Settle, ...] = ()
    updated_case: Case | None = None
    events: tuple[Event, ...] = ()
    update_clock: Deadline | None = None
    """`update_due` started anew from the moment of sending."""


NOTHING = Delivered()


def after_sent(
    kind: str,
    message_id: str,
    case: Case | None,
    open_dues: Mapping[str, datetime],
    at: datetime,
    calendar: Calendar,
    update_days: int,
) -> Delivered:
    """What mail `message_id` of `kind`, accepted at `at`, changes on `case`.

    `open_dues` holds the due moment of each open clock of the case by name.
    """
    if case is None or kind not in TO_REPORTER:
        return NOTHING
    settles, events = _settles(kind, message_id, case.id, open_dues, at)
    updated = None
    if kind == "acknowledgement" and case.acknowledged_at is None:
        updated, more = _acknowledged(case, message_id, at)
        events += more
    update = calendar.due_after(at, update_days) if case.is_open else None
    return Delivered(settles, updated, events, update)


def _settles(
    kind: str, message_id: str, case_id: str, open_dues: Mapping[str, datetime], at: datetime
) -> tuple[tuple[Settle, ...], tuple[Event, ...]]:
    name = SETTLES.get(kind)
    if name is None or name not in open_dues:
        return (), ()
    met = at <= open_dues[name]
    settle = Settle(name, at, message_id, met)
    return (settle,), (Event(case_id, f"clock_{'met' if met else 'late'}", name),)


def _acknowledged(case: Case, message_id: str, at: datetime) -> tuple[Case, tuple[Event, ...]]:
    """The case acknowledged at `at`; NEW moves to ACKNOWLEDGED where the machine allows."""
    moves = case.state is CaseState.NEW and can_transition(case.state, CaseState.ACKNOWLEDGED)
    state = CaseState.ACKNOWLEDGED if moves else case.state
    events = [Event(case.id, "acknowledged", f"<{message_id}>")]
    if state is not case.state:
        events.append(Event(case.id, "state_changed", f"{case.state} → {state}"))
    return replace(case, acknowledged_at=at, state=state), tuple(events)

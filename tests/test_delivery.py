"""core.delivery: what an accepted mail changes, decided without the store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.delivery import NOTHING, Settle, after_sent
from mailbot.core.models import TO_REPORTER, Case, CaseState
from mailbot.core.workdays import make_calendar

CAL = make_calendar()
SENT = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)  # Monday
CASE = Case("MK-2026-0001", CaseState.NEW, "Lek", SENT - timedelta(hours=1), "jan@example.nl")
ACK_DUE = datetime(2026, 12, 22, 16, 0, tzinfo=UTC)


def test_acknowledgement_meets_ack_due_and_acknowledges_the_case() -> None:
    """The acknowledgement settles ack_due on time, moves NEW to ACKNOWLEDGED, restarts update."""
    done = after_sent("acknowledgement", "a@x", CASE, {"ack_due": ACK_DUE}, SENT, CAL, 10)
    assert done.settles == (Settle("ack_due", SENT, "a@x", True),)
    assert done.updated_case == replace(CASE, acknowledged_at=SENT, state=CaseState.ACKNOWLEDGED)
    assert [e.kind for e in done.events] == ["clock_met", "acknowledged", "state_changed"]
    assert done.update_clock == CAL.due_after(SENT, 10)


def test_a_late_relay_settles_response_due_as_late() -> None:
    """A relayed reply after response_due settles it late and changes no state."""
    due = SENT - timedelta(minutes=1)
    case = replace(CASE, state=CaseState.INVESTIGATING, acknowledged_at=SENT)
    done = after_sent("relay", "r@x", case, {"response_due": due}, SENT, CAL, 10)
    assert (done.settles, done.updated_case) == (
        (Settle("response_due", SENT, "r@x", False),),
        None,
    )
    assert [e.kind for e in done.events] == ["clock_late"]


def test_a_closed_case_gets_no_update_clock() -> None:
    """A status mail on a closed case settles nothing and starts no update clock."""
    closed = replace(CASE, state=CaseState.RESOLVED, acknowledged_at=SENT)
    done = after_sent("status", "s@x", closed, {}, SENT, CAL, 10)
    assert (done.settles, done.events, done.update_clock) == ((), (), None)


@given(kind=st.text(max_size=20).filter(lambda k: k not in TO_REPORTER))
def test_mail_not_to_the_reporter_changes_nothing(kind: str) -> None:
    """Staff notices, alerts, digests (any kind not to the reporter) change nothing."""
    assert after_sent(kind, "m@x", CASE, {"ack_due": ACK_DUE}, SENT, CAL, 10) == NOTHING


@given(minutes=st.integers(min_value=-5000, max_value=5000))
def test_met_exactly_when_sent_by_the_due(minutes: int) -> None:
    """A clock is met exactly when the mail was accepted at or before its due."""
    due = SENT + timedelta(minutes=minutes)
    done = after_sent("acknowledgement", "a@x", CASE, {"ack_due": due}, SENT, CAL, 10)
    assert done.settles[0].met == (minutes >= 0)

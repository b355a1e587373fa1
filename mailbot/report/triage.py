"""The monthly report's triage figures (pure): how many of the month's reports arrived
incomplete, were related to another report, matched a known finding or demanded a reward
or threatened publication, and how long each kind waited for its substantive response
(definitions: `mailbot.report.figures`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailbot.core.claims import CLAIM_FLAGS
from mailbot.core.workdays import Calendar
from mailbot.report.measures import DayCounts, Index, response_days
from mailbot.report.rows import CaseRow

KINDS = ("incomplete", "related", "known_finding", "claim", "other")
"""The kinds, in the order the report shows them; "other" is a report of none of the rest."""


@dataclass(frozen=True)
class Triage:
    """One kind of report ("" = every report of the month): how many, the working days to
    their substantive response, and (incomplete only) how many were completed later."""

    kind: str
    reports: int
    response: DayCounts
    completed: int = 0
    """Reports that arrived incomplete and lack nothing now (the reporter supplied it)."""


def kinds_of(case: CaseRow, index: Index) -> frozenset[str]:
    """The triage kinds of one case ("other" when it is none of them)."""
    kinds = {
        "incomplete": bool(case.missing) or case.id in index.arrived_incomplete,
        "related": bool(case.related),
        "known_finding": case.known_finding is not None,
        "claim": bool(CLAIM_FLAGS & set(case.flags)),
    }
    found = frozenset(kind for kind, holds in kinds.items() if holds)
    return found or frozenset({"other"})


def triage_lines(index: Index, cohort: Sequence[CaseRow], calendar: Calendar) -> tuple[Triage, ...]:
    """One line per kind (zeros too), then every report of the month."""
    kinds = {case.id: kinds_of(case, index) for case in cohort}
    lines = []
    for kind in KINDS:
        cases = [case for case in cohort if kind in kinds[case.id]]
        completed = sum(1 for case in cases if not case.missing) if kind == "incomplete" else 0
        lines.append(Triage(kind, len(cases), response_days(index, cases, calendar), completed))
    lines.append(Triage("", len(cohort), response_days(index, cohort, calendar)))
    return tuple(lines)

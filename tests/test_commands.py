"""Tests of staff commands (DESIGN.md §6): parsing, validation, all-or-nothing application."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.cases import TRANSITIONS
from mailbot.core.command_rules import CLOSE_STATES, STATUS_STATES, Change
from mailbot.core.commandlines import INVISIBLE, KEYS, STRAY_INTERNAL
from mailbot.core.commands import HELP_TEXT_KEYS, CommandResult, apply_commands, split_commands
from mailbot.core.models import Case, CaseState

S = CaseState
STAFF = frozenset({"ciso@voorbeeld.nl", "J.deVries@Voorbeeld.nl"})
EXISTING = {"MK-2026-0001", "MK-2026-0042"}


def make_case(**overrides: Any) -> Case:
    """A direct report in state acknowledged, unless overridden."""
    values: dict[str, Any] = {
        "id": "MK-2026-0042",
        "state": S.ACKNOWLEDGED,
        "subject": "XSS in parkeerportaal",
        "received_at": datetime(2026, 12, 21, 9, 0, tzinfo=UTC),
        "reporter_email": "hacker@example.org",
    }
    values.update(overrides)
    return Case(**values)


def run(body: str, case: Case | None = None) -> CommandResult:
    """apply_commands with the test staff list and existing cases."""
    return apply_commands(
        case or make_case(),
        body,
        staff=STAFF,
        case_prefix="MK",
        known_cases=EXISTING.__contains__,
    )


def reasons(result: CommandResult) -> list[str]:
    """The refusals of a result as the result mail shows them: line — reason."""
    return [f"{error.line} — {error.reason}" for error in result.errors]


# --- the command block ----------------------------------------------------------------------


def test_split_stops_at_first_other_line() -> None:
    """Commands end at the first line that is not a command; the rest keeps every line."""
    body = "\n\nStatus: confirmed\nSeverity: high\nHi team,\nNote: not a command here\n"
    assert split_commands(body) == (
        ["Status: confirmed", "Severity: high"],
        "Hi team,\nNote: not a command here\n",
    )


def test_split_allows_blank_lines_between_commands() -> None:
    """Blank lines inside the block (HTML mail paragraphs) do not end it."""
    body = "Status: confirmed\r\n\r\nSeverity: high\r\n\r\nBeste melder,\r\nDank."
    assert split_commands(body) == (["Status: confirmed", "Severity: high"], "Beste melder,\nDank.")


def test_split_header_words_and_urls_are_not_commands() -> None:
    """A quoted header line or a URL on top ends the block instead of being a command."""
    assert split_commands("Van: Meldpunt <m@v.nl>\nAan: x")[0] == []
    assert split_commands("From: Meldpunt\nSent: Monday")[0] == []
    assert split_commands("https://voorbeeld.nl/fix is live")[0] == []
    assert split_commands("Dear reporter: thanks")[0] == []


def test_split_only_commands() -> None:
    """A body of only commands leaves an empty rest."""
    assert split_commands("Help\n\n") == (["Help"], "")


def test_keys_are_case_insensitive_and_values_trimmed() -> None:
    """STATUS, status and Status are the same key; values lose surrounding blanks."""
    result = run("STATUS:   Investigating  \nseverity:HIGH\nwAiTiNg : yes")
    assert reasons(result) == []
    assert (result.case.state, result.case.severity, result.case.waiting) == (
        S.INVESTIGATING,
        "high",
        True,
    )
    assert [c.key for c in result.commands] == ["status", "severity", "waiting"]


def test_note_line_after_text_is_relayed_text() -> None:
    """Only lines on top are commands: a Note: after a greeting stays in rest."""
    result = run("Beste melder,\nNote: the fix is live.")
    assert (result.commands, result.notes, result.rest) == (
        (),
        (),
        "Beste melder,\nNote: the fix is live.",
    )


# --- each key -----------------------------------------------------------------------------


def test_status_changes_state_with_one_event() -> None:
    """Status: investigating from acknowledged is one state_changed change."""
    result = run("Status: investigating")
    assert result.changes == (
        Change(
            "state",
            "acknowledged",
            "investigating",
            "state_changed",
            "state: acknowledged → investigating",
        ),
    )
    assert result.case == replace(make_case(), state=S.INVESTIGATING)


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("target", [s.value for s in STATUS_STATES])
def test_status_follows_the_transition_table(state: CaseState, target: str) -> None:
    """Status is accepted exactly when TRANSITIONS allows it (or it is the current state)."""
    result = run(f"Status: {target}", make_case(state=state))
    allowed = S(target) in TRANSITIONS[state] or S(target) is state
    assert (not result.errors) == allowed
    assert result.case.state == (S(target) if allowed else state)


def test_status_refusal_names_the_allowed_states() -> None:
    """A refused Status says where the case can go."""
    result = run("Status: acknowledged", make_case(state=S.INVESTIGATING))
    assert reasons(result) == [
        "Status: acknowledged — not allowed from investigating (allowed: confirmed; "
        "with Close: resolved, rejected, duplicate)"
    ]


@pytest.mark.parametrize("target", ["resolved", "rejected", "closed", "spam", "duplicate"])
def test_status_cannot_close(target: str) -> None:
    """Closed states need Close with a reason, not Status."""
    result = run(f"Status: {target}", make_case(state=S.CONFIRMED))
    assert reasons(result) == [
        f"Status: {target} — {target} closes the case: use Close: {target} <reason>"
    ]
    assert result.case == make_case(state=S.CONFIRMED)


def test_status_unknown_value() -> None:
    """A state name that does not exist is refused and named."""
    assert reasons(run("Status: fixed")) == [
        "Status: fixed — 'fixed' is not one of: acknowledged, investigating, confirmed"
    ]


def test_status_same_state_is_no_change() -> None:
    """Re-sending the current state changes nothing and is not an error."""
    result = run("Status: acknowledged")
    assert (result.errors, result.changes) == ((), ())


def test_reopen_clears_close_reason() -> None:
    """Status: investigating on a rejected case reopens it and clears the reason (2 events)."""
    case = make_case(state=S.REJECTED, close_reason="out of scope")
    result = run("Status: investigating", case)
    assert [(c.field, c.old, c.new) for c in result.changes] == [
        ("state", "rejected", "investigating"),
        ("close_reason", "out of scope", ""),
    ]
    assert (result.case.state, result.case.close_reason) == (S.INVESTIGATING, None)


def test_close_with_reason() -> None:
    """Close: rejected <reason> sets state and reason: two changes, a status mail."""
    result = run("Close: rejected  not a   vulnerability")
    assert [(c.field, c.new, c.event_kind) for c in result.changes] == [
        ("state", "rejected", "state_changed"),
        ("close_reason", "not a vulnerability", "close_reason_changed"),
    ]
    assert (result.case.state, result.case.close_reason) == (S.REJECTED, "not a vulnerability")
    assert result.status_mail == "rejected"


@pytest.mark.parametrize("value", ["rejected", "resolved ", "spam -", "rejected ..."])
def test_close_requires_a_reason(value: str) -> None:
    """Close without a reason (or only punctuation) is refused."""
    result = run(f"Close: {value}", make_case(state=S.CONFIRMED))
    word = value.split(maxsplit=1)[0]
    assert reasons(result) == [
        f"Close: {value.strip()} — a reason is required, e.g. Close: {word} <why>"
    ]


def test_close_unknown_state() -> None:
    """Close with a word that is no closed state is refused."""
    assert reasons(run("Close: done it works")) == [
        "Close: done it works — 'done' is not one of: resolved, closed, rejected, duplicate, spam"
    ]


def test_close_refused_by_transition_table() -> None:
    """Close: closed from acknowledged is not in TRANSITIONS."""
    assert reasons(run("Close: closed all done")) == [
        "Close: closed all done — not allowed from acknowledged (allowed: investigating, "
        "confirmed; with Close: resolved, rejected, duplicate)"
    ]


def test_close_duplicate_of_existing_case() -> None:
    """Close: duplicate names another existing case; the reason is that id plus text."""
    result = run("Close: duplicate [mk-2026-0001] same portal", make_case(state=S.NEW))
    assert (result.case.state, result.case.close_reason) == (
        S.DUPLICATE,
        "MK-2026-0001 same portal",
    )
    assert result.status_mail == "duplicate"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("duplicate", "name the other case first, e.g. Close: duplicate MK-2026-0001"),
        (
            "duplicate of the other one",
            "name the other case first, e.g. Close: duplicate MK-2026-0001",
        ),
        ("duplicate MK-2026-0042", "MK-2026-0042 cannot be a duplicate of itself"),
        ("duplicate MK-2026-0999", "case MK-2026-0999 does not exist"),
    ],
)
def test_close_duplicate_refusals(value: str, reason: str) -> None:
    """Duplicate needs an existing case id other than this one."""
    assert reasons(run(f"Close: {value}")) == [f"Close: {value} — {reason}"]


def test_close_duplicate_of_wording() -> None:
    """ "Close: duplicate of <id>" reads like English and is accepted."""
    result = run("Close: duplicate of MK-2026-0001", make_case(state=S.INVESTIGATING))
    assert (result.errors, result.case.close_reason) == ((), "MK-2026-0001")


def test_close_same_state_updates_reason_only() -> None:
    """Closing a case again in the same state only changes its reason."""
    case = make_case(state=S.REJECTED, close_reason="old")
    result = run("Close: rejected new reason", case)
    assert [c.field for c in result.changes] == ["close_reason"]
    assert result.status_mail is None


def test_status_and_close_together_refused() -> None:
    """Two commands that both set the state are refused."""
    result = run("Status: confirmed\nClose: rejected nope")
    assert reasons(result) == ["Status: confirmed — Status and Close both set the state"]


def test_assign_staff_member() -> None:
    """Assign takes a staff address, in any case or as Name <address>."""
    result = run("Assign: Jan de Vries <j.devries@VOORBEELD.nl>")
    assert result.case.assignee == "j.devries@voorbeeld.nl"
    assert [(c.field, c.new, c.event_kind) for c in result.changes] == [
        ("assignee", "j.devries@voorbeeld.nl", "assignee_changed")
    ]


def test_assign_none_clears() -> None:
    """Assign: none removes the assignee."""
    result = run("Assign: none", make_case(assignee="ciso@voorbeeld.nl"))
    assert (result.case.assignee, result.changes[0].old) == (None, "ciso@voorbeeld.nl")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("outsider@example.org", "outsider@example.org is not on the staff list"),
        ("jan", "'jan' is not an email address"),
    ],
)
def test_assign_refusals(value: str, reason: str) -> None:
    """Assign refuses non-staff and non-addresses."""
    assert reasons(run(f"Assign: {value}")) == [f"Assign: {value} — {reason}"]


@pytest.mark.parametrize("value", ["low", "medium", "high", "Critical"])
def test_severity_values(value: str) -> None:
    """Each severity is accepted, stored lower-case."""
    assert run(f"Severity: {value}").case.severity == value.lower()


def test_severity_invalid() -> None:
    """An unknown severity is refused."""
    assert reasons(run("Severity: urgent")) == [
        "Severity: urgent — 'urgent' is not one of: low, medium, high, critical"
    ]


@pytest.mark.parametrize(
    ("value", "mail"), [("yes", "reward"), ("no", None), ("sent", None), ("undecided", None)]
)
def test_reward_values(value: str, mail: str | None) -> None:
    """Each reward value is accepted; becoming yes asks for the reward mail."""
    result = run(
        f"Reward: {value}", make_case(reward="no" if value == "undecided" else "undecided")
    )
    assert (result.case.reward, result.status_mail) == (value, mail)


def test_reward_invalid() -> None:
    """An unknown reward value is refused."""
    assert reasons(run("Reward: maybe")) == [
        "Reward: maybe — 'maybe' is not one of: undecided, yes, no, sent"
    ]


def test_internal_yes_and_no() -> None:
    """Internal: yes marks the mail internal and suppresses the status mail; no does not."""
    internal = run("Internal: yes\nStatus: confirmed")
    public = run("Internal: no\nStatus: confirmed")
    assert (internal.internal, internal.status_mail, internal.relay_allowed) == (True, None, False)
    assert (public.internal, public.status_mail, public.relay_allowed) == (False, "confirmed", True)


def test_internal_and_waiting_invalid() -> None:
    """Internal and Waiting take yes or no only."""
    assert reasons(run("Internal: maybe\nWaiting: soon")) == [
        "Internal: maybe — 'maybe' is not one of: yes, no",
        "Waiting: soon — 'soon' is not one of: yes, no",
    ]


def test_waiting_no() -> None:
    """Waiting: no clears the flag with one event."""
    result = run("Waiting: no", make_case(waiting=True))
    assert result.changes == (
        Change("waiting", "yes", "no", "waiting_changed", "waiting: yes → no"),
    )


def test_notes_are_internal_and_change_nothing() -> None:
    """Each Note line is one note; notes change no field and are no Change."""
    result = run("Note: called the vendor\nNote: patch due Friday\n\nBeste melder,")
    assert result.notes == ("called the vendor", "patch due Friday")
    assert (result.changes, result.case, result.rest) == ((), make_case(), "Beste melder,")


def test_empty_note_refused() -> None:
    """A note without text is refused."""
    assert reasons(run("Note:")) == ["Note: — a note needs text"]
    assert run("Note:").errors[0].reason == "a note needs text"


def test_help_alone() -> None:
    """Help alone asks for the command list and changes nothing."""
    result = run("Help")
    assert (result.help, result.errors, result.changes, result.case) == (True, (), (), make_case())


def test_help_with_other_commands_and_value() -> None:
    """Help with other commands still applies them; Help with a value is refused."""
    assert run("help!\nSeverity: low").case.severity == "low"
    assert reasons(run("Help: status")) == ["Help: status — Help takes no value"]


def test_help_text_covers_every_key() -> None:
    """The help list names every command key."""
    named = {syntax.split(":")[0].lower() for syntax, _ in HELP_TEXT_KEYS}
    assert named == set(KEYS)


# --- Reporter ------------------------------------------------------------------------------


def test_reporter_on_no_contact_case() -> None:
    """Reporter on a case without address sets it, clears no_contact, names the new reporter."""
    case = make_case(reporter_email=None, flags=("no_contact", "encrypted"), state=S.NEW)
    result = run("Reporter: Finder <Finder@Example.org>", case)
    assert (result.case.reporter_email, result.case.flags) == ("finder@example.org", ("encrypted",))
    assert result.new_reporter == "finder@example.org"
    assert result.changes == (
        Change(
            "reporter_email",
            "",
            "finder@example.org",
            "reporter_changed",
            "reporter_email: (none) → finder@example.org; no_contact cleared",
        ),
    )


def test_reporter_on_relayed_case() -> None:
    """A relayed case may get another reporter address."""
    case = make_case(source="relay", relay_sender="meldpunt@vng.example")
    result = run("Reporter: other@example.net", case)
    assert (result.case.reporter_email, result.new_reporter) == (
        "other@example.net",
        "other@example.net",
    )


@pytest.mark.parametrize(
    ("case", "value", "reason"),
    [
        (
            make_case(),
            "x@example.net",
            "a direct report's reporter is its sender (hacker@example.org); Reporter is only for "
            "relayed reports or reports without one",
        ),
        (
            make_case(reporter_email=None),
            "ciso@voorbeeld.nl",
            "ciso@voorbeeld.nl is a staff or relay address",
        ),
        (
            make_case(source="relay", relay_sender="meldpunt@vng.example"),
            "someone@vng.example",
            "someone@vng.example is a staff or relay address",
        ),
        (
            make_case(reporter_email=None),
            "not-an-address",
            "'not-an-address' is not an email address",
        ),
    ],
)
def test_reporter_refusals(case: Case, value: str, reason: str) -> None:
    """Reporter is refused on direct reports, for staff/relay addresses and non-addresses."""
    result = run(f"Reporter: {value}", case)
    assert (reasons(result), result.case, result.new_reporter) == (
        [f"Reporter: {value} — {reason}"],
        case,
        None,
    )


# --- unknown keys, repeats, all or nothing ------------------------------------------------


def test_unknown_command_did_you_mean() -> None:
    """A misspelt key is an error that suggests the right one."""
    assert reasons(run("Staus: confirmed")) == [
        "Staus: confirmed — Unknown command 'Staus' — did you mean Status? (commands: Status, "
        "Assign, Severity, Reward, Reporter, Key, Close, Reply, Internal, Waiting, Note, Help)"
    ]


def test_unknown_one_word_key_is_an_error_not_text() -> None:
    """A one-word key on top that is no command is refused, so it cannot leak to the reporter."""
    result = run("Prio: high\n\nBeste melder, we kijken ernaar.")
    assert [e.line for e in result.errors] == ["Prio: high"]
    assert result.relay_allowed is False


def test_one_bad_command_applies_nothing() -> None:
    """Among valid commands one invalid line means no change at all."""
    case = make_case()
    result = run("Status: confirmed\nSeverity: high\nAssign: ciso@voorbeeld.nl\nReward: lots", case)
    assert (result.case, result.changes, result.notes, result.status_mail) == (case, (), (), None)
    assert [e.line for e in result.errors] == ["Reward: lots"]
    assert [c.key for c in result.commands] == ["status", "severity", "assign", "reward"]


def test_errors_in_line_order() -> None:
    """Several errors are all reported, in the order of the lines."""
    result = run("Severity: urgent\nFoo: bar\nStatus: nope")
    assert [e.line for e in result.errors] == ["Severity: urgent", "Foo: bar", "Status: nope"]


def test_repeated_key_conflict_and_same_value() -> None:
    """A key repeated with another value is an error; with the same value it counts once."""
    assert reasons(run("Severity: high\nSeverity: low")) == [
        "Severity: low — Severity given twice ('Severity: high' before)"
    ]
    same = run("Severity: high\nseverity: HIGH")
    assert (same.errors, len(same.changes)) == ((), 1)


def test_all_valid_commands_one_event_each() -> None:
    """A full valid mail yields one change per changed field, in command order."""
    body = (
        "Status: confirmed\nAssign: ciso@voorbeeld.nl\nSeverity: critical\nReward: yes\n"
        "Waiting: yes\nNote: vendor informed\nInternal: no\n\nBeste melder, bevestigd."
    )
    result = run(body)
    assert [c.field for c in result.changes] == [
        "state",
        "assignee",
        "severity",
        "reward",
        "waiting",
    ]
    assert result.notes == ("vendor informed",)
    assert result.status_mail == "confirmed"
    assert result.rest == "Beste melder, bevestigd."


def test_no_commands() -> None:
    """A plain reply has no commands and changes nothing."""
    result = run("Beste melder,\n\nDank voor uw melding.")
    assert (result.commands, result.errors, result.changes, result.help) == ((), (), (), False)


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Status: investigating",
                "Status: confirmed",
                "Status: closed",
                "Close: rejected no",
                "Close: resolved",
                "Severity: high",
                "Severity: huge",
                "Reward: yes",
                "Assign: ciso@voorbeeld.nl",
                "Assign: x@y.z",
                "Waiting: yes",
                "Note: n",
                "Foo: bar",
                "Help",
            ]
        ),
        max_size=6,
    ),
    st.sampled_from(list(S)),
)
def test_all_or_nothing_property(lines: list[str], state: CaseState) -> None:
    """Either there are errors and the case is untouched, or every change is in the new case."""
    case = make_case(state=state)
    result = run("\n".join(lines), case)
    if result.errors:
        assert (result.case, result.changes, result.status_mail) == (case, (), None)
    else:
        assert result.case.state in TRANSITIONS[state] | {state}
        for change in result.changes:
            if change.field in {"state", "severity", "reward"}:
                assert str(getattr(result.case, change.field)) == change.new


def test_close_states_reachable_only_by_close() -> None:
    """STATUS_STATES and CLOSE_STATES split the non-new states between Status and Close."""
    assert set(STATUS_STATES) | set(CLOSE_STATES) == set(S) - {S.NEW}


# --- invisible characters and the Internal: fail safe (issue 12, item 7) --------------------

INVISIBLES = [
    "\ufeff",  # byte-order mark
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a",  # left-to-right embedding
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u2069",  # pop directional isolate
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner (default ignorable, not Cf)
    "\U000e0041",  # tag letter A
]


@pytest.mark.parametrize("invisible", INVISIBLES)
def test_invisible_character_before_a_command_is_ignored(invisible: str) -> None:
    """A BOM, zero-width or bidi character before or inside a command does not hide it."""
    result = run(f"{invisible}Internal: yes\nStatus: inv{invisible}estigating\n\nAlleen intern.")
    assert (result.errors, result.internal, result.case.state) == ((), True, S.INVESTIGATING)


def test_no_break_space_after_the_colon_is_a_space() -> None:
    """`Internal:` followed by a no-break space (Outlook, French keyboards) still counts."""
    result = run("Internal:\u00a0yes\nSeverity:\u202fhigh\u3000")
    assert (result.errors, result.internal, result.case.severity) == ((), True, "high")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 13), st.sampled_from(INVISIBLES) | st.characters(categories=["Cf"])
        ),
        max_size=6,
    )
)
def test_invisibles_anywhere_in_internal_yes_on_top(inserts: list[tuple[int, str]]) -> None:
    """Any invisible characters at any places in `Internal: yes` on top: still applied."""
    line = "Internal: yes"
    for position, char in sorted(inserts, reverse=True):
        line = line[:position] + char + line[position:]
    result = run(f"{line}\n\nBeste melder, dit is alleen intern.")
    assert (result.errors, result.internal, result.relay_allowed) == ((), True, False)


def test_stray_internal_line_refuses_everything() -> None:
    """An `Internal:` line below the text: nothing applied, and the refusal says why."""
    result = run("Status: confirmed\nNote: vendor called\nBeste melder,\nInternal: yes\nDank.")
    assert reasons(result) == [f"Internal: yes — {STRAY_INTERNAL}"]
    assert (result.case, result.changes, result.notes) == (make_case(), (), ())
    assert (result.status_mail, result.relay_allowed) == (None, False)


@pytest.mark.parametrize(
    "line",
    [
        "internal: yes",
        "  INTERNAL :  yes",
        "**Internal:** yes",
        "- Internal: yes",
        "_Internal_: ja",
        "\uff29\uff4e\uff54\uff45\uff52\uff4e\uff41\uff4c\uff1a yes",  # full-width
        "Internal\ua789 yes",  # modifier letter colon
        "Inter\u200bnal: yes",
        "\u00a0Internal:\u00a0yes",
        "Internal: no",
    ],
)
def test_stray_internal_shapes(line: str) -> None:
    """Every decoration of an `Internal:` line below the text is caught."""
    result = run(f"Beste melder,\n\nDank voor uw melding.\n{line}\n")
    assert [e.reason for e in result.errors] == [STRAY_INTERNAL]


@pytest.mark.parametrize(
    "line",
    ["Internals: none", "Internal note: x", "International: ja", "Internalisation: done", "Intern"],
)
def test_lines_merely_starting_with_internal_are_text(line: str) -> None:
    """A line that is not `Internal:` (another word, no colon) is ordinary text."""
    result = run(f"Beste melder,\n{line}\n")
    assert (result.errors, result.relay_allowed) == ((), True)


OUTLOOK_HISTORY = (
    "Van: Meldpunt <meldpunt@gemeente.example>\nVerzonden: maandag 21 december 2026 10:00\n"
    "Aan: security@gemeente.example\nOnderwerp: [MK-2026-0042] melding\n\nInternal: yes\n"
)


@pytest.mark.parametrize(
    ("body", "own_text"),
    [
        ("Beste melder,\n\n> Internal: yes\n", "Beste melder,"),
        (f"Beste melder,\n\nDank.\n\n{OUTLOOK_HISTORY}", "Beste melder,\n\nDank."),
    ],
    ids=["quoted-with-marks", "outlook-header-block"],
)
def test_internal_in_the_quoted_history_is_not_stray(body: str, own_text: str) -> None:
    """`Internal: yes` quoted from an earlier mail (e.g. the report) is history, not text."""
    result = run(body)
    assert (result.errors, result.relay_allowed, result.reply.text) == ((), True, own_text)


def test_stray_internal_in_the_signature_still_refuses() -> None:
    """An `Internal:` line below a closing ("Groeten,") is still the staff's own text."""
    result = run("Beste melder,\n\nDank.\n\nGroeten,\nPetra\nInternal: yes")
    assert [e.reason for e in result.errors] == [STRAY_INTERNAL]


def test_internal_yes_on_top_makes_a_second_one_below_harmless() -> None:
    """When `Internal: yes` was applied, nothing is relayed anyway: no refusal."""
    result = run("Internal: yes\nNote: x\n\nTekst.\nInternal: yes")
    assert (result.errors, result.internal, result.notes) == ((), True, ("x",))


def test_invisible_pattern_covers_every_format_character() -> None:
    """INVISIBLE matches every Cf code point of this Python's Unicode, and no letter or space."""
    cf = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    missed = [f"U+{ord(c):04X}" for c in cf if not INVISIBLE.fullmatch(c)]
    visible_hits = [c for c in "aZ09 :\t\u00e9\u4e2d\u0627" if INVISIBLE.fullmatch(c)]
    assert (missed, visible_hits) == ([], [])


@pytest.mark.parametrize("prefix", ["1. ", "2) ", "- 3. ", "10: "])
def test_a_numbered_internal_line_below_the_text_is_still_caught(prefix: str) -> None:
    """`1. Internal: yes` in a numbered list under the text is a stray Internal: line."""
    from mailbot.core.commandlines import internal_lines  # noqa: PLC0415

    text = f"Beste melder,\n\nWe kijken ernaar.\n{prefix}Internal: yes\n"
    assert internal_lines(text) == [f"{prefix}Internal: yes"]

"""Tests of cases (DESIGN.md §4): tags, the state machine, reporters, a new case."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.cases import (
    MAX_AFFECTED,
    MAX_TAG_WORDS,
    MAX_TAGS,
    TRANSITIONS,
    Reporter,
    affected_systems,
    can_transition,
    find_reporter,
    find_tags,
    format_tag,
    open_case,
    subject_with_tag,
)
from mailbot.core.models import CaseState, Contacts, InboundMessage
from mailbot.core.workdays import make_calendar

S = CaseState
AMS = ZoneInfo("Europe/Amsterdam")
CAL = make_calendar()
RELAYS = frozenset({"meldpunt@vng.example"})
OWN_DOMAIN = "gemeente.example"
MONDAY_21_DEC = datetime(2026, 12, 21, 10, 0, tzinfo=AMS)


def make_msg(**overrides: Any) -> InboundMessage:
    """An InboundMessage built directly (no parser): a plain direct report unless overridden."""
    values: dict[str, Any] = {
        "raw_sha256": "0" * 64,
        "size": 1000,
        "received_at": MONDAY_21_DEC.astimezone(UTC),
        "message_id": "abc@reporter.example",
        "subject": "Kwetsbaarheid in het portaal",
        "from_address": "jan@reporter.example",
        "from_name": "Jan Jansen",
    }
    values.update(overrides)
    return InboundMessage(**values)


def relayed(**overrides: Any) -> InboundMessage:
    """A report forwarded by the trusted VNG relay."""
    return make_msg(from_address="meldpunt@vng.example", from_name="VNG Meldpunt", **overrides)


# --- tags --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "year", "sequence", "expected"),
    [
        ("MK", 2026, 42, "MK-2026-0042"),
        ("MK", 2026, 1, "MK-2026-0001"),
        ("MK", 2027, 9999, "MK-2027-9999"),
        ("MK", 2027, 12345, "MK-2027-12345"),
        ("CVD", 2030, 7, "CVD-2030-0007"),
    ],
)
def test_format_tag(prefix: str, year: int, sequence: int, expected: str) -> None:
    """Prefix, four-digit year and a zero-padded (at least four digits) sequence."""
    assert format_tag(prefix, year, sequence) == expected


@pytest.mark.parametrize(
    "subject",
    [
        "[MK-2026-0042] Kwetsbaarheid",
        "Re: [MK-2026-0042] Kwetsbaarheid",
        "RE: Fwd: [MK-2026-0042] Kwetsbaarheid",
        "AW: WG: [MK-2026-0042] Schwachstelle",
        "Antw: [MK-2026-0042] Kwetsbaarheid",
        "Re: Kwetsbaarheid [MK-2026-0042]",
        "Re: Kwetsbaarheid MK-2026-0042",
        "Re: Kwetsbaarheid (mk-2026-0042)",
        "re:[mk-2026-0042]",
        "Vraag over Mk-2026-0042, graag reactie",
        "Re: MK-2026-00042",
    ],
)
def test_find_tags_finds_tag_anywhere(subject: str) -> None:
    """A tag is found after any reply/forward prefix, with or without brackets, any case."""
    assert find_tags(subject, "MK") == ("MK-2026-0042",)


def test_find_tags_several_in_order_without_repeats() -> None:
    """Several tags come back in the order they appear, each once."""
    subject = "Re: [MK-2026-0042] dubbel met MK-2025-0107 en [mk-2026-0042], zie MK-2026-0003"
    assert find_tags(subject, "MK") == ("MK-2026-0042", "MK-2025-0107", "MK-2026-0003")


@pytest.mark.parametrize(
    "subject",
    [
        "XMK-2026-0001",
        "Re: [XMK-2026-0001] iets anders",
        "MK-2026-00012345678",
        "1MK-2026-0001",
        "MK-2026-001",
        "MK-26-0001",
        "MK 2026 0001",
        "Kwetsbaarheid zonder tag",
        "",
    ],
)
def test_find_tags_ignores_tags_inside_longer_numbers_and_words(subject: str) -> None:
    """No tag is found inside a longer word or number, nor in malformed near-tags."""
    assert find_tags(subject, "MK") == ()


def test_find_tags_ignores_tag_followed_by_letters() -> None:
    """A tag followed by letters (part of a longer word) is not a tag."""
    assert find_tags("MK-2026-0001abc", "MK") == ()


def test_find_tags_only_for_the_configured_prefix() -> None:
    """Tags of another prefix are not ours."""
    assert find_tags("Re: [CVD-2026-0042] en [MK-2026-0001]", "CVD") == ("CVD-2026-0042",)


def test_find_tags_returns_ids_as_format_tag_builds_them() -> None:
    """With case_prefix "mk" the found id equals the id the case was created with."""
    assert find_tags("Re: [MK-2026-0001]", "mk") == (format_tag("mk", 2026, 1),)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["MK", "CVD", "KW1"]),
    year=st.integers(min_value=2000, max_value=2099),
    sequence=st.integers(min_value=1, max_value=999_999),
    before=st.sampled_from(["", "Re: ", "Fwd: [", "AW: WG: ", "Antw: (", "tekst "]),
    after=st.sampled_from(["", "]", ") tekst", " tekst", ", ", ".", "]: Re"]),
)
def test_find_tags_finds_every_formatted_tag(
    prefix: str, year: int, sequence: int, before: str, after: str
) -> None:
    """Every tag format_tag makes is found back by find_tags, whatever surrounds it."""
    tag = format_tag(prefix, year, sequence)
    assert find_tags(f"{before}{tag}{after}", prefix) == (tag,)


def test_find_tags_stops_after_max_tags_distinct_ids() -> None:
    """A subject of 100,000 distinct tags yields only the first MAX_TAGS, in order."""
    tags = [format_tag("MK", 2000 + n // 10_000, n % 10_000) for n in range(100_000)]
    assert find_tags(" ".join(tags), "MK") == tuple(tags[:MAX_TAGS])


def test_find_tags_reads_at_most_max_tag_words() -> None:
    """Tags after MAX_TAG_WORDS tag-shaped words (repeats count) are not looked at."""
    subject = "MK-2026-0001 " * (MAX_TAG_WORDS - 1) + "mk-2026-000002 MK-2026-0003"
    assert find_tags(subject, "MK") == ("MK-2026-0001", "MK-2026-0002")


def test_find_tags_formats_at_most_max_tag_words_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """A megabyte of repeated tags costs at most MAX_TAG_WORDS ids built (the work bound)."""
    built: list[int] = []

    def counting(prefix: str, year: int, sequence: int) -> str:
        built.append(sequence)
        return format_tag(prefix, year, sequence)

    monkeypatch.setattr("mailbot.core.cases.format_tag", counting)
    assert (find_tags("[MK-2026-0001] " * 70_000, "MK"), len(built)) == (
        ("MK-2026-0001",),
        MAX_TAG_WORDS,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(2000, 2001), st.integers(1, 30), st.sampled_from([" ", ", ", "]["])),
        max_size=60,
    )
)
def test_find_tags_is_the_first_distinct_ids_in_order(
    words: list[tuple[int, int, str]],
) -> None:
    """For any sequence of tags with repeats: the first MAX_TAGS distinct ids, in order."""
    text = "".join(f"MK-{year}-{seq:04d}{gap}" for year, seq, gap in words)
    distinct = list(dict.fromkeys(format_tag("MK", year, seq) for year, seq, _ in words))
    assert find_tags(text, "MK") == tuple(distinct[:MAX_TAGS])


def test_subject_with_tag_adds_tag_in_front() -> None:
    """A subject without the tag gets "[tag] " in front; whitespace is collapsed."""
    assert subject_with_tag("Kwetsbaarheid  in\r\n portaal", "MK-2026-0042") == (
        "[MK-2026-0042] Kwetsbaarheid in portaal"
    )


@pytest.mark.parametrize(
    "subject",
    ["[MK-2026-0042] Kwetsbaarheid", "Re: [mk-2026-0042] Kwetsbaarheid", "Re: MK-2026-0042"],
)
def test_subject_with_tag_adds_once(subject: str) -> None:
    """A subject that already carries the tag (any case) is left as it is."""
    assert subject_with_tag(subject, "MK-2026-0042") == subject


@pytest.mark.parametrize(
    "subject",
    ["Over MK-2026-00421", "xMK-2026-0042 lek", "MK-2026-00420", "MK-2026-004"],
)
def test_subject_with_tag_ignores_a_longer_id(subject: str) -> None:
    """The tag inside a longer id (a letter or digit next to it) does not count."""
    assert subject_with_tag(subject, "MK-2026-0042") == f"[MK-2026-0042] {subject}"


@given(
    st.text(st.characters(max_codepoint=0xFF), max_size=40),
    st.text(st.characters(max_codepoint=0xFF), max_size=40),
)
def test_subject_with_tag_agrees_with_the_word_boundary_pattern(before: str, after: str) -> None:
    """Left alone exactly when the word-boundary pattern (Latin-1 text) finds the tag."""
    subject = " ".join(f"{before}MK-2026-0042{after}".split())
    pattern = r"(?<![A-Za-z0-9])MK-2026-0042(?![A-Za-z0-9])"
    found = re.search(pattern, subject, re.I) is not None
    assert (subject_with_tag(subject, "MK-2026-0042") == subject) == found


def test_subject_with_tag_is_idempotent() -> None:
    """Applying it twice gives the same subject as once."""
    once = subject_with_tag("Re: Kwetsbaarheid", "MK-2026-0042")
    assert subject_with_tag(once, "MK-2026-0042") == once


def test_subject_with_tag_empty_subject() -> None:
    """An empty subject becomes the bare tag."""
    assert subject_with_tag("", "MK-2026-0042") == "[MK-2026-0042]"


# --- state machine -----------------------------------------------------------------------

CHAIN = [S.NEW, S.ACKNOWLEDGED, S.INVESTIGATING, S.CONFIRMED, S.RESOLVED, S.CLOSED]


def test_transitions_cover_every_state() -> None:
    """Every state has a row in TRANSITIONS and every target is a state."""
    assert set(TRANSITIONS) == set(CaseState)
    assert all(targets <= set(CaseState) for targets in TRANSITIONS.values())


@pytest.mark.parametrize(("current", "target"), list(pairwise(CHAIN)))
def test_main_chain_is_allowed(current: CaseState, target: CaseState) -> None:
    """new → acknowledged → investigating → confirmed → resolved → closed."""
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.CLOSED, S.CONFIRMED),
        (S.CLOSED, S.NEW),
        (S.RESOLVED, S.NEW),
        (S.INVESTIGATING, S.NEW),
        (S.ACKNOWLEDGED, S.NEW),
        (S.REJECTED, S.CLOSED),
        (S.SPAM, S.ACKNOWLEDGED),
        (S.NEW, S.CLOSED),
    ],
)
def test_backward_and_skipping_changes_refused(current: CaseState, target: CaseState) -> None:
    """Going back in the chain (other than reopening) or skipping to closed is refused."""
    assert not can_transition(current, target)


def test_no_state_transitions_to_itself() -> None:
    """A "change" to the same state is never a transition."""
    assert [s for s in CaseState if can_transition(s, s)] == []


def test_nothing_returns_to_new() -> None:
    """No state leads back to new."""
    assert [s for s in CaseState if can_transition(s, S.NEW)] == []


@pytest.mark.parametrize("terminal", [S.CLOSED, S.REJECTED, S.DUPLICATE, S.SPAM])
def test_terminal_states_only_reopen(terminal: CaseState) -> None:
    """A terminal state can only be reopened to investigating."""
    assert TRANSITIONS[terminal] == frozenset({S.INVESTIGATING})


@pytest.mark.parametrize("state", [S.NEW, S.ACKNOWLEDGED, S.INVESTIGATING, S.CONFIRMED])
def test_open_states_can_be_rejected_or_marked_duplicate(state: CaseState) -> None:
    """Every open state can end as rejected or duplicate."""
    assert {S.REJECTED, S.DUPLICATE} <= TRANSITIONS[state]


# --- reporters ---------------------------------------------------------------------------


def test_find_reporter_direct() -> None:
    """A direct report: the reporter is From, with its name and the first phone number."""
    msg = make_msg(
        reply_to=("other@elsewhere.example",),
        contacts=Contacts(phones=("+31 6 12345678", "020-1234567")),
    )
    assert find_reporter(msg, RELAYS, OWN_DOMAIN) == Reporter(
        email="jan@reporter.example",
        name="Jan Jansen",
        phone="+31 6 12345678",
        source="direct",
        relay_sender=None,
    )


def test_find_reporter_relayed_with_reply_to() -> None:
    """A relayed report: the reporter is the Reply-To address, source relay."""
    msg = relayed(reply_to=("melder@hacker.example",))
    assert find_reporter(msg, RELAYS, OWN_DOMAIN) == Reporter(
        email="melder@hacker.example",
        name="",
        phone=None,
        source="relay",
        relay_sender="meldpunt@vng.example",
    )


def test_find_reporter_relayed_with_labelled_body_address() -> None:
    """Without Reply-To, the labelled address from the body is the reporter."""
    msg = relayed(contacts=Contacts(emails=("melder@hacker.example",), phones=("0612345678",)))
    reporter = find_reporter(msg, RELAYS, OWN_DOMAIN)
    assert (reporter.email, reporter.phone, reporter.source) == (
        "melder@hacker.example",
        "0612345678",
        "relay",
    )


def test_find_reporter_relayed_skips_relay_domain_reply_to() -> None:
    """A Reply-To on the relay's own domain is skipped for the body address."""
    msg = relayed(
        reply_to=("noreply@vng.example",),
        contacts=Contacts(emails=("melder@hacker.example",)),
    )
    assert find_reporter(msg, RELAYS, OWN_DOMAIN).email == "melder@hacker.example"


def test_find_reporter_relayed_skips_relay_and_own_domain_in_any_case() -> None:
    """Relay-domain and our own addresses (any letter case) are never the reporter."""
    msg = relayed(
        reply_to=("Meldpunt@VNG.example", "meldpunt@Gemeente.Example"),
        contacts=Contacts(emails=("security@gemeente.example",)),
    )
    reporter = find_reporter(msg, RELAYS, OWN_DOMAIN)
    assert (reporter.email, reporter.source, reporter.relay_sender) == (
        None,
        "relay",
        "meldpunt@vng.example",
    )


def test_find_reporter_relayed_with_nothing() -> None:
    """A relayed report without any reporter address: email None, still a relay."""
    reporter = find_reporter(relayed(), RELAYS, OWN_DOMAIN)
    assert reporter == Reporter(None, "", None, "relay", "meldpunt@vng.example")


def test_find_reporter_without_from() -> None:
    """A message without a usable From is a direct report without an address."""
    reporter = find_reporter(make_msg(from_address=None, from_name=""), RELAYS, OWN_DOMAIN)
    assert (reporter.email, reporter.source) == (None, "direct")


# --- opening a case ----------------------------------------------------------------------


def test_open_case_deadlines_from_workdays() -> None:
    """Mon 21 Dec 2026 10:00 CET: ack 2026-12-22T16:00Z, response 2026-12-29T16:00Z."""
    msg = make_msg()
    case = open_case("MK-2026-0001", msg, find_reporter(msg, RELAYS, OWN_DOMAIN), CAL, 1, 5)
    assert (case.ontvangstdag, case.ack_due, case.response_due) == (
        date(2026, 12, 21),
        datetime(2026, 12, 22, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 29, 16, 0, tzinfo=UTC),
    )
    assert case.ack_explanation == CAL.due(msg.received_at, 1).explanation
    assert "Eerste kerstdag" in case.response_explanation


def test_open_case_fields_from_report() -> None:
    """The case is new and carries id, subject, receipt, reporter and language."""
    msg = make_msg(
        subject="  Kwetsbaarheid\r\n  in portaal ",
        language="en",
        contacts=Contacts(phones=("0612345678",)),
    )
    case = open_case("MK-2026-0001", msg, find_reporter(msg, RELAYS, OWN_DOMAIN), CAL, 1, 5)
    actual = (
        case.id,
        case.state,
        case.subject,
        case.received_at,
        case.reporter_email,
        case.reporter_name,
        case.reporter_phone,
        case.source,
        case.relay_sender,
        case.language,
        case.flags,
        case.is_open,
    )
    assert actual == (
        "MK-2026-0001",
        S.NEW,
        "Kwetsbaarheid in portaal",
        msg.received_at,
        "jan@reporter.example",
        "Jan Jansen",
        "0612345678",
        "direct",
        None,
        "en",
        (),
        True,
    )


def test_open_case_relayed_without_contact_is_flagged() -> None:
    """A report without a usable reporter address is still a case, flagged no_contact."""
    msg = relayed(contacts=Contacts(phones=("0612345678",)))
    case = open_case("MK-2026-0002", msg, find_reporter(msg, RELAYS, OWN_DOMAIN), CAL, 1, 5)
    assert (case.flags, case.reporter_email, case.reporter_phone, case.source) == (
        ("no_contact",),
        None,
        "0612345678",
        "relay",
    )
    assert case.relay_sender == "meldpunt@vng.example"


def test_open_case_uses_given_working_days() -> None:
    """The acknowledge and respond counts come from the arguments (configurable)."""
    msg = make_msg()
    case = open_case("MK-2026-0001", msg, find_reporter(msg, RELAYS, OWN_DOMAIN), CAL, 2, 3)
    assert (case.ack_due, case.response_due) == (
        datetime(2026, 12, 23, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 24, 16, 0, tzinfo=UTC),
    )


def test_open_case_affected_systems_deduplicated() -> None:
    """URLs, IPs and host names of the report, in order, each once."""
    contacts = Contacts(
        urls=("https://portaal.gemeente.example/login", "https://portaal.gemeente.example/login"),
        ips=("192.0.2.10", "192.0.2.10", "2001:db8::1"),
        hostnames=("portaal.gemeente.example", "mail.gemeente.example", "portaal.gemeente.example"),
    )
    msg = make_msg(contacts=contacts)
    case = open_case("MK-2026-0001", msg, find_reporter(msg, RELAYS, OWN_DOMAIN), CAL, 1, 5)
    assert case.affected == (
        "https://portaal.gemeente.example/login",
        "192.0.2.10",
        "2001:db8::1",
        "portaal.gemeente.example",
        "mail.gemeente.example",
    )


def test_affected_systems_capped() -> None:
    """At most MAX_AFFECTED systems are kept, the first ones."""
    hosts = tuple(f"host{i}.gemeente.example" for i in range(MAX_AFFECTED + 20))
    assert affected_systems(make_msg(contacts=Contacts(hostnames=hosts))) == hosts[:MAX_AFFECTED]


def test_case_tags_are_ascii_digits_only() -> None:
    """Full-width or other Unicode digits never name a case."""
    assert (
        find_tags("Re: MK-\uff12\uff10\uff12\uff16-\uff10\uff10\uff10\uff11", "MK"),
        find_tags("MK-2026-0001", "MK"),
    ) == (
        (),
        ("MK-2026-0001",),
    )

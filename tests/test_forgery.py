"""Forgery (issue 12, items 5 and 6): staff and relay authority only for an unambiguous,
authenticated identity. Messages are raw bytes through `parsing.parse` and `classify`,
authenticated by `authentication.verify_sender` as the shell does."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core import config
from mailbot.core.authentication import verify_sender
from mailbot.core.classify import Context, Rules, Verdict, classify
from mailbot.core.models import Case, CaseState, Disposition, InboundMessage
from mailbot.mail.headers import IDENTITY_HEADERS
from mailbot.mail.parsing import parse
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import MaildirMailbox, deliver_to_maildir
from mailbot.shell.pipeline import Service
from mailbot.shell.transport import MaildirTransport
from mailbot.store import Store

D = Disposition
NOW = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
MX = "mx.gemeente.example"
STAFF = "security@gemeente.example"
RELAY = "meldpunt@vng.example"
REPORTER = "jan@example.nl"
PASS = f"{MX}; dkim=pass header.d=gemeente.example; dmarc=pass header.from=gemeente.example"
RELAY_PASS = f"{MX}; dkim=pass header.d=vng.example; dmarc=pass header.from=vng.example"
RULES = Rules.from_settings(config.embedded(Path("/srv/mailbot-test")))
CASE = Case(
    id="MK-2026-0001",
    state=CaseState.ACKNOWLEDGED,
    subject="Lek in portaal",
    received_at=NOW,
    reporter_email=REPORTER,
)
RELAYED = replace(CASE, reporter_email="melder@example.org", source="relay", relay_sender=RELAY)

#: A staff reply as our MTA delivers it: DKIM and DMARC pass for gemeente.example.
STAFF_MAIL = [
    ("Authentication-Results", PASS),
    ("From", f"Petra de Boer <{STAFF}>"),
    ("Sender", STAFF),
    ("To", "meldpunt@gemeente.example"),
    ("Subject", "RE: [MK-2026-0001] Nieuwe melding: Lek in portaal"),
    ("Message-ID", "<staff1@gemeente.example>"),
    ("In-Reply-To", "<notice.1@gemeente.example>"),
    ("References", "<case.MK-2026-0001@gemeente.example> <notice.1@gemeente.example>"),
    ("Date", "Mon, 21 Dec 2026 10:00:00 +0100"),
    ("Content-Type", "text/plain; charset=utf-8"),
]
BODY = "Status: confirmed\r\n\r\nDank u, we hebben het lek bevestigd.\r\n"
CANONICAL = {name.lower(): name for name, _ in STAFF_MAIL}


def raw(headers: list[tuple[str, str]], body: str = BODY) -> bytes:
    """A message with CRLF line ends from (name, value) header pairs and a body."""
    lines = [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join([*lines, "", body])).encode()


def judge(data: bytes, case: Case = CASE) -> Verdict:
    """Parse `data`, authenticate it as the shell does, and classify it on `case`."""
    msg = parse(data, NOW)
    auth = verify_sender(msg, (MX,))
    ctx = Context(
        case=case, found_by="tag", authenticated=auth.authenticated, auth_reason=auth.reason
    )
    return classify(msg, ctx, RULES)


def parsed(data: bytes) -> InboundMessage:
    """`data` parsed at NOW."""
    return parse(data, NOW)


def test_the_untouched_staff_mail_is_a_staff_reply() -> None:
    """The baseline every property starts from really is an authenticated staff reply."""
    verdict = judge(raw(STAFF_MAIL))
    assert verdict == Verdict(D.STAFF_REPLY, f"staff {STAFF} names MK-2026-0001 by tag", CASE.id)


# --- item 5: duplicated identity headers ---------------------------------------------------


def any_case(name: str) -> st.SearchStrategy[str]:
    """`name` with each letter in upper or lower case."""
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return flips.map(
        lambda up: "".join(c.upper() if u else c.lower() for c, u in zip(name, up, strict=True))
    )


ONE_LINE = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(IDENTITY_HEADERS).flatmap(lambda n: any_case(CANONICAL[n])),
    value=ONE_LINE | st.sampled_from([STAFF, "[MK-2026-0002] x", "<evil@evil.example>"]),
    position=st.integers(min_value=0, max_value=len(STAFF_MAIL)),
)
def test_a_repeated_identity_header_never_gives_staff_authority(
    name: str, value: str, position: int
) -> None:
    """A second From/Sender/Subject/Message-ID/In-Reply-To/References, any value, any
    place, any case of its name: never staff_reply."""
    headers = [*STAFF_MAIL]
    headers.insert(position, (name, value))
    verdict = judge(raw(headers))
    repeated = f"repeated {CANONICAL[name.lower()]}"
    assert (verdict.disposition, repeated in verdict.reason) == (D.UNVERIFIED, True)


ADDRESS = st.from_regex(r"[a-z][a-z0-9.]{0,10}@[a-z]{1,10}\.(nl|example|com)", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    other=ADDRESS | st.just(STAFF) | st.just("ciso@gemeente.example"),
    layout=st.sampled_from(
        [
            "{staff}, {other}",
            "{other}, {staff}",
            "Petra <{staff}>, <{other}>",
            "{staff},{other}",
            "{staff}; {other}",
            "<{staff}> <{other}>",
            "Team: {staff}, {other};",
            "{staff} <{other}>",
            '"{other}" <{staff}>, {other}',
        ]
    ),
)
def test_a_second_from_address_never_gives_staff_authority(other: str, layout: str) -> None:
    """From naming a second address (any address, any syntax): never staff_reply."""
    headers = [
        (n, layout.format(staff=STAFF, other=other) if n == "From" else v) for n, v in STAFF_MAIL
    ]
    verdict = judge(raw(headers))
    assert verdict.disposition == D.UNVERIFIED


def test_a_replayed_staff_mail_with_new_subject_and_message_id_is_unverified() -> None:
    """The issue's replay: a signed staff mail with a new Subject and Message-ID on top."""
    headers = [
        ("Subject", "RE: [MK-2026-0001] Close: rejected"),
        ("Message-ID", "<replay@evil.example>"),
        *STAFF_MAIL,
    ]
    verdict = judge(raw(headers))
    reason = "ambiguous identity (repeated Subject, repeated Message-ID)"
    assert verdict == Verdict(D.UNVERIFIED, f"{reason}: {STAFF} gets no say on {CASE.id}", CASE.id)


def test_two_from_headers_are_unverified_whichever_comes_first() -> None:
    """Two From headers (ours-looking below, anyone above, or the reverse): unverified."""
    above = [("From", "mallory@evil.example"), *STAFF_MAIL]
    below = [*STAFF_MAIL, ("From", "mallory@evil.example")]
    assert [judge(raw(h)).disposition for h in (above, below)] == [D.UNVERIFIED, D.UNVERIFIED]


@pytest.mark.parametrize(
    ("hidden", "where"),
    [
        ("From : mallory@evil.example", "last"),  # taken for the body without a defect
        ("From : mallory@evil.example", "middle"),  # skipped as a misplaced mbox line
        ("From : mallory@evil.example", "first"),  # taken for the mbox envelope line
        ("Subject\t: [MK-2026-0002] x", "middle"),  # ends the header block early
        (": nameless", "middle"),  # a header without a name is dropped
    ],
)
def test_a_header_line_the_parser_skips_makes_the_identity_ambiguous(
    hidden: str, where: str
) -> None:
    """A line an MTA (and DKIM, relaxed) reads as a header but our parser skips or ends
    the block at: the rest of the block may hold the headers that were verified."""
    lines = [f"{n}: {v}" for n, v in STAFF_MAIL]
    at = {"first": 0, "middle": 3, "last": len(lines)}[where]
    lines.insert(at, hidden)
    data = "\r\n".join([*lines, "", BODY]).encode()
    assert "header_block" in parsed(data).ambiguous_identity
    assert judge(data).disposition == D.UNVERIFIED


def test_a_body_that_starts_with_from_colon_is_no_ambiguity() -> None:
    """A reply whose text starts "From: ..." (a pasted forward) is read as before."""
    data = raw(STAFF_MAIL, "From: someone@example.org\r\nSent: today\r\n")
    assert (parsed(data).ambiguous_identity, judge(data).disposition) == ((), D.STAFF_REPLY)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([("Subject", "x"), ("SUBJECT", "y")], ("subject",)),
        ([("References", "<a@b>"), ("references", "<c@d>")], ("references",)),
        ([("From", "a@x.nl, b@y.nl")], ("from_addresses",)),
        ([("From", "a@x.nl"), ("From", "b@y.nl")], ("from",)),
        ([("From", "a@x.nl, garbage")], ("from_addresses",)),
        ([("From", "Jan <a@x.nl>, "), ("Reply-To", "c@x.nl"), ("Reply-To", "d@x.nl")], ()),
        ([("From", '"b@y.nl, c@z.nl" <a@x.nl>')], ()),
    ],
)
def test_ambiguous_identity_names_what_is_ambiguous(
    extra: list[tuple[str, str]], expected: tuple[str, ...]
) -> None:
    """Repeated identity headers by name, a From with two addresses; other repeats and a
    quoted display name holding commas are no ambiguity."""
    assert parsed(raw([("To", "m@g.nl"), *extra])).ambiguous_identity == expected


def test_ambiguous_mail_naming_no_case_is_a_report_with_the_reason() -> None:
    """Without a case it is a normal report; the first From is its reporter; reason says why."""
    msg = parsed(raw([("From", f"{REPORTER}, other@example.org"), ("Subject", "Lek")]))
    verdict = classify(msg, Context(), RULES)
    reason = (
        "report without a valid case reference;"
        " ambiguous identity (From names more than one address)"
    )
    assert (msg.from_address, verdict) == (REPORTER, Verdict(D.NEW_CASE, reason))


def test_a_reporter_followup_with_repeated_references_is_unverified() -> None:
    """Item 5 holds for every mail naming a case, the reporter's too."""
    headers = [
        ("From", REPORTER),
        ("Subject", "Re: [MK-2026-0001] Ontvangstbevestiging"),
        ("References", "<case.MK-2026-0001@gemeente.example>"),
        ("References", "<other@example.nl>"),
    ]
    verdict = judge(raw(headers))
    assert (verdict.disposition, verdict.reason) == (
        D.UNVERIFIED,
        f"ambiguous identity (repeated References): {REPORTER} gets no say on {CASE.id}",
    )


# --- item 6: relay senders -------------------------------------------------------------------


def relay_mail(auth: str | None, message_id: str = "r2@vng.example") -> bytes:
    """A follow-up from the relay on its case, with or without our MTA's verdict."""
    headers = [
        ("From", f"VNG Meldpunt <{RELAY}>"),
        ("Subject", "Re: [MK-2026-0001] Aanvulling"),
        ("Message-ID", f"<{message_id}>"),
    ]
    if auth is not None:
        headers.insert(0, ("Authentication-Results", auth))
    return raw(headers, "Aanvulling van de melder.\r\n")


def test_an_authenticated_relay_followup_is_a_followup() -> None:
    """The relay, vouched for by our MTA, writing on a case it relayed: followup."""
    verdict = judge(relay_mail(RELAY_PASS), RELAYED)
    assert verdict == Verdict(D.FOLLOWUP, f"relay {RELAY} names MK-2026-0001 by tag", CASE.id)


@pytest.mark.parametrize(
    ("auth", "why"),
    [
        (None, "no Authentication-Results from a trusted authserv-id"),
        (f"{MX}; dkim=fail header.d=vng.example; dmarc=fail header.from=vng.example", "dmarc=fail"),
        (f"{MX}; dkim=pass header.d=evil.example", "not aligned with vng.example"),
        ("evil.example; dmarc=pass header.from=vng.example", "no Authentication-Results"),
    ],
)
def test_an_unauthenticated_relay_naming_a_case_is_unverified(auth: str | None, why: str) -> None:
    """A mail From a relay address that our MTA did not vouch for: unverified, reason given."""
    verdict = judge(relay_mail(auth), RELAYED)
    assert (verdict.disposition, verdict.reason.startswith("relay address not verified: ")) == (
        D.UNVERIFIED,
        True,
    )
    assert why in verdict.reason


def test_an_authenticated_relay_on_a_case_it_did_not_relay_is_unverified() -> None:
    """Authentication proves the relay, not a right to a direct case."""
    verdict = judge(relay_mail(RELAY_PASS), CASE)
    assert verdict == Verdict(D.UNVERIFIED, f"{RELAY} is not the reporter of {CASE.id}", CASE.id)


def test_a_forged_relay_followup_through_the_service_is_unverified(tmp_path: Path) -> None:
    """End to end: a relayed case, then the relay's address forged on it: unverified, kept
    apart from the case, nothing sent to the forger."""
    settings = config.embedded(tmp_path)
    staff = replace(settings.staff, require_authenticated=True, authserv_ids=(MX,))
    settings = replace(settings, staff=staff)
    clock = ManualClock(NOW)
    service = Service(
        settings,
        Store(settings.database.path),
        MaildirMailbox(tmp_path / "inbox"),
        MaildirTransport(tmp_path / "outbox"),
        clock,
    )
    report = raw(
        [
            ("Authentication-Results", RELAY_PASS),
            ("From", RELAY),
            ("Reply-To", "melder@example.org"),
            ("Subject", "Doorgestuurde melding"),
            ("Message-ID", "<r1@vng.example>"),
        ],
        "Lek op https://portaal.gemeente.example\r\n",
    )
    got = []
    mails = (report, relay_mail(None, "forged@evil.example"), relay_mail(RELAY_PASS))
    for n, data in enumerate(mails):
        clock.set(NOW + timedelta(minutes=n))
        deliver_to_maildir(tmp_path / "inbox", data, clock.now())
        outcomes, _ = asyncio.run(service.run_once())
        got += [(o.disposition, o.case_id) for o in outcomes]
    on_case = [m.message_id for m in service.store.messages_of_case("MK-2026-0001")]
    service.close()
    assert got == [
        (D.NEW_CASE, "MK-2026-0001"),
        (D.UNVERIFIED, "MK-2026-0001"),
        (D.FOLLOWUP, "MK-2026-0001"),
    ]
    assert on_case == ["r1@vng.example", "r2@vng.example"]


def test_a_relay_the_shell_did_not_check_is_unverified_with_a_reason() -> None:
    """No verdict from the shell (e.g. a former relay of the case, no longer configured)
    is no authentication, and the reason says so."""
    ctx = Context(case=RELAYED, found_by="tag")
    verdict = classify(parsed(relay_mail(RELAY_PASS)), ctx, RULES)
    assert verdict == Verdict(
        D.UNVERIFIED,
        "relay address not verified: no authentication verdict for this sender",
        CASE.id,
    )


def test_an_encoded_word_inside_our_mtas_header_cannot_say_dmarc_pass() -> None:
    """A sender-chosen value our MTA copies into its header is not RFC 2047-decoded: an
    encoded `dmarc=pass` in the envelope sender never outvotes our `dmarc=fail`."""
    bait = "=?utf-8?q?=22=3B_dmarc=3Dpass_header.from=3Dgemeente.example_smtp.mailfrom=3D=22?="
    ours = (
        f'{MX}; spf=fail smtp.mailfrom="{bait}"@evil.example;'
        " dkim=none; dmarc=fail header.from=gemeente.example"
    )
    headers = [("Authentication-Results", ours), *STAFF_MAIL[1:]]
    verdict = judge(raw(headers))
    assert (verdict.disposition, verdict.reason.startswith("staff address not verified")) == (
        D.UNVERIFIED,
        True,
    )

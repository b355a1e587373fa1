"""Tests for mailbot.authentication: does our MTA's Authentication-Results vouch for From?"""

from __future__ import annotations

from datetime import UTC, datetime

import authres  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.authentication import (
    MAX_HEADER_CHARS,
    MAX_HEADERS,
    MAX_READ_CHARS,
    AuthVerdict,
    _leading_id,
    verify_sender,
)
from mailbot.core.models import InboundMessage

OURS = "mx.gemeente.example"
TRUSTED = (OURS,)
STAFF = "staff@gemeente.example"

POSTFIX_OPENDMARC = f"{OURS}; dmarc=pass (p=reject dis=none) header.from=gemeente.example"
OPENDKIM = (
    f"{OURS}; dkim=pass (2048-bit key; unprotected) header.d=gemeente.example"
    " header.i=@gemeente.example header.b=abcd1234"
)
MICROSOFT_365 = (
    f"{OURS}; spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=gemeente.example;"
    " dkim=pass (signature was verified) header.d=gemeente.example;dmarc=pass action=none"
    " header.from=gemeente.example;compauth=pass reason=100"
)
GMAIL_STYLE = (
    f"{OURS}; dkim=pass header.i=@gemeente.example header.s=sel2024 header.b=Xy+z/9Ab;"
    " spf=pass (mx.gemeente.example: domain of staff@gemeente.example designates"
    " 192.0.2.7 as permitted sender) smtp.mailfrom=staff@gemeente.example;"
    " dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=gemeente.example"
)
DMARC_FAIL = f"{OURS}; dmarc=fail (p=reject dis=reject) header.from=gemeente.example"
FORGED_PASS = f"{OURS}; dmarc=pass header.from=gemeente.example"


def message(
    *auth_results: str,
    sender: str | None = STAFF,
    extra: tuple[tuple[str, str], ...] = (),
    reply_to: tuple[str, ...] = (),
) -> InboundMessage:
    """A staff mail whose Authentication-Results values are given topmost first."""
    headers = (
        *extra,
        *(("authentication-results", value) for value in auth_results),
        ("received", "from outside.example by mx.gemeente.example"),
        ("from", sender or ""),
    )
    return InboundMessage(
        raw_sha256="0" * 64,
        size=100,
        received_at=datetime(2025, 3, 3, 9, 0, tzinfo=UTC),
        message_id="m1@gemeente.example",
        subject="Re: [MK-2025-0001] melding",
        from_address=sender,
        from_name="Staff",
        reply_to=reply_to,
        headers=headers,
    )


def test_postfix_opendmarc_pass_authenticates() -> None:
    """An OpenDMARC dmarc=pass for the From domain from our MTA authenticates."""
    actual = verify_sender(message(POSTFIX_OPENDMARC), TRUSTED)
    assert actual == AuthVerdict(True, "dmarc=pass from mx.gemeente.example")


def test_opendkim_aligned_pass_authenticates() -> None:
    """An OpenDKIM dkim=pass with header.d equal to the From domain authenticates."""
    actual = verify_sender(message(OPENDKIM), TRUSTED)
    assert actual == AuthVerdict(True, "dkim=pass for d=gemeente.example from mx.gemeente.example")


def test_microsoft_365_style_header_authenticates_by_dmarc() -> None:
    """The Microsoft 365 layout (no spaces after ';', action=, compauth) is read; DMARC wins."""
    actual = verify_sender(message(MICROSOFT_365), TRUSTED)
    assert actual == AuthVerdict(True, "dmarc=pass from mx.gemeente.example")


def test_gmail_style_header_authenticates() -> None:
    """A Gmail-style header (header.i only on dkim, long spf comment) authenticates by DMARC."""
    actual = verify_sender(message(GMAIL_STYLE), TRUSTED)
    assert actual == AuthVerdict(True, "dmarc=pass from mx.gemeente.example")


def test_still_folded_header_value_is_read() -> None:
    """A value that still carries CRLF folding is read like the unfolded one."""
    folded = GMAIL_STYLE.replace("; ", ";\r\n       ")
    actual = verify_sender(message(folded), TRUSTED)
    assert actual == AuthVerdict(True, "dmarc=pass from mx.gemeente.example")


def test_dkim_header_i_is_used_when_header_d_is_absent() -> None:
    """dkim=pass with only header.i=@domain counts when that domain is aligned."""
    value = f"{OURS}; dkim=pass header.i=@gemeente.example header.s=sel"
    actual = verify_sender(message(value), TRUSTED)
    assert actual == AuthVerdict(True, "dkim=pass for d=gemeente.example from mx.gemeente.example")


def test_dmarc_fail_is_not_authenticated() -> None:
    """dmarc=fail from our MTA does not authenticate, and the reason says so."""
    actual = verify_sender(message(DMARC_FAIL), TRUSTED)
    assert actual == AuthVerdict(False, "dmarc=fail (mx.gemeente.example)")


def test_no_header_is_not_authenticated() -> None:
    """A staff mail without any Authentication-Results is not authenticated."""
    actual = verify_sender(message(), TRUSTED)
    assert actual == AuthVerdict(False, "no Authentication-Results from a trusted authserv-id")


def test_only_untrusted_authserv_ids_are_ignored() -> None:
    """Passes claimed by other authserv-ids (a sender's own or a relay's) count for nothing."""
    msg = message(
        "mx.google.com; dmarc=pass header.from=gemeente.example",
        "gemeente.example.evil.example; dkim=pass header.d=gemeente.example",
    )
    actual = verify_sender(msg, TRUSTED)
    assert actual == AuthVerdict(False, "no Authentication-Results from a trusted authserv-id")


def test_trusted_pass_below_topmost_trusted_fail_is_ignored() -> None:
    """Only the topmost trusted header counts: a dmarc=pass below a dmarc=fail is ignored."""
    actual = verify_sender(message(DMARC_FAIL, FORGED_PASS), TRUSTED)
    assert actual == AuthVerdict(False, "dmarc=fail (mx.gemeente.example)")


def test_forged_header_below_our_none_is_ignored() -> None:
    """A forged trusted-looking pass below our real 'none' header does not authenticate."""
    actual = verify_sender(message(f"{OURS}; none", FORGED_PASS), TRUSTED)
    assert actual == AuthVerdict(False, "no results (mx.gemeente.example)")


def test_untrusted_header_above_ours_is_skipped() -> None:
    """A header of another authserv-id above ours (a later hop) is skipped, ours decides."""
    msg = message("imap.gemeente.example; dmarc=fail header.from=gemeente.example", OPENDKIM)
    actual = verify_sender(msg, TRUSTED)
    assert actual == AuthVerdict(True, "dkim=pass for d=gemeente.example from mx.gemeente.example")


def test_dkim_pass_for_unrelated_domain_is_not_authenticated() -> None:
    """dkim=pass signed by another domain does not vouch for the From domain."""
    value = f"{OURS}; dkim=pass header.d=other.example; spf=pass smtp.mailfrom=gemeente.example"
    actual = verify_sender(message(value), TRUSTED)
    expected = AuthVerdict(
        False,
        "dkim=pass for d=other.example, not aligned with gemeente.example; spf=pass"
        " (mx.gemeente.example)",
    )
    assert actual == expected


def test_dkim_pass_for_parent_domain_authenticates() -> None:
    """DKIM by gemeente.example vouches for staff@sub.gemeente.example (DESIGN §6)."""
    value = f"{OURS}; dkim=pass header.d=gemeente.example"
    actual = verify_sender(message(value, sender="staff@sub.gemeente.example"), TRUSTED)
    assert actual == AuthVerdict(True, "dkim=pass for d=gemeente.example from mx.gemeente.example")


def test_dkim_pass_for_single_label_parent_is_not_authenticated() -> None:
    """A one-label signing domain (d=example) is too broad to count as a parent."""
    value = f"{OURS}; dkim=pass header.d=example"
    actual = verify_sender(message(value), TRUSTED)
    expected = AuthVerdict(
        False, "dkim=pass for d=example, not aligned with gemeente.example (mx.gemeente.example)"
    )
    assert actual == expected


def test_dkim_suffix_without_label_boundary_is_not_aligned() -> None:
    """d=ente.example is a string suffix of gemeente.example but not a parent domain."""
    actual = verify_sender(message(f"{OURS}; dkim=pass header.d=ente.example"), TRUSTED)
    assert actual.authenticated is False


def test_dkim_by_subdomain_does_not_vouch_for_parent() -> None:
    """d=sub.gemeente.example does not vouch for staff@gemeente.example."""
    actual = verify_sender(message(f"{OURS}; dkim=pass header.d=sub.gemeente.example"), TRUSTED)
    assert actual.authenticated is False


def test_dkim_fail_is_not_authenticated() -> None:
    """dkim=fail for the From domain does not authenticate."""
    actual = verify_sender(message(f"{OURS}; dkim=fail header.d=gemeente.example"), TRUSTED)
    expected = AuthVerdict(False, "dkim=fail for d=gemeente.example (mx.gemeente.example)")
    assert actual == expected


def test_dmarc_pass_for_other_header_from_is_not_authenticated() -> None:
    """dmarc=pass whose header.from names another domain does not vouch for From."""
    value = f"{OURS}; dmarc=pass header.from=evil.example"
    actual = verify_sender(message(value), TRUSTED)
    expected = AuthVerdict(
        False,
        "dmarc=pass for header.from=evil.example, not gemeente.example (mx.gemeente.example)",
    )
    assert actual == expected


def test_dmarc_pass_with_a_second_other_header_from_is_not_authenticated() -> None:
    """Every header.from of a dmarc=pass must be the From domain."""
    value = f"{OURS}; dmarc=pass header.from=gemeente.example header.from=evil.example"
    actual = verify_sender(message(value), TRUSTED)
    assert actual.authenticated is False


def test_dmarc_pass_without_header_from_is_not_authenticated() -> None:
    """dmarc=pass that does not say for which domain is not enough (fail-closed)."""
    actual = verify_sender(message(f"{OURS}; dmarc=pass"), TRUSTED)
    expected = AuthVerdict(False, "dmarc=pass without header.from (mx.gemeente.example)")
    assert actual == expected


def test_spf_alone_never_authenticates() -> None:
    """spf=pass for the From domain is not enough on its own."""
    value = f"{OURS}; spf=pass smtp.mailfrom=staff@gemeente.example"
    actual = verify_sender(message(value), TRUSTED)
    assert actual == AuthVerdict(False, "spf=pass (mx.gemeente.example)")


def test_aligned_dkim_pass_counts_despite_dmarc_fail() -> None:
    """Per the rule 'dmarc=pass, else aligned dkim=pass', an aligned DKIM pass suffices."""
    value = f"{DMARC_FAIL}; dkim=pass header.d=gemeente.example"
    actual = verify_sender(message(value), TRUSTED)
    assert actual == AuthVerdict(True, "dkim=pass for d=gemeente.example from mx.gemeente.example")


def test_identity_comes_from_from_not_reply_to() -> None:
    """A pass for the staff domain does not help a From elsewhere, whatever Reply-To says."""
    msg = message(FORGED_PASS, sender="staff@evil.example", reply_to=(STAFF,))
    actual = verify_sender(msg, TRUSTED)
    assert actual.authenticated is False


def test_missing_from_address_is_not_authenticated() -> None:
    """Without a From address nothing can be authenticated."""
    actual = verify_sender(message(POSTFIX_OPENDMARC, sender=None), TRUSTED)
    assert actual == AuthVerdict(False, "no From address")


def test_no_trusted_ids_configured_is_not_authenticated() -> None:
    """With no trusted authserv-id every mail is unauthenticated."""
    actual = verify_sender(message(POSTFIX_OPENDMARC), ())
    assert actual == AuthVerdict(False, "no trusted authserv-id configured")


def test_case_and_trailing_dots_are_tolerated() -> None:
    """authserv-id, configured id, header.from and From compare case-blind, trailing dot ok."""
    value = "MX.Gemeente.Example; dmarc=pass header.from=Gemeente.Example."
    msg = message(value, sender="staff@gemeente.example.")
    actual = verify_sender(msg, ["mx.GEMEENTE.example."])
    assert actual == AuthVerdict(True, "dmarc=pass from mx.gemeente.example")


def test_trailing_dot_in_authserv_id_is_unreadable() -> None:
    """authres refuses 'mx.gemeente.example.;' (not a dot-atom); that fails closed."""
    value = "mx.gemeente.example.; dmarc=pass header.from=gemeente.example"
    actual = verify_sender(message(value), TRUSTED)
    assert actual.authenticated is False
    assert actual.reason.startswith("unreadable Authentication-Results from mx.gemeente.example")


def test_single_string_of_trusted_ids_is_one_id() -> None:
    """A bare string is taken as one authserv-id, not as a set of one-letter ids."""
    forged_by_letter = "m; dmarc=pass header.from=gemeente.example"
    actual = verify_sender(message(forged_by_letter), OURS)
    assert actual.authenticated is False


def test_arc_authentication_results_are_ignored() -> None:
    """ARC-Authentication-Results, even with our id and a pass, count for nothing."""
    arc = (("arc-authentication-results", f"i=1; {FORGED_PASS}"),)
    actual = verify_sender(message(extra=arc), TRUSTED)
    assert actual == AuthVerdict(False, "no Authentication-Results from a trusted authserv-id")


def test_garbage_header_is_not_authenticated_without_exception() -> None:
    """A header authres cannot parse gives 'not authenticated', never an exception."""
    actual = verify_sender(message(f"{OURS}; dmarc"), TRUSTED)
    assert actual.authenticated is False
    assert actual.reason.startswith("unreadable Authentication-Results from mx.gemeente.example")


def test_unreadable_topmost_trusted_header_hides_forged_pass_below() -> None:
    """If our header is unreadable (non-ASCII value), a readable forged pass below is unused."""
    ours = f"{OURS}; dmarc=fail header.from=gemeente.exampl\u00e9"
    actual = verify_sender(message(ours, FORGED_PASS), TRUSTED)
    assert actual.authenticated is False
    assert actual.reason.startswith("unreadable Authentication-Results from mx.gemeente.example")


def test_unreadable_header_without_authserv_id_above_ours_fails_closed() -> None:
    """An unreadable header whose authserv-id cannot be told stops the search."""
    actual = verify_sender(message("dkim=pass header.d=x.example", POSTFIX_OPENDMARC), TRUSTED)
    assert actual.authenticated is False
    assert actual.reason.startswith("unreadable Authentication-Results from an unknown")


def test_unreadable_header_of_other_id_is_skipped() -> None:
    """An unreadable header that plainly names another authserv-id is skipped like any other."""
    actual = verify_sender(message("relay.example; garbage", POSTFIX_OPENDMARC), TRUSTED)
    assert actual == AuthVerdict(True, "dmarc=pass from mx.gemeente.example")


def test_deeply_nested_comment_does_not_raise() -> None:
    """A comment nested past the recursion limit is unreadable, not a crash."""
    value = f"{OURS}; dmarc=pass " + "(" * 5000 + ")" * 5000 + " header.from=gemeente.example"
    actual = verify_sender(message(value), TRUSTED)
    assert actual.authenticated is False


def test_overlong_header_is_unreadable() -> None:
    """A header longer than MAX_HEADER_CHARS is not parsed and does not authenticate."""
    value = POSTFIX_OPENDMARC + " (" + "x" * MAX_HEADER_CHARS + ")"
    actual = verify_sender(message(value), TRUSTED)
    expected = AuthVerdict(
        False,
        "unreadable Authentication-Results from mx.gemeente.example:"
        f" longer than {MAX_HEADER_CHARS} characters",
    )
    assert actual == expected


HEADER_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            [
                *(OURS, ";", " ", "(", ")", '"', "=", ".", "@", "dmarc", "dkim", "pass"),
                *("fail", "header.from", "header.d", "header.i", "gemeente.example", "none"),
                "\r\n ",
            ]
        ),
        max_size=40,
    ).map("".join),
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(HEADER_TEXT, max_size=4), sender=st.none() | st.emails())
def test_arbitrary_header_values_never_raise(values: list[str], sender: str | None) -> None:
    """Any header values give a verdict with a one-line reason, never an exception."""
    actual = verify_sender(message(*values, sender=sender), TRUSTED)
    assert isinstance(actual.authenticated, bool)
    assert actual.reason != ""
    assert actual.reason.isprintable()


@settings(max_examples=200, deadline=None)
@given(forged=st.lists(HEADER_TEXT, max_size=4))
def test_nothing_below_our_failing_header_authenticates(forged: list[str]) -> None:
    """Whatever a sender adds below our dmarc=fail header, the mail stays unauthenticated."""
    actual = verify_sender(message(DMARC_FAIL, *forged), TRUSTED)
    assert actual == AuthVerdict(False, "dmarc=fail (mx.gemeente.example)")


OTHER = (
    "relay{n}.elders.example; dkim=pass header.d=gemeente.example;"
    " dmarc=pass header.from=gemeente.example"
)


class _CountingParser:
    """Stands in for authres.parse_value: counts the calls and the characters read."""

    def __init__(self) -> None:
        self.calls = 0
        self.chars = 0

    def __call__(self, value: str) -> object:
        self.calls += 1
        self.chars += len(value)
        return _REAL_PARSE(value)


_REAL_PARSE = authres.parse_value


def test_untrusted_headers_below_ours_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten thousand headers of other authserv-ids under ours: only ours goes to authres."""
    spy = _CountingParser()
    monkeypatch.setattr(authres, "parse_value", spy)
    others = [OTHER.format(n=n) for n in range(10_000)]
    actual = verify_sender(message(POSTFIX_OPENDMARC, *others), TRUSTED)
    assert (actual, spy.calls) == (AuthVerdict(True, "dmarc=pass from mx.gemeente.example"), 1)


def test_untrusted_headers_are_skipped_without_authres(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers that plainly name another authserv-id (comment first or not) are not parsed."""
    spy = _CountingParser()
    monkeypatch.setattr(authres, "parse_value", spy)
    others = ["(via x) relay.example; dkim=pass", "relay.example 1; none", "Relay.Example."]
    actual = verify_sender(message(*others, POSTFIX_OPENDMARC), TRUSTED)
    assert (actual, spy.calls) == (AuthVerdict(True, "dmarc=pass from mx.gemeente.example"), 1)


@pytest.mark.parametrize(
    ("above", "expected"),
    [
        (MAX_HEADERS - 1, AuthVerdict(True, "dmarc=pass from mx.gemeente.example")),
        (
            MAX_HEADERS,
            AuthVerdict(
                False, f"no trusted Authentication-Results among the topmost {MAX_HEADERS}"
            ),
        ),
    ],
)
def test_only_the_topmost_max_headers_are_looked_at(above: int, expected: AuthVerdict) -> None:
    """Our header counts only among the topmost MAX_HEADERS; below that it fails closed."""
    others = [OTHER.format(n=n) for n in range(above)]
    assert verify_sender(message(*others, POSTFIX_OPENDMARC), TRUSTED) == expected


def test_authres_reads_at_most_the_character_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers authres must read to learn their id stop the search once the budget is spent."""
    spy = _CountingParser()
    monkeypatch.setattr(authres, "parse_value", spy)
    unclear = "((nested)) relay.example; " + "dkim=pass header.d=a.example " * 300
    actual = verify_sender(message(*[unclear] * 20, POSTFIX_OPENDMARC), TRUSTED)
    expected = AuthVerdict(
        False, f"Authentication-Results longer than {MAX_READ_CHARS} characters in all"
    )
    assert (actual, spy.chars <= MAX_READ_CHARS) == (expected, True)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(HEADER_TEXT | st.builds(OTHER.format, n=st.integers(0, 9)), max_size=80))
def test_authres_work_is_bounded_for_any_headers(values: list[str]) -> None:
    """Whatever the headers, authres reads at most MAX_READ_CHARS characters in all."""
    spy = _CountingParser()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(authres, "parse_value", spy)
        verify_sender(message(*values), TRUSTED)
    assert (spy.chars <= MAX_READ_CHARS, spy.calls <= MAX_HEADERS) == (True, True)


ID_TEXT = st.lists(
    st.sampled_from(
        [OURS, "relay.example", " ", ";", "(", ")", "\\", '"', "1", "dkim=pass", ".", "x"]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(value=ID_TEXT)
def test_plain_leading_id_is_the_id_authres_reads(value: str) -> None:
    """Where the quick look finds a plain authserv-id and authres reads the header, they agree."""
    leading = _leading_id(value)
    try:
        parsed = str(authres.parse_value(value).authserv_id).strip().lower().rstrip(".")
    except Exception:
        parsed = None
    assert leading in ("", parsed) or parsed is None

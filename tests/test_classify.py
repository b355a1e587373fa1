"""Tests of classification (DESIGN.md §3): every disposition and the order of the rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from mailbot.core.classify import Context, Rules, Verdict, classify
from mailbot.core.config import LimitSettings, StaffSettings, embedded
from mailbot.core.models import Case, CaseState, Disposition, InboundMessage
from mailbot.mail.rendering import LOOP_HEADER, make_message_id

D = Disposition
OWN = "meldpunt@gemeente.example"
REPORTER = "jan@reporter.example"
STAFF = "security@gemeente.example"
RELAY = "meldpunt@vng.example"
STRANGER = "mallory@evil.example"
RECEIVED = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
SETTINGS = embedded(Path("/srv/mailbot-test"))
RULES = Rules.from_settings(SETTINGS)


def make_msg(headers: tuple[tuple[str, str], ...] = (), **overrides: Any) -> InboundMessage:
    """An InboundMessage built directly (no parser): a plain report from REPORTER.

    `headers` are (name, value) pairs; names are lower-cased as the parser does.
    """
    values: dict[str, Any] = {
        "raw_sha256": "ab" * 32,
        "size": 2_000,
        "received_at": RECEIVED,
        "message_id": "20261221090000.1234@reporter.example",
        "subject": "Kwetsbaarheid in het portaal",
        "from_address": REPORTER,
        "from_name": "Jan Jansen",
        "to": (OWN,),
        "headers": tuple((name.lower(), value) for name, value in headers),
    }
    values.update(overrides)
    return InboundMessage(**values)


def make_case(**overrides: Any) -> Case:
    """An open direct case of REPORTER."""
    values: dict[str, Any] = {
        "id": "MK-2026-0001",
        "state": CaseState.ACKNOWLEDGED,
        "subject": "Kwetsbaarheid in het portaal",
        "received_at": RECEIVED,
        "reporter_email": REPORTER,
    }
    values.update(overrides)
    return Case(**values)


def on_case(**overrides: Any) -> Context:
    """The store found the message's case by its tag (and the sender passed the auth check)."""
    values: dict[str, Any] = {"case": make_case(), "found_by": "tag", "authenticated": True}
    values.update(overrides)
    return Context(**values)


def disposition(msg: InboundMessage, ctx: Context | None = None, rules: Rules = RULES) -> D:
    """Only the disposition of `msg`."""
    return classify(msg, ctx or Context(), rules).disposition


# --- rules from the settings -------------------------------------------------------------


def test_rules_from_settings(tmp_path: Path) -> None:
    """Addresses are lower-cased, the domain taken from the identity, spam header split."""
    settings = embedded(tmp_path)
    settings = replace(
        settings,
        staff=StaffSettings(addresses=("CISO@Gemeente.Example",)),
        limits=LimitSettings(max_message_bytes=1000, spam_header="X-Spam-Status : Yes"),
    )
    assert Rules.from_settings(settings) == Rules(
        own_address=OWN,
        own_domain="gemeente.example",
        staff=frozenset({"ciso@gemeente.example"}),
        relays=frozenset({RELAY}),
        spam_header=("x-spam-status", "yes"),
        max_message_bytes=1000,
    )


def test_rules_without_spam_header(tmp_path: Path) -> None:
    """An empty spam_header switches the spam rule off."""
    settings = replace(embedded(tmp_path), limits=LimitSettings(spam_header=""))
    rules = Rules.from_settings(settings)
    assert rules.spam_header is None
    assert disposition(make_msg((("X-Spam-Flag", "YES"),)), rules=rules) == D.NEW_CASE


# --- duplicate and quarantined -----------------------------------------------------------


def test_duplicate_by_message_id() -> None:
    """A message seen before is a duplicate; the reason names its Message-ID."""
    verdict = classify(make_msg(), Context(seen_before=True), RULES)
    assert verdict == Verdict(
        D.DUPLICATE, "Message-ID <20261221090000.1234@reporter.example> seen before"
    )


def test_duplicate_without_message_id_names_hash() -> None:
    """Without a Message-ID the reason names the raw sha256."""
    verdict = classify(make_msg(message_id=None), Context(seen_before=True), RULES)
    assert (verdict.disposition, "sha256 abababab" in verdict.reason) == (D.DUPLICATE, True)


def test_too_large_is_quarantined() -> None:
    """A message over max_message_bytes is quarantined with the sizes in the reason."""
    size = RULES.max_message_bytes + 1
    verdict = classify(make_msg(size=size), Context(), RULES)
    assert verdict.disposition == D.QUARANTINED
    assert str(size) in verdict.reason


def test_exactly_max_size_is_accepted() -> None:
    """A message of exactly max_message_bytes is not too large."""
    assert disposition(make_msg(size=RULES.max_message_bytes)) == D.NEW_CASE


def test_parser_error_is_quarantined() -> None:
    """A parser_error defect quarantines the message, naming the defect."""
    msg = make_msg(defects=("missing_date", "parser_error: broken MIME structure"))
    verdict = classify(msg, Context(), RULES)
    assert verdict == Verdict(D.QUARANTINED, "unparseable: parser_error: broken MIME structure")


def test_other_defects_are_not_quarantined() -> None:
    """Defects other than parser_error do not stop the message."""
    assert disposition(make_msg(defects=("missing_date", "bad_charset"))) == D.NEW_CASE


# --- loop --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [OWN, "MeldPunt@Gemeente.Example", f"<{OWN}>"])
def test_loop_by_loop_header(value: str) -> None:
    """Our loop header naming our address (any case) is a loop."""
    assert disposition(make_msg(((LOOP_HEADER, value),))) == D.LOOP


def test_loop_header_of_another_bot_is_not_our_loop() -> None:
    """The loop header of another installation (another address) is not our loop."""
    msg = make_msg(((LOOP_HEADER, "meldpunt@andere-gemeente.example"),))
    assert disposition(msg) == D.NEW_CASE


@pytest.mark.parametrize("domain", ["gemeente.example", "Gemeente.Example"])
def test_loop_by_own_message_id(domain: str) -> None:
    """A message carrying one of our own Message-IDs is a loop."""
    own_id = make_message_id("acknowledgement", "MK-2026-0001", "seed1234", "gemeente.example")
    message_id = own_id.replace("gemeente.example", domain)
    verdict = classify(make_msg(message_id=message_id), Context(), RULES)
    assert verdict.disposition == D.LOOP
    assert message_id in verdict.reason


def test_staff_message_id_on_our_domain_is_not_a_loop() -> None:
    """A colleague's mail has a Message-ID on our domain but is not one of ours."""
    msg = make_msg(message_id="AM0PR01MB1234.5678@gemeente.example", from_address=STAFF)
    assert disposition(msg, on_case()) == D.STAFF_REPLY


def test_loop_by_from_own_address() -> None:
    """Mail From our own address is a loop."""
    verdict = classify(make_msg(from_address=OWN), on_case(), RULES)
    assert verdict == Verdict(D.LOOP, "sent from our own address")


# --- bounce ------------------------------------------------------------------------------

DSN_TYPE = "multipart/report; report-type=delivery-status; boundary=xyz"
MDN_TYPE = "multipart/report; report-type=disposition-notification; boundary=xyz"


def test_bounce_multipart_report_delivery_status() -> None:
    """A delivery status notification (multipart/report) is a bounce."""
    msg = make_msg((("Content-Type", DSN_TYPE),), content_type="multipart/report")
    assert disposition(msg, on_case()) == D.BOUNCE


@pytest.mark.parametrize(
    "sender", ["mailer-daemon@mx.gemeente.example", "MAILER-DAEMON@mx.example"]
)
def test_bounce_from_mailer_daemon(sender: str) -> None:
    """Mail from MAILER-DAEMON (any case) is a bounce, as DESIGN.md §3 says."""
    assert disposition(make_msg(from_address=sender)) == D.BOUNCE


@pytest.mark.parametrize("sender", ["postmaster@x.nl", "Postmaster@gemeente.example", "noc@x.nl"])
def test_postmaster_writing_a_report_is_a_report(sender: str) -> None:
    """A local part alone (postmaster is a person too) never makes a bounce."""
    verdict = classify(make_msg(from_address=sender.lower()), Context(), RULES)
    assert verdict == Verdict(D.NEW_CASE, "report without a valid case reference")


def test_bounce_names_returned_mail() -> None:
    """A message naming returned mail of ours is a bounce."""
    own_id = make_message_id("acknowledgement", "MK-2026-0001", "seed", "gemeente.example")
    msg = make_msg(from_address="noreply@mx.example", bounced_message_ids=(own_id,))
    assert disposition(msg) == D.BOUNCE


def test_dsn_with_auto_submitted_is_bounce() -> None:
    """A DSN that also says Auto-Submitted is a bounce, not an auto-reply."""
    headers = (("Content-Type", DSN_TYPE), ("Auto-Submitted", "auto-replied"))
    msg = make_msg(headers, content_type="multipart/report", from_address="mailer-daemon@mx.nl")
    assert disposition(msg) == D.BOUNCE


def test_read_receipt_is_auto_reply() -> None:
    """multipart/report with report-type=disposition-notification is an auto-reply."""
    msg = make_msg((("Content-Type", MDN_TYPE),), content_type="multipart/report")
    assert disposition(msg, on_case()) == D.AUTO_REPLY


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ('multipart/report; report-type="delivery-status"; boundary=b', "bounce"),
        ("multipart/report; Report-Type=Global-Delivery-Status", "bounce"),
        (
            "multipart/report; boundary=disposition-notification; report-type=delivery-status",
            "bounce",
        ),
        ("multipart/report; report-type=disposition-notification", "auto_reply"),
        ("multipart/report; report-type=feedback-report", "auto_reply"),
        ("multipart/report; boundary=b", "auto_reply"),
    ],
)
def test_only_a_delivery_status_report_is_a_bounce(content_type: str, expected: str) -> None:
    """The report-type parameter decides (quoted or not, any case), not a substring."""
    msg = make_msg((("Content-Type", content_type),), content_type="multipart/report")
    assert disposition(msg).value == expected


def test_other_machine_reports_say_what_they_are() -> None:
    """A multipart/report that is neither DSN nor read receipt is named by its type."""
    msg = make_msg(
        (("Content-Type", "multipart/report; boundary=b"),), content_type="multipart/report"
    )
    verdict = classify(msg, Context(), RULES)
    assert verdict == Verdict(D.AUTO_REPLY, "machine report (multipart/report, report-type none)")


def test_postmaster_sending_a_delivery_report_is_a_bounce() -> None:
    """postmaster@ with DSN structure (an Exchange NDR) is still a bounce."""
    msg = make_msg(
        (("Content-Type", DSN_TYPE),),
        content_type="multipart/report",
        from_address="postmaster@x.nl",
    )
    assert disposition(msg) == D.BOUNCE


# --- auto_reply --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        (("Auto-Submitted", "auto-replied"),),
        (("Auto-Submitted", "auto-generated"),),
        (("Auto-Submitted", "Auto-Replied; owner-email=jan@reporter.example"),),
        (("Precedence", "bulk"),),
        (("Precedence", "JUNK"),),
        (("Precedence", "List"),),
        (("X-Autoreply", "yes"),),
        (("X-Autorespond", "Out of office"),),
        (("X-Auto-Response-Suppress", "All"), ("X-MS-Exchange-Inbox-Rules-Loop", REPORTER)),
    ],
)
def test_auto_reply_by_headers(headers: tuple[tuple[str, str], ...]) -> None:
    """Auto-Submitted ≠ no, Precedence bulk/junk/list, X-Autoreply and Exchange rules."""
    assert disposition(make_msg(headers), on_case()) == D.AUTO_REPLY


def test_auto_reply_by_empty_return_path() -> None:
    """The null reverse-path (Return-Path: <>) marks an automatic message."""
    assert disposition(make_msg(return_path=""), on_case()) == D.AUTO_REPLY


@pytest.mark.parametrize(
    "subject",
    [
        "Automatisch antwoord: [MK-2026-0001] Kwetsbaarheid",
        "Automatic reply: [MK-2026-0001] Kwetsbaarheid",
        "Afwezig: [MK-2026-0001] Kwetsbaarheid",
        "AUTOMATIC REPLY: vulnerability",
    ],
)
def test_auto_reply_by_subject(subject: str) -> None:
    """Out-of-office subjects (Dutch and English, any case) are auto-replies."""
    assert disposition(make_msg(subject=subject), on_case()) == D.AUTO_REPLY


@pytest.mark.parametrize(
    ("headers", "overrides"),
    [
        ((("Auto-Submitted", "no"),), {}),
        ((("Auto-Submitted", "No"),), {}),
        ((("Precedence", "first-class"),), {}),
        ((("X-Auto-Response-Suppress", "All"),), {}),
        ((), {"return_path": None}),
        ((), {"return_path": REPORTER}),
        ((), {"subject": "Re: Automatic reply ontvangen, maar ik heb een vraag"}),
    ],
)
def test_human_mail_is_not_auto_reply(
    headers: tuple[tuple[str, str], ...], overrides: dict[str, Any]
) -> None:
    """Auto-Submitted: no, a normal Return-Path and ordinary subjects stay human mail."""
    assert disposition(make_msg(headers, **overrides), on_case()) == D.FOLLOWUP


# --- spam --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [("X-Spam-Flag", "YES"), ("x-spam-flag", "yes"), ("X-SPAM-FLAG", " Yes ")]
)
def test_spam_by_configured_header(header: tuple[str, str]) -> None:
    """The configured spam header matches with any case of name and value."""
    verdict = classify(make_msg((header,)), Context(), RULES)
    assert verdict.disposition == D.SPAM
    assert "x-spam-flag" in verdict.reason.lower()


def test_spam_header_with_other_value_is_not_spam() -> None:
    """X-Spam-Flag: NO is not spam."""
    assert disposition(make_msg((("X-Spam-Flag", "NO"),))) == D.NEW_CASE


def test_spam_any_of_several_headers() -> None:
    """When the header appears more than once, any matching value counts."""
    msg = make_msg((("X-Spam-Flag", "NO"), ("X-Spam-Flag", "YES")))
    assert disposition(msg) == D.SPAM


def test_spam_custom_header(tmp_path: Path) -> None:
    """A configured header (e.g. rspamd's X-Spam: Yes) replaces the default."""
    settings = replace(embedded(tmp_path), limits=LimitSettings(spam_header="X-Spam: Yes"))
    rules = Rules.from_settings(settings)
    assert (
        disposition(make_msg((("X-Spam", "yes"),)), rules=rules),
        disposition(make_msg((("X-Spam-Flag", "YES"),)), rules=rules),
    ) == (D.SPAM, D.NEW_CASE)


# --- conversation ------------------------------------------------------------------------


def test_new_case_without_case() -> None:
    """A report that names no existing case opens a new one."""
    verdict = classify(make_msg(), Context(), RULES)
    assert verdict == Verdict(D.NEW_CASE, "report without a valid case reference")


def test_followup_by_reporter() -> None:
    """The case's reporter writing again is a follow-up on that case."""
    verdict = classify(make_msg(), on_case(), RULES)
    assert (verdict.disposition, verdict.case_id) == (D.FOLLOWUP, "MK-2026-0001")
    assert "by tag" in verdict.reason


def test_followup_found_by_reference() -> None:
    """A follow-up found through References says so in its reason."""
    verdict = classify(make_msg(subject="Re: uw bericht"), on_case(found_by="reference"), RULES)
    assert (verdict.disposition, "by reference" in verdict.reason) == (D.FOLLOWUP, True)


def test_followup_by_relay_of_relayed_case() -> None:
    """The relay that forwarded a case writing again on it is a follow-up."""
    case = make_case(reporter_email="melder@hacker.example", source="relay", relay_sender=RELAY)
    verdict = classify(make_msg(from_address=RELAY), on_case(case=case), RULES)
    assert (verdict.disposition, verdict.case_id) == (D.FOLLOWUP, "MK-2026-0001")


def test_relay_on_direct_case_is_unverified() -> None:
    """The relay writing on a case it did not forward is not that case's reporter."""
    assert disposition(make_msg(from_address=RELAY), on_case()) == D.UNVERIFIED


def test_staff_reply_authenticated() -> None:
    """An authenticated staff address replying on a case is a staff reply."""
    verdict = classify(make_msg(from_address=STAFF), on_case(authenticated=True), RULES)
    assert (verdict.disposition, verdict.case_id) == (D.STAFF_REPLY, "MK-2026-0001")


def test_staff_reply_not_authenticated_is_unverified_with_reason() -> None:
    """A staff address our MTA did not vouch for is unverified, with the reason."""
    ctx = on_case(authenticated=False, auth_reason="dmarc=fail header.from=gemeente.example")
    verdict = classify(make_msg(from_address=STAFF), ctx, RULES)
    assert verdict == Verdict(
        D.UNVERIFIED,
        "staff address not verified: dmarc=fail header.from=gemeente.example",
        "MK-2026-0001",
    )


def test_other_sender_on_case_is_unverified() -> None:
    """Someone else naming a case (forged or guessed tag) is unverified."""
    verdict = classify(make_msg(from_address=STRANGER), on_case(), RULES)
    assert (verdict.disposition, verdict.case_id) == (D.UNVERIFIED, "MK-2026-0001")
    assert STRANGER in verdict.reason


def test_no_sender_on_case_is_unverified() -> None:
    """A message without a usable From naming a case is unverified."""
    case = make_case(reporter_email=None, flags=("no_contact",))
    assert disposition(make_msg(from_address=None), on_case(case=case)) == D.UNVERIFIED


@pytest.mark.parametrize("reply_to", [REPORTER, STAFF, "ciso@gemeente.example"])
def test_reply_to_never_makes_reporter_or_staff(reply_to: str) -> None:
    """Reply-To of the reporter or of staff does not lend a stranger their identity."""
    msg = make_msg(from_address=STRANGER, reply_to=(reply_to,))
    assert disposition(msg, on_case()) == D.UNVERIFIED


def test_staff_without_case_is_new_case() -> None:
    """A staff mail that names no case is treated as a report."""
    assert disposition(make_msg(from_address=STAFF)) == D.NEW_CASE


# --- order of the rules ------------------------------------------------------------------

Feature = tuple[dict[str, Any], dict[str, Any]]

#: One trigger per rule, in the order of DESIGN.md §3: (InboundMessage fields, Context fields).
FEATURES: list[tuple[D, Feature]] = [
    (D.DUPLICATE, ({}, {"seen_before": True})),
    (D.QUARANTINED, ({"size": 30 * 1024 * 1024}, {})),
    (D.LOOP, ({"headers": ((LOOP_HEADER.lower(), OWN),)}, {})),
    (
        D.BOUNCE,
        ({"content_type": "multipart/report", "headers": (("content-type", DSN_TYPE),)}, {}),
    ),
    (D.AUTO_REPLY, ({"headers": (("auto-submitted", "auto-replied"),)}, {})),
    (D.SPAM, ({"headers": (("x-spam-flag", "YES"),)}, {})),
    (D.FOLLOWUP, ({}, {"case": make_case(), "found_by": "tag"})),
]


def combined(*features: Feature) -> tuple[InboundMessage, Context]:
    """A message and context with every given trigger at once (headers are joined)."""
    fields: dict[str, Any] = {"headers": ()}
    ctx: dict[str, Any] = {}
    for msg_fields, ctx_fields in features:
        for key, value in msg_fields.items():
            fields[key] = fields[key] + value if key == "headers" else value
        ctx.update(ctx_fields)
    return make_msg(**fields), Context(**ctx)


@pytest.mark.parametrize(("expected", "feature"), FEATURES)
def test_each_trigger_alone(expected: D, feature: Feature) -> None:
    """Each trigger of the order test gives its own disposition on its own."""
    msg, ctx = combined(feature)
    assert classify(msg, ctx, RULES).disposition == expected


@pytest.mark.parametrize(
    ("first", "second"),
    list(combinations(FEATURES, 2)),
    ids=[f"{a[0]}-beats-{b[0]}" for a, b in combinations(FEATURES, 2)],
)
def test_earlier_rule_wins(first: tuple[D, Feature], second: tuple[D, Feature]) -> None:
    """For every pair of triggers the rule earlier in DESIGN.md §3 decides."""
    msg, ctx = combined(first[1], second[1])
    assert classify(msg, ctx, RULES).disposition == first[0]


def test_duplicate_beats_everything() -> None:
    """A message with every trigger at once is a duplicate."""
    msg, ctx = combined(*(feature for _, feature in FEATURES))
    assert classify(msg, ctx, RULES).disposition == D.DUPLICATE


def test_spam_on_case_from_staff_is_spam() -> None:
    """Spam verdict beats even an authenticated staff reply."""
    msg = make_msg((("X-Spam-Flag", "YES"),), from_address=STAFF)
    assert disposition(msg, on_case()) == D.SPAM


def test_staff_mail_is_unverified_unless_the_shell_vouched_for_it() -> None:
    """Context defaults to not authenticated: a forgotten check never lets staff mail in."""
    ctx = Context(case=make_case(), found_by="tag")
    msg = make_msg(from_address=next(iter(RULES.staff)))
    assert classify(msg, ctx, RULES).disposition == D.UNVERIFIED

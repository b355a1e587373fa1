"""Known findings: `[triage] known_findings` checked at load, matched at intake, and the
`Reply: <name>` staff command that answers one in a single line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from factories import FINDINGS, PASS, REPORTER, STAFF, Desk, triage_desk

from mailbot.core import config
from mailbot.core.errors import ConfigError
from mailbot.core.known import MAX_TEXT_CHARS, match_known
from mailbot.core.models import CaseState, Disposition

CASE = "MK-2026-0001"

DMARC_REPORT = """\
Hello security team,

During an automated scan of gemeente.example I found the following issue:

Vulnerability: Missing DMARC record
Severity: Medium
Description: The domain gemeente.example has no DMARC policy (no TXT record at
_dmarc.gemeente.example). Attackers can spoof mails from your domain.

I am looking forward to a bounty for this finding.
"""

GENUINE_REPORT = """\
Beste meldpunt,

Op https://portaal.gemeente.example/aanvraag?id=1234 kan ik door het id te verhogen de
aanvraag (naam, BSN, adres) van andere inwoners inzien. Stappen: log in met DigiD, open
uw aanvraag, verander id=1234 in id=1235. Ik heb alleen mijn eigen en één andere aanvraag
bekeken en niets opgeslagen.

Met vriendelijke groet, Jan
"""


def staff_reply(desk: Desk, body: str) -> Disposition:
    """Staff answer on case MK-2026-0001, authenticated."""
    return desk.send(
        f"Petra de Boer <{STAFF}>",
        f"RE: [{CASE}] Nieuwe melding",
        body,
        f"Authentication-Results: {PASS}",
    )


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    """A triage desk with one English scanner report about DMARC as case MK-2026-0001."""
    d = triage_desk(tmp_path)
    assert d.send(f"Scanner <{REPORTER}>", "Missing DMARC record", DMARC_REPORT) == (
        Disposition.NEW_CASE
    )
    return d


# --- matching ----------------------------------------------------------------------------


def test_dmarc_scanner_report_matches_dmarc() -> None:
    """A scanner report about a missing DMARC record matches the finding `dmarc`."""
    assert match_known(DMARC_REPORT, "Vulnerability report", FINDINGS) == "dmarc"


def test_subject_alone_can_match() -> None:
    """A pattern found only in the subject is a match."""
    assert match_known("See the attached PDF.", "Self-XSS on the search page", FINDINGS) == (
        "self-xss"
    )


def test_genuine_report_matches_nothing() -> None:
    """A genuine report (an IDOR with personal data) matches no known finding."""
    assert match_known(GENUINE_REPORT, "Lek in aanvraagportaal", FINDINGS) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Clickjacking: X-Frame-Options header missing on www.gemeente.example", "clickjacking"),
        ("Ontbrekende security headers op www.gemeente.example", "headers"),
        ("The server supports TLS 1.0 and TLSv1.1", "tls"),
        ("Version disclosure: X-Powered-By: PHP/7.4.3", "version"),
        ("No SPF record for gemeente.example", "dmarc"),
    ],
)
def test_usual_scanner_findings_match_their_entry(text: str, expected: str) -> None:
    """Each usual scanner finding matches its own entry of the example list (first wins)."""
    assert match_known(text, "Security issue", FINDINGS) == expected


def test_only_the_first_characters_are_searched() -> None:
    """A pattern beyond the first MAX_TEXT_CHARS characters of the text is not searched."""
    text = "x" * MAX_TEXT_CHARS + " DMARC"
    assert (match_known(text, "", FINDINGS), match_known(text[-200:], "", FINDINGS)) == (
        None,
        "dmarc",
    )


@pytest.mark.parametrize(
    "bait",
    [
        "a" * 100_000,
        "x-frame-options " + " " * 100_000,
        "missing " * 12_500,
        "self- " * 16_000 + "\n" * 1000,
        "tls " * 25_000,
    ],
)
def test_hostile_text_stays_fast(bait: str) -> None:
    """100 KB of regex bait is matched by the shipped patterns in well under a second."""
    start = time.perf_counter()
    found = match_known(bait, bait, FINDINGS)
    elapsed = time.perf_counter() - start
    assert (found, elapsed < 0.5) == (None, True), f"{elapsed:.3f} s"


# --- the configuration ---------------------------------------------------------------------


def finding(**changes: Any) -> dict[str, Any]:
    """One valid known_findings table, with `changes`."""
    return {"name": "dmarc", "match": [r"\bdmarc\b"], "reply_template": "known_dmarc"} | changes


def settings_with(tmp_path: Path, *findings: Any, templates: Path | None = None) -> Any:
    """from_mapping of the embedded settings' Maildir paths plus the given findings."""
    data: dict[str, Any] = {
        "identity": {"address": "meldpunt@gemeente.example"},
        "mailbox": {"backend": "maildir", "path": "inbox"},
        "outbound": {"transport": "maildir", "path": "outbox"},
        "triage": {"known_findings": list(findings)},
    }
    if templates is not None:
        data["templates"] = {"directory": str(templates)}
    return config.from_mapping(data, "t.toml", base_dir=tmp_path)


def test_valid_findings_load_compiled(tmp_path: Path) -> None:
    """A valid list loads; its patterns are compiled case-insensitively."""
    loaded = settings_with(tmp_path, finding()).triage.known_findings
    assert [(f.name, f.match, f.reply_template) for f in loaded] == [
        ("dmarc", (r"\bdmarc\b",), "known_dmarc")
    ]
    assert loaded[0].patterns[0].search("No DMARC") is not None


@pytest.mark.parametrize(
    ("findings", "needle"),
    [
        ([finding(match=["(unclosed"])], "is not a regular expression"),
        ([finding(match=["(a+)+$"])], "repeats a repeat without bound"),
        ([finding(match=[r"(?:\w*\s)*x"])], "repeats a repeat without bound"),
        ([finding(match=[""])], "empty pattern"),
        ([finding(match=[])], "non-empty list of strings"),
        ([finding(match="dmarc")], "non-empty list of strings"),
        ([finding(), finding()], "'dmarc' is given twice"),
        ([finding(name="DMARC")], "1-40 of a-z"),
        ([finding(name="dmarc spf")], "1-40 of a-z"),
        ([finding(reply_template="known/dmarc")], "reply_template"),
        ([finding(reply_template="known_nothing")], "has no file nl/known_nothing.txt"),
        ([finding(extra=1)], "unknown key 'extra'"),
        ([{"name": "dmarc", "match": ["x"]}], "missing key 'reply_template'"),
        (["dmarc"], "expected a table"),
    ],
)
def test_config_errors_name_the_bad_value(tmp_path: Path, findings: list[Any], needle: str) -> None:
    """Each bad known_findings entry is a ConfigError naming the key and the bad value."""
    with pytest.raises(ConfigError) as info:
        settings_with(tmp_path, *findings)
    assert (needle in str(info.value), "[triage] known_findings" in str(info.value)) == (
        True,
        True,
    ), str(info.value)


def test_template_must_exist_in_both_languages(tmp_path: Path) -> None:
    """A reply template in the override folder in Dutch only is refused, naming en/."""
    (tmp_path / "tpl" / "nl").mkdir(parents=True)
    (tmp_path / "tpl" / "nl" / "known_local.txt").write_text("Subject: x\n\ny\n", "utf-8")
    with pytest.raises(ConfigError, match=r"no file en/known_local\.txt"):
        settings_with(tmp_path, finding(reply_template="known_local"), templates=tmp_path / "tpl")
    (tmp_path / "tpl" / "en").mkdir()
    (tmp_path / "tpl" / "en" / "known_local.txt").write_text("Subject: x\n\ny\n", "utf-8")
    loaded = settings_with(
        tmp_path, finding(reply_template="known_local"), templates=tmp_path / "tpl"
    )
    assert loaded.triage.known_findings[0].reply_template == "known_local"


# --- the Reply: command ----------------------------------------------------------------------


def test_reply_sends_the_template_and_meets_the_response_clock(desk: Desk) -> None:
    """`Reply: dmarc` relays the English template to the reporter, threaded, and meets the
    case's response_due clock; the case is marked as the finding."""
    before = len(desk.mails_to(REPORTER))
    assert staff_reply(desk, "Reply: dmarc") == Disposition.STAFF_REPLY
    mails = desk.mails_to(REPORTER)
    assert len(mails) == before + 1
    answer = mails[-1]
    assert "We know these settings." in answer.get_content()
    assert f"[{CASE}]" in str(answer["Subject"])
    assert f"<case.{CASE}@gemeente.example>" in str(answer["References"])
    clocks = {c.name: c for c in desk.service.store.clocks_of_case(CASE)}
    assert clocks["response_due"].met_by is not None
    assert clocks["response_due"].met_at is not None
    assert desk.case().known_finding == "dmarc"
    result = desk.mails_to(STAFF)[-1].get_content()
    assert "known finding dmarc" in result or "bekende bevinding dmarc" in result


def test_reply_with_close_and_text_sends_template_then_text(desk: Desk) -> None:
    """`Reply:` with `Close: rejected <reason>` and a text: one mail, the template and then
    the text; the case is rejected with the reason."""
    own = "The domain you scanned sends no mail."
    body = f"Reply: DMARC\nClose: rejected known finding, not a vulnerability\n\n{own}"
    assert staff_reply(desk, body) == Disposition.STAFF_REPLY
    text = desk.mails_to(REPORTER)[-1].get_content()
    assert text.index("We know these settings.") < text.index(own)
    case = desk.case()
    assert (case.state, case.close_reason, case.known_finding) == (
        CaseState.REJECTED,
        "known finding, not a vulnerability",
        "dmarc",
    )


def test_reply_with_close_meets_the_response_clock(desk: Desk) -> None:
    """`Reply:` with `Close:` in the same mail still counts as the substantive response."""
    assert staff_reply(desk, "Reply: dmarc\nClose: rejected known finding") == (
        Disposition.STAFF_REPLY
    )
    clocks = {c.name: c for c in desk.service.store.clocks_of_case(CASE)}
    assert clocks["response_due"].met_at is not None


def test_unknown_name_is_refused_with_the_known_names(desk: Desk) -> None:
    """`Reply: dmarcc` changes nothing, sends nothing to the reporter, and the refusal
    lists the known names."""
    before = len(desk.mails_to(REPORTER))
    known = desk.case().known_finding  # set at intake (the report is about DMARC)
    assert staff_reply(desk, "Reply: dmarcc\nClose: rejected scanner") == Disposition.STAFF_REPLY
    assert len(desk.mails_to(REPORTER)) == before
    assert (desk.case().state, desk.case().known_finding) == (CaseState.ACKNOWLEDGED, known)
    refusal = desk.mails_to(STAFF)[-1].get_content()
    assert "'dmarcc'" in refusal
    assert "dmarc, clickjacking, self-xss, tls, version, headers" in refusal


def test_reply_with_internal_is_refused(desk: Desk) -> None:
    """`Reply:` with `Internal: yes` contradicts itself: refused, nothing sent."""
    before = len(desk.mails_to(REPORTER))
    known = desk.case().known_finding
    assert staff_reply(desk, "Reply: dmarc\nInternal: yes") == Disposition.STAFF_REPLY
    assert (len(desk.mails_to(REPORTER)), desk.case().known_finding) == (before, known)
    assert "Internal: yes" in desk.mails_to(STAFF)[-1].get_content()


def test_reply_in_dutch_for_a_dutch_report(tmp_path: Path) -> None:
    """A Dutch report gets the Dutch template."""
    desk = triage_desk(tmp_path)
    body = "Beste meldpunt,\n\nHet domein gemeente.example heeft geen DMARC-record. Beloning?"
    assert desk.send(f"Jan <{REPORTER}>", "Melding DMARC ontbreekt", body) == Disposition.NEW_CASE
    assert staff_reply(desk, "Reply: dmarc") == Disposition.STAFF_REPLY
    assert "Deze instellingen zijn bij ons bekend." in desk.mails_to(REPORTER)[-1].get_content()


def test_reply_without_reporter_address_is_refused(tmp_path: Path) -> None:
    """On a case without a reporter address `Reply:` is refused (nobody to send it to)."""
    desk = triage_desk(tmp_path)
    relay = desk.settings.relays.senders[0]
    assert desk.send(relay, "Doorgestuurde melding DMARC", "Geen DMARC op gemeente.example.") == (
        Disposition.NEW_CASE
    )
    assert desk.case().reporter_email is None
    events = len(desk.service.store.events("MK-2026-0001"))
    assert staff_reply(desk, "Reply: dmarc") == Disposition.STAFF_REPLY
    kinds = [e.kind for e in desk.service.store.events("MK-2026-0001")[events:]]
    assert "known_finding" not in kinds
    assert "Reporter:" in desk.mails_to(STAFF)[-1].get_content()

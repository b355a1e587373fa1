"""Related reports (issue 18 item 2): reports about the same system, or with near-identical
text, are linked both ways; other systems on the same municipality domain, and cases
closed long ago, are not; `Close: duplicate` closes one of a linked pair."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from factories import MX, PASS, STAFF, Desk

from mailbot.core import related
from mailbot.core.models import CaseState, Disposition

SCANNER = (
    "Hello, our scanner found that {url} can be framed by any site (no X-Frame-Options or "
    "frame-ancestors header). This allows clickjacking. Please fix it. Regards, {name}"
)
GENUINE = (
    "Beste meldpunt, bij het inloggen op het portaal kan ik door het nummer in de adresbalk "
    "te veranderen de aanvraag van een andere inwoner zien, met naam en adres. Ik heb "
    "direct gestopt en niets bewaard. Met vriendelijke groet, Anna"
)
REWORDED = GENUINE.replace("Beste meldpunt", "Goedendag").replace("Anna", "Bram")


def ids(n: int) -> str:
    """The n-th case id of the desk's year."""
    return f"MK-2026-{n:04d}"


def linked(desk: Desk, case_id: str) -> dict[str, str]:
    """The related cases of `case_id` as stored: id → why."""
    case = desk.service.store.case(case_id)
    assert case is not None
    return dict(case.related)


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    """A staff desk on Maildir with no cases yet."""
    return Desk(tmp_path)


def test_scanner_reports_from_several_senders_are_linked(desk: Desk) -> None:
    """Three senders reporting one system (www., port, trailing slash aside) link both ways."""
    urls = (
        "https://portal.gemeente.example/login",
        "https://WWW.portal.gemeente.example:443/login/",
        "http://portal.gemeente.example/login?x=1#top",
    )
    for n, (url, name) in enumerate(zip(urls, ("a", "b", "c"), strict=True), 1):
        body = f"Report {n}: the login page {url} lacks a security header. {name}"
        assert desk.send(f"{name}@scan.example", f"Finding {n}", body) == Disposition.NEW_CASE
    why = "same system portal.gemeente.example/login"
    assert linked(desk, ids(1)) == {ids(2): why, ids(3): why}
    assert linked(desk, ids(3)) == {ids(1): why, ids(2): why}
    kinds = [e.kind for e in desk.service.store.events(ids(1))].count("related")
    assert kinds == 2


def test_near_identical_text_is_linked_without_a_system(desk: Desk) -> None:
    """The same report re-sent with another greeting and name links by text, with a figure."""
    desk.send("anna@example.nl", "Lek in portaal", GENUINE)
    desk.send("bram@example.nl", "Melding", REWORDED)
    (why,) = linked(desk, ids(2)).values()
    assert why.endswith("% same text")
    assert int(why.split("%")[0]) >= round(related.TEXT_THRESHOLD * 100)
    assert linked(desk, ids(1)) == {ids(2): why}


def test_other_systems_on_the_municipality_domain_are_not_linked(desk: Desk) -> None:
    """Other paths, other subdomains and the meldpunt's own domain make no link."""
    systems = (
        "https://gemeente.example/afval",
        "https://gemeente.example/parkeren",
        "https://portal.gemeente.example/",
        "https://afspraken.gemeente.example/",
    )
    for n, url in enumerate(systems):
        body = f"Issue number {n} on {url} found by hand, contact meldpunt@gemeente.example {n}"
        desk.send(f"r{n}@example.nl", f"Issue {n}", body)
    actual = [linked(desk, ids(n)) for n in range(1, len(systems) + 1)]
    assert actual == [{}, {}, {}, {}]


def test_a_case_closed_long_ago_is_not_linked(desk: Desk) -> None:
    """A case closed more than RECENT ago is no candidate; an open one is."""
    body = SCANNER.format(url="https://portal.gemeente.example/", name="x")
    desk.send("x@scan.example", "Clickjacking", body)
    store = desk.service.store
    old = store.case(ids(1))
    assert old is not None
    with store.transaction():
        store.update_case(replace(old, state=CaseState.CLOSED), desk.clock.now())
    desk.clock.set(desk.clock.now() + related.RECENT + timedelta(days=1))
    desk.send("y@scan.example", "Clickjacking", body.replace("x", "y"))
    assert (linked(desk, ids(2)), linked(desk, ids(1))) == ({}, {})


def test_close_duplicate_on_a_linked_pair(desk: Desk) -> None:
    """Staff close the later of a linked pair in one line: `Close: duplicate MK-…`."""
    for name in ("p", "q"):
        body = SCANNER.format(url="https://portal.gemeente.example/", name=name)
        desk.send(f"{name}@scan.example", "Clickjacking", body)
    assert list(linked(desk, ids(2))) == [ids(1)]
    reply = desk.send(
        f"Petra <{STAFF}>",
        f"RE: [{ids(2)}] Nieuwe melding",
        f"Close: duplicate {ids(1)}",
        f"Authentication-Results: {PASS}",
    )
    case = desk.service.store.case(ids(2))
    assert case is not None
    assert (reply, case.state, ids(1) in (case.close_reason or "")) == (
        Disposition.STAFF_REPLY,
        CaseState.DUPLICATE,
        True,
    )
    assert MX  # the desk's MTA vouches for staff mail


def test_normalise_keys() -> None:
    """Host case, www., port, IDNA, query, fragment and trailing slash do not matter."""
    actual = [
        related.normalise(s)
        for s in (
            "https://WWW.Gemeente.Example:8443/Afval/?a=1#b",
            "www.bücher.example",
            "2001:db8::0001",
            "https://[2001:db8::1]/x/",
            "localhost",
        )
    ]
    assert actual == [
        "gemeente.example/Afval",
        "xn--bcher-kva.example",
        "2001:db8::1",
        "2001:db8::1/x",
        None,
    ]


def test_staff_notice_names_the_related_case_at_its_top(desk: Desk) -> None:
    """The staff notice of the second report about a system names the first case before
    anything else of the report ("Lijkt op MK-…: same system …")."""
    for n, name in ((1, "a"), (2, "b")):
        body = f"De pagina https://portal.gemeente.example/login mist een header. {name}"
        assert desk.send(f"{name}@scan.example", f"Bevinding {n}", body) == Disposition.NEW_CASE
    notice = desk.mails_to(STAFF)[-1].get_content()
    first = notice.index(ids(1))
    assert ("portal.gemeente.example/login" in notice, first < notice.index("mist een header")) == (
        True,
        True,
    )

"""Tests of mailbot.contacts: contacts, affected systems and language of a report."""

from __future__ import annotations

import time

import pytest

from mailbot.core.models import Contacts
from mailbot.mail.contacts import (
    MAX_ITEMS,
    detect_language,
    extract_contacts,
    find_hostnames,
    find_ips,
    find_labelled_emails,
    find_phones,
    normalize_address,
    url_spans,
)

REPORT = """Geachte heer/mevrouw,

Ik heb een kwetsbaarheid gevonden op https://www.example.nl/login.php?x=1&y=(2). Zie ook
(https://portal.gemeente.nl/a_(b)) en http://10.0.0.5:8080/admin.
Versie 1.2.3.4567 en v10.0.19041 draaien op 192.168.1.20 en 2001:db8::1; tijd 10:30:00,
datum 06-01-2024 12 en 2024-01-15, 15.01.2024.
Bestanden: index.php, report.pdf, README.md. Host intranet.gemeente.local en api.example.com.
Dit werkt.Ik weet het zeker.

E-mailadres: Jan.Jansen@Example.NL
Contact: Piet <piet@x.org>, tel +31 6 12345678 of 06-12345678 of 020-1234567 of (020) 123 45 67
Mail: [a@b.nl](mailto:a@b.nl)
Bel 0031 20 1234567 of +44 20 7946 0958 of +31 (0)6 11122233. Ordernr 123456789012.
IBAN NL91ABNA0417164300. jan@mail.example.com schreef ook.
MAC 00:1a:2b:3c:4d:5e, tijdzone +01:00, :: en fe80::1%eth0
"""


def test_report_contacts_complete() -> None:
    """A report full of look-alikes yields exactly the real contacts and systems."""
    expected = Contacts(
        emails=("jan.jansen@example.nl", "piet@x.org", "a@b.nl"),
        phones=("+31612345678", "+31201234567", "+442079460958", "+31611122233"),
        urls=(
            "https://www.example.nl/login.php?x=1&y=(2)",
            "https://portal.gemeente.nl/a_(b)",
            "http://10.0.0.5:8080/admin",
        ),
        ips=("10.0.0.5", "192.168.1.20", "2001:db8::1", "fe80::1"),
        hostnames=(
            "www.gemeente.nl",
            "www.example.nl",
            "portal.gemeente.nl",
            "intranet.gemeente.local",
            "api.example.com",
        ),
    )
    assert extract_contacts("Lek op www.gemeente.nl", REPORT) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("E-mailadres: jan@example.nl", ("jan@example.nl",)),
        ("e-mail adres : Jan@Example.NL.", ("jan@example.nl",)),
        ("Email: a@x.nl, b@y.nl", ("a@x.nl", "b@y.nl")),
        ("MAIL: <m@x.nl>", ("m@x.nl",)),
        ("Reply-to: r@x.nl", ("r@x.nl",)),
        ("Melder: Piet (piet@x.nl)", ("piet@x.nl",)),
        ("Contactgegevens: c@x.nl", ("c@x.nl",)),
        ("Schrijf naar jan@example.nl", ()),
        ("Gmail: g@x.nl", ()),
        ("E-mail:\njan@example.nl", ()),
    ],
)
def test_labelled_emails(line: str, expected: tuple[str, ...]) -> None:
    """Only addresses after a contact label on the same line count."""
    assert find_labelled_emails(line) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bel +31 6 12345678", ("+31612345678",)),
        ("bel 06-12345678", ("+31612345678",)),
        ("bel 06 12 34 56 78", ("+31612345678",)),
        ("bel 0612345678", ("+31612345678",)),
        ("tel: 020-1234567", ("+31201234567",)),
        ("tel:(020) 123 45 67", ("+31201234567",)),
        ("tel 0031 20 1234567", ("+31201234567",)),
        ("tel +31 (0)20 1234567", ("+31201234567",)),
        ("UK +44 20 7946 0958.", ("+442079460958",)),
        ("06-1234567", ()),
        ("datum 06-01-2024 12", ()),
        ("datum 01-02-2024", ()),
        ("2024-01-15 10:30:00", ()),
        ("host 192.168.100.200", ()),
        ("versie 1.2.3.4567 of v10.0.19041", ()),
        ("zie https://x.nl/?id=0612345678", ()),
        ("IBAN NL91ABNA0417164300", ()),
        ("+31 6 1234", ()),
        ("06-12345678-9", ()),
        ("01 23456789", ()),
    ],
)
def test_phones(text: str, expected: tuple[str, ...]) -> None:
    """Dutch and international numbers are found; dates, IPs and versions are not."""
    assert find_phones(text) == expected


def test_urls_trimmed() -> None:
    """URLs lose trailing punctuation and unbalanced brackets but keep balanced ones."""
    text = (
        "Zie https://a.nl/x.html, (https://b.nl/y) en https://c.nl/wiki/A_(b). "
        "Ook [link](https://d.nl/z?q=1) en HTTPS://E.NL/; ftp://f.nl niet."
    )
    actual = [url for _, _, url in url_spans(text)]
    expected = [
        "https://a.nl/x.html",
        "https://b.nl/y",
        "https://c.nl/wiki/A_(b)",
        "https://d.nl/z?q=1",
        "HTTPS://E.NL/",
    ]
    assert actual == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server 203.0.113.5.", ("203.0.113.5",)),
        ("http://[2001:db8::1]:8080/", ("2001:db8::1",)),
        ("adres 2001:0db8:0000:0000:0000:0000:0000:0001", ("2001:db8::1",)),
        ("mapped ::ffff:192.0.2.1", ("::ffff:c000:201", "192.0.2.1")),
        ("999.1.1.1 en 1.2.3", ()),
        ("om 10:30:00 uur", ()),
        ("MAC 00:1a:2b:3c:4d:5e", ()),
        ("v1.2.3.4 en 1.2.3.4.5", ()),
        ("a :: b", ()),
        ("prefix 2001:db8::/32", ("2001:db8::",)),
    ],
)
def test_ips(text: str, expected: tuple[str, ...]) -> None:
    """IP addresses are validated and given in compressed form."""
    assert find_ips(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host api.gemeente.example.", ("api.gemeente.example",)),
        ("zie WWW.Example.COM", ("www.example.com",)),
        ("bestanden index.php, report.pdf en backup.tar.gz", ()),
        ("mail jan@example.nl of jan.de.vries@example.nl", ()),
        ("Het werkt.Ik denk het", ()),
        ("e.g. en i.e. en 3.5 en v1.2", ()),
        ("xn--bcher-kva.example", ("xn--bcher-kva.example",)),
        ("my_host.example.nl", ()),
    ],
)
def test_bare_hostnames(text: str, expected: tuple[str, ...]) -> None:
    """Bare domains count; file names, mail domains and sentence breaks do not."""
    assert find_hostnames(text) == expected


def test_url_hosts_first_seen_order() -> None:
    """Host names from URLs and bare ones come in order of appearance, once each."""
    text = "a.example.nl en https://b.example.nl/index.php en http://10.1.1.1/ en a.example.nl"
    assert find_hostnames(text, None, url_spans(text)) == ("a.example.nl", "b.example.nl")


def test_lists_deduplicated_and_capped() -> None:
    """Repeated items appear once; no list grows beyond MAX_ITEMS."""
    text = " ".join(f"https://h{i}.example.nl/ 10.0.{i // 256}.{i % 256}" for i in range(300))
    contacts = extract_contacts("", text + " " + text)
    lengths = (len(contacts.urls), len(contacts.ips), len(contacts.hostnames))
    assert lengths == (MAX_ITEMS, MAX_ITEMS, MAX_ITEMS)
    assert contacts.ips[:2] == ("10.0.0.0", "10.0.0.1")


@pytest.mark.parametrize(
    "text",
    [
        "+1234567890123456789012345678 " * 40_000,
        "1." * 500_000,
        "1:" * 500_000,
        "::" * 500_000,
        "a." * 500_000,
        "http://x/" + ")" * 1_000_000,
        "https://" * 120_000,
        "E-mail: a@" * 100_000,
        "mail:" * 200_000,
        "(0" * 500_000,
    ],
    ids=[
        "phones",
        "dots",
        "colons",
        "double-colons",
        "labels",
        "brackets",
        "schemes",
        "label-at",
        "label-colon",
        "parens",
    ],
)
def test_hostile_megabyte_is_fast(text: str) -> None:
    """A megabyte built to make the patterns backtrack is still handled quickly."""
    started = time.perf_counter()
    extract_contacts("", text)
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Geachte heer, ik heb een lek gevonden in uw website.", "nl"),
        ("Hello, I found a vulnerability in your website. Please fix it.", "en"),
        ("XSS", "nl"),
        ("the", "nl"),
        ("", "nl"),
        ("the and de van", "nl"),
    ],
)
def test_language(text: str, expected: str) -> None:
    """English only when its stopwords clearly win; Dutch on a tie or when unsure."""
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jan@Example.NL", "jan@example.nl"),
        ("  a@b  ", "a@b"),
        ("MAILER-DAEMON@mx.example", "mailer-daemon@mx.example"),
        ("", None),
        ("no-at-sign", None),
        ("a@", None),
        ("@b.nl", None),
        ("a@b@c.nl", None),
        ("a b@c.nl", None),
        ("a@b..nl", None),
        ("a@.b.nl", None),
        ("<a@b.nl>", None),
        ("a@b.nl,c@d.nl", None),
        ("a;b@c.nl", None),
        ("a\r\n@b.nl", None),
        ("a\x00@b.nl", None),
    ],
)
def test_normalize_address(value: str, expected: str | None) -> None:
    """Only plain local@domain addr-specs pass, lower-cased."""
    assert normalize_address(value) == expected


@pytest.mark.parametrize(
    "value",
    ["_evil@attacker.example?=", "a@b_c.example", "a@-", "a b@example.nl", 'x"y@example.nl'],
)
def test_normalize_address_refuses_non_rfc_addresses(value: str) -> None:
    """Leftovers of a badly split encoded word and other non-addresses are refused."""
    assert normalize_address(value) is None

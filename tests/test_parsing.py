"""Tests of mailbot.parsing: well-formed reports and every kind of hostile input."""

from __future__ import annotations

import base64
import hashlib
import time
import tracemalloc
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailbot.core.models import Attachment, Contacts
from mailbot.mail import bodies as payloads
from mailbot.mail import html_text, parsing
from mailbot.mail.decoding import safe_parser
from mailbot.mail.parsing import (
    normalize_address,
    normalize_msgid,
    parse,
    parse_headers_only,
    sanitize_filename,
)

DATA = Path(__file__).parent / "data" / "parsing"
NOW = datetime(2026, 12, 21, 9, 15, tzinfo=UTC)


def raw_message(headers: list[str], body: str = "", charset: str = "utf-8") -> bytes:
    """A message with CRLF line ends from header lines and a body."""
    text = "\r\n".join([*headers, "", body.replace("\n", "\r\n")])
    return text.encode(charset)


def b64_word(text: str) -> str:
    """`text` as one RFC 2047 base64 encoded word."""
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


DUTCH_REPORT = raw_message(
    [
        "Return-Path: <J.deVries@Example.NL>",
        "From: Jan de Vries <J.deVries@Example.NL>",
        "Reply-To: jan.prive@example.org",
        "To: meldpunt@gemeente.example, Wethouder <wethouder@gemeente.example>",
        "Cc: collega@example.nl",
        "Subject: Kwetsbaarheid in het afsprakenportaal",
        "Message-ID: <demo-nl-1@example.nl>",
        "In-Reply-To: <ack.1@gemeente.example>",
        "References: <case.MK-2026-0042@gemeente.example>\r\n <ack.1@gemeente.example>",
        "Date: Mon, 21 Dec 2026 10:00:00 +0100",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ],
    "Goedendag,\n\nIk heb een kwetsbaarheid gevonden in het afsprakenportaal van de "
    "gemeente.\nOp https://afspraken.gemeente.example/zoek?q= wordt de zoekterm niet "
    "ge\u00efscaped.\nHet systeem draait op 203.0.113.17.\n\nU kunt mij bereiken op "
    "06-12345678.\nE-mailadres: jan.prive@example.org\n\nMet vriendelijke groet,\nJan de Vries\n",
)

ENGLISH_REPORT = raw_message(
    [
        "From: Alice Smith <alice@research.example>",
        "To: meldpunt@gemeente.example",
        "Subject: Exposed .git directory on the permits server",
        "Message-ID: <demo-en-1@research.example>",
        "Content-Type: text/plain; charset=us-ascii",
    ],
    "Hello,\n\nI found that https://permits.gemeente.example/.git/config is readable by "
    "anyone. You can reach me at +44 20 7946 0958 if you have questions.\n\n"
    "Kind regards,\nAlice\n",
)


def test_dutch_plain_report_fields() -> None:
    """A plain Dutch report yields every envelope field, decoded and normalised."""
    msg = parse(DUTCH_REPORT, NOW)
    actual = (
        msg.message_id,
        msg.subject,
        msg.from_address,
        msg.from_name,
        msg.reply_to,
        msg.to,
        msg.cc,
        msg.return_path,
        msg.in_reply_to,
        msg.references,
        msg.content_type,
        msg.language,
        msg.html_only,
        msg.attachments,
        msg.defects,
    )
    expected = (
        "demo-nl-1@example.nl",
        "Kwetsbaarheid in het afsprakenportaal",
        "j.devries@example.nl",
        "Jan de Vries",
        ("jan.prive@example.org",),
        ("meldpunt@gemeente.example", "wethouder@gemeente.example"),
        ("collega@example.nl",),
        "j.devries@example.nl",
        ("ack.1@gemeente.example",),
        ("case.MK-2026-0042@gemeente.example", "ack.1@gemeente.example"),
        "text/plain",
        "nl",
        False,
        (),
        (),
    )
    assert actual == expected


def test_dutch_plain_report_text_and_contacts() -> None:
    """The body is decoded with its charset and yields the reporter's contacts."""
    msg = parse(DUTCH_REPORT, NOW)
    assert "ge\u00efscaped" in msg.text
    assert "\r" not in msg.text
    assert msg.contacts == Contacts(
        emails=("jan.prive@example.org",),
        phones=("+31612345678",),
        urls=("https://afspraken.gemeente.example/zoek?q=",),
        ips=("203.0.113.17",),
        hostnames=("afspraken.gemeente.example",),
    )


def test_fingerprint_and_receipt_moment_kept() -> None:
    """size and raw_sha256 describe the raw bytes; received_at is kept as given."""
    msg = parse(DUTCH_REPORT, NOW)
    actual = (msg.size, msg.raw_sha256, msg.received_at)
    assert actual == (len(DUTCH_REPORT), hashlib.sha256(DUTCH_REPORT).hexdigest(), NOW)


def test_headers_unfolded_in_order() -> None:
    """Every header is kept in order, lower-cased, with folding undone."""
    msg = parse(DUTCH_REPORT, NOW)
    assert [name for name, _ in msg.headers][:4] == ["return-path", "from", "reply-to", "to"]
    assert msg.header("references") == (
        "<case.MK-2026-0042@gemeente.example> <ack.1@gemeente.example>"
    )


def test_english_report_language_and_phone() -> None:
    """An English report is recognised as English and its UK number is found."""
    msg = parse(ENGLISH_REPORT, NOW)
    assert (msg.language, msg.contacts.phones) == ("en", ("+442079460958",))


def test_multipart_alternative_latin1_quoted_printable() -> None:
    """multipart/alternative: the text/plain part wins; QP and ISO-8859-1 are decoded."""
    msg = parse((DATA / "nl-alternative.eml").read_bytes(), NOW)
    actual = (
        msg.content_type,
        msg.html_only,
        msg.subject,
        msg.from_name,
        msg.from_address,
        msg.attachments,
        msg.contacts.phones,
        msg.contacts.emails,
        msg.contacts.ips,
        msg.language,
    )
    expected = (
        "multipart/alternative",
        False,
        "Kwetsbaarheid in het parkeerloket (re\u00ebl)",
        "Mari\u00eblle Jansen",
        "m.jansen@example.nl",
        (),
        ("+31612345678",),
        ("m.jansen@example.nl",),
        ("198.51.100.7",),
        "nl",
    )
    assert actual == expected
    assert "ge\u00efdentificeerd op 20-12-2026" in msg.text
    assert "aanvaller zonder inloggen" in msg.text


def english_alternative() -> bytes:
    """An English report as multipart/alternative, made by the standard library."""
    message = EmailMessage()
    message["From"] = "Bob Jones <bob@research.example>"
    message["To"] = "meldpunt@gemeente.example"
    message["Subject"] = "SQL injection in the permit search"
    message["Message-ID"] = "<alt-en@research.example>"
    message.set_content(
        "Hello,\n\nThe search at https://permits.gemeente.example/find is "
        "vulnerable to SQL injection. Please contact me if you need details.\n"
    )
    message.add_alternative(
        "<p>Hello,</p><p>HTML version <b>only</b> for mail readers.</p>", subtype="html"
    )
    return message.as_bytes()


def test_english_multipart_alternative() -> None:
    """An English multipart/alternative report: plain part, English, no attachments."""
    msg = parse(english_alternative(), NOW)
    actual = (msg.content_type, msg.language, msg.html_only, msg.attachments, msg.contacts.urls)
    expected = (
        "multipart/alternative",
        "en",
        False,
        (),
        ("https://permits.gemeente.example/find",),
    )
    assert actual == expected
    assert msg.text.startswith("Hello,\n\nThe search at")


def test_english_html_only_report() -> None:
    """An English HTML-only report is converted and recognised as English."""
    raw = raw_message(
        ["From: c@example.org", "Content-Type: text/html; charset=utf-8"],
        "<style>p{}</style><p>Hello, I found that your login page at "
        "<a href='https://login.gemeente.example/'>the portal</a> leaks session tokens. "
        "Please let me know when it is fixed.</p><script>track()</script>",
    )
    msg = parse(raw, NOW)
    actual = (msg.html_only, msg.language, msg.contacts.hostnames, "track" in msg.text)
    assert actual == (True, "en", ("login.gemeente.example",), False)


HTML_ONLY = raw_message(
    [
        "From: a@example.org",
        "Subject: html only",
        "Message-ID: <h1@example.org>",
        "Content-Type: text/html; charset=utf-8",
    ],
    "<html><head><style>body { color: red } .secret-style {}</style>"
    "<script>var stolen = document.cookie;</script></head>"
    "<body><p>Beste meldpunt,</p><p>Zie <a href='https://portal.gemeente.example/a'>dit</a>."
    "</p><img src='https://tracker.example/pixel.png' alt='pixel'>"
    "<SCRIPT type='text/javascript'>alert('second')</SCRIPT><p>Groet &amp; dank</p></body></html>",
)


def test_html_only_converted_without_scripts_styles_images() -> None:
    """HTML-only mail is converted to text; scripts, styles and images are dropped."""
    msg = parse(HTML_ONLY, NOW)
    assert msg.html_only is True
    assert "Beste meldpunt," in msg.text
    assert "Groet & dank" in msg.text
    assert "https://portal.gemeente.example/a" in msg.text
    for hidden in ("stolen", "cookie", "alert", "secret-style", "color", "tracker", "pixel"):
        assert hidden not in msg.text


def test_html_converter_failure_still_drops_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    """If html2text fails, a crude conversion still drops scripts, styles and tags."""

    def explode(*_: object) -> str:
        raise AssertionError("html2text bug")

    monkeypatch.setattr(html_text.html2text.HTML2Text, "handle", explode)
    msg = parse(HTML_ONLY, NOW)
    assert "html_error" in msg.defects
    assert "Beste meldpunt," in msg.text
    for hidden in ("stolen", "alert", "secret-style", "<p>"):
        assert hidden not in msg.text


def test_empty_plain_part_falls_back_to_html() -> None:
    """An empty text/plain alternative does not hide the HTML body."""
    raw = raw_message(
        ["From: a@example.org", 'Content-Type: multipart/alternative; boundary="b"'],
        "--b\nContent-Type: text/plain\n\n\n"
        "--b\nContent-Type: text/html\n\n<p>Alleen HTML</p>\n--b--\n",
    )
    msg = parse(raw, NOW)
    assert (msg.text.strip(), msg.html_only) == ("Alleen HTML", True)


def test_missing_end_boundary() -> None:
    """A multipart without its closing boundary keeps its parts and records the defect."""
    raw = raw_message(
        ["From: a@example.org", "Content-Type: multipart/mixed; boundary=XX"],
        "--XX\nContent-Type: text/plain\n\nDeel een\n--XX\n"
        "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n",
    )
    msg = parse(raw, NOW)
    assert "CloseBoundaryNotFoundDefect" in msg.defects
    assert msg.text == "Deel een"
    assert [(a.filename, a.size) for a in msg.attachments] == [("attachment", 5)]


def test_boundary_never_declared() -> None:
    """A multipart without a boundary parameter shows its whole body as text."""
    raw = raw_message(
        ["From: a@example.org", "Content-Type: multipart/mixed"],
        "--XX\nContent-Type: text/plain\n\nIk meld een lek\n--XX--\n",
    )
    msg = parse(raw, NOW)
    assert "NoBoundaryInMultipartDefect" in msg.defects
    assert "Ik meld een lek" in msg.text
    assert msg.attachments == ()


def test_start_boundary_not_found() -> None:
    """A declared boundary that never occurs is recorded as StartBoundaryNotFoundDefect."""
    raw = raw_message(
        ["From: a@example.org", "Content-Type: multipart/mixed; boundary=nowhere"],
        "Gewone tekst zonder delen\n",
    )
    assert "StartBoundaryNotFoundDefect" in parse(raw, NOW).defects


def test_unknown_charset_falls_back() -> None:
    """An unknown charset is recorded; UTF-8 is tried, then Latin-1."""
    raw = (
        b"From: a@example.org\r\nSubject: =?x-foo?q?caf=C3=A9?=\r\n"
        b"Content-Type: text/plain; charset=x-foo\r\n\r\nna\xefef"
    )
    msg = parse(raw, NOW)
    assert (msg.subject, msg.text) == ("caf\u00e9", "na\u00efef")
    assert "unknown_charset:x-foo" in msg.defects


def test_unsafe_codec_treated_as_unknown() -> None:
    """Codecs that are no mail charsets (punycode, unicode_escape) are not used."""
    raw = b"From: a@example.org\r\nContent-Type: text/plain; charset=punycode\r\n\r\nabc-\xff"
    msg = parse(raw, NOW)
    assert (msg.text, "unknown_charset:punycode" in msg.defects) == ("abc-\u00ff", True)


@pytest.mark.parametrize(
    "header",
    [
        "Content-Type: multipart/mixed; boundary*=punycode''a-{}",
        "Content-Type: text/plain; charset*=punycode''a-{}",
        "Content-Type: application/pdf; name*=punycode''a-{}",
        "Content-Disposition: attachment; filename*=punycode''a-{}",
    ],
    ids=["boundary", "charset", "name", "filename"],
)
def test_rfc2231_parameters_never_run_slow_codecs(header: str) -> None:
    """RFC 2231 parameters naming punycode (quadratic) are not decoded with it."""
    raw = raw_message(["From: a@example.org", header.format("b" * 400_000)], "x")
    started = time.perf_counter()
    msg = parse(raw, NOW)
    elapsed = time.perf_counter() - started
    assert msg.from_address == "a@example.org"
    assert [d for d in msg.defects if d.startswith("parser_error")] == []
    assert elapsed < 5.0


def test_wrong_declared_charset() -> None:
    """Bytes that do not fit the declared charset are decoded as UTF-8 when they fit that."""
    raw = b"From: a@example.org\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nK\xc3\xb6ln"
    assert parse(raw, NOW).text == "K\u00f6ln"


def test_eight_bit_header_bytes() -> None:
    """Raw 8-bit header bytes are read as UTF-8, else as Latin-1."""
    utf8 = "From: J\u00f6rg <j@example.de>\r\nSubject: Gr\u00fc\u00dfe\r\n\r\nx".encode()
    latin1 = "From: J\u00f6rg <j@example.de>\r\nSubject: Gr\u00fc\u00dfe\r\n\r\nx".encode("latin-1")
    for raw in (utf8, latin1):
        msg = parse(raw, NOW)
        assert (msg.subject, msg.from_name, msg.from_address) == (
            "Gr\u00fc\u00dfe",
            "J\u00f6rg",
            "j@example.de",
        )


@pytest.mark.parametrize(
    "header",
    [
        b"X-Huge: " + b"a" * 1_000_000,
        b"Subject: " + b"=?utf-8?q?a?= " * 80_000,
        b"To: " + b"x@example.org, " * 70_000,
        b"References: " + b"<a@b> " * 170_000,
        b"X-Folded: " + b"a\r\n " * 90_000,
    ],
    ids=["plain", "encoded-words", "addresses", "references", "folded"],
)
def test_megabyte_header_line(header: bytes) -> None:
    """A 1 MB header line is read in well under a few seconds and the rest still parses."""
    raw = b"From: a@example.org\r\n" + header + b"\r\nMessage-ID: <big@example.org>\r\n\r\nbody"
    started = time.perf_counter()
    msg = parse(raw, NOW)
    elapsed = time.perf_counter() - started
    assert (msg.message_id, msg.from_address, msg.text) == (
        "big@example.org",
        "a@example.org",
        "body",
    )
    assert elapsed < 5.0


def test_header_block_over_the_line_cap_is_read_headers_only() -> None:
    """A header folded over more than MAX_PARSED_LINES lines is not parsed in full: the
    message is read headers-only (first 256 KiB) with a parser_error, so it is quarantined."""
    folded = b"X-Folded: " + b"a\r\n " * (2 * parsing.MAX_PARSED_LINES)
    raw = b"From: a@example.org\r\n" + folded + b"\r\nMessage-ID: <big@example.org>\r\n\r\nbody"
    msg = parse(raw, NOW)
    actual = (msg.from_address, msg.message_id, msg.text, msg.defects[:2])
    assert actual == ("a@example.org", None, "", ("parser_error:ValueError", "headers_truncated"))


def test_more_than_max_headers_fields_is_read_headers_only() -> None:
    """A message of more than MAX_HEADERS header fields is read headers-only (quarantined)."""
    fields = b"".join(b"X-N-%d: x\r\n" % n for n in range(parsing.MAX_HEADERS))
    raw = b"From: a@example.org\r\n" + fields + b"\r\nbody"
    msg = parse(raw, NOW)
    assert (msg.from_address, msg.text, msg.defects[0]) == (
        "a@example.org",
        "",
        "parser_error:ValueError",
    )


def test_body_past_the_line_cap_is_cut_with_a_defect() -> None:
    """Past MAX_PARSED_LINES parser lines in the body the rest is not read: too_many_lines."""
    body = b"--\r\n" * (2 * parsing.MAX_PARSED_LINES) + b"verborgen"
    raw = b"From: a@example.org\r\nSubject: s\r\n\r\nzichtbaar\r\n" + body
    msg = parse(raw, NOW)
    actual = (msg.text.startswith("zichtbaar"), "verborgen" in msg.text, "too_many_lines")
    assert actual == (True, False, msg.defects[0])


def test_missing_from() -> None:
    """Without From, from_address is None and the defect is named."""
    msg = parse(b"To: meldpunt@gemeente.example\r\nMessage-ID: <a@b>\r\n\r\nhoi", NOW)
    assert (msg.from_address, msg.from_name, "no_from" in msg.defects) == (None, "", True)


def test_unusable_from() -> None:
    """A From without a usable address gives None and the bad_from defect."""
    msg = parse(b"From: Jan <not an address>\r\n\r\nhoi", NOW)
    assert (msg.from_address, msg.from_name, "bad_from" in msg.defects) == (None, "Jan", True)


def test_two_from_headers_flagged() -> None:
    """A second From header (a spoofing trick) is recorded; the first one counts."""
    msg = parse(b"From: a@example.org\r\nFrom: staff@gemeente.example\r\n\r\nhoi", NOW)
    assert (msg.from_address, "multiple_from" in msg.defects) == ("a@example.org", True)


def test_missing_message_id() -> None:
    """Without Message-ID, message_id is None and the defect is named."""
    msg = parse(b"From: a@example.org\r\n\r\nhoi", NOW)
    assert (msg.message_id, "no_message_id" in msg.defects) == (None, True)


def test_encoded_crlf_injection_stays_one_line() -> None:
    """Subject and display name decoding to CR/LF + "Bcc:" stay harmless single lines."""
    raw = raw_message(
        [
            f"From: {b64_word('Jan' + chr(13) + chr(10) + 'Bcc: evil@x')} <jan@example.nl>",
            f"Subject: {b64_word('Hallo' + chr(13) + chr(10) + 'Bcc: evil@x')}",
            "Message-ID: <inj@example.nl>",
        ],
        "hoi",
    )
    msg = parse(raw, NOW)
    assert msg.subject == "Hallo  Bcc: evil@x"
    assert msg.from_name == "Jan Bcc: evil@x"
    assert msg.from_address == "jan@example.nl"
    assert [name for name, _ in msg.headers] == ["from", "subject", "message-id"]
    for _, value in msg.headers:
        assert not any(ord(ch) < 32 for ch in value)


def test_control_characters_in_headers_become_spaces() -> None:
    """NUL, DEL, C1 and Unicode line separators in headers are replaced by spaces."""
    raw = "From: a@example.org\r\nSubject: a\x00b\x7fc\x85d\u2028e\r\n\r\nx".encode()
    assert parse(raw, NOW).subject == "a b c d e"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("<>", ""),
        ("< >", ""),
        ("<Bounce+x@Example.ORG>", "bounce+x@example.org"),
        ("garbage", None),
    ],
)
def test_return_path(header: str | None, expected: str | None) -> None:
    """Return-Path: None when absent, "" for the null path, else the address."""
    lines = ["From: a@example.org"] + ([f"Return-Path: {header}"] if header else [])
    assert parse(raw_message(lines, "x"), NOW).return_path == expected


def test_references_in_order_without_repeats() -> None:
    """References and In-Reply-To list every bracketed id once, in order."""
    raw = raw_message(
        [
            "From: a@example.org",
            "In-Reply-To: Your message of Monday <one@x>",
            "References: <one@x> <two@x>",
            "References: <one@x> <bad id@x> <three@x>",
        ],
        "x",
    )
    msg = parse(raw, NOW)
    assert (msg.in_reply_to, msg.references) == (("one@x",), ("one@x", "two@x", "three@x"))


def test_attachment_names_cannot_escape() -> None:
    """Attachment names with ../ and ..\\ become plain base names; size and sha256 are right."""
    raw = raw_message(
        ["From: a@example.org", "Content-Type: multipart/mixed; boundary=b"],
        "--b\nContent-Type: text/plain\n\nZie bijlagen\n"
        '--b\nContent-Type: application/pdf; name="x.pdf"\n'
        'Content-Disposition: attachment; filename="../../etc/passwd"\n'
        "Content-Transfer-Encoding: base64\n\naGVsbG8=\n"
        "--b\nContent-Type: image/png\n"
        'Content-Disposition: attachment; filename="..\\\\..\\\\Windows\\\\win.ini"\n\nPNG\n'
        "--b\nContent-Type: text/plain\n"
        "Content-Disposition: attachment; filename*=utf-8''..%2F..%2F.bashrc\n\nrc\n"
        "--b--\n",
    )
    msg = parse(raw, NOW)
    expected = (
        Attachment("passwd", "application/pdf", 5, hashlib.sha256(b"hello").hexdigest()),
        Attachment("win.ini", "image/png", 3, hashlib.sha256(b"PNG").hexdigest()),
        Attachment("bashrc", "text/plain", 2, hashlib.sha256(b"rc").hexdigest()),
    )
    assert (msg.text, msg.attachments) == ("Zie bijlagen", expected)


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ('filename="<rapport.pdf>"', "<rapport.pdf>"),
        ('filename="<rapport.pdf>"; name="x"', "<rapport.pdf>"),
        ("filename*=utf-8''%3Crapport.pdf%3E", "<rapport.pdf>"),
        ('filename="\\"rapport.pdf\\""', '"rapport.pdf"'),
    ],
)
def test_declared_name_is_unquoted_once(param: str, expected: str) -> None:
    """A name wholly in angle brackets or in quotes (quoted-string or RFC 2231) keeps them:
    the parameter is unquoted once, not twice."""
    raw = raw_message(
        ["From: a@example.org", "Content-Type: multipart/mixed; boundary=b"],
        "--b\nContent-Type: text/plain\n\nZie bijlage\n"
        f"--b\nContent-Type: application/pdf\nContent-Disposition: attachment; {param}\n\n"
        "PDF\n--b--\n",
    )
    assert [a.filename for a in parse(raw, NOW).attachments] == [expected]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rapport.pdf", "rapport.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("..", "attachment"),
        ("", "attachment"),
        ("...hidden", "hidden"),
        ("a..b.txt", "a.b.txt"),
        ("evil\r\nname\x00.txt", "evilname.txt"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
        ("dir/", "attachment"),
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    """File names lose directories, "..", control characters, leading dots and excess length."""
    assert sanitize_filename(name) == expected


def test_non_text_inline_leaf_is_attachment() -> None:
    """An inline image without a name is still listed as an attachment."""
    raw = raw_message(
        ["From: a@example.org", "Content-Type: multipart/related; boundary=b"],
        "--b\nContent-Type: text/plain\n\nhoi\n--b\nContent-Type: image/gif\n\nGIF89a\n--b--\n",
    )
    assert parse(raw, NOW).attachments == (
        Attachment("attachment", "image/gif", 6, hashlib.sha256(b"GIF89a").hexdigest()),
    )


NESTED = raw_message(
    [
        "From: Doorsturende relay <meldpunt@vng.example>",
        "Message-ID: <outer@vng.example>",
        "Content-Type: multipart/mixed; boundary=outer",
    ],
    "--outer\nContent-Type: text/plain\n\nDoorgestuurde melding, zie bijlage.\n"
    "--outer\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
    "From: Melder <melder@example.org>\nMessage-ID: <inner@example.org>\n"
    "Content-Type: multipart/mixed; boundary=inner\n\n"
    "--inner\nContent-Type: text/plain\n\nDe eigenlijke melding.\n"
    "--inner\nContent-Type: application/zip\nContent-Disposition: attachment; filename=poc.zip\n\n"
    "PK\n--inner--\n--outer--\n",
)


def test_nested_rfc822_outer_text_and_inner_attachment() -> None:
    """With a forwarded message/rfc822 the outer text wins and inner attachments are listed."""
    msg = parse(NESTED, NOW)
    actual = (msg.message_id, msg.text, [a.filename for a in msg.attachments])
    assert actual == ("outer@vng.example", "Doorgestuurde melding, zie bijlage.", ["poc.zip"])


def test_nested_rfc822_inner_text_when_outer_has_none() -> None:
    """When the outer message has no text, the forwarded message's text is used."""
    raw = NESTED.replace(b"Doorgestuurde melding, zie bijlage.", b"").replace(
        b"--outer\r\nContent-Type: text/plain\r\n\r\n\r\n", b""
    )
    assert parse(raw, NOW).text == "De eigenlijke melding."


def nested_multiparts(depth: int) -> bytes:
    """A message with `depth` multiparts, each opened inside the previous one."""
    opening = "".join(
        f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'
        for i in range(depth)
    )
    head = 'From: a@example.org\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n'
    return (head + opening + f"--b{depth}\r\n\r\ndiep\r\n").encode()


def test_deep_nesting_is_bounded() -> None:
    """Two hundred nested multiparts are walked only to a bounded depth, without error."""
    msg = parse(nested_multiparts(200), NOW)
    errors = [d for d in msg.defects if d.startswith("parser_error")]
    assert (msg.from_address, "nesting_too_deep" in msg.defects, errors) == (
        "a@example.org",
        True,
        [],
    )


def test_nesting_beyond_the_email_package_falls_back() -> None:
    """Nesting that would exhaust the email package (3,000 boundaries) is refused up front
    and still returns the headers."""
    msg = parse(nested_multiparts(3000), NOW)
    expected = ("a@example.org", "parser_error:ValueError")
    assert (msg.from_address, msg.defects[0]) == expected


def test_dsn_names_returned_message() -> None:
    """A Postfix DSN (delivery-status + text/rfc822-headers) names our original Message-ID."""
    msg = parse((DATA / "dsn-postfix.eml").read_bytes(), NOW)
    actual = (msg.content_type, msg.return_path, msg.from_address, msg.bounced_message_ids)
    expected = (
        "multipart/report",
        "",
        "mailer-daemon@mx.gemeente.example",
        ("ack.MK-2026-0042.1@gemeente.example",),
    )
    assert actual == expected
    assert "could not" in msg.text
    assert msg.attachments == ()


def dsn(action: str, returned: str, report_type: str = "delivery-status") -> bytes:
    """A small DSN with one recipient block and a returned part."""
    return raw_message(
        [
            "From: MAILER-DAEMON@mx.example",
            f"Content-Type: multipart/report; report-type={report_type}; boundary=r",
        ],
        "--r\nContent-Type: text/plain\n\nDelivery report\n"
        f"--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
        f"Final-Recipient: rfc822; x@y.example\nAction: {action}\nStatus: 5.0.0\n"
        f"--r\n{returned}\n--r--\n",
    )


def test_dsn_with_full_returned_message() -> None:
    """A DSN returning the whole message (message/rfc822) names its Message-ID."""
    returned = (
        "Content-Type: message/rfc822\n\nMessage-ID: <out.7@gemeente.example>\nSubject: x\n\nbody"
    )
    assert parse(dsn("failed", returned), NOW).bounced_message_ids == ("out.7@gemeente.example",)


def test_delay_notice_names_nothing() -> None:
    """A DSN that only says "delayed" does not report the mail as bounced."""
    returned = "Content-Type: text/rfc822-headers\n\nMessage-ID: <out.8@gemeente.example>\n"
    assert parse(dsn("delayed", returned), NOW).bounced_message_ids == ()


def test_read_receipt_names_nothing() -> None:
    """A read receipt (disposition-notification report) is no bounce."""
    returned = "Content-Type: text/rfc822-headers\n\nMessage-ID: <out.9@gemeente.example>\n"
    msg = parse(dsn("failed", returned, "disposition-notification"), NOW)
    assert msg.bounced_message_ids == ()


def test_plain_message_has_no_bounced_ids() -> None:
    """A forwarded message in an ordinary mail is not mistaken for a returned one."""
    assert parse(NESTED, NOW).bounced_message_ids == ()


def test_text_is_capped() -> None:
    """Text beyond 1,000,000 characters is cut and the cut recorded."""
    raw = raw_message(["From: a@example.org"], "x" * 1_200_000)
    msg = parse(raw, NOW)
    assert (len(msg.text), "text_truncated" in msg.defects) == (1_000_000, True)


def test_newlines_normalised() -> None:
    """CRLF and lone CR in the body become LF; NUL characters are removed."""
    raw = b"From: a@example.org\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(
        b"een\r\ntwee\rdrie\x00\n"
    )
    assert parse(raw, NOW).text == "een\ntwee\ndrie\n"


def test_headers_only_ignores_body() -> None:
    """parse_headers_only reads the header block only but fingerprints the whole message."""
    raw = DUTCH_REPORT + b"x" * 500_000
    msg = parse_headers_only(raw, NOW)
    actual = (msg.message_id, msg.from_address, msg.text, msg.attachments, msg.size)
    assert actual == ("demo-nl-1@example.nl", "j.devries@example.nl", "", (), len(raw))
    assert msg.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert "headers_only" in msg.defects


def test_headers_only_bounded() -> None:
    """A header block without end is read up to 256 KiB only."""
    raw = b"From: a@example.org\r\n" + b"X-Filler: " + b"y" * 2_000_000
    msg = parse_headers_only(raw, NOW)
    assert (msg.from_address, "headers_truncated" in msg.defects) == ("a@example.org", True)
    assert len(msg.header("x-filler") or "") < 262_144


def test_internal_fault_falls_back_to_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault in the body stage still yields the header fields and a parser_error defect."""

    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(parsing, "walk", explode)
    msg = parse(DUTCH_REPORT, NOW)
    actual = (msg.from_address, msg.message_id, msg.defects[0], msg.size)
    assert actual == (
        "j.devries@example.nl",
        "demo-nl-1@example.nl",
        "parser_error:RuntimeError",
        len(DUTCH_REPORT),
    )


def test_total_fault_gives_minimal_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """When even the header block cannot be read, a minimal message comes back."""

    def explode(*_: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(parsing, "read_head", explode)
    msg = parse(DUTCH_REPORT, NOW)
    actual = (msg.from_address, msg.defects, msg.raw_sha256, msg.received_at)
    assert actual == (
        None,
        ("parser_error:ValueError",),
        hashlib.sha256(DUTCH_REPORT).hexdigest(),
        NOW,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.org>", "abc@example.org"),
        ("  <abc@example.org>  ", "abc@example.org"),
        ("abc@example.org", "abc@example.org"),
        ("<>", None),
        ("", None),
        ("<a b@example.org>", None),
        ("<a\x00b@example.org>", None),
        ("<a<b>", None),
        ("<" + "a" * 1000 + ">", None),
    ],
)
def test_normalize_msgid(value: str, expected: str | None) -> None:
    """Message ids lose brackets and whitespace; empty or spaced ids are unusable."""
    assert normalize_msgid(value) == expected


def test_normalize_address_reexported() -> None:
    """normalize_address is importable from parsing and lower-cases addr-specs."""
    assert normalize_address(" Jan@Example.NL ") == "jan@example.nl"


def _no_parser_error(raw: bytes) -> None:
    """parse(raw) returns, fingerprints raw correctly, and needs no fallback."""
    msg = parse(raw, NOW)
    assert (msg.size, msg.raw_sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
    assert [d for d in msg.defects if d.startswith("parser_error")] == []
    for _, value in msg.headers:
        assert "\n" not in value and "\r" not in value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    """Any bytes at all parse without raising and without needing the fallback."""
    _no_parser_error(raw)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_headers_only(raw: bytes) -> None:
    """parse_headers_only also takes any bytes."""
    msg = parse_headers_only(raw, NOW)
    assert (msg.size, msg.text, [d for d in msg.defects if d.startswith("parser_error")]) == (
        len(raw),
        "",
        [],
    )


VALID_MULTIPART = raw_message(
    [
        "From: =?utf-8?q?J=C3=B6rg?= <j@example.de>",
        "To: meldpunt@gemeente.example",
        "Subject: =?utf-8?b?S3dldHNiYWFyaGVpZA==?=",
        "Message-ID: <m@example.de>",
        'Content-Type: multipart/mixed; boundary="==b=="',
    ],
    '--==b==\nContent-Type: multipart/alternative; boundary="==a=="\n\n'
    "--==a==\nContent-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n\n"
    "Zie https://x.gemeente.example/ =C3=A9n 10.0.0.1, bel 06-12345678\n"
    "--==a==\nContent-Type: text/html\n\n<p>Zie <b>x</b></p><script>x()</script>\n--==a==--\n"
    '--==b==\nContent-Type: application/pdf; name="r.pdf"\nContent-Transfer-Encoding: base64\n\n'
    "JVBERi0xLjQKJcfsj6IK\n"
    "--==b==\nContent-Type: message/rfc822\n\nFrom: x@y\nSubject: inner\n\ninner body\n"
    "--==b==--\n",
)

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(VALID_MULTIPART) - 1), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, len(VALID_MULTIPART)), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, len(VALID_MULTIPART)), st.integers(0, 7)),
)
_INSERTS = [
    b"\r\nContent-Type: multipart/mixed; boundary=\r\n",
    b"\r\nContent-Transfer-Encoding: base64\r\n",
    b"\r\nSubject: =?unknown?b?////?=\r\n",
    b"\r\nFrom: <>\r\n",
    b"\r\n--==b==\r\n",
    b"\r\nContent-Type: message/rfc822\r\n\r\n",
    b"\x00\xff\r\r\n",
    b"\r\nContent-Disposition: attachment; filename*=x-bad''%FF%00..%2F\r\n",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_multipart_never_raises(mutations: list[tuple[str, int, int]]) -> None:
    """Byte flips, truncation and inserted header lines never make parse raise."""
    raw = bytearray(VALID_MULTIPART)
    for kind, wanted, value in mutations:
        position = min(wanted, len(raw))
        if kind == "flip" and position < len(raw):
            raw[position] = value
        elif kind == "truncate":
            del raw[position:]
        elif kind == "insert":
            raw[position:position] = _INSERTS[value]
    _no_parser_error(bytes(raw))


def test_valid_multipart_baseline() -> None:
    """The message the mutation test starts from parses fully (so mutations start from sense)."""
    msg = parse(VALID_MULTIPART, NOW)
    actual = (
        msg.subject,
        msg.from_name,
        msg.text.strip(),
        [a.filename for a in msg.attachments],
        msg.contacts.ips,
        msg.defects,
    )
    expected = (
        "Kwetsbaarheid",
        "J\u00f6rg",
        "Zie https://x.gemeente.example/ \u00e9n 10.0.0.1, bel 06-12345678",
        ["r.pdf"],
        ("10.0.0.1",),
        (),
    )
    assert actual == expected


# --- big attachments: parsed without copies, hashed slice by slice -------------------

_BLOB = bytes(range(256)) * 80  # 20 KiB: its base64 runs become placeholders


def _wrap(text: str, width: int, eol: str) -> str:
    """`text` in lines of `width` characters, each ended by `eol`."""
    return "".join(text[i : i + width] + eol for i in range(0, len(text), width))


def _with_attachment(cte: str, body: str) -> bytes:
    """A report whose second part is `body` under the transfer encoding `cte`."""
    head = (
        "From: jan@example.nl\r\nMessage-ID: <big@example.nl>\r\nSubject: bijlage\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0undary"\r\n\r\n'
        "--b0undary\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n--b0undary\r\n"
        f"Content-Type: application/octet-stream; name=dump.bin\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return (head + body + "\r\n--b0undary--\r\n").encode("latin-1")


def _stock_attachment(raw: bytes) -> tuple[int, str, tuple[str, ...]]:
    """Size, sha256 and defects of the attachment the way the stock parser decodes it."""
    part = safe_parser().parsebytes(raw).get_payload()[1]
    data = part.get_payload(decode=True)
    return (
        len(data),
        hashlib.sha256(data).hexdigest(),
        tuple(type(d).__name__ for d in part.defects),
    )


_B64 = base64.b64encode(_BLOB).decode()
_QP = "".join(f"={b:02X}" if b < 33 or b > 126 or b == 61 else chr(b) for b in _BLOB)


@pytest.mark.parametrize(
    "cte, body",
    [
        ("base64", _wrap(_B64, 57, "\r\n")),
        ("base64", _wrap(_B64, 1001, "\n")),
        ("base64", _wrap(_B64, 3, "\r")),
        ("base64", _wrap(_B64.rstrip("="), 76, "\r\n")),
        ("base64", _wrap(_B64[:-3], 76, "\r\n")),  # one letter too many: left undecoded
        ("base64", _wrap(_B64 + "QQ==" + _B64, 76, "\r\n")),  # decoding stops at the pad
        ("base64", _wrap(_B64, 76, "\r\n").replace("A", "A *\xe9", 50)),
        ("base64", _wrap(_B64, 76, "\r\n").replace("\r\n", "==\r\n", 3)),
        ("quoted-printable", _wrap(_QP, 75, "=\r\n")),
        ("quoted-printable", _wrap(_QP.replace("=3D", "=3d"), 13, "=\n")),
        ("quoted-printable", _wrap(_QP, 60, "=\r\n").replace("=0", "=Z\xe9\t", 40)),
        ("quoted-printable", _wrap("abc=3D=3d=ZZ" * 900, 71, "=\r\n")),  # base64-like lines
        ("7bit", _wrap(_B64, 76, "\r\n")),
    ],
)
def test_attachment_digest_equals_stock_decoding(cte: str, body: str) -> None:
    """Attachment size, sha256 and defects equal hashlib over get_payload(decode=True)."""
    raw = _with_attachment(cte, body)
    size, sha256, defects = _stock_attachment(raw)
    msg = parse(raw, NOW)
    actual = (msg.attachments[0].size, msg.attachments[0].sha256, msg.defects)
    assert actual == (size, sha256, defects)


_BASE64_SOUP = st.lists(
    st.sampled_from([*"QUJDRAz09+/", "=", "==", "\n", "\r\n", "\r", " ", "*", "\udce9"]),
    max_size=80,
).map("".join)
_QP_SOUP = st.lists(
    st.sampled_from([*"Az09=_ ", "=3D", "=3d", "=\n", "=\r\n", "=\r", "\n", "\r\n", "\udce9"]),
    max_size=80,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["base64", "quoted-printable", "8bit"]),
    _BASE64_SOUP,
    _QP_SOUP,
    st.integers(1, 9),
)
def test_digest_in_slices_equals_get_payload(cte: str, b64: str, qp: str, size: int) -> None:
    """Slice-wise digest equals get_payload(decode=True), for any slice size and defects."""
    parts = [Message(), Message()]
    for part in parts:
        part["Content-Transfer-Encoding"] = cte
        part.set_payload(qp if cte == "quoted-printable" else b64)
    data = parts[0].get_payload(decode=True)
    expected = (len(data), hashlib.sha256(data).hexdigest(), [type(d) for d in parts[0].defects])
    size_, sha256 = payloads.digest(parts[1], size)
    assert (size_, sha256, [type(d) for d in parts[1].defects]) == expected


_LINES = st.sampled_from(
    [
        'Content-Type: multipart/mixed; boundary="b1"',
        "Content-Type: message/rfc822",
        "Content-Type: message/delivery-status",
        "Content-Transfer-Encoding: base64",
        " folded",
        "From x",
        "",
        "--b1",
        "--b1--",
        "QUJD",
        "QUJDRA==",
        "=",
        "a:b",
        "\xe9\xff",
        'Content-Type: multipart/digest; boundary="b1"',
        "Content-Type: message/global-Delivery-Status",
        "Action: failed",
        "gewone tekst",
        "FROM : x",
        "From : x",
        ": x",
        "\t",
        "-",
        "--",
        "--b1 ",
        "x",
        "\xee\x80\x80",  # U+E000 in UTF-8
    ]
)
_SOUP = st.lists(
    st.tuples(_LINES, st.sampled_from(["\n", "\r\n", "\r", ""])).map("".join), max_size=40
).map(lambda lines: "".join(lines).encode("latin-1"))


def _tree(part: Message, bodies: payloads.Bodies | None) -> list[object]:
    """Everything the parser decided about `part` and below, placeholders expanded."""
    text = [part.preamble, part.epilogue]
    if bodies is not None:
        text = [None if t is None else payloads.expand(t, bodies) for t in text]
    defects = [type(d).__name__ for d in part.defects]
    found: list[object] = [part.get_unixfrom(), list(part.raw_items()), defects, *text]
    if part.is_multipart():
        return [*found, [_tree(child, bodies) for child in part.get_payload()]]
    payloads.materialize(part)
    return [*found, part.__dict__["_payload"]]


@settings(max_examples=1000, deadline=None)
@given(_SOUP, st.integers(1, 16), st.sampled_from([1, 8, 4096]))
def test_lean_parse_builds_the_stock_tree(raw: bytes, feed: int, min_run: int) -> None:
    """parse_bytes, placeholders expanded, equals what BytesParser.parsebytes builds."""
    lean = payloads.parse_bytes(raw, feed_bytes=feed, min_run=min_run)
    stock = safe_parser().parsebytes(raw)
    assert _tree(lean, lean.bodies) == _tree(stock, None)


_STRUCTURE = st.lists(
    st.sampled_from(
        [
            "Content-Type: message/rfc822",
            'Content-Type: multipart/digest; boundary="b1"',
            "Content-Type: message/delivery-status",
            "",
            "a:b",
            "x",
            "--b1",
            "--b1--",
            " f",
        ]
    ),
    max_size=25,
)
_STRUCTURE_RAW = st.builds(
    lambda lines, end: "".join(line + end for line in lines).encode(),
    _STRUCTURE,
    st.sampled_from(["\n", "\r\n", "\r"]),
)


@settings(max_examples=1000, deadline=None)
@given(_STRUCTURE_RAW, st.integers(1, 8))
@example(b"Content-Type: message/rfc822\n\na:b\nx\n", 1)
@example(b'Content-Type: multipart/mixed; boundary="b1"\r\rx\r--b1\r\rx\r--b1--\r', 64)
@example(b'Content-Type: multipart/digest; boundary="b1"\n\n--b1\n\n\na:b\nx\n--b1--\n', 3)
@example(b"Content-Type: message/delivery-status\n\nx\nx\n\na:b\nx\n\n\na:b\n", 2)
@example(b"a:b\nFrom : x\n\nx\n", 1)
def test_lean_parse_builds_the_stock_tree_for_nested_headers(raw: bytes, feed: int) -> None:
    """Runs of body lines never swallow header lines of nested, digest or status parts."""
    lean = payloads.parse_bytes(raw, feed_bytes=feed, min_run=1)
    stock = safe_parser().parsebytes(raw)
    assert _tree(lean, lean.bodies) == _tree(stock, None)


def test_big_attachment_parse_holds_no_copy() -> None:
    """Parsing a 4 MB report traces under a quarter of its size (no copies of the body)."""
    raw = _with_attachment("base64", _wrap(_B64, 76, "\r\n") * 150)
    tracemalloc.start()
    try:
        parse(raw, NOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (peak < len(raw) // 4, len(raw) > 4_000_000) == (True, True)


def test_big_parts_come_back_whole() -> None:
    """A big base64 text body and a relayed attachment come back exactly, not as placeholders."""
    text = "Bewijs: " + "lek " * 6000
    raw = _with_attachment("base64", _wrap(_B64, 76, "\r\n")).replace(
        b"Content-Type: text/plain\r\n\r\nZie bijlage.",
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + _wrap(base64.b64encode(text.encode()).decode(), 76, "\r\n").encode().rstrip(),
    )
    msg = parse(raw, NOW)
    relayed = parsing.attachment_payloads(raw, 10**6)
    assert (msg.text, relayed) == (text, [("dump.bin", "application/octet-stream", _BLOB)])


@pytest.mark.parametrize(("declared", "defects"), [(19, ()), (20, ("parser_error:ValueError",))])
def test_boundaries_times_lines_over_the_cap_is_refused_up_front(
    declared: int, defects: tuple[str, ...]
) -> None:
    """1,000,001 lines allow 19 boundary parameters (20 x 10^6 cap); the 20th is refused."""
    params = "".join(f'X-Note: boundary="b{n}"\r\n' for n in range(declared))
    head = f"From: a@example.org\r\nSubject: veel\r\n{params}\r\n"
    raw = head.encode() + b"\n" * (1_000_001 - head.count("\n") - 1)
    assert raw.count(b"\n") + 1 == 1_000_001
    msg = parsing.parse(raw, datetime(2026, 12, 21, tzinfo=UTC))
    assert tuple(d for d in msg.defects if d.startswith("parser_error")) == defects


def test_identity_ambiguity_is_recorded_on_every_parse_path() -> None:
    """Repeated identity headers and a two-address From are recorded by the full parse and
    by the headers-only parse (oversized mail) alike, independent of the package's defects."""
    data = (
        b"From: a@example.org, b@example.org\r\nsubject: one\r\nSUBJECT: two\r\n"
        b"Message-ID: <x@example.org>\r\n\r\nhoi"
    )
    found = [m.ambiguous_identity for m in (parse(data, NOW), parse_headers_only(data, NOW))]
    assert found == [("from_addresses", "subject")] * 2

"""Work per message is linear in its size with a small constant (issue 12), measured in
deterministic units (lines the feed parser reads, words decoded, characters scanned),
never in wall time; wall-time figures are in benchmarks/adversarial.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import adversarial
from mailbot.mail import bodies as payloads
from mailbot.mail import contacts, decoding, headers, parsing
from mailbot.mail.contacts import SCAN_CHARS, extract_contacts
from mailbot.mail.decoding import MAX_ENCODED_WORDS, decode_words
from mailbot.mail.headers import MAX_ADDRESS_CHARS

NOW = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
HEAD = b"From: a@example.org\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\n"


def parser_lines(raw: bytes) -> int:
    """Lines the feed parser itself reads for `raw` (runs of body lines count as one)."""
    root = payloads.parse_bytes(raw)
    assert root.bodies is not None
    return root.bodies.lines


@pytest.mark.parametrize(
    "line",
    [b"\n", b"\r\n", b"\r", b"a:\n", b" \n", b"x\n", b"From x\n", b"-\n", b"ab cd\r\n"],
    ids=repr,
)
def test_a_megabyte_of_body_lines_reaches_the_parser_as_few_lines(line: bytes) -> None:
    """A body of a million short lines of one kind costs the parser a few hundred lines:
    one per 8 KB slice, and the lines of the last slice when it is short."""
    body = b"tekst\r\n" + line * (1_000_000 // len(line))
    assert parser_lines(HEAD + body) <= few_lines(body)


def few_lines(body: bytes) -> int:
    """Parser lines allowed for a body without boundaries: two per 4 KB, and one short
    run (under MIN_RUN_CHARS) of one-character lines, plus the header block."""
    return 10 + 2 * len(body) // 4096 + payloads.MIN_RUN_CHARS


BODY_LINE = st.sampled_from(["", "x", "a: b", " vervolg", "From x", "-", "tekst tekst", "\t"])


@settings(max_examples=100, deadline=None)
@given(st.lists(BODY_LINE, min_size=1, max_size=20), st.sampled_from(["\n", "\r\n"]))
def test_any_body_without_boundaries_costs_the_parser_few_lines(
    pattern: list[str], ending: str
) -> None:
    """Any body of repeated lines that cannot be boundaries reaches the parser in few lines
    (see few_lines), however short its lines."""
    unit = "".join(line + ending for line in pattern).encode()
    body = b"eerste regel\r\n" + unit * (400_000 // len(unit))
    assert parser_lines(HEAD + body) <= few_lines(body)


def test_parts_past_max_parts_are_not_parsed() -> None:
    """A message of 60,000 tiny parts builds at most MAX_PARTS and one slice's worth more."""
    part = b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    raw = b'From: a@example.org\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n'
    root = payloads.parse_bytes(raw + part * 60_000 + b"--p--\r\n", max_parts=parsing.MAX_PARTS)
    assert root.bodies is not None
    assert (root.bodies.stopped, root.bodies.parts <= parsing.MAX_PARTS + 8192 // len(part)) == (
        "too_many_parts",
        True,
    )


@pytest.mark.parametrize("shape", adversarial.SHAPES, ids=lambda shape: shape.name)
def test_every_adversarial_shape_parses_within_the_parser_caps(
    shape: adversarial.Shape,
) -> None:
    """Each benchmark shape (1 MB) reaches the parser in at most MAX_PARSED_LINES lines and
    MAX_PARTS parts (plus one feed slice), and parse() returns a message for it."""
    raw = shape.build(1_000_000)
    root = payloads.parse_bytes(
        raw, max_parts=parsing.MAX_PARTS, max_lines=parsing.MAX_PARSED_LINES
    )
    assert root.bodies is not None
    bounded = (
        root.bodies.lines <= parsing.MAX_PARSED_LINES + 8192,
        root.bodies.parts <= parsing.MAX_PARTS + 8192,
        parsing.parse(raw, NOW).raw_sha256 != "",
    )
    assert bounded == (True, True, True)


def test_contacts_read_only_the_start_and_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a 3 MB text, contacts come from its first and last SCAN_CHARS characters, which
    is all the scanners are given."""
    scanned: list[int] = []
    original = contacts.url_spans

    def spy(text: str) -> list[tuple[int, int, str]]:
        scanned.append(len(text))
        return original(text)

    monkeypatch.setattr(contacts, "url_spans", spy)
    filler = "woord 06 1.2.3 a:b " * 80_000
    text = f"https://begin.example/ {filler} https://midden.example/ {filler} 06-12345678"
    found = extract_contacts("onderwerp", text)
    actual = (found.urls, found.phones, scanned[0] <= 2 * SCAN_CHARS + 1)
    assert actual == (("https://begin.example/",), ("+31612345678",), True)


def test_only_the_first_max_encoded_words_are_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Of 20,000 encoded words the first MAX_ENCODED_WORDS are decoded, the rest left as is."""
    calls: list[str] = []
    original = decoding._word_bytes

    def counting(encoding: str, payload: str) -> bytes | None:
        calls.append(payload)
        return original(encoding, payload)

    monkeypatch.setattr(decoding, "_word_bytes", counting)
    defects: list[str] = []
    value = "=?utf-8?q?=C3=A9?= " * 20_000
    decoded = decode_words(value, defects)
    expected = "é" * MAX_ENCODED_WORDS + " " + "=?utf-8?q?=C3=A9?= " * (20_000 - MAX_ENCODED_WORDS)
    assert (decoded, len(calls), defects) == (expected, MAX_ENCODED_WORDS, ["encoded_words_left"])


def test_address_headers_are_read_up_to_max_address_chars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two hundred 64 KB To headers: getaddresses reads at most MAX_ADDRESS_CHARS of them."""
    seen: list[int] = []
    original = headers.getaddresses

    def spy(values: list[str]) -> list[tuple[str, str]]:
        seen.append(sum(map(len, values)))
        return original(values)

    monkeypatch.setattr(headers, "getaddresses", spy)
    to = b"To: " + b"x@example.org, " * 4_300 + b"\r\n"
    raw = b"From: a@example.org\r\nMessage-ID: <m@example.org>\r\n" + to * 200 + b"\r\nhoi"
    msg = parsing.parse(raw, NOW)
    assert (msg.to, sum(seen) <= 6 * MAX_ADDRESS_CHARS) == (("x@example.org",), True)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"boundary", b"BOUNDARY", b"Boun", b"dary", b"x", b"bOuNdArY="])).map(
        b"".join
    ),
    st.integers(1, 40),
)
def test_word_count_in_slices_equals_a_whole_count(raw: bytes, size: int) -> None:
    """The slice-wise count and search of "boundary" in any case equal those of the
    lowered whole."""
    expected = (raw.lower().count(b"boundary"), b"boundary" in raw.lower())
    actual = (
        parsing._word_count(raw, b"boundary", size),
        payloads.mentions(raw, b"boundary", size),
    )
    assert actual == expected


_CONTROLS = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*map(chr, _CONTROLS), "a", " ", "\u00e9", "\u4e2d"])))
def test_one_line_and_unfold_equal_translating_every_character(value: str) -> None:
    """The look-first one_line and unfold give what translating every character gave."""
    to_space = dict.fromkeys(_CONTROLS, " ")
    expected = (
        value.translate(to_space).strip(),
        value.translate({**to_space, 13: None, 10: None}).strip(),
    )
    assert (decoding.one_line(value), decoding.unfold(value)) == expected

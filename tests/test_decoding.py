"""Tests of mailbot.decoding: charsets, RFC 2047 words and header fields of hostile mail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail.contacts import normalize_address
from mailbot.mail.decoding import decode_bytes, decode_words, normalize_msgid, recover, unfold
from mailbot.mail.parsing import parse

NOW = datetime(2026, 12, 21, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?utf-8?q?caf=C3=A9?=", "caf\u00e9"),
        ("=?UTF-8?Q?hallo_daar?=", "hallo daar"),
        ("=?utf-8?b?Y2Fmw6k=?=", "caf\u00e9"),
        ("=?utf-8?b?Y2Fmw6k?=", "caf\u00e9"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?=\t =?iso-8859-1?q?=E9?=", "a\u00e9"),
        ("x =?utf-8?q?a?= y", "x a y"),
        ("=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "\u00e9"),
        ("=?utf-8*nl?q?taal?=", "taal"),
        ("=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="),
        ("no words here", "no words here"),
        ("=?utf-8?x?nope?=", "=?utf-8?x?nope?="),
    ],
)
def test_decode_words(value: str, expected: str) -> None:
    """Encoded words decode; adjacent ones join, even across a split character."""
    assert decode_words(value, []) == expected


def test_decode_words_unknown_charset_recorded() -> None:
    """An encoded word in an unknown charset is decoded by fallback and recorded."""
    defects: list[str] = []
    assert (decode_words("=?x-evil?q?caf=E9?=", defects), defects) == (
        "caf\u00e9",
        ["unknown_charset:x-evil"],
    )


@pytest.mark.parametrize(
    ("data", "charset", "expected", "defects"),
    [
        (b"caf\xc3\xa9", "utf-8", "caf\u00e9", []),
        (b"caf\xe9", "iso-8859-1", "caf\u00e9", []),
        (b"caf\xe9", None, "caf\u00e9", []),
        (b"caf\xc3\xa9", None, "caf\u00e9", []),
        (b"caf\xc3\xa9", "us-ascii", "caf\u00e9", []),
        (b"caf\xe9", "x-foo", "caf\u00e9", ["unknown_charset:x-foo"]),
        (b"caf\xe9", "base64", "caf\u00e9", ["unknown_charset:base64"]),
        (b"a-\xff", "punycode", "a-\u00ff", ["unknown_charset:punycode"]),
        (b"caf\xe9", "utf-8", "caf\ufffd", ["charset_mismatch:utf-8"]),
        (b"\x80abc", "shift_jis", "\ufffdabc", ["charset_mismatch:shift_jis"]),
        (b"x", '"windows-1252"', "x", []),
        (b"x", "a" * 100, "x", ["unknown_charset:" + "a" * 40]),
        (b"x", "bad charset\r\n", "x", ["unknown_charset:bad?charset"]),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, expected: str, defects: list[str]) -> None:
    """The declared charset is used when it works; otherwise UTF-8, then Latin-1."""
    found: list[str] = []
    assert (decode_bytes(data, charset, found), found) == (expected, defects)


def test_recover_eight_bit() -> None:
    """Header text read with surrogate escapes is turned back into UTF-8 or Latin-1 text."""
    utf8 = "J\u00f6rg".encode().decode("ascii", "surrogateescape")
    latin1 = "J\u00f6rg".encode("latin-1").decode("ascii", "surrogateescape")
    assert (recover(utf8), recover(latin1), recover("plain")) == ("J\u00f6rg", "J\u00f6rg", "plain")


def test_unfold() -> None:
    """Folding is undone; other control characters (tab too) become spaces."""
    assert unfold("een\r\n twee\n\tdrie\x00vier\x1b ") == "een twee drie vier"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("<a@b>", "a@b"), ("a@b", "a@b"), ("<a b>", None), ("< >", None), ("<a\tb>", None)],
)
def test_normalize_msgid(value: str, expected: str | None) -> None:
    """Message ids are stripped of brackets; ids with whitespace are unusable."""
    assert normalize_msgid(value) == expected


_header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200
) | st.sampled_from(
    [
        '"unterminated <a@b>',
        "a@b, , ,<>,",
        "=?utf-8?b?PGV2aWxAeD4=?= <a@b>",
        "group: a@b, c@d;",
        "(comment (nested) a@b",
        "<<<>>>",
        "\\",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "From",
                    "To",
                    "Cc",
                    "Reply-To",
                    "Return-Path",
                    "Subject",
                    "Message-ID",
                    "References",
                    "In-Reply-To",
                    "Content-Type",
                    "Content-Disposition",
                ]
            ),
            _header_text,
        ),
        max_size=8,
    )
)
def test_arbitrary_header_values(headers: list[tuple[str, str]]) -> None:
    """Any header text gives one-line values and only well-formed addresses and ids."""
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\nbody"
    msg = parse(raw.encode("utf-8", "surrogatepass"), NOW)
    assert [d for d in msg.defects if d.startswith("parser_error")] == []
    addresses = [msg.from_address, *msg.to, *msg.cc, *msg.reply_to]
    assert all(a is None or normalize_address(a) == a for a in addresses)
    ids = [msg.message_id, *msg.references, *msg.in_reply_to]
    assert all(i is None or normalize_msgid(i) == i for i in ids)
    for _, value in msg.headers:
        assert not any(ord(ch) < 32 for ch in value)

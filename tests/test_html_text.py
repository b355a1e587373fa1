"""Tests of mailbot.html_text: HTML bodies as text, with work and output bounded."""

from __future__ import annotations

import re

import html2text
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail import html_text
from mailbot.mail.html_text import (
    MAX_EVENTS,
    MAX_NESTING,
    html_to_text,
    simplify,
    strip_tags,
)

#: What html.parser reads in one pass: plain tags with double-quoted values, no other "<".
SIMPLE_TAG = re.compile(r'</?[a-z][a-z0-9:-]*(?: [a-z]+="[^"<>]*")*/?>')


def stock(markup: str) -> str:
    """The conversion as it was: html2text with our options, nothing bounded."""
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    return str(converter.handle(markup))


ORDINARY = (
    "<html><head><title>t</title><style>p { color: red }</style></head><body>"
    "<!--[if mso]><xml>o</xml><![endif]--><p>Beste meldpunt,</p>"
    "<p>Op <a href='https://portaal.gemeente.example/zoek?q=1&amp;r=2' title='zoek'>deze"
    " pagina</a> staat een fout.</p><ul><li>stap &eacute;&eacute;n</li><li>stap twee"
    "<ol start=3><li>drie</li></ol></li></ul><blockquote>geciteerd<blockquote>dieper"
    "</blockquote></blockquote><table><tr><th>a</th><th>b</th></tr><tr><td>1</td>"
    "<td>2</td></tr></table><pre>code\n  regel</pre><br/><hr><h2>Kop</h2>"
    "<img src='https://tracker.example/p.png' alt='pixel'><abbr title='x'>X</abbr>"
    "<script>alert(1)</script><p>Groet &amp; dank, <b>Jan</b></p></body></html>"
)


def test_ordinary_html_converts_as_html2text_does() -> None:
    """A report with lists, quotes, a table, links and entities reads as before."""
    assert html_to_text(ORDINARY, []) == stock(ORDINARY)


def test_simplify_keeps_structure_and_drops_the_rest() -> None:
    """Tags keep only href, title and start; comments, scripts and stray brackets go."""
    markup = (
        "<!DOCTYPE html><!-- <ul> --><A HREF=\"x?a=1&amp;b\" onclick='evil()' TITLE=t>"
        "a < b > c</a><script>x<y</script><ol start='2' class=\"z\"><br/><?php ?>"
    )
    expected = (
        '<a href="x?a=1&amp;b" title="t">a &lt; b &gt; c</a><script></script><ol start="2"><br/>'
    )
    assert simplify(markup, 100) == expected


def test_simplify_refuses_more_tags_than_the_limit() -> None:
    """Past its limit of tags simplify gives up (None) instead of working on."""
    assert (simplify("<b>" * 10, 10), simplify("<b>" * 30, 10)) == ("<b>" * 10, None)


HTML_ALPHABET = st.lists(
    st.sampled_from(
        [
            *("<", ">", "/", "!", "-", "?", "a", "ul", "li", "=", '"', "'", " ", "&", "x"),
            *("\n", "<!--", "-->", "<script>", "</script>", "href", "<a ", "<![CDATA[", "]]>"),
        ]
    ),
    max_size=80,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(markup=HTML_ALPHABET)
def test_simplified_markup_has_only_simple_tags(markup: str) -> None:
    """Every "<" left by simplify opens a plain tag, so html.parser reads it in one pass."""
    simple = simplify(markup, 10_000) or ""
    leftover = SIMPLE_TAG.sub("", simple)
    assert ("<" in leftover, ">" in leftover) == (False, False)


BLOCK = st.sampled_from(["ul", "ol", "blockquote", "table", "tr", "td", "li", "pre", "p"])
NESTED = st.lists(
    st.tuples(BLOCK, st.booleans(), st.sampled_from(["", "x", "tekst\n", " "])),
    max_size=400,
).map(lambda items: "".join(f"<{'' if o else '/'}{t}>{d}" for t, o, d in items))


#: Most text one character of HTML can become: a newline in <pre> repeats the quote
#: marks and the list indentation (at most MAX_NESTING of them together).
GROWTH = 4 * MAX_NESTING + 10


@settings(max_examples=300, deadline=None)
@given(markup=NESTED, depth=st.integers(0, 2000))
def test_any_nesting_converts_to_bounded_output(markup: str, depth: int) -> None:
    """Lists, quotes and tables nested to any depth give at most GROWTH characters of text
    per character of HTML (html2text alone repeats the whole indentation on every line)."""
    deep = "<ul>" * depth + markup + "<li>x" * depth
    text = html_to_text(deep, [])
    assert len(text) <= GROWTH * len(deep) + 100


def test_deep_nesting_is_stripped_not_converted() -> None:
    """Lists nested deeper than MAX_NESTING fall back to the tag strip, text intact."""
    defects: list[str] = []
    text = html_to_text("<ul><li>punt " * (MAX_NESTING + 1), defects)
    assert (text.split(), defects) == (["punt"] * (MAX_NESTING + 1), ["html_too_complex"])


def test_output_past_its_budget_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A conversion that writes more than MAX_OUTPUT_CHARS is abandoned for the strip."""
    monkeypatch.setattr(html_text, "MAX_OUTPUT_CHARS", 1000)
    defects: list[str] = []
    text = html_to_text("<p>regel</p>" * 300, defects)
    assert (text.split(), defects) == (["regel"] * 300, ["html_too_complex"])


def test_the_converter_sees_at_most_max_events_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many tags the HTML has, html2text handles at most MAX_EVENTS of them."""
    seen: list[str] = []
    original = html_text._Converter.handle_tag

    def counting(
        self: html_text._Converter, tag: str, attrs: dict[str, str | None], start: bool
    ) -> None:
        seen.append(tag)
        original(self, tag, attrs, start)

    monkeypatch.setattr(html_text._Converter, "handle_tag", counting)
    for count in (MAX_EVENTS // 2, MAX_EVENTS * 4):
        html_to_text("<b>x</b>" * (count // 2), [])
    assert len(seen) == MAX_EVENTS // 2


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>a</p><script>b</script><STYLE>c</style>d", "a d"),
        ("x &amp; y &lt;z&gt;", "x & y <z>"),
        ("<" * 1000 + "<b>tekst", "<" * 1000 + " tekst"),
        ("<b>vet</b><i \n class=x>schuin", "vet schuin"),
    ],
)
def test_strip_tags(markup: str, expected: str) -> None:
    """The fallback drops scripts, styles and tags and decodes entities."""
    assert " ".join(strip_tags(markup).split()) == expected


@pytest.mark.parametrize("before", ["İ" * 40, "ẞ" * 10, "ﬃ" * 5])
def test_text_after_a_script_survives_characters_that_grow_when_lowered(before: str) -> None:
    """Positions are found in the HTML itself: "İ" (two characters lowered) loses no text."""
    markup = f"{before}<script>x()</script><p>body of the report</p>"
    simplified = html_text.simplify(markup, 1000)
    assert (
        "body of the report" in (simplified or ""),
        "body of the report" in strip_tags(markup),
    ) == (
        True,
        True,
    )

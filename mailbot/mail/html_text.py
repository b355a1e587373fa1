"""Readable text of an HTML body (pure), in time and output linear in the HTML.

html2text renders lists, quotes, tables and links well, but what it costs depends on the
shape of the markup. Its output, and its time, grow with the square of the nesting (each
line repeats the indentation of every open list and quote), and Python 3.11's html.parser
rescans the rest of the document for every "<" of a tag that never ends ("<a<a<a...").

So the HTML is first rewritten in one linear pass into markup that html.parser reads in
one pass (`simplify`): comments, declarations, scripts and styles dropped, every tag
rebuilt as `<name>` keeping only href, title and start, every other "<" and ">" escaped.
The conversion stops when lists and quotes nest deeper than MAX_NESTING or the output
passes MAX_OUTPUT_CHARS, and HTML of more than MAX_EVENTS tags and entities is not
converted at all: these fall back to a linear tag strip (`strip_tags`).
"""

from __future__ import annotations

import html
import re

import html2text

#: HTML beyond this is not converted (html2text needs about half a second for it).
MAX_HTML_CHARS = 256 * 1024
#: Tags and entities (html2text spends about 5 µs on each) in HTML worth converting.
MAX_EVENTS = 25_000
#: Lists and block quotes open at once; deeper HTML is stripped instead.
MAX_NESTING = 40
#: Characters html2text may write before the conversion is abandoned.
MAX_OUTPUT_CHARS = 2_000_000

_KEPT_ATTRIBUTES = frozenset({"href", "title", "start"})
_RAW_TEXT = frozenset({"script", "style"})
# One step of the tokenizer: a comment (to "-->" or the end), a declaration or processing
# instruction (to the next ">"), a tag (name, then anything up to the next "<" or ">").
_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<[!?][^>]*>?|<(/?)([A-Za-z][A-Za-z0-9:-]*)([^<>]*)>?",
    re.DOTALL,
)
_ATTRIBUTE = re.compile(
    r"""(?:^|[\s/"'])([A-Za-z]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"""
)
_ANGLE = str.maketrans({"<": "&lt;", ">": "&gt;"})
_QUOTED = str.maketrans({"<": "&lt;", ">": "&gt;", '"': "&quot;"})
_TAG = re.compile(r"<[^<>]*>")
_RAW_TEXT_TAG = re.compile(r"<(script|style)\b", re.IGNORECASE)
_CLOSING = {name: re.compile(rf"</{name}", re.IGNORECASE) for name in _RAW_TEXT}


class TooComplex(Exception):
    """The HTML nests too deep or converts to too much text."""


def html_to_text(markup: str, defects: list[str]) -> str:
    """Readable text of an HTML body: scripts, styles and images dropped, links kept."""
    if len(markup) > MAX_HTML_CHARS:
        defects.append("html_truncated")
        markup = markup[:MAX_HTML_CHARS]
    simple = simplify(markup, MAX_EVENTS)
    if simple is None or simple.count("<") + simple.count("&") > MAX_EVENTS:
        defects.append("html_too_complex")
        return strip_tags(markup)
    try:
        return str(_Converter().handle(simple))
    except TooComplex:
        defects.append("html_too_complex")
    except Exception:
        defects.append("html_error")
    return strip_tags(markup)


class _Converter(html2text.HTML2Text):
    """html2text with our options, that gives up past MAX_NESTING or MAX_OUTPUT_CHARS."""

    def __init__(self) -> None:
        super().__init__(bodywidth=0)
        self.ignore_images = True
        self.ignore_emphasis = True
        self.unicode_snob = True
        self.written = 0

    def handle_tag(self, tag: str, attrs: dict[str, str | None], start: bool) -> None:
        super().handle_tag(tag, attrs, start)
        if len(self.list) + self.blockquote > MAX_NESTING:
            raise TooComplex(f"lists and quotes nested deeper than {MAX_NESTING}")

    def outtextf(self, s: str) -> None:
        self.written += len(s)
        if self.written > MAX_OUTPUT_CHARS:
            raise TooComplex(f"more than {MAX_OUTPUT_CHARS} characters of text")
        super().outtextf(s)


def simplify(markup: str, limit: int) -> str | None:
    """`markup` as plain tags and text that html.parser reads in one pass (see above);
    None when it has more than `limit` tags, comments and declarations."""
    out: list[str] = []
    done = 0
    token = _TOKEN.search(markup)
    while token is not None:
        if len(out) > 2 * limit:
            return None
        out.append(markup[done : token.start()].translate(_ANGLE))
        done = token.end()
        name = (token.group(2) or "").lower()
        if name:
            out.append(_tag(token.group(1), name, token.group(3)))
        if name in _RAW_TEXT and not token.group(1):
            done = _closing(markup, name, done)
        token = _TOKEN.search(markup, done)
    out.append(markup[done:].translate(_ANGLE))
    return "".join(out)


def _tag(slash: str, name: str, rest: str) -> str:
    """One tag rebuilt: its name and the kept attributes, quoted."""
    if slash:
        return f"</{name}>"
    kept = "".join(
        f' {key}="{"".join(values).translate(_QUOTED)}"'
        for key, *values in _attributes(rest)
        if key in _KEPT_ATTRIBUTES
    )
    return f"<{name}{kept}{'/' if rest.rstrip().endswith('/') else ''}>"


def _attributes(rest: str) -> list[tuple[str, str, str, str]]:
    """(lower-cased name, and the value in one of three slots) of each attribute."""
    return [
        (m.group(1).lower(), m.group(2) or "", m.group(3) or "", m.group(4) or "")
        for m in _ATTRIBUTE.finditer(rest)
    ]


def strip_tags(markup: str) -> str:
    """Crude text of HTML: no scripts, styles or tags, entities decoded; linear time."""
    kept: list[str] = []
    done = 0
    for opening in _RAW_TEXT_TAG.finditer(markup):
        if opening.start() >= done:
            kept.append(markup[done : opening.start()])
            done = _closing(markup, opening.group(1).lower(), opening.end())
    kept.append(markup[done:])
    return html.unescape(_TAG.sub(" ", "".join(kept)))


def _closing(markup: str, name: str, start: int) -> int:
    """Where `</name` next starts in `markup` from `start` (any case), else its end.

    Searched in `markup` itself: positions in `markup.lower()` are not positions in
    `markup` (lower-casing "İ" gives two characters)."""
    found = _CLOSING[name].search(markup, start)
    return found.start() if found is not None else len(markup)

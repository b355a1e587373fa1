"""format=flowed (RFC 3676) decoding (pure): soft line breaks joined back into paragraphs.

Thunderbird, Apple Mail and others send plain text as ``format=flowed``: a long line
is cut at spaces into lines that end in a space (a *soft* break); a line that does not
end in a space ends its paragraph. `decode_flowed` undoes this (RFC 3676 §4):

- quote depth: the ``>`` marks at the very start of a line; a flowed line followed by
  a line of another depth ends its paragraph (§4.5), and so does the last line;
- space-stuffing: one space right after the quote marks (or at the start of an
  unquoted line) is removed (§4.4);
- ``DelSp=yes``: the space that marks a soft break is removed when joining (§4.2);
  without it the space stays part of the text;
- the signature separator ``-- `` is neither flowed nor fixed (§4.3): it stands on
  its own line and ends the paragraph before it.

A decoded quoted paragraph is written back as its ``>`` marks, one space and the text,
so quoted history stays recognisable. Runs in time linear in the text.
"""

from __future__ import annotations

from email.message import Message

SIGNATURE_SEPARATOR = "-- "


def _split_quote(line: str) -> tuple[int, str]:
    """(quote depth, text without the marks and without one stuffed space)."""
    depth = len(line) - len(line.lstrip(">"))
    text = line[depth:]
    return depth, text[1:] if text.startswith(" ") else text


def _paragraph(depth: int, pieces: list[str]) -> str:
    text = "".join(pieces)
    return f"{'>' * depth} {text}" if depth and text else ">" * depth + text


def decode_flowed(text: str, delsp: bool = False) -> str:
    """`text` (CRLF or LF line ends) of a format=flowed part, one line per paragraph."""
    out: list[str] = []
    pieces: list[str] = []
    depth, open_paragraph = 0, False
    for line in text.replace("\r\n", "\n").split("\n"):
        line_depth, content = _split_quote(line)
        separator = content == SIGNATURE_SEPARATOR
        if open_paragraph and (line_depth != depth or separator):
            out.append(_paragraph(depth, pieces))  # the flowed line is taken as fixed
            open_paragraph = False
        if not open_paragraph:
            depth, pieces = line_depth, []
        flowed = content.endswith(" ") and not separator
        pieces.append(content[:-1] if flowed and delsp else content)
        open_paragraph = flowed
        if not flowed:
            out.append(_paragraph(depth, pieces))
    if open_paragraph:
        out.append(_paragraph(depth, pieces))
    return "\n".join(out)


def flowed_params(part: Message) -> tuple[bool, bool]:
    """(format=flowed, DelSp=yes) of a text part's Content-Type; never raises."""
    try:
        fmt = part.get_param("format", "fixed")
        delsp = part.get_param("delsp", "no")
    except Exception:
        return False, False
    return _word(fmt) == "flowed", _word(delsp) == "yes"


def _word(value: object) -> str:
    if isinstance(value, tuple):  # an RFC 2231 value: (charset, language, text)
        value = value[2]
    return str(value).strip().strip('"').lower()


def unflow_part(part: Message, text: str) -> str:
    """`text` decoded from `part` (a text/plain leaf), unflowed when the part says flowed."""
    flowed, delsp = flowed_params(part)
    return decode_flowed(text, delsp) if flowed else text

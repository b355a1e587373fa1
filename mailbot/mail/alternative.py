"""A multipart/alternative mail as bytes: a text/plain part, then a text/html part (pure).

Written by hand like `mailbot.mail.assembly.text_mail`, from its helpers: each header is
one field (``Name: value``, folded with ``"\\n "``) and refused unless printable ASCII
on lines of at most 998 octets; both parts are UTF-8 in quoted-printable with CRLF line
ends. A reader shows the last part it can (the HTML), the text part otherwise (RFC 2046
§5.1.4). The boundary is derived from the parts' content and starts with ``=_``, which
quoted-printable text never holds, so no part can contain it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from mailbot.mail.assembly import MAX_LINE_OCTETS, MailInputError, check_lines, quoted_printable

_FIELD = re.compile(r"[!-9;-~]+:[ -~]*(?:\n [ -~]*[!-~])*")
_PART_HEADERS = (
    'Content-Type: text/{subtype}; charset="utf-8"\r\n'
    "Content-Transfer-Encoding: quoted-printable\r\n"
)


def boundary_for(text: str, html: str) -> str:
    """``=_mailbot_alt_`` and 32 hex digits of the parts' sha256."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00" + html.encode("utf-8", "surrogatepass"))
    return f"=_mailbot_alt_{digest.hexdigest()[:32]}"


def alternative_mail(fields: Sequence[str], text: str, html: str) -> bytes:
    """The mail: `fields` in order, then multipart/alternative of `text` and `html`.

    Raises MailInputError naming a field that is not ``Name: value`` in printable ASCII
    with continuation lines only, or has a line longer than 998 octets; `check_lines`
    has the last word on the whole mail.
    """
    for one in fields:
        if not _FIELD.fullmatch(one) or max(map(len, one.split("\n"))) > MAX_LINE_OCTETS:
            raise MailInputError(f"unsafe header field {one[:200]!r}")
    boundary = boundary_for(text, html)
    head = "\r\n".join(one.replace("\n", "\r\n") for one in fields)
    parts = [
        f'{head}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"'
        "\r\n\r\n",
        # The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1): one more
        # keeps the part's own last line break.
        f"--{boundary}\r\n{_PART_HEADERS.format(subtype='plain')}\r\n{quoted_printable(text)}\r\n",
        f"--{boundary}\r\n{_PART_HEADERS.format(subtype='html')}\r\n{quoted_printable(html)}\r\n",
        f"--{boundary}--\r\n",
    ]
    return check_lines("".join(parts).encode("ascii"))

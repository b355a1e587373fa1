"""Which parts of a staff mail are attachments the sender meant to send (pure).

A staff reply carries more than the files its writer attached: the images of their
signature (Outlook's image001.png, Thunderbird's and Apple Mail's logos, Gmail's
inline images), a TNEF copy of the whole message (winmail.dat), an S/MIME or OpenPGP
signature with the writer's certificate or key, a business card. None of that may
reach a reporter. `deliberate_parts` keeps a leaf only when it is a deliberate
attachment, by these rules, first match wins:

1. a multipart or message/* part, or anything inside an attached message: never;
2. a type or name that mail programs add by themselves (`AUTOMATIC_TYPES`,
   `AUTOMATIC_NAMES`, a ``.vcf`` business card): never;
3. a non-root part of a multipart/related (the resources its HTML shows) with a
   Content-ID or Content-Location: never;
4. ``Content-Disposition: attachment``: yes;
5. ``Content-Disposition: inline`` (shown in the text, signature images included): no;
6. no disposition but a Content-ID (a resource the HTML refers to): no;
7. no disposition and a declared file name: yes; else no.

The walk is iterative, in document order, bounded in depth and number of parts.
"""

from __future__ import annotations

from email.message import Message

from mailbot.mail.decoding import content_type, declared_filename, sub_parts

AUTOMATIC_TYPES = frozenset(
    {
        "application/ms-tnef",
        *("application/pkcs7-signature", "application/x-pkcs7-signature"),
        *("application/pkcs7-mime", "application/x-pkcs7-mime"),
        *("application/pgp-signature", "application/pgp-keys", "application/pgp-encrypted"),
        *("text/vcard", "text/x-vcard", "text/directory"),
    }
)
AUTOMATIC_NAMES = frozenset({"winmail.dat", "smime.p7s", "smime.p7m", "signature.asc"})


def _header(part: Message, name: str) -> bool:
    try:
        return part.get(name) is not None
    except Exception:
        return False


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _automatic(kind: str, name: str | None) -> bool:
    lowered = (name or "").strip().lower()
    return kind in AUTOMATIC_TYPES or lowered in AUTOMATIC_NAMES or lowered.endswith(".vcf")


def is_deliberate(part: Message, related: bool) -> bool:
    """True for a leaf the sender attached on purpose (`related`: a non-root part of a
    multipart/related, or inside one)."""
    kind = content_type(part)
    if kind.startswith(("multipart/", "message/")):
        return False
    name = declared_filename(part)
    if _automatic(kind, name):
        return False
    has_id = _header(part, "content-id")
    if related and (has_id or _header(part, "content-location")):
        return False
    disposition = _disposition(part)
    if disposition is not None:
        return disposition == "attachment"
    return not has_id and name is not None


def _root_index(part: Message, children: list[Message]) -> int:
    """The root of a multipart/related: the child named by `start`, else the first."""
    try:
        start = part.get_param("start")
    except Exception:
        start = None
    if isinstance(start, str):
        wanted = start.strip().strip("<>").strip()
        for index, child in enumerate(children):
            if str(child.get("content-id", "")).strip().strip("<>").strip() == wanted:
                return index
    return 0


def deliberate_parts(root: Message, max_parts: int, max_depth: int) -> list[Message]:
    """The leaves of `root` that are deliberate attachments, in document order."""
    found: list[Message] = []
    stack: list[tuple[Message, int, bool]] = [(root, 0, False)]
    seen = 0
    while stack and seen < max_parts:
        part, depth, related = stack.pop()
        seen += 1
        children = sub_parts(part)
        if children is None:
            if is_deliberate(part, related):
                found.append(part)
            continue
        if content_type(part).startswith("message/") or depth >= max_depth:
            continue  # an attached mail is never taken apart for the reporter
        is_related = content_type(part) == "multipart/related"
        root_at = _root_index(part, children) if is_related else -1
        inner = [
            (c, depth + 1, related or (is_related and i != root_at)) for i, c in enumerate(children)
        ]
        stack += reversed(inner)
    return found

"""The MIME tree of a parsed message walked in document order, bounded in depth and
count; which leaves are attachments; and which Message-IDs a delivery report returns as
failed (read receipts and delayed/delivered reports name none)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from mailbot.mail.bodies import decoded
from mailbot.mail.decoding import (
    content_type,
    declared_filename,
    param_text,
    safe_parser,
    sub_parts,
    unfold,
)
from mailbot.mail.headers import first_id

MAX_HEADER_BLOCK = 256 * 1024
MAX_DEPTH = 40
MAX_PARTS = 1000
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})


@dataclass(frozen=True)
class MimeNode:
    """One part of the MIME tree, in document order."""

    part: Message
    content_type: str
    embedded: bool
    """Inside an attached or returned message (message/rfc822)."""
    leaf: bool


def walk(root: Message, defects: list[str]) -> list[MimeNode]:
    """Every part, depth first, without recursion; bounded in depth and count.

    Machine-readable message/* parts (delivery-status and the like) are not entered.
    """
    nodes: list[MimeNode] = []
    stack: list[tuple[Message, int, bool]] = [(root, 0, False)]
    while stack:
        if len(nodes) >= MAX_PARTS:
            defects.append("too_many_parts")
            break
        part, depth, embedded = stack.pop()
        kind = content_type(part)
        sub = sub_parts(part)
        if sub is None:
            nodes.append(MimeNode(part, kind, embedded, leaf=True))
            continue
        nodes.append(MimeNode(part, kind, embedded, leaf=False))
        if kind.startswith("message/") and kind not in _MESSAGE_TYPES:
            continue
        if depth >= MAX_DEPTH:
            defects.append("nesting_too_deep")
            continue
        inner = embedded or kind in _MESSAGE_TYPES
        stack += [(c, depth + 1, inner) for c in reversed(sub)]
    return nodes


def is_attachment(node: MimeNode) -> bool:
    """Leaves marked as attachment or named, and every leaf that is not text."""
    if not node.leaf or node.content_type.startswith(("multipart/", "message/")):
        return False
    try:
        disposition = node.part.get_content_disposition()
    except Exception:
        disposition = None
    if disposition == "attachment" or declared_filename(node.part) is not None:
        return True
    return not node.content_type.startswith("text/")


def bounced_ids(top_type: str, nodes: list[MimeNode]) -> tuple[str, ...]:
    """Message-IDs of the returned original in a delivery report that says "failed"."""
    outer = [node for node in nodes if not node.embedded]
    statuses = [node.part for node in outer if node.content_type in _STATUS_TYPES]
    if top_type != "multipart/report" and not statuses:
        return ()
    if _not_a_failure(top_type, nodes[0].part, statuses):
        return ()
    found: dict[str, None] = {}
    for node in outer:
        msgid = first_id(_returned_message_ids(node))
        if msgid is not None:
            found.setdefault(msgid)
    return tuple(found)


def _not_a_failure(top_type: str, root: Message, statuses: list[Message]) -> bool:
    """True for read receipts and for delivery reports that only say delayed/delivered."""
    value = root.get_param("report-type")
    report_type = "" if value is None else param_text(value, []).lower()
    if top_type == "multipart/report" and report_type == "disposition-notification":
        return True
    actions = [
        unfold(value).lower()
        for status in statuses
        for block in sub_parts(status) or []
        for key, value in block.raw_items()
        if key.lower() == "action"
    ]
    return bool(actions) and not any(action.startswith("failed") for action in actions)


def _returned_message_ids(node: MimeNode) -> list[str]:
    """Raw Message-ID values of a returned message or returned header block."""
    if node.content_type == "text/rfc822-headers" and node.leaf:
        data = decoded(node.part)[:MAX_HEADER_BLOCK]
        inner: Message | None = safe_parser().parsebytes(data, headersonly=True)
    elif node.content_type in (*_MESSAGE_TYPES, "message/global-headers") and not node.leaf:
        sub = sub_parts(node.part)
        inner = sub[0] if sub else None
    else:
        return []
    if inner is None:
        return []
    return [unfold(value) for key, value in inner.raw_items() if key.lower() == "message-id"]

"""What `mailbot purge` scrubs, column by column (pure data; `store.purge` applies it).

Every column that can hold text or an identifier the sender chose, or one made from
it, loses it; tests/test_purge_columns.py says for every other column of every table why
it may stay, and fails when a migration adds a column it does not classify.
"""

from __future__ import annotations

PURGED = "(purged)"
"""What a scrubbed text field says instead."""

KEPT_EVENT_KINDS = frozenset(
    {"state_changed", "severity_changed", "reward_changed", "waiting_changed", "purged"}
)
"""Events whose detail holds no personal data (also every kind starting with "clock_")."""

MEDIA_TYPES = frozenset(
    {"application", "audio", "font", "haptics", "image", "message", "model", "multipart"}
    | {"text", "video"}
)
"""Registered top-level media types: all a purged attachment's content type keeps."""

NOTICE_KEY_DAYS = 31
"""A notice of no case keeps its key this long at least, whatever the retention: the key
stops a second digest, closure warning or flood alert while its day or window lasts."""

_P = f"'{PURGED}'"
_KEPT = ", ".join(f"'{kind}'" for kind in sorted(KEPT_EVENT_KINDS))
_TYPES = ", ".join(f"'{kind}'" for kind in sorted(MEDIA_TYPES))
_TOP = "substr(content_type, 1, instr(content_type, '/') - 1)"

#: A purged outbox row's Message-ID: it holds a space, so no Message-ID of an inbound mail
#: (References, a bounce) equals it; a copy of one of our Message-IDs becomes its row's.
_OUTBOX_ID = f"'{PURGED} ' || id"
_OUR_ID = (
    f"COALESCE((SELECT '{PURGED} ' || o.id FROM outbox o"  # noqa: S608 - our constants
    f" WHERE o.message_id = {{}}), {_P})"
)
#: The purged outbox row named by a stand-in (looked up by its id, not scanned for).
_NAMED_ROW = (
    f"(SELECT '{PURGED} ' || o.id FROM outbox o"  # noqa: S608 - our constants
    f" WHERE o.id = CAST(substr({{0}}, {len(PURGED) + 2}) AS INTEGER))"
)


def _gone(column: str, empty: str = "NULL") -> tuple[str, str]:
    """A column emptied: NULL, '' or '[]'."""
    held = f"{column} IS NOT NULL" if empty == "NULL" else f"{column} != {empty}"
    return empty, held


def _text(column: str) -> tuple[str, str]:
    """A text column that says "(purged)" instead (a NULL stays NULL)."""
    return _P, f"{column} != {_P}"


def _our_id(table: str, column: str) -> tuple[str, str]:
    """A copy of one of our outgoing Message-IDs, which may hash sender data (a flood key)."""
    name = f"[{table}].[{column}]"  # inside a subquery on the outbox
    return _OUR_ID.format(name), f"{name} != {_P} AND {name} IS NOT {_NAMED_ROW.format(name)}"


#: table → column → (new value, "still holds data" condition). A column changes only
#: while its condition holds and a row only while one does, so purging twice changes
#: nothing and a dry run counts the rows the real run changes. A column is done only when
#: it holds exactly its stand-in, so no sender value passes for one. Every value is
#: evaluated on the row as it was before the UPDATE.
SCRUB: dict[str, dict[str, tuple[str, str]]] = {
    "cases": {
        "reporter_email": _gone("reporter_email"),
        "reporter_name": _gone("reporter_name", "''"),
        "reporter_phone": _gone("reporter_phone"),
        "reporter_key": _gone("reporter_key"),
        "subject": _text("subject"),
        "affected": _gone("affected", "'[]'"),
        "related": _gone("related", "'[]'"),
        "close_reason": _text("close_reason"),
    },
    "messages": {
        "message_id": _gone("message_id"),
        "from_address": _gone("from_address"),
        "from_name": _gone("from_name", "''"),
        "subject": _text("subject"),
        "reason": _text("reason"),
        "raw": _gone("raw"),
        "content_sha256": _gone("content_sha256"),
    },
    "attachments": {
        "filename": _text("filename"),
        "sha256": _gone("sha256", "''"),
        "content_type": (
            f"CASE WHEN {_TOP} IN ({_TYPES}) THEN {_TOP} ELSE {_P} END",
            f"content_type NOT IN ({_TYPES}, {_P})",
        ),
    },
    "clocks": {"met_by": _our_id("clocks", "met_by")},
    "notices": {
        "key": (f"'{PURGED}:' || rowid", f"key != '{PURGED}:' || rowid"),
        "message_id": _our_id("notices", "message_id"),
    },
    "outbox_recipients": {"address": _text("address"), "mailbox": _text("mailbox")},
    "outbox": {
        "message_id": (_OUTBOX_ID, f"message_id != {_OUTBOX_ID}"),
        "raw": _gone("raw"),
        "recipients": _gone("recipients", "'[]'"),
        "subject": _text("subject"),
        "reason": (_P, f"reason NOT IN ('', {_P})"),
    },
    "events": {
        "detail": (
            _P,
            f"detail != {_P} AND kind NOT IN ({_KEPT}) AND kind NOT LIKE 'clock\\_%' ESCAPE '\\'",
        ),
    },
}


def _compiled(columns: dict[str, tuple[str, str]]) -> tuple[str, str]:
    setting = ", ".join(
        f"[{c}] = CASE WHEN {held} THEN {value} ELSE [{c}] END"
        for c, (value, held) in columns.items()
    )
    return setting, " OR ".join(f"({held})" for _, held in columns.values())


RULES: dict[str, tuple[str, str]] = {t: _compiled(columns) for t, columns in SCRUB.items()}
"""table → (SET clause, "the row still holds data" condition): `SCRUB` as SQL."""

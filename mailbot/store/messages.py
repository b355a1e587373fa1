"""The inbound messages: what intake recorded, and whether it saw the bytes before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailbot.store.db import Connection
from mailbot.store.rows import InboundMessage, RecordedItem, SameIdMessage, StoredMessage

_MESSAGE_FIELDS = (
    "id, message_id, sha256, content_sha256, size, from_address, subject, received_at,"
    " disposition, reason, case_id, named_case, mailbox_key"
)

#: The columns of an `InboundMessage`, in order.
_INBOUND_FIELDS = (
    "id, message_id, from_address, subject, received_at, disposition, reason,"
    " COALESCE(case_id, named_case), size, sha256"
)


class MessageStore(Connection):
    """Reads and writes of the messages (and attachments) tables."""

    def message_by_sha(self, sha256: str) -> InboundMessage | None:
        """The first recorded message with these exact raw bytes, if any (`message_raw`: them)."""
        sql = f"SELECT {_INBOUND_FIELDS} FROM messages WHERE sha256 = ? ORDER BY id LIMIT 1"  # noqa: S608
        row = self.db.execute(sql, [sha256]).fetchone()
        return _inbound(row) if row is not None else None

    def raw_kept(self, sha256: str) -> bool:
        """True when the bytes of a message with this sha256 are kept already (not purged)."""
        found = self.db.execute(
            "SELECT 1 FROM messages WHERE sha256 = ? AND raw IS NOT NULL LIMIT 1", [sha256]
        )
        return found.fetchone() is not None

    def seen_sha(self, sha256: str) -> bool:
        """True when a message with these exact raw bytes was recorded before."""
        found = self.db.execute("SELECT 1 FROM messages WHERE sha256 = ? LIMIT 1", [sha256])
        return found.fetchone() is not None

    def message_by_item(self, mailbox_key: str, sha256: str) -> RecordedItem | None:
        """The message recorded from this very mailbox item (same key, same bytes), if any."""
        row = self.db.execute(
            "SELECT id, disposition, case_id, message_id, reason FROM messages"
            " WHERE mailbox_key = ? AND sha256 = ? ORDER BY id LIMIT 1",
            [mailbox_key, sha256],
        ).fetchone()
        return RecordedItem(*row) if row is not None else None

    def messages_with_id(self, message_id: str, limit: int = 20) -> list[SameIdMessage]:
        """The earliest recorded messages with this Message-ID (sender and content digests)."""
        sql = (
            "SELECT id, from_address, content_sha256 FROM messages"
            " WHERE message_id = ? ORDER BY id LIMIT ?"
        )
        return [SameIdMessage(*r) for r in self.db.execute(sql, [message_id, limit])]

    def message_raw(self, rowid: int) -> bytes | None:
        """The raw bytes kept for message `rowid` (None when not kept)."""
        row = self.db.execute("SELECT raw FROM messages WHERE id = ?", [rowid]).fetchone()
        return bytes(row[0]) if row is not None and row[0] is not None else None

    def record_message(self, row: dict[str, Any], attachments: list[dict[str, Any]]) -> int:
        """Insert one inbound message (and its attachment metadata); returns its row id."""
        rowid = self._insert("messages", row)
        for attachment in attachments:
            self._insert("attachments", {**attachment, "message": rowid})
        return rowid

    def forget_message(self, rowid: int) -> None:
        """Delete message `rowid` and its attachment rows (`mailbot release` records the
        message anew; call inside the transaction that does)."""
        self.db.execute("DELETE FROM attachments WHERE message = ?", [rowid])
        self.db.execute("DELETE FROM messages WHERE id = ?", [rowid])

    def messages(self) -> list[InboundMessage]:
        """Every inbound message, oldest first (without raw bytes)."""
        sql = f"SELECT {_INBOUND_FIELDS} FROM messages ORDER BY received_at, id"  # noqa: S608
        return [_inbound(r) for r in self.db.execute(sql)]

    def messages_of_case(self, case_id: str) -> list[InboundMessage]:
        """Inbound messages recorded on a case, oldest first (without raw bytes)."""
        sql = (
            f"SELECT {_INBOUND_FIELDS} FROM messages"  # noqa: S608
            " WHERE case_id = ? ORDER BY received_at, id"
        )
        return [_inbound(r) for r in self.db.execute(sql, [case_id])]

    def messages_by_ref(self, message_id: str, sha_prefix: str = "") -> list[StoredMessage]:
        """Messages with this Message-ID, else (given `sha_prefix`) those whose sha256 starts
        with it, oldest first, with their raw bytes (at most 20)."""
        fields = f"SELECT {_INBOUND_FIELDS}, raw FROM messages"  # noqa: S608
        rows = self.db.execute(
            f"{fields} WHERE message_id = ? ORDER BY id LIMIT 20", [message_id]
        ).fetchall()
        if not rows and sha_prefix:
            sql = f"{fields} WHERE substr(sha256, 1, ?) = ? ORDER BY id LIMIT 20"
            rows = self.db.execute(sql, [len(sha_prefix), sha_prefix]).fetchall()
        return [
            StoredMessage(**vars(_inbound(r[:-1])), raw=None if r[-1] is None else bytes(r[-1]))
            for r in rows
        ]


def _inbound(row: tuple[Any, ...]) -> InboundMessage:
    """An InboundMessage of a row of _INBOUND_FIELDS."""
    rowid, message_id, sender, subject, received_at, disposition, reason, case, size, sha = row
    return InboundMessage(
        id=rowid,
        message_id=message_id,
        from_address=sender,
        subject=subject,
        received_at=datetime.fromisoformat(received_at),
        disposition=disposition,
        reason=reason,
        case_id=case,
        size=size,
        sha256=sha,
    )

"""The outbox: rendered mails waiting to be sent, sent, failed or suppressed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from mailbot.core.bounces import BouncedMail
from mailbot.core.models import OutgoingMail
from mailbot.mail.contacts import mailbox_of
from mailbot.store.db import Connection
from mailbot.store.rows import OutboxEntry, OutboxRow
from mailbot.store.schema import from_iso, iso


class OutboxStore(Connection):
    """Reads and writes of the outbox (and outbox_recipients) tables."""

    def enqueue(
        self, mail: OutgoingMail, now: datetime, status: str = "queued", reason: str = ""
    ) -> bool:
        """Put one rendered mail in the outbox (status "suppressed" records without sending).

        Returns False, writing nothing, when a mail with its Message-ID is there already:
        every Message-ID is a hash of everything that makes the mail what it is, so the
        same ID is the same mail (one flood alert a day), and never a reason to fail.
        """
        taken = self.db.execute(
            "SELECT 1 FROM outbox WHERE message_id = ?", [mail.message_id]
        ).fetchone()
        if taken is not None:
            return False
        rowid = self._insert(
            "outbox",
            {
                "message_id": mail.message_id,
                "case_id": mail.case_id,
                "kind": mail.kind,
                "sender": mail.sender,
                "recipients": json.dumps(list(mail.recipients)),
                "subject": mail.subject,
                "raw": mail.raw,
                "automatic": int(mail.automatic),
                "status": status,
                "reason": reason,
                "next_attempt_at": iso(now),
                "created_at": iso(now),
            },
        )
        for address in mail.recipients:
            row = {"outbox": rowid, "address": address, "mailbox": mailbox_of(address)}
            self._insert(
                "outbox_recipients",
                {**row, "automatic": int(mail.automatic), "created_at": iso(now)},
            )
        return True

    def automatic_mails_since(self, address: str, since: datetime) -> int:
        """Automatic mails (queued or sent, not suppressed) to the mailbox of `address`.

        Sub-addresses count together: `victim+1@…` and `victim+2@…` are one mailbox.
        """
        row = self.db.execute(
            "SELECT COUNT(*) FROM outbox_recipients r JOIN outbox o ON o.id = r.outbox"
            " WHERE r.mailbox = ? AND r.automatic = 1 AND r.created_at >= ?"
            " AND o.status != 'suppressed'",
            [mailbox_of(address), iso(since)],
        ).fetchone()
        return int(row[0])

    def due_outbox(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Queued mails whose next attempt is due, oldest first."""
        rows = self.db.query(
            "SELECT * FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?"
            " ORDER BY id LIMIT ?",
            [iso(now), limit],
        )
        return [_decoded(OutboxRow, r) for r in rows]

    def outbox_update(self, outbox_id: int, **values: Any) -> None:
        """Change an outbox row (status, attempts, next_attempt_at, reason, sent_at)."""
        self._update("outbox", "id", outbox_id, values)

    def outbox_by_message_ids(self, message_ids: tuple[str, ...]) -> list[BouncedMail]:
        """Our outgoing mails with these Message-IDs (named by a delivery report)."""
        if not message_ids:
            return []
        sql = (
            "SELECT id, message_id, case_id, kind, recipients FROM outbox"
            " WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY id"
        )
        found = self.db.execute(sql, [json.dumps(list(message_ids))])
        return [BouncedMail(i, m, c, k, tuple(json.loads(r))) for i, m, c, k, r in found]

    def outbox_of_case(self, case_id: str) -> list[OutboxEntry]:
        """Outgoing mails of one case, oldest first (without raw bytes)."""
        sql = (
            "SELECT id, message_id, case_id, kind, sender, recipients, subject, NULL AS raw,"
            " automatic, status, reason, attempts, next_attempt_at, created_at, sent_at"
            " FROM outbox WHERE case_id = ? ORDER BY id"
        )
        return [_decoded(OutboxEntry, r) for r in self.db.query(sql, [case_id])]

    def outbox_raw(self, outbox_id: int) -> bytes | None:
        """The raw bytes of outgoing mail `outbox_id` (None when unknown or purged)."""
        row = self.db.execute("SELECT raw FROM outbox WHERE id = ?", [outbox_id]).fetchone()
        return bytes(row[0]) if row is not None and row[0] is not None else None

    def outbox_all(self) -> list[OutboxEntry]:
        """Every outgoing mail, oldest first (with raw bytes)."""
        return [_decoded(OutboxEntry, r) for r in self.db.query("SELECT * FROM outbox ORDER BY id")]


_Row = TypeVar("_Row", OutboxRow, OutboxEntry)


def _decoded(kind: type[_Row], row: Mapping[str, Any]) -> _Row:
    """A `kind` of an outbox row: its fields' columns, recipients (JSON) and moments decoded."""
    values = {f.name: row[f.name] for f in fields(kind)}
    values["recipients"] = tuple(json.loads(row["recipients"]))
    for name in ("created_at", "sent_at", "next_attempt_at"):
        if name in values:
            values[name] = from_iso(values[name])
    if "automatic" in values:
        values["automatic"] = bool(values["automatic"])
    return kind(**values)

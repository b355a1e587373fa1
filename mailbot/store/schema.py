"""The database schema (migrations), stored moments (`iso`/`from_iso`) and a case's row.

The shapes the reads return are in `mailbot.store.rows`; `OutboxRow` is also importable
from here, where the sender has always found it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from mailbot.core.models import Case, CaseState
from mailbot.store.rows import OutboxRow

__all__ = ["MIGRATIONS", "OutboxRow", "case_to_row", "from_iso", "iso", "row_to_case"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cases (
        id TEXT PRIMARY KEY, year INTEGER NOT NULL, seq INTEGER NOT NULL,
        state TEXT NOT NULL, subject TEXT NOT NULL,
        reporter_email TEXT, reporter_name TEXT NOT NULL DEFAULT '', reporter_phone TEXT,
        source TEXT NOT NULL, relay_sender TEXT, language TEXT NOT NULL,
        affected TEXT NOT NULL DEFAULT '[]', flags TEXT NOT NULL DEFAULT '[]',
        waiting INTEGER NOT NULL DEFAULT 0, assignee TEXT, severity TEXT,
        reward TEXT NOT NULL DEFAULT 'undecided', close_reason TEXT,
        received_at TEXT NOT NULL, ontvangstdag TEXT,
        ack_due TEXT, ack_explanation TEXT NOT NULL DEFAULT '',
        response_due TEXT, response_explanation TEXT NOT NULL DEFAULT '',
        acknowledged_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        UNIQUE (year, seq)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY, message_id TEXT, sha256 TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL, from_address TEXT, from_name TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '', received_at TEXT NOT NULL,
        disposition TEXT NOT NULL, reason TEXT NOT NULL, case_id TEXT REFERENCES cases(id),
        named_case TEXT,
        mailbox_key TEXT, raw BLOB, recorded_at TEXT NOT NULL
    );
    CREATE INDEX messages_message_id ON messages(message_id);
    CREATE INDEX messages_case ON messages(case_id);
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY, message INTEGER NOT NULL REFERENCES messages(id),
        filename TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL,
        sha256 TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY, case_id TEXT REFERENCES cases(id), at TEXT NOT NULL,
        actor TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_case ON events(case_id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, case_id TEXT,
        kind TEXT NOT NULL, sender TEXT NOT NULL, recipients TEXT NOT NULL,
        subject TEXT NOT NULL, raw BLOB, automatic INTEGER NOT NULL,
        status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT,
        created_at TEXT NOT NULL, sent_at TEXT
    );
    CREATE INDEX outbox_status ON outbox(status, next_attempt_at);
    CREATE INDEX outbox_case ON outbox(case_id);
    CREATE TABLE outbox_recipients (
        outbox INTEGER NOT NULL REFERENCES outbox(id), address TEXT NOT NULL,
        automatic INTEGER NOT NULL, created_at TEXT NOT NULL
    );
    CREATE INDEX outbox_recipients_address ON outbox_recipients(address, created_at);
    CREATE TABLE mailbox_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE clocks (
        id INTEGER PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id),
        name TEXT NOT NULL, due TEXT NOT NULL, explanation TEXT NOT NULL,
        started_at TEXT NOT NULL, met_at TEXT, met_by TEXT, missed_at TEXT, done_at TEXT,
        UNIQUE (case_id, name, due)
    );
    CREATE INDEX clocks_open ON clocks(done_at, due);
    CREATE INDEX clocks_case ON clocks(case_id, name);
    CREATE TABLE notices (
        key TEXT PRIMARY KEY, kind TEXT NOT NULL, case_id TEXT, message_id TEXT,
        sent_at TEXT NOT NULL
    );
    """,
    # The open clocks by due, covering what the scheduler filters on (`Store.open_clocks`).
    """
    CREATE INDEX clocks_open_due ON clocks(due, id, case_id, name, missed_at)
        WHERE done_at IS NULL;
    """,
    # A byte-identical copy is a new mailbox item with an entry of its own (sha256 no longer
    # unique); `content_sha256` tells a re-delivery (same content, other trace headers) from
    # a Message-ID collision. Recipients are counted per mailbox (sub-addresses together).
    """
    CREATE TABLE messages_v4 (
        id INTEGER PRIMARY KEY, message_id TEXT, sha256 TEXT NOT NULL,
        size INTEGER NOT NULL, from_address TEXT, from_name TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '', received_at TEXT NOT NULL,
        disposition TEXT NOT NULL, reason TEXT NOT NULL, case_id TEXT REFERENCES cases(id),
        named_case TEXT,
        mailbox_key TEXT, raw BLOB, recorded_at TEXT NOT NULL, content_sha256 TEXT
    );
    INSERT INTO messages_v4 (id, message_id, sha256, size, from_address, from_name, subject,
        received_at, disposition, reason, case_id, named_case, mailbox_key, raw, recorded_at)
        SELECT id, message_id, sha256, size, from_address, from_name, subject, received_at,
        disposition, reason, case_id, named_case, mailbox_key, raw, recorded_at FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v4 RENAME TO messages;
    CREATE INDEX messages_message_id ON messages(message_id);
    CREATE INDEX messages_case ON messages(case_id);
    CREATE INDEX messages_sha256 ON messages(sha256);
    CREATE INDEX messages_mailbox_key ON messages(mailbox_key);
    ALTER TABLE outbox_recipients ADD COLUMN mailbox TEXT;
    UPDATE outbox_recipients SET mailbox = lower(
        CASE WHEN instr(substr(address, 1, instr(address, '@')), '+') > 1
        THEN substr(address, 1, instr(address, '+') - 1) || substr(address, instr(address, '@'))
        ELSE address END);
    CREATE INDEX outbox_recipients_mailbox ON outbox_recipients(mailbox, created_at);
    DROP INDEX outbox_recipients_address;
    """,
    # What `purge` looks up per case (without them a purge grows with the square of cases).
    """
    CREATE INDEX attachments_message ON attachments(message);
    CREATE INDEX outbox_recipients_outbox ON outbox_recipients(outbox);
    CREATE INDEX notices_case ON notices(case_id);
    """,
    # The reporter's OpenPGP public key (armoured), when known: answers are encrypted to it.
    """
    ALTER TABLE cases ADD COLUMN reporter_key TEXT;
    """,
    # Triage (issue 18): what the report lacks, the cases it is related to, a known finding.
    """
    ALTER TABLE cases ADD COLUMN missing TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE cases ADD COLUMN related TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE cases ADD COLUMN known_finding TEXT;
    """,
    # Related reports (issue 18): each case's systems (digests of normalised keys) and
    # the MinHash bands and signature of its text, so a new report is linked by index.
    """
    CREATE TABLE case_systems (case_id TEXT NOT NULL REFERENCES cases(id), system TEXT NOT NULL);
    CREATE INDEX case_systems_system ON case_systems(system);
    CREATE TABLE case_bands (band TEXT NOT NULL, case_id TEXT NOT NULL REFERENCES cases(id));
    CREATE INDEX case_bands_band ON case_bands(band);
    CREATE TABLE case_signatures (
        case_id TEXT PRIMARY KEY REFERENCES cases(id), signature BLOB NOT NULL
    );
    """,
)


CASE_JSON_FIELDS = ("affected", "flags", "missing", "related")


def iso(moment: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 text (stored in UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime reached the store: {moment!r}")
    return moment.isoformat()


def from_iso(text: str | None) -> datetime | None:
    """The inverse of `iso`."""
    return datetime.fromisoformat(text) if text else None


def case_to_row(case: Case) -> dict[str, Any]:
    """The cases row of `case` (dates as ISO text, tuples as JSON, states as values)."""
    row: dict[str, Any] = {}
    for name, value in case.__dict__.items():
        if isinstance(value, datetime):
            row[name] = iso(value)
        elif isinstance(value, date):
            row[name] = value.isoformat()
        elif name in CASE_JSON_FIELDS:
            row[name] = json.dumps(list(value))
        elif isinstance(value, bool):
            row[name] = int(value)
        else:
            row[name] = value.value if isinstance(value, CaseState) else value
    return row


def row_to_case(row: dict[str, Any]) -> Case:
    """The inverse of `case_to_row`."""
    fields = {k: row[k] for k in Case.__dataclass_fields__ if k in row}
    return Case(
        **{
            **fields,
            "state": CaseState(row["state"]),
            "received_at": from_iso(row["received_at"]),
            "ack_due": from_iso(row["ack_due"]),
            "response_due": from_iso(row["response_due"]),
            "acknowledged_at": from_iso(row["acknowledged_at"]),
            "ontvangstdag": date.fromisoformat(row["ontvangstdag"])
            if row["ontvangstdag"]
            else None,
            "waiting": bool(row["waiting"]),
            "affected": tuple(json.loads(row["affected"])),
            "flags": tuple(json.loads(row["flags"])),
            "missing": tuple(json.loads(row["missing"])),
            "related": tuple(tuple(pair) for pair in json.loads(row["related"])),
        }
    )

"""The SQLite store: one `Store` of the reads and writes of each concern (modules beside)."""

from __future__ import annotations

from mailbot.store.backup import BackupStore
from mailbot.store.bounces import BounceStore
from mailbot.store.cases import CaseStore
from mailbot.store.clocks import ClockStore
from mailbot.store.db import Connection, storage_error
from mailbot.store.figures import FigureStore
from mailbot.store.messages import MessageStore
from mailbot.store.outbox import OutboxStore
from mailbot.store.related import RelatedStore
from mailbot.store.restoring import RestoreStore

__all__ = ["Connection", "Store", "storage_error"]


class Store(
    MessageStore,
    CaseStore,
    OutboxStore,
    ClockStore,
    BounceStore,
    FigureStore,
    BackupStore,
    RestoreStore,
    RelatedStore,
):
    """All reads and writes of mailbot's SQLite database (`durable`: see `Connection`).

    `BounceStore` builds on `NoticeStore` (notices and mailbox state), so it is in here too.
    """

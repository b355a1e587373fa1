"""Outbox lanes: several SMTP connections side by side, each case's mail in order."""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SmtpTestServer
from factories import outgoing

from mailbot.core import config
from mailbot.core.errors import ConfigError
from mailbot.core.models import OutgoingMail
from mailbot.shell.clock import ManualClock
from mailbot.shell.outbox import Outbox, lane_of
from mailbot.shell.smtp import SmtpTransport
from mailbot.shell.wiring import build_service
from mailbot.store import Store
from mailbot.store.schema import OutboxRow

NOW = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
BOT = "meldpunt@gemeente.example"


def mail(to: str, n: int) -> OutgoingMail:
    """Mail number `n` to `to` (no case: its lane follows the recipients)."""
    message_id = f"m{n}.{to.split('@', maxsplit=1)[0]}@gemeente.example"
    return outgoing(message_id, f"bericht {n}", f"Bericht {n}.", to=to, auto_submitted=True)


def row(case_id: str | None, recipients: tuple[str, ...]) -> OutboxRow:
    """An outbox row with only the fields lanes look at filled in meaningfully."""
    return OutboxRow(
        id=1,
        message_id="x@gemeente.example",
        case_id=case_id,
        kind="alert",
        sender=BOT,
        recipients=recipients,
        subject="s",
        raw=b"",
        attempts=0,
        created_at=NOW,
    )


def test_lane_of_keeps_a_case_or_recipient_set_on_one_lane() -> None:
    """The lane depends on the case (else the recipients, in any order), never on the mail."""
    assert lane_of(row("MK-2026-0001", ("a@x.nl",)), 3) == lane_of(
        row("MK-2026-0001", ("b@y.nl", "c@z.nl")), 3
    )
    assert lane_of(row(None, ("a@x.nl", "b@y.nl")), 3) == lane_of(
        row(None, ("b@y.nl", "a@x.nl")), 3
    )
    lanes = {lane_of(row(f"MK-2026-{n:04d}", ()), 3) for n in range(1, 40)}
    assert lanes == {0, 1, 2}


def test_three_lanes_deliver_everything_in_order_per_recipient(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    """24 mails to 6 addresses over 3 connections: all arrive once, each address's in order."""
    store = Store(tmp_path / "mailbot.db")
    addresses = [f"r{k}@example.nl" for k in range(6)]
    for n in range(4):
        for to in addresses:
            store.enqueue(mail(to, n), NOW)
    transports = [
        SmtpTransport(smtp_server.host, smtp_server.port, "plain", None, None) for _ in range(3)
    ]
    outbox = Outbox(store, transports[0], ManualClock(NOW), lambda: None, transports[1:])  # type: ignore[arg-type, return-value]

    async def flush() -> int:
        counts = await outbox.deliver()
        await outbox.close()
        return counts.sent

    assert asyncio.run(flush()) == 24
    arrived = [email.message_from_bytes(data) for _, _, data in smtp_server.messages]
    for to in addresses:
        subjects = [str(m["Subject"]) for m in arrived if str(m["To"]) == to]
        assert subjects == [f"bericht {n}" for n in range(4)]
    assert smtp_server.connections == 3
    assert [r.status for r in store.outbox_all()] == ["sent"] * 24


def test_connections_setting_builds_that_many_lanes(tmp_path: Path) -> None:
    """[outbound] connections = 4 gives four SMTP lanes; Maildir output keeps one."""
    settings = config.embedded(tmp_path)
    smtp = replace(settings.outbound, transport="smtp", host="127.0.0.1", port=25, connections=4)
    service = build_service(replace(settings, outbound=smtp), ManualClock(NOW))
    assert len(service.outbox.lanes) == 4
    service.close()
    plain = build_service(settings, ManualClock(NOW))
    assert len(plain.outbox.lanes) == 1
    plain.close()


@pytest.mark.parametrize("value", [0, 11])
def test_connections_out_of_range_is_refused(tmp_path: Path, value: int) -> None:
    """connections outside 1-10 is a ConfigError naming the key and the value."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[identity]\naddress = "{BOT}"\n[mailbox]\nbackend = "maildir"\npath = "{tmp_path}/in"\n'
        f'[outbound]\ntransport = "smtp"\nhost = "127.0.0.1"\nconnections = {value}\n'
        f'[database]\npath = "{tmp_path}/db"\n'
    )
    with pytest.raises(ConfigError) as caught:
        config.load(path, secrets=False)
    assert f"[outbound] connections: 1 to 10, got {value}" in str(caught.value)


def test_two_connections_writing_from_two_threads_never_see_database_locked(
    tmp_path: Path,
) -> None:
    """Transactions of two connections in two threads wait for each other and all commit."""
    first, second = Store(tmp_path / "db"), Store(tmp_path / "db", durable=False)
    failures: list[BaseException] = []

    def write(store: Store, who: str) -> None:
        try:
            for n in range(200):
                with store.transaction():
                    store.add_event(None, NOW, who, "note", str(n))
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=write, args=(s, w)) for s, w in ((first, "a"), (second, "b"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    count = first.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    modes = [s.db.execute("PRAGMA synchronous").fetchone()[0] for s in (first, second)]
    first.close()
    second.close()
    assert (failures, count, modes) == ([], 400, [2, 1])  # FULL = 2, NORMAL = 1


class Failing:
    """A transport that raises a plain RuntimeError (a bug, not a transport error)."""

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        raise RuntimeError("bug in a transport")

    async def check(self) -> list[str]:
        return []

    async def close(self) -> None:
        return None


class Slow:
    """A transport that takes a while per mail and remembers what it sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        await asyncio.sleep(0.01)
        self.sent.append(tuple(recipients))

    async def check(self) -> list[str]:
        return []

    async def close(self) -> None:
        return None


def test_an_error_in_one_lane_goes_up_only_after_the_other_lanes_finished(
    tmp_path: Path,
) -> None:
    """A lane that raises does not leave the others running: their mail is sent and
    recorded before the error reaches the caller."""
    store = Store(tmp_path / "mailbot.db")
    by_lane: dict[int, list[str]] = {0: [], 1: []}
    for k in range(40):
        to = f"r{k}@example.nl"
        by_lane[lane_of(row(None, (to,)), 2)].append(to)
    for to in by_lane[0][:1] + by_lane[1][:3]:
        store.enqueue(mail(to, 0), NOW)
    slow = Slow()
    outbox = Outbox(store, Failing(), ManualClock(NOW), lambda: None, [slow])  # type: ignore[arg-type, return-value]
    with pytest.raises(RuntimeError, match="bug in a transport"):
        asyncio.run(outbox.deliver())
    statuses = {r.recipients: r.status for r in store.outbox_all()}
    assert slow.sent == [(to,) for to in by_lane[1][:3]]
    assert sorted(statuses.values()) == ["queued", "sent", "sent", "sent"]

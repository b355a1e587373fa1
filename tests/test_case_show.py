"""`case show` reads a whole case with every message's text; `message show` one inbound mail."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import PASS, STAFF, Desk, env, mailbot, report, write_config

from mailbot.cli import tables as views
from mailbot.core.errors import NotFoundError, UserError
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.store import Store

REPORT = report(1, body="Op https://portaal1.gemeente.example staat een lek in het inlogscherm.")
REPORTER = "melder1@example.nl"
ANSWER = "Dank u, we hebben het lek bevestigd en werken aan een fix."
COMMANDS = "Status: confirmed\nSeverity: high\nAssign: ciso@gemeente.example\nReward: no\n\n"


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    """A case from REPORT, acknowledged, then confirmed by staff with severity, assignee,
    reward and ANSWER relayed; the service closed, config.toml written beside its database."""
    d = Desk(tmp_path)
    deliver_to_maildir(d.inbox, REPORT, d.clock.now())
    asyncio.run(d.service.run_once())
    subject = "RE: [MK-2026-0001] Nieuwe melding: Melding 1: lek in portaal"
    d.send(
        f"Petra de Boer <{STAFF}>", subject, COMMANDS + ANSWER, f"Authentication-Results: {PASS}"
    )
    d.service.close()
    write_config(tmp_path)
    return d


def cfg(desk: Desk) -> Path:
    """The config file of `desk`."""
    return desk.inbox.parent / "config.toml"


def eml(desk: Desk, ref: str) -> subprocess.CompletedProcess[bytes]:
    """`mailbot message show REF --eml`, stdout as bytes."""
    command = [sys.executable, "-m", "mailbot", "--config", str(cfg(desk))]
    return subprocess.run(
        [*command, "message", "show", ref, "--eml"],
        capture_output=True,
        env=env(),
        timeout=60,
        check=False,
    )


def test_case_show_prints_every_text_in_order_with_staff_fields(desk: Desk) -> None:
    """The report, the acknowledgement and the staff relay appear with their text, in order."""
    out = mailbot(cfg(desk), "case", "show", "MK-2026-0001").stdout
    lines = out.splitlines()
    staff_fields = [line for line in lines if line.startswith(("  severity:", "  assignee:"))]
    staff_fields += [line for line in lines if line.startswith("  reward:")]
    assert staff_fields == [
        "  severity:  high",
        "  assignee:  ciso@gemeente.example",
        "  reward:    no",
    ]
    report_at = out.index("    Op https://portaal1.gemeente.example staat een lek")
    ack_at = out.index("-> acknowledgement to melder1@example.nl")
    ack_text_at = out.index("    Hartelijk dank voor uw melding")
    staff_at = out.index("<- staff_reply")
    relay_at = out.index("-> relay to melder1@example.nl")
    assert sorted([report_at, ack_at, ack_text_at, staff_at, relay_at]) == [
        report_at,
        ack_at,
        ack_text_at,
        staff_at,
        relay_at,
    ]
    assert out[relay_at:].splitlines()[1] == f"    {ANSWER}"


def test_case_show_json_has_text_per_message_and_the_new_keys(desk: Desk) -> None:
    """`--json`: each message's `text` as sent or received, plus severity .. missing."""
    shown = json.loads(mailbot(cfg(desk), "case", "show", "MK-2026-0001", "--json").stdout)
    assert (shown["severity"], shown["assignee"], shown["reward"]) == (
        "high",
        "ciso@gemeente.example",
        "no",
    )
    assert (shown["related"], shown["missing"]) == ([], [])
    to_reporter = [m["text"] for m in shown["messages"] if m["to"] == REPORTER]
    assert to_reporter == [mail.get_content() for mail in desk.mails_to(REPORTER)]
    inbound = [m["text"] for m in shown["messages"] if m["direction"] == "in"]
    assert inbound[0].strip() == (
        "Op https://portaal1.gemeente.example staat een lek in het inlogscherm."
    )
    assert ANSWER in inbound[1]


def test_messages_json_has_the_sha256_of_the_raw_bytes(desk: Desk) -> None:
    """`messages --json` gives each message's sha256, that of the bytes received."""
    listed = json.loads(mailbot(cfg(desk), "messages", "--json").stdout)
    assert listed[0]["sha256"] == hashlib.sha256(REPORT).hexdigest()
    assert [len(m["sha256"]) for m in listed] == [64, 64]


def test_message_show_by_message_id_or_sha_prefix(desk: Desk) -> None:
    """The same message by `<id>`, `id` and an 8-digit sha256 prefix: headers .. text."""
    prefix = hashlib.sha256(REPORT).hexdigest()[:8]
    shown = [
        mailbot(cfg(desk), "message", "show", ref).stdout
        for ref in ("<r1@example.nl>", "r1@example.nl", prefix, prefix.upper())
    ]
    assert shown[1:] == [shown[0]] * 3
    lines = shown[0].splitlines()
    assert lines[:4] == [
        "From: Melder 1 <melder1@example.nl>",
        "To: meldpunt@gemeente.example",
        "Subject: Melding 1: lek in portaal",
        "Message-ID: <r1@example.nl>",
    ]
    assert "  disposition: new_case" in lines
    assert "  reason:      report without a valid case reference" in lines
    assert "  case:        MK-2026-0001" in lines
    assert lines[-1] == "Op https://portaal1.gemeente.example staat een lek in het inlogscherm."


def test_message_show_eml_gives_exactly_the_stored_bytes(desk: Desk) -> None:
    """`--eml` writes the raw bytes as received, nothing added."""
    done = eml(desk, "<r1@example.nl>")
    assert (done.returncode, done.stdout, done.stderr) == (0, REPORT, b"")


def test_message_show_unknown_ref_exits_2_with_one_line(desk: Desk) -> None:
    """An unknown Message-ID or sha256 prefix: one line on stderr, exit 2."""
    for ref in ("<nobody@example.nl>", "0123456789abcdef"):
        done = mailbot(cfg(desk), "message", "show", ref, check=False)
        assert (done.returncode, done.stdout, len(done.stderr.splitlines())) == (2, "", 1)


def record(store: Store, sha256: str, message_id: str, raw: bytes | None) -> None:
    """Record one dropped inbound message with this digest and raw bytes."""
    at = datetime(2026, 12, 21, 9, 0, tzinfo=UTC).isoformat()
    row = {"message_id": message_id, "sha256": sha256, "size": 10, "subject": "x"}
    row |= {"received_at": at, "recorded_at": at, "disposition": "dropped", "reason": "test"}
    store.record_message({**row, "raw": raw}, [])


def test_ambiguous_prefix_and_purged_message(desk: Desk) -> None:
    """Two digests with one prefix are ambiguous (exit 2); a purged message shows (purged)."""
    store = Store(desk.settings.database.path)
    record(store, "abcdef01" + "0" * 56, "a@example.nl", None)
    record(store, "abcdef01" + "1" * 56, "b@example.nl", b"x")
    with pytest.raises(UserError, match="2 different messages"):
        views.find_message(store, "abcdef01")
    with pytest.raises(NotFoundError):
        views.find_message(store, "abcdef02")
    assert views.find_message(store, "abcdef010").message_id == "a@example.nl"
    store.close()
    done = mailbot(cfg(desk), "message", "show", "abcdef01", check=False)
    assert (done.returncode, len(done.stderr.splitlines())) == (2, 1)
    shown = mailbot(cfg(desk), "message", "show", "a@example.nl").stdout
    assert shown.splitlines()[-1] == "(purged)"
    assert eml(desk, "a@example.nl").returncode == 2


def test_wrapped_keeps_every_word_within_78_columns() -> None:
    """Long lines wrap at 78 under their own indent; blank lines and long URLs stay."""
    url = "https://portaal.gemeente.example/" + "a" * 80
    text = "woord " * 40 + "\n\n  - " + "item " * 30 + "\n" + url
    lines = views.wrapped(text)
    assert [len(line) <= 78 for line in lines if url not in line] == [True] * (len(lines) - 1)
    assert " ".join(text.split()) == " ".join(" ".join(lines).split())
    assert "" in lines
    first = lines.index("      - " + "item " * 13 + "item")
    assert lines[first : first + 2] == [
        "      - " + "item " * 13 + "item",
        "        " + "item " * 13 + "item",
    ]
    assert f"    {url}" in lines

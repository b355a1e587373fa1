"""The command line of DESIGN.md §8, run as a real subprocess on a temporary Maildir."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import factories
import pytest
from conftest import SmtpTestServer

from mailbot.shell.mailbox import deliver_to_maildir

NOW = "2026-12-21T10:05:00+01:00"
RECEIVED = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
CASE_KEYS = {
    "id",
    "state",
    "reporter",
    "subject",
    "source",
    "received_at",
    "ack_due",
    "response_due",
    "acknowledged_at",
    "flags",
}


write_config = partial(factories.write_config, staff={"authserv_ids": ["mx.gemeente.example"]})
"""A minimal config with Maildir in and out under `base`, staff mail authenticated by our MX."""


mailbot = partial(factories.mailbot, now=NOW)
"""Run `python -m mailbot --config cfg ARGS` with the clock fixed at NOW."""


report = partial(
    factories.report,
    sender="jan@example.nl",
    message_id="<m{n}@example.nl>",
    body="Op https://portaal{n}.gemeente.example staat een lek. Telefoon 06-12345678.",
)
"""Report number `n` (from "Melder n <sender>")."""


def seed(base: Path) -> None:
    """Two reports, an auto-reply and a report over a case tag guess."""
    inbox = base / "inbox"
    deliver_to_maildir(inbox, report(1), RECEIVED)
    deliver_to_maildir(
        inbox, report(2, sender="alice@research.example"), RECEIVED.replace(minute=10)
    )
    auto = report(3).replace(b"Content-Type", b"Auto-Submitted: auto-replied\r\nContent-Type")
    deliver_to_maildir(inbox, auto, RECEIVED.replace(minute=20))


def test_run_once_then_cases_json_has_exact_keys(tmp_path: Path) -> None:
    """`run --once` then `cases --json` prints only JSON with the §8 keys and ISO times."""
    cfg = write_config(tmp_path)
    seed(tmp_path)
    mailbot(cfg, "run", "--once")
    result = mailbot(cfg, "cases", "--json")
    cases = json.loads(result.stdout)
    assert [c["id"] for c in cases] == ["MK-2026-0001", "MK-2026-0002"]
    assert set(cases[0]) >= CASE_KEYS
    first = cases[0]
    assert first["reporter"] == "jan@example.nl"
    assert first["received_at"] == "2026-12-21T09:00:00+00:00"
    assert first["ack_due"] == "2026-12-22T16:00:00+00:00"
    assert first["response_due"] == "2026-12-29T16:00:00+00:00"
    assert first["acknowledged_at"] == "2026-12-21T09:05:00+00:00"
    assert first["state"] == "acknowledged"


def test_case_show_json_has_messages_and_events(tmp_path: Path) -> None:
    """`case show ID --json` adds messages in both directions and the audit events."""
    cfg = write_config(tmp_path)
    seed(tmp_path)
    mailbot(cfg, "run", "--once")
    shown = json.loads(mailbot(cfg, "case", "show", "MK-2026-0001", "--json").stdout)
    assert {m["direction"] for m in shown["messages"]} == {"in", "out"}
    assert set(shown["messages"][0]) == {
        "direction",
        "kind",
        "message_id",
        "from",
        "to",
        "subject",
        "at",
        "status",
        "text",
    }
    assert set(shown["events"][0]) == {"at", "actor", "kind", "detail"}
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[0] == "case_created"
    assert "acknowledged" in kinds


def test_messages_json_lists_every_disposition(tmp_path: Path) -> None:
    """`messages --json` has one entry per inbound message with its disposition and reason."""
    cfg = write_config(tmp_path)
    seed(tmp_path)
    mailbot(cfg, "run", "--once")
    messages = json.loads(mailbot(cfg, "messages", "--json").stdout)
    assert [(m["disposition"], m["case"]) for m in messages] == [
        ("new_case", "MK-2026-0001"),
        ("new_case", "MK-2026-0002"),
        ("auto_reply", None),
    ]
    assert set(messages[0]) == {
        "sha256",
        "message_id",
        "from",
        "subject",
        "received_at",
        "disposition",
        "case",
        "reason",
    }
    assert messages[2]["reason"] == "Auto-Submitted: auto-replied"


def test_human_output_and_unknown_case(tmp_path: Path) -> None:
    """Without --json the commands print tables; an unknown case exits 2 naming it."""
    cfg = write_config(tmp_path)
    seed(tmp_path)
    mailbot(cfg, "run", "--once")
    assert "MK-2026-0002" in mailbot(cfg, "cases").stdout
    assert "Koningsdag" not in mailbot(cfg, "case", "show", "MK-2026-0001").stdout
    missing = mailbot(cfg, "case", "show", "MK-2026-9999", check=False)
    assert missing.returncode == 2
    assert "MK-2026-9999" in missing.stderr


def test_bad_config_names_key_and_file(tmp_path: Path) -> None:
    """An unknown key makes every command exit 2 with the key and the file in one line."""
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text() + "[limits]\nmax_mesage_bytes = 5\n")
    result = mailbot(cfg, "cases", check=False)
    assert result.returncode == 2
    assert "max_mesage_bytes" in result.stderr
    assert str(cfg) in result.stderr


def end_state(base: Path, cfg: Path) -> tuple[list[tuple[str, str | None]], int, list[str]]:
    """Dispositions, number of mails in the outbox Maildir, and what is left in inbox/new."""
    messages = json.loads(mailbot(cfg, "messages", "--json").stdout)
    outbox = list((base / "outbox" / "new").iterdir())
    left = [p.name for p in (base / "inbox" / "new").iterdir()]
    return [(m["disposition"], m["case"]) for m in messages], len(outbox), left


@pytest.mark.parametrize("point", ["before_commit", "after_commit", "after_send"])
def test_killed_at_any_point_restart_reaches_same_end_state(tmp_path: Path, point: str) -> None:
    """SIGKILL at a step, then a restart: same dispositions, no second case or mail, inbox empty."""
    clean_base, crash_base = tmp_path / "clean", tmp_path / "crash"
    clean_base.mkdir()
    crash_base.mkdir()
    clean_cfg, crash_cfg = write_config(clean_base), write_config(crash_base)
    seed(clean_base)
    seed(crash_base)
    mailbot(clean_cfg, "run", "--once")
    killed = mailbot(crash_cfg, "run", "--once", crash_at=point, check=False)
    assert killed.returncode == -signal.SIGKILL
    mailbot(crash_cfg, "run", "--once")
    assert end_state(crash_base, crash_cfg) == end_state(clean_base, clean_cfg)


def test_deadlines_json_lists_open_clocks_soonest_first(tmp_path: Path) -> None:
    """`deadlines --json` lists every open clock with due, state and explanation, by due."""
    cfg = write_config(tmp_path)
    seed(tmp_path)
    mailbot(cfg, "run", "--once")
    rows = json.loads(mailbot(cfg, "deadlines", "--json").stdout)
    assert [r["due"] for r in rows] == sorted(r["due"] for r in rows)
    first_case = [(r["clock"], r["due"]) for r in rows if r["case"] == "MK-2026-0001"]
    assert first_case == [
        ("response_due", "2026-12-29T16:00:00+00:00"),
        ("update_due", "2027-01-06T16:00:00+00:00"),  # 25 Dec, 1 Jan closed
        ("resolve_due", "2027-02-19T09:00:00+00:00"),
    ]
    assert {r["state"] for r in rows} == {"open"}
    assert "ontvangstdag" in rows[0]["explanation"]
    assert "response_due" in mailbot(cfg, "deadlines").stdout


def test_calendar_lists_closed_days_with_reasons(tmp_path: Path) -> None:
    """`calendar 2027` names each closed weekday and why (holiday or closure day)."""
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text() + '[deadlines]\nclosure_days = ["2027-12-24"]\n')
    days = json.loads(mailbot(cfg, "calendar", "2027", "--json").stdout)
    assert {"date": "2027-04-27", "weekday": "Tue", "reason": "Koningsdag"} in days
    assert {"date": "2027-05-05", "weekday": "Wed", "reason": "Bevrijdingsdag"} in days
    assert {"date": "2027-12-24", "weekday": "Fri", "reason": "sluitingsdag"} in days
    assert "Koningsdag" in mailbot(cfg, "calendar", "2027").stdout


def test_staff_reply_through_cli_and_real_smtp(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    """Report, then a staff reply with Status + text: the reporter gets the text over SMTP."""
    cfg = write_config(tmp_path)
    text = cfg.read_text().replace(
        '[outbound]\ntransport = "maildir"\npath = "outbox"',
        f'[outbound]\ntransport = "smtp"\nhost = "{smtp_server.host}"\n'
        f'port = {smtp_server.port}\nsecurity = "plain"',
    )
    cfg.write_text(text)
    deliver_to_maildir(tmp_path / "inbox", report(1), RECEIVED)
    mailbot(cfg, "run", "--once")
    staff = (
        b"From: Petra de Boer <security@gemeente.example>\r\nTo: meldpunt@gemeente.example\r\n"
        b"Subject: RE: [MK-2026-0001] Nieuwe melding\r\nMessage-ID: <s1@gemeente.example>\r\n"
        b"Authentication-Results: mx.gemeente.example; dmarc=pass header.from=gemeente.example\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Status: confirmed\r\n\r\nBedankt, we pakken het op.\r\n\r\nMet vriendelijke groet,\r\n"
        b"Petra de Boer\r\n"
    )
    deliver_to_maildir(tmp_path / "inbox", staff, RECEIVED.replace(minute=3))
    mailbot(cfg, "run", "--once")
    to_reporter = [data for _, rcpts, data in smtp_server.messages if rcpts == ["jan@example.nl"]]
    assert len(to_reporter) == 2  # acknowledgement, relayed answer
    relay = to_reporter[1].decode()
    assert "we pakken het op" in relay
    assert "Petra" not in relay
    assert "security@gemeente.example" not in relay
    shown = json.loads(mailbot(cfg, "case", "show", "MK-2026-0001", "--json").stdout)
    assert shown["state"] == "confirmed"


def test_version_prints_the_package_version() -> None:
    """`mailbot --version` prints `mailbot X.Y.Z`, the version pyproject.toml gives."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import tomllib  # noqa: PLC0415

    root = Path(__file__).resolve().parent.parent
    expected = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"mailbot {expected}\n")


def test_config_is_accepted_after_the_command(tmp_path: Path) -> None:
    """`mailbot cases --json --config PATH` reads PATH as `--config PATH cases` would."""
    seed(tmp_path)
    cfg = write_config(tmp_path)
    mailbot(cfg, "run", "--once")
    before = mailbot(cfg, "cases", "--json").stdout
    after = factories.mailbot(cfg, "cases", "--json", f"--config={cfg}", now=NOW).stdout
    assert json.loads(after) == json.loads(before)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`mailbot cases | head` with the reader gone: exit 141, no traceback on stderr."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    seed(tmp_path)
    cfg = write_config(tmp_path)
    mailbot(cfg, "run", "--once")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(cfg), "cases"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before a line is read
    stderr = proc.stderr.read().decode()
    assert (proc.wait(timeout=30), "Traceback" in stderr) == (141, False)

"""The systemd units (verify, exposure scores, hardening, the shell lines of backup and
failure mail, tmpfiles) and SIGHUP reload of a real daemon."""

from __future__ import annotations

import email
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import policy
from functools import partial
from pathlib import Path
from typing import Any

import factories
import pytest

from mailbot.core import config
from mailbot.mail.template_files import packaged_templates_dir
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.pipeline import restart_sections
from mailbot.shell.wiring import build_service

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "mailbot.service"
SERVICES = sorted((ROOT / "systemd").glob("*.service"))
TIMERS = sorted((ROOT / "systemd").glob("*.timer"))
TMPFILES = ROOT / "systemd" / "mailbot.tmpfiles"
SYSUSERS = ROOT / "systemd" / "mailbot.sysusers"
EXEC_START = "/usr/local/bin/mailbot"
MAX_EXPOSURE = 2.0
WAIT = 30.0
"""Upper bound for what the daemon does at once (generous: the machine may be busy)."""
MARKER = "SJABLOON-NA-HERLADEN"

report = partial(
    factories.report,
    name="",
    body="Lek in https://portaal.gemeente.example/{n}",
    subject="Lek {n}",
    content_type=None,
)
"""A new report numbered `n` (Message-ID too) from `sender`."""


# -- systemd-analyze ----------------------------------------------------------------------


def tool(name: str) -> str:
    """The path of a systemd tool; skip (fail in CI) when it is missing."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("MAILBOT_REQUIRE_DOVECOT") == "1":
            pytest.fail(f"{name} missing (apt-get install systemd)")
        pytest.skip(f"{name} not installed (Debian package systemd)")
    return found


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run a command with C locale and no colours; text output."""
    env = {**os.environ, "LC_ALL": "C", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""}
    return subprocess.run(
        args, input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
    )


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file (repeated keys keep all values), comments skipped."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_has_the_required_settings() -> None:
    """Type=notify, watchdog, restart, static user, credentials, reload and hardening are set."""
    settings = unit_settings(UNIT.read_text())
    expected = {
        "Type": ["notify"],
        "Restart": ["on-failure"],
        "User": ["mailbot"],
        "StateDirectory": ["mailbot"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "Environment": ["MAILBOT_CONFIG=/etc/mailbot/config.toml"],
        "LoadCredential": [
            "imap-password:/etc/mailbot/imap-password",
            "smtp-password:/etc/mailbot/smtp-password",
        ],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "NoNewPrivileges": ["yes"],
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
        "CapabilityBoundingSet": [""],
        "OnFailure": ["mailbot-failure@%n.service"],
        "MemoryMax": ["512M"],
        "TasksMax": ["64"],
    }
    actual = {key: settings.get(key) for key in expected}
    assert actual == expected
    assert settings["SystemCallFilter"][0] == "@system-service"
    assert settings["WatchdogSec"] == ["60s"]
    assert settings["ExecStart"] == [f"{EXEC_START} run"]


@pytest.mark.parametrize("unit", SERVICES + TIMERS, ids=lambda p: p.name)
def test_unit_verifies_without_warnings(tmp_path: Path, unit: Path) -> None:
    """`systemd-analyze verify` finds nothing wrong once ExecStart names an existing binary
    (every unit of systemd/ copied beside it, so that timers find their services)."""
    analyze = tool("systemd-analyze")
    for each in SERVICES + TIMERS:
        text = each.read_text().replace(EXEC_START, f"{sys.executable} -m mailbot")
        (tmp_path / each.name).write_text(text)
    result = run(analyze, "verify", "--man=no", str(tmp_path / unit.name))
    ours = [ln for ln in (result.stdout + result.stderr).splitlines() if "mailbot" in ln]
    assert (result.returncode, ours) == (0, [])


def test_unit_as_shipped_only_lacks_the_installed_binary() -> None:
    """On the shipped unit, verify complains at most that the ExecStart binary is missing."""
    analyze = tool("systemd-analyze")
    result = run(analyze, "verify", "--man=no", str(UNIT))
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if "mailbot" in ln]
    unexpected = [ln for ln in lines if f"Command {EXEC_START} is not executable" not in ln]
    assert unexpected == []


def exposure(unit: Path = UNIT) -> float:
    """The overall exposure level of `unit`, as `systemd-analyze security` reports it."""
    analyze = tool("systemd-analyze")
    result = run(analyze, "security", "--offline=true", "--threshold=20", str(unit))
    name = re.escape(unit.name).replace("@", "@i")  # a template is scored as instance "i"
    found = re.search(rf"Overall exposure level for {name}: (\d+\.\d)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert result.returncode == 0, f"exposure above {MAX_EXPOSURE}: {found.group(1)}"
    return float(found.group(1))


def test_exposure_is_low_and_documented() -> None:
    """Exposure is <= 2.0 and the README and the unit state the measured score."""
    score = exposure()
    assert score <= MAX_EXPOSURE
    readme = (ROOT / "README.md").read_text()
    section = readme.partition("### Running under systemd")[2].partition("\n## ")[0]
    stated = re.findall(r"exposure\s+(?:level\s+)?(?:of\s+)?\**(\d+\.\d)", section)
    assert stated == [f"{score:.1f}"]
    assert f"gives {score:.1f}" in UNIT.read_text()


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_every_service_is_below_the_limit_and_states_its_score(unit: Path) -> None:
    """Each service of systemd/ scores <= 2.0 and its comment gives the measured score."""
    score = exposure(unit)
    actual = (score <= MAX_EXPOSURE, f"gives {score:.1f}" in unit.read_text())
    assert actual == (True, True), f"{unit.name}: {score}"


HARDENING = (
    "User",
    "Group",
    "UMask",
    "CapabilityBoundingSet",
    "NoNewPrivileges",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateUsers",
    "ProtectKernelTunables",
    "ProtectProc",
    "RestrictNamespaces",
    "MemoryDenyWriteExecute",
    "SystemCallFilter",
    "SystemCallErrorNumber",
)


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_every_service_is_hardened_like_the_daemon(unit: Path) -> None:
    """User mailbot and the daemon's sandbox, setting for setting, in every service."""
    daemon, other = unit_settings(UNIT.read_text()), unit_settings(unit.read_text())
    actual = {key: other.get(key) for key in HARDENING}
    assert actual == {key: daemon.get(key) for key in HARDENING}


def test_timers_start_their_services_and_failures_mail() -> None:
    """Each timer has its service; every service but the failure mail and the per-minute
    metrics names the failure template in OnFailure=."""
    services = {p.stem for p in SERVICES}
    assert sorted(p.stem for p in TIMERS if p.stem in services) == sorted(p.stem for p in TIMERS)
    on_failure = {p.name: unit_settings(p.read_text()).get("OnFailure") for p in SERVICES}
    quiet = {"mailbot-failure@.service", "mailbot-metrics.service"}
    expected = {
        name: None if name in quiet else ["mailbot-failure@%n.service"] for name in on_failure
    }
    assert on_failure == expected


def test_metrics_unit_writes_where_it_may() -> None:
    """The textfile the metrics unit writes lies in its one ReadWritePaths= folder."""
    settings = unit_settings((ROOT / "systemd" / "mailbot-metrics.service").read_text())
    words = settings["ExecStart"][0].split()
    target = Path(words[words.index("--output") + 1])
    assert (words[1:4], [str(target.parent)]) == (
        ["status", "--format", "prometheus"],
        settings["ReadWritePaths"],
    )


# -- the shell lines of the units, run as systemd would run them ----------------------------


def command(unit: Path, key: str, instance: str = "", **replace: str) -> list[str]:
    """The argv of `key` (ExecStart=, ...) in `unit`: continuation lines joined, specifiers
    %i %H %% and `$$` resolved as systemd does, each `replace` old → new applied."""
    text = re.sub(r"\\\n", " ", unit.read_text())
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{key}="))
    value = line.partition("=")[2]
    for old, new in {"%i": instance, "%H": socket.gethostname(), **replace}.items():
        value = value.replace(old, new)
    return shlex.split(value.replace("%%", "%").replace("$$", "$"))


def _stubs(folder: Path) -> dict[str, str]:
    """The test environment with stubs first on PATH: `date` (always 2026-12-21),
    `systemctl` (prints its arguments, exit 3 as for a failed unit) and `msmtp` (keeps its
    arguments and stdin in folder/args and folder/mail)."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    scripts = {
        "date": "echo 2026-12-21\n",
        "systemctl": 'echo "x systemctl $*"\nexit 3\n',
        "msmtp": f'echo "$*" > {folder}/args\ncat > {folder}/mail\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}")
        (bin_dir / name).chmod(0o755)
    return {**factories.env(), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_backup_unit_writes_a_dated_copy_and_keeps_the_newest(tmp_path: Path) -> None:
    """ExecStart writes backups/mailbot-<date>.db (again the same day: replaced);
    ExecStartPost then deletes the oldest copies until KEEP are left."""
    unit = ROOT / "systemd" / "mailbot-backup.service"
    folder = tmp_path / "backups"
    folder.mkdir()
    cfg = factories.write_config(tmp_path)
    factories.mailbot(cfg, "run", "--once")
    old = [folder / f"mailbot-2026-12-{day:02d}.db" for day in range(11, 19)]
    for path in old:
        path.write_bytes(b"old")
    paths = {EXEC_START: f"{sys.executable} -m mailbot", "/var/lib/mailbot/backups": str(folder)}
    env = {**_stubs(tmp_path), "MAILBOT_CONFIG": str(cfg), "KEEP": "7"}
    made = [
        subprocess.run(command(unit, "ExecStart", **paths), env=env, check=False).returncode
        for _ in range(2)
    ]
    kept = subprocess.run(command(unit, "ExecStartPost", **paths), env=env, check=False)
    today = folder / "mailbot-2026-12-21.db"
    actual = (made, kept.returncode, sorted(folder.iterdir()), today.read_bytes()[:16])
    assert actual == ([0, 0], 0, [*old[2:], today], b"SQLite format 3\x00")


def test_failure_unit_mails_the_status_of_the_failed_unit(tmp_path: Path) -> None:
    """The failure template pipes a mail to MAILBOT_ADMIN, with `systemctl status` of the
    failed unit, into `msmtp -t` with the msmtprc of /etc/mailbot."""
    unit = ROOT / "systemd" / "mailbot-failure@.service"
    env = {**_stubs(tmp_path), "MAILBOT_ADMIN": "beheer@gemeente.example"}
    sent = subprocess.run(command(unit, "ExecStart", "mailbot.service"), env=env, check=False)
    mail = _parse((tmp_path / "mail").read_bytes())
    actual = (
        sent.returncode,
        (tmp_path / "args").read_text(),
        mail["To"],
        mail["Subject"],
        mail["Auto-Submitted"],
        _body(mail).splitlines()[0],
    )
    expected = (
        0,
        "--file=/etc/mailbot/msmtprc -t\n",
        "beheer@gemeente.example",
        f"[{socket.gethostname()}] mailbot.service failed",
        "auto-generated",
        "x systemctl status --full --no-pager --lines=0 mailbot.service",
    )
    assert actual == expected


def test_failure_unit_without_an_admin_fails_naming_the_setting(tmp_path: Path) -> None:
    """An empty MAILBOT_ADMIN: exit non-zero, stderr says how to set it, no msmtp run."""
    unit = ROOT / "systemd" / "mailbot-failure@.service"
    env = {**_stubs(tmp_path), "MAILBOT_ADMIN": ""}
    argv = command(unit, "ExecStart", "mailbot.service")
    sent = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    actual = (sent.returncode != 0, "MAILBOT_ADMIN" in sent.stderr, (tmp_path / "mail").exists())
    assert actual == (True, True, False), sent.stderr


def test_sysusers_and_tmpfiles_lay_out_etc_mailbot(tmp_path: Path) -> None:
    """Under a scratch root: user mailbot, /etc/mailbot 0750 root:mailbot, secrets 0600 root."""
    sysusers, tmpfiles = tool("systemd-sysusers"), tool("systemd-tmpfiles")
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles needs root to set ownership")
    (tmp_path / "etc").mkdir()
    made = run(sysusers, f"--root={tmp_path}", "-", stdin=SYSUSERS.read_text())
    assert made.returncode == 0, made.stderr
    gid = next(
        int(line.split(":")[2])
        for line in (tmp_path / "etc" / "group").read_text().splitlines()
        if line.startswith("mailbot:")
    )
    (tmp_path / "etc" / "mailbot").mkdir(mode=0o755)
    (tmp_path / "etc" / "mailbot" / "config.toml").write_text("")
    created = run(tmpfiles, f"--root={tmp_path}", "--create", "-", stdin=TMPFILES.read_text())
    assert created.returncode == 0, created.stderr
    etc = tmp_path / "etc" / "mailbot"
    names = ["", "templates", "config.toml", "imap-password", "smtp-password"]
    actual = {n: _owner_mode(etc / n) for n in names}
    expected = {
        "": (0, gid, 0o750),
        "templates": (0, gid, 0o750),
        "config.toml": (0, gid, 0o640),
        "imap-password": (0, 0, 0o600),
        "smtp-password": (0, 0, 0o600),
    }
    assert actual == expected


def _owner_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


# -- reload (in process) ------------------------------------------------------------------


def write_config(base: Path, poll: int = 1, **sections: dict[str, object]) -> Path:
    """The test config (Maildir in and out, template overrides in base/templates)."""
    (base / "templates").mkdir(exist_ok=True)
    return factories.write_config(
        base, mailbox={"poll_seconds": poll}, templates={"directory": "templates"}, **sections
    )


def test_restart_sections_names_connection_and_logging_changes(tmp_path: Path) -> None:
    """Only mailbox, outbound, database and logging changes call for a restart."""
    old = config.load(write_config(tmp_path))
    new = config.load(write_config(tmp_path, poll=7, relays={"senders": ["a@b.nl"]}))
    assert restart_sections(old, new) == ("mailbox",)
    assert restart_sections(old, old) == ()


def test_reconfigure_swaps_policy_and_keeps_connections(tmp_path: Path) -> None:
    """reconfigure: new identity, rules, renderer and ticker; old mailbox settings kept."""
    old = config.load(write_config(tmp_path))
    service = build_service(old, ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    try:
        before = (service.renderer, service.ticker, service.mailbox)
        new = config.load(write_config(tmp_path, poll=9, relays={"senders": ["relay@vng.example"]}))
        restart = service.reconfigure(new)
        actual = (
            restart,
            service.settings.mailbox.poll_seconds,
            service.rules.relays,
            service.renderer is before[0],
            service.ticker is before[1],
            service.mailbox is before[2],
        )
        assert actual == (("mailbox",), 1, frozenset({"relay@vng.example"}), False, False, True)
    finally:
        service.close()


# -- reload (a real daemon) ---------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def wait_datagram(sock: socket.socket, wanted: str, log: Path) -> str:
    """The first datagram containing `wanted` (fails with the daemon's log after WAIT s)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            datagram = sock.recv(4096).decode()
        except TimeoutError:
            continue
        if wanted in datagram:
            return datagram
    pytest.fail(f"no {wanted!r} within {WAIT} s; log:\n{log.read_text()[-3000:]}")


def wait_for(condition: Callable[[], bool], what: str, log: Path) -> None:
    """Poll `condition()` every 50 ms; fail with the daemon's log after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} not within {WAIT} s; log:\n{log.read_text()[-3000:]}")


class Daemon:
    """`mailbot run` as a subprocess with a fake NOTIFY_SOCKET; stderr to a file."""

    def __init__(self, base: Path, sock: socket.socket) -> None:
        self.base, self.sock = base, sock
        self.log = base / "stderr.log"
        outside = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        env = {**outside, "NOTIFY_SOCKET": str(sock.getsockname())}
        for name in ("WATCHDOG_USEC", "WATCHDOG_PID", "MAILBOT_CONFIG"):
            env.pop(name, None)
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailbot", "--config", str(base / "config.toml"), "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        wait_datagram(sock, "READY=1", self.log)

    def sent(self) -> list[email.message.EmailMessage]:
        """Every mail the daemon wrote to the Maildir outbox."""
        new = self.base / "outbox" / "new"
        files = sorted(new.iterdir()) if new.exists() else []
        return [_parse(f.read_bytes()) for f in files]

    def acknowledgement_to(self, address: str) -> str:
        """The body of the acknowledgement sent to `address` (waits for it)."""
        wait_for(lambda: bool(self._acks(address)), f"acknowledgement to {address}", self.log)
        return self._acks(address)[0]

    def _acks(self, address: str) -> list[str]:
        return [_body(m) for m in self.sent() if m["To"] == address and "Ontvangst" in m["Subject"]]

    def reload(self) -> str:
        """SIGHUP; returns the READY=1 datagram that ends the RELOADING=1 state."""
        self.proc.send_signal(signal.SIGHUP)
        wait_datagram(self.sock, "RELOADING=1", self.log)
        return wait_datagram(self.sock, "READY=1", self.log)

    def stop(self) -> list[dict[str, Any]]:
        """SIGTERM; asserts exit 0 and returns the JSON log events."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=WAIT) == 0
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def kill(self) -> None:
        """Make sure the process is gone (after a failed assertion)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def _body(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def daemon(tmp_path: Path, notify_socket: socket.socket) -> Iterator[Daemon]:
    """A running daemon on the test config in tmp_path."""
    write_config(tmp_path)
    running = Daemon(tmp_path, notify_socket)
    yield running
    running.kill()


def test_sighup_applies_new_templates_and_config(tmp_path: Path, daemon: Daemon) -> None:
    """A template added to the override folder is used after SIGHUP; a mailbox change waits."""
    deliver_to_maildir(tmp_path / "inbox", report(1, "jan@example.nl"))
    assert MARKER not in daemon.acknowledgement_to("jan@example.nl")
    packaged = (packaged_templates_dir() / "nl" / "acknowledgement.txt").read_text()
    (tmp_path / "templates" / "nl").mkdir()
    (tmp_path / "templates" / "nl" / "acknowledgement.txt").write_text(
        packaged.replace("Hartelijk dank", f"{MARKER}. Hartelijk dank", 1)
    )
    write_config(tmp_path, poll=2)
    assert "STATUS=config reloaded; restart to apply [mailbox]" in daemon.reload()
    deliver_to_maildir(tmp_path / "inbox", report(2, "piet@example.org"))
    assert MARKER in daemon.acknowledgement_to("piet@example.org")
    events = daemon.stop()
    partial = [e for e in events if e["event"] == "config_reload_partial"]
    reloaded = [e["event"] for e in events if e["event"] == "config_reloaded"]
    assert ([e["sections"] for e in partial], reloaded) == ([["mailbox"]], ["config_reloaded"])


def test_sighup_with_invalid_config_keeps_the_old_one(tmp_path: Path, daemon: Daemon) -> None:
    """An invalid config is refused with its reason; mail is still handled; SIGTERM exits 0."""
    (tmp_path / "config.toml").write_text('[identity]\naddress = "meldpunt@x.example"\nbogus = 1\n')
    assert "STATUS=config reload refused, old config kept" in daemon.reload()
    deliver_to_maildir(tmp_path / "inbox", report(1, "jan@example.nl"))
    assert "Gemeente Voorbeeld" in daemon.acknowledgement_to("jan@example.nl")
    events = daemon.stop()
    refused = [e["reason"] for e in events if e["event"] == "config_reload_refused"]
    assert refused == [f"{tmp_path / 'config.toml'}: unknown key [identity] bogus"]
    assert [e for e in events if e["event"] == "config_reloaded"] == []

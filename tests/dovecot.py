"""A private Dovecot IMAP server for tests (DESIGN.md §9).

`DovecotServer` writes a config into a fresh `tempfile.mkdtemp()` folder (mode 0755,
because uid 5000 and dovenull must enter it), runs `dovecot -F -c CONF` on free
127.0.0.1 ports and stops it with SIGTERM to that PID. Accounts live in a passwd-file
written once (`{PLAIN}` passwords; Dovecot re-reads a changed file at most once a
second, so every test account exists from the start) with a static userdb; mail is
Maildir, hierarchy separator "/". With `ssl=True` a self-signed certificate for
127.0.0.1 (SAN IP:127.0.0.1, made by `openssl req -x509`) serves implicit TLS on
`tls_port` and STARTTLS on `port`; plain LOGIN stays allowed on `port`.

`DovecotAccount` is what tests use: one user's view of a server, with the helpers
`append`, `folder_uids`, `recreate_folder`, `uidvalidity`, and `stop`/`start` of the
whole server (a restart keeps folders, ports, UIDVALIDITY and mail).

As root (CI) mail processes run as uid/gid 5000 with `dovecot`/`dovenull` as internal
and login users; as any other user everything runs as that user, without chroots.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from factories import free_port
from imapclient import IMAPClient

MAIL_UID = 5000
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
DEFAULT_PASSWORD = "secret"
PROBE_USER = "probe@example.test"


def dovecot_binary() -> str | None:
    """Path of the `dovecot` executable (PATH, then the sbin folders), or None."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for IP 127.0.0.1 (cert, key) made with the openssl CLI."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    command += " -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time), or None when the process has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in "ZX" else fields[19]  # a zombie has exited


def _children(parent: int) -> dict[int, str]:
    """PID → start time of the processes whose parent is `parent`."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found[int(entry.name)] = fields[19]
    return found


def _terminate(processes: dict[int, str]) -> None:
    """SIGTERM each process still alive with the same start time; SIGKILL after 0.3 s."""
    for sig, grace in ((signal.SIGTERM, 0.3), (signal.SIGKILL, STOP_TIMEOUT)):
        alive = {pid: t for pid, t in processes.items() if _start_time(pid) == t}
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = {pid: t for pid, t in alive.items() if _start_time(pid) == t}
            time.sleep(0.01)  # waiting for exit, not a timing assumption
        if not alive:
            return


def _oauth2_settings(url: str) -> str:
    """Dovecot's oauth2 passdb settings: RFC 7662 introspection by POST to `url`.

    The endpoint answers {"active": true, "username": USER} for a valid token; Dovecot
    compares USER with the user named in the XOAUTH2/OAUTHBEARER exchange.
    """
    return f"""introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


class DovecotServer:
    """One private Dovecot instance in its own temporary folder.

    With `oauth2_url` it also offers AUTHENTICATE XOAUTH2 and OAUTHBEARER, checked by an
    oauth2 passdb that POSTs each token to that RFC 7662 introspection URL.
    """

    def __init__(
        self, ssl: bool = False, accounts: int = 100, oauth2_url: str | None = None
    ) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("dovecot not found (apt-get install dovecot-imapd)")
        self.binary = binary
        self.doveadm_binary = shutil.which("doveadm") or str(Path(binary).with_name("doveadm"))
        self.root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
        self.root.chmod(0o755)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port: int | None = free_port() if ssl else None
        self.cert_file: Path | None = None
        self.key_file: Path | None = None
        if ssl:
            self.cert_file, self.key_file = make_certificate(self.root)
        self.passwd_file = self.root / "passwd"
        self.log_file = self.root / "dovecot.log"
        self.config_file = self.root / "dovecot.conf"
        self.oauth2_url = oauth2_url
        self.oauth2_file = self.root / "oauth2.conf.ext"
        self.home_root = self.root / "home"
        self._process: subprocess.Popen[bytes] | None = None
        names = ["bot@example.test"] + [f"bot-{n}@example.test" for n in range(1, accounts)]
        self._users = dict.fromkeys(names, DEFAULT_PASSWORD)
        self._users[PROBE_USER] = "probe"
        self._unused = names
        self._prepare()

    @property
    def pid(self) -> int | None:
        """PID of the running master process, or None when stopped."""
        return self._process.pid if self._process is not None else None

    def account(self) -> DovecotAccount:
        """The next unused account: bot@example.test first, then bot-1@example.test, …."""
        if not self._unused:
            raise RuntimeError(f"all {len(self._users)} test accounts of {self.root} are used")
        return DovecotAccount(self, self._unused.pop(0), DEFAULT_PASSWORD)

    def start(self) -> None:
        """Start the master in the foreground; return once LOGIN and SELECT work."""
        if self._process is not None:
            return
        with (self.root / "master.stderr").open("ab") as stderr:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self._await_ready()

    def stop(self) -> None:
        """SIGTERM to the master's PID, then to the processes it had started.

        Dovecot 2.3's master exits without ending running imap sessions (and their log
        and stats helpers); a test of "the server went away" needs them gone too, so
        the master's children (PID and start time read from /proc before the signal)
        get SIGTERM as well. Waits until all are gone (SIGKILL after a timeout).
        """
        process, self._process = self._process, None
        if process is None:
            return
        children = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        _terminate(children)

    def destroy(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of Dovecot's log and the master's stderr, for error messages."""
        text = ""
        for path in (self.log_file, self.root / "master.stderr"):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def doveadm(self, *args: str, stdin: bytes | None = None) -> str:
        """Run `doveadm -c CONF ARGS`; raise with its stderr when it fails."""
        done = subprocess.run(
            [self.doveadm_binary, "-c", str(self.config_file), *args],
            input=stdin,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode()

    def connect(self, user: str) -> IMAPClient:
        """A logged-in plain-text client for `user` (the test's "other connection")."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(user, self._users[user])
        return client

    def _prepare(self) -> None:
        for sub in ("run", "state"):
            (self.root / sub).mkdir(mode=0o755)
        self.home_root.mkdir(mode=0o755)
        if os.geteuid() == 0:
            os.chown(self.home_root, MAIL_UID, MAIL_UID)
        lines = "".join(f"{name}:{{PLAIN}}{secret}\n" for name, secret in self._users.items())
        self.passwd_file.write_text(lines, encoding="utf-8")
        self.passwd_file.chmod(0o644)
        self.config_file.write_text(self._config(), encoding="utf-8")
        if self.oauth2_url is not None:
            self.oauth2_file.write_text(_oauth2_settings(self.oauth2_url), encoding="utf-8")

    def _config(self) -> str:
        root = self.root
        if os.geteuid() == 0:
            uid = gid = MAIL_UID
            users = "default_internal_user = dovecot\ndefault_login_user = dovenull\n"
            chroot = ""
        else:
            uid, gid = os.getuid(), os.getgid()
            user, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
            users = (
                f"default_internal_user = {user}\ndefault_internal_group = {group}\n"
                f"default_login_user = {user}\n"
            )
            chroot = "  chroot =\n"
        tls = "ssl = no\n"
        imaps = ""
        if self.tls_port is not None:
            tls = f"ssl = yes\nssl_cert = <{self.cert_file}\nssl_key = <{self.key_file}\n"
            imaps = f"  inet_listener imaps {{\n    port = {self.tls_port}\n    ssl = yes\n  }}\n"
        return f"""# written by tests/dovecot.py
instance_name = mailbot-test-{root.name}
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_file}
info_log_path = {self.log_file}
protocols = imap
listen = {self.host}
{users}{tls}auth_mechanisms = plain login{" xoauth2 oauthbearer" if self.oauth2_url else ""}
disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100
{self._oauth2_passdb()}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_file}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.home_root}/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
{chroot}  inet_listener imap {{
    port = {self.port}
  }}
{imaps}}}
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    def _oauth2_passdb(self) -> str:
        """The oauth2 passdb for XOAUTH2/OAUTHBEARER (with `oauth2_url`), else nothing."""
        if self.oauth2_url is None:
            return ""
        return f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.oauth2_file}
  result_failure = return-fail
  result_internalfail = return-fail
}}
"""

    def _await_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"dovecot exited at start:\n{self.log_tail()}")
            try:
                client = self.connect(PROBE_USER)
                try:
                    client.select_folder("INBOX")
                finally:
                    client.logout()
                return
            except (OSError, IMAPClient.Error) as exc:
                last_error = exc
                time.sleep(0.01)  # readiness polling, not a timing assumption
        self.stop()
        raise RuntimeError(
            f"dovecot not ready after {START_TIMEOUT} s: {last_error}\n{self.log_tail()}"
        )


class DovecotAccount:
    """One user's mailbox on a DovecotServer, with the helpers tests need."""

    def __init__(self, server: DovecotServer, user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.password = password

    @property
    def host(self) -> str:
        """The server's address (127.0.0.1)."""
        return self.server.host

    @property
    def port(self) -> int:
        """The plain IMAP port (STARTTLS offered when the server has TLS)."""
        return self.server.port

    @property
    def tls_port(self) -> int | None:
        """The implicit-TLS port, or None without TLS."""
        return self.server.tls_port

    @property
    def cert_file(self) -> Path | None:
        """The server's self-signed certificate (the CA file to trust), or None."""
        return self.server.cert_file

    def stop(self) -> None:
        """Stop the whole server (SIGTERM to its PID)."""
        self.server.stop()

    def start(self) -> None:
        """Start the server again on the same folders and ports."""
        self.server.start()

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A separate logged-in connection for this user, logged out afterwards."""
        client = self.server.connect(self.user)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, raw: bytes, when: datetime, folder: str = "INBOX") -> int:
        """APPEND `raw` with INTERNALDATE `when` (creating `folder`); return its UID."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, msg_time=when)
        # "[APPENDUID <uidvalidity> <uid>] Append completed."
        text = response.decode() if isinstance(response, bytes) else str(response)
        return int(text.split("]")[0].split()[-1])

    def folder_uids(self, folder: str) -> list[int]:
        """UIDs in `folder` (ascending); [] when the folder does not exist."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def uidvalidity(self, folder: str = "INBOX") -> int:
        """The folder's current UIDVALIDITY."""
        with self.client() as client:
            status = client.folder_status(folder, [b"UIDVALIDITY"])
            return int(status[b"UIDVALIDITY"])

    def recreate_folder(self, name: str) -> int:
        """Give `name` a new, higher UIDVALIDITY keeping its mail; return the new value.

        Works for INBOX too (which IMAP cannot delete): `doveadm mailbox update
        --uid-validity` is what a restored or rebuilt mailbox looks like to a client.
        """
        new = self.uidvalidity(name) + 1
        self.server.doveadm("mailbox", "update", "-u", self.user, "--uid-validity", str(new), name)
        return new

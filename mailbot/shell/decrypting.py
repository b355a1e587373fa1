"""Decrypting and verifying OpenPGP in a child process (shell), bounded in time, memory
and output.

Sequoia (`pysequoia`) decrypts into memory without an output limit: a message of 1 MB can
hold 1 GiB of zeros, compressed. So every OpenPGP operation on a sender's data runs in a
child (`python -I` on this file) that limits itself (RLIMIT_AS, RLIMIT_CPU) before it reads
anything, and streams the plaintext to its stdout (`decrypt_file` onto a pipe) while this
process reads at most `limit` bytes of it, and kills the child past that or past its
deadline. The secret key and its passphrase reach the child on its stdin, never in argv,
the environment or a file; the ciphertext goes to a memfd.

The top of this file imports the standard library only: the child starts in ~10 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailbot.mail.openpgp import MeldpuntKey
    from mailbot.mail.pgp_data import Checked, Opened

SECONDS = 4.0
"""All OpenPGP work on one message together, in seconds (the per-message bound is 5 s)."""
MEMORY = 512 << 20
"""The child's address space, plus four times its input."""
STATUS = b"MAILBOT-STATUS "
"""The prefix of the child's one status line on its stderr."""
MAX_STDERR = 1 << 16
_NO_SIGNATURE = "no valid signatures found"


@dataclass
class ChildOpener:
    """Decrypts with `key` and verifies in children, all within one deadline."""

    key: MeldpuntKey | None
    limit: int
    """Plaintext bytes at most (more: "too_large")."""
    seconds: float = SECONDS
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.deadline = self.deadline or time.monotonic() + self.seconds

    def decrypt(self, message: bytes, certs: Sequence[bytes]) -> Opened:
        """The plaintext of binary OpenPGP `message`, with what its signatures say
        (checked against `certs`, binary keys carried by the mail)."""
        from mailbot.mail.pgp_data import Opened  # noqa: PLC0415 - the child imports none of it

        if self.key is None:
            return Opened(None, "no_key")
        head = {"op": "decrypt", "passphrase": self.key.passphrase is not None}
        secret = str(self.key.tsk).encode()
        phrase = (self.key.passphrase or "").encode()
        run = _run(head, [secret, phrase, message, *certs], self.limit, self.deadline)
        return _opened(run, self.limit, self.seconds)

    def verify(self, data: bytes, signature: bytes, certs: Sequence[bytes]) -> Checked:
        """The signatures over `data`: detached `signature`, or clearsigned `data` when
        `signature` is empty."""
        head = {"op": "verify"}
        run = _run(head, [data, signature, *certs], 0, self.deadline)
        return _checked(run.status, run)


# --- this process ------------------------------------------------------------------


@dataclass
class _Run:
    """What one child gave back."""

    out: bytes = b""
    status: dict[str, Any] = field(default_factory=dict)
    over: bool = False
    late: bool = False
    returncode: int | None = None


def _run(head: dict[str, Any], parts: list[bytes], limit: int, deadline: float) -> _Run:
    """Run the child on `parts`; at most `limit` bytes of stdout, killed at `deadline`."""
    started = time.monotonic()
    remaining = deadline - started
    if remaining <= 0:
        return _Run(late=True)
    size = sum(map(len, parts))
    head |= {
        "sizes": [len(p) for p in parts],
        "cpu": max(1, int(remaining + 0.999)),
        "memory": MEMORY + 4 * size,
    }
    payload = json.dumps(head).encode() + b"\n" + b"".join(parts)
    try:
        child = subprocess.Popen(  # noqa: S603 - our interpreter on this very file
            [sys.executable, "-I", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"RUST_BACKTRACE": "0", "LC_ALL": "C.UTF-8"},
            close_fds=True,
        )
    except OSError:
        return _Run()  # no status and no return code: "did not start"
    run = _exchange(child, payload, limit, deadline)
    try:
        run.returncode = child.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        child.kill()
        run.late, run.returncode = True, child.wait()
    return run


def _exchange(child: subprocess.Popen[bytes], payload: bytes, limit: int, deadline: float) -> _Run:
    """Feed `payload`, collect stdout (up to `limit`) and stderr until both end; kill the
    child when it writes too much or is too late."""
    assert child.stdin and child.stdout and child.stderr
    run, out, err = _Run(), bytearray(), bytearray()
    with selectors.DefaultSelector() as sel:
        os.set_blocking(child.stdin.fileno(), False)
        sel.register(child.stdin, selectors.EVENT_WRITE)
        sel.register(child.stdout, selectors.EVENT_READ, out)
        sel.register(child.stderr, selectors.EVENT_READ, err)
        sent = 0
        while sel.get_map():
            ready = sel.select(deadline - time.monotonic())
            run.late = not ready
            for key, _ in ready:
                if key.fileobj is child.stdin:
                    sent = _feed(sel, child.stdin, payload, sent)
                else:
                    _drain(sel, key.fileobj, key.data)  # type: ignore[arg-type]
            run.over = bool(limit) and len(out) > limit
            if run.late or run.over or len(err) > MAX_STDERR:
                break
        unfinished = bool(sel.get_map())
    if unfinished:
        child.kill()
    for stream in (child.stdin, child.stdout, child.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    run.out = bytes(out)
    run.status = _status(bytes(err))
    return run


def _feed(sel: selectors.BaseSelector, stdin: IO[bytes], payload: bytes, sent: int) -> int:
    """Write what the pipe takes of `payload` from `sent`; close stdin when all is sent."""
    try:
        sent += os.write(stdin.fileno(), payload[sent : sent + (1 << 16)])
    except BlockingIOError:
        return sent
    except BrokenPipeError:
        sent = len(payload)
    if sent >= len(payload):
        sel.unregister(stdin)
        stdin.close()
    return sent


def _drain(sel: selectors.BaseSelector, stream: IO[bytes], into: bytearray) -> None:
    """Append what `stream` has to `into`; unregister it at its end."""
    piece = os.read(stream.fileno(), 1 << 16)
    if piece:
        into += piece
    else:
        sel.unregister(stream)


def _status(err: bytes) -> dict[str, Any]:
    """The child's status line (the last line that starts with STATUS), or {}."""
    for line in reversed(err.splitlines()):
        if line.startswith(STATUS):
            with contextlib.suppress(ValueError):
                found = json.loads(line[len(STATUS) :])
                return found if isinstance(found, dict) else {}
    return {}


def _opened(run: _Run, limit: int, seconds: float) -> Opened:
    """The Opened of a decrypting run."""
    from mailbot.mail.pgp_data import Opened  # noqa: PLC0415 - the child imports none of it

    status = run.status
    if run.over:
        return Opened(None, "too_large", str(limit))
    if status.get("ok"):  # the whole plaintext came, even if the signatures came late
        return Opened(run.out, signature=_checked(status.get("signature", {}), run))
    if run.late or run.returncode == -signal.SIGXCPU:
        return Opened(None, "too_slow", f"{seconds:g}")
    if "error" in status:
        error = str(status["error"])
        return Opened(None, "not_for_us" if "No key to decrypt" in error else "damaged", error)
    return Opened(None, "failed", _died(run))


def _checked(status: dict[str, Any], run: _Run) -> Checked:
    """The Checked of a verifying run (or of the signature part of a decrypting one)."""
    from mailbot.mail.pgp_data import Checked  # noqa: PLC0415 - the child imports none of it

    if not status:
        return Checked(error="too slow" if run.late else _died(run))
    error = str(status.get("error", ""))
    return Checked(
        signers=tuple(str(s).upper() for s in status.get("signers", [])),
        valid=tuple(str(s).upper() for s in status.get("valid", [])),
        error="" if _NO_SIGNATURE in error else error[:200],
    )


def _died(run: _Run) -> str:
    """Why a child gave no status: the signal or exit status it ended with."""
    code = run.returncode
    if code is None:
        return "the decrypting process did not start"
    if code is not None and code < 0:
        return f"the decrypting process ended by signal {signal.Signals(-code).name}"
    return f"the decrypting process ended with status {code}"


# --- the child ---------------------------------------------------------------------


def _child() -> None:
    """Read the request on stdin, limit this process, do it, report on stderr."""
    head = json.loads(sys.stdin.buffer.readline(1 << 16))
    cpu, memory = int(head["cpu"]), int(head["memory"])
    _limit(resource.RLIMIT_CPU, cpu, cpu + 1)
    _limit(resource.RLIMIT_AS, memory, memory)
    _limit(resource.RLIMIT_CORE, 0, 0)
    parts = [sys.stdin.buffer.read(n) for n in head["sizes"]]
    os.environ["RUST_BACKTRACE"] = "0"
    work = _child_decrypt if head["op"] == "decrypt" else _child_verify
    _report(work(head, parts))


def _report(status: dict[str, Any]) -> None:
    """Write one status line (the parent takes the last one)."""
    sys.stderr.buffer.write(b"\n" + STATUS + json.dumps(status).encode() + b"\n")
    sys.stderr.flush()


def _limit(which: int, soft: int, hard: int) -> None:
    """Lower a resource limit of this process to `soft`/`hard` (never above the limit it
    has already: a unit's LimitCPU= or LimitAS= may be lower). The parent's deadline and
    output limit hold even where setting one fails."""
    _, held = resource.getrlimit(which)
    if held != resource.RLIM_INFINITY:
        soft, hard = min(soft, held), min(hard, held)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(which, (soft, hard))


def _child_decrypt(head: dict[str, Any], parts: list[bytes]) -> dict[str, Any]:
    """Stream the plaintext to stdout, then check the signatures with a second pass."""
    from pysequoia import Tsk, decrypt_file  # noqa: PLC0415

    secret, phrase, message, *certs = parts
    try:
        decryptor = Tsk.from_bytes(secret).decryptor(
            phrase.decode() if head["passphrase"] else None
        )
        source = _memfile(message)
        decrypt_file(source, "/proc/self/fd/1", decryptor=decryptor)
    except (RuntimeError, ValueError, OSError) as exc:
        return {"error": _first_line(exc)}
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the end of the plaintext for the parent
    _report({"ok": True, "signature": {"signers": [], "valid": []}})  # if pass 2 is cut short
    signature = _signatures(lambda store: decrypt_file(source, os.devnull, decryptor, store), certs)
    return {"ok": True, "signature": signature}


def _child_verify(head: dict[str, Any], parts: list[bytes]) -> dict[str, Any]:
    """Check a detached signature over the data, or a clearsigned text."""
    from pysequoia import Sig, verify  # noqa: PLC0415

    data, signature, *certs = parts
    if not signature:
        return _signatures(lambda store: verify(data, store), certs)
    try:
        sig = Sig.from_bytes(signature)
    except (RuntimeError, ValueError) as exc:
        return {"error": _first_line(exc)}
    return _signatures(lambda store: verify(bytes=data, store=store, signature=sig), certs)


def _signatures(check: Callable[[Any], Any], certs: list[bytes]) -> dict[str, Any]:
    """Run `check(store)`; who signed (the key IDs Sequoia asked for) and which verified."""
    from pysequoia import Cert  # noqa: PLC0415

    known = []
    for data in certs:
        with contextlib.suppress(RuntimeError, ValueError):
            known.append(Cert.from_bytes(data))
    signers: list[str] = []

    def store(ids: list[str]) -> list[Any]:
        signers.extend(ids)
        return known

    try:
        result = check(store)
    except (RuntimeError, ValueError, OSError) as exc:
        return {"signers": signers, "valid": [], "error": _first_line(exc)}
    valid = [str(s.certificate) for s in result.valid_sigs]
    return {"signers": signers, "valid": valid}


def _memfile(data: bytes) -> str:
    """A path to `data` in memory (a memfd of this process)."""
    fd = os.memfd_create("message")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return f"/proc/self/fd/{fd}"


def _first_line(exc: BaseException) -> str:
    """The library's reason without its detail lines (never key material)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


if __name__ == "__main__":
    _child()

"""Intake cost per MB of adversarial message shapes, next to an ordinary report.

    .venv/bin/python -m benchmarks.adversarial [MEGABYTES ...]   (0: just under the limit)

Each shape is one message built to make one step of the intake slow (tags in a long
subject, nested HTML, many Authentication-Results, many headers, encoded words, MIME
parts, deep message/rfc822, long lines, boundaries, empty lines, contact bait, a long
header line, address headers, uuencode), at 2 MB and just under the default
`max_message_bytes`. Each goes alone through the whole intake (Maildir → parse →
classify → record → move) of a service whose staff trust an authserv-id, in a child
process that first took an ordinary report (templates compiled, tables read); the
figure is the wall time of `Service.intake`, median of three, and a message still
there after TIMEOUT seconds counts as a stall. The ordinary report is a short
plain-text report with one base64 attachment of the same total size.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.table import Row
from mailbot.core import config
from mailbot.shell import logs
from mailbot.shell.clock import ManualClock
from mailbot.shell.mailbox import deliver_to_maildir
from mailbot.shell.wiring import build_service

MB = 1_000_000
#: Just under the default `max_message_bytes` (a larger message is read headers-only).
DEFAULT_LIMIT = config.LimitSettings().max_message_bytes
NEAR_LIMIT = DEFAULT_LIMIT - 64 * 1024
RATIO_TARGET = 10.0
SECONDS_TARGET = 5.0
#: A message still in intake after this long is reported as a stall, not waited for.
TIMEOUT = 60.0
TRUSTED_ID = "mx.gemeente.example"
NOW = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)

_HEAD = (
    "From: Jan de Vries <jan@example.nl>\r\n"
    "To: meldpunt@gemeente.example\r\n"
    "Message-ID: <{name}-{size}@example.nl>\r\n"
    "Date: Mon, 21 Dec 2026 10:00:00 +0100\r\n"
    "MIME-Version: 1.0\r\n"
)
_REPORT = (
    "Goedendag,\r\n\r\nIk heb een kwetsbaarheid gevonden op https://portaal.gemeente.example"
    "/login.\r\nU kunt mij bereiken op 06-12345678.\r\n\r\nMet vriendelijke groet,\r\nJan\r\n"
)


def _head(name: str, size: int, extra: str = "") -> str:
    return _HEAD.format(name=name, size=size) + extra


def _repeat(unit: str, budget: int) -> str:
    """`unit` repeated to about `budget` characters (at least once)."""
    return unit * max(1, budget // len(unit))


def _folded(words: str, width: int = 76) -> str:
    """Space-separated `words` folded into header continuation lines."""
    lines: list[str] = []
    line: list[str] = []
    used = 0
    for word in words.split(" "):
        if used + len(word) > width and line:
            lines.append(" ".join(line))
            line, used = [], 0
        line.append(word)
        used += len(word) + 1
    lines.append(" ".join(line))
    return "\r\n ".join(lines)


def ordinary(size: int) -> bytes:
    """A short plain-text report with one base64 attachment, about `size` bytes in all."""
    boundary = "=-=ordinary=-="
    data = bytes(range(256)) * max(1, int(size * 0.74) // 256)
    lines = base64.encodebytes(data).decode().replace("\n", "\r\n")
    head = _head("ordinary", size, "Subject: Kwetsbaarheid in het portaal\r\n")
    return (
        f'{head}Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{_REPORT}\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="dump.bin"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{lines}--{boundary}--\r\n"
    ).encode()


def tags_in_subject(size: int) -> bytes:
    """A subject of distinct tag-shaped words (MK-2000-0001 MK-2000-0002 ...)."""
    count = size // 13
    words = " ".join(f"MK-{2000 + n // 1_000_000}-{n % 1_000_000:06d}" for n in range(count))
    subject = _folded(words[: size - 400])
    return f"{_head('tags', size)}Subject: {subject}\r\n\r\n{_REPORT}".encode()


def nested_html(size: int) -> bytes:
    """An HTML-only report of deeply nested lists, quotes and tables."""
    unit = "<ul><li>a<ol><li>b<blockquote>c<table><tr><td>d"
    body = "<html><body>" + _repeat(unit, size - 600) + "</body></html>"
    head = _head("html", size, "Subject: Melding\r\nContent-Type: text/html; charset=utf-8\r\n")
    return f"{head}\r\n{body}\r\n".encode()


def nested_html_blocks(size: int) -> bytes:
    """An HTML-only report of many blocks, each a list nested 300 deep."""
    block = "<ul><li>x" * 300 + "</li></ul>" * 300
    body = "<html><body>" + _repeat(block, size - 600) + "</body></html>"
    head = _head("htmlb", size, "Subject: Melding\r\nContent-Type: text/html; charset=utf-8\r\n")
    return f"{head}\r\n{body}\r\n".encode()


def authentication_results(size: int) -> bytes:
    """Nearly MAX_HEADERS Authentication-Results whose authserv-id only authres can read
    (a nested comment first), then a plain report filling the message."""
    unit = (
        "Authentication-Results: ((via relay)) mx{n}.elders.example; dkim=pass"
        " header.d=example.nl; spf=pass smtp.mailfrom=example.nl; dmarc=pass"
        " header.from=example.nl\r\n"
    )
    headers = "".join(unit.format(n=n) for n in range(990))
    head = _head("authres", size, "Subject: Melding\r\nContent-Type: text/plain\r\n")
    return f"{headers}{head}\r\n{_REPORT}{_text(size - len(headers) - 800)}".encode()


def _text(size: int) -> str:
    """About `size` characters of ordinary report text."""
    return _repeat("Het formulier op de website controleert de invoer niet goed.\r\n", size)


def many_headers(size: int) -> bytes:
    """Megabytes of short headers, some with encoded words."""
    unit = "X-Trace-{n}: =?utf-8?q?h=C3=A9?= {n} via relay\r\n"
    count = (size - 600) // len(unit.format(n=100000))
    headers = "".join(unit.format(n=n) for n in range(count))
    return f"{_head('headers', size)}{headers}Subject: Melding\r\n\r\n{_REPORT}".encode()


def encoded_words(size: int) -> bytes:
    """One subject of adjacent and separate RFC 2047 words in changing charsets."""
    words = ["=?utf-8?b?w6lt?=", "=?iso-8859-1?q?=E9t=E9?=", "=?utf-8?q?caf=C3=A9?= x"]
    unit = " ".join(words)
    subject = _folded(_repeat(unit + " ", size - 600).strip())
    return f"{_head('words', size)}Subject: {subject}\r\n\r\n{_REPORT}".encode()


def many_parts(size: int) -> bytes:
    """A multipart/mixed of tiny text and attachment parts."""
    boundary = "p"
    unit = (
        f"--{boundary}\r\nContent-Type: text/plain; name=a.txt\r\n"
        "Content-Disposition: attachment; filename=a.txt\r\n\r\nx\r\n"
    )
    parts = _repeat(unit, size - 800)
    head = _head(
        "parts",
        size,
        f'Subject: Melding\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n',
    )
    return f"{head}\r\n--{boundary}\r\n\r\n{_REPORT}\r\n{parts}--{boundary}--\r\n".encode()


def deep_rfc822(size: int) -> bytes:
    """message/rfc822 nested 400 deep (the email package recurses), the innermost holding text."""
    level = "From: a@example.nl\r\nSubject: fwd\r\nContent-Type: message/rfc822\r\n\r\n"
    head = _head("rfc822", size, "Subject: Doorgestuurd\r\nContent-Type: message/rfc822\r\n")
    nest = level * 400
    inner = "From: b@example.nl\r\nSubject: binnen\r\n\r\n"
    filler = _repeat("Dit is de tekst van het doorgestuurde bericht.\r\n", size - len(nest) - 800)
    return f"{head}\r\n{nest}{inner}{filler}".encode()


def long_lines(size: int) -> bytes:
    """A plain-text report whose body is one line of words, digits, dots and colons."""
    unit = "woord 06 1.2.3 a:b:c http:// x.y.z e-mail: 0031 "
    head = _head("lines", size, "Subject: Melding\r\nContent-Type: text/plain; charset=utf-8\r\n")
    return f"{head}\r\n{_repeat(unit, size - 600)}\r\n".encode()


def many_boundaries(size: int) -> bytes:
    """Nested multiparts over a body of empty lines: as many boundaries as the cap on
    boundaries x lines lets through."""
    depth = max(1, 20_000_000 // size - 2)
    opening = "".join(
        f'--b{n}\r\nContent-Type: multipart/mixed; boundary="b{n + 1}"\r\n\r\n'
        for n in range(depth)
    )
    head = _head(
        "bounds", size, 'Subject: Melding\r\nContent-Type: multipart/mixed; boundary="b0"\r\n'
    )
    filler = "\n" * (size - len(opening) - 800)
    return f"{head}\r\n{opening}--b{depth}\r\n\r\n{_REPORT}{filler}".encode()


def empty_lines(size: int) -> bytes:
    """A plain-text report followed by a megabyte of empty lines."""
    head = _head("empty", size, "Subject: Melding\r\nContent-Type: text/plain\r\n")
    return f"{head}\r\n{_REPORT}".encode() + b"\n" * (size - 800)


def dash_lines(size: int) -> bytes:
    """A body of short lines with a boundary-like line after each (no run to fold)."""
    head = _head("dashes", size, "Subject: Melding\r\nContent-Type: text/plain\r\n")
    return f"{head}\r\n{_REPORT}".encode() + b"x\n--\n" * ((size - 800) // 5)


def contact_bait(size: int) -> bytes:
    """Short lines that look almost like phone numbers, addresses, IPs, hosts and URLs."""
    unit = (
        "E-mail: a@b Contact: x@y.z.\r\n+31 6 1 2 3 4 5 6 7 8 9 0 (020) 0 0 0\r\n"
        "1.2.3.4.5.6.7 ::1:2:3:4:5:6:7:8:9 a.b.c.d.e.f.php https://x.y/(((( http://[::\r\n"
    )
    head = _head("contacts", size, "Subject: Melding\r\nContent-Type: text/plain\r\n")
    return f"{head}\r\n{_repeat(unit, size - 600)}".encode()


def long_header_line(size: int) -> bytes:
    """One unfolded Subject line of non-ASCII UTF-8 as long as the message."""
    subject = "kwetsbaarheid \u00e9\u00e9n " * ((size - 600) // 20)  # 20 bytes in UTF-8
    return f"{_head('subject', size)}Subject: {subject}\r\n\r\n{_REPORT}".encode()


def address_headers(size: int) -> bytes:
    """Nine hundred To, Cc and Reply-To headers of address-parser bait."""
    each = max(10, (size - 2000) // 900 - 10)
    units = ["@" * each, "<" * each, "a@b.c, " * (each // 7)]
    names = ("To", "Cc", "Reply-To")
    headers = "".join(f"{names[n % 3]}: {units[n % 3]}\r\n" for n in range(900))
    return f"{_head('addresses', size)}{headers}Subject: Melding\r\n\r\n{_REPORT}".encode()


def uuencoded(size: int) -> bytes:
    """A report with one x-uuencode attachment (decoded line by line by the email package)."""
    line = "M" + "86)C" * 15 + "\r\n"
    body = "begin 644 dump.bin\r\n" + _repeat(line, size - 1200) + "`\r\nend\r\n"
    boundary = "=-=uu=-="
    head = _head(
        "uu", size, f'Subject: Melding\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n'
    )
    return (
        f"{head}\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n{_REPORT}\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: x-uuencode\r\n"
        f'Content-Disposition: attachment; filename="dump.bin"\r\n\r\n{body}'
        f"--{boundary}--\r\n"
    ).encode()


@dataclass(frozen=True)
class Shape:
    name: str
    build: Callable[[int], bytes]


SHAPES: tuple[Shape, ...] = (
    Shape("tags in the subject", tags_in_subject),
    Shape("nested HTML", nested_html),
    Shape("nested HTML blocks", nested_html_blocks),
    Shape("Authentication-Results", authentication_results),
    Shape("many headers", many_headers),
    Shape("encoded words", encoded_words),
    Shape("many MIME parts", many_parts),
    Shape("deep message/rfc822", deep_rfc822),
    Shape("long lines", long_lines),
    Shape("many boundaries", many_boundaries),
    Shape("empty lines", empty_lines),
    Shape("boundary-like lines", dash_lines),
    Shape("contact bait", contact_bait),
    Shape("long header line", long_header_line),
    Shape("address headers", address_headers),
    Shape("uuencoded attachment", uuencoded),
)


def sized(build: Callable[[int], bytes], size: int) -> bytes:
    """The message `build` makes for `size`, made again smaller if it came out larger."""
    raw = build(size)
    if len(raw) > size:
        raw = build(size * size // len(raw) - 4096)
    return raw


def intake_seconds(raw: bytes, timeout: float = TIMEOUT) -> tuple[float, str]:
    """Wall time of one intake pass over `raw` alone, and its disposition, measured in a
    child process that has warmed up on an ordinary report; ("timeout") past `timeout`."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "message.eml").write_bytes(raw)
        command = [sys.executable, "-m", "benchmarks.adversarial", "--child", tmp]
        try:
            done = subprocess.run(
                command, check=False, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return timeout, "timeout"
    if done.returncode != 0:
        return 0.0, f"failed: {done.stderr.strip().splitlines()[-1:]}"
    found = json.loads(done.stdout.splitlines()[-1])
    return float(found["seconds"]), str(found["disposition"])


def child(tmp: Path) -> None:
    """In the child: a service trusting TRUSTED_ID, warmed up, then the timed intake."""
    logs.configure("console", "warning")
    settings = config.embedded(tmp)
    staff = replace(settings.staff, authserv_ids=(TRUSTED_ID,))
    service = build_service(replace(settings, staff=staff), ManualClock(NOW))
    deliver_to_maildir(tmp / "inbox", ordinary(20_000), NOW)
    service.intake()  # templates compiled, holiday tables read, SQLite warm
    deliver_to_maildir(tmp / "inbox", (tmp / "message.eml").read_bytes(), NOW)
    started = time.perf_counter()
    outcomes = service.intake()
    seconds = time.perf_counter() - started
    service.close()
    disposition = outcomes[0].disposition.value if outcomes else "none"
    print(json.dumps({"seconds": seconds, "disposition": disposition}))


@dataclass(frozen=True)
class Measured:
    """One shape at one size: the median of `repeat` intake passes."""

    name: str
    size: int
    seconds: float
    disposition: str

    @property
    def ms_per_mb(self) -> float:
        return self.seconds * 1000 / (self.size / MB)


def measure(shape: Shape, size: int, repeat: int) -> Measured:
    """Median wall time of `repeat` intakes of the shape built for `size` (one when the
    first runs out of time)."""
    raw = sized(shape.build, size)
    runs = [intake_seconds(raw)]
    while len(runs) < repeat and runs[0][1] != "timeout":
        runs.append(intake_seconds(raw))
    seconds, disposition = sorted(runs)[len(runs) // 2]
    return Measured(shape.name, len(raw), seconds, disposition)


def measure_all(size: int, repeat: int) -> tuple[Measured, list[Measured]]:
    """The ordinary report and every shape at `size`."""
    base = measure(Shape("ordinary", ordinary), size, repeat)
    return base, [measure(shape, size, repeat) for shape in SHAPES]


def row(size: int, repeat: int = 3) -> Row:
    """The row for one size: the worst shape per MB against the ordinary report."""
    base, shapes = measure_all(size, repeat)
    worst = max(shapes, key=lambda m: m.ms_per_mb)
    slowest = max(shapes, key=lambda m: m.seconds)
    ratio = worst.ms_per_mb / base.ms_per_mb
    met = ratio <= RATIO_TARGET and slowest.seconds <= SECONDS_TARGET
    each = ", ".join(f"{m.name} {_at_least(m)}{m.ms_per_mb:.0f}" for m in shapes)
    quarantined = sorted({m.name for m in shapes if m.disposition == "quarantined"})
    return Row(
        f"adversarial intake, {len(SHAPES)} shapes of {size / MB:.1f} MB (worst per MB)",
        f"{worst.name}: {_at_least(worst)}{worst.ms_per_mb:.0f} ms/MB = {ratio:.1f}x;"
        f" slowest message {_at_least(slowest)}{slowest.seconds:.2f} s ({slowest.name})",
        f"ordinary report: {base.ms_per_mb:.0f} ms/MB ({base.seconds * 1000:.0f} ms)",
        f"≤ {RATIO_TARGET:.0f}x ordinary per MB, ≤ {SECONDS_TARGET:.0f} s a message",
        met,
        f"median of {repeat}; ms/MB: {each}; quarantined: {', '.join(quarantined) or 'none'}",
    )


def _at_least(measured: Measured) -> str:
    """ "≥ " for a message that was stopped at TIMEOUT (its figure is a lower bound)."""
    return "≥ " if measured.disposition == "timeout" else ""


def rows(sizes: tuple[int, ...] = (2 * MB, NEAR_LIMIT), repeat: int = 3) -> list[Row]:
    """One row per size (2 MB and just under the default max_message_bytes)."""
    return [row(size, repeat) for size in sizes]


def main(sizes: list[float]) -> None:
    """Print ms per MB of every shape at each size (in MB; 0 means just under the limit)."""
    for size in (int(s * MB) if s else NEAR_LIMIT for s in sizes):
        base, shapes = measure_all(size, 1)
        for m in (base, *shapes):
            print(
                f"{m.size / MB:6.2f} MB {m.name:26} {m.seconds * 1000:7.0f} ms"
                f" {m.ms_per_mb:7.1f} ms/MB = {m.ms_per_mb / base.ms_per_mb:4.1f}x {m.disposition}",
                flush=True,
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(Path(sys.argv[2]))
    else:
        main([float(a) for a in sys.argv[1:]] or [2.0, 0.0])

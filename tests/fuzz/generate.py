"""Random hostile MIME trees for the fuzz campaign (tests/fuzz/campaign.py).

Everything takes a `random.Random`, so one seed gives the same bytes on every run.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import random

OUR = "meldpunt@gemeente.example"
TEXTS = [
    "Lek op https://portaal.gemeente.example/login?q=<script>",
    "E-mailadres: melder@example.nl\nTelefoon: 06-12345678",
    "IP 203.0.113.7, host db.intern.gemeente.example, ::ffff:10.0.0.1",
    "{{ 7*7 }} {% for x in y %}{{ x }}{% endfor %} ${7*7}",
    "Re: [MK-2026-0001] status",
    "K\u00f6ln \u2603 \u202e\u200b caf\u00e9 \U0001f4a9",
    "<html><script>alert(1)</script><img src=https://evil.example/t.gif><p>hoi</p>",
    "Contact: a@b.example, c@d.example; reply-to: e@f.example",
    "Bcc: evil@attacker.example\r\n\r\ninjected",
    "",
]
CHARSETS = [
    "utf-8", "us-ascii", "iso-8859-1", "windows-1252", "utf-16", "utf-16-be", "utf-32",
    "utf-7", "koi8-r", "gb2312", "shift_jis", "iso-2022-jp", "x-unknown", "punycode",
    "idna", "rot13", "base64", "unicode-escape", "undefined", "", '"utf-8"', "utf-8*x",
    "UTF8", "latin1", "hz", "cp037", "zlib", "x" * 100,
]  # fmt: skip
ENCODINGS = [
    "7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode",
    "x-uue", "garbage", "", "BASE64", "Quoted-Printable ; x",
]  # fmt: skip
LEAF_TYPES = [
    "text/plain", "text/plain", "text/html", "application/pdf", "application/octet-stream",
    "image/png", "message/delivery-status", "text/rfc822-headers",
    "message/disposition-notification", "text/enriched", "application/ms-tnef", "text/x-weird",
    "message/global-delivery-status", "message/global-headers", "",
]  # fmt: skip
CONTAINERS = [
    "multipart/mixed", "multipart/alternative", "multipart/related",
    "multipart/report; report-type=delivery-status",
    "multipart/report; report-type=disposition-notification", "multipart/signed",
    "multipart/digest", "message/rfc822", "message/global", "multipart/x-unknown",
]  # fmt: skip
SENDERS = [
    "Jan de Vries <jan@example.nl>", f"Meldpunt <{OUR}>", "MAILER-DAEMON@mx.example.org",
    "CISO <ciso@gemeente.example>", "=?utf-8?q?J=C3=B6rg=0D=0ABcc:_x@y.z?= <j@example.de>",
    "meldpunt@vng.example", "<>", "@@@", "a@b, c@d", '"\\" <x@y.example>', "\x00@\x00",
    "=?utf-7?b?KwBEAEUATAAt?= <u7@example.nl>", "x" * 3000 + "@example.nl",
]  # fmt: skip
HOSTILE_HEADERS = [
    "Auto-Submitted: auto-replied", "Auto-Submitted: no", "Precedence: bulk",
    "Return-Path: <>", "X-Spam-Flag: YES", f"X-Mailbot-Loop: {OUR}", "X-Autoreply: yes",
    "X-Auto-Response-Suppress: All", "X-MS-Exchange-Inbox-Rules-Loop: a@b.example",
    "Message-ID: <mailbot.acknowledgement.MK-2026-0001.x@gemeente.example>",
    "Message-ID: <>", "Message-ID: " + "<a@b>" * 100,
    "In-Reply-To: <case.MK-2026-0001@gemeente.example>",
    "References: " + " ".join(f"<r{i}@x>" for i in range(300)),
    "Subject: Re: [MK-2026-0001] =?utf-8?q?=0D=0ABcc:_evil@x.example?=",
    "Subject: =?unknown?b?////?= =?utf-8?b?broken?= =?utf-8?q?=FF=FE?=",
    "From: <>", "From: " + ", ".join(f"u{i}@example.org" for i in range(200)),
    "To: " + "x@example.org, " * 300, "Content-Type: multipart/mixed; boundary=",
    "Content-Type: multipart/mixed", "Content-Type: message/rfc822",
    "Content-Type: text/plain; charset*=punycode''" + "a" * 5000,
    "Content-Type: multipart/mixed; boundary*=punycode''" + "b" * 5000,
    "Content-Transfer-Encoding: base64", "Content-Transfer-Encoding: quoted-printable",
    "Content-Disposition: attachment; filename*=x-bad''%FF%00..%2F",
    "Content-Disposition: attachment; filename=\"../../../etc/passwd\\x00.txt\"",
    "Authentication-Results: mx.gemeente.example; dmarc=pass header.from=gemeente.example",
    "X-Header: \udcff", "\x00: \x00", ": empty name", "No colon at all", " folded start",
    "Content-Type: text/plain; charset=\"utf-8; name=x",
    "Content-Type: multipart/report; report-type*=utf-7''+AGQ-isposition-notification",
]  # fmt: skip


def text_body(rng: random.Random) -> str:
    """Some report-like text, sometimes long."""
    text = "\n".join(rng.choice(TEXTS) for _ in range(rng.randint(1, 6)))
    if rng.random() < 0.02:
        text += rng.choice(["x", "06-", "1.", "a@", "://", ":", " "]) * rng.randint(100, 20_000)
    return text


def encode_leaf(rng: random.Random, text: str, charset: str, cte: str) -> bytes:
    """`text` in `charset` (or UTF-8 when that fails), transfer-encoded as `cte` says."""
    try:
        data = text.encode(charset.strip('"').split("*")[0] or "utf-8")
    except (LookupError, UnicodeError, TypeError, ValueError):
        data = text.encode("utf-8", "surrogatepass")
    kind = cte.lower().split(";")[0].strip()
    if kind == "base64":
        data = base64.encodebytes(data)
    elif kind == "quoted-printable":
        data = quopri.encodestring(data)
    elif kind in ("x-uuencode", "uuencode", "x-uue"):
        lines = [binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45)]
        data = b"begin 644 x\n" + b"".join(lines) + b"`\nend\n"
    if rng.random() < 0.1:
        data = corrupt_encoding(rng, data)
    return data


def corrupt_encoding(rng: random.Random, data: bytes) -> bytes:
    """Break transfer-encoded bytes: stray padding, bad escapes, NULs, cut lines."""
    junk = rng.choice([b"=", b"==", b"=Z", b"=\n", b"====", b"\x00", b"!!", b"begin", b"\xff"])
    at = rng.randint(0, len(data))
    return data[:at] + junk * rng.randint(1, 5) + data[at:]


def filename_param(rng: random.Random) -> str:
    """A name/filename parameter in one of the ways mail clients (and attackers) write it."""
    name = rng.choice(["r.pdf", "../../etc/passwd", "a\x00b.txt", "....", "x" * 400, "42.zip"])
    style = rng.randrange(6)
    if style == 0:
        return f'filename="{name}"'
    if style == 1:
        word = base64.b64encode(name.encode()).decode()
        return f'filename="=?utf-8?b?{word}?="'
    if style == 2:
        charset = rng.choice(CHARSETS)
        return f"filename*={charset}''" + "".join(f"%{b:02X}" for b in name.encode())
    if style == 3:
        parts = rng.randint(1, 300)
        return "; ".join(f"filename*{i}*=utf-8''{name[:3]}%2F" for i in range(parts))
    if style == 4:
        return f"name*={rng.choice(['punycode', 'idna', 'utf-7'])}''" + "q" * rng.randint(1, 9000)
    return f"filename={name}; filename*=utf-8''%0D%0ABcc%3A%20x%40y.z"


def leaf(rng: random.Random) -> tuple[list[str], bytes]:
    """Header lines and body of a random leaf part."""
    kind = rng.choice(LEAF_TYPES)
    charset = rng.choice(CHARSETS)
    cte = rng.choice(ENCODINGS)
    headers = [f"Content-Type: {kind}; charset={charset}" if kind else "Content-Type:"]
    if cte:
        headers.append(f"Content-Transfer-Encoding: {cte}")
    if rng.random() < 0.3:
        disposition = rng.choice(["attachment", "inline", "", "x"])
        headers.append(f"Content-Disposition: {disposition}; {filename_param(rng)}")
    if kind.startswith(("message/delivery", "message/global-delivery")):
        action = rng.choice(["failed", "delayed", "delivered", "", "FAILED (x)"])
        text = f"Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nAction: {action}\n"
    elif kind in ("text/rfc822-headers", "message/global-headers"):
        msgid = f"<mailbot.ack.MK-2026-0001.{rng.randrange(99)}@gemeente.example>"
        text = f"From: {OUR}\nMessage-ID: {msgid}\n"
    else:
        text = text_body(rng)
    return headers, encode_leaf(rng, text, charset, cte)


def tree(rng: random.Random, depth: int = 0) -> tuple[list[str], bytes]:
    """Header lines and body of a random MIME (sub)tree."""
    if depth > rng.choice([1, 2, 3, 5, 8]) or rng.random() < 0.35:
        return leaf(rng)
    kind = rng.choice(CONTAINERS)
    if kind.startswith("message/"):
        inner_headers, body = tree(rng, depth + 1)
        inner = "\n".join([*top_headers(rng), *inner_headers]).encode("utf-8", "surrogateescape")
        return [f"Content-Type: {kind}"], inner + b"\n\n" + body
    boundary = rng.choice(["b", "==b==", f"b{depth}", "x" * 70, "a b", "(", "", "--"]) + str(depth)
    out = [b"preamble\n"] if rng.random() < 0.3 else []
    for _ in range(rng.randint(0, 5)):
        headers, body = tree(rng, depth + 1)
        part = "\n".join(headers).encode("utf-8", "surrogateescape")
        out.append(b"--" + boundary.encode() + b"\n" + part + b"\n\n" + body + b"\n")
    if rng.random() < 0.85:
        out.append(b"--" + boundary.encode() + b"--\n")
    return [f'Content-Type: {kind}; boundary="{boundary}"'], b"".join(out)


def top_headers(rng: random.Random) -> list[str]:
    """The header block of a random message (without its Content-Type)."""
    headers = [
        f"From: {rng.choice(SENDERS)}",
        f"To: {OUR}",
        "Subject: " + (rng.choice(TEXTS).split("\n")[0] if rng.random() < 0.9 else ""),
        f"Message-ID: <fuzz.{rng.randrange(10**9)}@example.org>",
        "MIME-Version: 1.0",
    ]
    if rng.random() < 0.4:
        headers.append(rng.choice(HOSTILE_HEADERS))
    if rng.random() < 0.1:
        del headers[rng.randrange(len(headers))]
    return headers


def generated(rng: random.Random) -> bytes:
    """A whole random message."""
    headers, body = tree(rng)
    head = "\n".join([*top_headers(rng), *headers]).encode("utf-8", "surrogateescape")
    return head + b"\n\n" + body

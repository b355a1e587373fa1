"""Byte-level mutations of mail for the fuzz campaign (tests/fuzz/campaign.py).

Everything takes a `random.Random`, so one seed gives the same bytes on every run.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from tests.fuzz.generate import CHARSETS, ENCODINGS, HOSTILE_HEADERS, corrupt_encoding

#: Mutations never grow a message beyond this.
MAX_BYTES = 3 * 1024 * 1024

# --- byte-level mutations ---------------------------------------------------------------

Mutator = Callable[[random.Random, bytes, list[bytes]], bytes]


def _line_starts(data: bytes) -> list[int]:
    return [0, *(m.end() for m in re.finditer(rb"\n", data[:200_000]))]


def flip(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A few bytes replaced by random ones."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def bitflip(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """One bit flipped."""
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]


def truncate(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Cut off anywhere."""
    return data[: rng.randint(0, len(data))]


def duplicate_slice(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A slice copied (possibly many times) to another place."""
    if not data:
        return data
    i = rng.randrange(len(data))
    piece = data[i : i + rng.randint(1, 2000)] * rng.choice([1, 1, 2, 10])
    at = rng.randint(0, len(data))
    return data[:at] + piece + data[at:]


def delete_slice(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A slice removed."""
    i = rng.randint(0, len(data))
    return data[:i] + data[i + rng.randint(1, 500) :]


def insert_header(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A hostile header line inserted at some line start."""
    at = rng.choice(_line_starts(data)[:60])
    line = rng.choice(HOSTILE_HEADERS).encode("utf-8", "surrogateescape")
    return data[:at] + line + rng.choice([b"\n", b"\r\n", b"\r"]) + data[at:]


def delete_line(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """One line removed."""
    starts = _line_starts(data)
    i = rng.randrange(len(starts))
    end = starts[i + 1] if i + 1 < len(starts) else len(data)
    return data[: starts[i]] + data[end:]


def swap_lines(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Two lines swapped."""
    lines = data.split(b"\n")
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def boundaries(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Declared boundaries changed, or stray delimiter lines inserted."""
    found = [b for b in re.findall(rb'boundary="?([^";\r\n]*)', data[:500_000]) if b]
    if found and rng.random() < 0.5:
        new = rng.choice([b"", b'"', b"x" * 5000, b"(.*)+", found[0], b"a b", b"\x00"])
        return data.replace(rng.choice(found), new, 1)
    boundary = rng.choice(found) if found else b"b"
    at = rng.choice(_line_starts(data))
    line = b"--" + boundary + rng.choice([b"", b"--", b"-", b" ", b"x"]) + b"\n"
    return data[:at] + line * rng.randint(1, 3) + data[at:]


def charsets(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Declared charsets replaced by unknown, unsafe or odd ones."""
    new = rng.choice(CHARSETS).encode()
    if rng.random() < 0.3:
        new = (
            rng.choice([b"punycode", b"idna", b"utf-7", b"x"])
            + b"''"
            + b"a" * rng.randint(1, 50_000)
        )
        return re.sub(rb"charset=", b"charset*=" + new + b"; x=", data, count=1)
    return re.sub(rb"charset=\"?[^\";\s]*\"?", b"charset=" + new, data, count=rng.randint(1, 3))


def encodings(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Transfer encodings swapped, or encoded data broken."""
    if rng.random() < 0.5:
        new = rng.choice(ENCODINGS).encode()
        return re.sub(rb"(?i)(Content-Transfer-Encoding:)[^\r\n]*", rb"\1 " + new, data, count=2)
    return corrupt_encoding(rng, data)


def eight_bit_header(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Raw 8-bit bytes inside the first header lines."""
    at = rng.choice(_line_starts(data)[:20])
    junk = bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randint(1, 40)))
    return data[:at] + b"X-8bit: " + junk + b"\nSubject: " + junk + b"\n" + data[at:]


def long_line(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A long line (1-10 KB), in the headers or the body."""
    return _insert_line(rng, data, rng.choice([1000, 10_000]))


def huge_line(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A very long line (100 KB - 1 MB), in the headers or the body."""
    return _insert_line(rng, data, rng.choice([100_000, 300_000, 1_000_000]))


def _insert_line(rng: random.Random, data: bytes, size: int) -> bytes:
    unit = rng.choice([b"a", b"=?utf-8?q?a?= ", b"<a@b> ", b"x@y.z, ", b"1.", b"<p>", b"%", b";a="])
    at = rng.choice(_line_starts(data)[:40])
    prefix = rng.choice(
        [b"X-Long: ", b"Subject: ", b"References: ", b"Content-Type: text/plain; ", b""]
    )
    return data[:at] + prefix + unit * (size // len(unit)) + b"\n" + data[at:]


def nest(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """The message wrapped in a few levels of multipart or message/rfc822."""
    return _nest(rng, data, rng.choice([2, 5, 10, 45]))


def deep_nest(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """The message wrapped in hundreds or thousands of levels."""
    return _nest(rng, data, rng.choice([100, 300, 1000, 3000]))


def _nest(rng: random.Random, data: bytes, depth: int) -> bytes:
    head = b"From: nest@example.org\nMIME-Version: 1.0\n"
    for level in range(depth):
        if rng.random() < 0.5:
            data = b"Content-Type: message/rfc822\n\n" + data
        else:
            b = b"n%d" % level
            data = (
                b'Content-Type: multipart/mixed; boundary="'
                + b
                + b'"\n\n--'
                + b
                + b"\n"
                + data
                + b"\n--"
                + b
                + b"--\n"
            )
    return head + data


def line_endings(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Line ends rewritten: CRLF, bare LF, bare CR or a mix."""
    lf = data.replace(b"\r\n", b"\n")
    choice = rng.randrange(4)
    if choice == 0:
        return lf.replace(b"\n", b"\r\n")
    if choice == 1:
        return lf.replace(b"\n", b"\r")
    if choice == 2:
        return lf
    return b"".join(line + rng.choice([b"\n", b"\r\n", b"\r", b"\n\r"]) for line in lf.split(b"\n"))


def nuls(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """NUL bytes sprinkled in."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        out.insert(rng.randint(0, len(out)), 0)
    return bytes(out)


def rfc2231(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """RFC 2231 parameter tricks appended to a Content-Type or Content-Disposition."""
    count = rng.choice([1, 3, 50])
    param = rng.choice([b"filename", b"name", b"boundary", b"charset", b"report-type"])
    charset = rng.choice([b"punycode", b"idna", b"utf-7", b"utf-8", b"", b"x-bad", b"base64"])
    pieces = [
        b"; %s*%d*=%s''%s" % (param, i, charset if i == 0 else b"", b"%FF%00a-b")
        for i in range(count)
    ]
    if rng.random() < 0.3:
        pieces.reverse()
    extra = b"".join(pieces)
    match = re.search(rb"(?i)content-(type|disposition):[^\r\n]*", data)
    if match is None:
        return b"Content-Type: text/plain" + extra + b"\n" + data
    return data[: match.end()] + extra + data[match.end() :]


def encoded_words(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Broken or exotic RFC 2047 words inserted into a header."""
    word = rng.choice(
        [b"=?utf-7?B?KwBEAEUATAAt?=", b"=?punycode?q?bcher-kva?=", b"=?x?q?=0D=0ABcc:_a@b?=",
         b"=?utf-8?b?////?=", b"=?utf-8?q?=FF?=", b"=?utf-8*en?q?a?=", b"=??q??=", b"=?" * 500,
         b"=?utf-16?b?2D3cAA==?=", b"=?unicode-escape?q?\\N{x}?="]
    )  # fmt: skip
    at = rng.choice(_line_starts(data)[:10])
    header = rng.choice([b"Subject: ", b"From: ", b"Reply-To: ", b"X-Name: "])
    return data[:at] + header + word * rng.randint(1, 30) + b" <a@b.example>\n" + data[at:]


def splice(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """A slice of another seed inserted."""
    other = rng.choice(seeds)
    i = rng.randint(0, len(other))
    at = rng.randint(0, len(data))
    return data[:at] + other[i : i + rng.randint(1, 5000)] + data[at:]


def many_parts(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A hundred tiny parts under the first declared boundary."""
    return _add_parts(data, 100)


def thousands_of_parts(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Thousands of tiny parts under the first declared boundary."""
    return _add_parts(data, rng.choice([1000, 6000, 12_000]))


def _add_parts(data: bytes, count: int) -> bytes:
    found = re.search(rb'boundary="?([^";\r\n]+)', data[:200_000])
    boundary = found.group(1) if found else b"b"
    return data + (b"\n--" + boundary + b"\n\nx") * count


def amplify_slice(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """A slice repeated hundreds of times."""
    if not data:
        return data
    i = rng.randrange(len(data))
    at = rng.randint(0, len(data))
    return data[:at] + data[i : i + rng.randint(1, 2000)] * 200 + data[at:]


def parameter_flood(rng: random.Random, data: bytes, _: list[bytes]) -> bytes:
    """Thousands of parameters (RFC 2231 sections, bare ";", open quotes) on one header."""
    unit = rng.choice([b"a=b;", b";", b'a="\\";', b"filename*%d*=%%41;", b'"a;'])
    count = rng.choice([2000, 20_000, 100_000])
    flood = b"".join(unit % i if b"%d" in unit else unit for i in range(count))
    header = rng.choice([b"Content-Type: multipart/mixed; ", b"Content-Disposition: attachment; "])
    at = rng.choice(_line_starts(data)[:30])
    return data[:at] + header + flood + b"\n" + data[at:]


LIGHT: list[Mutator] = [
    flip, bitflip, truncate, duplicate_slice, delete_slice, insert_header, delete_line,
    swap_lines, boundaries, charsets, encodings, eight_bit_header, long_line, nest,
    line_endings, nuls, rfc2231, encoded_words, splice, many_parts,
]  # fmt: skip
#: Mutators that make a message much bigger or slower to parse: only for heavy messages.
HEAVY: list[Mutator] = [huge_line, deep_nest, thousands_of_parts, amplify_slice, parameter_flood]


def mutate(
    rng: random.Random, data: bytes, seeds: list[bytes], rounds: int, heavy: bool = False
) -> tuple[bytes, list[str]]:
    """`data` after `rounds` random light mutations (plus one heavy one if `heavy`)."""
    chosen = [rng.choice(LIGHT) for _ in range(rounds)]
    if heavy:
        chosen.insert(rng.randint(0, len(chosen)), rng.choice(HEAVY))
    names: list[str] = []
    for mutator in chosen:
        result = mutator(rng, data, seeds)
        if len(result) <= MAX_BYTES:
            data = result
            names.append(mutator.__name__)
    return data, names

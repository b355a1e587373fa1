"""Related reports (pure, issue 18 item 2): the systems a report names, normalised; a
MinHash signature of its text and the bands the store indexes it by; which earlier cases
a new report is related to, and why.

Same system: equal normalised keys. A URL is host plus path (lower-case host without
`www.` and port, IDNA; path without query, fragment or trailing slash), a bare host or a
URL of the root path is the host, an IP address is itself. So gemeente.example/afval and
gemeente.example/parkeren are two systems, and so are portal.gemeente.example and
afspraken.gemeente.example; the meldpunt's own domain alone is no system.

Same text: word 3-shingles, MinHash (`datasketch`, 64 permutations) and 16 bands of 4
rows, so the store finds candidates by band without reading any earlier text; a
candidate is related when its estimated Jaccard similarity is at least TEXT_THRESHOLD.

The stored `why` is neutral (system names and a figure), e.g. "same system
portal.example.nl; 87% same text": templates print it as it is.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from mailbot.core.models import Case

RECENT = timedelta(days=90)
"""A closed case stays a candidate this long after its last change (a rescan of the same
system within a quarter is the usual duplicate; older ones are history, not triage)."""
TEXT_THRESHOLD = 0.7
"""Estimated Jaccard similarity of word 3-shingles from which texts are near-identical."""
NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
MIN_SHINGLES = 8
"""Texts with fewer shingles get no signature: too short to call near-identical."""
MAX_WORDS = 5000
MAX_LINKS = 5
"""At most this many links per new report (the most similar first)."""
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(item: str) -> str | None:
    """The system key of one affected item (URL, host name or IP address), or None."""
    text = item.strip()
    if "://" in text:
        return _url_key(text)
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return _host(text)


def _url_key(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    try:
        key = str(ipaddress.ip_address(host))
    except ValueError:
        key = _host(host) or ""
    if not key:
        return None
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    return f"{key}{path}" if path else key


def _host(host: str) -> str | None:
    name = host.strip().rstrip(".").lower().split(":")[0]
    name = name.removeprefix("www.")
    if not name or "." not in name:
        return None
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name if name.isascii() else None


def systems(affected: Iterable[str], own_domain: str) -> dict[str, str]:
    """Digest → system key of each affected item (the meldpunt's own domain left out,
    and a host alone when the report names a path on it)."""
    own = _host(own_domain)
    keys = {k for item in affected if (k := normalise(item)) is not None and k != own}
    # A host named beside a URL on it with a path is that URL's host, not a system of its own.
    hosts = {k.split("/", 1)[0] for k in keys if "/" in k}
    return {digest(k): k for k in sorted(keys - hosts)}


def digest(key: str) -> str:
    """What the store indexes a system key by (no sender text in the index table)."""
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def shingles(text: str) -> set[bytes]:
    """The word 3-shingles of `text` (lower-cased, at most MAX_WORDS words)."""
    words = _WORD.findall(text.lower())[:MAX_WORDS]
    return {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}


def signature(text: str) -> tuple[int, ...] | None:
    """The MinHash signature of `text`, or None when it is too short to compare."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    from datasketch import MinHash  # type: ignore[import-untyped]  # noqa: PLC0415

    minhash = MinHash(num_perm=NUM_PERM, seed=1)
    minhash.update_batch(sorted(grams))
    return tuple(int(v) for v in minhash.hashvalues)


def bands(sig: Sequence[int]) -> tuple[str, ...]:
    """The band keys of a signature (index and a digest of its ROWS values)."""
    out = []
    for b in range(BANDS):
        values = array("Q", sig[b * ROWS : (b + 1) * ROWS]).tobytes()
        out.append(f"{b}:{hashlib.blake2b(values, digest_size=8).hexdigest()}")
    return tuple(out)


def pack(sig: Sequence[int]) -> bytes:
    """A signature as stored."""
    return array("Q", sig).tobytes()


def unpack(blob: bytes) -> tuple[int, ...]:
    """The inverse of `pack`."""
    return tuple(array("Q", blob))


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """The estimated Jaccard similarity of two signatures."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


@dataclass(frozen=True)
class Candidate:
    """An earlier case the store found by a shared system or text band."""

    case_id: str
    is_open: bool
    updated_at: datetime
    systems: frozenset[str] = frozenset()
    """The digests it shares with the new report."""
    signature: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Link:
    """One relation of a new case to an earlier one."""

    case_id: str
    why: str
    score: float


def links(
    found: Mapping[str, str],
    sig: Sequence[int] | None,
    candidates: Iterable[Candidate],
    now: datetime,
) -> tuple[Link, ...]:
    """The earlier cases the new report (systems `found`, text signature `sig`) is
    related to: open or changed within RECENT, and a shared system or near-identical
    text; most related first, at most MAX_LINKS."""
    out: list[Link] = []
    for cand in candidates:
        if not cand.is_open and now - cand.updated_at > RECENT:
            continue
        names = sorted(found[d] for d in cand.systems if d in found)
        score = similarity(sig, cand.signature) if sig and cand.signature else 0.0
        text = score >= TEXT_THRESHOLD
        if not names and not text:
            continue
        out.append(Link(cand.case_id, why(names, score if text else None), len(names) + score))
    out.sort(key=lambda link: (-link.score, link.case_id))
    return tuple(out[:MAX_LINKS])


def why(names: Sequence[str], score: float | None) -> str:
    """The neutral reason: "same system a, b; 87% same text" (either part may be absent)."""
    parts = []
    if names:
        label = "same system" if len(names) == 1 else "same systems"
        parts.append(f"{label} {', '.join(names[:3])}")
    if score is not None:
        parts.append(f"{round(score * 100)}% same text")
    return "; ".join(parts)


def with_link(case: Case, other: str, reason: str) -> Case:
    """`case` related to `other` for `reason` (a link to `other` already there is kept)."""
    if other == case.id or any(rid == other for rid, _ in case.related):
        return case
    return replace(case, related=(*case.related, (other, reason)))

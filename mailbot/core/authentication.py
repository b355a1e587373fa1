"""Did our own MTA vouch for the sender of a staff mail? (DESIGN.md §6). Pure.

The verdict rests on one `Authentication-Results` header: the topmost one whose
authserv-id is trusted. An MTA prepends its header, so the topmost trusted header is
ours; a header a sender forged with our authserv-id sits below it and is ignored.

Authenticated when that header shows
- `dmarc=pass` with `header.from` equal to the From domain (`header.from` required), or
- `dkim=pass` whose `header.d` (else the domain of `header.i`) is the From domain or a
  parent domain of it with at least two labels.
SPF alone never counts. Identity comes from `From` only, never from Reply-To.

Fail-closed: a header `authres` cannot read, met before (or as) the topmost trusted
one, ends the search with "not authenticated" unless it plainly names an untrusted
authserv-id. Nothing here raises on header content.

Cheap for any message: a header that plainly names an untrusted authserv-id is skipped
without `authres` (which needs about 2.5 µs a character); only the topmost MAX_HEADERS
headers are looked at, and at most MAX_READ_CHARS characters in all are handed to
`authres`. Past either bound the search ends with "not authenticated".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import authres  # type: ignore[import-untyped]

from mailbot.core.models import InboundMessage
from mailbot.core.wording import Phrase

HEADER_NAME = "authentication-results"
MAX_HEADER_CHARS = 16_384
"""Longer values are not handed to authres (about 40 ms); treated as unreadable."""
MAX_HEADERS = 50
"""Only the topmost this many Authentication-Results are looked at (ours is near the top)."""
MAX_READ_CHARS = 32_768
"""At most this many characters of header values in all are handed to authres."""

_REASON_VALUE_CHARS = 80

# The leading authserv-id as far as it is plain: optional comments without nesting or
# escapes, then a host-name-like token ended by the end, white space, ";" or "(" (so
# "dkim=pass" is none). Where authres reads the header, it reads this id too.
_LEADING_ID = re.compile(r"\s*(?:\([^()\\]*\)\s*)*([A-Za-z0-9._-]+)(?=[\s;(]|$)")


@dataclass(frozen=True)
class AuthVerdict:
    """Whether our MTA authenticated the From address, with a one-line reason (a
    `wording.Phrase`: English as text, the staff's language in the unverified notice)."""

    authenticated: bool
    reason: str


@dataclass(frozen=True)
class _Result:
    """One `method=result` clause with its `type.name=value` properties (lower-cased)."""

    method: str
    result: str
    properties: tuple[tuple[str, str], ...]
    """(type.name, value) pairs, e.g. ("header.d", "gemeente.example")."""

    def values(self, key: str) -> tuple[str, ...]:
        return tuple(value for name, value in self.properties if name == key)


@dataclass(frozen=True)
class _Header:
    authserv_id: str
    results: tuple[_Result, ...]


@dataclass(frozen=True)
class _Unread:
    """The search ended at a bound before a trusted header was read."""

    reason: str


@dataclass(frozen=True)
class _Unreadable:
    """A header authres refused; `authserv_id` is a best guess, "" when none."""

    authserv_id: str
    error: str


def verify_sender(msg: InboundMessage, trusted_ids: Sequence[str]) -> AuthVerdict:
    """Whether the topmost trusted `Authentication-Results` vouches for `msg.from_address`."""
    verdict = _verify(msg, trusted_ids)
    reason = verdict.reason
    if isinstance(reason, Phrase) and len(reason) <= 400 and reason.isprintable():
        return verdict  # a phrase whole, to be said in the staff language
    return AuthVerdict(verdict.authenticated, _clip(reason, 400))


def _verify(msg: InboundMessage, trusted_ids: Sequence[str]) -> AuthVerdict:
    trusted = _trusted_set(trusted_ids)
    if not trusted:
        return AuthVerdict(False, Phrase("auth.no_trusted_ids"))
    if not msg.from_address:
        return AuthVerdict(False, Phrase("auth.no_from"))
    from_domain = _domain_of(msg.from_address)
    if not from_domain:
        return AuthVerdict(False, Phrase("auth.from_no_domain", address=_clip(msg.from_address)))
    found = _topmost_trusted(msg.headers, trusted)
    if found is None:
        return AuthVerdict(False, Phrase("auth.no_header"))
    if isinstance(found, _Unread):
        return AuthVerdict(False, found.reason)
    if isinstance(found, _Unreadable):
        who = found.authserv_id or Phrase("auth.unknown_id")
        return AuthVerdict(False, Phrase("auth.unreadable", who=who, error=found.error))
    return _judge(found, from_domain)


# --- finding the header ---------------------------------------------------------------


def _trusted_set(trusted_ids: Sequence[str]) -> frozenset[str]:
    ids: Iterable[str] = (trusted_ids,) if isinstance(trusted_ids, str) else trusted_ids
    return frozenset(n for n in (_normalise(i) for i in ids) if n)


def _topmost_trusted(
    headers: Iterable[tuple[str, str]], trusted: frozenset[str]
) -> _Header | _Unreadable | _Unread | None:
    """The first trusted header from the top; an unreadable one that may be trusted stops,
    and so does a header past MAX_HEADERS or past the MAX_READ_CHARS budget."""
    seen = budget = 0
    for value in (v for name, v in headers if name.lower() == HEADER_NAME):
        seen += 1
        if seen > MAX_HEADERS:
            return _Unread(Phrase("auth.too_many", count=MAX_HEADERS))
        leading = _leading_id(value)
        if leading and leading not in trusted:
            continue  # plainly another authserv-id: not worth reading
        budget += len(value)
        if budget > MAX_READ_CHARS:
            return _Unread(Phrase("auth.too_long_all", limit=MAX_READ_CHARS))
        parsed = _parse(value)
        if isinstance(parsed, _Unreadable):
            if not parsed.authserv_id or parsed.authserv_id in trusted:
                return parsed
            continue
        if parsed.authserv_id in trusted:
            return parsed
    return None


def _parse(value: str) -> _Header | _Unreadable:
    """The header value read by authres, or why it could not be read."""
    if len(value) > MAX_HEADER_CHARS:
        return _Unreadable(_leading_id(value), Phrase("auth.too_long", limit=MAX_HEADER_CHARS))
    try:
        header = authres.parse_value(value)
        return _Header(_normalise(str(header.authserv_id)), _results(header.results))
    except Exception as exc:  # hostile input: authres raises many kinds (even RecursionError)
        return _Unreadable(_leading_id(value), _clip(f"{type(exc).__name__}: {exc}"))


def _results(results: Iterable[object]) -> tuple[_Result, ...]:
    """Plain copies of authres result clauses (the sole `none` clause has no method)."""
    copies = []
    for item in results:
        if not isinstance(item, authres.AuthenticationResult):
            continue
        properties = tuple(
            (f"{p.type}.{p.name}".lower(), str(p.value or "")) for p in item.properties
        )
        copies.append(_Result(str(item.method).lower(), str(item.result).lower(), properties))
    return tuple(copies)


def _leading_id(value: str) -> str:
    match = _LEADING_ID.match(value)
    return _normalise(match.group(1)) if match else ""


# --- judging it -----------------------------------------------------------------------


def _judge(header: _Header, from_domain: str) -> AuthVerdict:
    """DMARC pass first, then aligned DKIM pass; otherwise name everything seen."""
    where = header.authserv_id
    checks = {"dmarc": _dmarc, "dkim": _dkim}
    judged = []
    for result in header.results:
        check = checks.get(result.method)
        verdict = check(result, from_domain) if check else (False, _seen(result))
        judged.append((result.method, *verdict))
    for wanted in ("dmarc", "dkim"):
        for method, ok, note in judged:
            if ok and method == wanted:
                return AuthVerdict(True, Phrase("auth.pass", note=note, where=where))
    if not judged:
        return AuthVerdict(False, Phrase("auth.no_results", where=where))
    notes = tuple(note for _, _, note in judged)
    if len("; ".join(notes)) > 300:
        return AuthVerdict(False, f"{_clip('; '.join(notes), 300)} ({where})")
    return AuthVerdict(False, Phrase("auth.fail", notes=notes, where=where))


def _seen(result: _Result) -> str:
    return _clip(f"{result.method}={result.result}")


def _dmarc(result: _Result, from_domain: str) -> tuple[bool, str]:
    if result.result != "pass":
        return False, _seen(result)
    named = [_normalise(v) for v in result.values("header.from")]
    if not named:
        return False, Phrase("auth.dmarc_no_from")
    wrong = [d for d in named if d != from_domain]
    if wrong:
        return False, Phrase("auth.dmarc_other", named=_clip(wrong[0]), domain=from_domain)
    return True, "dmarc=pass"


def _dkim(result: _Result, from_domain: str) -> tuple[bool, str]:
    signers = [_normalise(v) for v in result.values("header.d")]
    if not signers:
        signers = [_domain_of(v) for v in result.values("header.i") if "@" in v]
    if result.result != "pass":
        if not signers:
            return False, f"dkim={result.result}"
        return False, Phrase("auth.dkim_result_for", result=result.result, signer=_clip(signers[0]))
    if not signers:
        return False, Phrase("auth.dkim_no_d")
    wrong = [d for d in signers if not _aligned(d, from_domain)]
    if wrong:
        signer = _clip(wrong[0]) or Phrase("empty")
        return False, Phrase("auth.dkim_unaligned", signer=signer, domain=from_domain)
    return True, Phrase("auth.dkim_result_for", result="pass", signer=signers[0])


def _aligned(signer: str, from_domain: str) -> bool:
    """Whether `signer` is `from_domain` or a parent of it, and has two or more labels."""
    labels = signer.split(".")
    if len(labels) < 2 or not all(labels):
        return False
    return from_domain == signer or from_domain.endswith("." + signer)


# --- small helpers --------------------------------------------------------------------


def _normalise(domain: str) -> str:
    """Lower-cased, surrounding white space and trailing dots removed."""
    return domain.strip().lower().rstrip(".")


def _domain_of(address: str) -> str:
    """The normalised domain after the last "@", or "" when there is no "@"."""
    _local, at, domain = address.rpartition("@")
    return _normalise(domain) if at else ""


def _clip(text: str, limit: int = _REASON_VALUE_CHARS) -> str:
    """One printable line of at most `limit` characters."""
    line = "".join(c if c.isprintable() else "?" for c in text)
    return line if len(line) <= limit else line[: limit - 1] + "…"

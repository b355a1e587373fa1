"""Pure extraction of contact data and affected systems from a report's text.

Works on decoded text (subject and body) in time linear in its length, and fast: each
scan looks for a rare literal first (":", "://", ".", a leading "+", "(" or "0") and
only then looks closer, so a hostile megabyte of digits, dots or colons stays cheap.
A text longer than twice SCAN_CHARS is read at its start and its end only, where a
report names its systems and signs off: text made of near-misses costs about half a
microsecond a character.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from urllib.parse import urlsplit

from mailbot.core.models import Contacts

#: At most this many entries per list of `Contacts`.
MAX_ITEMS = 100
#: URLs longer than this are not reported (a proof-of-concept URL can be long; not endless).
MAX_URL_CHARS = 8192
#: Only this much of the text is looked at to guess the language.
LANGUAGE_SAMPLE_CHARS = 50_000
#: Contacts are looked for in this many characters at the start and at the end.
SCAN_CHARS = 64 * 1024


def _words(text: str) -> frozenset[str]:
    """The space-separated words of `text` as a set."""
    return frozenset(text.split())


_ADDRESS_BAD = re.compile('[\x00-\x20\x7f-\x9f\u2028\u2029<>,;:()"\\\\\\[\\]]')

_LABEL_BEFORE_COLON = re.compile(
    r"(?:^|[^\w-])(?:e-?mail[ -]?(?:adres|address)?|mailadres|mail|contact(?:gegevens|persoon)?"
    r"|reply-to|melder)[ \t]*\Z",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.%+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")

_PHONE = re.compile(
    r"""
    [+(0](?<![\w+./@=?&\#%-].)                  # "+", "(" or "0", not glued to a word
    (?:
        (?:(?<=\+)|(?<=0)0)(?P<cc>[1-9]\d{0,3}+)(?:[ ]?\(0\))?    # +CC or 00CC, maybe (0)
      | (?<=\()(?P<bracketed>0[1-9]\d{0,3}+)\)                   # (020)
      | (?<=0)(?P<area>[1-9]\d{0,3}+)                            # 020, 06
    )
    (?P<rest>(?:[ -]?\d{1,4}+){1,6}+)
    (?![\w]|[.,:/-]?\d)
    """,
    re.VERBOSE,
)
_DATE_LIKE = re.compile(r"\d{1,2}[-/]\d{1,2}[-/]\d{2,4}")

_SCHEME_SEPARATOR = re.compile("://")
_URL_REST = re.compile(r"://[^\s<>\"'`{}|\\^\x00-\x20\x7f]+")
_URL_TRAILING = ".,;:!?'\"*_~"
_CLOSERS = {")": "(", "]": "[", "}": "{"}

_DOT_DIGIT = re.compile(r"\.(?=\d)")
_DOT_LETTER = re.compile(r"\.(?=[A-Za-z])")
_COLON = re.compile(r":(?=[0-9A-Fa-f:])")
_IPV4_RUN = re.compile(r"[0-9.]*")
_IPV6_RUN = re.compile(r"[0-9A-Fa-f:.]*")
_HOST_RUN = re.compile(r"[A-Za-z0-9.-]*")
_IPV4 = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}")
_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,10}(?P<tld>[a-z]{2,63})", re.IGNORECASE
)
_GLUE = re.compile(r"[\w@]")
#: A colon that may end a label: every label ends in one of these letters (or a blank).
_LABEL_COLON = re.compile(r":(?<=[lsntor \t]:)", re.IGNORECASE)

#: File extensions that look like top-level domains in "index.php" or "report.pdf".
FILE_EXTENSIONS = _words(
    "php php3 php5 phtml html htm shtml xhtml asp aspx ashx jsp jspx do action cgi js mjs css map "
    "pdf doc docx docm xls xlsx xlsm odt ods odp ppt pptx rtf txt text md csv tsv log json xml "
    "yml yaml toml ini cfg conf config properties env bak old orig tmp swp lock sql db sqlite "
    "png jpg jpeg gif svg webp bmp ico tif tiff heic mp3 mp4 wav avi mkv webm mov "
    "zip gz tgz bz2 xz tar rar jar war ear apk ipa exe dll msi bat cmd ps1 sh bash py pyc rb "
    "pem crt cer key der pfx p12 csr asc gpg sig eml msg ics vcf bin iso img dmp pcap har "
    "java class go rs c h cpp hpp cs ts tsx jsx vue"
)

#: Common words that occur in only one of the two languages.
DUTCH_WORDS = _words(
    "de het een en van ik je jij dat die niet op te met voor er zijn aan ook als bij maar om "
    "nog wel kan kunnen uw wij heb heeft hebben deze dit naar geen wordt worden mijn graag "
    "hierbij melding zou waar wat hoe omdat jullie onze ons hallo geachte beste groet groeten "
    "vriendelijke bedankt alvast gevonden kwetsbaarheid website gemeente"
)
ENGLISH_WORDS = _words(
    "the and to you your that this with for are have has be not it on our my would could "
    "please which there from can will an at by i hello dear regards thanks thank kind found "
    "vulnerability municipality should been"
)
_PUNCTUATION = "\"'.,;:!?()[]{}<>*_-/\\|`~"


# RFC 5322 dot-atom local part; a domain of DNS labels (ASCII letters, digits, inner
# hyphens), IDNs turned into their A-labels ("xn--..."): exactly what an outgoing header
# may carry (see `rendering`). Anything else, e.g. the "?=" tail of an encoded word that
# the address parser split badly, is not an address.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_UNICODE_LABEL = re.compile(r"[^\W_](?:[^\W_]|-)*")
#: Longest usable address (RFC 5321 path limit less the angle brackets).
MAX_ADDRESS_CHARS = 254


def normalize_address(value: str) -> str | None:
    """Lower-cased addr-spec, or None unless `value` looks like local@domain.

    Surrounding whitespace is ignored; whitespace, control characters, "=?" and any of
    ``<>,;:()"\\[]`` inside make the value unusable, as do a second "@", an empty side,
    a domain with empty labels or labels that start or end with "-", and a result longer
    than 254 characters. An internationalised domain is returned as its A-labels.
    """
    address = value.strip()
    if not 3 <= len(address) <= 320 or _ADDRESS_BAD.search(address) or "=?" in address:
        return None
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "@" in local:
        return None
    ascii_domain = _ascii_domain(domain.lower())
    if ascii_domain is None or not _LOCAL_PART.fullmatch(local):
        return None
    if not _DOMAIN.fullmatch(ascii_domain):
        return None
    address = f"{local.lower()}@{ascii_domain}"
    return address if len(address) <= MAX_ADDRESS_CHARS else None


def _ascii_domain(domain: str) -> str | None:
    """`domain` with its non-ASCII labels as A-labels ("xn--" + punycode of the NFC form,
    as IDNA 2008 has it: "straße" stays itself, not "strasse"); None when a label is not
    letters, digits and hyphens."""
    if domain.isascii():
        return domain
    labels = [_a_label(label) for label in domain.split(".")]
    return None if None in labels else ".".join(str(label) for label in labels)


def _a_label(label: str) -> str | None:
    """One label in ASCII: as it is, or "xn--" + punycode; None when not a name."""
    if label.isascii():
        return label
    nfc = unicodedata.normalize("NFC", label)
    if len(nfc) > 63 or not _UNICODE_LABEL.fullmatch(nfc):
        return None
    return "xn--" + nfc.encode("punycode").decode("ascii")


def extract_contacts(subject: str, text: str) -> Contacts:
    """Contact addresses, phone numbers, URLs, IPs and host names in subject and text
    (their first and last SCAN_CHARS characters)."""
    whole = f"{subject}\n{text}"
    if len(whole) > 2 * SCAN_CHARS:
        whole = f"{whole[:SCAN_CHARS]}\n{whole[-SCAN_CHARS:]}"
    spans = url_spans(whole)
    backwards = whole[::-1]
    return Contacts(
        emails=find_labelled_emails(whole),
        phones=find_phones(whole),
        urls=_unique(url for _, _, url in spans if len(url) <= MAX_URL_CHARS),
        ips=find_ips(whole, backwards),
        hostnames=find_hostnames(whole, backwards, spans),
    )


def find_labelled_emails(text: str) -> tuple[str, ...]:
    """Addresses on the same line after a label such as "E-mailadres:" or "Contact:"."""
    found: list[str] = []
    colon = _LABEL_COLON.search(text)
    while colon is not None:
        start = colon.start()
        end = start + 1
        if _LABEL_BEFORE_COLON.search(text, max(0, start - 24), start):
            newline = text.find("\n", start, start + 300)
            end = newline if newline >= 0 else start + 300
            for match in _EMAIL.finditer(text, start + 1, end):
                address = normalize_address(match.group().strip(".-'"))
                if address is not None:
                    found.append(address)
        colon = _LABEL_COLON.search(text, end)
    return _unique(found)


def find_phones(text: str) -> tuple[str, ...]:
    """Phone numbers as "+" and digits; Dutch national numbers get +31."""
    found: list[str] = []
    for match in _PHONE.finditer(text):
        phone = _normalize_phone(match)
        if phone is not None:
            found.append(phone)
    return _unique(found)


def _normalize_phone(match: re.Match[str]) -> str | None:
    """The E.164-style form of one candidate, or None when it is not a phone number."""
    if _DATE_LIKE.search(match.group()):
        return None
    rest = "".join(ch for ch in match.group("rest") if ch.isdigit())
    country = match.group("cc")
    if country is not None:
        digits = country + rest
        return "+" + digits if 9 <= len(digits) <= 15 else None
    bracketed = match.group("bracketed")
    area = bracketed or "0" + match.group("area")
    if not bracketed and match.group("rest")[:1] in (" ", "-") and area != "06" and len(area) < 3:
        return None
    digits = area + rest
    return "+31" + digits[1:] if len(digits) == 10 else None


def url_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, URL) of every http(s) URL, trailing punctuation trimmed."""
    spans: list[tuple[int, int, str]] = []
    done = 0
    for separator in _SCHEME_SEPARATOR.finditer(text):
        at = separator.start()
        if at < done:
            continue
        scheme = text[max(0, at - 5) : at].lower()
        start = at - 5 if scheme == "https" else at - 4 if scheme.endswith("http") else -1
        # Only after the scheme matched: scanning the rest for every "://" is quadratic.
        rest = _URL_REST.match(text, at) if start >= 0 else None
        if rest is None:
            continue
        url = _trim_url(text[start : rest.end()])
        done = start + len(url)
        spans.append((start, done, url))
    return spans


def _trim_url(url: str) -> str:
    """`url` without trailing punctuation and without unbalanced closing brackets."""
    counts = {bracket: url.count(bracket) for bracket in "()[]{}"}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _CLOSERS and counts[last] > counts[_CLOSERS[last]]:
            counts[last] -= 1
        elif last not in _URL_TRAILING:
            break
        end -= 1
    return url[:end]


def _tokens(
    text: str, backwards: str, hints: re.Pattern[str], run: re.Pattern[str], trailing: str
) -> Iterable[tuple[int, str]]:
    """(start, token) of each maximal `run` around a `hints` match, once, `trailing` cut."""
    size = len(text)
    hint = hints.search(text)
    while hint is not None:
        at = hint.start()
        before = run.match(backwards, size - at)
        after = run.match(text, at)
        start = at - (before.end() - before.start()) if before else at
        done = max(after.end() if after else at, at + 1)
        yield start, text[start:done].rstrip(trailing)
        hint = hints.search(text, done)


def _glued(text: str, start: int, token: str) -> bool:
    """True when a word character or "@" touches the token (part of a word or address)."""
    end = start + len(token)
    return bool(
        (start > 0 and _GLUE.match(text[start - 1])) or (end < len(text) and _GLUE.match(text[end]))
    )


def find_ips(text: str, backwards: str | None = None) -> tuple[str, ...]:
    """IPv4 and IPv6 addresses (validated, in compressed form), in order of appearance."""
    backwards = text[::-1] if backwards is None else backwards
    candidates = [
        (start, token)
        for start, token in _tokens(text, backwards, _DOT_DIGIT, _IPV4_RUN, ".")
        if len(token) <= 15 and _IPV4.fullmatch(token)
    ]
    candidates += [
        (start, token)
        for start, token in _tokens(text, backwards, _COLON, _IPV6_RUN, ".")
        if token.count(":") >= 2 and len(token) <= 45 and token.strip(":")
    ]
    found: list[str] = []
    for start, token in sorted(candidates):
        if not _glued(text, start, token):
            found.append(_valid_ip(token))
    return _unique(ip for ip in found if ip)


@functools.lru_cache(maxsize=1024)
def _valid_ip(token: str) -> str:
    """The compressed form of an IP address, or "" when `token` is none."""
    try:
        return str(ipaddress.ip_address(token))
    except ValueError:
        return ""


def find_hostnames(
    text: str, backwards: str | None = None, spans: Iterable[tuple[int, int, str]] = ()
) -> tuple[str, ...]:
    """Hosts of the URLs in `spans` plus bare domain names (not file names, not mail domains)."""
    backwards = text[::-1] if backwards is None else backwards
    found: list[tuple[int, str]] = []
    urls = list(spans)
    for start, _, url in urls:
        host = _url_host(url) if len(url) <= MAX_URL_CHARS else None
        if host is not None:
            found.append((start, host))
    index = 0
    for start, token in _tokens(text, backwards, _DOT_LETTER, _HOST_RUN, ".-"):
        while index < len(urls) and urls[index][1] <= start:
            index += 1
        if (index < len(urls) and urls[index][0] <= start) or _glued(text, start, token):
            continue
        match = _HOST.fullmatch(token) if len(token) <= 700 else None
        if match is not None and _plausible_domain(token, match.group("tld")):
            found.append((start, token.lower()))
    return _unique(host for _, host in sorted(found))


@functools.lru_cache(maxsize=1024)
def _url_host(url: str) -> str | None:
    """The lower-cased host name of `url`, or None for IP literals and junk."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host if _HOST.fullmatch(host) is not None else None
    return None


def _plausible_domain(token: str, tld: str) -> bool:
    """False for file names ("index.php") and sentence breaks without a space ("werkt.Ik")."""
    if tld.lower() in FILE_EXTENSIONS:
        return False
    return not (tld[0].isupper() and tld[1:].islower() and not token.isupper())


def detect_language(text: str) -> str:
    """ "en" when English stopwords clearly outnumber Dutch ones, else "nl"."""
    english = dutch = 0
    for word, count in Counter(text[:LANGUAGE_SAMPLE_CHARS].lower().split()).items():
        bare = word.strip(_PUNCTUATION)
        if bare in ENGLISH_WORDS:
            english += count
        elif bare in DUTCH_WORDS:
            dutch += count
    return "en" if english >= 2 and english > dutch else "nl"


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """`items` without repeats, in first-seen order, at most MAX_ITEMS."""
    result: dict[str, None] = {}
    for item in items:
        result.setdefault(item, None)
        if len(result) >= MAX_ITEMS:
            break
    return tuple(result)


def mailbox_of(address: str) -> str:
    """The mailbox an address delivers to: lower-cased, without a `+sub-address`.

    `victim+1@example.nl` and `Victim+2@example.nl` are `victim@example.nl`: the daily cap
    of automatic mail counts them together. (The store's migration 4 does the same in SQL.)
    """
    local, at, domain = address.lower().rpartition("@")
    if not at:
        return address.lower()
    return f"{local.partition('+')[0] or local}@{domain}"

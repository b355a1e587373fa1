"""Pure extraction of contact data and affected systems from a report's text.

Everything here works on already-decoded text (subject and body) and runs in time
linear in the text: the patterns have bounded repetitions and anchored starts, so a
hostile megabyte of digits, dots or colons cannot make them backtrack badly.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from string import hexdigits
from urllib.parse import urlsplit

from mailbot.models import Contacts

#: At most this many entries per list of `Contacts`.
MAX_ITEMS = 100
#: URLs longer than this are not reported (a proof-of-concept URL can be long; not endless).
MAX_URL_CHARS = 8192
#: Only this much of the text is looked at to guess the language.
LANGUAGE_SAMPLE_CHARS = 50_000


def _words(text: str) -> frozenset[str]:
    """The space-separated words of `text` as a set."""
    return frozenset(text.split())


_CONTROL = "".join(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))) + "\u2028\u2029"
_ADDRESS_FORBIDDEN = frozenset(_CONTROL + ' <>,;:()"\\[]')

_LABEL = re.compile(
    r"(?<![\w-])(?:e-?mail[ -]?(?:adres|address)?|mailadres|mail|contact(?:gegevens|persoon)?"
    r"|reply-to|melder)[ \t]*:",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.%+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")

_PHONE = re.compile(
    r"""
    (?<![\w+./@=?&#%-])
    (?:
        (?P<intl>(?:\+|00)[1-9]\d{0,3}+(?:[ ]?\(0\))?)
      | (?P<nat>\(0[1-9]\d{0,3}+\)|0[1-9]\d{0,3}+)
    )
    (?P<rest>(?:[ -]?\d{1,4}+){1,6}+)
    (?![\w]|[.,:/-]?\d)
    """,
    re.VERBOSE,
)
_DATE_LIKE = re.compile(r"\d{1,2}[-/]\d{1,2}[-/]\d{2,4}")

_URL = re.compile(r"https?://[^\s<>\"'`{}|\\^\x00-\x20\x7f]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\"*_~"
_CLOSERS = {")": "(", "]": "[", "}": "{"}

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?![\w:]|\.\w)"
)

_HOST = re.compile(
    r"(?<![\w.@-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,10}(?P<tld>[a-z]{2,63})"
    r"(?![\w@-]|\.\w)",
    re.IGNORECASE,
)
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


_WORD = re.compile(r"[^\W\d_]+")
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


def normalize_address(value: str) -> str | None:
    """Lower-cased addr-spec, or None unless `value` looks like local@domain.

    Surrounding whitespace is ignored; whitespace, control characters and any of
    ``<>,;:()"\\[]`` inside make the value unusable, as do a second "@", an empty side,
    or a domain with empty labels.
    """
    address = value.strip()
    if not 3 <= len(address) <= 320 or any(ch in _ADDRESS_FORBIDDEN for ch in address):
        return None
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "@" in local:
        return None
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return None
    return address.lower()


def extract_contacts(subject: str, text: str) -> Contacts:
    """Contact addresses, phone numbers, URLs, IPs and host names in subject and text."""
    whole = f"{subject}\n{text}"
    spans = url_spans(whole)
    return Contacts(
        emails=find_labelled_emails(whole),
        phones=find_phones(whole),
        urls=_unique(url for _, _, url in spans if len(url) <= MAX_URL_CHARS),
        ips=find_ips(whole),
        hostnames=find_hostnames(whole, spans),
    )


def find_labelled_emails(text: str) -> tuple[str, ...]:
    """Addresses on the same line after a label such as "E-mailadres:" or "Contact:"."""
    found: list[str] = []
    scanned = 0
    for label in _LABEL.finditer(text):
        if label.start() < scanned:
            continue
        limit = label.end() + 300
        newline = text.find("\n", label.end(), limit)
        scanned = newline if newline >= 0 else limit
        for match in _EMAIL.finditer(text[label.end() : scanned]):
            address = normalize_address(match.group().strip(".-'"))
            if address is not None:
                found.append(address)
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
    intl = match.group("intl")
    if intl is not None:
        digits = "".join(ch for ch in intl.replace("(0)", "") if ch.isdigit()) + rest
        digits = digits.removeprefix("00")
        return "+" + digits if 9 <= len(digits) <= 15 else None
    area = match.group("nat")
    separated = match.group("rest")[:1] in (" ", "-")
    if separated and not area.startswith("(") and area != "06" and len(area) < 3:
        return None
    digits = area.strip("()") + rest
    return "+31" + digits[1:] if len(digits) == 10 else None


def url_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, URL) of every http(s) URL, trailing punctuation trimmed."""
    spans: list[tuple[int, int, str]] = []
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        spans.append((match.start(), match.start() + len(url), url))
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


def find_ips(text: str) -> tuple[str, ...]:
    """IPv4 and IPv6 addresses (validated, in compressed form), in order of appearance."""
    candidates = [(m.start(), m.group()) for m in _IPV4.finditer(text)]
    candidates += [(m.start(), m.group()) for m in _IPV6.finditer(text)]
    found: list[str] = []
    for _, candidate in sorted(candidates):
        if ":" in candidate and not any(ch in hexdigits for ch in candidate):
            continue
        try:
            found.append(str(ipaddress.ip_address(candidate)))
        except ValueError:
            continue
    return _unique(found)


def find_hostnames(text: str, spans: Iterable[tuple[int, int, str]]) -> tuple[str, ...]:
    """Hosts of the URLs plus bare domain names (not file names, not mail domains)."""
    found: list[tuple[int, str]] = []
    pieces: list[str] = []
    done = 0
    for start, end, url in spans:
        host = _url_host(url)
        if host is not None:
            found.append((start, host))
        pieces += [text[done:start], " " * (end - start)]
        done = end
    pieces.append(text[done:])
    for match in _HOST.finditer("".join(pieces)):
        if _plausible_domain(match.group(), match.group("tld")):
            found.append((match.start(), match.group().lower()))
    return _unique(host for _, host in sorted(found))


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
        match = _HOST.fullmatch(host)
        return host if match is not None else None
    return None


def _plausible_domain(token: str, tld: str) -> bool:
    """False for file names ("index.php") and sentence breaks without a space ("werkt.Ik")."""
    if tld.lower() in FILE_EXTENSIONS:
        return False
    return not (tld[0].isupper() and tld[1:].islower() and not token.isupper())


def detect_language(text: str) -> str:
    """ "en" when English stopwords clearly outnumber Dutch ones, else "nl"."""
    english = dutch = 0
    for word in _WORD.findall(text[:LANGUAGE_SAMPLE_CHARS].lower()):
        if word in ENGLISH_WORDS:
            english += 1
        elif word in DUTCH_WORDS:
            dutch += 1
    return "en" if english >= 2 and english > dutch else "nl"


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """`items` without repeats, in first-seen order, at most MAX_ITEMS."""
    result: dict[str, None] = {}
    for item in items:
        result.setdefault(item, None)
        if len(result) >= MAX_ITEMS:
            break
    return tuple(result)

"""An RFC 9116 `security.txt` from the configuration (pure: `now` is an argument).

Contact is `mailto:` plus the meldpunt address, Preferred-Languages is "nl, en".
Encryption is [security_txt] encryption, else `openpgp4fpr:` and the fingerprint of the
[openpgp] key (lower-case hex, as RFC 9116 §2.5.4's example writes it). Expires
is the end of the configured day in the office timezone; it must be today or later and
less than a year ahead (RFC 9116 §2.5.5). URLs of web resources must be https (§3).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from mailbot.core.config import SecurityTxtSettings
from mailbot.core.errors import ConfigError

PREFERRED_LANGUAGES = "nl, en"
WARN_DAYS = 30
"""`mailbot status` warns this many days before Expires."""
_END_OF_DAY = time(23, 59, 59)
_ENCRYPTION_SCHEMES = ("https://", "dns:", "openpgp4fpr:")


def one_year_after(day: date) -> date:
    """The same day one year later (29 February becomes 1 March)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 3, 1)


def expires_moment(expires: date, tz: ZoneInfo) -> datetime:
    """The last second of day `expires` in the office timezone."""
    return datetime.combine(expires, _END_OF_DAY, tzinfo=tz)


def days_left(expires: date, now: datetime, tz: ZoneInfo) -> int:
    """Whole days from today (office timezone) to `expires`; negative once past."""
    return (expires - now.astimezone(tz).date()).days


def check_expires(expires: date | None, now: datetime, tz: ZoneInfo) -> date:
    """`expires`, or ConfigError naming the key when missing, past or a year or more ahead."""
    key = "[security_txt] expires"
    if expires is None:
        raise ConfigError(f"{key} is required for security-txt (an ISO date, YYYY-MM-DD)")
    today = now.astimezone(tz).date()
    if expires < today:
        raise ConfigError(f"{key} {expires.isoformat()} is in the past (today is {today})")
    limit = one_year_after(today)
    if expires >= limit:
        raise ConfigError(
            f"{key} {expires.isoformat()} is a year or more ahead; "
            f"RFC 9116 wants less than a year: before {limit.isoformat()}"
        )
    return expires


def _check_url(value: str, key: str, schemes: tuple[str, ...] = ("https://",)) -> str:
    if not value.startswith(schemes) or any(c.isspace() for c in value):
        raise ConfigError(
            f"[security_txt] {key} {value!r}: must start with {' or '.join(schemes)}"
            " and contain no spaces"
        )
    return value


def fingerprint_uri(fingerprint: str) -> str:
    """`openpgp4fpr:` and the fingerprint in lower-case hex; ValueError if it is not hex of
    a v4 (40 digits) or v6 (64 digits) key."""
    digits = fingerprint.replace(" ", "").lower()
    if len(digits) not in (40, 64) or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"not an OpenPGP fingerprint: {fingerprint!r}")
    return f"openpgp4fpr:{digits}"


def render(
    settings: SecurityTxtSettings,
    address: str,
    now: datetime,
    tz: ZoneInfo,
    key_fingerprint: str = "",
) -> str:
    """The text of security.txt (LF line ends), or ConfigError naming the bad key.

    `key_fingerprint` (of the [openpgp] key) gives Encryption when [security_txt]
    encryption is not set."""
    expires = check_expires(settings.expires, now, tz)
    lines = [f"Contact: mailto:{address}"]
    lines.append(f"Expires: {expires_moment(expires, tz).isoformat()}")
    if settings.encryption:
        lines.append(
            f"Encryption: {_check_url(settings.encryption, 'encryption', _ENCRYPTION_SCHEMES)}"
        )
    elif key_fingerprint:
        lines.append(f"Encryption: {fingerprint_uri(key_fingerprint)}")
    if settings.policy_url:
        lines.append(f"Policy: {_check_url(settings.policy_url, 'policy_url')}")
    if settings.canonical:
        lines.append(f"Canonical: {_check_url(settings.canonical, 'canonical')}")
    lines.append(f"Preferred-Languages: {PREFERRED_LANGUAGES}")
    return "\n".join(lines) + "\n"


def expiry_warning(expires: date | None, now: datetime, tz: ZoneInfo) -> str | None:
    """A line for `mailbot status` when Expires is WARN_DAYS days away or less, else None."""
    if expires is None:
        return None
    left = days_left(expires, now, tz)
    advice = "set a later [security_txt] expires and regenerate it with `mailbot security-txt`"
    if left < 0:
        return f"security.txt expired on {expires.isoformat()}: {advice}"
    if left <= WARN_DAYS:
        return f"security.txt expires on {expires.isoformat()} (in {left} day(s)): {advice}"
    return None

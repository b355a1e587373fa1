"""Wording (pure): what mailbot writes to a person, in the reader's language.

Sentences come from `phrases.PHRASES` by key (Dutch and English side by side); dates,
weekday and month names and numbers come from CLDR through Babel. Babel is imported on
first use (about 20 ms, and 10 ms more to load a locale): a process that writes no mail
never pays for it.

A `Phrase` is text that can be said again in another language: it *is* its English text
(a `str`: events, log lines, stored reasons and the tests see English), and keeps its
key and parameters so that a mail to a Dutch reader can say it in Dutch
(`localise`). A phrase survives being passed around, but not being edited: an f-string
or a slice of it is plain English text again (`clip` keeps a phrase whole when it fits).

Staff mail is in `[identity] language`, reporter mail in the report's language; any
other language is read as Dutch (the default), as templates fall back to Dutch.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.core.phrases import PHRASES

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"

Param = str | int | tuple[str, ...]
"""A phrase parameter: text (a `Phrase` is said in the reader's language), an int (written
as is; with format spec "n" grouped as the language groups thousands), or a tuple of texts
(joined by the format spec, ", " when it has none)."""


def language_of(language: str) -> str:
    """ "nl" or "en" for any language tag ("en-GB" -> "en"); anything else is Dutch."""
    primary = language.strip().lower().replace("_", "-").partition("-")[0]
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


class Phrase(str):
    """A sentence by key and parameters; as a `str`, its English text."""

    key: str
    params: Mapping[str, Param]

    def __new__(cls, key: str, /, **params: Param) -> Phrase:
        text = super().__new__(cls, _fill(key, "en", params))
        text.key = key
        text.params = params
        return text

    def say(self, language: str) -> str:
        """This phrase in `language`."""
        return _fill(self.key, language_of(language), self.params)

    def __reduce__(self) -> tuple[Any, ...]:
        """Copied and pickled as a phrase (str's own way would pass the text as the key)."""
        return _phrase, (self.key, dict(self.params))


def _phrase(key: str, params: dict[str, Param]) -> Phrase:
    return Phrase(key, **params)


def say(key: str, language: str, /, **params: Param) -> str:
    """The phrase `key` in `language` with `params` filled in."""
    return _fill(key, language_of(language), params)


def localise(text: str, language: str) -> str:
    """`text` in `language` when it is a `Phrase`; any other text as it is."""
    return text.say(language) if isinstance(text, Phrase) else text


def clip(text: str, limit: int) -> str:
    """`text` whole (a phrase stays a phrase) when it fits in `limit` characters, else its
    first `limit` - 1 characters and "…" (plain text)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Filler(string.Formatter):
    """str.format with phrases said in the reader's language and numbers written in it."""

    def __init__(self, language: str) -> None:
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, tuple):
            return (format_spec or ", ").join(localise(v, self.language) for v in value)
        if isinstance(value, int) and format_spec == "n":
            return number_text(value, self.language)
        if isinstance(value, str):
            return format(localise(value, self.language), format_spec)
        return format(value, format_spec)


def _fill(key: str, language: str, params: Mapping[str, Param]) -> str:
    texts = PHRASES[key]
    return _Filler(language).vformat(texts.get(language, texts["en"]), (), params)


# --- CLDR (Babel) ------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def day_text(day: date, language: str, year: bool = True) -> str:
    """'do 3 dec 2026' / 'Thu 3 Dec 2026' (without the year when `year` is False)."""
    from babel.dates import format_date  # noqa: PLC0415 - see the module docstring

    pattern = "EEE d MMM y" if year else "EEE d MMM"
    return format_date(day, pattern, locale=language_of(language))


@functools.lru_cache(maxsize=4096)
def long_date(day: date, language: str) -> str:
    """'dinsdag 29 december 2026' / 'Tuesday 29 December 2026'."""
    from babel.dates import format_date  # noqa: PLC0415 - see the module docstring

    return format_date(day, "EEEE d MMMM y", locale=language_of(language))


def moment_text(moment: datetime, tz: ZoneInfo, language: str) -> str:
    """'dinsdag 29 december 2026 om 17:00' / 'Tuesday 29 December 2026 at 17:00' (local
    time in `tz`; `moment` must be aware)."""
    local = moment.astimezone(tz)
    return say("moment", language, date=long_date(local.date(), language), time=f"{local:%H:%M}")


def number_text(number: int | float, language: str, pattern: str = "#,##0.#") -> str:
    """12345678 -> '12.345.678' (nl) / '12,345,678' (en); `pattern` is CLDR's (default:
    at most one decimal)."""
    from babel.numbers import format_decimal  # noqa: PLC0415 - see the module docstring

    return str(format_decimal(number, pattern, locale=language_of(language)))


def size_text(size: int, language: str) -> str:
    """A size in bytes as a reader wants it: '850 bytes', '12,3 kB', '1,2 MB' (1000-based,
    one decimal, as Jinja's `filesizeformat` but with the language's decimal sign)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{number_text(size / factor, language, '#,##0.0')} {unit}"
    return say("bytes", language, size=size)

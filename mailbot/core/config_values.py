"""TOML values → typed settings fields: each value converted to its field's annotation,
or a ConfigError naming the file, the section and the key."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from mailbot.core.errors import ConfigError
from mailbot.core.known import KnownFinding, read_known_findings
from mailbot.core.secret import Secret

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("identity", "language"): ("nl", "en"),
    ("mailbox", "backend"): ("imap", "maildir"),
    ("mailbox", "security"): ("tls", "starttls", "plain"),
    ("outbound", "transport"): ("smtp", "maildir"),
    ("outbound", "security"): ("tls", "starttls", "plain"),
    ("mailbox", "auth"): ("password", "xoauth2"),
    ("outbound", "auth"): ("password", "xoauth2"),
    ("logging", "format"): ("json", "console"),
    ("logging", "level"): ("debug", "info", "warning", "error"),
}


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ "; did you mean X?" for the closest of `known` to a mistyped `word`, else ""."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def read_section(name: str, cls: type[Any], raw: Mapping[str, Any], source: str, base: Path) -> Any:
    """The dataclass `cls` of section [`name`] from its TOML table; unknown keys refused."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key [{name}] {key}{did_you_mean(key, known)}")
        where = f"{source}: [{name}] {key}"
        kwargs[key] = convert(value, hints[key], where, base)
        choices = CHOICES.get((name, key))
        if choices and kwargs[key] not in choices:
            raise ConfigError(f"{where}: must be one of {', '.join(choices)}, got {value!r}")
    return cls(**kwargs)


def convert(value: Any, hint: Any, where: str, base: Path) -> Any:
    """Convert one TOML value to the annotated type, or raise naming `where`."""
    if isinstance(hint, types.UnionType):  # X | None
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        if value == "":
            return None
        return convert(value, inner, where, base)
    if hint == tuple[KnownFinding, ...]:  # [triage] known_findings: a list of tables
        return read_known_findings(value, where)
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(convert(v, item, f"{where}[{i}]", base) for i, v in enumerate(value))
    return _scalar(value, hint, where, base)


def _scalar(value: Any, hint: Any, where: str, base: Path) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: expected a whole number >= 0, got {value!r}")
        return value
    if hint is Secret and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a quoted string (value not shown)")
    if hint is time and isinstance(value, time):
        return _parse_time(value.isoformat(), where)
    if hint is date and isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if hint is str:
        return value
    if hint is Path:
        expanded = Path(os.path.expandvars(value)).expanduser()
        return expanded if expanded.is_absolute() else base / expanded
    if hint is Secret:
        return Secret(value)
    if hint is time:
        return _parse_time(value, where)
    if hint is date:
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: expected an ISO date YYYY-MM-DD, got {value!r}") from exc
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")  # pragma: no cover


def _parse_time(value: str, where: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: expected a time HH:MM, got {value!r}") from exc
    if parsed.tzinfo is not None:
        raise ConfigError(f"{where}: give a local time without offset, got {value!r}")
    return parsed

"""Template files of outgoing mail: where the packaged ones are, and how one file splits
into its subject and body templates (line numbers kept for error messages). The file
format and the sandbox are described in rendering.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from jinja2 import BaseLoader, Environment, TemplateError, TemplateSyntaxError

from mailbot.core.errors import UserError

DEFAULT_LANGUAGE = "nl"
PART = "::"
"""Joins a file name and "subject" or "body" into the name of one part's template."""
_LEADING_COMMENTS = re.compile(r"(?:\s*\{#.*?#\})*\s*", re.DOTALL)
_LANGUAGE_RE = re.compile(r"[a-z]{2,3}")


class RenderError(UserError):
    """A template is missing, malformed or unsafe, or its context lacks a variable."""


def packaged_templates_dir() -> Path:
    """``mailbot/templates`` when installed from a wheel, else ``<repo>/templates``."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


def split_template_source(source: str, name: str) -> tuple[str, str]:
    """(subject source, body source) of a template file; line numbers stay the file's."""
    start = _LEADING_COMMENTS.match(source)
    pos = start.end() if start else 0
    while pos > 0 and source[pos - 1] != "\n":
        pos -= 1  # back to the start of the Subject line
    line_end = source.find("\n", pos)
    first = source[pos:line_end].rstrip("\r") if line_end >= 0 else source[pos:]
    if not first.startswith("Subject:"):
        raise RenderError(f"template {name}: expected a 'Subject:' line, found {first[:60]!r}")
    blank_end = source.find("\n", line_end + 1)
    if line_end < 0 or blank_end < 0 or source[line_end + 1 : blank_end].strip():
        raise RenderError(f"template {name}: the 'Subject:' line must be followed by an empty line")
    subject = _line_pad(source.count("\n", 0, pos)) + first.removeprefix("Subject:")
    body = _line_pad(source.count("\n", 0, blank_end + 1)) + source[blank_end + 1 :]
    return subject, body


def _line_pad(newlines: int) -> str:
    """An empty Jinja comment spanning `newlines` line breaks (keeps error line numbers)."""
    return "{#" + "\n" * newlines + "+#}" if newlines else ""


class PartLoader(BaseLoader):
    """Serves ``<file>::subject`` and ``<file>::body`` out of one template file."""

    def __init__(self, inner: BaseLoader) -> None:
        self._inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        file_name, _, part = template.rpartition(PART)
        source, filename, uptodate = self._inner.get_source(environment, file_name)
        subject, body = split_template_source(source, filename or file_name)
        return (subject if part == "subject" else body), filename, uptodate


def render_error(file_name: str, exc: TemplateError) -> RenderError:
    """A RenderError naming the template (and the file and line of a syntax error)."""
    if isinstance(exc, TemplateSyntaxError):
        return RenderError(
            f"template {exc.filename or file_name}, line {exc.lineno}: {exc.message}"
        )
    return RenderError(f"template {file_name}: {exc}")


def normalise_language(language: str) -> str:
    """Primary subtag of `language` ("en-GB" -> "en"); anything odd -> the default."""
    primary = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
    return primary if _LANGUAGE_RE.fullmatch(primary) else DEFAULT_LANGUAGE

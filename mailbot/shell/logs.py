"""structlog set-up: JSON for journald, console for humans; always to stderr."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

import structlog

PRIORITIES = {"critical": 2, "error": 3, "exception": 3, "warning": 4, "info": 6, "debug": 7}
"""syslog priorities of our levels: what `journalctl -p warning` filters on."""


def journal_json(logger: object, name: str, event: structlog.types.EventDict) -> str:
    """A JSON line with the `<N>` priority prefix journald reads from a service's stderr."""
    priority = PRIORITIES.get(str(event.get("level", "info")), 6)
    line = structlog.processors.JSONRenderer()(logger, name, event)
    return f"<{priority}>{line if isinstance(line, str) else line.decode()}"


def configure(
    fmt: str = "console", level: str = "info", env: Mapping[str, str] | None = None
) -> None:
    """Configure structlog once for the process. JSON written to the journal (systemd sets
    $JOURNAL_STREAM for a service) carries each line's priority as a `<N>` prefix."""
    environ = os.environ if env is None else env
    renderer: structlog.types.Processor
    if fmt == "json" and environ.get("JOURNAL_STREAM"):
        renderer = journal_json
    elif fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: object) -> structlog.stdlib.BoundLogger:
    """A logger with `context` bound (e.g. case=..., message_id=...)."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("mailbot").bind(**context)
    return logger

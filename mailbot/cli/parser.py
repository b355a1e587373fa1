"""The argument parser of `mailbot`: every command, its options and its help."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mailbot import __version__
from mailbot.core import config

if TYPE_CHECKING:
    from mailbot.report.figures import Month

JSON_HELP = "JSON on stdout"


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog="mailbot",
        description="Runs a responsible-disclosure mailbox: every report a case, "
        "acknowledged at once, deadlines kept.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"config file (default: ${config.CONFIG_ENV}, else {config.DEFAULT_PATH});"
        " also accepted after the command",
    )
    parser.add_argument("--version", action="version", version=f"mailbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--once", action="store_true", help="one intake pass, flush the outbox, exit")
    sub.add_parser(
        "check",
        help="validate the config, reach mailbox and SMTP (sends nothing); exit 1 on failure",
    )
    sub.add_parser("demo", help="run the whole pipeline on sample reports; no config, no network")
    _add_case_commands(sub)
    _add_message_commands(sub)
    deadlines = sub.add_parser("deadlines", help="every open clock, soonest first, with its reason")
    deadlines.add_argument("--json", action="store_true", help=JSON_HELP)
    calendar = sub.add_parser("calendar", help="the closed weekdays of a year and why")
    calendar.add_argument("year", type=int, metavar="YEAR")
    calendar.add_argument("--json", action="store_true", help=JSON_HELP)
    _add_purge_command(sub)
    _add_operator_commands(sub)
    _add_openpgp_command(sub)
    _add_report_command(sub)
    return parser


def _add_case_commands(sub: Any) -> None:
    """`cases [--all] [--json]` and `case show ID [--json]`."""
    cases = sub.add_parser("cases", help="list open cases")
    cases.add_argument("--all", action="store_true", help="include closed cases")
    cases.add_argument("--json", action="store_true", help=JSON_HELP)
    show = _show_command(sub, "case", "one case", "a case with its messages and events")
    show.add_argument("id", metavar="ID", help="case id, e.g. MK-2026-0042")
    show.add_argument("--json", action="store_true", help=JSON_HELP)


def _add_message_commands(sub: Any) -> None:
    """`messages [--json]`, `message show REF [--eml]` and `release REF [--max-bytes N]`."""
    messages = sub.add_parser("messages", help="every inbound message with its disposition")
    messages.add_argument("--json", action="store_true", help=JSON_HELP)
    show = _show_command(
        sub, "message", "one inbound message", "headers, disposition, reason, text"
    )
    show.add_argument("ref", metavar="REF", help="Message-ID, or 8+ hex digits of its sha256")
    show.add_argument("--eml", action="store_true", help="the raw bytes as received on stdout")
    release = sub.add_parser(
        "release",
        help="take a quarantined message out of quarantine and process it again",
    )
    release.add_argument("ref", metavar="REF", help="Message-ID, or 8+ hex digits of its sha256")
    release.add_argument(
        "--max-bytes",
        type=_positive,
        metavar="N",
        help="the size limit for this one message (default: [limits] max_message_bytes)",
    )


def _show_command(sub: Any, noun: str, noun_help: str, show_help: str) -> Any:
    """`NOUN show`, the one action of NOUN; returns the parser of `show` for its arguments."""
    parser = sub.add_parser(noun, help=noun_help)
    actions = parser.add_subparsers(dest=f"{noun}_command", required=True, metavar="ACTION")
    return actions.add_parser("show", help=show_help)


def _add_purge_command(sub: Any) -> None:
    """`purge [--older-than DAYS] [--dry-run] [--json]`."""
    purge = sub.add_parser(
        "purge",
        help="anonymise closed cases past the retention period (reporter data, raw mail)",
    )
    purge.add_argument(
        "--older-than",
        type=int,
        metavar="DAYS",
        help="closed cases with no change for DAYS days (default: [privacy] retention_days)",
    )
    purge.add_argument("--dry-run", action="store_true", help="change nothing, list the same")
    purge.add_argument("--json", action="store_true", help=JSON_HELP)


def _add_operator_commands(sub: Any) -> None:
    """`status`, `security-txt`, `backup` and `restore`."""
    health = sub.add_parser(
        "status",
        help="heartbeat, backlog, outbox, cases, deadlines; exit 1 when something needs attention",
    )
    health.add_argument("--json", action="store_true", help=JSON_HELP)
    health.add_argument(
        "--format",
        choices=("text", "json", "prometheus"),
        help="prometheus: the node-exporter textfile format (exit 0 once written)",
    )
    health.add_argument(
        "--output", metavar="FILE", help="write FILE whole (mode 0644) instead of stdout"
    )
    txt = sub.add_parser("security-txt", help="an RFC 9116 security.txt from [security_txt]")
    txt.add_argument("--output", metavar="FILE", help="write FILE (mode 0644) instead of stdout")
    backup = sub.add_parser("backup", help="a consistent copy of the database, also while running")
    backup.add_argument("path", metavar="PATH", help="the copy to write (mode 0600)")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    restore = sub.add_parser(
        "restore",
        help="replace the database with a backup (daemon stopped), then re-record what came after",
    )
    restore.add_argument("backup", metavar="BACKUP", help="a file written by `mailbot backup`")


def _add_openpgp_command(sub: Any) -> None:
    """`openpgp export-public`."""
    parser = sub.add_parser("openpgp", help="the meldpunt's OpenPGP key ([openpgp])")
    actions = parser.add_subparsers(dest="openpgp_command", required=True, metavar="ACTION")
    actions.add_parser(
        "export-public",
        help="the armoured public key of [openpgp] secret_key_file on stdout (for the website)",
    )


def _add_report_command(sub: Any) -> None:
    """`report --month YYYY-MM [--format html|text] [--language nl|en] [--output FILE]
    [--json]`."""
    monthly = sub.add_parser(
        "report", help="a month's reports, response times, promises kept, overdue cases, rewards"
    )
    monthly.add_argument(
        "--month", required=True, type=_month, metavar="YYYY-MM", help="by local date of receipt"
    )
    monthly.add_argument("--format", choices=("text", "html"), default="text", help="default text")
    monthly.add_argument(
        "--language", choices=("nl", "en"), help="default [report] language, else [identity]'s"
    )
    monthly.add_argument("--output", metavar="FILE", help="write FILE (mode 0600), not stdout")
    monthly.add_argument("--json", action="store_true", help="the figures as JSON on stdout")


def _positive(text: str) -> int:
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


def _month(text: str) -> Month:
    """argparse type: a bad month exits 2 naming it."""
    from mailbot.report import figures as report  # noqa: PLC0415 - only `report` needs it

    try:
        return report.parse_month(text)
    except report.ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc

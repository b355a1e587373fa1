"""The `mailbot` command line (DESIGN.md §8). Logs go to stderr; --json output to stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mailbot import config, logs, views
from mailbot.clock import SystemClock
from mailbot.errors import MailbotError, NotFoundError, UserError
from mailbot.service import calendar_for
from mailbot.store import Store
from mailbot.wiring import build_mailbox, build_service, build_transport


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbot",
        description="Runs a responsible-disclosure mailbox: every report a case, "
        "acknowledged at once, deadlines kept.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"config file (default: ${config.CONFIG_ENV}, else {config.DEFAULT_PATH})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--once", action="store_true", help="one intake pass, flush the outbox, exit")
    sub.add_parser(
        "check",
        help="validate the config, reach mailbox and SMTP (sends nothing); exit 1 on failure",
    )
    sub.add_parser("demo", help="run the whole pipeline on sample reports; no config, no network")
    cases = sub.add_parser("cases", help="list open cases")
    cases.add_argument("--all", action="store_true", help="include closed cases")
    cases.add_argument("--json", action="store_true", help="JSON on stdout")
    case = sub.add_parser("case", help="one case")
    case_sub = case.add_subparsers(dest="case_command", required=True, metavar="ACTION")
    show = case_sub.add_parser("show", help="a case with its messages and events")
    show.add_argument("id", metavar="ID", help="case id, e.g. MK-2026-0042")
    show.add_argument("--json", action="store_true", help="JSON on stdout")
    messages = sub.add_parser("messages", help="every inbound message with its disposition")
    messages.add_argument("--json", action="store_true", help="JSON on stdout")
    deadlines = sub.add_parser("deadlines", help="every open clock, soonest first, with its reason")
    deadlines.add_argument("--json", action="store_true", help="JSON on stdout")
    calendar = sub.add_parser("calendar", help="the closed weekdays of a year and why")
    calendar.add_argument("year", type=int, metavar="YEAR")
    calendar.add_argument("--json", action="store_true", help="JSON on stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UserError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 2
    except MailbotError as exc:
        print(f"mailbot: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailbot.demo import run_demo  # noqa: PLC0415 - only the demo needs its samples

        logs.configure("console", "warning")
        return run_demo(sys.stdout)
    settings = config.load(config.config_path(args.config, os.environ))
    level = settings.logging.level if args.command == "run" else "warning"
    logs.configure(settings.logging.format, level)
    if args.command == "run":
        return _run(settings, once=args.once)
    if args.command == "check":
        return _check(settings)
    if args.command == "calendar":
        data = views.closed_days(calendar_for(settings), args.year)
        return _output(args, data, views.closed_days_text(data))
    store = Store(settings.database.path)
    try:
        return _inspect(args, store)
    finally:
        store.close()


def _run(settings: config.Settings, once: bool) -> int:
    if once:
        service = build_service(settings, SystemClock())
        try:
            asyncio.run(service.run_once())
        finally:
            service.close()
        return 0
    from mailbot.daemon import run_daemon  # noqa: PLC0415

    return run_daemon(settings)


def _check(settings: config.Settings) -> int:
    """Print what works; on the first failure of each part, one line to stderr; exit 1."""
    print(f"config: {settings.source} is valid")
    failures = 0

    def part(name: str, action: Callable[[], list[str]]) -> None:
        nonlocal failures
        try:
            for line in action():
                print(f"{name}: {line}")
        except MailbotError as exc:
            failures += 1
            print(f"mailbot check: {name}: {exc}", file=sys.stderr)

    def database() -> list[str]:
        store = Store(settings.database.path)
        store.close()
        return [f"{settings.database.path} opened, schema up to date"]

    def mailbox() -> list[str]:
        box = build_mailbox(settings)
        try:
            return box.check()
        finally:
            box.close()

    def outbound() -> list[str]:
        transport = build_transport(settings)

        async def go() -> list[str]:
            try:
                return await transport.check()
            finally:
                await transport.close()

        return asyncio.run(go())

    part("database", database)
    part("mailbox", mailbox)
    part("outbound", outbound)
    return 1 if failures else 0


def _inspect(args: argparse.Namespace, store: Store) -> int:
    data: Any
    if args.command == "cases":
        data = [views.case_summary(c) for c in store.cases(include_closed=args.all)]
        text = views.cases_table(data)
    elif args.command == "deadlines":
        data = views.deadlines(store)
        text = views.deadlines_text(data)
    elif args.command == "case":
        case = store.case(args.id.strip("[]").upper())
        if case is None:
            raise NotFoundError(f"no case {args.id!r}")
        data = views.case_detail(store, case)
        text = views.case_text(data)
    else:
        data = views.message_list(store)
        text = views.messages_table(data)
    return _output(args, data, text)


def _output(args: argparse.Namespace, data: Any, text: str) -> int:
    """The JSON document alone on stdout with --json, else the human text."""
    if args.json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text)
    return 0


def run_path(path: Path) -> int:  # pragma: no cover - convenience for `python -m`
    """Run `mailbot run --once` with the config at `path`."""
    return main(["--config", str(path), "run", "--once"])

"""The `mailbot` command line (DESIGN.md §8). Logs go to stderr; --json output to stdout."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# `run` starts faster without what only other commands need: those import it themselves.
from mailbot.cli.openpgp import reader
from mailbot.cli.parser import build_parser
from mailbot.core import config
from mailbot.core.errors import ConfigError, MailbotError, NotFoundError, UserError
from mailbot.shell import logs, runlock
from mailbot.shell.clock import SystemClock
from mailbot.shell.pipeline import calendar_for
from mailbot.shell.wiring import build_mailbox, build_service, build_transport
from mailbot.store import Store
from mailbot.store.files import write_atomically


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (141 when the reader of stdout went away)."""
    args = build_parser().parse_args(config_first(sys.argv[1:] if argv is None else list(argv)))
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `mailbot cases | head`: the reader is gone; say nothing more, like a tool that
        # died of SIGPIPE (128 + 13), and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UserError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 2
    except MailbotError as exc:
        print(f"mailbot: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def config_first(argv: list[str]) -> list[str]:
    """`argv` with every `--config PATH` / `--config=PATH` moved before the command, so
    that `mailbot cases --config x.toml` means what `mailbot --config x.toml cases` does."""
    moved: list[str] = []
    rest: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--config" and (value := next(words, None)) is not None:
            moved += [word, value]  # (a last, bare --config stays: argparse names it)
        elif word.startswith("--config="):
            moved.append(word)
        else:
            rest.append(word)
    return moved + rest


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mailbot.cli.demo import run_demo  # noqa: PLC0415 - only the demo needs its samples

        logs.configure("console", "warning")
        return run_demo(sys.stdout)
    connects = args.command in {"run", "check", "status", "restore"}
    settings = config.load(config.config_path(args.config, os.environ), secrets=connects)
    level = settings.logging.level if args.command == "run" else "warning"
    logs.configure(settings.logging.format, level)
    if args.command == "run":
        return _run(settings, once=args.once)
    if args.command == "check":
        return _check(settings)
    if args.command == "calendar":
        from mailbot.cli import tables as views  # noqa: PLC0415 - see the imports

        data = views.closed_days(calendar_for(settings), args.year)
        return _output(args, data, views.closed_days_text(data))
    if args.command == "purge":
        return _purge(args, settings)
    if args.command == "report":
        return _report(args, settings)
    if args.command in ("status", "security-txt", "backup"):
        return _operator(args, settings)
    if args.command == "openpgp":
        from mailbot.cli import openpgp  # noqa: PLC0415 - see the imports

        return openpgp.command(args, settings)
    if args.command in ("restore", "release"):
        from mailbot.cli import repair  # noqa: PLC0415 - see the imports

        if args.command == "restore":
            return repair.restore_command(settings, Path(args.backup))
        return repair.release_command(settings, args.ref, args.max_bytes)
    store = Store(settings.database.path, read_only=True)
    try:
        read = reader(settings) if args.command in ("case", "message") else None
        return _inspect(args, store, ZoneInfo(settings.deadlines.timezone), read)
    finally:
        store.close()


def _run(settings: config.Settings, once: bool) -> int:
    with runlock.sharing(settings.database.path):  # refused while a restore runs
        return _run_locked(settings, once)


def _run_locked(settings: config.Settings, once: bool) -> int:
    if once:
        # The outbox's own connection lets mail go out while the intake pass goes on.
        outbox_store = Store(settings.database.path, durable=False)
        service = build_service(settings, SystemClock(), outbox_store=outbox_store)
        try:
            asyncio.run(service.run_once())
        finally:
            service.close()
        return 0
    from mailbot.shell.daemon import run_daemon  # noqa: PLC0415

    return run_daemon(settings, Path(settings.source))  # config.load: source is the path


def _check(settings: config.Settings) -> int:
    """Print what works; on the first failure of each part, one line to stderr; exit 1.

    A database that cannot be opened read-only: one line, exit 2. One not there yet is
    fine (`check` comes before the first start): `mailbot run` creates it.
    """
    print(f"config: {settings.source} is valid")
    if settings.database.path.exists():
        Store(settings.database.path, read_only=True).close()
        print(f"database: {settings.database.path} opened, schema up to date")
    else:
        print(f"database: {settings.database.path} not created yet (`mailbot run` creates it)")
    failures = 0

    def part(name: str, action: Callable[[], list[str]]) -> None:
        nonlocal failures
        try:
            for line in action():
                print(f"{name}: {line}")
        except MailbotError as exc:
            failures += 1
            print(f"mailbot check: {name}: {exc}", file=sys.stderr)

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

    from mailbot.cli import openpgp  # noqa: PLC0415 - see the imports

    part("openpgp", lambda: openpgp.check_lines(settings))
    part("mailbox", mailbox)
    part("outbound", outbound)
    return 1 if failures else 0


def _inspect(args: argparse.Namespace, store: Store, tz: ZoneInfo, read: Any) -> int:
    """The inspection commands; human output in the office's timezone `tz`."""
    from mailbot.cli import tables as views  # noqa: PLC0415 - see the imports

    data: Any
    if args.command == "cases":
        data = [views.case_summary(c) for c in store.cases(include_closed=args.all)]
        text = views.cases_table(data, tz)
    elif args.command == "deadlines":
        data = views.deadlines(store)
        text = views.deadlines_text(data, tz)
    elif args.command == "case":
        case = store.case(args.id.strip("[]").upper())
        if case is None:
            raise NotFoundError(f"no case {args.id!r}")
        data = views.case_detail(store, case, read)
        text = views.case_text(data, tz)
    elif args.command == "message":
        return _message(args, store, tz, read)
    else:
        data = views.message_list(store)
        text = views.messages_table(data, tz)
    return _output(args, data, text)


def _message(args: argparse.Namespace, store: Store, tz: ZoneInfo, read: Any) -> int:
    """`message show REF [--eml]`: one inbound message, or with --eml its raw bytes."""
    from mailbot.cli import tables as views  # noqa: PLC0415 - see the imports

    message = views.find_message(store, args.ref)
    if not args.eml:
        sys.stdout.write(views.message_text(message, tz, read))
        return 0
    if message.raw is None:
        raise UserError(f"the raw bytes of message {args.ref!r} were purged")
    sys.stdout.flush()
    sys.stdout.buffer.write(message.raw)
    return 0


def _purge(args: argparse.Namespace, settings: config.Settings) -> int:
    """Anonymise (or with --dry-run list) what is past retention; see mailbot.store.purge."""
    days = settings.privacy.retention_days if args.older_than is None else args.older_than
    if args.older_than is None and days == 0:
        raise UserError(
            "no retention period: give --older-than DAYS or set [privacy] retention_days"
        )
    with runlock.sharing(settings.database.path):
        return _purge_locked(args, settings, days)


def _purge_locked(args: argparse.Namespace, settings: config.Settings, days: int) -> int:
    from mailbot.store import purge as privacy  # noqa: PLC0415 - see the imports

    store = Store(settings.database.path)
    try:
        report = privacy.purge(store, SystemClock().now(), days, dry_run=args.dry_run)
    finally:
        store.close()
    return _output(args, report.to_json(), report.text())


def _output(args: argparse.Namespace, data: Any, text: str) -> int:
    """The JSON document alone on stdout with --json, else the human text."""
    if args.json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text)
    return 0


def _operator(args: argparse.Namespace, settings: config.Settings) -> int:
    """Run `status`, `security-txt` or `backup`."""
    from mailbot.cli import status  # noqa: PLC0415 - see the imports

    now = SystemClock().now()
    if args.command == "security-txt":
        return _security_txt(args, settings, now)
    if args.command == "backup" and not settings.database.path.exists():
        raise UserError(f"no database at {settings.database.path} ([database] path)")
    store = Store(settings.database.path, read_only=args.command == "status")
    try:
        if args.command == "backup":
            size = store.backup(Path(args.path), force=args.force)
            print(f"backup of {settings.database.path} written to {args.path} ({size} bytes)")
            return 0
        snapshot = status.gather(settings, store, now)
    finally:
        store.close()
    reasons = status.attention(snapshot)
    form = args.format or ("json" if args.json else "text")
    if form == "prometheus":
        from mailbot.cli import prometheus  # noqa: PLC0415 - see the imports

        text = prometheus.render(snapshot, reasons)
    elif form == "json":
        text = json.dumps(status.as_json(snapshot, reasons), ensure_ascii=False, indent=2) + "\n"
    else:
        text = status.as_text(snapshot, reasons)
    if args.output:
        _write_public(Path(args.output), text)
    else:
        sys.stdout.write(text)
    # The textfile collector reads the attention from the file: writing it is the success.
    return 1 if reasons and form != "prometheus" else 0


def _security_txt(args: argparse.Namespace, settings: config.Settings, now: datetime) -> int:
    """`security-txt`: Encryption from [security_txt], else from the [openpgp] key."""
    from mailbot.cli import openpgp  # noqa: PLC0415 - see the imports
    from mailbot.core import securitytxt  # noqa: PLC0415 - see the imports

    tz = ZoneInfo(settings.deadlines.timezone)
    try:
        fingerprint = (
            "" if settings.security_txt.encryption else openpgp.key_fingerprint(settings, now)
        )
        text = securitytxt.render(
            settings.security_txt, settings.identity.address, now, tz, fingerprint
        )
    except ConfigError as exc:
        raise ConfigError(f"{settings.source}: {exc}") from exc
    if args.output:
        _write_public(Path(args.output), text)
        print(f"security.txt written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _write_public(path: Path, text: str) -> None:
    """Write `path` whole (temporary file, then rename), readable by all (0644)."""
    try:
        write_atomically(path, text.encode("utf-8"), 0o644)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _report(args: argparse.Namespace, settings: config.Settings) -> int:
    """Build the month's report; text or HTML (in --language, else the configured one) to
    stdout or --output, JSON with --json."""
    from mailbot.report import figures as report  # noqa: PLC0415 - see the imports
    from mailbot.report import html as report_html  # noqa: PLC0415
    from mailbot.report import render as report_render  # noqa: PLC0415

    calendar = calendar_for(settings)
    store = Store(settings.database.path, read_only=True)
    try:
        figures = report.report_of(store, settings, calendar, args.month, SystemClock().now())
    finally:
        store.close()
    render = report_html.render_html if args.format == "html" else report_render.render_text
    text = render(figures, args.language or config.report_language(settings))
    if args.output:
        path = Path(args.output)
        try:
            write_atomically(path, text.encode("utf-8"), 0o600)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
        text = f"report {args.month} ({args.format}) written to {path}\n"
    return _output(args, report_render.report_json(figures), text)

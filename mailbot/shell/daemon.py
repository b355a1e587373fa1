"""`mailbot run`: intake, outbox and scheduler as asyncio tasks until SIGTERM/SIGINT.

Blocking mailbox calls (imapclient, IDLE) run in a worker thread; the outbox and the
scheduler go on while the mailbox is down, and the other way round. Every task survives
every fault: a failure is logged, waited out with capped exponential backoff plus jitter,
and tried again. SIGHUP reads the config file again and applies it between two messages;
an invalid one is refused and the running config kept.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from mailbot.core import config
from mailbot.core.config import Settings
from mailbot.core.errors import ConfigError
from mailbot.mail.rendering import Renderer
from mailbot.shell.clock import SystemClock
from mailbot.shell.logs import get_logger
from mailbot.shell.pipeline import Service
from mailbot.shell.retrying import (
    BACKOFF_CAP,
    PROBE_INTERVAL,
    STORAGE_BACKOFF_CAP,
    backoff,
    problem_status,
    retry_delay,
)
from mailbot.shell.sdnotify import Notifier
from mailbot.shell.wiring import build_service
from mailbot.store import Store, storage_error

OUTBOX_INTERVAL = 5.0
TICK_INTERVAL = 60.0
WAIT_SLICE = 5.0
"""Longest blocking wait of a mailbox without `interrupt()`, so that a stop is seen."""
CLOSE_TIMEOUT = 2.0
"""On stop, the outbound connections get this long to say goodbye."""


@dataclass
class Daemon:
    """The running tasks of one `mailbot run`."""

    service: Service
    notifier: Notifier = field(default_factory=Notifier)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    outbox_kick: asyncio.Event = field(default_factory=asyncio.Event)
    first_pass: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the first intake pass ended (READY) or failed: the scheduler starts then."""
    stopping: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=random.Random)
    ready: bool = False
    """The mailbox was reached (the first intake pass may run)."""
    told_ready: bool = False
    """READY=1 was sent to systemd."""
    backlog: int = 0
    """Messages waiting when the mailbox was first reached (the first pass's progress)."""
    config_path: Path | None = None
    in_pass: bool = False
    """True while an intake pass runs in the worker thread (then a reload waits)."""
    pending: tuple[Settings, Renderer] | None = None
    retry_now: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by SIGHUP: a reconnect waiting out its delay (a refused login) tries at once."""

    def request_reload(self) -> None:
        """SIGHUP: read the config again; apply it between two messages, or refuse it."""
        if self.stop.is_set():
            return  # stopping: the next start reads the config anyway
        if self.told_ready:
            usec = time.monotonic_ns() // 1000
            self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading config")
        try:
            self.pending = load_for_reload(self.config_path)
        except Exception as exc:
            self._refuse(exc)
            return
        if not self.in_pass:
            self._apply_reload()
        self.retry_now.set()

    def _apply_reload(self) -> None:
        """Swap in the pending config (in the event loop, while no intake pass runs)."""
        if self.pending is None:
            return
        (settings, renderer), self.pending = self.pending, None
        try:
            restart = self.service.reconfigure(settings, renderer)
        except Exception as exc:
            self._refuse(exc)
            return
        log = get_logger()
        status = "config reloaded"
        if restart:
            log.warning(
                "config_reload_partial",
                sections=list(restart),
                detail="changed sections need a restart; old connections and values kept",
            )
            status += f"; restart to apply [{', '.join(restart)}]"
        log.info("config_reloaded", path=settings.source)
        self._reloaded(status)

    def _refuse(self, exc: Exception) -> None:
        reason = " ".join(str(exc).split())[:500]
        get_logger().error(
            "config_reload_refused",
            path=str(self.config_path),
            reason=reason,
            detail="running on the old config",
        )
        self._reloaded(f"config reload refused, old config kept: {reason}")

    def _reloaded(self, status: str) -> None:
        """READY=1 ends the RELOADING=1 state (before the first READY only a status, and
        nothing that could follow STOPPING=1)."""
        if self.stop.is_set():
            return
        if self.told_ready:
            self.notifier.ready(status)
        else:
            self.notifier.status(status)

    def request_stop(self) -> None:
        """Finish the message in hand, then stop every task."""
        if not self.stop.is_set():
            get_logger().info("daemon_stopping")
            self.notifier.stopping()
        self.stopping.set()
        self.stop.set()
        interrupt = getattr(self.service.mailbox, "interrupt", None)
        if callable(interrupt):
            interrupt()  # IMAP: end the IDLE now rather than at the end of its slice

    async def run(self) -> None:
        """Run all tasks until stop is requested.

        On stop the outbox finishes the mails in flight (one per connection) and sends
        nothing new, whatever is queued: the queue is there for the next start.
        """
        self.service.outbox.stopping = self.stopping.is_set
        tasks = [self._intake(), self._outbox(), self._ticks()]
        if self.notifier.watchdog_seconds:
            tasks.append(self._watchdog(self.notifier.watchdog_seconds / 2))
        await asyncio.gather(*tasks)
        owed = self.service.outbox.owed_marks()
        if owed:  # accepted by the server, not recorded: the next start sends them again
            get_logger().error("mail_mark_lost", message_ids=owed[:20], count=len(owed))
        try:
            await asyncio.wait_for(self.service.outbox.close(), CLOSE_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            get_logger().warning("outbound_close_timeout", error=str(exc)[:200])

    async def _intake(self) -> None:
        log = get_logger(task="intake")
        attempt = 0
        while not self.stop.is_set():
            try:
                if not self.ready:
                    await self._reach()
                await self._pass(log)
                if attempt:
                    log.info("mailbox_reconnected", attempts=attempt)
                    self.notifier.status("mailbox reached, handling mail")
                if not self.stop.is_set():
                    started = time.perf_counter()
                    news = await asyncio.to_thread(self.service.mailbox.wait, self._slice())
                    log.debug("mailbox_waited", news=news, ms=_ms(started))
                attempt = 0  # only now: a server that drops every wait still backs off
            except Exception as exc:
                attempt += 1
                event, delay = retry_delay(exc, attempt, self.rng)
                level = log.warning if event == "mailbox_reconnect" else log.error
                level(event, attempt=attempt, delay=round(delay, 2), error=str(exc)[:300])
                if event == "mailbox_login_failed" and not self.told_ready:
                    # Up and retrying: READY lets `systemctl reload` (a fixed secret) through.
                    self._tell_ready(problem_status(event, exc, delay))
                else:
                    self.notifier.status(problem_status(event, exc, delay))
                self.first_pass.set()
                self.retry_now.clear()
                await self._wait_to_retry(delay, probe=event == "mailbox_reconnect")

    async def _reach(self) -> None:
        """Reach the mailbox (and with it the database), then READY=1: before the backlog."""
        total = await asyncio.to_thread(self.service.mailbox.count_pending)
        self.service.store.state_get("heartbeat:intake")
        if self.stop.is_set():
            return
        self.ready = True
        self.backlog = total
        self._tell_ready(f"mailbox reached, intake: 0 of {total:,}")
        get_logger(task="intake").info("daemon_ready", backlog=total)

    def _tell_ready(self, status: str) -> None:
        """READY=1 with `status` (never after STOPPING=1); later calls send the status only."""
        if self.stop.is_set():
            return
        if self.told_ready:
            self.notifier.status(status)
            return
        self.told_ready = True
        self.notifier.ready(status)

    async def _pass(self, log: structlog.stdlib.BoundLogger) -> None:
        """One intake pass in the worker thread; the outbox is woken after every batch."""
        loop = asyncio.get_running_loop()
        total = self.backlog

        def batch_done() -> None:
            """From the worker thread: what the batch queued goes out before the pass ends."""
            loop.call_soon_threadsafe(self.outbox_kick.set)

        def progress(done: int) -> None:
            if total and not self.stopping.is_set():
                self.notifier.status(f"intake: {done:,} of {total:,}")

        self.in_pass = True
        started = time.perf_counter()
        try:
            outcomes = await asyncio.to_thread(
                self.service.intake, 50, self.stopping.is_set, batch_done, progress
            )
        finally:
            self.in_pass = False
            self._apply_reload()
        if outcomes:
            self.outbox_kick.set()
        if total:
            self.backlog = 0
            self.notifier.status("mailbox reached, handling mail")
        log.debug("intake_pass", messages=len(outcomes), ms=_ms(started))
        self.first_pass.set()

    async def _wait_to_retry(self, delay: float, probe: bool) -> None:
        """Sleep `delay` (ended by stop or SIGHUP); with `probe`, also once the mailbox's
        port, found closed meanwhile, opens again: a server back after a long outage is
        used within seconds, while one that is up but failing still waits its backoff."""
        reachable = getattr(self.service.mailbox, "reachable", None)
        if not probe or not callable(reachable):
            await self._sleep(delay, self.retry_now)
            return
        deadline = time.monotonic() + delay
        # Open now: the port is not what failed (the server is up but refuses): the whole
        # backoff is waited. Closed now: the first probe that finds it open ends the wait.
        was_down = not await asyncio.to_thread(reachable)
        while not self.stop.is_set() and not self.retry_now.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if await self._sleep(min(PROBE_INTERVAL, left), self.retry_now):
                return  # SIGHUP: try at once
            up = await asyncio.to_thread(reachable)
            if up and was_down:
                get_logger(task="intake").info("mailbox_port_open")
                return
            was_down = was_down or not up

    def _slice(self) -> float:
        """How long one mailbox wait may block before the next (safety-net) intake pass.

        An interruptible wait (IMAP) lasts poll_seconds; an IDLE is not broken off every
        few seconds just so that SIGTERM is seen. Other backends wait in WAIT_SLICE pieces.
        """
        seconds = float(self.service.settings.mailbox.poll_seconds)
        if callable(getattr(self.service.mailbox, "interrupt", None)):
            return seconds
        return min(seconds, WAIT_SLICE)

    async def _outbox(self) -> None:
        await self._every(OUTBOX_INTERVAL, self.service.deliver, "outbox", self.outbox_kick)

    async def _ticks(self) -> None:
        async def tick() -> None:
            if self.service.tick():
                self.outbox_kick.set()
            if monthly.tick(self.service):  # last month's report by mail, once
                self.outbox_kick.set()

        # The first tick loads the holiday tables (~0.2 s, blocking the event loop): after
        # READY, which waits for nothing but the mailbox. The tick warms up the calendar
        # for the first report too. The monthly report's modules are imported then too.
        await self._until(self.first_pass)
        from mailbot.shell.monthly import MonthlyReports  # noqa: PLC0415

        monthly = MonthlyReports()
        await self._every(TICK_INTERVAL, tick, "scheduler")

    async def _every(
        self,
        interval: float,
        action: Callable[[], Awaitable[object]],
        task: str,
        kick: asyncio.Event | None = None,
    ) -> None:
        log = get_logger(task=task)
        attempt = 0
        while not self.stop.is_set():
            try:
                await action()
                attempt = 0
                wait = interval
            except Exception as exc:
                attempt += 1
                storage = storage_error(exc)
                wait = backoff(
                    attempt, self.rng, cap=STORAGE_BACKOFF_CAP if storage else BACKOFF_CAP
                )
                event = "storage_unavailable" if storage else f"{task}_failed"
                log.error(event, attempt=attempt, delay=round(wait, 2), error=str(exc)[:300])
                if storage:
                    self.notifier.status(f"storage error ({task}), retry in {wait:.0f} s: {exc}")
            await self._sleep(wait, kick)

    async def _watchdog(self, interval: float) -> None:
        while not self.stop.is_set():
            self.notifier.watchdog()
            await self._sleep(interval)

    async def _until(self, event: asyncio.Event) -> None:
        """Wait until `event` is set or stop is requested."""
        waiters = [asyncio.create_task(self.stop.wait()), asyncio.create_task(event.wait())]
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()

    async def _sleep(self, seconds: float, kick: asyncio.Event | None = None) -> bool:
        """Sleep up to `seconds`; wake early on stop (or on `kick`, which is then cleared).
        True when woken by the kick."""
        waiters = [asyncio.create_task(self.stop.wait())]
        if kick is not None:
            waiters.append(asyncio.create_task(kick.wait()))
        _, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
        kicked = kick is not None and kick.is_set()
        if kick is not None:
            kick.clear()
        return kicked


def _ms(started: float) -> float:
    """Milliseconds since `started` (a perf_counter value), for debug timings."""
    return round((time.perf_counter() - started) * 1000, 1)


def load_for_reload(path: Path | None) -> tuple[Settings, Renderer]:
    """The config at `path` read and validated again, with its templates; raises if invalid."""
    if path is None:
        raise ConfigError("started without a config file: nothing to reload")
    settings = config.load(path)
    return settings, Renderer(settings.templates.directory)


def run_daemon(settings: Settings, config_path: Path | None = None) -> int:
    """The daemon in the foreground; SIGHUP reloads `config_path`; exit 0 after SIGTERM/SIGINT."""
    log = get_logger()

    async def main() -> None:
        service = build_service(
            settings, SystemClock(), outbox_store=Store(settings.database.path, durable=False)
        )
        daemon = Daemon(service, config_path=config_path)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.request_stop)
        loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
        log.info(
            "daemon_started",
            mailbox=settings.mailbox.backend,
            transport=settings.outbound.transport,
        )
        daemon.notifier.status("starting")
        try:
            await daemon.run()
        finally:
            service.close()
        log.info("daemon_stopped")

    asyncio.run(main())
    return 0

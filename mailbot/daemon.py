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

from mailbot import config
from mailbot.clock import SystemClock
from mailbot.config import Settings
from mailbot.errors import ConfigError
from mailbot.logs import get_logger
from mailbot.notify import Notifier
from mailbot.rendering import Renderer
from mailbot.service import Service
from mailbot.store import Store
from mailbot.wiring import build_service

OUTBOX_INTERVAL = 5.0
TICK_INTERVAL = 60.0
WAIT_SLICE = 5.0
"""Longest blocking wait of a mailbox without `interrupt()`, so that a stop is seen."""
BACKOFF_BASE = 0.5
BACKOFF_CAP = 300.0


def backoff(attempt: int, rng: random.Random) -> float:
    """Delay before reconnect `attempt` (1, 2, …): exponential, capped, with jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * float(2 ** max(attempt - 1, 0)))
    return ceiling * rng.uniform(0.5, 1.0)


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
    config_path: Path | None = None
    in_pass: bool = False
    """True while an intake pass runs in the worker thread (then a reload waits)."""
    pending: tuple[Settings, Renderer] | None = None

    def request_reload(self) -> None:
        """SIGHUP: read the config again; apply it between two messages, or refuse it."""
        if self.ready:
            usec = time.monotonic_ns() // 1000
            self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading config")
        try:
            self.pending = load_for_reload(self.config_path)
        except Exception as exc:
            self._refuse(exc)
            return
        if not self.in_pass:
            self._apply_reload()

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
        """READY=1 ends the RELOADING=1 state (before the first READY only a status)."""
        if self.ready:
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
        """Run all tasks until stop is requested."""
        tasks = [self._intake(), self._outbox(), self._ticks()]
        if self.notifier.watchdog_seconds:
            tasks.append(self._watchdog(self.notifier.watchdog_seconds / 2))
        await asyncio.gather(*tasks)
        await self.service.outbox.close()

    async def _intake(self) -> None:
        log = get_logger(task="intake")
        mailbox = self.service.mailbox
        loop = asyncio.get_running_loop()

        def batch_done() -> None:
            """From the worker thread: what the batch queued goes out before the pass ends."""
            loop.call_soon_threadsafe(self.outbox_kick.set)

        attempt = 0
        while not self.stop.is_set():
            try:
                self.in_pass = True
                started = time.perf_counter()
                try:
                    outcomes = await asyncio.to_thread(
                        self.service.intake, 50, self.stopping.is_set, batch_done
                    )
                finally:
                    self.in_pass = False
                    self._apply_reload()
                if outcomes:
                    self.outbox_kick.set()
                log.debug("intake_pass", messages=len(outcomes), ms=_ms(started))
                self.first_pass.set()
                if not self.ready:
                    self.ready = True
                    self.notifier.ready("mailbox reached, handling mail")
                    log.info("daemon_ready")
                if attempt:
                    log.info("mailbox_reconnected", attempts=attempt)
                attempt = 0
                if not self.stop.is_set():
                    started = time.perf_counter()
                    news = await asyncio.to_thread(mailbox.wait, self._slice())
                    log.debug("mailbox_waited", news=news, ms=_ms(started))
            except Exception as exc:
                attempt += 1
                delay = backoff(attempt, self.rng)
                log.warning(
                    "mailbox_reconnect",
                    attempt=attempt,
                    delay=round(delay, 2),
                    error=str(exc)[:300],
                )
                self.notifier.status(f"mailbox unavailable, retry in {delay:.0f} s: {exc}")
                self.first_pass.set()
                await self._sleep(delay)

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

        # The first tick loads the holiday tables (~0.2 s, blocking the event loop): after
        # READY, which waits for nothing but the mailbox. The tick warms up the calendar
        # for the first report too.
        await self._until(self.first_pass)
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
                wait = backoff(attempt, self.rng)
                log.error(
                    f"{task}_failed", attempt=attempt, delay=round(wait, 2), error=str(exc)[:300]
                )
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

    async def _sleep(self, seconds: float, kick: asyncio.Event | None = None) -> None:
        """Sleep up to `seconds`; wake early on stop (or on `kick`, which is then cleared)."""
        waiters = [asyncio.create_task(self.stop.wait())]
        if kick is not None:
            waiters.append(asyncio.create_task(kick.wait()))
        _, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
        if kick is not None:
            kick.clear()


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

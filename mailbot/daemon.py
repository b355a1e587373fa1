"""`mailbot run`: intake and outbox as asyncio tasks until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from mailbot.clock import SystemClock
from mailbot.config import Settings
from mailbot.logs import get_logger
from mailbot.service import Service
from mailbot.wiring import build_service

OUTBOX_INTERVAL = 5.0


async def _intake_loop(service: Service, stop: asyncio.Event, interval: float) -> None:
    log = get_logger(task="intake")
    while not stop.is_set():
        try:
            await asyncio.to_thread(service.intake)
        except Exception as exc:
            log.error("intake_failed", error=str(exc)[:300])
        await _wait(stop, interval)


async def _outbox_loop(service: Service, stop: asyncio.Event, interval: float) -> None:
    log = get_logger(task="outbox")
    while not stop.is_set():
        try:
            await service.deliver()
        except Exception as exc:
            log.error("outbox_failed", error=str(exc)[:300])
        await _wait(stop, interval)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


async def serve(service: Service, stop: asyncio.Event) -> None:
    """Run intake and outbox delivery until `stop` is set; finishes the message in hand."""
    interval = float(service.settings.mailbox.poll_seconds)
    tasks = [
        asyncio.create_task(_intake_loop(service, stop, interval)),
        asyncio.create_task(_outbox_loop(service, stop, OUTBOX_INTERVAL)),
    ]
    await asyncio.gather(*tasks)
    await service.transport.close()


def run_daemon(settings: Settings) -> int:
    """The daemon in the foreground; exit 0 after SIGTERM or SIGINT."""
    log = get_logger()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        service = build_service(settings, SystemClock())
        log.info("daemon_started", mailbox=settings.mailbox.backend)
        try:
            await serve(service, stop)
        finally:
            service.close()
        log.info("daemon_stopped")

    asyncio.run(main())
    return 0

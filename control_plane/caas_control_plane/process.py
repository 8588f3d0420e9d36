"""What the control plane's background processes (`caas-audit-verifier`, `caas-dispatcher`)
share: settings validated before anything starts, a run until SIGTERM or SIGINT, and a stop that
cancels the workers but lets the health/metrics server answer until the end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from caas_control_plane.settings import ApiSettings, load_settings
from caas_core.logs import configure_logging
from caas_core.settings import SettingsError


class Stoppable(Protocol):
    """A started background process."""

    async def stop(self) -> None:
        """Finish what is in flight and close the clients."""


Start = Callable[[ApiSettings], Awaitable[Stoppable]]


async def _serve(settings: ApiSettings, start: Start, logger: logging.Logger) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    process = await start(settings)
    try:
        await stop.wait()
    finally:
        logger.info("stopping")
        await process.stop()


def run_until_signalled(*, name: str, start: Start, logger: logging.Logger) -> None:
    """Validate the environment (refusing unsafe settings, exit 2), then run until signalled."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{name}: refusing to start: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    asyncio.run(_serve(settings, start, logger))


async def stop_tasks(tasks: list[asyncio.Task[Any]], *, except_named: str) -> None:
    """Cancel every task but the one named `except_named` (the HTTP server, told to exit
    instead, so probes answer while the rest winds down), wait for all, forget them."""
    for task in tasks:
        if task.get_name() != except_named:
            task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()

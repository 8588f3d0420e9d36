"""`caas-dispatcher` / `python -m caas_control_plane.dispatcher`: deliver webhooks until SIGTERM
or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from caas_control_plane.dispatcher.runner import DispatcherProcess
from caas_control_plane.settings import ApiSettings, load_settings
from caas_core.logs import configure_logging
from caas_core.settings import SettingsError

logger = logging.getLogger("caas_control_plane.dispatcher")


async def _serve(settings: ApiSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    process = await DispatcherProcess.start(settings)
    try:
        await stop.wait()
    finally:
        logger.info("stopping")
        await process.stop()


def main() -> None:
    """Validate the environment (refusing unsafe settings), then deliver until signalled."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"caas-dispatcher: refusing to start: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()

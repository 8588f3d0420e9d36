"""`caas-dispatcher` / `python -m caas_control_plane.dispatcher`: deliver webhooks until SIGTERM
or SIGINT."""

from __future__ import annotations

import logging

from caas_control_plane.dispatcher.runner import DispatcherProcess
from caas_control_plane.process import run_until_signalled


def main() -> None:
    """Validate the environment (refusing unsafe settings), then deliver until signalled."""
    run_until_signalled(
        name="caas-dispatcher",
        start=DispatcherProcess.start,
        logger=logging.getLogger("caas_control_plane.dispatcher"),
    )


if __name__ == "__main__":
    main()

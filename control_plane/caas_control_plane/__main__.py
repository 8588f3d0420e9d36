"""`caas-api` / `python -m caas_control_plane`: serve the API with uvicorn."""

import logging
import sys

import uvicorn

from caas_control_plane.app import create_app
from caas_control_plane.settings import load_settings
from caas_core.logs import configure_logging
from caas_core.settings import SettingsError

logger = logging.getLogger("caas_control_plane")


def main() -> None:
    """Validate the environment (refusing unsafe settings), then serve until signalled."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"caas-api: refusing to start: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    # Behind trusted proxies uvicorn's ProxyHeadersMiddleware sets the client address (what the
    # per-IP limits, the API-key lockout and sessions see) to the right-most X-Forwarded-For hop
    # that is not a trusted proxy, and the scheme from X-Forwarded-Proto. With none configured,
    # forwarded headers are ignored: a client could otherwise pick its own address.
    proxies = list(settings.trusted_proxy_list)
    logger.info(
        "starting",
        extra={
            "env": settings.env,
            "host": settings.host,
            "port": settings.port,
            "trusted_proxies": proxies,
        },
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the handlers configure_logging installed
        # The request log (request_log.py) replaces uvicorn's access log, whose raw path would
        # carry ids and query strings.
        access_log=False,
        server_header=False,
        proxy_headers=bool(proxies),
        # Never None: uvicorn would then read FORWARDED_ALLOW_IPS from the environment.
        forwarded_allow_ips=proxies,
    )


if __name__ == "__main__":
    main()

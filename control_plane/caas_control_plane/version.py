"""Name and version of this service, as installed."""

from importlib.metadata import PackageNotFoundError, version
from typing import Final

SERVICE_NAME: Final = "caas-control-plane"


def _installed_version() -> str:
    try:
        return version("caas-platform")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


VERSION: Final = _installed_version()

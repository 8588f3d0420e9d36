"""A backend that does not answer becomes a 503 problem (never a 500 with a stack trace)."""

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from caas_control_plane.problems import PROBLEM_BASE, problem_response

logger = logging.getLogger(__name__)

BACKEND_UNAVAILABLE: Final = f"{PROBLEM_BASE}backend-unavailable"
RETRY_AFTER_SECONDS: Final = 5

_BACKENDS: Final[tuple[tuple[type[Exception], str], ...]] = (
    (RedisConnectionError, "redis"),
    (RedisTimeoutError, "redis"),
    # ServerSelectionTimeoutError, AutoReconnect and NetworkTimeout are ConnectionFailures.
    (ConnectionFailure, "mongodb"),
    (ExecutionTimeout, "mongodb"),
    (WTimeoutError, "mongodb"),
)


def _backend(exc: Exception) -> str:
    for kind, name in _BACKENDS:
        if isinstance(exc, kind):
            return name
    return "backend"


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    backend = _backend(exc)
    # The driver's message can name hosts and ports: it goes to the log, not to the client.
    logger.warning(
        "backend unavailable",
        extra={"backend": backend, "error": f"{type(exc).__name__}: {exc}"[:300]},
    )
    return problem_response(
        request,
        status=503,
        title="Backend unavailable",
        detail=f"{backend} is not answering; retry later",
        type_=BACKEND_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        backend=backend,
    )


def install_backend_error_handlers(app: FastAPI) -> None:
    """Map the drivers' connectivity errors to 503 problem+json with Retry-After."""
    for kind, _ in _BACKENDS:
        app.add_exception_handler(kind, _unavailable)

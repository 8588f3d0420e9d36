"""Observing one HTTP exchange from a pure-ASGI middleware: its status and how long it took."""

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Called once the answer went out (or the app failed: status 500), with the status and seconds.
Done = Callable[[int, float], None]


async def observe(app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, done: Done) -> None:
    """Run `app` for one HTTP request and report its status and latency to `done`."""
    started = time.perf_counter()
    status = 500

    async def send_observed(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    try:
        await app(scope, receive, send_observed)
    finally:
        done(status, time.perf_counter() - started)

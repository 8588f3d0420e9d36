"""One pure-ASGI layer that observes every HTTP exchange — its status and how long it took — and
hands them to the observers (Prometheus metrics, the request log line).

One layer for all of them, not one each: every ASGI layer costs a coroutine and a wrapped
`send` per request, on the path every request takes (measured with bench/auth_issuance.py).
"""

import time
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Called once the answer went out (or the app failed: status 500), with the request's scope,
# the status and the seconds it took.
Observer = Callable[[Scope, int, float], None]


class ObserveMiddleware:
    """Times each HTTP request and reports it to every observer, outermost of the stack."""

    def __init__(self, app: ASGIApp, *, observers: Sequence[Observer]) -> None:
        self.app = app
        self.observers = tuple(observers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            for observer in self.observers:
                observer(scope, status, seconds)

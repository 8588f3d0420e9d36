"""The error boundary: whatever escapes the routes and their handlers still gets a problem+json
500 on an intact connection, logged with the request id.

Starlette's own last resort (ServerErrorMiddleware) answers and then re-raises, and uvicorn
closes the keep-alive connection on any exception that reaches it: a client would see its
connection drop mid-request. This pure-ASGI middleware sits inside the request-id middleware (so
the answer and the log carry the id) and swallows what it has answered.
"""

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caas_control_plane.problems import send_problem

logger = logging.getLogger(__name__)


class ErrorBoundaryMiddleware:
    """Answers an unhandled exception with a problem+json 500 instead of letting it escape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = scope.get("state", {}).get("request_id")
            logger.exception(
                "unhandled error",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                },
            )
            if started:
                # Part of an answer is out: nothing truthful can follow on this connection.
                raise
            await send_problem(scope, send, status=500)

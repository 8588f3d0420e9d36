"""One log line per HTTP request (pure ASGI, not BaseHTTPMiddleware): request id, method, route
*template*, status, latency in milliseconds and, once authentication named it, the tenant.

Nothing the client sent is logged verbatim: not the raw path (ids, and a query string that may
carry a token), not a header (Authorization, X-API-Key), not the body. The route template
(`/v1/sessions/{session_id}`) says which operation ran; the request id ties the line to the
answer the client got and to the audit events of the request.
"""

import logging
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from caas_control_plane.metrics import route_template
from caas_control_plane.observe import observe

REQUEST_LOGGER: Final = "caas_control_plane.requests"
# Set by the authentication dependencies (deps.py) in the request's state once a credential
# was verified; read here after the answer.
TENANT_STATE: Final = "tenant"

logger = logging.getLogger(REQUEST_LOGGER)


class RequestLogMiddleware:
    """Logs each HTTP request once, after its answer (or its failure) went out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return

        def done(status: int, seconds: float) -> None:
            state = scope.get("state") or {}
            fields: dict[str, object] = {
                "request_id": state.get("request_id"),
                "method": scope.get("method"),
                "route": route_template(scope),
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            }
            tenant = state.get(TENANT_STATE)
            if tenant is not None:
                fields["tenant"] = tenant
            logger.info("request", extra=fields)

        await observe(self.app, scope, receive, send, done=done)

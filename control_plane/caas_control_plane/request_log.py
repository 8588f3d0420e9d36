"""One log line per HTTP request (an observer of `observe.ObserveMiddleware`): request id,
method, route *template*, status, latency in milliseconds and, once authentication named it,
the tenant.

Nothing the client sent is logged verbatim: not the raw path (ids, and a query string that may
carry a token), not a header (Authorization, X-API-Key), not the body. The route template
(`/v1/sessions/{session_id}`) says which operation ran; the request id ties the line to the
answer the client got and to the audit events of the request.
"""

import logging
from typing import Final

from starlette.types import Scope

from caas_control_plane.metrics import route_template

REQUEST_LOGGER: Final = "caas_control_plane.requests"
# Set by the authentication dependencies (deps.py) in the request's state once a credential
# was verified; read here after the answer.
TENANT_STATE: Final = "tenant"

logger = logging.getLogger(REQUEST_LOGGER)


def log_request(scope: Scope, status: int, seconds: float) -> None:
    """Log one HTTP request after its answer (or its failure) went out (an `observe.Observer`)."""
    if not logger.isEnabledFor(logging.INFO):
        return
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

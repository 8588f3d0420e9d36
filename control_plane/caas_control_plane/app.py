"""The composition root: create_app wires settings, the runtime, middleware and routers."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from caas_control_plane.backend_errors import install_backend_error_handlers
from caas_control_plane.body_guard import BodyGuardMiddleware
from caas_control_plane.boundary import ErrorBoundaryMiddleware
from caas_control_plane.health import BackendHealth
from caas_control_plane.metrics import HttpMetrics
from caas_control_plane.middleware import REQUEST_ID_HEADER, RequestIdMiddleware
from caas_control_plane.observe import ObserveMiddleware
from caas_control_plane.problems import install_problem_handlers
from caas_control_plane.request_log import log_request
from caas_control_plane.routers import (
    api_keys,
    audit,
    auth,
    events,
    health,
    internal,
    jwks,
    mfa,
    security,
    sessions,
    tenant,
    webhook_deliveries,
    webhooks,
)
from caas_control_plane.runtime import Runtime
from caas_control_plane.settings import ApiSettings
from caas_control_plane.version import VERSION
from caas_core.domain.health import Probe


def create_app(settings: ApiSettings, *, probes: Mapping[str, Probe] | None = None) -> FastAPI:
    """The ASGI app; pass `probes` to run without backends (tests, tools): no runtime then."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if probes is not None:
            yield
            return
        runtime = await Runtime.start(settings)
        app.state.runtime = runtime
        app.state.health = runtime.health
        try:
            yield
        finally:
            app.state.runtime = None
            await runtime.stop()

    app = FastAPI(
        title="CAAS control plane",
        version=VERSION,
        description="Runtime APIs of the CAAS platform. Errors are RFC 9457 problem details.",
        openapi_url="/openapi.json",
        docs_url="/documentation",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = None
    # Until the lifespan opens real clients there are no backends, so readiness says 503.
    app.state.health = BackendHealth(probes=probes or {}, timeout=settings.health_timeout)
    install_problem_handlers(app)
    install_backend_error_handlers(app)
    # Middleware added first runs innermost. From the outside in: metrics, request id, the error
    # boundary (a 500 carrying the id, the connection kept), CORS, and the body guard (limits
    # checked before any parsing, authentication or rate limiting).
    app.add_middleware(BodyGuardMiddleware, form_paths=auth.FORM_PATHS)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origin_list),
            allow_methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=600,
        )
    app.add_middleware(ErrorBoundaryMiddleware)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: counts every answer, including CORS preflights and request-id rejections, and
    # logs one line per request with the id the middleware inside it assigned.
    app.state.metrics = HttpMetrics()
    app.add_middleware(ObserveMiddleware, observers=[app.state.metrics.observe, log_request])
    app.include_router(health.router)
    app.include_router(jwks.router)
    app.include_router(api_keys.router)  # before auth: its paths are more specific
    app.include_router(auth.router)
    app.include_router(tenant.router)
    app.include_router(sessions.router)
    app.include_router(mfa.router)
    app.include_router(security.router)
    app.include_router(audit.router)
    app.include_router(webhooks.router)
    app.include_router(webhook_deliveries.router)
    app.include_router(events.router)
    # Without an internal token the signing-key routes do not exist (they answer 404): they are
    # then not described either, so the schema never promises a 401 the server cannot give.
    app.include_router(internal.router, include_in_schema=settings.internal_token is not None)
    return app

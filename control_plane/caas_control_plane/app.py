"""The composition root: create_app wires settings, backend clients, middleware and routers."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from caas_control_plane.health import BackendHealth
from caas_control_plane.middleware import RequestIdMiddleware
from caas_control_plane.problems import install_problem_handlers
from caas_control_plane.routers import health
from caas_control_plane.settings import ApiSettings
from caas_control_plane.version import SERVICE_NAME, VERSION
from caas_core.adapters.clients import BackendClients
from caas_core.domain.health import Probe

# The probe's own deadline sits inside the runner's, so the backend's error is what we report.
_RUNNER_SLACK: Final = 0.5


def create_app(settings: ApiSettings, *, probes: Mapping[str, Probe] | None = None) -> FastAPI:
    """The ASGI app; pass `probes` to replace the real backend clients (tests, tools)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if probes is not None:
            yield
            return
        clients = BackendClients.open(settings, app_name=SERVICE_NAME)
        app.state.health = BackendHealth(
            probes=clients.probes(timeout=settings.health_timeout),
            timeout=settings.health_timeout + _RUNNER_SLACK,
        )
        try:
            yield
        finally:
            await clients.close()

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
    # Until the lifespan opens real clients there are no backends, so readiness says 503.
    app.state.health = BackendHealth(probes=probes or {}, timeout=settings.health_timeout)
    install_problem_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    return app

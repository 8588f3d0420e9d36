"""FastAPI dependency aliases (the composition root puts the objects on app.state)."""

from typing import Annotated

from fastapi import Depends, Request

from caas_control_plane.health import BackendHealth
from caas_control_plane.settings import ApiSettings


def _health(request: Request) -> BackendHealth:
    health: BackendHealth = request.app.state.health
    return health


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


HealthDep = Annotated[BackendHealth, Depends(_health)]
SettingsDep = Annotated[ApiSettings, Depends(_settings)]

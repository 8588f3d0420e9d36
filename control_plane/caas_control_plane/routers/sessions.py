"""`/v1/sessions`: a user's sessions and devices (Bearer); admin actions (sessions:admin key)."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BeforeValidator, Field

from caas_control_plane.deps import (
    ClientDep,
    CurrentPrincipal,
    OptionalPrincipal,
    OptionalSessionAdminKey,
    SessionAdminKey,
    SessionsDep,
)
from caas_control_plane.schemas import (
    COMMON,
    CamelModel,
    SessionIdPath,
    UserIdPath,
    json_integer,
    problems,
)
from caas_control_plane.services.context import key_actor
from caas_control_plane.services.sessions import SessionRecord

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
SessionId = SessionIdPath
_NOT_FOUND = problems(**COMMON, _404="No such session (or another user's/tenant's)")


class DevicePublic(CamelModel):
    """The device a session was started from, as the tenant back end described it."""

    device_id: str | None = None
    name: str | None = None
    platform: str | None = None
    fingerprint: str | None = None
    app_version: str | None = None


class SessionPublic(CamelModel):
    """One session."""

    session_id: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime = Field(description="Login or the latest refresh.")
    expires_at: datetime
    ip: str | None = None
    user_agent: str | None = None
    device: DevicePublic
    current: bool = Field(default=False, description="The session of the calling token.")


class SessionList(CamelModel):
    """Live sessions, newest first."""

    items: list[SessionPublic]


class Terminated(CamelModel):
    """How many sessions were ended."""

    terminated: int


class ExtendRequest(CamelModel):
    """Push the session's end out (capped at the maximum refresh lifetime from now)."""

    seconds: Annotated[int, Field(ge=60, le=90 * 86400), BeforeValidator(json_integer)]


def _public(record: SessionRecord, *, current: str | None = None) -> SessionPublic:
    device = record.device
    return SessionPublic(
        session_id=record.session_id,
        user_id=record.user_id,
        created_at=record.created_at,
        last_seen_at=record.last_seen_at,
        expires_at=record.expires_at,
        ip=record.ip,
        user_agent=record.user_agent,
        device=DevicePublic(
            device_id=device.device_id,
            name=device.name,
            platform=device.platform,
            fingerprint=device.fingerprint,
            app_version=device.app_version,
        ),
        current=record.session_id == current,
    )


@router.get("", response_model=SessionList, responses=problems(**COMMON))
async def list_sessions(principal: CurrentPrincipal, sessions: SessionsDep) -> SessionList:
    """The caller's live sessions; `current` marks the one of this token."""
    records = await sessions.live(tenant=principal.tenant, user_id=principal.user_id)
    return SessionList(items=[_public(r, current=principal.session_id) for r in records])


@router.delete("", response_model=Terminated, responses=problems(**COMMON))
async def terminate_others(
    principal: CurrentPrincipal, sessions: SessionsDep, client: ClientDep
) -> Terminated:
    """End every session of the caller except the current one (needs a step-up with MFA)."""
    count = await sessions.terminate_others(principal, client=client)
    return Terminated(terminated=count)


@router.delete("/{session_id}", status_code=204, responses=_NOT_FOUND)
async def terminate(
    session_id: SessionId,
    sessions: SessionsDep,
    client: ClientDep,
    principal: OptionalPrincipal,
    admin: OptionalSessionAdminKey,
) -> Response:
    """End one session: a user their own (Bearer), an admin key any of its tenant."""
    await sessions.terminate_as(session_id, admin=admin, principal=principal, client=client)
    return Response(status_code=204)


@router.get("/users/{user_id}", response_model=SessionList, responses=problems(**COMMON))
async def list_user_sessions(
    user_id: UserIdPath, admin: SessionAdminKey, sessions: SessionsDep
) -> SessionList:
    """A user's live sessions (admin key of the user's tenant)."""
    records = await sessions.live(tenant=admin.tenant, user_id=user_id)
    return SessionList(items=[_public(r) for r in records])


@router.post("/{session_id}/extend", response_model=SessionPublic, responses=_NOT_FOUND)
async def extend(
    session_id: SessionId,
    body: ExtendRequest,
    admin: SessionAdminKey,
    sessions: SessionsDep,
    client: ClientDep,
) -> SessionPublic:
    """Extend a session of the admin key's tenant."""
    record = await sessions.extend(
        tenant=admin.tenant,
        session_id=session_id,
        by=timedelta(seconds=body.seconds),
        actor=key_actor(admin),
        client=client,
    )
    return _public(record)

"""`/internal/signing-keys`: list and rotate signing keys (operators, with CAAS_INTERNAL_TOKEN)."""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, StrictBool

from caas_control_plane.deps import ClientDep, RuntimeDep, SettingsDep
from caas_control_plane.problems import ProblemError
from caas_control_plane.routers.common import problems
from caas_core.audit import Actor, Outcome

router = APIRouter(prefix="/internal/signing-keys", tags=["internal"])
_bearer = HTTPBearer(auto_error=False, scheme_name="InternalToken")
_RESPONSES = problems(_401="Missing or wrong internal token", _503="A backend is unavailable")


async def _operator(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    expected = settings.internal_token
    if expected is None:
        # Disabled: indistinguishable from a route that does not exist.
        raise ProblemError(status=404)
    presented = "" if credentials is None else credentials.credentials
    if not hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
        raise ProblemError(status=401, detail="a valid internal token is required")


class RotateRequest(BaseModel):
    """Rotation options."""

    immediate: StrictBool = Field(
        default=False,
        description="Sign with the new key at once (key compromise) instead of after the "
        "publish delay; relying parties with a cached JWKS may then briefly fail to verify.",
    )


class KeySummary(BaseModel):
    """A stored key, without key material."""

    generation: int
    kid: str
    state: str
    activatesAt: str  # noqa: N815 - JSON member name
    createdAt: str  # noqa: N815
    ageSeconds: int  # noqa: N815


class KeysResponse(BaseModel):
    """The stored keys."""

    rotated: bool | None = None
    keys: list[KeySummary]


@router.get(
    "", response_model=KeysResponse, responses=_RESPONSES, dependencies=[Depends(_operator)]
)
async def list_keys(runtime: RuntimeDep) -> KeysResponse:
    """Every stored key and its lifecycle state."""
    await runtime.keys.reload()
    return KeysResponse.model_validate({"keys": runtime.keys.describe()})


@router.post(
    "/rotate", response_model=KeysResponse, responses=_RESPONSES, dependencies=[Depends(_operator)]
)
async def rotate(
    runtime: RuntimeDep, client: ClientDep, body: RotateRequest | None = None
) -> KeysResponse:
    """Add the next signing key (race-safe across instances); the body is optional."""
    immediate = body is not None and body.immediate
    result: dict[str, Any] = await runtime.keys.rotate(immediate=immediate)
    await runtime.audit.emit(
        client.event(
            "auth.signing_key.rotated",
            outcome=Outcome.SUCCESS,
            actor=Actor(type="system", id="internal-token"),
            details={"immediate": immediate, "rotated": result["rotated"]},
        )
    )
    return KeysResponse.model_validate(result)

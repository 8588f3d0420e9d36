"""`/internal/signing-keys`: list and rotate signing keys (operators, with CAAS_INTERNAL_TOKEN)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, StrictBool

from caas_control_plane.deps import ClientDep, SettingsDep, SigningKeyAdminDep
from caas_control_plane.problems import ProblemError
from caas_control_plane.schemas import problems
from caas_control_plane.services.signing_key_admin import InternalAccess, internal_access

router = APIRouter(prefix="/internal/signing-keys", tags=["internal"])
_bearer = HTTPBearer(auto_error=False, scheme_name="InternalToken")
_RESPONSES = problems(_401="Missing or wrong internal token", _503="A backend is unavailable")


async def _operator(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    expected = settings.internal_token
    access = internal_access(
        expected=None if expected is None else expected.get_secret_value(),
        presented=None if credentials is None else credentials.credentials,
    )
    if access is InternalAccess.DISABLED:
        # Indistinguishable from a route that does not exist.
        raise ProblemError(status=404)
    if access is InternalAccess.REFUSED:
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
async def list_keys(admin: SigningKeyAdminDep) -> KeysResponse:
    """Every stored key and its lifecycle state."""
    return KeysResponse.model_validate({"keys": await admin.describe()})


@router.post(
    "/rotate", response_model=KeysResponse, responses=_RESPONSES, dependencies=[Depends(_operator)]
)
async def rotate(
    admin: SigningKeyAdminDep, client: ClientDep, body: RotateRequest | None = None
) -> KeysResponse:
    """Add the next signing key (race-safe across instances); the body is optional."""
    immediate = body is not None and body.immediate
    return KeysResponse.model_validate(await admin.rotate(immediate=immediate, client=client))

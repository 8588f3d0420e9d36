"""`/v1/auth/api-keys`: a tenant back end manages its API keys (X-API-Key with keys:manage)."""

from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Response
from pydantic import AfterValidator, Field

from caas_control_plane.auth import scopes
from caas_control_plane.deps import ApiKeyAdminDep, ClientDep, KeyManagerKey
from caas_control_plane.schemas import (
    COMMON,
    ApiKeyIdPath,
    CamelModel,
    Instant,
    Name,
    problems,
)
from caas_core.domain.api_key_records import ApiKeyRecord

router = APIRouter(prefix="/v1/auth/api-keys", tags=["api-keys"])
KeyId = ApiKeyIdPath
_NO_STORE = {"Cache-Control": "no-store"}


def _grantable(scope: str) -> str:
    if not scopes.is_valid_scope(scope):
        raise ValueError(f"unknown scope; one of {', '.join(scopes.GRANTABLE)}")
    return scope


# The schema lists exactly the scopes the server accepts (an enum), checked by the same rule.
Scope = Annotated[
    str, AfterValidator(_grantable), Field(json_schema_extra={"enum": list(scopes.GRANTABLE)})
]
_EXPIRES: Final = (
    "When the key stops working: a future instant with its offset (`Z` or `+01:00`); a past "
    "one is refused with 422, naive ones too."
)


class ApiKeyPublic(CamelModel):
    """A stored key, never its secret or hash."""

    key_id: str
    name: str
    scopes: list[str]
    managed_by: str = Field(description="`api` (REST) or `operator` (an ApiKey resource).")
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    valid_until: datetime | None = None
    resource: str | None = Field(default=None, description="namespace/name of its ApiKey.")


class ApiKeyCreated(ApiKeyPublic):
    """A new key: `apiKey` is shown this once and never stored."""

    api_key: str


class ApiKeyCreate(CamelModel):
    """A new REST-owned key."""

    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=20)
    expires_at: Instant | None = Field(default=None, description=_EXPIRES)


class ApiKeyUpdate(CamelModel):
    """Fields to change; omitted ones stay (`expiresAt: null` removes the expiry)."""

    name: Name | None = None
    scopes: list[Scope] | None = Field(default=None, min_length=1, max_length=20)
    expires_at: Instant | None = Field(default=None, description=_EXPIRES)


class ApiKeyList(CamelModel):
    """The tenant's keys."""

    items: list[ApiKeyPublic]


def _public(record: ApiKeyRecord) -> ApiKeyPublic:
    return ApiKeyPublic(
        key_id=record.key_id,
        name=record.name,
        scopes=list(record.scopes),
        managed_by=record.managed_by.value,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        valid_until=record.valid_until,
        resource=None
        if record.source is None
        else f"{record.source.namespace}/{record.source.name}",
    )


@router.get("", response_model=ApiKeyList, responses=problems(**COMMON))
async def list_keys(caller: KeyManagerKey, admin: ApiKeyAdminDep) -> ApiKeyList:
    """Every key of the caller's tenant, both writers', oldest first."""
    return ApiKeyList(items=[_public(r) for r in await admin.list(caller.tenant)])


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problems(**COMMON),
    summary="Create a key (the plaintext is returned once)",
)
async def create_key(
    body: ApiKeyCreate,
    caller: KeyManagerKey,
    admin: ApiKeyAdminDep,
    client: ClientDep,
    response: Response,
) -> ApiKeyCreated:
    """A key may only be given scopes the calling key holds; the plan caps how many exist."""
    record, plaintext = await admin.create(
        caller=caller, name=body.name, scopes=body.scopes, expires_at=body.expires_at,
        client=client,
    )  # fmt: skip
    response.headers.update(_NO_STORE)
    return ApiKeyCreated(**_public(record).model_dump(), api_key=plaintext)


@router.get(
    "/{key_id}", response_model=ApiKeyPublic, responses=problems(**COMMON, _404="No such key")
)
async def get_key(key_id: KeyId, caller: KeyManagerKey, admin: ApiKeyAdminDep) -> ApiKeyPublic:
    """One key of the caller's tenant."""
    return _public(await admin.get(caller.tenant, key_id))


@router.put(
    "/{key_id}",
    response_model=ApiKeyPublic,
    responses=problems(**COMMON, _404="No such key", _409="Managed by an ApiKey resource"),
)
async def update_key(
    key_id: KeyId,
    body: ApiKeyUpdate,
    caller: KeyManagerKey,
    admin: ApiKeyAdminDep,
    client: ClientDep,
) -> ApiKeyPublic:
    """Rename, re-scope or change the expiry of a REST-owned key."""
    record = await admin.update(
        caller=caller,
        key_id=key_id,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
        clear_expiry="expires_at" in body.model_fields_set and body.expires_at is None,
        client=client,
    )
    return _public(record)


@router.delete(
    "/{key_id}",
    status_code=204,
    responses=problems(**COMMON, _404="No such key", _409="Managed by an ApiKey resource"),
)
async def revoke_key(
    key_id: KeyId, caller: KeyManagerKey, admin: ApiKeyAdminDep, client: ClientDep
) -> Response:
    """Revoke a REST-owned key at once, on every instance."""
    await admin.revoke(caller=caller, key_id=key_id, client=client)
    return Response(status_code=204)

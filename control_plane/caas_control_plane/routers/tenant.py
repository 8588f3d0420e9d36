"""`/v1/tenant`: the caller's own tenant — profile, settings, usage (X-API-Key, tenant:*)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.alias_generators import to_camel

from caas_control_plane.deps import ClientDep, TenantReaderKey, TenantsDep, TenantWriterKey
from caas_control_plane.schemas import (
    COMMON,
    CamelModel,
    MetadataKey,
    Name,
    Text,
    json_integer,
    keys_by_pattern,
    problems,
)
from caas_control_plane.services.context import key_actor
from caas_control_plane.services.tenants import TenantProfile

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])
# scheme://host[:port], as a browser sends it in `Origin` (IDNs in their punycode form).
Origin = Annotated[
    str,
    StringConstraints(
        max_length=256,
        pattern=r"^https?://([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$",
    ),
]


class RateLimitPublic(CamelModel):
    """The plan's request rate."""

    requests_per_second: int
    burst: int


class PlanPublic(CamelModel):
    """Plan and quotas, synced from the Tenant resource by the operator."""

    tier: str
    max_api_keys: int
    max_webhooks: int
    rate_limit: RateLimitPublic
    synced: bool = Field(description="False: nothing synced yet, the CRD's defaults apply.")


class TenantSettings(CamelModel):
    """Tenant-wide runtime settings the tenant may change."""

    mfa_required: StrictBool = Field(default=False, description="Users must enrol a second factor.")
    allowed_origins: list[Origin] = Field(default_factory=list, max_length=20)
    session_lifetime_seconds: (
        Annotated[int, Field(ge=300, le=90 * 86400), BeforeValidator(json_integer)] | None
    ) = None
    metadata: dict[MetadataKey, Text] = Field(
        default_factory=dict,
        max_length=20,
        description="Free-form labels. Keys are stored as document field names: letters, "
        "digits, `_` and `-` only (no `.` or `$`).",
        json_schema_extra=keys_by_pattern,
    )


class TenantSettingsView(CamelModel):
    """The tenant's settings as stored (written under the rules of their time)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    mfa_required: bool = False
    allowed_origins: list[str] = Field(default_factory=list)
    session_lifetime_seconds: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class TenantPublic(CamelModel):
    """The tenant."""

    name: str
    display_name: str | None
    plan: PlanPublic
    created_at: datetime | None
    updated_at: datetime | None


class TenantUpdate(CamelModel):
    """Fields of the tenant the control plane owns."""

    display_name: Name


class UsagePublic(CamelModel):
    """This month's counters (UTC) and current counts against the plan."""

    month: str
    api_calls: int
    tokens_issued: int
    api_keys: int
    active_sessions: int
    max_api_keys: int


def _public(profile: TenantProfile) -> TenantPublic:
    plan = profile.plan
    return TenantPublic(
        name=profile.name,
        display_name=profile.display_name,
        plan=PlanPublic(
            tier=plan.tier.value,
            max_api_keys=plan.max_api_keys,
            max_webhooks=plan.max_webhooks,
            rate_limit=RateLimitPublic(
                requests_per_second=plan.rate_limit.requests_per_second,
                burst=plan.rate_limit.burst,
            ),
            synced=profile.plan_synced,
        ),
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


@router.get("", response_model=TenantPublic, responses=problems(**COMMON))
async def get_tenant(caller: TenantReaderKey, tenants: TenantsDep) -> TenantPublic:
    """The caller's tenant."""
    return _public(await tenants.profile(caller.tenant))


@router.put("", response_model=TenantPublic, responses=problems(**COMMON))
async def put_tenant(
    body: TenantUpdate, caller: TenantWriterKey, tenants: TenantsDep, client: ClientDep
) -> TenantPublic:
    """Change the display name (plan and quotas come from the Tenant resource)."""
    profile = await tenants.update(
        caller.tenant,
        changes={"displayName": body.display_name},
        actor=key_actor(caller),
        client=client,
        action="tenant.updated",
    )
    return _public(profile)


@router.get("/settings", response_model=TenantSettingsView, responses=problems(**COMMON))
async def get_settings(caller: TenantReaderKey, tenants: TenantsDep) -> TenantSettingsView:
    """The tenant's settings (defaults until first written)."""
    profile = await tenants.profile(caller.tenant)
    return TenantSettingsView.model_validate(dict(profile.settings))


@router.put("/settings", response_model=TenantSettingsView, responses=problems(**COMMON))
async def put_settings(
    body: TenantSettings, caller: TenantWriterKey, tenants: TenantsDep, client: ClientDep
) -> TenantSettingsView:
    """Replace the tenant's settings."""
    profile = await tenants.update(
        caller.tenant,
        changes={"settings": body.model_dump(by_alias=True)},
        actor=key_actor(caller),
        client=client,
        action="tenant.settings.updated",
    )
    return TenantSettingsView.model_validate(dict(profile.settings))


@router.get("/usage", response_model=UsagePublic, responses=problems(**COMMON))
async def get_usage(caller: TenantReaderKey, tenants: TenantsDep) -> UsagePublic:
    """Counters of this month (Redis) and counts of keys and live sessions (MongoDB)."""
    usage = await tenants.usage(caller.tenant)
    return UsagePublic(
        month=usage.month,
        api_calls=usage.api_calls,
        tokens_issued=usage.tokens_issued,
        api_keys=usage.api_keys,
        active_sessions=usage.active_sessions,
        max_api_keys=usage.plan.max_api_keys,
    )

"""Tenant profile, settings, plan quotas and usage (counters in Redis, counts in MongoDB)."""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from caas_control_plane.ports import ApiKeys, RefreshFamilies, TenantProfiles, UsageCounters
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.rate_limits import API_CALLS, TOKENS_ISSUED, usage_key
from caas_core.domain.audit import Actor, AuditWriter, Outcome
from caas_core.domain.tenant_profiles import StoredProfile
from caas_core.resources.tenant import PlanSpec

Clock = Callable[[], datetime]
_PLAN_CACHE_SECONDS: Final = 30.0
_PLAN_CACHE_LIMIT: Final = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRate:
    """The plan's limit for each of the tenant's clients (API keys, users)."""

    per_minute: int
    burst: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantProfile:
    """What `/v1/tenant` shows."""

    name: str
    display_name: str | None
    plan: PlanSpec
    plan_synced: bool  # False: no plan synced from the Tenant resource yet; CRD defaults apply
    settings: Mapping[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantUsage:
    """This month's counters and the current counts against the plan's quotas."""

    month: str
    api_calls: int
    tokens_issued: int
    api_keys: int
    active_sessions: int
    plan: PlanSpec


class TenantService:
    """Reads and updates tenants; every change is audited."""

    def __init__(
        self,
        *,
        store: TenantProfiles,
        api_keys: ApiKeys,
        families: RefreshFamilies,
        counters: UsageCounters,
        audit: AuditWriter,
        clock: Clock,
    ) -> None:
        self._store = store
        self._api_keys = api_keys
        self._families = families
        self._counters = counters
        self._audit = audit
        self._clock = clock
        self._plans: dict[str, tuple[float, ClientRate | None]] = {}

    async def client_rate(self, tenant: str) -> "ClientRate | None":
        """The synced plan's per-client rate (None: not synced, the settings apply), cached
        for `_PLAN_CACHE_SECONDS` so the hot path reads MongoDB at most that often."""
        now = time.monotonic()
        cached = self._plans.get(tenant)
        if cached is not None and now - cached[0] < _PLAN_CACHE_SECONDS:
            return cached[1]
        profile = await self.profile(tenant)
        rate = (
            ClientRate(
                per_minute=profile.plan.rate_limit.requests_per_second * 60,
                burst=profile.plan.rate_limit.burst,
            )
            if profile.plan_synced
            else None
        )
        if len(self._plans) > _PLAN_CACHE_LIMIT:
            self._plans.clear()
        self._plans[tenant] = (now, rate)
        return rate

    async def profile(self, tenant: str) -> TenantProfile:
        """The tenant as stored (plan defaults when the operator has not synced one)."""
        stored = await self._store.get(tenant)
        return _profile(stored or StoredProfile(tenant=tenant))

    async def requires_mfa(self, tenant: str) -> bool:
        """Whether the tenant's settings demand a second factor for sensitive actions."""
        return bool((await self.profile(tenant)).settings.get("mfaRequired"))

    async def plan(self, tenant: str) -> PlanSpec:
        """The tenant's plan and quotas."""
        return (await self.profile(tenant)).plan

    async def update(
        self,
        tenant: str,
        *,
        changes: dict[str, Any],
        actor: Actor,
        client: ClientInfo,
        action: str,
    ) -> TenantProfile:
        """Write control-plane-owned fields (`displayName`, `settings`) and audit the change."""
        stored = await self._store.update(tenant, changes=changes, now=self._clock())
        await self._audit.emit(
            client.event(
                action,
                outcome=Outcome.SUCCESS,
                actor=actor,
                tenant=tenant,
                target_type="tenant",
                target_id=tenant,
                details={"fields": sorted(changes)},
            )
        )
        return _profile(stored)

    async def usage(self, tenant: str) -> TenantUsage:
        """Redis counters of this month and MongoDB counts of keys and live sessions."""
        now = self._clock()
        key = usage_key(tenant, now=now)
        counters = await self._counters.month(key)
        keys = await self._api_keys.list_for_tenant(tenant)
        sessions = await self._families.count_active(tenant=tenant, now=now)
        return TenantUsage(
            month=f"{now:%Y-%m}",
            api_calls=counters.get(API_CALLS, 0),
            tokens_issued=counters.get(TOKENS_ISSUED, 0),
            api_keys=sum(1 for record in keys if record.unusable(now=now) is None),
            active_sessions=sessions,
            plan=await self.plan(tenant),
        )


def _profile(stored: StoredProfile) -> TenantProfile:
    try:
        plan = PlanSpec.model_validate(stored.plan or {})
        synced = bool(stored.plan)
    except ValidationError:  # a malformed sync: fail closed to the defaults, flagged unsynced
        plan, synced = PlanSpec(), False
    return TenantProfile(
        name=stored.tenant,
        display_name=stored.display_name,
        plan=plan,
        plan_synced=synced,
        settings=stored.settings,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )

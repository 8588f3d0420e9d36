"""Tenant profiles in `caas_platform.saas_clients` (`_id` = tenant name): the one store of the
collection, for both processes.

The operator copies each Tenant's `spec.plan` here (`sync_plan`), because the control plane
enforces the plan's quotas and rate limits and does not talk to Kubernetes. The control plane
owns the other fields (`displayName`, `settings`, `updatedAt`); the operator writes only `plan`
and `planSyncedAt`.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from caas_core.domain.tenant_profiles import StoredProfile

COLLECTION: Final = "saas_clients"
Document = dict[str, Any]


def _profile(tenant: str, doc: Mapping[str, Any]) -> StoredProfile:
    plan = doc.get("plan")
    return StoredProfile(
        tenant=tenant,
        display_name=doc.get("displayName"),
        settings=doc.get("settings") or {},
        plan=plan if isinstance(plan, Mapping) and plan else None,
        created_at=doc.get("createdAt"),
        updated_at=doc.get("updatedAt"),
    )


class TenantProfileStore:
    """One document per tenant."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._profiles: AsyncCollection[Document] = database[COLLECTION]

    async def get(self, tenant: str) -> StoredProfile | None:
        """The tenant's profile, if any was written yet."""
        doc = await self._profiles.find_one({"_id": tenant})
        return None if doc is None else _profile(tenant, doc)

    async def update(
        self, tenant: str, *, changes: Mapping[str, Any], now: datetime
    ) -> StoredProfile:
        """Set fields the control plane owns, by their JSON names (`displayName`, `settings`),
        creating the profile on first write."""
        doc = await self._profiles.find_one_and_update(
            {"_id": tenant},
            {"$set": {**changes, "updatedAt": now}, "$setOnInsert": {"createdAt": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return _profile(tenant, doc or {"_id": tenant, **changes})

    async def sync_plan(self, tenant: str, *, plan: Mapping[str, Any], now: datetime) -> bool:
        """Store the tenant's plan unless it is already there; True when it was written."""
        current = await self._profiles.find_one({"_id": tenant}, {"plan": 1})
        if current is not None and current.get("plan") == dict(plan):
            return False
        await self._profiles.update_one(
            {"_id": tenant},
            {
                "$set": {"plan": dict(plan), "planSyncedAt": now},
                "$setOnInsert": {"createdAt": now},
            },
            upsert=True,
        )
        return True


async def sync_plan(
    database: AsyncDatabase[Document], *, tenant: str, plan: Mapping[str, Any], now: datetime
) -> bool:
    """Store the tenant's plan unless it is already there (the operator's reconcile)."""
    return await TenantProfileStore(database).sync_plan(tenant, plan=plan, now=now)

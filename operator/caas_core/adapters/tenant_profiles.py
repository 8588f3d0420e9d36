"""Tenant profiles in `caas_platform.saas_clients` (`_id` = tenant name).

The operator copies each Tenant's `spec.plan` here, because the control plane enforces the plan's
quotas and rate limits and does not talk to Kubernetes. The control plane owns the other fields
(display name, settings); the operator writes only `plan` and `planSyncedAt`.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase

COLLECTION: Final = "saas_clients"


async def sync_plan(
    database: AsyncDatabase[dict[str, Any]], *, tenant: str, plan: Mapping[str, Any], now: datetime
) -> bool:
    """Store the tenant's plan unless it is already there; True when it was written."""
    profiles = database[COLLECTION]
    current = await profiles.find_one({"_id": tenant}, {"plan": 1})
    if current is not None and current.get("plan") == dict(plan):
        return False
    await profiles.update_one(
        {"_id": tenant},
        {"$set": {"plan": dict(plan), "planSyncedAt": now}, "$setOnInsert": {"createdAt": now}},
        upsert=True,
    )
    return True

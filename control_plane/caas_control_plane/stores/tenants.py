"""Tenant profiles, settings and quotas in `caas_platform.saas_clients`, keyed by tenant name.

The Tenant custom resource is the source of truth for the plan and its quotas; the control plane
does not talk to Kubernetes, so the operator copies `spec.plan` into the `plan` field here
(caas_core.adapters.tenant_profiles; before that, the Tenant CRD's defaults apply). The control
plane writes only `displayName`, `settings` and `updatedAt`.
"""

from datetime import datetime
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION: Final = "saas_clients"
Document = dict[str, Any]


class TenantStore:
    """One document per tenant (`_id` = tenant name)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._tenants: AsyncCollection[Document] = database[COLLECTION]

    async def get(self, tenant: str) -> Document | None:
        """The tenant's document, if any was written yet."""
        return await self._tenants.find_one({"_id": tenant})

    async def update(self, tenant: str, *, changes: Document, now: datetime) -> Document:
        """Set fields the control plane owns (creating the document on first write)."""
        doc = await self._tenants.find_one_and_update(
            {"_id": tenant},
            {"$set": {**changes, "updatedAt": now}, "$setOnInsert": {"createdAt": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return doc or {"_id": tenant, **changes}

"""The ownership registry in `caas_platform.tenant_resources`: which backend object is whose.

Kafka topics, Redis users and MongoDB databases carry no owner labels, so the operator records
each object it is about to create *before* creating it (claim first: a crash in between leaves a
claim without an object, which the next reconcile completes, never an object without a claim).
An existing object with no claim is someone else's and is never adopted or overwritten.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from caas_operator.shared.ownership import (
    REGISTRY_COLLECTION,
    Claim,
    ClaimConflictError,
    Claims,
    ResourceKind,
)

COLLECTION: Final = REGISTRY_COLLECTION
_DUPLICATE_KEY: Final = 11000
Document = dict[str, Any]


def _key(kind: ResourceKind, name: str) -> str:
    return f"{kind.value}:{name}"


def _claim(doc: Document) -> Claim:
    return Claim(
        kind=ResourceKind(doc["kind"]),
        name=doc["name"],
        tenant=doc["tenant"],
        credential_hash=doc.get("credentialHash"),
    )


class Registry:
    """Claims of backend objects by tenant name (the data of a Retain-ed tenant stays its own)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._docs: AsyncCollection[Document] = database[COLLECTION]

    async def claims(self, tenant: str) -> Claims:
        """Every object registered to the tenant."""
        found = [_claim(doc) async for doc in self._docs.find({"tenant": tenant})]
        return {(c.kind, c.name): c for c in found}

    async def claim(
        self,
        tenant: str,
        kind: ResourceKind,
        names: list[str],
        *,
        uid: str,
        now: datetime,
        credential_hash: str | None = None,
    ) -> None:
        """Register the objects to the tenant; idempotent; ClaimConflictError if another's.

        `credential_hash` records, for a user about to be created, the password it will get.
        """
        items = [(kind, name) for name in names]
        await self.claim_items(tenant, items, uid=uid, now=now, credential_hash=credential_hash)

    async def claim_items(
        self,
        tenant: str,
        items: Sequence[tuple[ResourceKind, str]],
        *,
        uid: str,
        now: datetime,
        credential_hash: str | None = None,
    ) -> None:
        """`claim` for objects of several kinds in one write."""
        if not items:
            return
        docs = [
            {
                "_id": _key(kind, name),
                "kind": kind.value,
                "name": name,
                "tenant": tenant,
                "tenantUid": uid,
                "createdAt": now,
                **({"credentialHash": credential_hash} if credential_hash else {}),
            }
            for kind, name in items
        ]
        try:
            await self._docs.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != _DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            await self._check_owner(tenant, items)
        except DuplicateKeyError:
            await self._check_owner(tenant, items)

    async def _check_owner(self, tenant: str, items: Sequence[tuple[ResourceKind, str]]) -> None:
        ids = [_key(kind, name) for kind, name in items]
        async for doc in self._docs.find({"_id": {"$in": ids}, "tenant": {"$ne": tenant}}):
            raise ClaimConflictError(
                f"{doc['kind']} {doc['name']} is registered to tenant {doc['tenant']}"
            )

    async def set_credential_hash(self, kind: ResourceKind, name: str, value: str) -> None:
        """Remember which credential was last set on the object."""
        await self._docs.update_one({"_id": _key(kind, name)}, {"$set": {"credentialHash": value}})

    async def release(self, kind: ResourceKind, names: list[str]) -> None:
        """Forget objects that were deleted."""
        if names:
            await self._docs.delete_many({"_id": {"$in": [_key(kind, n) for n in names]}})

    async def all_claims(self) -> list[Claim]:
        """Every claim (tests and audits: no orphans, no duplicates)."""
        return [_claim(doc) async for doc in self._docs.find({})]

"""The one authorization store in `caas_platform`, shared by the API and the operator.

Each object (policy, permission, role, role's permission, role assignment, resource grant,
entity, schema) is one document in its seed collection, keyed by tenant and name, holding the
JSON its writer sent (as a JSON string: attribute names may be anything, and the exact text
comes back). Every write is one MongoDB transaction that (1) bumps the tenant's policy-set
version, (2) reads the tenant's whole set, (3) applies the change in memory and compiles the
result with `caas_core.authz.documents.assemble` — an invalid result aborts the transaction,
so nothing half-written or invalid is ever stored — and (4) writes the change. Bumping the
version first makes concurrent writers of one tenant conflict on that document, so one of them
retries against the other's result instead of both validating stale sets.

Owner rule, as for API keys: objects written over REST are owned by `api`, objects reconciled
from an `AccessPolicy` resource by `operator` (with the resource as `source`); a writer may not
change or delete the other's objects (`ForeignObjectError`, which names the owner).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from caas_core.authz.documents import Assembled, Kind, assemble
from caas_core.authz.objects import (
    Committed,
    Delete,
    ForeignObjectError,
    ObjectNotFoundError,
    Operation,
    Put,
    StoredObject,
    Writer,
    may_write,
)
from caas_core.domain.api_key_records import ResourceRef

Document = dict[str, Any]
Clock = Callable[[], datetime]

COLLECTIONS: Final[Mapping[Kind, str]] = {
    Kind.POLICY: "authorization_policies",
    Kind.ROLE: "roles",
    Kind.PERMISSION: "permissions",
    Kind.ROLE_PERMISSION: "role_permissions",
    Kind.ASSIGNMENT: "user_roles",
    Kind.GRANT: "resource_permissions",
    Kind.ENTITY: "authorization_entities",
    Kind.SCHEMA: "authorization_schemas",
}
VERSIONS: Final = "authorization_versions"
INITIAL_VERSION: Final = "0"


_OPTIMISTIC_READS: Final = 3


def _documents(
    objects: Mapping[Kind, list[StoredObject]],
) -> dict[Kind, dict[str, Mapping[str, Any]]]:
    return {kind: {o.key: o.document for o in objs} for kind, objs in objects.items()}


def _now() -> datetime:
    return datetime.now(UTC)


def _doc_id(tenant: str, key: str) -> str:
    return f"{tenant}/{key}"


def _from_document(kind: Kind, doc: Mapping[str, Any]) -> StoredObject:
    source = doc.get("source")
    return StoredObject(
        kind=kind,
        key=doc["key"],
        document=json.loads(doc["body"]),
        owner=Writer(doc["owner"]),
        source=None
        if source is None
        else ResourceRef(namespace=source["namespace"], name=source["name"], uid=source["uid"]),
        updated_at=doc["updatedAt"],
    )


class AuthzStore:
    """Tenant-scoped reads and validated, versioned, ownership-checked writes."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        clock: Clock = _now,
        optimistic_reads: int = _OPTIMISTIC_READS,
    ) -> None:
        self._database = database
        self._clock = clock
        self._optimistic_reads = optimistic_reads  # 0: always the transactional snapshot
        self._collections: dict[Kind, AsyncCollection[Document]] = {
            kind: database[name] for kind, name in COLLECTIONS.items()
        }
        self._versions: AsyncCollection[Document] = database[VERSIONS]

    async def ensure_indexes(self) -> None:
        """Per-tenant listing in key order, and the operator's lookup by resource (idempotent)."""
        for collection in self._collections.values():
            existing = await collection.index_information()
            wanted = [
                IndexModel([("tenant", ASCENDING), ("key", ASCENDING)], name="tenant_key"),
                IndexModel([("source.uid", ASCENDING)], name="source_uid", sparse=True),
            ]
            missing = [index for index in wanted if index.document["name"] not in existing]
            if missing:
                await collection.create_indexes(missing)

    # --- reads --------------------------------------------------------------------------------

    async def version(self, tenant: str) -> str:
        """The tenant's current policy-set version (`"0"` before its first change)."""
        doc = await self._versions.find_one({"_id": tenant}, {"version": 1})
        return INITIAL_VERSION if doc is None else str(doc["version"])

    async def list_objects(self, tenant: str, kind: Kind) -> list[StoredObject]:
        """Every object of one kind of the tenant, in key order."""
        cursor = self._collections[kind].find({"tenant": tenant}).sort("key", ASCENDING)
        return [_from_document(kind, doc) async for doc in cursor]

    async def get(self, tenant: str, kind: Kind, key: str) -> StoredObject | None:
        """One object of the tenant, or None."""
        doc = await self._collections[kind].find_one(
            {"_id": _doc_id(tenant, key), "tenant": tenant}
        )
        return None if doc is None else _from_document(kind, doc)

    async def find_by_source(self, uid: str) -> list[StoredObject]:
        """Every object reconciled from one AccessPolicy resource (by its uid)."""
        found: list[StoredObject] = []
        for kind, collection in self._collections.items():
            found.extend(
                [_from_document(kind, doc) async for doc in collection.find({"source.uid": uid})]
            )
        return found

    async def load(self, tenant: str) -> tuple[str, dict[Kind, dict[str, Mapping[str, Any]]]]:
        """The tenant's whole set at one version.

        Read without a transaction and checked by reading the version again (a change landing
        meanwhile means another read); a tenant changed faster than it can be read is read in
        one transaction (a snapshot) instead.
        """
        for _ in range(self._optimistic_reads):
            before = await self.version(tenant)
            objects = await self._objects(tenant, session=None)
            if await self.version(tenant) == before:
                return before, _documents(objects)

        async def snapshot(session: AsyncClientSession) -> tuple[str, dict[Kind, Any]]:
            doc = await self._versions.find_one({"_id": tenant}, session=session)
            version = INITIAL_VERSION if doc is None else str(doc["version"])
            return version, _documents(await self._objects(tenant, session=session))

        async with self._database.client.start_session() as session:
            loaded: tuple[
                str, dict[Kind, dict[str, Mapping[str, Any]]]
            ] = await session.with_transaction(snapshot)
        return loaded

    async def load_assembled(self, tenant: str) -> Assembled:
        """The tenant's current set, compiled (what a decision is made with)."""
        version, objects = await self.load(tenant)
        return assemble(tenant=tenant, version=version, objects=objects)

    async def _objects(
        self, tenant: str, *, session: AsyncClientSession | None
    ) -> dict[Kind, list[StoredObject]]:
        out: dict[Kind, list[StoredObject]] = {}
        for kind, collection in self._collections.items():
            cursor = collection.find({"tenant": tenant}, session=session)
            out[kind] = [_from_document(kind, doc) async for doc in cursor]
        return out

    # --- writes -------------------------------------------------------------------------------

    async def put(
        self,
        tenant: str,
        kind: Kind,
        key: str,
        document: Mapping[str, Any],
        *,
        writer: Writer,
        source: ResourceRef | None = None,
    ) -> Committed:
        """Create or replace one object (validated with the whole set)."""
        return await self.change(tenant, [Put(kind, key, document)], writer=writer, source=source)

    async def delete(self, tenant: str, kind: Kind, key: str, *, writer: Writer) -> Committed:
        """Remove one object; `ObjectNotFoundError` when the tenant has none by that key."""
        return await self.change(tenant, [Delete(kind, key)], writer=writer, must_exist=True)

    async def replace_source(
        self, tenant: str, source: ResourceRef, objects: Sequence[Put]
    ) -> Committed:
        """The operator's reconcile of one AccessPolicy: exactly `objects` from that resource.

        Objects this resource wrote earlier and no longer lists are deleted, in the same
        transaction. An object of that key owned by the API (or by another resource) refuses
        the whole change.
        """
        listed = {(op.kind, op.key) for op in objects}
        stale = [
            Delete(o.kind, o.key)
            for o in await self.find_by_source(source.uid)
            if (o.kind, o.key) not in listed
        ]
        return await self.change(tenant, [*stale, *objects], writer=Writer.OPERATOR, source=source)

    async def change(
        self,
        tenant: str,
        operations: Iterable[Operation],
        *,
        writer: Writer,
        source: ResourceRef | None = None,
        must_exist: bool = False,
    ) -> Committed:
        """Apply `operations` atomically, if the owner rule allows them and the result compiles.

        Raises ForeignObjectError, ObjectNotFoundError (with `must_exist`), and the documents
        module's ObjectError / LimitError / SetError; in every case nothing is written.
        """
        ops = tuple(operations)
        now = self._clock()

        async def transaction(session: AsyncClientSession) -> Committed:
            bumped = await self._versions.find_one_and_update(
                {"_id": tenant},
                {"$inc": {"version": 1}, "$set": {"updatedAt": now}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            assert bumped is not None  # upserted
            version = str(bumped["version"])
            current = await self._objects(tenant, session=session)
            stored = {kind: {o.key: o for o in objs} for kind, objs in current.items()}
            for op in ops:
                found = stored[op.kind].get(op.key)
                if found is None and isinstance(op, Delete) and must_exist:
                    raise ObjectNotFoundError(op.kind, op.key)
                if found is not None and not may_write(found, writer, source):
                    raise ForeignObjectError(found, writer)
            documents: dict[Kind, dict[str, Mapping[str, Any]]] = {
                kind: {key: o.document for key, o in objs.items()} for kind, objs in stored.items()
            }
            for op in ops:
                if isinstance(op, Put):
                    documents[op.kind][op.key] = op.document
                else:
                    documents[op.kind].pop(op.key, None)
            assembled = assemble(tenant=tenant, version=version, objects=documents)
            for op in ops:
                await self._write(
                    tenant, op, writer=writer, source=source, now=now, session=session
                )
            return Committed(version=version, assembled=assembled, changed=ops)

        async with self._database.client.start_session() as session:
            committed: Committed = await session.with_transaction(transaction)
        return committed

    async def _write(
        self,
        tenant: str,
        op: Operation,
        *,
        writer: Writer,
        source: ResourceRef | None,
        now: datetime,
        session: AsyncClientSession,
    ) -> None:
        collection = self._collections[op.kind]
        if isinstance(op, Delete):
            await collection.delete_one({"_id": _doc_id(tenant, op.key)}, session=session)
            return
        doc: Document = {
            "tenant": tenant,
            "key": op.key,
            "body": json.dumps(op.document, separators=(",", ":"), sort_keys=True),
            "owner": writer.value,
            "source": None
            if source is None
            else {"namespace": source.namespace, "name": source.name, "uid": source.uid},
            "updatedAt": now,
        }
        await collection.replace_one(
            {"_id": _doc_id(tenant, op.key)}, doc, upsert=True, session=session
        )

    async def delete_tenant(self, tenant: str) -> None:
        """Remove everything of a deleted tenant, whoever wrote it (no owner is left)."""
        for collection in self._collections.values():
            await collection.delete_many({"tenant": tenant})
        await self._versions.delete_one({"_id": tenant})

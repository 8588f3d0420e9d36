"""A tenant manages its authorization objects over REST (the store validates every change).

Every write goes through `AuthzObjects.change`: one transaction that bumps the policy-set
version, compiles the whole resulting set and refuses objects owned by an AccessPolicy
resource. A role's permissions are links (`role_permissions`), replaced with the role in the
same change, so a role and the permissions it holds are never half-written.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from caas_control_plane.services.authz_errors import REFUSALS, refused
from caas_control_plane.services.authz_ports import AuthzObjects
from caas_control_plane.services.context import ClientInfo
from caas_control_plane.services.errors import NotFoundError
from caas_core.authz.documents import Kind, role_permission_key
from caas_core.authz.objects import Committed, Delete, Operation, Put, StoredObject, Writer
from caas_core.authz.text import text_documents
from caas_core.domain.audit import Actor, AuditWriter, Outcome

_WRITER: Final = Writer.API


class AuthzAdmin:
    """CRUD of policies, permissions, roles, assignments, grants, entities and the schema."""

    def __init__(self, *, store: AuthzObjects, audit: AuditWriter) -> None:
        self._store = store
        self._audit = audit

    async def list_objects(self, tenant: str, kind: Kind) -> list[StoredObject]:
        """Every object of a kind of the tenant (both writers'), in key order."""
        return await self._store.list_objects(tenant, kind)

    async def get(self, tenant: str, kind: Kind, key: str) -> StoredObject:
        """One object of the tenant, or 404 (another tenant's looks the same as none)."""
        found = await self._store.get(tenant, kind, key)
        if found is None:
            raise NotFoundError(f"no {kind.value} {key!r}")
        return found

    async def version(self, tenant: str) -> str:
        """The tenant's current policy-set version."""
        return await self._store.version(tenant)

    async def put(
        self,
        tenant: str,
        kind: Kind,
        key: str,
        document: Mapping[str, Any],
        *,
        caller: Actor,
        client: ClientInfo,
    ) -> Committed:
        """Create or replace one object."""
        return await self._change(
            tenant, [Put(kind, key, document)], kind=kind, key=key, verb="put",
            caller=caller, client=client,
        )  # fmt: skip

    async def delete(
        self, tenant: str, kind: Kind, key: str, *, caller: Actor, client: ClientInfo
    ) -> Committed:
        """Remove one object (404 when there is none)."""
        return await self._change(
            tenant, [Delete(kind, key)], kind=kind, key=key, verb="deleted",
            caller=caller, client=client, must_exist=True,
        )  # fmt: skip

    async def put_text(
        self, tenant: str, text: str, *, caller: Actor, client: ClientInfo
    ) -> tuple[list[str], Committed]:
        """Create or replace the policies written in Cedar-like text (each stored as its JSON
        document, keyed by its `@id`); errors at line:column of the text."""
        try:
            schema = (await self._store.load_assembled(tenant)).schema
            docs = text_documents(text, tenant=tenant, schema=schema)
        except REFUSALS as error:
            raise refused(error) from None
        names = [str(doc["id"]) for doc in docs]
        committed = await self._change(
            tenant, [Put(Kind.POLICY, name, doc) for name, doc in zip(names, docs, strict=True)],
            kind=Kind.POLICY, key=",".join(names), verb="put", caller=caller, client=client,
        )  # fmt: skip
        return names, committed

    async def role_permissions(self, tenant: str, role: str) -> list[str]:
        """The permissions linked to a role, by name."""
        links = await self._store.list_objects(tenant, Kind.ROLE_PERMISSION)
        return sorted(str(o.document["permission"]) for o in links if o.document["role"] == role)

    async def put_role(
        self,
        tenant: str,
        name: str,
        *,
        inherits: Iterable[str],
        permissions: Iterable[str],
        caller: Actor,
        client: ClientInfo,
    ) -> Committed:
        """Create or replace a role with exactly these permissions."""
        wanted = sorted(set(permissions))
        stale = [p for p in await self.role_permissions(tenant, name) if p not in wanted]
        ops: list[Operation] = [
            Put(Kind.ROLE, name, {"inherits": list(inherits)}),
            *(Delete(Kind.ROLE_PERMISSION, role_permission_key(name, p)) for p in stale),
            *(
                Put(
                    Kind.ROLE_PERMISSION,
                    role_permission_key(name, p),
                    {"role": name, "permission": p},
                )
                for p in wanted
            ),
        ]
        return await self._change(
            tenant, ops, kind=Kind.ROLE, key=name, verb="put", caller=caller, client=client
        )

    async def delete_role(
        self, tenant: str, name: str, *, caller: Actor, client: ClientInfo
    ) -> Committed:
        """Remove a role and its permission links (refused while something still names it)."""
        links = [
            Delete(Kind.ROLE_PERMISSION, role_permission_key(name, p))
            for p in await self.role_permissions(tenant, name)
        ]
        return await self._change(
            tenant, [Delete(Kind.ROLE, name), *links], kind=Kind.ROLE, key=name,
            verb="deleted", caller=caller, client=client, must_exist=True,
        )  # fmt: skip

    async def _change(
        self,
        tenant: str,
        ops: list[Operation],
        *,
        kind: Kind,
        key: str,
        verb: str,
        caller: Actor,
        client: ClientInfo,
        must_exist: bool = False,
    ) -> Committed:
        try:
            committed = await self._store.change(tenant, ops, writer=_WRITER, must_exist=must_exist)
        except REFUSALS as error:
            raise refused(error) from None
        await self._audit.emit(
            client.event(
                f"authz.{kind.value}.{verb}",
                outcome=Outcome.SUCCESS,
                actor=caller,
                tenant=tenant,
                target_type=kind.value,
                target_id=key,
                details={"policySetVersion": committed.version},
            )
        )
        return committed


def describe(
    stored: StoredObject, extra: Callable[[StoredObject], Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """An object as the API shows it: its document, owner and the resource it came from."""
    source = stored.source
    return {
        "name": stored.key,
        "document": dict(stored.document),
        "managedBy": stored.owner.value,
        "resource": None if source is None else f"{source.namespace}/{source.name}",
        "updatedAt": stored.updated_at.isoformat(),
        **(extra(stored) if extra is not None else {}),
    }

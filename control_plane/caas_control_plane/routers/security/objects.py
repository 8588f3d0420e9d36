"""`/v1/security/{schema,policies,permissions,roles,role-assignments,grants,entities}`: CRUD.

A tenant back end with `authz:manage` writes its authorization objects; each write is
validated with the whole resulting set and bumps the policy-set version (answered as
`policySetVersion`). Objects of an AccessPolicy resource are listed too, but only kubectl
changes them (409 naming the owner). Documents are described in docs/authorization.md.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import Field, StringConstraints
from starlette.convertors import StringConvertor, register_url_convertor

from caas_control_plane.deps import AuthzAdminDep, AuthzManagerKey, ClientDep
from caas_control_plane.routers.security.edge import (
    PREFIX,
    EntityRef,
    ObjectList,
    ObjectPublic,
    Written,
    public,
    refusals,
)
from caas_control_plane.schemas import COMMON, CamelModel, problems
from caas_core.authz.documents import SCHEMA_KEY, Kind, assignment_key, entity_key
from caas_core.domain.api_key_records import ApiKeyRecord
from caas_core.domain.audit import Actor

router = APIRouter(prefix=PREFIX, tags=["security"])
Key = Annotated[
    str,
    Path(
        min_length=1, max_length=128,
        description="The object's name (policies: not `what-if` or `text`, the collection's own).",
    ),
]  # fmt: skip
Document = Annotated[dict[str, Any], Body(description="The object's JSON document.")]
_READ = problems(**COMMON, _404="No such object")
_WRITE = problems(
    **COMMON,
    _409="Managed by an AccessPolicy resource (the problem's `owner`)",
    _422="Invalid document or resulting set (the problem's `errors` carry JSON pointers)",
)
_DELETE = problems(
    **COMMON,
    _404="No such object",
    _409="Managed by an AccessPolicy resource (the problem's `owner`)",
    _422="Something still names it (the resulting set would not compile)",
)


def _actor(caller: ApiKeyRecord) -> Actor:
    return Actor(type="api_key", id=caller.key_id)


class _ObjectName(StringConvertor):
    """A path segment naming an object, except the collection's own actions (`what-if`,
    `text`), so `POST /policies/what-if` and the `/policies/{key}` routes never share a path."""

    regex = r"(?!(?:what-if|text)(?:/|$))[^/]+"


register_url_convertor("object_name", _ObjectName())


def _simple(kind: Kind, path: str, what: str) -> None:
    """List, get, put and delete routes of a kind whose objects are one document each."""

    async def list_all(caller: AuthzManagerKey, admin: AuthzAdminDep) -> ObjectList:
        items = await admin.list_objects(caller.tenant, kind)
        version = await admin.version(caller.tenant)
        return ObjectList(items=[public(o) for o in items], policy_set_version=version)

    async def get_one(key: Key, caller: AuthzManagerKey, admin: AuthzAdminDep) -> ObjectPublic:
        return public(await admin.get(caller.tenant, kind, key))

    async def put_one(
        key: Key, body: Document, caller: AuthzManagerKey, admin: AuthzAdminDep, client: ClientDep
    ) -> Written:
        with refusals():
            committed = await admin.put(
                caller.tenant, kind, key, body, caller=_actor(caller), client=client
            )
        return Written(name=key, policy_set_version=committed.version)

    async def delete_one(
        key: Key, caller: AuthzManagerKey, admin: AuthzAdminDep, client: ClientDep
    ) -> Response:
        with refusals():
            await admin.delete(caller.tenant, kind, key, caller=_actor(caller), client=client)
        return Response(status_code=204)

    name = kind.value
    router.add_api_route(
        path, list_all, methods=["GET"], response_model=ObjectList, name=f"list_{name}s",
        summary=f"List {what}s", responses=problems(**COMMON),
    )  # fmt: skip
    router.add_api_route(
        f"{path}/{{key:object_name}}", get_one, methods=["GET"], response_model=ObjectPublic,
        name=f"get_{name}", summary=f"Get a {what}", responses=_READ,
    )  # fmt: skip
    router.add_api_route(
        f"{path}/{{key:object_name}}", put_one, methods=["PUT"], response_model=Written,
        name=f"put_{name}", summary=f"Create or replace a {what}", responses=_WRITE,
    )  # fmt: skip
    router.add_api_route(
        f"{path}/{{key:object_name}}", delete_one, methods=["DELETE"], status_code=204,
        name=f"delete_{name}", summary=f"Delete a {what}", responses=_DELETE,
    )  # fmt: skip


_simple(Kind.POLICY, "/policies", "policy")
_simple(Kind.PERMISSION, "/permissions", "permission")
_simple(Kind.GRANT, "/grants", "resource grant")


# --- policies as Cedar-like text ------------------------------------------------------------------


class PolicyText(CamelModel):
    """Policies in the Cedar-like text form, each named by its `@id("…")`."""

    text: str = Field(min_length=1, max_length=60_000)


class WrittenMany(CamelModel):
    """Policies stored by one change, and the policy-set version it created."""

    names: list[str]
    policy_set_version: str


@router.post("/policies/text", response_model=WrittenMany, responses=_WRITE)
async def put_policy_text(
    body: PolicyText, caller: AuthzManagerKey, admin: AuthzAdminDep, client: ClientDep
) -> WrittenMany:
    """Create or replace the policies of the text in one change (refusals at line:column)."""
    with refusals():
        names, committed = await admin.put_text(
            caller.tenant, body.text, caller=_actor(caller), client=client
        )
    return WrittenMany(names=names, policy_set_version=committed.version)


# --- the schema (one per tenant) ---------------------------------------------------------------


@router.get("/schema", response_model=ObjectPublic, responses=_READ)
async def get_schema(caller: AuthzManagerKey, admin: AuthzAdminDep) -> ObjectPublic:
    """The tenant's schema: entity types with attributes, actions, context attributes."""
    return public(await admin.get(caller.tenant, Kind.SCHEMA, SCHEMA_KEY))


@router.put("/schema", response_model=Written, responses=_WRITE)
async def put_schema(
    body: Document, caller: AuthzManagerKey, admin: AuthzAdminDep, client: ClientDep
) -> Written:
    """Replace the schema; refused if a stored object would no longer validate against it."""
    with refusals():
        committed = await admin.put(
            caller.tenant, Kind.SCHEMA, SCHEMA_KEY, body, caller=_actor(caller), client=client
        )
    return Written(name=SCHEMA_KEY, policy_set_version=committed.version)


# --- roles (with their permissions) ------------------------------------------------------------


RoleName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RoleBody(CamelModel):
    """A role: the roles it inherits and the permissions (by name) it holds."""

    inherits: list[RoleName] = Field(default_factory=list, max_length=64)
    permissions: list[RoleName] = Field(default_factory=list, max_length=256)


@router.get("/roles", response_model=ObjectList, responses=problems(**COMMON))
async def list_roles(caller: AuthzManagerKey, admin: AuthzAdminDep) -> ObjectList:
    """Every role, with its permissions."""
    roles = await admin.list_objects(caller.tenant, Kind.ROLE)
    links = await admin.list_objects(caller.tenant, Kind.ROLE_PERMISSION)
    held: dict[str, list[str]] = {}
    for link in links:
        held.setdefault(str(link.document["role"]), []).append(str(link.document["permission"]))
    version = await admin.version(caller.tenant)
    return ObjectList(
        items=[public(r, permissions=sorted(held.get(r.key, []))) for r in roles],
        policy_set_version=version,
    )


@router.get("/roles/{key}", response_model=ObjectPublic, responses=_READ)
async def get_role(key: Key, caller: AuthzManagerKey, admin: AuthzAdminDep) -> ObjectPublic:
    """One role with its permissions."""
    role = await admin.get(caller.tenant, Kind.ROLE, key)
    return public(role, permissions=await admin.role_permissions(caller.tenant, key))


@router.put("/roles/{key}", response_model=Written, responses=_WRITE)
async def put_role(
    key: Key, body: RoleBody, caller: AuthzManagerKey, admin: AuthzAdminDep, client: ClientDep
) -> Written:
    """Create or replace a role; an inheritance cycle or an unknown role is refused (422)."""
    with refusals():
        committed = await admin.put_role(
            caller.tenant, key, inherits=body.inherits, permissions=body.permissions,
            caller=_actor(caller), client=client,
        )  # fmt: skip
    return Written(name=key, policy_set_version=committed.version)


@router.delete("/roles/{key}", status_code=204, responses=_DELETE)
async def delete_role(
    key: Key, caller: AuthzManagerKey, admin: AuthzAdminDep, client: ClientDep
) -> Response:
    """Delete a role (refused while another role inherits it or someone is assigned it)."""
    with refusals():
        await admin.delete_role(caller.tenant, key, caller=_actor(caller), client=client)
    return Response(status_code=204)


# --- role assignments ----------------------------------------------------------------------------


class AssignmentBody(CamelModel):
    """`principal` (a user or a group) holds `role`."""

    principal: EntityRef
    role: RoleName


@router.get("/role-assignments", response_model=ObjectList, responses=problems(**COMMON))
async def list_assignments(caller: AuthzManagerKey, admin: AuthzAdminDep) -> ObjectList:
    """Every role assignment."""
    items = await admin.list_objects(caller.tenant, Kind.ASSIGNMENT)
    version = await admin.version(caller.tenant)
    return ObjectList(items=[public(o) for o in items], policy_set_version=version)


@router.post("/role-assignments", status_code=201, response_model=Written, responses=_WRITE)
async def assign_role(
    body: AssignmentBody, caller: AuthzManagerKey, admin: AuthzAdminDep, client: ClientDep
) -> Written:
    """Assign a role (idempotent: assigning it again changes nothing but the version)."""
    key = assignment_key(body.principal.type, body.principal.id, body.role)
    with refusals():
        committed = await admin.put(
            caller.tenant, Kind.ASSIGNMENT, key, body.model_dump(),
            caller=_actor(caller), client=client,
        )  # fmt: skip
    return Written(name=key, policy_set_version=committed.version)


@router.delete("/role-assignments", status_code=204, responses=_DELETE)
async def unassign_role(
    *,
    caller: AuthzManagerKey,
    admin: AuthzAdminDep,
    client: ClientDep,
    principal_type: Annotated[str, Query(alias="principalType", min_length=1, max_length=128)],
    principal_id: Annotated[str, Query(alias="principalId", min_length=1, max_length=1024)],
    role: Annotated[str, Query(min_length=1, max_length=128)],
) -> Response:
    """Remove one role assignment."""
    key = assignment_key(principal_type, principal_id, role)
    with refusals():
        await admin.delete(
            caller.tenant, Kind.ASSIGNMENT, key, caller=_actor(caller), client=client
        )
    return Response(status_code=204)


# --- entities (the resource hierarchy, groups, attributes) ---------------------------------------

EntityType = Annotated[str, Path(min_length=1, max_length=128)]
EntityId = Annotated[str, Path(min_length=1, max_length=1024)]


@router.get("/entities", response_model=ObjectList, responses=problems(**COMMON))
async def list_entities(caller: AuthzManagerKey, admin: AuthzAdminDep) -> ObjectList:
    """Every stored entity (users, groups, resources: their attributes and parents)."""
    items = await admin.list_objects(caller.tenant, Kind.ENTITY)
    version = await admin.version(caller.tenant)
    return ObjectList(items=[public(o) for o in items], policy_set_version=version)


@router.put("/entities/{entity_type}/{entity_id}", response_model=Written, responses=_WRITE)
async def put_entity(
    *,
    entity_type: EntityType,
    entity_id: EntityId,
    body: Document,
    caller: AuthzManagerKey,
    admin: AuthzAdminDep,
    client: ClientDep,
) -> Written:
    """Create or replace an entity: `{"attrs": {...}, "parents": [{"type", "id"}]}`."""
    key = entity_key(entity_type, entity_id)
    document = {**body, "type": entity_type, "id": entity_id}
    with refusals():
        committed = await admin.put(
            caller.tenant, Kind.ENTITY, key, document, caller=_actor(caller), client=client
        )
    return Written(name=key, policy_set_version=committed.version)


@router.get("/entities/{entity_type}/{entity_id}", response_model=ObjectPublic, responses=_READ)
async def get_entity(
    entity_type: EntityType, entity_id: EntityId, caller: AuthzManagerKey, admin: AuthzAdminDep
) -> ObjectPublic:
    """One entity."""
    return public(await admin.get(caller.tenant, Kind.ENTITY, entity_key(entity_type, entity_id)))


@router.delete("/entities/{entity_type}/{entity_id}", status_code=204, responses=_DELETE)
async def delete_entity(
    entity_type: EntityType,
    entity_id: EntityId,
    caller: AuthzManagerKey,
    admin: AuthzAdminDep,
    client: ClientDep,
) -> Response:
    """Delete an entity."""
    key = entity_key(entity_type, entity_id)
    with refusals():
        await admin.delete(caller.tenant, Kind.ENTITY, key, caller=_actor(caller), client=client)
    return Response(status_code=204)

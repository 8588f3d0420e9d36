"""A tenant's stored authorization objects (JSON documents) read into `TenantPolicies`.

The store keeps what the writers sent (REST bodies, `AccessPolicy` resources) as JSON, one
document per object; this module is the pure step between those documents and the engine:
each kind is read and checked against the tenant's schema (errors at JSON pointers inside the
document), and a whole set is assembled, counted against the limits and built, so a change is
accepted only if the entire resulting set compiles (role cycles, unknown roles, hierarchy
cycles and other tenants' ids are refused here too).

Kinds and their documents (`key` is the object's name inside the tenant):

- `schema` (key `schema`): `schema.parse_schema`'s document; an entity type `Role` is implied.
- `policy` (key = policy id): `parse.parse_policy`'s document without (or with the same) `id`.
- `permission` (key = name): `{"actions": [...], "resource": <scope>}`.
- `role` (key = name): `{"inherits": [role, ...]}`.
- `role_permission` (key `role/permission`): `{"role": ..., "permission": ...}`.
- `assignment` (key `Type::id/role`): `{"principal": {"type", "id"}, "role": ...}`.
- `grant` (key = grant id): `{"principal", "resource": {"type", "id"}}` plus `"actions": [...]`
  (a resource grant) or `"role"` (the role's permissions on that subtree only).
- `entity` (key `Type::id`): `context.entities_from_json`'s item (attrs, parents).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Final, TypeVar

from caas_core.authz.context import entities_from_json
from caas_core.authz.engine import Authorizer, TenantPolicies, build
from caas_core.authz.entities import Entity, HierarchyError
from caas_core.authz.index import PolicySetError
from caas_core.authz.parse import MAX_POLICIES, parse_policy
from caas_core.authz.policy import Policy
from caas_core.authz.rbac import (
    ROLE_TYPE,
    Assignment,
    Grant,
    Permission,
    Role,
    RoleError,
    RoleGrant,
)
from caas_core.authz.schema import DocumentError, EntityType, Schema, parse_schema, pointer_join
from caas_core.authz.values import Uid

T = TypeVar("T")
SCHEMA_KEY: Final = "schema"
MAX_NAME: Final = 128


class Kind(StrEnum):
    """What a stored object is."""

    SCHEMA = "schema"
    POLICY = "policy"
    PERMISSION = "permission"
    ROLE = "role"
    ROLE_PERMISSION = "role_permission"
    ASSIGNMENT = "assignment"
    GRANT = "grant"
    ENTITY = "entity"


# How many objects of each kind one tenant may hold: a set is rebuilt on every change and
# held compiled in every API process, so its size is bounded (the engine's own bounds apply
# inside each object).
LIMITS: Final[Mapping[Kind, int]] = {
    Kind.SCHEMA: 1,
    Kind.POLICY: MAX_POLICIES,
    Kind.PERMISSION: 1_000,
    Kind.ROLE: 1_000,
    Kind.ROLE_PERMISSION: 10_000,
    Kind.ASSIGNMENT: 100_000,
    Kind.GRANT: 100_000,
    Kind.ENTITY: 100_000,
}

Objects = Mapping[Kind, Mapping[str, Mapping[str, object]]]


class ObjectError(ValueError):
    """One stored object is refused: its kind, key and the errors inside its document."""

    def __init__(self, kind: Kind, key: str, errors: list[tuple[str, str]]) -> None:
        self.kind, self.key, self.errors = kind, key, tuple(errors)
        detail = "; ".join(f"{at or '/'}: {message}" for at, message in errors)
        super().__init__(f"{kind.value} {key!r}: {detail}")


class SetError(ValueError):
    """The set as a whole does not compile (a role cycle, an unknown role, a hierarchy cycle…)."""


class LimitError(ValueError):
    """A tenant would hold more objects of a kind than allowed."""

    def __init__(self, kind: Kind, limit: int) -> None:
        self.kind, self.limit = kind, limit
        super().__init__(f"a tenant holds at most {limit} objects of kind {kind.value}")


# --- keys -----------------------------------------------------------------------------------


def entity_key(type_name: str, id_: str) -> str:
    """The key of an entity (and of a principal inside assignment keys)."""
    return f"{type_name}::{id_}"


def assignment_key(principal_type: str, principal_id: str, role: str) -> str:
    """The key of a role assignment."""
    return f"{entity_key(principal_type, principal_id)}/{role}"


def role_permission_key(role: str, permission: str) -> str:
    """The key of a role's link to a permission."""
    return f"{role}/{permission}"


# --- one document each ----------------------------------------------------------------------


def read_schema(doc: object) -> Schema:
    """The tenant's schema; `Role` is always an entity type (roles are entities)."""
    schema = parse_schema(doc)
    if ROLE_TYPE in schema.entity_types:
        return schema
    types = {**schema.entity_types, ROLE_TYPE: EntityType()}
    return Schema(entity_types=types, actions=schema.actions, context=schema.context)


def read_policy(key: str, doc: object, *, tenant: str, schema: Schema) -> Policy:
    """A policy whose id is its key (an `id` in the document must agree)."""
    if not isinstance(doc, dict):
        raise DocumentError([("", "expected a policy object")])
    if doc.get("id", key) != key:
        raise DocumentError([("/id", f"the id must be {key!r}, the policy's name")])
    return parse_policy({**doc, "id": key}, tenant=tenant, schema=schema)


def read_permission(doc: object, *, tenant: str, schema: Schema) -> Permission:
    """A permission, checked by reading it as the policy it becomes."""
    if not isinstance(doc, dict):
        raise DocumentError([("", "expected a permission object")])
    _only(doc, {"actions", "resource", "description"})
    as_policy = {
        "id": "permission",
        "effect": "permit",
        "action": {"op": "in", "actions": doc.get("actions")},
        "resource": doc.get("resource", {"op": "any"}),
    }
    try:
        policy = parse_policy(as_policy, tenant=tenant, schema=schema)
    except DocumentError as error:
        moved = [(at.replace("/action/actions", "/actions", 1), m) for at, m in error.errors]
        raise DocumentError(moved) from None
    return Permission(actions=policy.action.actions, resource=policy.resource)


def read_role(key: str, doc: object) -> tuple[str, ...]:
    """The roles a role inherits (their existence and cycles are checked with the whole set)."""
    if not isinstance(doc, dict):
        raise DocumentError([("", "expected a role object")])
    _only(doc, {"inherits", "description"})
    inherits = doc.get("inherits", [])
    if not isinstance(inherits, list) or len(inherits) > 64:
        raise DocumentError([("/inherits", "expected a list of at most 64 role names")])
    for i, name in enumerate(inherits):
        if not _is_name(name):
            raise DocumentError([(f"/inherits/{i}", "expected a role name")])
        if name == key:
            raise DocumentError([(f"/inherits/{i}", f"role {key!r} cannot inherit itself")])
    return tuple(inherits)


def read_principal(doc: object, *, at: str, tenant: str, schema: Schema) -> Uid:
    """`{"type", "id"}` of a declared entity type."""
    if not isinstance(doc, dict):
        raise DocumentError([(at, "expected an entity {type, id}")])
    type_name, id_ = doc.get("type"), doc.get("id")
    if not isinstance(type_name, str) or type_name not in schema.entity_types:
        raise DocumentError([(pointer_join(at, "type"), f"unknown entity type {type_name!r}")])
    if not isinstance(id_, str) or not 0 < len(id_) <= 1024:
        raise DocumentError([(pointer_join(at, "id"), "expected an entity id")])
    return Uid(tenant, type_name, id_)


def read_assignment(doc: object, *, tenant: str, schema: Schema) -> Assignment:
    """A principal holding a role."""
    if not isinstance(doc, dict):
        raise DocumentError([("", "expected an assignment object")])
    _only(doc, {"principal", "role"})
    principal = read_principal(doc.get("principal"), at="/principal", tenant=tenant, schema=schema)
    role = doc.get("role")
    if not _is_name(role):
        raise DocumentError([("/role", "expected a role name")])
    assert isinstance(role, str)
    return Assignment(principal=principal, role=role)


def read_grant(key: str, doc: object, *, tenant: str, schema: Schema) -> Grant | RoleGrant:
    """A grant of actions, or of a role, on a resource and everything below it."""
    if not isinstance(doc, dict):
        raise DocumentError([("", "expected a grant object")])
    _only(doc, {"principal", "resource", "actions", "role"})
    principal = read_principal(doc.get("principal"), at="/principal", tenant=tenant, schema=schema)
    resource = read_principal(doc.get("resource"), at="/resource", tenant=tenant, schema=schema)
    if ("actions" in doc) == ("role" in doc):
        raise DocumentError([("", "a grant names either actions or a role")])
    if "role" in doc:
        role = doc["role"]
        if not _is_name(role):
            raise DocumentError([("/role", "expected a role name")])
        return RoleGrant(id=key, principal=principal, role=str(role), resource=resource)
    actions = doc["actions"]
    if not isinstance(actions, list) or not 0 < len(actions) <= 64:
        raise DocumentError([("/actions", "expected a list of 1 to 64 actions")])
    for i, name in enumerate(actions):
        if not isinstance(name, str) or name not in schema.actions:
            raise DocumentError([(f"/actions/{i}", f"unknown action {name!r}")])
    return Grant(id=key, principal=principal, actions=tuple(actions), resource=resource)


def read_entity(key: str, doc: object, *, tenant: str, schema: Schema) -> Entity:
    """An entity (attributes typed by the schema, parents of allowed types)."""
    try:
        (entity,) = entities_from_json(schema=schema, doc=[doc], tenant=tenant)
    except DocumentError as error:
        raise DocumentError([(at.removeprefix("/0"), m) for at, m in error.errors]) from None
    if entity_key(entity.uid.type, entity.uid.id) != key:
        raise DocumentError([("", f"the entity's type and id must make its key {key!r}")])
    return entity


def _only(doc: Mapping[str, object], allowed: set[str]) -> None:
    for name in doc:
        if name not in allowed:
            raise DocumentError([(f"/{name}", f"unknown field; expected {sorted(allowed)}")])


def _is_name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME


# --- the whole set --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assembled:
    """A tenant's set read and compiled: the schema it was checked by, and the authorizer."""

    schema: Schema
    source: TenantPolicies
    authorizer: Authorizer


def _one(kind: Kind, key: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except DocumentError as error:
        raise ObjectError(kind, key, list(error.errors)) from None


def _roles(objects: Objects, permissions: Mapping[str, Permission]) -> tuple[Role, ...]:
    inherits = {
        key: _one(Kind.ROLE, key, partial(read_role, key, doc))
        for key, doc in objects.get(Kind.ROLE, {}).items()
    }
    held: dict[str, list[Permission]] = {name: [] for name in inherits}
    for key, doc in sorted(objects.get(Kind.ROLE_PERMISSION, {}).items()):
        role, permission = doc.get("role"), doc.get("permission")
        if not isinstance(role, str) or role not in held:
            raise SetError(f"role_permission {key!r} names unknown role {role!r}")
        if not isinstance(permission, str) or permission not in permissions:
            raise SetError(f"role_permission {key!r} names unknown permission {permission!r}")
        held[role].append(permissions[permission])
    return tuple(
        Role(name=name, inherits=inherits[name], permissions=tuple(held[name]))
        for name in sorted(inherits)
    )


def assemble(*, tenant: str, version: str, objects: Objects) -> Assembled:
    """Every object read, the set counted and built; raises ObjectError, LimitError, SetError."""
    for kind, limit in LIMITS.items():
        if len(objects.get(kind, {})) > limit:
            raise LimitError(kind, limit)
    schema_doc = objects.get(Kind.SCHEMA, {}).get(SCHEMA_KEY)
    schema = _one(Kind.SCHEMA, SCHEMA_KEY, partial(read_schema, schema_doc or {}))

    def each(kind: Kind) -> list[tuple[str, Mapping[str, object]]]:
        return sorted(objects.get(kind, {}).items())

    policies = tuple(
        _one(Kind.POLICY, key, partial(read_policy, key, doc, tenant=tenant, schema=schema))
        for key, doc in each(Kind.POLICY)
    )
    permissions = {
        key: _one(Kind.PERMISSION, key, partial(read_permission, doc, tenant=tenant, schema=schema))
        for key, doc in each(Kind.PERMISSION)
    }
    assignments = tuple(
        _one(Kind.ASSIGNMENT, key, partial(read_assignment, doc, tenant=tenant, schema=schema))
        for key, doc in each(Kind.ASSIGNMENT)
    )
    grants = [
        _one(Kind.GRANT, key, partial(read_grant, key, doc, tenant=tenant, schema=schema))
        for key, doc in each(Kind.GRANT)
    ]
    entities = tuple(
        _one(Kind.ENTITY, key, partial(read_entity, key, doc, tenant=tenant, schema=schema))
        for key, doc in each(Kind.ENTITY)
    )
    source = TenantPolicies(
        tenant=tenant,
        version=version,
        actions=schema.action_groups(),
        policies=policies,
        roles=_roles(objects, permissions),
        assignments=assignments,
        grants=tuple(g for g in grants if isinstance(g, Grant)),
        role_grants=tuple(g for g in grants if isinstance(g, RoleGrant)),
        entities=entities,
    )
    try:
        authorizer = build(source)
    except (RoleError, HierarchyError, PolicySetError) as error:
        raise SetError(str(error)) from None
    return Assembled(schema=schema, source=source, authorizer=authorizer)

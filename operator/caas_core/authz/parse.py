"""Policies from their JSON form, validated against the tenant's schema before they are stored.

`{"id": "p1", "effect": "permit", "principal": {"op": "in", "entity": {"type": "Group", "id":
"eng"}}, "action": {"op": "in", "actions": ["read"]}, "resource": {"op": "is", "type":
"Channel"}, "conditions": [{"kind": "when", "body": {...}}]}` — scopes take `any`, `==`, `in`
or `is` (with an optional `entity`). A refused document names every mistaken policy's first
error with its JSON pointer (`/3/conditions/0/body/args/1/right`); nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from caas_core.authz.expressions import MAX_STRING, Checker, Invalid
from caas_core.authz.policy import ActionScope, Clause, Effect, EntityScope, Policy
from caas_core.authz.schema import DocumentError, Schema, pointer, pointer_join
from caas_core.authz.values import Uid

MAX_POLICIES: Final = 10_000
MAX_CLAUSES: Final = 16
MAX_ACTIONS: Final = 64
_KEYS: Final = frozenset({"id", "effect", "principal", "action", "resource", "conditions"})


def parse_policy(doc: object, *, tenant: str, schema: Schema, at: str = "") -> Policy:
    """One policy, or `DocumentError` naming where it is wrong."""
    try:
        return _policy(doc, tenant=tenant, schema=schema, at=at)
    except Invalid as error:
        raise DocumentError([(error.at, error.message)]) from None


def parse_policy_set(
    doc: object, *, tenant: str, schema: Schema, max_policies: int = MAX_POLICIES
) -> list[Policy]:
    """A list of policies, all or nothing: every invalid policy's error is reported."""
    if not isinstance(doc, list):
        raise DocumentError([("", "expected a list of policies")])
    if len(doc) > max_policies:
        raise DocumentError([("", f"a policy set holds at most {max_policies} policies")])
    errors: list[tuple[str, str]] = []
    policies: list[Policy] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(doc):
        try:
            policy = _policy(item, tenant=tenant, schema=schema, at=pointer(i))
        except Invalid as error:
            errors.append((error.at, error.message))
            continue
        if policy.id in seen:
            errors.append(
                (pointer(i, "id"), f"id {policy.id!r} is also policy {seen[policy.id]}'s")
            )
        seen[policy.id] = i
        policies.append(policy)
    if errors:
        raise DocumentError(errors)
    return policies


def _policy(doc: object, *, tenant: str, schema: Schema, at: str) -> Policy:
    if not isinstance(doc, dict):
        raise Invalid(at, "expected a policy object")
    for key in doc:
        if key not in _KEYS:
            raise Invalid(pointer_join(at, str(key)), f"unknown field; expected {sorted(_KEYS)}")
    policy_id = doc.get("id")
    if not isinstance(policy_id, str) or not 0 < len(policy_id) <= 128:
        raise Invalid(pointer_join(at, "id"), "expected an id of 1 to 128 characters")
    effect = doc.get("effect")
    if effect not in ("permit", "forbid"):
        raise Invalid(pointer_join(at, "effect"), "expected permit or forbid")
    action = _action(doc.get("action", {"op": "any"}), schema, pointer_join(at, "action"))
    applies = [schema.actions[name] for name in action.actions] or list(schema.actions.values())
    principal = _scope(
        doc.get("principal", {"op": "any"}), tenant, schema, pointer_join(at, "principal")
    )
    resource = _scope(
        doc.get("resource", {"op": "any"}), tenant, schema, pointer_join(at, "resource")
    )
    checker = Checker(
        tenant=tenant,
        schema=schema,
        principal=_narrow(principal, frozenset().union(*(a.principals for a in applies))),
        resource=_narrow(resource, frozenset().union(*(a.resources for a in applies))),
    )
    clauses = doc.get("conditions", [])
    if not isinstance(clauses, list) or len(clauses) > MAX_CLAUSES:
        raise Invalid(pointer_join(at, "conditions"), f"expected a list of at most {MAX_CLAUSES}")
    return Policy(
        id=policy_id,
        effect=Effect(effect),
        principal=principal,
        action=action,
        resource=resource,
        conditions=tuple(
            _clause(item, checker, pointer_join(at, "conditions", i))
            for i, item in enumerate(clauses)
        ),
    )


def _narrow(scope: EntityScope, applies: frozenset[str]) -> frozenset[str]:
    """The types a scoped variable may have: the scope's own type, else the actions' types."""
    if scope.op == "is" and scope.type is not None:
        return frozenset((scope.type,))
    if scope.op == "==" and scope.entity is not None:
        return frozenset((scope.entity.type,))
    return applies


def _clause(doc: object, checker: Checker, at: str) -> Clause:
    if not isinstance(doc, dict) or doc.get("kind") not in ("when", "unless"):
        raise Invalid(pointer_join(at, "kind"), "expected when or unless")
    expr, found = checker.read(doc.get("body"), pointer_join(at, "body"))
    if found.kind != "Bool":
        raise Invalid(pointer_join(at, "body"), f"a condition is a Bool, found {found.describe()}")
    return Clause(kind=doc["kind"], expr=expr)


def _entity(doc: object, tenant: str, schema: Schema, at: str) -> Uid:
    if not isinstance(doc, dict):
        raise Invalid(at, "expected an entity {type, id}")
    type_name, id_ = doc.get("type"), doc.get("id")
    if not isinstance(type_name, str) or type_name not in schema.entity_types:
        raise Invalid(pointer_join(at, "type"), f"unknown entity type {type_name!r}")
    if not isinstance(id_, str) or not 0 < len(id_) <= MAX_STRING:
        raise Invalid(pointer_join(at, "id"), "expected an entity id")
    return Uid(tenant, type_name, id_)


def _scope(doc: object, tenant: str, schema: Schema, at: str) -> EntityScope:
    if not isinstance(doc, dict) or doc.get("op") not in ("any", "==", "in", "is"):
        raise Invalid(pointer_join(at, "op"), "expected any, ==, in or is")
    op = doc["op"]
    if op == "any":
        return EntityScope(op="any")
    if op in ("==", "in"):
        return EntityScope(
            op=op, entity=_entity(doc.get("entity"), tenant, schema, pointer_join(at, "entity"))
        )
    type_name = doc.get("type")
    if not isinstance(type_name, str) or type_name not in schema.entity_types:
        raise Invalid(pointer_join(at, "type"), f"unknown entity type {type_name!r}")
    within = doc.get("entity")
    entity = (
        _entity(within, tenant, schema, pointer_join(at, "entity")) if within is not None else None
    )
    return EntityScope(op="is", type=type_name, entity=entity)


def _action(doc: object, schema: Schema, at: str) -> ActionScope:
    if not isinstance(doc, dict) or doc.get("op") not in ("any", "==", "in"):
        raise Invalid(pointer_join(at, "op"), "expected any, == or in")
    if doc["op"] == "any":
        return ActionScope(op="any")
    names = doc.get("actions")
    if (
        not isinstance(names, Sequence)
        or isinstance(names, str)
        or not 0 < len(names) <= MAX_ACTIONS
    ):
        raise Invalid(pointer_join(at, "actions"), f"expected a list of 1 to {MAX_ACTIONS} actions")
    if doc["op"] == "==" and len(names) != 1:
        raise Invalid(pointer_join(at, "actions"), "`==` takes exactly one action")
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in schema.actions:
            raise Invalid(pointer_join(at, "actions", i), f"unknown action {name!r}")
    return ActionScope(op=doc["op"], actions=tuple(names))

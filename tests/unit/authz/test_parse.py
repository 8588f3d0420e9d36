"""Policy and schema documents: validated against the tenant's schema, errors at exact pointers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from caas_core.authz.context import entities_from_json, record_from_json
from caas_core.authz.entities import Entity
from caas_core.authz.expressions import MAX_DEPTH, MAX_NODES
from caas_core.authz.parse import parse_policy, parse_policy_set
from caas_core.authz.schema import DocumentError, Schema, parse_schema
from caas_core.authz.values import Duration, ip
from tests.unit.authz.helpers import compiled, decide, graph, uid

SCHEMA_DOC: dict[str, Any] = {
    "entityTypes": {
        "User": {
            "memberOf": ["Group"],
            "attributes": {
                "level": {"type": "Long"},
                "dept": {"type": "String", "required": False},
                "tags": {"type": "Set", "element": {"type": "String"}},
            },
        },
        "Group": {},
        "Channel": {"attributes": {"owner": {"type": "Entity", "name": "User"}}},
    },
    "actions": {
        "read": {"memberOf": ["view"], "principalTypes": ["User"], "resourceTypes": ["Channel"]},
        "view": {},
    },
    "context": {"ip": {"type": "ipaddr"}, "mfa_level": {"type": "Long"}},
}
SCHEMA: Schema = parse_schema(SCHEMA_DOC)


def _var(name: str) -> dict[str, object]:
    return {"op": "var", "name": name}


def _attr(var: str, name: str) -> dict[str, object]:
    return {"op": "getAttr", "of": _var(var), "attr": name}


def _policy(**body: object) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "p1",
        "effect": "permit",
        "principal": {"op": "in", "entity": {"type": "Group", "id": "eng"}},
        "action": {"op": "in", "actions": ["read"]},
        "resource": {"op": "is", "type": "Channel"},
        "conditions": [
            {
                "kind": "when",
                "body": {
                    "op": "&&",
                    "args": [
                        {
                            "op": ">=",
                            "left": _attr("principal", "level"),
                            "right": {"op": "value", "value": 2},
                        },
                        {
                            "op": "isInRange",
                            "left": _attr("context", "ip"),
                            "right": {"op": "ip", "value": "10.0.0.0/8"},
                        },
                        {
                            "op": "==",
                            "left": _attr("resource", "owner"),
                            "right": _var("principal"),
                        },
                    ],
                },
            }
        ],
    }
    doc.update(body)
    return doc


def _refused(doc: object, *, many: bool = False) -> list[tuple[str, str]]:
    parse = parse_policy_set if many else parse_policy
    with pytest.raises(DocumentError) as caught:
        parse(doc, tenant="acme", schema=SCHEMA)
    return list(caught.value.errors)


def test_a_valid_policy_is_read_and_decides() -> None:
    policy = parse_policy(_policy(), tenant="acme", schema=SCHEMA)
    alice, chan = uid("User", "alice"), uid("Channel", "c")
    world = graph(
        Entity(uid=alice, attrs={"level": 3, "tags": frozenset()}, parents=(uid("Group", "eng"),)),
        Entity(uid=chan, attrs={"owner": alice}),
    )
    inside = decide(
        compiled(policy), world, alice, "read", chan, {"ip": ip("10.0.0.1"), "mfa_level": 1}
    )
    outside = decide(
        compiled(policy), world, alice, "read", chan, {"ip": ip("11.0.0.1"), "mfa_level": 1}
    )
    assert (inside.allowed, outside.allowed) == (True, False)


def _at(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    *parents, last = path.strip("/").split("/")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return changed


BODY = "/conditions/0/body/args"
TEN = "2026-01-01T10:00:00+00:00"


@pytest.mark.parametrize(
    ("path", "value", "pointer", "message"),
    [
        (
            f"{BODY}/0/left/attr",
            "rank",
            f"{BODY}/0/left/attr",
            "unknown attribute `rank` of Entity<User>",
        ),
        (f"{BODY}/0/right/value", "2", f"{BODY}/0/right", "cannot order Long and String"),
        (f"{BODY}/1/left/attr", "mfa_level", f"{BODY}/1", "isInRange takes two ipaddr"),
        (f"{BODY}/1/right/value", "10.0.0.0/99", f"{BODY}/1/right/value", "IP address"),
        (
            f"{BODY}/2/right",
            _attr("principal", "level"),
            f"{BODY}/2/right",
            "compares Entity<User> with Long",
        ),
        (f"{BODY}/2/op", "near", f"{BODY}/2/op", "unknown operator"),
        ("/action/actions/0", "launch", "/action/actions/0", "unknown action"),
        ("/principal/entity/type", "Robot", "/principal/entity/type", "unknown entity type"),
        ("/resource/op", "under", "/resource/op", "expected any, ==, in or is"),
        ("/effect", "allow", "/effect", "permit or forbid"),
        ("/conditions/0/kind", "if", "/conditions/0/kind", "when or unless"),
        (
            "/conditions/0/body",
            {"op": "value", "value": 1},
            "/conditions/0/body",
            "a condition is a Bool",
        ),
        ("/colour", "red", "/colour", "unknown field"),
    ],
)
def test_invalid_policies_are_refused_at_the_exact_pointer(
    path: str, value: object, pointer: str, message: str
) -> None:
    [(where, what)] = _refused(_at(_policy(), path, value))
    assert where == pointer
    assert message in what


def test_depth_and_size_limits_are_clear() -> None:
    deep: dict[str, object] = {"op": "value", "value": True}
    for _ in range(MAX_DEPTH + 2):
        deep = {"op": "!", "arg": deep}
    [(where, what)] = _refused(_policy(conditions=[{"kind": "when", "body": deep}]))
    assert what == f"conditions nest at most {MAX_DEPTH} levels"
    assert where.startswith("/conditions/0/body/arg/arg")
    wide = {"op": "||", "args": [{"op": "value", "value": True}] * MAX_NODES}
    [(_, what)] = _refused(_policy(conditions=[{"kind": "when", "body": wide}]))
    assert what == f"a policy's conditions have at most {MAX_NODES} nodes"


def test_a_policy_set_is_all_or_nothing_and_names_every_bad_policy() -> None:
    good = _policy()
    bad_action = _at(_policy(id="p2"), "/action/actions/0", "fly")
    duplicate = _policy()
    errors = _refused([good, bad_action, duplicate], many=True)
    assert errors == [
        ("/1/action/actions/0", "unknown action 'fly'"),
        ("/2/id", "id 'p1' is also policy 0's"),
    ]
    with pytest.raises(DocumentError, match="at most 2 policies"):
        parse_policy_set([good] * 3, tenant="acme", schema=SCHEMA, max_policies=2)


def test_literals_and_sets() -> None:
    doc = _policy(
        conditions=[
            {
                "kind": "unless",
                "body": {
                    "op": "<=",
                    "left": {"op": "durationSince", "left": {"op": "datetime", "value": TEN},
                             "right": {"op": "datetime", "value": "2026-01-01T08:30:00Z"}},
                    "right": {"op": "duration", "value": "1h30m"},
                },
            },
            {
                "kind": "when",
                "body": {
                    "op": "containsAny",
                    "left": _attr("principal", "tags"),
                    "right": {"op": "set", "items": [{"op": "value", "value": "a"},
                                                     {"op": "value", "value": "b"}]},
                },
            },
        ]
    )  # fmt: skip
    policy = parse_policy(doc, tenant="acme", schema=SCHEMA)
    assert policy.conditions[0].expr.right.value == Duration(5_400_000)  # type: ignore[union-attr]
    mixed = _at(doc, "/conditions/1/body/right/items/1", {"op": "value", "value": 1})
    [(where, what)] = _refused(mixed)
    assert (where, what) == ("/conditions/1/body/right/items/1", "expected String, found Long")


def test_schema_documents_are_refused_at_pointers() -> None:
    doc = copy.deepcopy(SCHEMA_DOC)
    doc["actions"]["read"]["resourceTypes"] = ["Channel", "Galaxy"]
    doc["entityTypes"]["User"]["attributes"]["level"] = {"type": "Integer"}
    doc["actions"]["read"]["memberOf"] = ["watch"]
    with pytest.raises(DocumentError) as caught:
        parse_schema(doc)
    assert [where for where, _ in caught.value.errors] == [
        "/entityTypes/User/attributes/level/type",
        "/actions/read/resourceTypes/1",
        "/actions/read/memberOf/0",
    ]


def test_contexts_and_attributes_are_typed_from_json_by_the_schema() -> None:
    context = record_from_json(
        attributes=SCHEMA.context, doc={"ip": "10.1.2.3", "mfa_level": 2}, tenant="acme"
    )
    assert context == {"ip": ip("10.1.2.3"), "mfa_level": 2}
    user = SCHEMA.entity_types["User"].attributes
    attrs = record_from_json(attributes=user, doc={"level": 1, "tags": ["a", "b"]}, tenant="acme")
    assert attrs == {"level": 1, "tags": frozenset({"a", "b"})}
    owner = SCHEMA.entity_types["Channel"].attributes
    assert record_from_json(
        attributes=owner, doc={"owner": {"type": "User", "id": "u"}}, tenant="acme"
    ) == {"owner": uid("User", "u")}


@pytest.mark.parametrize(
    ("doc", "pointer", "message"),
    [
        ({"ip": "not-an-ip", "mfa_level": 1}, "/ip", "expected ipaddr"),
        ({"ip": "10.0.0.1", "mfa_level": True}, "/mfa_level", "expected Long"),
        ({"ip": "10.0.0.1", "mfa_level": 1, "device": "x"}, "/device", "not declared"),
        ({"ip": "10.0.0.1"}, "/mfa_level", "required attribute missing"),
    ],
)
def test_ill_typed_contexts_are_refused_at_pointers(
    doc: object, pointer: str, message: str
) -> None:
    with pytest.raises(DocumentError) as caught:
        record_from_json(attributes=SCHEMA.context, doc=doc, tenant="acme")
    [(where, what)] = caught.value.errors
    assert (where, message in what) == (pointer, True)


def test_set_elements_and_entity_types_are_checked() -> None:
    user = SCHEMA.entity_types["User"].attributes
    with pytest.raises(DocumentError, match="/tags/1: expected String"):
        record_from_json(attributes=user, doc={"level": 1, "tags": ["a", 2]}, tenant="acme")
    owner = SCHEMA.entity_types["Channel"].attributes
    with pytest.raises(DocumentError, match="/owner: expected Entity<User>"):
        record_from_json(
            attributes=owner, doc={"owner": {"type": "Group", "id": "g"}}, tenant="acme"
        )


def test_entities_from_json_follow_the_schema() -> None:
    user = {"type": "User", "id": "alice", "attrs": {"level": 2, "tags": []}}
    doc = [
        {**user, "parents": [{"type": "Group", "id": "eng"}]},
        {"type": "Channel", "id": "c", "attrs": {"owner": {"type": "User", "id": "alice"}}},
    ]
    alice, channel = entities_from_json(schema=SCHEMA, doc=doc, tenant="acme")
    assert alice == Entity(
        uid=uid("User", "alice"),
        attrs={"level": 2, "tags": frozenset()},
        parents=(uid("Group", "eng"),),
    )
    assert channel.attrs == {"owner": uid("User", "alice")}


USER = {"type": "User", "id": "u", "attrs": {"level": 1, "tags": []}}


@pytest.mark.parametrize(
    ("entity", "pointer", "message"),
    [
        ({"type": "Robot", "id": "r"}, "/0/type", "unknown entity type"),
        ({**USER, "id": ""}, "/0/id", "expected an entity id"),
        ({**USER, "attrs": {"tags": []}}, "/0/attrs/level", "required"),
        ({**USER, "parents": [{"type": "Channel", "id": "c"}]}, "/0/parents/0", "Entity<Group>"),
        ({"type": "Group", "id": "g", "parents": [USER]}, "/0/parents/0", "in no other type"),
    ],
)
def test_entities_breaking_the_schema_are_refused_at_pointers(
    entity: object, pointer: str, message: str
) -> None:
    with pytest.raises(DocumentError) as caught:
        entities_from_json(schema=SCHEMA, doc=[entity], tenant="acme")
    [(where, what)] = caught.value.errors
    assert (where, message in what) == (pointer, True)

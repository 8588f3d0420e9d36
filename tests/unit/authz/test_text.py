"""The Cedar-like text syntax: reads what the exporter writes, errors at line:column."""

from __future__ import annotations

import re
from itertools import product
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caas_core.authz import cedar
from caas_core.authz.entities import Entity, EntityGraph
from caas_core.authz.evaluate import Request, authorize
from caas_core.authz.index import compile_policy_set
from caas_core.authz.parse import parse_policy
from caas_core.authz.policy import Policy
from caas_core.authz.rbac import Role
from caas_core.authz.schema import DocumentError, parse_schema
from caas_core.authz.text import parse_text
from tests.unit.authz import corpus
from tests.unit.authz.test_parse import SCHEMA, _policy

TEXT = """
// engineers read their own channels from the office network
@id("p1")
permit (principal in Group::"eng", action in [Action::"read"], resource is Channel)
when { principal.level >= 2 && context.ip.isInRange(ip("10.0.0.0/8"))
       && resource.owner == principal };
"""


def test_text_reads_into_the_same_policy_as_json() -> None:
    [from_text] = parse_text(TEXT, tenant="acme", schema=SCHEMA)
    assert from_text == parse_policy(_policy(), tenant="acme", schema=SCHEMA)


ALL = "permit (principal, action, resource)"


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        (f"{ALL} when {{ principal.rank > 1 }};", "1:55", "unknown attribute `rank`"),
        (f'{ALL}\nwhen {{ principal.level > "x" }};', "2:26", "cannot order Long and String"),
        ('permit (principal, action in [Action::"fly"], resource);', "1:31", "unknown action"),
        (f"{ALL} when {{ principal.level > }};", "1:63", "unexpected '}'"),
        (f"{ALL}\n  when {{ 1 }};", "2:10", "a condition is a Bool"),
        ("allow (principal, action, resource);", "1:1", "expected permit or forbid"),
        (f"{ALL} when {{ context.ip.isLoopback() }};", "1:56", "unknown method"),
        ("permit (principal is Robot, action, resource);", "1:22", "unknown entity type 'Robot'"),
        (f"{ALL} when {{ true }} #", "1:52", "unexpected character '#'"),
        (f'{ALL} when {{ "\\q" == "" }};', "1:45", "unknown escape"),
    ],
)
def test_errors_are_located_by_line_and_column(text: str, location: str, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        parse_text(text, tenant="acme", schema=SCHEMA)
    [(where, what)] = caught.value.errors
    assert where == location
    assert message in what


_CORPUS_SCHEMA: dict[str, Any] = {
    "entityTypes": {
        "User": {
            "memberOf": ["Group", "Role"],
            "attributes": {
                "level": {"type": "Long"},
                "dept": {"type": "String", "required": False},
                "tags": {"type": "Set", "element": {"type": "String"}},
                "active": {"type": "Bool"},
            },
        },
        "Group": {"memberOf": ["Group"]},
        "Role": {"memberOf": ["Role"]},
        "Tenant": {"attributes": {"plan": {"type": "String"}}},
        "Application": {"attributes": {"owner": {"type": "Entity", "name": "User"}}},
        "Channel": {
            "attributes": {
                "owner": {"type": "Entity", "name": "User"},
                "classification": {"type": "Long"},
                "public": {"type": "Bool"},
            }
        },
    },
    "actions": {
        name: {
            "memberOf": list(groups),
            "principalTypes": ["User"],
            "resourceTypes": ["Tenant", "Application", "Channel"],
        }
        for name, groups in corpus.ACTIONS.items()
    },
    "context": {
        "now": {"type": "datetime", "required": False},
        "mfa_at": {"type": "datetime", "required": False},
        "mfa_level": {"type": "Long", "required": False},
        "ip": {"type": "ipaddr", "required": False},
        "device_trusted": {"type": "Bool", "required": False},
        "plan": {"type": "String", "required": False},
    },
}


@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(world=corpus.world(), context=corpus.contexts(), data=st.data())
def test_exported_text_reads_back_to_the_same_decisions(
    world: tuple[list[Role], list[Entity]], context: dict[str, object], data: st.DataObject
) -> None:
    schema = parse_schema(_CORPUS_SCHEMA)
    roles, entities = world
    policies = data.draw(corpus.policy_set(roles, 60))
    accepted: list[Policy] = []
    read: list[Policy] = []
    refused: list[str] = []
    for policy in policies:
        try:
            [again] = parse_text(cedar.policy(policy), tenant=corpus.T, schema=schema)
        except DocumentError as error:
            refused.extend(where for where, _ in error.errors)
            continue
        accepted.append(policy)
        read.append(again)
    # Refused policies are the deliberately ill-typed ones; each error has a line:column.
    assert all(re.fullmatch(r"\d+:\d+", where) for where in refused)
    assert len(accepted) >= len(policies) // 2
    assert [p.id for p in read] == [p.id for p in accepted]
    graph = EntityGraph.build(tenant=corpus.T, entities=entities)
    original = compile_policy_set(
        tenant=corpus.T, version="a", policies=accepted, actions=corpus.ACTIONS
    )
    reread = compile_policy_set(tenant=corpus.T, version="b", policies=read, actions=corpus.ACTIONS)
    for p, a, r in product(corpus.USERS[:4], corpus.LEAF_ACTIONS, corpus.RESOURCES):
        request = Request(principal=p, action=a, resource=r, context=context)
        assert authorize(policy_set=original, entities=graph, request=request) == authorize(
            policy_set=reread, entities=graph, request=request
        )

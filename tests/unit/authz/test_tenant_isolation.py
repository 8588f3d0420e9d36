"""No policy, role, grant or entity of one tenant can ever match a principal or resource of another.

Isolation is structural: every id carries its tenant, a compiled policy set and an entity graph
each belong to one tenant and refuse another's ids, and a request naming another tenant's
entity is refused before any policy is looked at. These properties are checked on generated
policies, hierarchies and requests.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caas_core.authz.entities import Entity, HierarchyError
from caas_core.authz.evaluate import Reason, Request, authorize, candidates
from caas_core.authz.index import PolicySetError
from caas_core.authz.policy import ANY, EntityScope, Policy
from caas_core.authz.rbac import Grant, grant_policies
from caas_core.authz.values import Uid
from tests.unit.authz.helpers import ACTIONS, compiled, graph, permit

TYPES = ("User", "Group", "Role", "Tenant", "Application", "Channel")
NAMES = ("a", "b", "c", "shared")
A, B = "tenant-a", "tenant-b"


def _uids(tenant: str) -> st.SearchStrategy[Uid]:
    return st.builds(Uid, st.just(tenant), st.sampled_from(TYPES), st.sampled_from(NAMES))


def _scope(tenant: str) -> st.SearchStrategy[EntityScope]:
    return st.one_of(
        st.just(ANY),
        st.builds(lambda u: EntityScope(op="==", entity=u), _uids(tenant)),
        st.builds(lambda u: EntityScope(op="in", entity=u), _uids(tenant)),
        st.builds(lambda t: EntityScope(op="is", type=t), st.sampled_from(TYPES)),
    )


@st.composite
def _policies(draw: st.DrawFn, tenant: str) -> list[Policy]:
    count = draw(st.integers(min_value=1, max_value=12))
    return [
        permit(f"p{i}", principal=draw(_scope(tenant)), resource=draw(_scope(tenant)))
        for i in range(count)
    ]


@st.composite
def _entities(draw: st.DrawFn, tenant: str) -> list[Entity]:
    uids = draw(st.lists(_uids(tenant), unique=True, max_size=8))
    # Parents only among earlier ids: no cycles.
    return [
        Entity(uid=u, parents=tuple(draw(st.lists(st.sampled_from(uids[:i])))) if i else ())
        for i, u in enumerate(uids)
    ]


@settings(max_examples=120, derandomize=True, deadline=None)
@given(
    policies=_policies(A),
    entities_a=_entities(A),
    principal=_uids(B),
    resource=_uids(B),
    action=st.sampled_from(sorted(ACTIONS)),
)
def test_another_tenants_request_is_never_allowed(
    policies: list[Policy], entities_a: list[Entity], principal: Uid, resource: Uid, action: str
) -> None:
    policy_set, world = (
        compiled(*policies, permit("everything"), tenant=A),
        graph(*entities_a, tenant=A),
    )
    for request in (
        Request(principal=principal, action=action, resource=resource),
        Request(principal=principal._replace(tenant=A), action=action, resource=resource),
        Request(principal=principal, action=action, resource=resource._replace(tenant=A)),
    ):
        decision = authorize(policy_set=policy_set, entities=world, request=request)
        assert not decision.allowed
        assert decision.reason is Reason.INVALID_REQUEST
        # Even past that check, only policies with no principal and no resource constraint could
        # be looked up: another tenant's ids and types are different index keys.
        if request.principal.tenant == request.resource.tenant == B:
            reached = {p.id for p in candidates(policy_set, graph(tenant=B), request)}
            unscoped = {
                p.id for p in (*policies, permit("everything")) if p.principal == p.resource == ANY
            }
            assert reached <= unscoped


@settings(max_examples=80, derandomize=True, deadline=None)
@given(policies=_policies(A), entities_b=_entities(B), principal=_uids(B), resource=_uids(B))
def test_another_tenants_entity_graph_is_refused(
    policies: list[Policy], entities_b: list[Entity], principal: Uid, resource: Uid
) -> None:
    request = Request(principal=principal, action="read", resource=resource)
    decision = authorize(
        policy_set=compiled(*policies, permit("everything"), tenant=A),
        entities=graph(*entities_b, tenant=B),
        request=request,
    )
    assert (decision.allowed, decision.reason) == (False, Reason.INVALID_REQUEST)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(foreign=_uids(B), own=_uids(A))
def test_policies_grants_and_entities_naming_another_tenant_are_refused(
    foreign: Uid, own: Uid
) -> None:
    with pytest.raises(PolicySetError, match="another tenant"):
        compiled(permit("p", principal=EntityScope(op="in", entity=foreign)), tenant=A)
    with pytest.raises(PolicySetError, match="another tenant"):
        compiled(
            *grant_policies(
                grants=[Grant(id="g", principal=own, actions=("read",), resource=foreign)]
            ),
            tenant=A,
        )
    with pytest.raises(HierarchyError, match="belongs to tenant"):
        graph(Entity(uid=own, parents=(foreign,)), tenant=A)
    with pytest.raises(HierarchyError, match="belongs to tenant"):
        graph(Entity(uid=foreign), tenant=A)
    assert own._replace(tenant=B) != own

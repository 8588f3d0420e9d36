"""One tenant's authorization at one version: build it once, then decide, explain, what-if.

This is what the integration step calls: the stores load a tenant's policies, roles,
assignments, grants and entities at a version, `build` compiles them (refusing cycles,
other tenants' ids and oversized sets), and the resulting `Authorizer` answers requests until
the version changes. `decision_key` and `log_record` give the Redis decision cache and the
audit writer what they need, both carrying the version so nothing outlives a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from caas_core.authz import cedar
from caas_core.authz.entities import Entity, EntityGraph
from caas_core.authz.evaluate import Decision, Request, authorize, authorize_batch
from caas_core.authz.explain import Explanation, explain
from caas_core.authz.index import CompiledPolicySet, action_entities, compile_policy_set
from caas_core.authz.policy import Policy
from caas_core.authz.rbac import (
    Assignment,
    Grant,
    Role,
    RoleGrant,
    grant_policies,
    role_grant_policies,
    role_policies,
    with_roles,
)
from caas_core.authz.whatif import Change, Flip, Record, what_if


@dataclass(frozen=True, slots=True)
class TenantPolicies:
    """Everything one version of a tenant's authorization consists of (what the stores hold)."""

    tenant: str
    version: str
    actions: Mapping[str, tuple[str, ...]]
    policies: tuple[Policy, ...] = ()
    roles: tuple[Role, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    grants: tuple[Grant, ...] = ()
    role_grants: tuple[RoleGrant, ...] = ()
    entities: tuple[Entity, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Authorizer:
    """A compiled version of one tenant's policies with its entity graph."""

    policy_set: CompiledPolicySet
    entities: EntityGraph

    @property
    def tenant(self) -> str:
        """The tenant whose requests this answers (and no other's)."""
        return self.policy_set.tenant

    @property
    def version(self) -> str:
        """The policy-set version (cache keys and decision logs carry it)."""
        return self.policy_set.version

    def authorize(self, request: Request) -> Decision:
        """Allow or deny, with the determining policies and the deny reason."""
        return authorize(policy_set=self.policy_set, entities=self.entities, request=request)

    def authorize_batch(self, requests: Iterable[Request]) -> list[Decision]:
        """One decision per request, in order."""
        return authorize_batch(
            policy_set=self.policy_set, entities=self.entities, requests=requests
        )

    def explain(self, request: Request, *, only_candidates: bool = False) -> Explanation:
        """The decision with a trace of every policy."""
        return explain(
            policy_set=self.policy_set,
            entities=self.entities,
            request=request,
            only_candidates=only_candidates,
        )

    def what_if(
        self, change: Change, records: Iterable[Record], *, entities: EntityGraph | None = None
    ) -> list[Flip]:
        """The logged decisions `change` would flip (nothing is applied)."""
        return what_if(
            current=self.policy_set,
            entities=self.entities,
            change=change,
            records=records,
            proposed_entities=entities,
        )


def build(source: TenantPolicies) -> Authorizer:
    """Compile a tenant's version: roles and grants become policies and parent edges."""
    tenant = source.tenant
    policies = [
        *source.policies,
        *role_policies(tenant=tenant, roles=source.roles),
        *grant_policies(grants=source.grants),
        *role_grant_policies(roles=source.roles, grants=source.role_grants),
    ]
    policy_set = compile_policy_set(
        tenant=tenant, version=source.version, policies=policies, actions=source.actions
    )
    entities = with_roles(
        tenant=tenant, entities=source.entities, roles=source.roles, assignments=source.assignments
    )
    graph = EntityGraph.build(
        tenant=tenant,
        entities=[*entities, *action_entities(tenant=tenant, actions=source.actions)],
    )
    return Authorizer(policy_set=policy_set, entities=graph)


def decision_key(*, tenant: str, version: str, request: Request) -> str:
    """A cache key for one decision: the tenant, the version and the whole request.

    The context is part of it, so a decision depending on the time or the client's address is
    cached only for that exact context; a new version makes every older key unreachable.
    """
    canonical = json.dumps(
        [
            request.principal.type,
            request.principal.id,
            request.action,
            request.resource.type,
            request.resource.id,
            cedar.value_json(request.context),
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"authz:{tenant}:{version}:{digest}"


def log_record(
    *, authorizer: Authorizer, request: Request, decision: Decision
) -> dict[str, object]:
    """A decision as the audit writer records it (JSON-ready)."""
    return {
        "tenant": authorizer.tenant,
        "policy_set_version": authorizer.version,
        "principal": str(request.principal),
        "action": request.action,
        "resource": str(request.resource),
        "allowed": decision.allowed,
        "reason": decision.reason.value,
        "determining": list(decision.determining),
        "errors": [{"policy": e.policy, "message": e.message} for e in decision.errors],
    }

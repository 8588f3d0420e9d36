"""Decisions: forbid overrides permit, nothing is allowed by default, errors are reported.

A decision names what determined it (the permits that allowed it, or the forbids that denied
it) and, for a deny, why: no permit matched, forbidden, or an invalid request (another tenant's
entity, an entity graph of another tenant). Errors of policies that could not be evaluated are
returned with the decision; such a policy neither permits nor forbids, as in Cedar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from caas_core.authz.conditions import Env
from caas_core.authz.entities import EntityGraph
from caas_core.authz.index import CompiledPolicy, CompiledPolicySet
from caas_core.authz.values import EvalError, Uid

_NO_CONTEXT: Final[Mapping[str, object]] = MappingProxyType({})


class Reason(StrEnum):
    """Why a decision came out as it did."""

    PERMITTED = "permitted"
    NO_PERMIT = "no_permit_matched"
    FORBIDDEN = "forbidden"
    INVALID_REQUEST = "invalid_request"


@dataclass(frozen=True, slots=True)
class Request:
    """Who (`principal`) does what (`action`, a declared action's name) to what (`resource`)."""

    principal: Uid
    action: str
    resource: Uid
    context: Mapping[str, object] = field(default_factory=lambda: _NO_CONTEXT)


@dataclass(frozen=True, slots=True)
class PolicyFailure:
    """A policy that could not be evaluated for this request, and why."""

    policy: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Allow or deny, what determined it, and the errors met on the way."""

    allowed: bool
    reason: Reason
    determining: tuple[str, ...] = ()
    errors: tuple[PolicyFailure, ...] = ()


def request_problem(
    policy_set: CompiledPolicySet, entities: EntityGraph, request: Request
) -> str | None:
    """Why the request cannot be decided at all (tenant mismatch), or None."""
    tenant = policy_set.tenant
    if entities.tenant != tenant:
        return f"entities of tenant {entities.tenant!r} given for tenant {tenant!r}"
    for role, uid in (("principal", request.principal), ("resource", request.resource)):
        if uid.tenant != tenant:
            return f"{role} {uid} belongs to tenant {uid.tenant!r}, not {tenant!r}"
    return None


def candidates(
    policy_set: CompiledPolicySet, entities: EntityGraph, request: Request
) -> Iterable[CompiledPolicy]:
    """The policies whose scopes match the request: the index narrows, residual checks decide."""
    by_resource = policy_set.index.get(request.action, policy_set.any_action)
    principal = request.principal
    resource = request.resource
    principal_keys = entities.keys(principal)
    for resource_key in entities.keys(resource):
        by_principal = by_resource.get(resource_key)
        if by_principal is None:
            continue
        for principal_key in principal_keys:
            filed = by_principal.get(principal_key)
            if filed is None:
                continue
            for policy in filed:
                if policy.principal_eq is not None and policy.principal_eq != principal:
                    continue
                if policy.resource_eq is not None and policy.resource_eq != resource:
                    continue
                if policy.principal_type is not None and policy.principal_type != principal.type:
                    continue
                if policy.resource_type is not None and policy.resource_type != resource.type:
                    continue
                yield policy


def action_uid(tenant: str, action: str) -> Uid:
    """The entity id of a declared action (`Action::"name"`), as conditions see it."""
    return Uid(tenant, "Action", action)


def authorize(
    *, policy_set: CompiledPolicySet, entities: EntityGraph, request: Request
) -> Decision:
    """Decide one request against one compiled version of the tenant's policies."""
    problem = request_problem(policy_set, entities, request)
    if problem is not None:
        return Decision(allowed=False, reason=Reason.INVALID_REQUEST, errors=(_failure(problem),))
    permits: list[str] = []
    forbids: list[str] = []
    errors: list[PolicyFailure] = []
    env: Env | None = None
    for policy in candidates(policy_set, entities, request):
        if policy.condition is not None:
            if env is None:
                env = Env(
                    principal=request.principal,
                    action=action_uid(policy_set.tenant, request.action),
                    resource=request.resource,
                    context=request.context,
                    graph=entities,
                )
            try:
                if not policy.condition(env):
                    continue
            except EvalError as error:
                errors.append(PolicyFailure(policy=policy.id, message=str(error)))
                continue
        (forbids if policy.forbid else permits).append(policy.id)
    if forbids:
        return Decision(
            allowed=False, reason=Reason.FORBIDDEN, determining=tuple(forbids), errors=tuple(errors)
        )
    if permits:
        return Decision(
            allowed=True, reason=Reason.PERMITTED, determining=tuple(permits), errors=tuple(errors)
        )
    return Decision(allowed=False, reason=Reason.NO_PERMIT, errors=tuple(errors))


def authorize_batch(
    *, policy_set: CompiledPolicySet, entities: EntityGraph, requests: Iterable[Request]
) -> list[Decision]:
    """Decide many requests against the same version (one decision per request, in order)."""
    return [
        authorize(policy_set=policy_set, entities=entities, request=request) for request in requests
    ]


def _failure(message: str) -> PolicyFailure:
    return PolicyFailure(policy="", message=message)

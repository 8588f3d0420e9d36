"""The RetentionPolicies of a namespace, read from Kubernetes (I/O)."""

from typing import Any

from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from pydantic import ValidationError

from caas_core.crd.retention import NAMES
from caas_core.domain.naming import API_GROUP
from caas_core.domain.naming import API_VERSION as VERSION
from caas_core.domain.retention import PolicyClaim, Rule
from caas_core.resources.retention import RetentionPolicySpec
from caas_operator.shared.retention_rules import applicable_rules, policy_claim

PolicyResource = create_namespaced_resource(API_GROUP, VERSION, NAMES.kind, NAMES.plural)


async def governing_rules(client: AsyncClient, *, namespace: str) -> tuple[Rule, ...]:
    """Every rule the namespace's RetentionPolicies apply (an older policy owns a data class).

    The Tenant reconcile uses them so that it and the RetentionPolicy agree on each topic's
    retention.ms instead of overwriting each other on every resync.
    """
    claims: list[PolicyClaim] = []
    specs: list[tuple[str, RetentionPolicySpec]] = []
    async for item in client.list(PolicyResource, namespace=namespace):
        raw: dict[str, Any] = item.to_dict()  # type: ignore[no-untyped-call]
        claim = policy_claim(raw)
        if claim is None:
            continue
        claims.append(claim)
        try:
            specs.append((claim.name, RetentionPolicySpec.model_validate(raw.get("spec") or {})))
        except ValidationError:
            continue  # the policy reports its own invalid spec
    rules: list[Rule] = []
    for name, spec in specs:
        rules.extend(applicable_rules(name, [r.to_rule() for r in spec.rules], claims).rules)
    return tuple(rules)


async def list_claims(client: AsyncClient, *, namespace: str) -> list[PolicyClaim]:
    """Which data classes each policy in the namespace claims (those being deleted: none)."""
    claims: list[PolicyClaim] = []
    async for item in client.list(PolicyResource, namespace=namespace):
        claim = policy_claim(item.to_dict())  # type: ignore[no-untyped-call]
        if claim is not None:
            claims.append(claim)
    return claims

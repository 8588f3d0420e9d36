"""The AccessPolicy custom resource: a tenant's authorization policies, as JSON or Cedar-like text.

The CRD checks only what is static (sizes, required ids, effects, unique ids); the engine
(`caas_core.authz`) validates the rest against the tenant's schema in the operator, which reports
a refusal as `Ready=False` with the exact JSON pointer or line:column.
"""

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from caas_core.domain.conditions import Condition
from caas_core.resources.apikey import MODEL_CONFIG

# Far below the engine's 10,000 per tenant: one resource is one object in etcd (~1.5 MiB).
MAX_POLICIES: Final = 512
MAX_TEXT: Final = 256 * 1024
MAX_CONDITIONS: Final = 16
POLICY_ID_MAX_LENGTH: Final = 128
SOURCE_RULE: Final = "has(self.text) || (has(self.policies) && size(self.policies) > 0)"
SOURCE_MESSAGE: Final = "give at least one policy: spec.policies (JSON) or spec.text (Cedar-like)"


def _preserved(schema: dict[str, Any]) -> None:
    """A scope is an arbitrary JSON tree the engine reads: the API server keeps it as it is.

    A structural schema says so with x-kubernetes-preserve-unknown-fields, not with the
    `additionalProperties: true` that pydantic writes for a dict.
    """
    for node in (schema, *schema.get("anyOf", ())):
        node.pop("additionalProperties", None)
    schema["x-kubernetes-preserve-unknown-fields"] = True


class PolicyDocument(BaseModel):
    """One policy in its JSON form (docs/authorization.md), checked fully by the engine."""

    model_config = ConfigDict(
        **MODEL_CONFIG,
        # Unknown fields are kept, not pruned: the engine refuses them by name. Pruning would turn
        # a misspelt `conditions` into a permit without conditions (fail open).
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    id: str = Field(
        description="The policy's id, unique in the tenant; decisions name it.",
        min_length=1,
        max_length=POLICY_ID_MAX_LENGTH,
    )
    effect: Literal["permit", "forbid"] = Field(
        description="permit or forbid (a matching forbid overrides every permit)."
    )
    principal: dict[str, Any] | None = Field(
        default=None,
        description=(
            'Scope on the principal: {"op": "any"}, {"op": "==" | "in", "entity": {"type", '
            '"id"}} or {"op": "is", "type", "entity"?}; omitted means any.'
        ),
        json_schema_extra=_preserved,
    )
    action: dict[str, Any] | None = Field(
        default=None,
        description=(
            'Scope on the action: {"op": "any"} or {"op": "==" | "in", "actions": [...]}; '
            "omitted means any."
        ),
        json_schema_extra=_preserved,
    )
    resource: dict[str, Any] | None = Field(
        default=None,
        description="Scope on the resource, as for the principal; omitted means any.",
        json_schema_extra=_preserved,
    )
    conditions: list[dict[str, Any]] | None = Field(
        default=None,
        description='when/unless clauses: {"kind": "when" | "unless", "body": <expression>}.',
        max_length=MAX_CONDITIONS,
        json_schema_extra={
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    )


class AccessPolicySpec(BaseModel):
    """Desired state: policies of the namespace's tenant, as JSON, text, or both (and a schema)."""

    model_config = ConfigDict(
        **MODEL_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": SOURCE_RULE, "message": SOURCE_MESSAGE}],
        },
    )

    description: str | None = Field(
        default=None, description="What the policies are for, shown to humans.", max_length=256
    )
    policies: list[PolicyDocument] | None = Field(
        default=None,
        description=(
            "Policies in their JSON form. Ids are unique here and across the tenant's policies "
            "(those of other AccessPolicies and of the REST API included)."
        ),
        max_length=MAX_POLICIES,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
    text: str | None = Field(
        default=None,
        description=(
            'Policies in the Cedar-like text syntax (@id("...") permit (principal, action, '
            "resource) when { ... };). Errors are reported as line:column."
        ),
        max_length=MAX_TEXT,
    )
    schema_: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description=(
            "The tenant's schema (entity types with attributes and parents, actions, context), "
            "if this resource provides it; otherwise the policies are checked against the "
            "schema the tenant has (set over REST). Only one writer may own it."
        ),
        json_schema_extra=_preserved,
    )


class AccessPolicyStatus(BaseModel):
    """Observed state of an AccessPolicy, written by the operator."""

    model_config = MODEL_CONFIG

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the operator last reconciled.", ge=0
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Ready, with a reason such as Applied, InvalidPolicy, ForeignPolicy or NoTenant."
        ),
        max_length=8,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    tenant: str | None = Field(default=None, description="The tenant the policies belong to.")
    policies: int | None = Field(
        default=None, description="How many policies of this resource are in effect.", ge=0
    )
    applied_generation: int | None = Field(
        default=None,
        description=(
            "The .metadata.generation whose policies are in effect; an invalid later generation "
            "leaves them so."
        ),
        ge=0,
    )
    policy_set_version: str | None = Field(
        default=None, description="The tenant's policy-set version after the last write."
    )

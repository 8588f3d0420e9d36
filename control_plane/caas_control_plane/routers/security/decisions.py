"""`POST /v1/security/authorize` (single and batch), `/authorize/explain`, `/policies/what-if`.

A tenant back end asks whether one of its principals may do an action on one of its resources;
the tenant is the API key's, so no request can name another tenant's entity. `authz:check`
decides and explains; the what-if (which replays the recent decisions against a proposed
change) needs `authz:manage`.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from caas_control_plane.deps import AuthzCheckerKey, AuthzDecisionsDep, AuthzManagerKey, ClientDep
from caas_control_plane.routers.security.edge import PREFIX, EntityRef, refusals
from caas_control_plane.schemas import COMMON, CamelModel, problems
from caas_control_plane.services.authz_requests import Answer
from caas_core.domain.audit import Actor

router = APIRouter(prefix=PREFIX, tags=["security"])
_DECIDE = problems(
    **COMMON,
    _422="Unknown action or entity type, or a context the schema refuses (pointer in `errors`)",
)
MAX_BATCH = 100


class EntityInput(CamelModel):
    """An entity given with a request: its attributes (typed by the schema) and parents."""

    type: str = Field(min_length=1, max_length=128)
    id: str = Field(min_length=1, max_length=1024)
    attrs: dict[str, Any] = Field(default_factory=dict)
    parents: list[EntityRef] = Field(default_factory=list, max_length=16)


class AuthorizeRequest(CamelModel):
    """May `principal` do `action` on `resource`, in this `context`?"""

    principal: EntityRef
    action: str = Field(min_length=1, max_length=128)
    resource: EntityRef
    context: dict[str, Any] = Field(
        default_factory=dict, description="Attributes declared in the schema's `context`."
    )
    entities: list[EntityInput] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "Entities the tenant does not store, for this request only: `{type, id, attrs, "
            "parents}` (e.g. the user's attributes); such a decision is not cached."
        ),
    )


class AuthorizeBatch(CamelModel):
    """Several requests decided against the same policy-set version."""

    requests: list[AuthorizeRequest] = Field(min_length=1, max_length=MAX_BATCH)


class PolicyError(CamelModel):
    """A policy that could not be evaluated for this request (it neither permits nor forbids)."""

    policy: str
    message: str


class DecisionPublic(CamelModel):
    """Allow or deny, what determined it, and for a deny why."""

    allowed: bool
    decision: str = Field(description="`allow` or `deny`.")
    reason: str = Field(
        description="`permitted`, `no_permit_matched`, `forbidden` or `invalid_request`."
    )
    determining: list[str] = Field(
        description="The permits that allowed it, or the forbids that denied it."
    )
    errors: list[PolicyError]
    policy_set_version: str
    cached: bool = Field(description="Served from the decision cache.")


class DecisionBatch(CamelModel):
    """One decision per request, in order."""

    items: list[DecisionPublic]


class Trace(CamelModel):
    """One policy's part in a decision."""

    policy: str
    effect: str
    outcome: str
    detail: str
    candidate: bool


class ExplanationPublic(CamelModel):
    """The decision and the trace of every policy of the set."""

    decision: DecisionPublic
    policies_in_set: int
    candidates: int
    traces: list[Trace]


class ProposedPolicy(BaseModel):
    """A policy document (the `PUT /policies/{id}` body) with its `id`; its scopes and
    conditions are checked against the tenant's schema (errors at `/upsert/<i>/…`)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    effect: Literal["permit", "forbid"]
    principal: dict[str, Any] | None = None
    action: dict[str, Any] | None = None
    resource: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=16)


class WhatIfBody(CamelModel):
    """A proposed change: policies to add or replace (each with its `id`), ids to remove."""

    upsert: list[ProposedPolicy] = Field(default_factory=list, max_length=20)
    remove: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=100
    )


class WhatIfPublic(CamelModel):
    """The recent decisions the change would flip (nothing was applied)."""

    policy_set_version: str
    replayed: int = Field(description="How many recent decisions were replayed.")
    flips: list[dict[str, Any]]


def _public(found: Answer) -> DecisionPublic:
    return DecisionPublic(
        allowed=found.allowed,
        decision="allow" if found.allowed else "deny",
        reason=found.reason,
        determining=list(found.determining),
        errors=[PolicyError(policy=p, message=m) for p, m in found.errors],
        policy_set_version=found.version,
        cached=found.cached,
    )


@router.post(
    "/authorize", response_model=DecisionPublic | DecisionBatch, responses=_DECIDE,
    summary="Decide one request, or a batch (`{\"requests\": [...]}`)",
)  # fmt: skip
async def authorize(
    body: Annotated[AuthorizeRequest | AuthorizeBatch, Body()],
    caller: AuthzCheckerKey,
    decisions: AuthzDecisionsDep,
    client: ClientDep,
) -> DecisionPublic | DecisionBatch:
    """Forbid overrides permit; nothing is allowed by default."""
    batch = isinstance(body, AuthorizeBatch)
    requests = body.requests if isinstance(body, AuthorizeBatch) else [body]
    with refusals():
        answers = await decisions.authorize(
            caller.tenant,
            [r.model_dump() for r in requests],
            caller=Actor(type="api_key", id=caller.key_id),
            client=client,
        )
    if batch:
        return DecisionBatch(items=[_public(a) for a in answers])
    return _public(answers[0])


@router.post("/authorize/explain", response_model=ExplanationPublic, responses=_DECIDE)
async def explain(
    body: AuthorizeRequest, caller: AuthzCheckerKey, decisions: AuthzDecisionsDep
) -> ExplanationPublic:
    """The decision with a trace of every policy: applied, or why not (scope, condition)."""
    with refusals():
        found, trace = await decisions.explain(caller.tenant, body.model_dump())
    return ExplanationPublic.model_validate({"decision": _public(found), **trace})


@router.post("/policies/what-if", response_model=WhatIfPublic, responses=_DECIDE)
async def what_if(
    body: WhatIfBody, caller: AuthzManagerKey, decisions: AuthzDecisionsDep
) -> WhatIfPublic:
    """Replay the recent decisions against the set with this change; list those that flip."""
    with refusals():
        upsert = [p.model_dump(exclude_none=True) for p in body.upsert]
        found = await decisions.what_if(caller.tenant, upsert=upsert, remove=body.remove)
    return WhatIfPublic.model_validate(found)

"""Pure conversions between the API's JSON and the engine: requests, decisions, log records.

A request names its principal and resource as `{"type", "id"}` of the caller's tenant (there is
no way to name another tenant's entity: the tenant comes from the API key), its action by name,
and a context typed by the tenant's schema (`context.record_from_json`: an IP string becomes an
address, an ISO instant a datetime, and an undeclared attribute is refused at its pointer).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from caas_core.authz.context import entities_from_json, record_from_json
from caas_core.authz.entities import Entity
from caas_core.authz.evaluate import Decision, PolicyFailure, Reason, Request
from caas_core.authz.explain import Explanation
from caas_core.authz.schema import DocumentError, Schema, pointer_join
from caas_core.authz.values import Uid
from caas_core.authz.whatif import Flip, Record


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One decision as the API answers it."""

    allowed: bool
    reason: str
    determining: tuple[str, ...]
    errors: tuple[tuple[str, str], ...]
    version: str
    cached: bool = False


def _entity(doc: object, *, at: str, tenant: str, schema: Schema) -> Uid:
    if not isinstance(doc, Mapping):
        raise DocumentError([(at, "expected an entity {type, id}")])
    type_name, id_ = doc.get("type"), doc.get("id")
    if not isinstance(type_name, str) or type_name not in schema.entity_types:
        raise DocumentError([(pointer_join(at, "type"), f"unknown entity type {type_name!r}")])
    if not isinstance(id_, str) or not id_:
        raise DocumentError([(pointer_join(at, "id"), "expected an entity id")])
    return Uid(tenant, type_name, id_)


def request_from_json(
    doc: Mapping[str, Any], *, tenant: str, schema: Schema, at: str = ""
) -> Request:
    """An engine request of `tenant`; DocumentError at the pointer of the first mistake."""
    action = doc.get("action")
    if not isinstance(action, str) or action not in schema.actions:
        raise DocumentError([(pointer_join(at, "action"), f"unknown action {action!r}")])
    principal = _entity(
        doc.get("principal"), at=pointer_join(at, "principal"), tenant=tenant, schema=schema
    )
    resource = _entity(
        doc.get("resource"), at=pointer_join(at, "resource"), tenant=tenant, schema=schema
    )
    try:
        context = record_from_json(
            attributes=schema.context, doc=doc.get("context") or {}, tenant=tenant
        )
    except DocumentError as error:
        moved = [(pointer_join(at, "context") + where, message) for where, message in error.errors]
        raise DocumentError(moved) from None
    return Request(principal=principal, action=action, resource=resource, context=context)


def request_entities(
    doc: Mapping[str, Any], *, tenant: str, schema: Schema, at: str = ""
) -> list[Entity]:
    """Entities given with a request (`entities`: attributes and parents of principals or
    resources the tenant does not store), typed by the schema; none when absent."""
    given = doc.get("entities") or []
    if not given:
        return []
    try:
        return entities_from_json(schema=schema, doc=given, tenant=tenant)
    except DocumentError as error:
        moved = [(pointer_join(at, "entities") + where, message) for where, message in error.errors]
        raise DocumentError(moved) from None


def answer(decision: Decision, *, version: str, cached: bool = False) -> Answer:
    """The API's view of an engine decision."""
    return Answer(
        allowed=decision.allowed,
        reason=decision.reason.value,
        determining=decision.determining,
        errors=tuple((e.policy, e.message) for e in decision.errors),
        version=version,
        cached=cached,
    )


def cached_form(decision: Decision) -> dict[str, Any]:
    """What the decision cache keeps (the version is in the key)."""
    return {
        "allowed": decision.allowed,
        "reason": decision.reason.value,
        "determining": list(decision.determining),
        "errors": [[e.policy, e.message] for e in decision.errors],
    }


def from_cached(doc: Mapping[str, Any]) -> Decision:
    """A decision read back from the cache."""
    return Decision(
        allowed=bool(doc["allowed"]),
        reason=Reason(doc["reason"]),
        determining=tuple(doc["determining"]),
        errors=tuple(PolicyFailure(policy=p, message=m) for p, m in doc["errors"]),
    )


def log_form(doc: Mapping[str, Any], decision: Decision, *, version: str) -> dict[str, Any]:
    """A decision as the recent-decision log keeps it: the request as sent, and the answer."""
    return {
        "request": {
            "principal": dict(doc["principal"]),
            "action": doc["action"],
            "resource": dict(doc["resource"]),
            "context": dict(doc.get("context") or {}),
        },
        "allowed": decision.allowed,
        "determining": list(decision.determining),
        "version": version,
    }


def replayable(logged: Mapping[str, Any], *, tenant: str, schema: Schema) -> Record | None:
    """A logged decision as a what-if record; None when the schema no longer reads it."""
    try:
        request = request_from_json(logged["request"], tenant=tenant, schema=schema)
    except (DocumentError, KeyError, TypeError):
        return None
    return Record(
        request=request,
        allowed=bool(logged["allowed"]),
        determining=tuple(logged.get("determining", ())),
    )


def flip_json(flip: Flip) -> dict[str, Any]:
    """One decision a proposed change would turn around."""
    request = flip.record.request
    return {
        "principal": {"type": request.principal.type, "id": request.principal.id},
        "action": request.action,
        "resource": {"type": request.resource.type, "id": request.resource.id},
        "before": {"allowed": flip.record.allowed, "determining": list(flip.record.determining)},
        "after": {
            "allowed": flip.after.allowed,
            "reason": flip.after.reason.value,
            "determining": list(flip.after.determining),
        },
    }


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """The trace of every policy looked at."""
    return {
        "policiesInSet": explanation.policies_in_set,
        "candidates": explanation.candidates,
        "traces": [
            {
                "policy": t.policy,
                "effect": t.effect,
                "outcome": t.outcome.value,
                "detail": t.detail,
                "candidate": t.candidate,
            }
            for t in explanation.traces
        ],
    }


def logged(allowed: bool, *, sample: float, draw: float) -> bool:
    """Whether a decision goes to the audit log: every deny, and `sample` of the allows."""
    return not allowed or draw < sample

"""Decisions for a tenant's own users and resources: cached, versioned, logged.

Per request: the tenant's current policy-set version is read (one MongoDB read by `_id`), so a
change made through any instance, or by the operator, is seen by the very next request on every
instance. The compiled set is kept in-process per tenant and rebuilt only when the version
moves; decisions are cached in Redis under `decision_key` (tenant, version, whole request), so
an older decision is unreachable once the version changes. Every deny, and a configurable
share of the allows, is written to the audit log with the version and determining policies;
decisions computed (not served from the cache) also go to a short per-tenant list that the
what-if replays.
"""

import asyncio
import random
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from caas_control_plane.services.authz_errors import REFUSALS, refused
from caas_control_plane.services.authz_ports import AuthzObjects, DecisionCache
from caas_control_plane.services.authz_requests import (
    Answer,
    answer,
    cached_form,
    explanation_json,
    flip_json,
    from_cached,
    log_form,
    logged,
    replayable,
    request_entities,
    request_from_json,
)
from caas_control_plane.services.context import ClientInfo
from caas_core.authz.documents import Assembled, read_policy
from caas_core.authz.engine import Authorizer, decision_key
from caas_core.authz.entities import HierarchyError
from caas_core.authz.evaluate import Decision, Request
from caas_core.authz.index import PolicySetError
from caas_core.authz.schema import DocumentError, pointer, pointer_join
from caas_core.authz.whatif import Change
from caas_core.domain.audit import Actor, AuditWriter, Outcome

DECISION_ACTION: Final = "authz.decision"
_COMPILED_TENANTS: Final = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionPolicy:
    """How long decisions are cached, how many are logged, how many are kept for what-if."""

    cache_seconds: int = 60
    log_sample: float = 1.0
    recent: int = 1000


class CompiledSets:
    """The latest compiled set of each recently used tenant (a bounded LRU, in-process)."""

    def __init__(self, store: AuthzObjects, *, limit: int = _COMPILED_TENANTS) -> None:
        self._store = store
        self._limit = limit
        self._sets: OrderedDict[str, Assembled] = OrderedDict()
        # One load per tenant at a time: after a change, the requests arriving together wait
        # for one compile instead of each reading and compiling the whole set.
        self._loading: dict[str, asyncio.Lock] = {}

    def _cached(self, tenant: str, version: str) -> Assembled | None:
        found = self._sets.get(tenant)
        if found is None or found.authorizer.version != version:
            return None
        self._sets.move_to_end(tenant)
        return found

    async def at(self, tenant: str, version: str) -> Assembled:
        """The tenant's set at `version` or newer (loaded when this process has an older one)."""
        found = self._cached(tenant, version)
        if found is not None:
            return found
        lock = self._loading.setdefault(tenant, asyncio.Lock())
        try:
            async with lock:
                found = self._cached(tenant, version)
                if found is not None:
                    return found
                return await self._load(tenant)
        finally:
            if not lock.locked():
                self._loading.pop(tenant, None)

    async def _load(self, tenant: str) -> Assembled:
        try:
            loaded = await self._store.load_assembled(tenant)
        except REFUSALS as error:  # stored before a rule tightened: nothing decides with it
            raise refused(error) from None
        self._sets[tenant] = loaded
        self._sets.move_to_end(tenant)
        while len(self._sets) > self._limit:
            self._sets.popitem(last=False)
        return loaded


class DecisionService:
    """authorize (single, batch), explain and what-if over one tenant's current set."""

    def __init__(
        self,
        *,
        store: AuthzObjects,
        cache: DecisionCache,
        audit: AuditWriter,
        policy: DecisionPolicy,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._sets = CompiledSets(store)
        self._cache = cache
        self._audit = audit
        self._policy = policy
        self._draw = draw

    async def current(self, tenant: str) -> Assembled:
        """The tenant's set at its current version."""
        return await self._sets.at(tenant, await self._store.version(tenant))

    async def authorize(
        self, tenant: str, docs: Sequence[Mapping[str, Any]], *, caller: Actor, client: ClientInfo
    ) -> list[Answer]:
        """One answer per request document, in order; a bad document refuses the whole call."""
        assembled = await self.current(tenant)
        many = len(docs) > 1
        asked = [
            _read(doc, assembled, tenant, at=pointer("requests", i) if many else "")
            for i, doc in enumerate(docs)
        ]
        return [
            await self._decide(
                tenant,
                authorizer,
                doc,
                request,
                shared=authorizer is assembled.authorizer,
                caller=caller,
                client=client,
            )
            for doc, (request, authorizer) in zip(docs, asked, strict=True)
        ]

    async def _decide(
        self,
        tenant: str,
        authorizer: Authorizer,
        doc: Mapping[str, Any],
        request: Request,
        *,
        shared: bool,
        caller: Actor,
        client: ClientInfo,
    ) -> Answer:
        # `shared`: decided with the stored entities only. A request bringing its own entities
        # is neither cached (its key does not cover them) nor replayed by the what-if.
        version = authorizer.version
        key = decision_key(tenant=tenant, version=version, request=request)
        hit = await self._cache.get(key) if shared and self._policy.cache_seconds > 0 else None
        if hit is not None:
            decision = from_cached(hit)
        else:
            decision = authorizer.authorize(request)
            if shared and (self._policy.cache_seconds > 0 or self._policy.recent > 0):
                await self._cache.remember(
                    key,
                    cached_form(decision),
                    ttl=self._policy.cache_seconds,
                    tenant=tenant,
                    record=log_form(doc, decision, version=version),
                    keep=self._policy.recent,
                )
        if logged(decision.allowed, sample=self._policy.log_sample, draw=self._draw()):
            await self._log(tenant, version, request, decision, caller=caller, client=client)
        return answer(decision, version=version, cached=hit is not None)

    async def _log(
        self,
        tenant: str,
        version: str,
        request: Request,
        decision: Decision,
        *,
        caller: Actor,
        client: ClientInfo,
    ) -> None:
        await self._audit.emit(
            client.event(
                DECISION_ACTION,
                outcome=Outcome.SUCCESS if decision.allowed else Outcome.FAILURE,
                actor=caller,
                tenant=tenant,
                target_type=request.resource.type,
                target_id=request.resource.id,
                details={
                    "policySetVersion": version,
                    "principal": str(request.principal),
                    "action": request.action,
                    "resource": str(request.resource),
                    "allowed": decision.allowed,
                    "reason": decision.reason.value,
                    "determining": list(decision.determining),
                },
            )
        )

    async def explain(self, tenant: str, doc: Mapping[str, Any]) -> tuple[Answer, dict[str, Any]]:
        """The decision with a trace of every policy of the set (not cached, not logged)."""
        assembled = await self.current(tenant)
        request, authorizer = _read(doc, assembled, tenant, at="")
        explanation = authorizer.explain(request)
        version = authorizer.version
        return answer(explanation.decision, version=version), explanation_json(explanation)

    async def what_if(
        self, tenant: str, *, upsert: Sequence[Mapping[str, Any]], remove: Sequence[str]
    ) -> dict[str, Any]:
        """The recent decisions that upserting/removing these policies would flip (nothing is
        stored). Policies are validated like a write (errors at `/upsert/<i>/…`)."""
        assembled = await self.current(tenant)
        policies = []
        for i, doc in enumerate(upsert):
            key = doc.get("id")
            try:
                policies.append(
                    read_policy(str(key or ""), doc, tenant=tenant, schema=assembled.schema)
                )
            except DocumentError as error:
                moved = [(pointer("upsert", i) + at, message) for at, message in error.errors]
                raise refused(DocumentError(moved)) from None
        logged_records = await self._cache.recent(tenant, limit=self._policy.recent)
        records = [
            record
            for item in logged_records
            if (record := replayable(item, tenant=tenant, schema=assembled.schema)) is not None
        ]
        try:
            flips = assembled.authorizer.what_if(
                Change(upsert=tuple(policies), remove=tuple(remove)), records
            )
        except PolicySetError as error:
            raise refused(DocumentError([("", str(error))])) from None
        return {
            "policySetVersion": assembled.authorizer.version,
            "replayed": len(records),
            "flips": [flip_json(flip) for flip in flips],
        }


def _read(
    doc: Mapping[str, Any], assembled: Assembled, tenant: str, *, at: str
) -> tuple[Request, Authorizer]:
    """The request, and the authorizer to ask: the tenant's, or it layered with the entities
    the request brings (never replacing a stored one: that is refused)."""
    schema = assembled.schema
    try:
        request = request_from_json(doc, tenant=tenant, schema=schema, at=at)
        given = request_entities(doc, tenant=tenant, schema=schema, at=at)
    except DocumentError as error:
        raise refused(error) from None
    base = assembled.authorizer
    if not given:
        return request, base
    try:
        graph = base.entities.with_entities(given)
    except HierarchyError as error:
        raise refused(DocumentError([(pointer_join(at, "entities"), str(error))])) from None
    return request, Authorizer(policy_set=base.policy_set, entities=graph)

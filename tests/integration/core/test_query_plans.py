"""Every hot-path query of the stores is served by an index: `explain` on the stack's server.

The databases are built from the declarations alone — the platform's collections
(`caas_core.domain.collections`), the API's own indexes (`caas_control_plane.runtime._INDEXES`),
the webhook store's, and a tenant's collections — in scratch databases, so an index that only an
older deployment left behind cannot make a query look served. Each query's winning plan must
reach the documents through an index (IXSCAN, EXPRESS_IXSCAN, IDHACK, COUNT_SCAN…), never by a
collection scan.

The index must also narrow the scan by the fields that make the query selective (`by`; `_id` by
default): an index on the tenant alone serves a per-session query by examining every entry of the
tenant.

To cover a new query: add a `Q(...)` to `QUERIES` with the filter (and sort) the store sends.
Left out on purpose, because they read or change a whole collection or tenant by design and run
off the request path: the signing-key ring and the ownership registry read in full, a tenant's
sessions all revoked at once, the outbox backlog count, and the retention sweeps.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from caas_control_plane.runtime import _INDEXES as API_INDEXES
from caas_core.adapters import mongo
from caas_core.domain.collections import PLATFORM_COLLECTIONS, TENANT_COLLECTIONS
from caas_operator.webhook.store import WebhookStore
from tests.conftest import Stack

Document = dict[str, Any]
NOW = datetime.now(UTC)
EPOCH_NOW = int(NOW.timestamp())
PLATFORM = "platform"
TENANT = "tenant"

# Stages that reach documents through an index (mongod's names; secantusd-rs reports the same).
INDEXED_STAGES = frozenset(
    {
        "IXSCAN", "EXPRESS_IXSCAN", "EXPRESS_CLUSTERED_IXSCAN", "IDHACK", "EXPRESS_IDHACK",
        "EXPRESS_UPDATE", "EXPRESS_DELETE", "COUNT_SCAN", "DISTINCT_SCAN",
    }
)  # fmt: skip
SCAN_STAGES = frozenset({"COLLSCAN", "CLUSTERED_COLLSCAN"})


@dataclass(frozen=True)
class Q:
    """One query a store sends: where, the filter, and how its results are ordered."""

    store: str  # who sends it (file: method), for the failure message
    database: str  # PLATFORM or TENANT
    collection: str
    filter: Mapping[str, Any]
    sort: Mapping[str, int] = field(default_factory=dict)
    # The fields the index must narrow the scan by (default: `_id` when the filter has it): an
    # index on a prefix alone (e.g. the tenant) still examines every entry under that prefix.
    by: tuple[str, ...] = ()

    @property
    def narrowed_by(self) -> tuple[str, ...]:
        return self.by or (("_id",) if "_id" in self.filter else ())


QUERIES: tuple[Q, ...] = (
    # --- API keys (caas_core/adapters/api_key_store.py), checked on every uncached request ----
    Q("api_key_store: get / authenticate", PLATFORM, "api_keys", {"_id": "k"}),
    Q("api_key_store: get for a tenant", PLATFORM, "api_keys", {"_id": "k", "tenant": "t"}),
    Q("api_key_records: by key hash", PLATFORM, "api_keys", {"keyHash": "h"}, by=("keyHash",)),
    Q(
        "api_key_store: list_for_tenant", PLATFORM, "api_keys", {"tenant": "t"},
        {"createdAt": 1}, by=("tenant",),
    ),
    Q(
        "api_key_store: find_by_source", PLATFORM, "api_keys", {"source.uid": "u"},
        {"createdAt": 1}, by=("source.uid",),
    ),
    Q(
        "api_key_store: revoke_tenant", PLATFORM, "api_keys", {"tenant": "t", "revokedAt": None},
        by=("tenant",),
    ),
    # --- refresh families (control_plane stores/refresh_tokens.py) -----------------------------
    Q("refresh_tokens: get", PLATFORM, "refresh_families", {"_id": "f"}),
    Q(
        "refresh_tokens: rotate (compare-and-set)", PLATFORM, "refresh_families",
        {"_id": "f", "currentHash": "h", "state": "active"},
    ),
    Q(
        "refresh_tokens: revoke / extend", PLATFORM, "refresh_families",
        {"_id": "f", "state": "active"},
    ),
    Q(
        "refresh_tokens: revoke_user", PLATFORM, "refresh_families",
        {"tenant": "t", "user": "u", "state": "active"}, by=("tenant", "user"),
    ),
    Q(
        "refresh_tokens: revoke_session (logout, session ended)", PLATFORM, "refresh_families",
        {"tenant": "t", "session": "s", "state": "active"}, by=("tenant", "session"),
    ),
    Q(
        "refresh_tokens: revoke_tenant", PLATFORM, "refresh_families",
        {"tenant": "t", "state": "active"}, by=("tenant",),
    ),
    Q(
        "refresh_tokens: count_active", PLATFORM, "refresh_families",
        {"tenant": "t", "state": "active", "expiresAt": {"$gt": NOW}}, by=("tenant",),
    ),
    # --- sessions, in each tenant's database (control_plane stores/sessions.py) ---------------
    Q("sessions: get / extend / touch", TENANT, "sessions", {"_id": "s"}),
    Q(
        "sessions: list_for_user / revoke_user", TENANT, "sessions",
        {"user_id": "u", "revoked_at": None}, by=("user_id",),
    ),
    Q("sessions: revoke", TENANT, "sessions", {"_id": {"$in": ["a", "b"]}, "revoked_at": None}),
    # --- revocations (caas_core/adapters/revocation_store.py) ---------------------------------
    Q(
        "revocation_store: active", PLATFORM, "revoked_tokens",
        {"expiresAt": {"$gte": EPOCH_NOW}}, by=("expiresAt",),
    ),
    Q("revocation_store: record (in a transaction)", PLATFORM, "revoked_tokens", {"_id": "r"}),
    # --- outbox (caas_core/adapters/outbox.py) -------------------------------------------------
    Q(
        "outbox: claim_due (due, oldest first)", PLATFORM, "outbox",
        {"claimUntil": {"$lte": NOW}}, {"claimUntil": 1}, by=("claimUntil",),
    ),
    Q(
        "outbox: claim_due (read the claimed)", PLATFORM, "outbox", {"claim": "token"},
        by=("claim",),
    ),
    Q(
        "outbox: waiting_before (per-key order)", PLATFORM, "outbox",
        {
            "key": {"$in": ["t"]}, "attempts": {"$gt": 0}, "order": {"$lt": 10**18},
            "claim": {"$exists": False},
        },
        by=("key",),
    ),
    Q("outbox: delivered", PLATFORM, "outbox", {"_id": {"$in": ["a", "b"]}}),
    Q("outbox: retry / get", PLATFORM, "outbox", {"_id": "m"}),
    # --- audit log (caas_core/adapters/auditlog_store.py, auditlog_writer.py) ------------------
    Q(
        "security audit log: a tenant's entries by time", PLATFORM, "security_audit_logs",
        {"tenant": "t", "at": {"$gte": NOW.isoformat()}}, {"at": 1}, by=("tenant", "at"),
    ),
    Q(
        "audit log: entries of a seq range (exports, proofs, verifier)", PLATFORM,
        "security_audit_logs", {"log": "tenant:t", "seq": {"$gte": 0, "$lt": 1000}}, {"seq": 1},
        by=("log", "seq"),
    ),
    Q(
        "audit writer: events already logged", PLATFORM, "security_audit_logs",
        {"_id": {"$in": ["e"]}},
    ),
    Q(
        "audit log: leaves for a proof", PLATFORM, "security_audit_logs",
        {"log": "tenant:t", "seq": {"$in": [1, 2]}}, by=("log", "seq"),
    ),
    Q(
        "audit log: prune (first young entry)", PLATFORM, "security_audit_logs",
        {"log": "tenant:t", "seq": {"$gte": 0}, "at": {"$gte": NOW}}, {"seq": 1},
        by=("log", "seq"),
    ),
    Q("audit log: head", PLATFORM, "audit_heads", {"_id": "tenant:t"}),
    Q("audit log: tile nodes", PLATFORM, "audit_nodes", {"_id": {"$in": ["tenant:t/8/0"]}}),
    Q(
        "audit log: checkpoints of a range", PLATFORM, "audit_checkpoints",
        {"log": "tenant:t", "size": {"$gte": 1, "$lte": 9}}, {"size": 1}, by=("log", "size"),
    ),
    # --- MFA (control_plane stores/mfa.py) -----------------------------------------------------
    Q("mfa: factor get / update", PLATFORM, "mfa_factors", {"_id": "t:u"}),
    Q("mfa: used code", PLATFORM, "mfa_used_codes", {"_id": "t:u:1"}),
    # --- tenants, signing keys, webhooks, legal holds, ownership registry ---------------------
    Q("tenants / tenant_profiles: get", PLATFORM, "saas_clients", {"_id": "t"}),
    Q("signing_keys: retire / delete", PLATFORM, "signing_keys", {"_id": {"$in": [1, 2]}}),
    Q("webhook_store: get", PLATFORM, "webhook_endpoints", {"_id": "w"}),
    Q(
        "webhook_store: list_for_tenant", PLATFORM, "webhook_endpoints", {"tenant": "t"},
        {"_id": 1}, by=("tenant",),
    ),
    Q(
        "webhook_store: subscribed (the dispatcher, per event)", PLATFORM, "webhook_endpoints",
        {"tenant": "t", "eventTypes": {"$in": ["*", "message.created", "message.*"]},
         "enabled": True, "disabledAt": None},
        {"_id": 1}, by=("tenant",),
    ),
    Q(
        "legal_hold_store: list", PLATFORM, "legal_holds", {"tenant": "t"}, {"createdAt": 1},
        by=("tenant",),
    ),
    Q(
        "operator registry: a tenant's claims", PLATFORM, "tenant_resources", {"tenant": "t"},
        by=("tenant",),
    ),
)  # fmt: skip


def _stages(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every stage of a plan tree (classic `inputStage(s)`, SBE `queryPlan`)."""
    yield plan
    for key in ("inputStage", "queryPlan", "outerStage", "innerStage"):
        child = plan.get(key)
        if isinstance(child, Mapping):
            yield from _stages(child)
    for child in plan.get("inputStages", ()):
        yield from _stages(child)


@dataclass
class Databases:
    platform: str
    tenant: str


@pytest.fixture(scope="module")
async def admin(stack: Stack) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = mongo.connect(stack.mongodb_uri)
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def databases(admin: AsyncMongoClient[Document]) -> AsyncIterator[Databases]:
    """Scratch databases holding exactly the declared collections and indexes."""
    suffix = uuid.uuid4().hex[:8]
    names = Databases(platform=f"it_plans_platform_{suffix}", tenant=f"it_plans_tenant_{suffix}")
    platform = admin[names.platform]
    await mongo.ensure_database(admin, database=names.platform, collections=PLATFORM_COLLECTIONS)
    await mongo.ensure_database(admin, database=names.tenant, collections=TENANT_COLLECTIONS)
    for collection, indexes in API_INDEXES.items():  # what the API creates at start
        await platform[collection].create_indexes(indexes)
    await WebhookStore(platform).ensure_indexes()
    for database, collection in {(q.database, q.collection) for q in QUERIES}:
        db = admin[names.platform if database == PLATFORM else names.tenant]
        await _fill(db[collection])
    yield names
    await admin.drop_database(names.platform)
    await admin.drop_database(names.tenant)


NOISE = 300


async def _fill(collection: AsyncCollection[Document]) -> None:
    """Documents no query above matches, with a distinct value in every indexed field: on an
    empty collection the planner's trial cannot tell a selective index from a whole-index walk,
    with data it picks the plan the server would pick in production."""
    fields = {
        name
        for index in (await collection.index_information()).values()
        for name, _ in index["key"]
    }
    docs = []
    for i in range(NOISE):
        doc: Document = {"_id": f"noise-{i}"}
        for name in fields - {"_id"}:
            head, _, rest = name.partition(".")
            doc[head] = {rest: f"noise-{i}"} if rest else f"noise-{i}"
        docs.append(doc)
    await collection.insert_many(docs)


def _param(query: Q) -> Any:
    return pytest.param(query, id=f"{query.collection}: {query.store}")


@pytest.mark.parametrize("query", [_param(q) for q in QUERIES])
async def test_query_is_served_by_an_index(
    admin: AsyncMongoClient[Document], databases: Databases, query: Q
) -> None:
    db = admin[databases.platform if query.database == PLATFORM else databases.tenant]
    command: Document = {"find": query.collection, "filter": dict(query.filter)}
    if query.sort:
        command["sort"] = dict(query.sort)
    explained = await db.command("explain", command, verbosity="queryPlanner")
    winning = explained["queryPlanner"]["winningPlan"]
    stages = [stage.get("stage") for stage in _stages(winning)]
    assert not SCAN_STAGES.intersection(stages), f"{query.store} scans: {winning}"
    assert INDEXED_STAGES.intersection(stages), f"{query.store} uses no index: {winning}"
    narrowed = set().union(*(_narrowed_fields(stage) for stage in _stages(winning)))
    missing = set(query.narrowed_by) - narrowed
    assert not missing, f"{query.store}: the index does not narrow by {sorted(missing)}: {winning}"


def _narrowed_fields(stage: Mapping[str, Any]) -> set[str]:
    """Fields an index stage bounds to less than everything (an express stage is a point
    lookup on its whole key)."""
    if str(stage.get("stage", "")).startswith("EXPRESS_") or stage.get("stage") == "IDHACK":
        pattern = stage.get("keyPattern", "{ _id: 1 }")
        text = pattern if isinstance(pattern, str) else " ".join(pattern)
        return {part.split(":")[0].strip("{ ") for part in text.split(",")} if text else set()
    bounds = stage.get("indexBounds") or {}
    return {name for name, ranges in bounds.items() if list(ranges) != ["[MinKey, MaxKey]"]}

"""Deletion: Retain keeps data, removes access; Delete drops data unless a legal hold forbids it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from caas_core.domain.api_key_records import COLLECTION as API_KEYS
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter, Unusable, from_document
from caas_core.domain.api_key_records import to_document as to_key_document
from caas_core.domain.api_keys import hash_api_key, new_api_key
from caas_core.domain.legal_holds import LegalHold, to_document
from caas_operator.shared.legal_hold_store import COLLECTION as HOLDS
from tests.e2e.operator.support import (
    Backends,
    Kube,
    OperatorProcess,
    database,
    tenants,
    unique,
    wait_for,
)


def _access_revoked(kube: Kube, backends: Backends, name: str) -> None:
    user = f"tenant-{name}"
    wait_for(lambda: backends.redis_user(user) is None, what="the Redis user removed")
    assert not backends.scram_user_exists(user)
    assert backends.acls(f"User:{user}") == []
    namespace = kube.namespace(name)
    assert namespace is None or namespace.metadata.deletionTimestamp is not None  # type: ignore[union-attr]


def _rest_api_key(keys: Any, *, tenant: str) -> str:
    """A key created through the REST API (as the control plane stores one) for `tenant`."""
    key = new_api_key()
    record = ApiKeyRecord(
        key_id=key.key_id, tenant=tenant, name="back end", key_hash=hash_api_key(key),
        scopes=("*",), managed_by=KeyWriter.API, created_at=datetime.now(UTC),
    )  # fmt: skip
    keys.insert_one(to_key_document(record))
    return key.key_id


def test_retain_keeps_data_removes_access_and_a_new_tenant_gets_the_data_back(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-retain")
    spec = {"kafka": {"topics": [{"suffix": "events"}]}, "deletionPolicy": "Retain"}
    kube.apply(name, spec)
    kube.wait_condition(name, "Ready")
    backends.mongo[database(name)]["users"].insert_one({"user_id": "u1"})
    keys = backends.mongo["caas_platform"][API_KEYS]
    key_id = _rest_api_key(keys, tenant=name)
    kube.delete(name)
    kube.wait_gone(name)
    _access_revoked(kube, backends, name)
    # The control plane's credentials go too, even a key the operator did not create.
    stored = from_document(keys.find_one({"_id": key_id}) or {})
    assert stored.unusable(now=datetime.now(UTC)) is Unusable.REVOKED
    revoked = [e.message or "" for e in kube.events(name) if e.reason == "AccessRevoked"]
    assert any("1 API key" in message for message in revoked), revoked
    keys.delete_one({"_id": key_id})
    assert backends.collections(name) >= {"users", "sessions", "devices"}
    assert f"tenant.{name}.events" in backends.topics(f"tenant.{name}.")
    # Data claims stay registered to the tenant name; access claims are gone.
    kinds = {c["kind"] for c in backends.claims(name)}
    assert kinds == {"mongo-database", "mongo-index", "kafka-topic"}
    assert "DataRetained" in kube.reasons(name)

    # The namespace finishes terminating, then the same name is provisioned again on its data.
    wait_for(lambda: kube.namespace(name) is None, timeout=90, what="the old namespace gone")
    with tenants(kube, name):
        kube.apply(name, spec)
        kube.wait_condition(name, "Ready")
        assert backends.mongo[database(name)]["users"].find_one({"user_id": "u1"}) is not None
        assert backends.redis_user(f"tenant-{name}") is not None


def test_legal_hold_blocks_data_deletion_until_released(
    running_operator: OperatorProcess, kube: Kube, backends: Backends
) -> None:
    name = unique("e2e-hold")
    hold_id = f"hold-{uuid.uuid4().hex[:8]}"
    holds = backends.mongo["caas_platform"][HOLDS]
    with tenants(kube, name):
        kube.apply(name, {"deletionPolicy": "Delete"})
        kube.wait_condition(name, "Ready")
        hold = LegalHold(
            hold_id=hold_id, tenant=name, reason="case 42", created_at=datetime.now(UTC)
        )
        holds.insert_one(to_document(hold))
        try:
            kube.delete(name)
            blocked = wait_for(
                lambda: (
                    (kube.condition(name, "Synced") or {}).get("reason") == "DeletionBlocked"
                    and kube.condition(name, "Synced")
                ),
                what="Synced=False/DeletionBlocked",
            )
            assert hold_id in blocked["message"]
            assert "case 42" in blocked["message"]
            ready = kube.condition(name, "Ready")
            assert ready is not None
            assert ready["reason"] == "Deleting"
            assert "DeletionBlocked" in kube.reasons(name)
            # Access is revoked at once; the data stays while the hold is active.
            _access_revoked(kube, backends, name)
            assert backends.collections(name) >= {"users", "sessions", "devices"}
            assert kube.get(name) is not None
        finally:
            holds.update_one({"_id": hold_id}, {"$set": {"releasedAt": datetime.now(UTC)}})
        # The teardown looks again within a minute and drops the data.
        kube.wait_gone(name, timeout=90)
        assert backends.collections(name) == set()
        assert backends.topics(f"tenant.{name}.") == {}
        assert backends.claims(name) == []
    holds.delete_one({"_id": hold_id})

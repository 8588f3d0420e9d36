"""The decisions the Tenant's provisioning steps take on what they found (no servers)."""

import pytest

from caas_core.domain.collections import CollectionSpec, IndexSpec
from caas_core.resources.tenant import DriftBackend
from caas_operator.shared.conditions import KAFKA_READY, MONGO_READY
from caas_operator.shared.ownership import Claim, ResourceKind, credential_hash
from caas_operator.tenant.plan import index_changes
from caas_operator.tenant.steps import (
    StepNotes,
    is_drift,
    mongo_password,
    needs_write,
    not_owned,
    registry_down,
    scram_password,
    scram_rotated,
    secret_changes,
    waiting_for_secret,
)

pytestmark = pytest.mark.unit

LABELS = {"platform.caas.io/tenant": "acme", "app.kubernetes.io/managed-by": "caas-operator"}


def claim(kind: ResourceKind, name: str, password: str | None = None) -> Claim:
    hashed = credential_hash(password) if password is not None else None
    return Claim(kind=kind, name=name, tenant="acme", credential_hash=hashed)


# --- drift versus first provisioning --------------------------------------------------------------


@pytest.mark.parametrize(
    ("steady", "known", "drift"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_drift_only_on_a_converged_backend_for_an_object_made_before(
    steady: bool, known: bool, drift: bool
) -> None:
    assert is_drift(steady=steady, known=known) is drift


def test_notes_record_drift_as_a_corrected_finding() -> None:
    notes = StepNotes(steady=True)
    notes.change(DriftBackend.KAFKA, "topic t", found="deleted; re-created", action="created t")
    outcome = notes.outcome(KAFKA_READY, ok=True, reason="TopicsReady", message="")
    assert outcome.actions == ()
    assert [(f.object, f.found, f.corrected) for f in outcome.findings] == [
        ("topic t", "deleted; re-created", True)
    ]


def test_notes_record_first_provisioning_as_an_action() -> None:
    first = StepNotes(steady=False)
    first.change(DriftBackend.KAFKA, "topic t", found="deleted", action="created t")
    claimed_now = StepNotes(steady=True)
    claimed_now.change(
        DriftBackend.KAFKA, "topic t", found="deleted", action="created t", known=False
    )
    for notes in (first, claimed_now):
        outcome = notes.outcome(KAFKA_READY, ok=True, reason="TopicsReady", message="")
        assert outcome.actions == ("created t",)
        assert outcome.findings == ()


# --- the namespace and the credentials Secret -----------------------------------------------------


def test_write_when_a_label_or_the_owner_is_missing() -> None:
    owners = frozenset({"uid-1"})
    assert not needs_write(labels=LABELS, owner_uids=owners, want_labels=LABELS, owner_uid="uid-1")
    assert needs_write(labels={}, owner_uids=owners, want_labels=LABELS, owner_uid="uid-1")
    edited = LABELS | {"platform.caas.io/tenant": "other"}
    assert needs_write(labels=edited, owner_uids=owners, want_labels=LABELS, owner_uid="uid-1")
    assert needs_write(labels=LABELS, owner_uids=frozenset(), want_labels=LABELS, owner_uid="uid-1")
    extra = LABELS | {"team": "x"}  # labels someone added are left alone
    assert not needs_write(labels=extra, owner_uids=owners, want_labels=LABELS, owner_uid="uid-1")


def test_new_secret_keys_are_provisioning_not_tampering() -> None:
    changes = secret_changes({"redisPassword": "a"}, {"redisPassword": "a", "kafkaPassword": "k"})
    assert changes.changed == ("kafkaPassword",)
    assert changes.tampered == ()


def test_edited_and_removed_secret_keys_are_tampering() -> None:
    current = {"redisPassword": "edited", "stray": "x", "mongodbDatabase": "tenant_acme"}
    desired = {"redisPassword": "a", "mongodbDatabase": "tenant_acme", "kafkaPassword": "k"}
    changes = secret_changes(current, desired)
    assert changes.changed == ("kafkaPassword", "redisPassword", "stray")
    assert changes.tampered == ("redisPassword", "stray")


def test_an_unchanged_secret_has_no_changes() -> None:
    changes = secret_changes({"a": "1"}, {"a": "1"})
    assert (changes.changed, changes.tampered) == ((), ())


# --- passwords in the backends: the registry's credential hash against the Secret -------------


def test_mongo_password_set_on_first_claim_and_recorded() -> None:
    decision = mongo_password(None, "pw")
    assert decision.set_password
    assert decision.record_hash
    assert decision.wanted_hash == credential_hash("pw")


def test_mongo_password_left_alone_when_the_hash_matches() -> None:
    decision = mongo_password(claim(ResourceKind.MONGO_USER, "tenant-acme", "pw"), "pw")
    assert not decision.set_password
    assert not decision.record_hash


def test_mongo_password_reset_when_the_secret_was_edited() -> None:
    decision = mongo_password(claim(ResourceKind.MONGO_USER, "tenant-acme", "old"), "new")
    assert decision.set_password
    assert decision.record_hash


def test_mongo_password_set_on_a_claim_without_hash() -> None:
    decision = mongo_password(claim(ResourceKind.MONGO_USER, "tenant-acme"), "pw")
    assert decision.set_password
    assert decision.record_hash


def test_scram_password_first_claim_carries_the_hash() -> None:
    decision = scram_password(exists=False, claim=None, password="pw")
    # The new claim is written with the hash: nothing to record afterwards.
    assert decision.set_password
    assert not decision.record_hash


def test_scram_credential_deleted_is_recreated_with_the_same_password() -> None:
    registered = claim(ResourceKind.KAFKA_USER, "tenant-acme", "pw")
    decision = scram_password(exists=False, claim=registered, password="pw")
    assert decision.set_password
    assert not decision.record_hash
    assert not scram_rotated(exists=False, claim=registered)


def test_scram_password_untouched_when_hash_matches() -> None:
    registered = claim(ResourceKind.KAFKA_USER, "tenant-acme", "pw")
    decision = scram_password(exists=True, claim=registered, password="pw")
    assert not decision.set_password
    assert not decision.record_hash


def test_scram_password_rotated_from_the_secret() -> None:
    registered = claim(ResourceKind.KAFKA_USER, "tenant-acme", "old")
    decision = scram_password(exists=True, claim=registered, password="new")
    assert decision.set_password
    assert decision.record_hash
    assert decision.wanted_hash == credential_hash("new")
    assert scram_rotated(exists=True, claim=registered)


def test_scram_password_set_on_a_claim_from_before_hashes() -> None:
    registered = claim(ResourceKind.KAFKA_USER, "tenant-acme")
    decision = scram_password(exists=True, claim=registered, password="pw")
    assert decision.set_password
    assert decision.record_hash
    assert not scram_rotated(exists=True, claim=registered)  # not announced as a rotation


# --- index claims and removals --------------------------------------------------------------------


def test_index_claims_and_removals() -> None:
    collections = (
        CollectionSpec(name="users", indexes=(IndexSpec(name="by_email", keys=(("email", 1),)),)),
        CollectionSpec(name="orders", indexes=(IndexSpec(name="by_day", keys=(("day", -1),)),)),
    )
    claims = {
        (ResourceKind.MONGO_INDEX, "tenant_acme.users.by_email"): None,  # kept
        (ResourceKind.MONGO_INDEX, "tenant_acme.orders.by_customer"): None,  # out of the spec
        (ResourceKind.MONGO_DATABASE, "tenant_acme"): None,
    }
    unclaimed, removed = index_changes("tenant_acme", claims=claims, collections=collections)
    assert unclaimed == [(ResourceKind.MONGO_INDEX, "tenant_acme.orders.by_day")]
    assert removed == [("tenant_acme.orders.by_customer", "orders", "by_customer")]


def test_nothing_to_claim_or_drop_when_converged() -> None:
    collections = (
        CollectionSpec(name="users", indexes=(IndexSpec(name="by_email", keys=(("email", 1),)),)),
    )
    claims = [(ResourceKind.MONGO_INDEX, "tenant_acme.users.by_email")]
    assert index_changes("tenant_acme", claims=claims, collections=collections) == ([], [])


# --- outcomes of a step that stops ----------------------------------------------------------------


def test_stopping_outcomes() -> None:
    foreign = not_owned(MONGO_READY, "database tenant_acme is someone else's")
    assert (foreign.ok, foreign.reason, foreign.retryable) == (False, "NotOwned", False)
    down = registry_down(KAFKA_READY, "ServerSelectionTimeoutError")
    assert down.reason == "RegistryUnavailable"
    assert down.retryable
    assert "caas_platform.tenant_resources" in down.message
    assert "ServerSelectionTimeoutError" in down.message
    waiting = waiting_for_secret(KAFKA_READY, "Kafka SCRAM")
    assert waiting.reason == "CredentialsNotStored"
    assert waiting.retryable

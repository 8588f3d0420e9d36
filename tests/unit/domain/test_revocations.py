"""A deleted tenant's revocation covers everything issued before it, for as long as it matters."""

from datetime import UTC, datetime, timedelta

from caas_core.domain.revocations import (
    API_KEY_HORIZON,
    MAX_REFRESH_LIFETIME,
    TEARDOWN_PROPAGATION,
    TENANT_DELETED,
    Revocation,
    RevocationKind,
    api_key_changed,
    tenant_deleted,
)

DELETED = datetime(2026, 11, 24, 12, 0, 0, 250_000, tzinfo=UTC)
TEARDOWN = DELETED + timedelta(seconds=3)


def test_tenant_deleted_covers_logins_until_the_teardown_has_propagated() -> None:
    revocation = tenant_deleted("acme", deleted_at=DELETED, now=TEARDOWN)
    assert revocation.kind is RevocationKind.TENANT
    assert revocation.tenant == "acme"
    assert revocation.subject is None
    assert revocation.reason == TENANT_DELETED
    # Whole seconds, rounded up: a token issued in the teardown's last second is covered too.
    assert revocation.not_before == int((TEARDOWN + TEARDOWN_PROPAGATION).timestamp()) + 1


def test_a_retried_teardown_yields_the_same_fact() -> None:
    first = tenant_deleted("acme", deleted_at=DELETED, now=TEARDOWN)
    retried = tenant_deleted("acme", deleted_at=DELETED, now=TEARDOWN + timedelta(minutes=30))
    assert first.id == retried.id == f"tenant-deleted:acme:{int(DELETED.timestamp())}"
    again = tenant_deleted("acme", deleted_at=DELETED + timedelta(days=1), now=TEARDOWN)
    assert again.id != first.id  # a later Tenant of the same name, deleted again


def test_it_outlives_the_longest_refresh_family_issued_before_it() -> None:
    revocation = tenant_deleted("acme", deleted_at=DELETED, now=TEARDOWN)
    assert revocation.not_before is not None
    last_family_end = revocation.not_before + MAX_REFRESH_LIFETIME.total_seconds()
    assert last_family_end <= revocation.expires_at < last_family_end + 1


def test_api_key_changed_outlives_every_cache() -> None:
    revocation = api_key_changed("acme", "k1", now=DELETED, reason=TENANT_DELETED)
    assert revocation.kind is RevocationKind.API_KEY
    assert revocation.subject == "k1"
    assert revocation.expires_at >= (DELETED + API_KEY_HORIZON).timestamp()


def test_they_survive_the_wire_format() -> None:
    for revocation in (
        tenant_deleted("acme", deleted_at=DELETED, now=TEARDOWN),
        api_key_changed("acme", "k1", now=DELETED, reason="revoked"),
    ):
        assert Revocation.from_dict(revocation.to_dict()) == revocation

"""A deleted tenant's revocation covers everything issued before it, for as long as it matters."""

from datetime import UTC, datetime, timedelta

from caas_core.domain.revocations import (
    MAX_REFRESH_LIFETIME,
    TENANT_DELETED,
    Revocation,
    RevocationKind,
    tenant_deleted,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, 250_000, tzinfo=UTC)


def test_tenant_deleted_revokes_the_whole_tenant_from_the_next_second() -> None:
    revocation = tenant_deleted("acme", now=NOW)
    assert revocation.kind is RevocationKind.TENANT
    assert revocation.tenant == "acme"
    assert revocation.subject is None
    # Tokens carry whole-second `iat`s: one issued in this very second is covered too.
    assert revocation.not_before == int(NOW.timestamp()) + 1
    assert revocation.reason == TENANT_DELETED
    assert revocation.id == f"tenant:acme:{revocation.not_before}"


def test_it_outlives_the_longest_refresh_family_issued_before_it() -> None:
    revocation = tenant_deleted("acme", now=NOW)
    last_family_end = NOW + MAX_REFRESH_LIFETIME
    assert revocation.expires_at >= last_family_end.timestamp()
    assert revocation.expires_at < (last_family_end + timedelta(seconds=2)).timestamp()


def test_it_survives_the_wire_format() -> None:
    revocation = tenant_deleted("acme", now=NOW)
    assert Revocation.from_dict(revocation.to_dict()) == revocation

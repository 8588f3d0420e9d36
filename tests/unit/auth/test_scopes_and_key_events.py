"""Scope validation, and `api_key` revocation events (cache invalidation, tokens unaffected)."""

import pytest

from caas_control_plane.auth.revocation import Revocation, RevocationKind, RevocationSet
from caas_control_plane.auth.scopes import KNOWN, has_scope, is_valid_scope


@pytest.mark.parametrize("scope", [*sorted(KNOWN), "*", "tokens:*", "tenant:*", "sessions:*"])
def test_known_scopes_and_wildcards_are_valid(scope: str) -> None:
    assert is_valid_scope(scope)


@pytest.mark.parametrize("scope", ["", "tokens", "tokens:launch", "rockets:*", "*:*", "tenant:"])
def test_unknown_scopes_are_invalid(scope: str) -> None:
    assert not is_valid_scope(scope)


def test_resource_wildcards_cover_only_their_resource() -> None:
    assert has_scope(["tenant:*"], "tenant:write")
    assert not has_scope(["tenant:*"], "keys:manage")
    assert not has_scope([], "tenant:read")


def _key_event(revoked_at: float, *, expires_at: int = 2_000) -> Revocation:
    return Revocation(
        id=f"api_key:acme:k1:{revoked_at}", kind=RevocationKind.API_KEY, tenant="acme",
        subject="k1", expires_at=expires_at, revoked_at=revoked_at, reason="revoked",
    )  # fmt: skip


def test_api_key_events_record_the_latest_change_and_revoke_no_token() -> None:
    state = RevocationSet()
    assert state.api_key_changed_at("k1") == 0.0
    assert state.apply(_key_event(100.0), now=50)
    assert state.apply(_key_event(90.0), now=50)  # another event, older: the latest time wins
    assert state.api_key_changed_at("k1") == 100.0
    assert not state.apply(_key_event(100.0), now=50)  # the same event again changes nothing
    assert state.check(tenant="acme", user="k1", session="k1", jti="k1", issued_at=1) is None
    state.prune(now=3_000)
    assert state.api_key_changed_at("k1") == 0.0


def test_api_key_events_round_trip_and_need_a_subject() -> None:
    event = _key_event(100.0)
    assert Revocation.from_dict(event.to_dict()) == event
    with pytest.raises(ValueError, match="subject"):
        Revocation(id="x", kind=RevocationKind.API_KEY, tenant="acme", expires_at=1, revoked_at=1.0)

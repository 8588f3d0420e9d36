"""Pure cores of the token lifecycle: key lifecycle, revocation set, successor sealing, KEKs."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from caas_control_plane.auth import key_lifecycle as kl
from caas_control_plane.auth.kek import derive_subkey, kek_id, new_kek_text, parse_kek
from caas_control_plane.auth.revocation import Revocation, RevocationKind, RevocationSet
from caas_control_plane.auth.scopes import has_scope
from caas_control_plane.auth.signing import SigningKey
from caas_control_plane.auth.successor import open_successor, seal_successor

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VERIFY_FOR = timedelta(minutes=15, seconds=30)


def record(generation: int, activates: datetime) -> kl.KeyRecord:
    return kl.KeyRecord(
        generation=generation, key=SigningKey.generate(), activates_at=activates, created_at=T0
    )


def test_key_lifecycle_upcoming_active_retiring_retired() -> None:
    first = record(0, T0)
    second = record(1, T0 + timedelta(hours=1))
    records = [second, first]
    before = kl.ring_at(records, now=T0 + timedelta(minutes=30), verify_for=VERIFY_FOR)
    assert before.active.kid == first.key.kid
    assert second.key.kid in before.verifying_keys(now=T0)  # published before it signs
    assert kl.states(records, now=T0, verify_for=VERIFY_FOR) == {
        0: kl.KeyState.ACTIVE,
        1: kl.KeyState.UPCOMING,
    }
    after = kl.ring_at(records, now=T0 + timedelta(hours=1), verify_for=VERIFY_FOR)
    assert after.active.kid == second.key.kid
    assert first.key.kid in after.verifying_keys(now=T0 + timedelta(hours=1))
    later = T0 + timedelta(hours=1) + VERIFY_FOR + timedelta(seconds=1)
    assert first.key.kid not in kl.ring_at(
        records, now=later, verify_for=VERIFY_FOR
    ).verifying_keys(now=later)
    assert kl.states(records, now=later, verify_for=VERIFY_FOR)[0] is kl.KeyState.RETIRED
    assert kl.next_change(records, now=T0, verify_for=VERIFY_FOR) == second.activates_at
    assert kl.prunable(records, now=later + timedelta(days=2), verify_for=VERIFY_FOR) == (0,)


def test_rotation_due_only_when_old_and_no_successor_waits() -> None:
    first = record(0, T0)
    age = timedelta(days=30)
    assert not kl.rotation_due([first], now=T0 + timedelta(days=29), max_age=age)
    assert kl.rotation_due([first], now=T0 + age, max_age=age)
    waiting = [first, record(1, T0 + age + timedelta(minutes=10))]
    assert not kl.rotation_due(waiting, now=T0 + age, max_age=age)
    assert not kl.rotation_due([first], now=T0 + age, max_age=timedelta(0))
    assert kl.next_generation(waiting) == 2
    with pytest.raises(ValueError, match="unique"):
        kl.ring_at(
            [first, kl.KeyRecord(generation=0, key=first.key, activates_at=T0, created_at=T0)],
            now=T0,
            verify_for=VERIFY_FOR,
        )


def revocation(kind: RevocationKind, **fields: object) -> Revocation:
    base: dict[str, object] = {
        "id": secrets.token_hex(4),
        "kind": kind,
        "tenant": "acme",
        "expires_at": 2000,
        "revoked_at": 1000.0,
    }
    return Revocation(**{**base, **fields})  # type: ignore[arg-type]


def test_revocation_set_checks_each_kind_and_forgets_expired() -> None:
    state = RevocationSet()
    claims = {"tenant": "acme", "user": "u", "session": "s", "jti": "j", "issued_at": 1500}
    assert state.check(**claims) is None  # type: ignore[arg-type]
    assert state.apply(revocation(RevocationKind.TOKEN, subject="j"), now=1000)
    assert state.check(**claims) is RevocationKind.TOKEN  # type: ignore[arg-type]
    state.apply(revocation(RevocationKind.SESSION, subject="s2"), now=1000)
    assert state.session_revoked(tenant="acme", session="s2")
    assert not state.session_revoked(tenant="other", session="s2")  # tenants are separate
    user = revocation(RevocationKind.USER, subject="u2", not_before=1600)
    state.apply(user, now=1000)
    assert not state.apply(user, now=1000)  # same id twice: one fact
    assert state.check(tenant="acme", user="u2", session="x", jti="y", issued_at=1599)
    assert state.check(tenant="acme", user="u2", session="x", jti="y", issued_at=1600) is None
    state.apply(revocation(RevocationKind.TENANT, not_before=1700), now=1000)
    assert state.check(tenant="acme", user="z", session="x", jti="y", issued_at=1650)
    assert state.not_before(tenant="acme", user="u2") == 1700
    assert state.prune(now=2001) == 4
    assert len(state) == 0


def test_revocation_round_trips_and_rejects_malformed_events() -> None:
    original = revocation(RevocationKind.USER, subject="u", not_before=5)
    assert Revocation.from_dict(original.to_dict()) == original
    with pytest.raises(ValueError, match="lacks"):
        Revocation.from_dict({"kind": "token"})
    with pytest.raises(ValueError):
        Revocation.from_dict({**original.to_dict(), "expiresAt": "soon"})
    with pytest.raises(ValueError):
        revocation(RevocationKind.TOKEN)  # no subject
    with pytest.raises(ValueError):
        revocation(RevocationKind.TENANT)  # no not_before


def test_successor_opens_only_for_the_old_token_its_family_and_in_time() -> None:
    key = secrets.token_bytes(32)
    sealed = seal_successor(
        "caas_rt_next", presented="caas_rt_old", family_id="f", server_key=key,
        expires_at=T0 + timedelta(seconds=10),
    )  # fmt: skip

    def opened(**changes: object) -> str | None:
        args: dict[str, object] = {
            "presented": "caas_rt_old", "family_id": "f", "server_key": key, "now": T0,
        }  # fmt: skip
        return open_successor(sealed, **{**args, **changes})  # type: ignore[arg-type]

    assert opened() == "caas_rt_next"
    assert opened(presented="caas_rt_other") is None
    assert opened(family_id="g") is None
    assert opened(server_key=secrets.token_bytes(32)) is None
    assert opened(now=T0 + timedelta(seconds=11)) is None
    assert open_successor("garbage", presented="x", family_id="f", server_key=key, now=T0) is None


def test_keks_parse_strictly_and_derive_independent_subkeys() -> None:
    text = new_kek_text()
    assert len(parse_kek(text)) == 32
    with pytest.raises(ValueError, match="must be 32 bytes"):
        parse_kek("")
    for bad in ("not base64!", "AAAA", "A" * 43):
        with pytest.raises(ValueError, match="a KEK must be") as info:
            parse_kek(bad)
        assert bad not in str(info.value)  # the error never echoes the value
    kek = derive_subkey("s" * 40, info=b"a")
    assert kek != derive_subkey("s" * 40, info=b"b")
    assert kek_id(kek) == kek_id(kek)
    assert kek_id(kek).startswith("kek-")


def test_scopes_fail_closed() -> None:
    assert has_scope(["tokens:issue"], "tokens:issue")
    assert has_scope(["tokens:*"], "tokens:revoke")
    assert has_scope(["*"], "tokens:introspect")
    assert not has_scope([], "tokens:issue")
    assert not has_scope(["tokens:introspect"], "tokens:issue")

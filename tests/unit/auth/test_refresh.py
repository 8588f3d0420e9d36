"""Refresh tokens and the family state machine: every transition of the table, and its edges."""

import hashlib
import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from caas_control_plane.auth.refresh import (
    MAX_PREVIOUS_HASHES,
    TOKEN_PREFIX,
    TRANSITIONS,
    Decision,
    Family,
    FamilyState,
    MalformedRefreshTokenError,
    Outcome,
    Presented,
    RevocationReason,
    Status,
    decide,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
    parse_refresh_token,
    revoke,
    rotate,
    start_family,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=10)
OLDEST, PREDECESSOR, CURRENT, FOREIGN = "a" * 64, "b" * 64, "c" * 64, "f" * 64
PRESENTED_HASH = {
    Presented.CURRENT: CURRENT,
    Presented.RECENT_PREDECESSOR: PREDECESSOR,
    Presented.STALE: OLDEST,
    Presented.FOREIGN: FOREIGN,
}

# The specification, written out independently of the module's table.
EXPECTED = {
    ("active", "current"): ("rotate", "active"),
    ("active", "recent_predecessor"): ("grace_replay", "active"),
    ("active", "stale"): ("reuse_detected", "revoked"),
    ("active", "foreign"): ("unknown", "active"),
    ("expired", "current"): ("expired", "active"),
    ("expired", "recent_predecessor"): ("expired", "active"),
    ("expired", "stale"): ("reuse_detected", "revoked"),
    ("expired", "foreign"): ("unknown", "active"),
    ("revoked", "current"): ("revoked", "revoked"),
    ("revoked", "recent_predecessor"): ("revoked", "revoked"),
    ("revoked", "stale"): ("revoked", "revoked"),
    ("revoked", "foreign"): ("unknown", "revoked"),
}


def family(**changes: object) -> Family:
    """A family on its third token: OLDEST -> PREDECESSOR -> CURRENT, rotated a second ago."""
    base = Family(
        id="fam-1",
        tenant_id="acme",
        user_id="user-1",
        session_id="sess-1",
        current_hash=CURRENT,
        previous_hashes=(OLDEST, PREDECESSOR),
        rotated_at=NOW - timedelta(seconds=1),
        expires_at=NOW + timedelta(days=30),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def family_with_status(status: Status) -> Family:
    if status is Status.EXPIRED:
        return family(expires_at=NOW)
    if status is Status.REVOKED:
        return revoke(family(), reason=RevocationReason.LOGOUT, now=NOW - timedelta(seconds=1))
    return family()


# --- tokens ------------------------------------------------------------------------------------


def test_new_tokens_name_their_family_and_carry_256_random_bits() -> None:
    family = new_family_id()
    tokens = {new_refresh_token(family) for _ in range(50)}
    assert len(tokens) == 50
    assert re.fullmatch(r"fam_[A-Za-z0-9_-]{22}", family)
    for token in tokens:
        assert re.fullmatch(r"caas_rt_[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", token)
        assert token.startswith(TOKEN_PREFIX)
        assert parse_refresh_token(token).family_id == family


def test_a_token_is_only_minted_for_a_family_id() -> None:
    with pytest.raises(ValueError, match="not a refresh-family id"):
        new_refresh_token("ses_" + "A" * 22)


def test_hash_is_hex_sha256_of_the_whole_token() -> None:
    token = new_refresh_token(new_family_id())
    assert hash_refresh_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert parse_refresh_token(token).token_hash == hash_refresh_token(token)
    assert hash_refresh_token(token) != hash_refresh_token(new_refresh_token(new_family_id()))


_FAMILY = "A" * 22
_SECRET = "A" * 43


@pytest.mark.parametrize(
    "token",
    [
        "",
        "caas_rt_",
        "caas_sk_" + _FAMILY + "." + _SECRET,
        "caas_rt_" + _SECRET,  # the earlier format, without a family
        "caas_rt_" + _FAMILY + "." + "A" * 42,
        "caas_rt_" + _FAMILY + "." + "A" * 44,
        "caas_rt_" + _FAMILY + "_" + _SECRET,  # no separator
        "caas_rt_" + "A" * 21 + "." + _SECRET + "A",  # separator misplaced
        "caas_rt_" + _FAMILY + "." + "A" * 42 + "!",
        "caas_rt_" + _FAMILY + "." + "A" * 42 + "B",  # non-canonical final character
        "caas_rt_" + "A" * 21 + "B" + "." + _SECRET,  # non-canonical family
        "caas_rt_" + _FAMILY + "." + "é" * 43,
    ],
)
def test_malformed_tokens_are_refused_before_any_lookup(token: str) -> None:
    with pytest.raises(MalformedRefreshTokenError):
        parse_refresh_token(token)
    with pytest.raises(MalformedRefreshTokenError):
        hash_refresh_token(token)


# --- the table ---------------------------------------------------------------------------------


def test_the_table_covers_every_status_and_presentation_once() -> None:
    assert set(TRANSITIONS) == set(itertools.product(Status, Presented))
    actual = {
        (status.value, presented.value): (row.outcome.value, row.next_state.value)
        for (status, presented), row in TRANSITIONS.items()
    }
    assert actual == EXPECTED


@pytest.mark.parametrize(("status", "presented"), list(itertools.product(Status, Presented)))
def test_decide_follows_the_table(status: Status, presented: Presented) -> None:
    before = family_with_status(status)
    presented_hash = PRESENTED_HASH[presented]
    assert before.status(now=NOW) is status
    assert before.classify(presented_hash=presented_hash, now=NOW, grace=GRACE) is presented

    decision = decide(before, presented_hash=presented_hash, now=NOW, grace=GRACE)

    outcome, next_state = EXPECTED[status.value, presented.value]
    assert decision.outcome == outcome
    assert decision.family is not None
    assert decision.family.state == next_state
    if decision.outcome is Outcome.GRACE_REPLAY:
        assert decision.successor_hash == CURRENT
    else:
        assert decision.successor_hash is None
    if decision.outcome is Outcome.REUSE_DETECTED:
        assert decision.family == replace(
            before,
            state=FamilyState.REVOKED,
            reason=RevocationReason.REUSE_DETECTED,
            revoked_at=NOW,
        )
    else:
        assert decision.family is before  # nothing to persist


def test_a_hash_no_family_knows_is_unknown() -> None:
    assert decide(None, presented_hash=FOREIGN, now=NOW, grace=GRACE) == Decision(
        Outcome.UNKNOWN, None
    )


def test_revocation_keeps_its_first_reason_when_reuse_follows() -> None:
    revoked = family_with_status(Status.REVOKED)
    decision = decide(revoked, presented_hash=OLDEST, now=NOW, grace=GRACE)
    assert decision.family is revoked
    assert revoked.reason is RevocationReason.LOGOUT


# --- edges of the classification ---------------------------------------------------------------


def test_grace_ends_inclusively_at_its_boundary() -> None:
    rotated = NOW - GRACE
    at_edge = decide(family(rotated_at=rotated), presented_hash=PREDECESSOR, now=NOW, grace=GRACE)
    assert at_edge.outcome is Outcome.GRACE_REPLAY
    past = decide(
        family(rotated_at=rotated - timedelta(microseconds=1)),
        presented_hash=PREDECESSOR,
        now=NOW,
        grace=GRACE,
    )
    assert past.outcome is Outcome.REUSE_DETECTED


def test_zero_grace_treats_any_replay_as_reuse() -> None:
    decision = decide(family(), presented_hash=PREDECESSOR, now=NOW, grace=timedelta(0))
    assert decision.outcome is Outcome.REUSE_DETECTED


def test_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="grace"):
        decide(family(), presented_hash=CURRENT, now=NOW, grace=-GRACE)


def test_expiry_is_inclusive() -> None:
    ends = family(expires_at=NOW + timedelta(microseconds=1))
    assert decide(ends, presented_hash=CURRENT, now=NOW, grace=GRACE).outcome is Outcome.ROTATE
    assert ends.status(now=NOW + timedelta(microseconds=1)) is Status.EXPIRED


# --- scenarios ---------------------------------------------------------------------------------


def test_concurrent_refresh_then_theft() -> None:
    t1, t2, t3 = (hash_refresh_token(new_refresh_token(new_family_id())) for _ in range(3))
    fam = start_family(
        family_id="f",
        tenant_id="acme",
        user_id="u",
        session_id="s",
        token_hash=t1,
        now=NOW,
        lifetime=timedelta(days=30),
    )
    # Two tabs refresh with t1 at once: the first rotates, the second gets the same successor.
    first = decide(fam, presented_hash=t1, now=NOW, grace=GRACE)
    assert first.outcome is Outcome.ROTATE
    fam = rotate(fam, new_hash=t2, now=NOW)
    second = decide(fam, presented_hash=t1, now=NOW + timedelta(seconds=2), grace=GRACE)
    assert second == Decision(Outcome.GRACE_REPLAY, fam, successor_hash=t2)
    # The client moves on; later an attacker replays the stolen t1.
    fam = rotate(fam, new_hash=t3, now=NOW + timedelta(minutes=15))
    theft = decide(fam, presented_hash=t1, now=NOW + timedelta(minutes=16), grace=GRACE)
    assert theft.outcome is Outcome.REUSE_DETECTED
    assert theft.family is not None
    # Once revoked, even the legitimate current token is refused.
    after = decide(theft.family, presented_hash=t3, now=NOW + timedelta(minutes=17), grace=GRACE)
    assert after.outcome is Outcome.REVOKED


def test_the_predecessor_of_a_newer_rotation_is_stale_even_within_grace() -> None:
    fam = rotate(family(), new_hash="d" * 64, now=NOW)
    decision = decide(fam, presented_hash=PREDECESSOR, now=NOW, grace=GRACE)
    assert decision.outcome is Outcome.REUSE_DETECTED


# --- rotate, revoke, start ---------------------------------------------------------------------


def test_rotate_moves_current_into_history() -> None:
    rotated = rotate(family(), new_hash="d" * 64, now=NOW)
    assert rotated.current_hash == "d" * 64
    assert rotated.previous_hashes == (OLDEST, PREDECESSOR, CURRENT)
    assert rotated.rotated_at == NOW
    assert rotated.expires_at == family().expires_at  # rotation never extends the lifetime


def test_rotate_refuses_revoked_families_and_old_hashes() -> None:
    with pytest.raises(ValueError, match="active"):
        rotate(family_with_status(Status.REVOKED), new_hash="d" * 64, now=NOW)
    for old in (CURRENT, PREDECESSOR, OLDEST):
        with pytest.raises(ValueError, match="new token"):
            rotate(family(), new_hash=old, now=NOW)


def test_history_is_capped_and_forgotten_tokens_read_as_unknown() -> None:
    fam = start_family(
        family_id="f",
        tenant_id="t",
        user_id="u",
        session_id="s",
        token_hash="h0",
        now=NOW,
        lifetime=timedelta(days=1),
    )
    for index in range(1, MAX_PREVIOUS_HASHES + 2):
        fam = rotate(fam, new_hash=f"h{index}", now=NOW)
    assert len(fam.previous_hashes) == MAX_PREVIOUS_HASHES
    assert "h0" not in fam.previous_hashes
    assert decide(fam, presented_hash="h0", now=NOW, grace=GRACE).outcome is Outcome.UNKNOWN
    assert decide(fam, presented_hash="h1", now=NOW, grace=GRACE).outcome is Outcome.REUSE_DETECTED


def test_revoke_is_idempotent() -> None:
    once = revoke(family(), reason=RevocationReason.ADMIN, now=NOW)
    assert (once.state, once.reason, once.revoked_at) == (
        FamilyState.REVOKED,
        RevocationReason.ADMIN,
        NOW,
    )
    twice = revoke(once, reason=RevocationReason.LOGOUT, now=NOW + GRACE)
    assert twice is once


def test_start_family() -> None:
    fam = start_family(
        family_id="f",
        tenant_id="t",
        user_id="u",
        session_id="s",
        token_hash=CURRENT,
        now=NOW,
        lifetime=timedelta(days=30),
    )
    assert fam.status(now=NOW) is Status.ACTIVE
    assert (fam.previous_hashes, fam.rotated_at) == ((), None)
    assert fam.expires_at == NOW + timedelta(days=30)
    with pytest.raises(ValueError, match="lifetime"):
        start_family(
            family_id="f",
            tenant_id="t",
            user_id="u",
            session_id="s",
            token_hash=CURRENT,
            now=NOW,
            lifetime=timedelta(0),
        )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"state": FamilyState.REVOKED}, "reason"),
        ({"reason": RevocationReason.LOGOUT}, "reason"),
        ({"current_hash": PREDECESSOR}, "current"),
        ({"rotated_at": None}, "rotated_at"),
        ({"previous_hashes": ()}, "rotated_at"),
    ],
)
def test_family_invariants(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        family(**changes)

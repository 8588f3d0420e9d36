"""Opaque refresh tokens and the refresh-family state machine: rotation and reuse detection
(RFC 9700 §4.14.2), written as one explicit transition table."""

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from caas_control_plane.auth._jose import b64url_decode, b64url_encode

TOKEN_PREFIX: Final = "caas_rt_"  # noqa: S105 - lets secret scanners and humans recognise a leaked token
FAMILY_PREFIX: Final = "fam_"
FAMILY_BYTES: Final = 16
TOKEN_BYTES: Final = 32
_FAMILY_CHARS: Final = 22  # 16 bytes are 22 unpadded base64url characters
_SECRET_CHARS: Final = 43  # 32 bytes are 43
TOKEN_LENGTH: Final = len(TOKEN_PREFIX) + _FAMILY_CHARS + 1 + _SECRET_CHARS
# Earlier tokens beyond this many rotations are forgotten (their reuse reads as UNKNOWN and is
# refused, without revoking the family): it bounds the stored document.
MAX_PREVIOUS_HASHES: Final = 100


class MalformedRefreshTokenError(ValueError):
    """The text is not a refresh token of our format."""


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """What a presented refresh token says about itself: its family, and its lookup hash."""

    family_id: str
    token_hash: str


def new_family_id() -> str:
    """A fresh refresh-family id: the prefix and 128 random bits in base64url."""
    return FAMILY_PREFIX + b64url_encode(secrets.token_bytes(FAMILY_BYTES))


def new_refresh_token(family_id: str) -> str:
    """A fresh token of `family_id`: `caas_rt_<family>.<256 random bits>`, base64url.

    The family part makes the token self-locating: a refresh reads one family document by `_id`
    instead of first resolving a token-hash pointer, so no pointer document is written per token.
    The family id is not a secret (a token is only accepted when its hash is the family's).
    """
    if not family_id.startswith(FAMILY_PREFIX) or len(family_id) != 4 + _FAMILY_CHARS:
        raise ValueError(f"not a refresh-family id: {family_id!r}")
    secret = b64url_encode(secrets.token_bytes(TOKEN_BYTES))
    return f"{TOKEN_PREFIX}{family_id[len(FAMILY_PREFIX) :]}.{secret}"


def parse_refresh_token(token: str) -> PresentedToken:
    """The family a token names and the token's hash; malformed text is refused before any
    lookup."""
    if len(token) != TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        raise MalformedRefreshTokenError("not a caas refresh token")
    family, dot, secret = token[len(TOKEN_PREFIX) :].partition(".")
    if dot != "." or len(family) != _FAMILY_CHARS or len(secret) != _SECRET_CHARS:
        raise MalformedRefreshTokenError("not a caas refresh token")
    try:
        b64url_decode(family)
        b64url_decode(secret)
    except ValueError as exc:
        raise MalformedRefreshTokenError("refresh token body is not base64url") from exc
    return PresentedToken(family_id=FAMILY_PREFIX + family, token_hash=_sha256(token))


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token: hex SHA-256 of the whole token."""
    return parse_refresh_token(token).token_hash


def _sha256(token: str) -> str:
    # A fast unsalted hash is right here, unlike for passwords: the token carries 256 bits from a
    # CSPRNG, so inverting a stolen hash is infeasible at any hashing speed, and a slow KDF would
    # only add latency and a DoS lever. Timing of comparisons with stored hashes reveals hash
    # bits, never token bits.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class FamilyState(StrEnum):
    """The stored state of a family."""

    ACTIVE = "active"
    REVOKED = "revoked"


class Status(StrEnum):
    """A family's state as seen at a given moment (EXPIRED is derived from time, never stored)."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Presented(StrEnum):
    """How the presented token relates to the family."""

    CURRENT = "current"  # the latest issued token
    RECENT_PREDECESSOR = "recent_predecessor"  # the token `current` replaced, within the grace
    STALE = "stale"  # any earlier token of the family, or the predecessor after the grace
    FOREIGN = "foreign"  # not a token of this family (or one forgotten past the history cap)


class Outcome(StrEnum):
    """The decision on a refresh request."""

    ROTATE = "rotate"  # issue a successor, which becomes current
    GRACE_REPLAY = "grace_replay"  # concurrent refresh: hand back the already-issued successor
    REUSE_DETECTED = "reuse_detected"  # a replaced token came back: assume theft, revoke family
    REVOKED = "revoked"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class RevocationReason(StrEnum):
    """Why a family was revoked."""

    REUSE_DETECTED = "reuse_detected"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Transition:
    """One row's result: the outcome, and the family's stored state afterwards."""

    outcome: Outcome
    next_state: FamilyState


_ACTIVE, _REVOKED = FamilyState.ACTIVE, FamilyState.REVOKED

# Every (status, presented) pair has exactly one row; tests walk all of them.
TRANSITIONS: Final = MappingProxyType(
    {
        (Status.ACTIVE, Presented.CURRENT): Transition(Outcome.ROTATE, _ACTIVE),
        (Status.ACTIVE, Presented.RECENT_PREDECESSOR): Transition(Outcome.GRACE_REPLAY, _ACTIVE),
        (Status.ACTIVE, Presented.STALE): Transition(Outcome.REUSE_DETECTED, _REVOKED),
        (Status.ACTIVE, Presented.FOREIGN): Transition(Outcome.UNKNOWN, _ACTIVE),
        # An expired family refreshes nothing, but a replayed old token is still evidence of
        # theft: revoking records it (audit, session revocation) at no cost to the user.
        (Status.EXPIRED, Presented.CURRENT): Transition(Outcome.EXPIRED, _ACTIVE),
        (Status.EXPIRED, Presented.RECENT_PREDECESSOR): Transition(Outcome.EXPIRED, _ACTIVE),
        (Status.EXPIRED, Presented.STALE): Transition(Outcome.REUSE_DETECTED, _REVOKED),
        (Status.EXPIRED, Presented.FOREIGN): Transition(Outcome.UNKNOWN, _ACTIVE),
        # Revocation is final; it is reported as such, whichever of its tokens comes back.
        (Status.REVOKED, Presented.CURRENT): Transition(Outcome.REVOKED, _REVOKED),
        (Status.REVOKED, Presented.RECENT_PREDECESSOR): Transition(Outcome.REVOKED, _REVOKED),
        (Status.REVOKED, Presented.STALE): Transition(Outcome.REVOKED, _REVOKED),
        (Status.REVOKED, Presented.FOREIGN): Transition(Outcome.UNKNOWN, _REVOKED),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """All refresh tokens descended from one login; only token hashes are kept."""

    id: str
    tenant_id: str
    user_id: str
    session_id: str
    current_hash: str
    previous_hashes: tuple[str, ...] = ()  # oldest first; the last one is current's predecessor
    rotated_at: datetime | None = None  # when current_hash replaced previous_hashes[-1]
    expires_at: datetime  # absolute lifetime: rotation never extends it (RFC 9700 §4.14.2)
    state: FamilyState = FamilyState.ACTIVE
    reason: RevocationReason | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.state is FamilyState.REVOKED) != (self.reason is not None):
            raise ValueError("a family has a revocation reason exactly when it is revoked")
        if self.current_hash in self.previous_hashes:
            raise ValueError("the current token hash cannot also be a previous one")
        if (self.rotated_at is None) != (not self.previous_hashes):
            raise ValueError("rotated_at is set exactly when there is a previous token")

    def status(self, *, now: datetime) -> Status:
        """The family's status at `now`."""
        if self.state is FamilyState.REVOKED:
            return Status.REVOKED
        return Status.EXPIRED if now >= self.expires_at else Status.ACTIVE

    def classify(self, *, presented_hash: str, now: datetime, grace: timedelta) -> Presented:
        """How `presented_hash` relates to this family at `now`."""
        # Plain comparisons are fine: these are SHA-256 hashes, so timing leaks nothing usable.
        if presented_hash == self.current_hash:
            return Presented.CURRENT
        if presented_hash not in self.previous_hashes:
            return Presented.FOREIGN
        if (
            presented_hash == self.previous_hashes[-1]
            and self.rotated_at is not None
            and now - self.rotated_at <= grace
        ):
            return Presented.RECENT_PREDECESSOR
        return Presented.STALE


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a refresh request and what the caller must persist or return."""

    outcome: Outcome
    family: Family | None  # the family to persist afterwards (revoked on REUSE_DETECTED)
    successor_hash: str | None = None  # GRACE_REPLAY: the already-issued token to hand back


def start_family(
    *,
    family_id: str,
    tenant_id: str,
    user_id: str,
    session_id: str,
    token_hash: str,
    now: datetime,
    lifetime: timedelta,
) -> Family:
    """A new family whose first token is `token_hash`, valid for `lifetime` from `now`."""
    if lifetime <= timedelta(0):
        raise ValueError("lifetime must be positive")
    return Family(
        id=family_id,
        tenant_id=tenant_id,
        user_id=user_id,
        session_id=session_id,
        current_hash=token_hash,
        expires_at=now + lifetime,
    )


def decide(
    family: Family | None, *, presented_hash: str, now: datetime, grace: timedelta
) -> Decision:
    """Decide a refresh request for the family found by the presented token's hash (or None)."""
    if grace < timedelta(0):
        raise ValueError("grace must not be negative")
    # A hash no family knows never reaches the table: there is no state to consult or change.
    if family is None:
        return Decision(Outcome.UNKNOWN, None)
    status = family.status(now=now)
    presented = family.classify(presented_hash=presented_hash, now=now, grace=grace)
    transition = TRANSITIONS[status, presented]
    if transition.next_state is not family.state:
        # The table's only move between stored states is ACTIVE -> REVOKED, on reuse detection.
        family = revoke(family, reason=RevocationReason.REUSE_DETECTED, now=now)
    if transition.outcome is Outcome.GRACE_REPLAY:
        return Decision(transition.outcome, family, successor_hash=family.current_hash)
    return Decision(transition.outcome, family)


def rotate(family: Family, *, new_hash: str, now: datetime) -> Family:
    """The family after a ROTATE: `new_hash` becomes current, the old one its predecessor."""
    # The caller must persist this with compare-and-set on the old current_hash: of two concurrent
    # refreshes only one may win; the loser re-decides and gets GRACE_REPLAY.
    if family.state is not FamilyState.ACTIVE:
        raise ValueError("only an active family can rotate")
    if new_hash == family.current_hash or new_hash in family.previous_hashes:
        raise ValueError("a successor must be a new token")
    previous = (*family.previous_hashes, family.current_hash)[-MAX_PREVIOUS_HASHES:]
    return replace(family, current_hash=new_hash, previous_hashes=previous, rotated_at=now)


def revoke(family: Family, *, reason: RevocationReason, now: datetime) -> Family:
    """The family revoked for `reason`; revoking again keeps the first reason and time."""
    if family.state is FamilyState.REVOKED:
        return family
    return replace(family, state=FamilyState.REVOKED, reason=reason, revoked_at=now)

"""EdDSA (Ed25519) JWT access tokens as compact JWS, with a rotating key ring (RFC 8725).

Over 400 lines on purpose: signing, the key ring and every verification check (RFC 8725's
header, signature and claim rules, each with its own error) are one security contract read
in one place; the error classes are a third of the lines.
"""

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Final, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import BadSignatureError as NaclBadSignatureError
from nacl.signing import VerifyKey

from caas_control_plane.auth._jose import (
    b64url_decode,
    b64url_encode,
    canonical_json,
    ed25519_thumbprint,
)

ALG: Final = "EdDSA"
TYP: Final = "at+jwt"  # RFC 9068: explicit typing keeps access tokens apart from other JWTs
DEFAULT_LEEWAY: Final = timedelta(seconds=30)
# Bounds the work an unauthenticated caller can make us do (JSON parsing, base64) per request.
MAX_TOKEN_LENGTH: Final = 8192
REGISTERED_CLAIMS: Final = frozenset(
    {"iss", "aud", "sub", "exp", "nbf", "iat", "jti", "tid", "sid"}
)
_HEADER_PARAMS: Final = frozenset({"alg", "kid", "typ"})
# Headers that make a verifier fetch or trust key material named by the token itself (RFC 8725
# §3.1/§3.10) or demand extensions we do not understand (`crit`); never acceptable here.
_FORBIDDEN_HEADER_PARAMS: Final = frozenset({"crit", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"})


class TokenReason(StrEnum):
    """Stable machine-readable codes for why a token was rejected."""

    MALFORMED = "malformed"
    BAD_HEADER = "bad_header"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    MISSING_CLAIM = "missing_claim"
    BAD_CLAIM = "bad_claim"
    BAD_ISSUER = "bad_issuer"
    BAD_AUDIENCE = "bad_audience"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


class TokenError(Exception):
    """An access token failed verification; `reason` is its stable code."""

    reason: ClassVar[TokenReason]


class MalformedTokenError(TokenError):
    """Not three base64url segments of JSON objects."""

    reason = TokenReason.MALFORMED


class BadHeaderError(TokenError):
    """The JOSE header is not exactly the one this service issues."""

    reason = TokenReason.BAD_HEADER


class UnknownKidError(TokenError):
    """The header names a key that is not (or no longer) in the ring."""

    reason = TokenReason.UNKNOWN_KID


class BadSignatureError(TokenError):
    """The signature does not verify under the named key."""

    reason = TokenReason.BAD_SIGNATURE


class MissingClaimError(TokenError):
    """A required claim is absent."""

    reason = TokenReason.MISSING_CLAIM


class InvalidClaimError(TokenError):
    """A claim has the wrong type or an empty value."""

    reason = TokenReason.BAD_CLAIM


class BadIssuerError(TokenError):
    """The `iss` claim is not the expected issuer."""

    reason = TokenReason.BAD_ISSUER


class BadAudienceError(TokenError):
    """The expected audience is not among the `aud` claim's values."""

    reason = TokenReason.BAD_AUDIENCE


class ExpiredTokenError(TokenError):
    """The token's `exp` has passed (beyond the leeway)."""

    reason = TokenReason.EXPIRED


class NotYetValidError(TokenError):
    """The token's `nbf` or `iat` lies in the future (beyond the leeway)."""

    reason = TokenReason.NOT_YET_VALID


def _timestamp(moment: datetime) -> float:
    """Epoch seconds of an aware datetime; naive ones are refused (they would mean local time)."""
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.timestamp()


def _header_b64(kid: str) -> str:
    """The one header this service writes for a key, already encoded."""
    return b64url_encode(canonical_json({"alg": ALG, "kid": kid, "typ": TYP}))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key with its public half, kid and encoded header, derived once."""

    private_key: Ed25519PrivateKey = field(compare=False)
    public_key: Ed25519PublicKey = field(init=False, compare=False, repr=False)
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        public_key = self.private_key.public_key()
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "kid", ed25519_thumbprint(public_key))

    @classmethod
    def generate(cls) -> "SigningKey":
        """A fresh random key."""
        return cls(Ed25519PrivateKey.generate())


@dataclass(frozen=True, slots=True)
class RetiringKey:
    """A former signing key's public half, accepted for verification until `retire_after`."""

    public_key: Ed25519PublicKey = field(compare=False)
    retire_after: datetime
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        _timestamp(self.retire_after)
        object.__setattr__(self, "kid", ed25519_thumbprint(self.public_key))

    def retired(self, *, now: datetime) -> bool:
        """Whether the key may no longer verify at `now`."""
        return now > self.retire_after


@dataclass(frozen=True, slots=True)
class _Verifier:
    """What the hot path needs for one accepted header: the key, and when it stops counting."""

    kid: str
    public_key: Ed25519PublicKey
    retire_after: float | None  # epoch seconds; None for the active key
    # libsodium verifies Ed25519 ~1.6x faster than OpenSSL through `cryptography` (measured in
    # bench/auth_verify.py), and is stricter about non-canonical encodings; parsed once per key.
    fast: VerifyKey = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "fast", VerifyKey(raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRing:
    """The active signing key and the previous keys still allowed to verify; immutable."""

    active: SigningKey
    previous: tuple[RetiringKey, ...] = ()
    # Keyed by the encoded header itself: our header is fixed per key, so one dict lookup on the raw
    # first segment both finds the key and proves the header is exactly ours, with no JSON parsing.
    _by_header: Mapping[str, _Verifier] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        verifiers = [_Verifier(self.active.kid, self.active.public_key, None)]
        verifiers += [
            _Verifier(key.kid, key.public_key, _timestamp(key.retire_after))
            for key in self.previous
        ]
        kids = [verifier.kid for verifier in verifiers]
        if len(set(kids)) != len(kids):
            raise ValueError("a key ring must not hold the same key twice")
        by_header = {_header_b64(verifier.kid): verifier for verifier in verifiers}
        object.__setattr__(self, "_by_header", MappingProxyType(by_header))

    def rotate(
        self, *, now: datetime, new_key: SigningKey, keep_verifying_for: timedelta
    ) -> "KeyRing":
        """A ring signing with `new_key`; the current key verifies for `keep_verifying_for` more."""
        # keep_verifying_for should cover the longest access-token TTL plus leeway, so that every
        # token the outgoing key signed stays verifiable until it expires on its own.
        if keep_verifying_for < timedelta(0):
            raise ValueError("keep_verifying_for must not be negative")
        outgoing = RetiringKey(self.active.public_key, now + keep_verifying_for)
        kept = tuple(key for key in self.previous if not key.retired(now=now))
        return KeyRing(active=new_key, previous=(outgoing, *kept))

    def prune(self, *, now: datetime) -> "KeyRing":
        """The same ring without the keys retired at `now`."""
        kept = tuple(key for key in self.previous if not key.retired(now=now))
        return self if kept == self.previous else KeyRing(active=self.active, previous=kept)

    def verifying_keys(self, *, now: datetime) -> Mapping[str, Ed25519PublicKey]:
        """Kid to public key for every key that verifies at `now`, the active key first."""
        keys = {self.active.kid: self.active.public_key}
        keys.update((key.kid, key.public_key) for key in self.previous if not key.retired(now=now))
        return keys


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessClaims:
    """The claims of an access token; times are integer epoch seconds (JWT NumericDate)."""

    iss: str
    aud: tuple[str, ...]
    sub: str
    tid: str  # tenant
    sid: str  # session, so revoking a session revokes its access tokens
    jti: str
    iat: int
    nbf: int
    exp: int
    extra: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.aud:
            raise ValueError("at least one audience is required")
        if not REGISTERED_CLAIMS.isdisjoint(self.extra):
            raise ValueError("extra claims must not override registered claims")

    def to_payload(self) -> dict[str, object]:
        """The JSON payload; a single audience is written as a string (RFC 7519 §4.1.3)."""
        return {
            **self.extra,
            "iss": self.iss,
            "aud": self.aud[0] if len(self.aud) == 1 else list(self.aud),
            "sub": self.sub,
            "tid": self.tid,
            "sid": self.sid,
            "jti": self.jti,
            "iat": self.iat,
            "nbf": self.nbf,
            "exp": self.exp,
        }


def build_access_claims(
    *,
    issuer: str,
    audience: str | Sequence[str],
    subject: str,
    tenant_id: str,
    session_id: str,
    now: datetime,
    ttl: timedelta,
    jti: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> AccessClaims:
    """Claims for a token issued at `now` and valid for `ttl`; `jti` defaults to 128 random bits."""
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    issued_at = int(_timestamp(now))
    return AccessClaims(
        iss=issuer,
        aud=(audience,) if isinstance(audience, str) else tuple(audience),
        sub=subject,
        tid=tenant_id,
        sid=session_id,
        jti=jti if jti is not None else secrets.token_urlsafe(16),
        iat=issued_at,
        nbf=issued_at,
        exp=issued_at + int(ttl.total_seconds()),
        extra=MappingProxyType(dict(extra or {})),
    )


def sign_access_token(claims: AccessClaims, *, ring: KeyRing) -> str:
    """The compact JWS of `claims`, signed with the ring's active key."""
    signing_input = (
        f"{_header_b64(ring.active.kid)}.{b64url_encode(canonical_json(claims.to_payload()))}"
    )
    signature = ring.active.private_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def verify_access_token(
    token: str,
    *,
    ring: KeyRing,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> AccessClaims:
    """The claims of a valid token; else raises the `TokenError` subclass naming the failure."""
    now_ts = _timestamp(now)
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedTokenError("token too long")
    header_b64, _, rest = token.partition(".")
    payload_b64, dot, signature_b64 = rest.partition(".")
    if not dot or "." in signature_b64:
        raise MalformedTokenError("a compact JWS has exactly three segments")
    verifier = ring._by_header.get(header_b64)
    if verifier is None:
        _reject_header(header_b64, ring=ring, now_ts=now_ts)
    if verifier.retire_after is not None and now_ts > verifier.retire_after:
        raise UnknownKidError(f"key {verifier.kid!r} is retired")
    try:
        signature = b64url_decode(signature_b64)
        # Slicing the original string avoids re-joining; non-ASCII can only come from the payload.
        signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    except ValueError as exc:
        raise MalformedTokenError("signature or payload is not base64url") from exc
    try:
        verifier.fast.verify(signing_input, signature)
    except (NaclBadSignatureError, ValueError):  # ValueError: not a 64-byte signature
        raise BadSignatureError("signature does not verify") from None
    # The payload is parsed only after the signature holds: untrusted JSON never reaches the parser.
    return _claims(
        _payload(payload_b64),
        issuer=issuer,
        audience=audience,
        now_ts=now_ts,
        leeway=leeway.total_seconds(),
    )


def _reject_header(header_b64: str, *, ring: KeyRing, now_ts: float) -> NoReturn:
    """Explain why a header is not one of the ring's exact headers (the slow, failing path)."""
    try:
        header = json.loads(b64url_decode(header_b64))
    except ValueError as exc:
        raise MalformedTokenError("header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise MalformedTokenError("header is not a JSON object")
    # alg first: `none` and HMAC/RSA/ECDSA algorithms (key confusion) must fail before any key use.
    if header.get("alg") != ALG:
        raise BadHeaderError(f"alg {header.get('alg')!r} is not allowed")
    if forbidden := _FORBIDDEN_HEADER_PARAMS.intersection(header):
        raise BadHeaderError(f"header parameters {sorted(forbidden)} are not allowed")
    if header.get("typ") != TYP:
        raise BadHeaderError(f"typ must be {TYP!r}")
    if header.keys() != _HEADER_PARAMS or not isinstance(header["kid"], str):
        raise BadHeaderError("header must hold exactly alg, kid (a string) and typ")
    for verifier in ring._by_header.values():
        if verifier.kid == header["kid"]:
            if verifier.retire_after is not None and now_ts > verifier.retire_after:
                raise UnknownKidError(f"key {verifier.kid!r} is retired")
            # Same content in another spelling (key order, spaces): we only accept our own bytes.
            raise BadHeaderError("header is not in canonical form")
    raise UnknownKidError(f"no key {header['kid']!r} in the ring")


def _reject_constant(name: str) -> NoReturn:
    """Refuse NaN and Infinity, which Python's JSON parser would otherwise accept."""
    raise ValueError(f"JSON constant {name} is not allowed")


def _payload(payload_b64: str) -> dict[str, object]:
    """The payload as a JSON object."""
    try:
        payload = json.loads(b64url_decode(payload_b64), parse_constant=_reject_constant)
    except ValueError as exc:
        raise MalformedTokenError("payload is not base64url JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedTokenError("payload is not a JSON object")
    return payload


def _string(payload: dict[str, object], name: str) -> str:
    value = payload[name]
    if type(value) is not str or not value:
        raise InvalidClaimError(f"claim {name!r} must be a non-empty string")
    return value


def _integer(payload: dict[str, object], name: str) -> int:
    value = payload[name]
    # `type(...) is int` rather than isinstance: JSON true/false arrive as bool, a subclass of int.
    if type(value) is not int:
        raise InvalidClaimError(f"claim {name!r} must be an integer NumericDate")
    return value


def _audiences(payload: dict[str, object]) -> tuple[str, ...]:
    value = payload["aud"]
    if type(value) is str and value:
        return (value,)
    if type(value) is list and value and all(type(item) is str and item for item in value):
        return tuple(value)
    raise InvalidClaimError("claim 'aud' must be a non-empty string or list of strings")


def _claims(
    payload: dict[str, object], *, issuer: str, audience: str, now_ts: float, leeway: float
) -> AccessClaims:
    """Typed claims after the required, issuer, audience and time checks."""
    if missing := REGISTERED_CLAIMS.difference(payload):
        raise MissingClaimError(f"missing claims {sorted(missing)}")
    claims = AccessClaims(
        iss=_string(payload, "iss"),
        aud=_audiences(payload),
        sub=_string(payload, "sub"),
        tid=_string(payload, "tid"),
        sid=_string(payload, "sid"),
        jti=_string(payload, "jti"),
        iat=_integer(payload, "iat"),
        nbf=_integer(payload, "nbf"),
        exp=_integer(payload, "exp"),
        extra=MappingProxyType(
            {name: value for name, value in payload.items() if name not in REGISTERED_CLAIMS}
        ),
    )
    if claims.iss != issuer:
        raise BadIssuerError(f"issuer {claims.iss!r} is not {issuer!r}")
    if audience not in claims.aud:
        raise BadAudienceError(f"audience {audience!r} is not among {list(claims.aud)}")
    if now_ts >= claims.exp + leeway:
        raise ExpiredTokenError("token has expired")
    if claims.nbf > now_ts + leeway:
        raise NotYetValidError("token is not valid yet (nbf)")
    if claims.iat > now_ts + leeway:
        raise NotYetValidError("token was issued in the future (iat)")
    return claims

"""Access tokens: the happy path, and every rejection by hand-crafted tokens."""

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from caas_control_plane.auth._jose import b64url_encode, canonical_json
from caas_control_plane.auth.signing import (
    DEFAULT_LEEWAY,
    MAX_TOKEN_LENGTH,
    REGISTERED_CLAIMS,
    AccessClaims,
    BadAudienceError,
    BadHeaderError,
    BadIssuerError,
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    KeyRing,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidError,
    RetiringKey,
    SigningKey,
    TokenError,
    TokenReason,
    UnknownKidError,
    build_access_claims,
    sign_access_token,
    verify_access_token,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://api.caas.example"
AUDIENCE = "caas-sdk"
TTL = timedelta(minutes=15)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def ring(key: SigningKey) -> KeyRing:
    return KeyRing(active=key)


def claims(**changes: object) -> AccessClaims:
    base = build_access_claims(
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="user-1",
        tenant_id="acme",
        session_id="sess-1",
        now=NOW,
        ttl=TTL,
        jti="jti-1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def payload(**changes: object) -> dict[str, object]:
    data = claims().to_payload()
    data.update(changes)
    return data


def verify(token: str, ring: KeyRing, *, now: datetime = NOW, **kwargs: object) -> AccessClaims:
    return verify_access_token(
        token,
        ring=ring,
        issuer=kwargs.pop("issuer", ISSUER),  # type: ignore[arg-type]
        audience=kwargs.pop("audience", AUDIENCE),  # type: ignore[arg-type]
        now=now,
        **kwargs,  # type: ignore[arg-type]
    )


def segment(value: object) -> str:
    """Any JSON value, encoded as a JWS segment (not necessarily canonical)."""
    return b64url_encode(json.dumps(value).encode())


def our_header(kid: str) -> dict[str, str]:
    return {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}


def forge(
    header: Mapping[str, object] | str,
    body: Mapping[str, object] | str,
    signer: Ed25519PrivateKey | bytes | Callable[[bytes], bytes],
) -> str:
    """A token with any header and payload; `signer` is an Ed25519 key, raw bytes, or a callable."""
    head = header if isinstance(header, str) else b64url_encode(canonical_json(header))
    pay = body if isinstance(body, str) else b64url_encode(canonical_json(body))
    signing_input = f"{head}.{pay}".encode()
    if isinstance(signer, Ed25519PrivateKey):
        signature = signer.sign(signing_input)
    elif isinstance(signer, bytes):
        signature = signer
    else:
        signature = signer(signing_input)
    return f"{head}.{pay}.{b64url_encode(signature)}"


def signed(ring: KeyRing, body: Mapping[str, object] | str) -> str:
    """A token the ring's active key really signed, with an arbitrary payload."""
    return forge(our_header(ring.active.kid), body, ring.active.private_key)


# --- happy path --------------------------------------------------------------------------------


def test_round_trip_returns_the_signed_claims(ring: KeyRing) -> None:
    original = claims(extra={"scope": "messages:write", "amr": ["pwd", "otp"]})
    assert verify(sign_access_token(original, ring=ring), ring) == original


def test_token_layout_is_the_exact_header_and_canonical_payload(ring: KeyRing) -> None:
    header, body, signature = sign_access_token(claims(), ring=ring).split(".")
    assert header == b64url_encode(
        b'{"alg":"EdDSA","kid":"' + ring.active.kid.encode() + b'","typ":"at+jwt"}'
    )
    assert body == b64url_encode(canonical_json(claims().to_payload()))
    assert len(signature) == 86  # 64 bytes, unpadded


def test_build_access_claims_sets_times_and_random_jti() -> None:
    built = build_access_claims(
        issuer=ISSUER,
        audience=["a", "b"],
        subject="u",
        tenant_id="t",
        session_id="s",
        now=NOW + timedelta(microseconds=999),
        ttl=TTL,
    )
    assert built.iat == built.nbf == int(NOW.timestamp())
    assert built.exp == built.iat + 900
    assert built.aud == ("a", "b")
    assert len(built.jti) >= 22  # 128 random bits
    assert (
        build_access_claims(
            issuer=ISSUER,
            audience="a",
            subject="u",
            tenant_id="t",
            session_id="s",
            now=NOW,
            ttl=TTL,
        ).jti
        != built.jti
    )


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1)])
def test_build_access_claims_needs_positive_ttl(ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="ttl"):
        build_access_claims(
            issuer=ISSUER,
            audience="a",
            subject="u",
            tenant_id="t",
            session_id="s",
            now=NOW,
            ttl=ttl,
        )


def test_extra_claims_cannot_shadow_registered_ones() -> None:
    with pytest.raises(ValueError, match="registered"):
        claims(extra={"sub": "admin"})


def test_claims_need_an_audience() -> None:
    with pytest.raises(ValueError, match="audience"):
        claims(aud=())


def test_multiple_audiences_round_trip_and_any_one_is_accepted(ring: KeyRing) -> None:
    token = sign_access_token(claims(aud=("caas-sdk", "caas-realtime")), ring=ring)
    assert verify(token, ring, audience="caas-realtime").aud == ("caas-sdk", "caas-realtime")


def test_naive_datetimes_are_refused(ring: KeyRing) -> None:
    token = sign_access_token(claims(), ring=ring)
    with pytest.raises(ValueError, match="timezone"):
        verify(token, ring, now=NOW.replace(tzinfo=None))


# --- reason codes ------------------------------------------------------------------------------

ERRORS = {
    MalformedTokenError: "malformed",
    BadHeaderError: "bad_header",
    UnknownKidError: "unknown_kid",
    BadSignatureError: "bad_signature",
    MissingClaimError: "missing_claim",
    InvalidClaimError: "bad_claim",
    BadIssuerError: "bad_issuer",
    BadAudienceError: "bad_audience",
    ExpiredTokenError: "expired",
    NotYetValidError: "not_yet_valid",
}


def test_every_failure_has_its_own_type_and_stable_reason() -> None:
    assert {error.reason for error in ERRORS} == set(TokenReason)
    for error, code in ERRORS.items():
        assert issubclass(error, TokenError)
        assert error.reason == code


# --- header attacks ----------------------------------------------------------------------------


def test_alg_none_is_rejected(ring: KeyRing) -> None:
    header = {"alg": "none", "kid": ring.active.kid, "typ": "at+jwt"}
    with pytest.raises(BadHeaderError, match="alg") as caught:
        verify(forge(header, payload(), b""), ring)
    assert caught.value.reason == "bad_header"


@pytest.mark.parametrize("alg", ["None", "NONE", "", None, "ES256", "RS256", "PS256", "HS512"])
def test_other_algorithms_are_rejected(ring: KeyRing, alg: str | None) -> None:
    header = {"alg": alg, "kid": ring.active.kid, "typ": "at+jwt"}
    with pytest.raises(BadHeaderError):
        verify(forge(header, payload(), ring.active.private_key), ring)


def test_hs256_signed_with_the_public_key_bytes_is_rejected(ring: KeyRing) -> None:
    # The classic key-confusion attack: the verifier's public key used as an HMAC secret.
    public_bytes = ring.active.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    header = {"alg": "HS256", "kid": ring.active.kid, "typ": "at+jwt"}
    token = forge(
        header, payload(), lambda data: hmac.new(public_bytes, data, hashlib.sha256).digest()
    )
    with pytest.raises(BadHeaderError):
        verify(token, ring)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("crit", ["exp"]),
        ("jku", "https://evil.example/jwks.json"),
        ("jwk", {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
        ("x5u", "https://evil.example/cert.pem"),
        ("x5c", ["MIIB"]),
        ("x5t", "abc"),
        ("x5t#S256", "abc"),
    ],
)
def test_key_pointing_and_critical_headers_are_rejected(
    ring: KeyRing, name: str, value: object
) -> None:
    header = {**our_header(ring.active.kid), name: value}
    with pytest.raises(BadHeaderError, match="not allowed"):
        verify(forge(header, payload(), ring.active.private_key), ring)


@pytest.mark.parametrize("typ", ["JWT", "at+JWT", "", None])
def test_wrong_typ_is_rejected(ring: KeyRing, typ: str | None) -> None:
    header = {**our_header(ring.active.kid), "typ": typ}
    with pytest.raises(BadHeaderError, match="typ"):
        verify(forge(header, payload(), ring.active.private_key), ring)


def test_missing_typ_is_rejected(ring: KeyRing) -> None:
    header = {"alg": "EdDSA", "kid": ring.active.kid}
    with pytest.raises(BadHeaderError, match="typ"):
        verify(forge(header, payload(), ring.active.private_key), ring)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "typ": "at+jwt"},
        {"alg": "EdDSA", "kid": 7, "typ": "at+jwt"},
        {"alg": "EdDSA", "kid": "k", "typ": "at+jwt", "cty": "JWT"},
    ],
)
def test_headers_other_than_exactly_alg_kid_typ_are_rejected(
    ring: KeyRing, header: dict[str, object]
) -> None:
    with pytest.raises(BadHeaderError, match="exactly"):
        verify(forge(header, payload(), ring.active.private_key), ring)


def test_a_non_canonical_spelling_of_our_header_is_rejected(ring: KeyRing) -> None:
    spaced = b64url_encode(json.dumps(our_header(ring.active.kid), indent=1).encode())
    with pytest.raises(BadHeaderError, match="canonical"):
        verify(forge(spaced, payload(), ring.active.private_key), ring)


def test_forged_kid_is_unknown(ring: KeyRing) -> None:
    with pytest.raises(UnknownKidError) as caught:
        verify(forge(our_header("forged"), payload(), ring.active.private_key), ring)
    assert caught.value.reason == "unknown_kid"


# --- signature ---------------------------------------------------------------------------------


def test_a_stranger_signing_with_our_kid_fails_the_signature(ring: KeyRing) -> None:
    token = forge(our_header(ring.active.kid), payload(), Ed25519PrivateKey.generate())
    with pytest.raises(BadSignatureError) as caught:
        verify(token, ring)
    assert caught.value.reason == "bad_signature"


def test_tampered_payload_fails_the_signature(ring: KeyRing) -> None:
    header, _, signature = sign_access_token(claims(), ring=ring).split(".")
    elevated = b64url_encode(canonical_json(payload(sub="admin")))
    with pytest.raises(BadSignatureError):
        verify(f"{header}.{elevated}.{signature}", ring)


@pytest.mark.parametrize("position", [0, 31, 63])
def test_tampered_signature_fails(ring: KeyRing, position: int) -> None:
    header, body, _ = sign_access_token(claims(), ring=ring).split(".")
    signature = bytearray(ring.active.private_key.sign(f"{header}.{body}".encode()))
    signature[position] ^= 0x01
    with pytest.raises(BadSignatureError):
        verify(f"{header}.{body}.{b64url_encode(bytes(signature))}", ring)


@pytest.mark.parametrize("length", [0, 32, 63, 65])
def test_signatures_of_the_wrong_length_fail(ring: KeyRing, length: int) -> None:
    with pytest.raises(BadSignatureError):
        verify(forge(our_header(ring.active.kid), payload(), b"\x00" * length), ring)


def test_a_second_spelling_of_the_signature_is_malformed(ring: KeyRing) -> None:
    # The last of 86 characters holds 4 unused bits; setting one gives another string that a lax
    # decoder maps to the same bytes.
    token = sign_access_token(claims(), ring=ring)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    twin = token[:-1] + alphabet[last | 1]
    with pytest.raises(MalformedTokenError):
        verify(twin, ring)


# --- malformed ---------------------------------------------------------------------------------

NOT_JSON = b64url_encode(b"not json")
NOT_UTF8 = b64url_encode(bytes([0xFF, 0xFE]))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.AAAA",
        f"{segment([1])}.e30.AAAA",
        f"{NOT_JSON}.e30.AAAA",
        f"{NOT_UTF8}.e30.AAAA",
        "x" * (MAX_TOKEN_LENGTH + 1),
    ],
)
def test_malformed_tokens(ring: KeyRing, token: str) -> None:
    with pytest.raises(MalformedTokenError) as caught:
        verify(token, ring)
    assert caught.value.reason == "malformed"


def test_bad_signature_encoding_is_malformed(ring: KeyRing) -> None:
    header, body, _ = sign_access_token(claims(), ring=ring).split(".")
    with pytest.raises(MalformedTokenError):
        verify(f"{header}.{body}.not*base64", ring)


def test_non_ascii_payload_is_malformed(ring: KeyRing) -> None:
    header = b64url_encode(canonical_json(our_header(ring.active.kid)))
    with pytest.raises(MalformedTokenError):
        verify(f"{header}.é.{'A' * 86}", ring)


@pytest.mark.parametrize(
    "body",
    [
        b64url_encode(b"not json"),
        b64url_encode(b"[1, 2]"),
        b64url_encode(b'{"exp": NaN}'),
        b64url_encode(b'{"exp": Infinity}'),
        "!!!!",
    ],
)
def test_signed_but_unparseable_payload_is_malformed(ring: KeyRing, body: str) -> None:
    with pytest.raises(MalformedTokenError):
        verify(signed(ring, body), ring)


# --- claims ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTERED_CLAIMS))
def test_each_missing_claim_is_rejected(ring: KeyRing, name: str) -> None:
    body = payload()
    del body[name]
    with pytest.raises(MissingClaimError, match=name) as caught:
        verify(signed(ring, body), ring)
    assert caught.value.reason == "missing_claim"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sub", ""),
        ("sub", 42),
        ("iss", None),
        ("tid", ["acme"]),
        ("sid", {}),
        ("jti", 1.5),
        ("exp", "1748780000"),
        ("exp", 1748780000.5),
        ("exp", True),
        ("nbf", None),
        ("iat", False),
        ("aud", ""),
        ("aud", []),
        ("aud", ["caas-sdk", 3]),
        ("aud", ["caas-sdk", ""]),
        ("aud", 7),
    ],
)
def test_claims_of_the_wrong_type_are_rejected(ring: KeyRing, name: str, value: object) -> None:
    with pytest.raises(InvalidClaimError, match=name):
        verify(signed(ring, payload(**{name: value})), ring)


def test_wrong_issuer_is_rejected(ring: KeyRing) -> None:
    with pytest.raises(BadIssuerError):
        verify(sign_access_token(claims(iss="https://evil.example"), ring=ring), ring)


def test_wrong_audience_is_rejected(ring: KeyRing) -> None:
    with pytest.raises(BadAudienceError):
        verify(sign_access_token(claims(aud=("other-service",)), ring=ring), ring)


def test_expiry_honours_the_leeway_to_the_second(ring: KeyRing) -> None:
    token = sign_access_token(claims(), ring=ring)
    expires = NOW + TTL
    verify(token, ring, now=expires + DEFAULT_LEEWAY - timedelta(microseconds=1))
    with pytest.raises(ExpiredTokenError) as caught:
        verify(token, ring, now=expires + DEFAULT_LEEWAY)
    assert caught.value.reason == "expired"


def test_leeway_is_configurable(ring: KeyRing) -> None:
    token = sign_access_token(claims(), ring=ring)
    with pytest.raises(ExpiredTokenError):
        verify(token, ring, now=NOW + TTL, leeway=timedelta(0))
    verify(token, ring, now=NOW + TTL + timedelta(seconds=90), leeway=timedelta(minutes=2))


def test_nbf_in_the_future_is_rejected_beyond_the_leeway(ring: KeyRing) -> None:
    not_before = int(NOW.timestamp()) + 31
    token = signed(ring, payload(nbf=not_before, iat=int(NOW.timestamp())))
    with pytest.raises(NotYetValidError, match="nbf") as caught:
        verify(token, ring)
    assert caught.value.reason == "not_yet_valid"
    verify(token, ring, now=NOW + timedelta(seconds=1))


def test_iat_in_the_future_is_rejected_beyond_the_leeway(ring: KeyRing) -> None:
    token = signed(ring, payload(iat=int(NOW.timestamp()) + 60))
    with pytest.raises(NotYetValidError, match="iat"):
        verify(token, ring)


# --- key ring and rotation ---------------------------------------------------------------------


def test_rotation_keeps_the_old_key_verifying_until_retire_after() -> None:
    old = KeyRing(active=SigningKey.generate())
    token = sign_access_token(claims(), ring=old)
    rotated = old.rotate(now=NOW, new_key=SigningKey.generate(), keep_verifying_for=TTL)
    assert rotated.previous[0].kid == old.active.kid
    assert rotated.previous[0].retire_after == NOW + TTL
    assert verify(token, rotated, now=NOW + TTL) == claims()
    with pytest.raises(UnknownKidError, match="retired"):
        verify(token, rotated, now=NOW + TTL + timedelta(microseconds=1))


def test_after_rotation_tokens_are_signed_by_the_new_key() -> None:
    old = KeyRing(active=SigningKey.generate())
    rotated = old.rotate(now=NOW, new_key=SigningKey.generate(), keep_verifying_for=TTL)
    token = sign_access_token(claims(), ring=rotated)
    assert verify(token, rotated) == claims()
    with pytest.raises(UnknownKidError):  # a ring that never saw the new key
        verify(token, old)


def test_a_retired_kid_in_a_non_canonical_header_is_still_unknown() -> None:
    old = KeyRing(active=SigningKey.generate())
    rotated = old.rotate(now=NOW, new_key=SigningKey.generate(), keep_verifying_for=TTL)
    spaced = b64url_encode(json.dumps(our_header(old.active.kid), indent=1).encode())
    token = forge(spaced, payload(), old.active.private_key)
    with pytest.raises(UnknownKidError):
        verify(token, rotated, now=NOW + TTL + timedelta(seconds=1))
    with pytest.raises(BadHeaderError):
        verify(token, rotated, now=NOW)


def test_rotation_drops_keys_already_retired() -> None:
    first, second, third = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    ring = KeyRing(active=first).rotate(now=NOW, new_key=second, keep_verifying_for=TTL)
    later = ring.rotate(now=NOW + TTL + timedelta(seconds=1), new_key=third, keep_verifying_for=TTL)
    assert [key.kid for key in later.previous] == [second.kid]
    soon = ring.rotate(now=NOW + timedelta(seconds=1), new_key=third, keep_verifying_for=TTL)
    assert [key.kid for key in soon.previous] == [second.kid, first.kid]


def test_rotation_refuses_a_key_already_in_the_ring_and_negative_overlap() -> None:
    ring = KeyRing(active=SigningKey.generate())
    with pytest.raises(ValueError, match="twice"):
        ring.rotate(now=NOW, new_key=ring.active, keep_verifying_for=TTL)
    with pytest.raises(ValueError, match="negative"):
        ring.rotate(now=NOW, new_key=SigningKey.generate(), keep_verifying_for=-TTL)


def test_prune_and_verifying_keys() -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    ring = KeyRing(active=first).rotate(now=NOW, new_key=second, keep_verifying_for=TTL)
    assert list(ring.verifying_keys(now=NOW)) == [second.kid, first.kid]
    assert list(ring.verifying_keys(now=NOW + TTL + timedelta(seconds=1))) == [second.kid]
    assert ring.prune(now=NOW) is ring
    pruned = ring.prune(now=NOW + TTL + timedelta(seconds=1))
    assert pruned.previous == ()
    assert pruned.active == second


def test_key_ring_is_immutable_and_keys_are_derived_once(ring: KeyRing) -> None:
    with pytest.raises(FrozenInstanceError):
        ring.active = SigningKey.generate()  # type: ignore[misc]
    assert ring.active.public_key is ring.active.public_key


def test_retiring_keys_need_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone"):
        RetiringKey(SigningKey.generate().public_key, NOW.replace(tzinfo=None))

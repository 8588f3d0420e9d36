"""JWK Set publication and RFC 7638 thumbprints, against the RFC 8037 known answers."""

import json
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from caas_control_plane.auth._jose import b64url_decode, b64url_encode
from caas_control_plane.auth.jwks import ed25519_thumbprint, jwks_document, public_jwk
from caas_control_plane.auth.signing import KeyRing, SigningKey

NOW = datetime(2025, 6, 1, tzinfo=UTC)

# RFC 8037 Appendix A.1 (key), A.3 (thumbprint) and A.4 (signature).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def rfc_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D))


def test_thumbprint_known_answer() -> None:
    assert ed25519_thumbprint(rfc_key().public_key()) == RFC8037_THUMBPRINT


def test_signing_key_kid_is_the_thumbprint() -> None:
    assert SigningKey(rfc_key()).kid == RFC8037_THUMBPRINT


def test_public_jwk_known_answer() -> None:
    assert public_jwk(rfc_key().public_key()) == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037_X,
        "kid": RFC8037_THUMBPRINT,
        "use": "sig",
        "alg": "EdDSA",
    }


def test_jws_primitives_reproduce_the_rfc_signature() -> None:
    # Ed25519 is deterministic, so our base64url and signing input must give the RFC's bytes.
    header, payload, signature = RFC8037_JWS.split(".")
    assert header == b64url_encode(b'{"alg":"EdDSA"}')
    assert payload == b64url_encode(b"Example of Ed25519 signing")
    assert b64url_encode(rfc_key().sign(f"{header}.{payload}".encode())) == signature


def test_document_lists_active_then_unretired_keys() -> None:
    first, second, third = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    ring = (
        KeyRing(active=first)
        .rotate(now=NOW, new_key=second, keep_verifying_for=timedelta(hours=1))
        .rotate(
            now=NOW + timedelta(minutes=30), new_key=third, keep_verifying_for=timedelta(hours=1)
        )
    )
    kids = [key["kid"] for key in jwks_document(ring=ring, now=NOW + timedelta(minutes=45))["keys"]]
    assert kids == [third.kid, second.kid, first.kid]
    later = jwks_document(ring=ring, now=NOW + timedelta(minutes=61))
    assert [key["kid"] for key in later["keys"]] == [third.kid, second.kid]


def test_document_is_json_and_each_kid_matches_its_key() -> None:
    ring = KeyRing(active=SigningKey.generate())
    document = json.loads(json.dumps(jwks_document(ring=ring, now=NOW)))
    (jwk,) = document["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert jwk["kid"] == ring.active.kid
    assert jwk == public_jwk(ring.active.public_key)

"""JOSE encoding primitives shared by signing and JWKS: base64url, canonical JSON, thumbprints."""

import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from caas_core.domain.base64url import b64url_decode, b64url_encode

__all__ = ["b64url_decode", "b64url_encode", "canonical_json", "ed25519_thumbprint", "ed25519_x"]


def canonical_json(value: object) -> bytes:
    """Serialise as compact JSON with sorted keys, so equal values always give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def ed25519_x(public_key: Ed25519PublicKey) -> str:
    """The JWK `x` member of an Ed25519 public key (RFC 8037 §2)."""
    return b64url_encode(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def ed25519_thumbprint(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    # RFC 7638 §3.2: only the required members (crv, kty, x for OKP), sorted, no whitespace.
    members = {"crv": "Ed25519", "kty": "OKP", "x": ed25519_x(public_key)}
    return b64url_encode(hashlib.sha256(canonical_json(members)).digest())

"""The RFC 7517 JWK Set publishing a key ring's verifying keys; kids are RFC 7638 thumbprints."""

from datetime import datetime
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from caas_control_plane.auth._jose import ed25519_thumbprint, ed25519_x
from caas_control_plane.auth.signing import ALG, KeyRing

__all__ = ["JWKS_PATH", "ed25519_thumbprint", "jwks_document", "public_jwk"]

JWKS_PATH: Final = "/.well-known/jwks.json"


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public JWK of an Ed25519 key (RFC 8037), restricted to EdDSA signatures."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": ed25519_x(public_key),
        "kid": ed25519_thumbprint(public_key),
        "use": "sig",
        "alg": ALG,
    }


def jwks_document(*, ring: KeyRing, now: datetime) -> dict[str, list[dict[str, str]]]:
    """The JWK Set of every key that verifies at `now`, the active key first."""
    # Retired keys are left out: a relying party must not accept what our own verifier refuses.
    return {"keys": [public_jwk(key) for key in ring.verifying_keys(now=now).values()]}

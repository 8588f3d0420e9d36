"""Key-encryption keys (KEKs) for sealing signing keys: parsed from settings or derived by HKDF."""

import hashlib
import secrets
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from caas_control_plane.auth._jose import b64url_decode, b64url_encode
from caas_control_plane.auth.sealing import KEK_BYTES

# Fixed salt and per-purpose info strings: one process secret yields independent subkeys, so a
# leak of one (say, the successor-sealing key) reveals nothing about another (the KEK).
_SALT: Final = b"caas-control-plane/v1"
KEK_INFO: Final = b"signing-key KEK"
SUCCESSOR_INFO: Final = b"refresh successor sealing"


def derive_subkey(secret: str, *, info: bytes, length: int = 32) -> bytes:
    """A purpose-bound key derived from the process secret (HKDF-SHA256, RFC 5869)."""
    if not secret:
        raise ValueError("cannot derive a key from an empty secret")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=info)
    return hkdf.derive(secret.encode("utf-8"))


def parse_kek(text: str) -> bytes:
    """A KEK from its base64url text; the error never echoes the value."""
    try:
        kek = b64url_decode(text.strip())
    except ValueError:
        raise ValueError("a KEK must be base64url (no padding)") from None
    if len(kek) != KEK_BYTES:
        raise ValueError(f"a KEK must be {KEK_BYTES} bytes, base64url encoded")
    if len(set(kek)) < 8:
        raise ValueError("a KEK must be random bytes, not a repeated pattern")
    return kek


def kek_id(kek: bytes) -> str:
    """A public name for a KEK: a hash prefix that identifies it without revealing it."""
    digest = hashlib.sha256(b"caas-kek-id\x00" + kek).digest()
    return "kek-" + b64url_encode(digest[:9])


def new_kek_text() -> str:
    """A fresh random KEK in its settings form (for operators generating one)."""
    return b64url_encode(secrets.token_bytes(KEK_BYTES))

"""The grace-window successor of a refresh token, sealed so only the old token's holder can open it.

When refresh requests race, the first rotation wins (compare-and-set) and the others must get the
*same* successor. The winner stores it next to the family, encrypted under a key derived from the
server secret *and the presented (old) token*: a reader of the database, who has only hashes,
cannot open it, and it is bound to its family and its expiry.
"""

import hashlib
import hmac
import os
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from caas_control_plane.auth._jose import b64url_decode, b64url_encode, canonical_json

VERSION: Final = "s1"
_NONCE_BYTES: Final = 12


def _key(server_key: bytes, presented: str) -> bytes:
    if len(server_key) != 32:
        raise ValueError("the server key must be 32 bytes")
    return hmac.new(server_key, presented.encode("ascii"), hashlib.sha256).digest()


def _aad(*, family_id: str, expires: int) -> bytes:
    return canonical_json({"exp": expires, "fid": family_id, "purpose": "refresh-successor"})


def seal_successor(
    successor: str, *, presented: str, family_id: str, server_key: bytes, expires_at: datetime
) -> str:
    """The successor token encrypted for the holder of `presented`, valid until `expires_at`."""
    expires = int(expires_at.timestamp())
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(_key(server_key, presented)).encrypt(
        nonce, successor.encode("ascii"), _aad(family_id=family_id, expires=expires)
    )
    return f"{VERSION}.{expires}.{b64url_encode(nonce)}.{b64url_encode(ciphertext)}"


def open_successor(
    sealed: str, *, presented: str, family_id: str, server_key: bytes, now: datetime
) -> str | None:
    """The successor, or None when expired, tampered with, or sealed for another token."""
    parts = sealed.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit():
        return None
    expires = int(parts[1])
    if now.timestamp() > expires:
        return None
    try:
        nonce, ciphertext = b64url_decode(parts[2]), b64url_decode(parts[3])
        plaintext = AESGCM(_key(server_key, presented)).decrypt(
            nonce, ciphertext, _aad(family_id=family_id, expires=expires)
        )
    except (ValueError, InvalidTag):
        return None
    return plaintext.decode("ascii")

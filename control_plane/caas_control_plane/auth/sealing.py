"""Signing keys sealed at rest with AES-256-GCM under a key-encryption key (KEK), so stores hold no
plaintext private key."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from caas_control_plane.auth._jose import (
    b64url_decode,
    b64url_encode,
    canonical_json,
    ed25519_thumbprint,
)

VERSION: Final = "v1"
KEK_BYTES: Final = 32  # AES-256
NONCE_BYTES: Final = 12  # the GCM standard nonce; random nonces are safe far beyond the few keys
# a KEK ever seals (NIST SP 800-38D allows 2**32 random-nonce encryptions per key).
_KEK_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SealError(Exception):
    """A sealed key could not be opened."""


class MalformedSealedKeyError(SealError):
    """The stored text is not a sealed key of a known version."""


class UnknownKekError(SealError):
    """The key was sealed under a KEK that is not available."""


class SealIntegrityError(SealError):
    """Authentication failed: wrong KEK, tampered ciphertext, or metadata not the sealed one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedKey:
    """An encrypted Ed25519 private key with the ids its ciphertext is bound to."""

    kek_id: str
    kid: str
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)

    def encode(self) -> str:
        """The storable text form `v1.<kek_id>.<kid>.<nonce>.<ciphertext>`."""
        nonce, ciphertext = b64url_encode(self.nonce), b64url_encode(self.ciphertext)
        return f"{VERSION}.{self.kek_id}.{self.kid}.{nonce}.{ciphertext}"

    @classmethod
    def decode(cls, text: str) -> "SealedKey":
        """Parse the text form written by `encode`."""
        parts = text.split(".")
        if len(parts) != 5 or parts[0] != VERSION or not _KEK_ID_RE.fullmatch(parts[1]):
            raise MalformedSealedKeyError("not a v1 sealed key")
        try:
            nonce, ciphertext = b64url_decode(parts[3]), b64url_decode(parts[4])
        except ValueError as exc:
            raise MalformedSealedKeyError("nonce or ciphertext is not base64url") from exc
        if len(nonce) != NONCE_BYTES or not parts[2]:
            raise MalformedSealedKeyError("bad nonce length or empty kid")
        return cls(kek_id=parts[1], kid=parts[2], nonce=nonce, ciphertext=ciphertext)


def _associated_data(*, kek_id: str, kid: str) -> bytes:
    """What the ciphertext is bound to: a blob moved to another kid or KEK fails to open."""
    return canonical_json({"kek": kek_id, "kid": kid, "purpose": "caas-signing-key", "v": VERSION})


def _check_kek(kek_id: str, kek: bytes) -> None:
    if not _KEK_ID_RE.fullmatch(kek_id):
        raise ValueError("kek_id must be 1-64 characters of [A-Za-z0-9_-]")
    if len(kek) != KEK_BYTES:
        raise ValueError(f"a KEK must be {KEK_BYTES} bytes (AES-256)")


def seal_private_key(private_key: Ed25519PrivateKey, *, kek_id: str, kek: bytes) -> SealedKey:
    """Encrypt a private key under `kek`, binding the KEK id and the key's kid."""
    _check_kek(kek_id, kek)
    kid = ed25519_thumbprint(private_key.public_key())
    nonce = os.urandom(NONCE_BYTES)
    plaintext = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    aad = _associated_data(kek_id=kek_id, kid=kid)
    ciphertext = AESGCM(kek).encrypt(nonce, plaintext, aad)
    return SealedKey(kek_id=kek_id, kid=kid, nonce=nonce, ciphertext=ciphertext)


def unseal_private_key(sealed: SealedKey, *, keks: Mapping[str, bytes]) -> Ed25519PrivateKey:
    """Decrypt a sealed key with the KEK it names (several KEKs may be live during KEK rotation)."""
    kek = keks.get(sealed.kek_id)
    if kek is None:
        raise UnknownKekError(f"KEK {sealed.kek_id!r} is not available")
    _check_kek(sealed.kek_id, kek)
    aad = _associated_data(kek_id=sealed.kek_id, kid=sealed.kid)
    try:
        plaintext = AESGCM(kek).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag:
        raise SealIntegrityError(f"sealed key {sealed.kid!r} failed authentication") from None
    private_key = Ed25519PrivateKey.from_private_bytes(plaintext)
    # Defence in depth: whoever sealed it must have named the key's real thumbprint.
    if ed25519_thumbprint(private_key.public_key()) != sealed.kid:
        raise SealIntegrityError("sealed key does not match its kid")
    return private_key


def reseal_private_key(
    sealed: SealedKey, *, keks: Mapping[str, bytes], kek_id: str, kek: bytes
) -> SealedKey:
    """Re-encrypt a sealed key under another KEK (KEK rotation), never exposing it to the caller."""
    return seal_private_key(unseal_private_key(sealed, keks=keks), kek_id=kek_id, kek=kek)


def _secret_aad(*, kek_id: str, purpose: str, subject: str) -> bytes:
    return canonical_json({"kek": kek_id, "purpose": purpose, "subject": subject, "v": VERSION})


def seal_secret(plaintext: bytes, *, kek_id: str, kek: bytes, purpose: str, subject: str) -> str:
    """Encrypt a small secret (e.g. a TOTP seed) under `kek`, bound to its purpose and owner.

    The text form is `v1.<kek_id>.<purpose>.<nonce>.<ciphertext>`; a blob copied to another
    owner (subject) or purpose fails to open.
    """
    _check_kek(kek_id, kek)
    if not _KEK_ID_RE.fullmatch(purpose):
        raise ValueError("purpose must be 1-64 characters of [A-Za-z0-9_-]")
    nonce = os.urandom(NONCE_BYTES)
    aad = _secret_aad(kek_id=kek_id, purpose=purpose, subject=subject)
    ciphertext = AESGCM(kek).encrypt(nonce, plaintext, aad)
    return SealedKey(kek_id=kek_id, kid=purpose, nonce=nonce, ciphertext=ciphertext).encode()


def unseal_secret(text: str, *, keks: Mapping[str, bytes], purpose: str, subject: str) -> bytes:
    """Open a secret sealed by `seal_secret` for this purpose and subject."""
    sealed = SealedKey.decode(text)
    if sealed.kid != purpose:
        raise SealIntegrityError("sealed secret is for another purpose")
    kek = keks.get(sealed.kek_id)
    if kek is None:
        raise UnknownKekError(f"KEK {sealed.kek_id!r} is not available")
    aad = _secret_aad(kek_id=sealed.kek_id, purpose=purpose, subject=subject)
    try:
        return AESGCM(kek).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag:
        raise SealIntegrityError("sealed secret failed authentication") from None

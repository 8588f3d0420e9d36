"""Sealing signing keys at rest: round trips, KEK rotation, and every kind of tampering."""

import os
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from caas_control_plane.auth._jose import b64url_encode, ed25519_thumbprint
from caas_control_plane.auth.sealing import (
    MalformedSealedKeyError,
    SealedKey,
    SealError,
    SealIntegrityError,
    UnknownKekError,
    _associated_data,
    reseal_private_key,
    seal_private_key,
    unseal_private_key,
)

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))
KEKS = {"kek-1": KEK, "kek-2": OTHER_KEK}


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def sealed(key: Ed25519PrivateKey) -> SealedKey:
    return seal_private_key(key, kek_id="kek-1", kek=KEK)


def test_round_trip(key: Ed25519PrivateKey, sealed: SealedKey) -> None:
    assert sealed.kid == ed25519_thumbprint(key.public_key())
    assert raw(unseal_private_key(sealed, keks=KEKS)) == raw(key)


def test_text_form_round_trips_and_hides_the_plaintext(
    key: Ed25519PrivateKey, sealed: SealedKey
) -> None:
    text = sealed.encode()
    assert text.startswith(f"v1.kek-1.{sealed.kid}.")
    assert b64url_encode(raw(key)) not in text
    assert SealedKey.decode(text) == sealed
    assert raw(unseal_private_key(SealedKey.decode(text), keks=KEKS)) == raw(key)


def test_each_seal_uses_a_fresh_nonce(key: Ed25519PrivateKey) -> None:
    first = seal_private_key(key, kek_id="kek-1", kek=KEK)
    second = seal_private_key(key, kek_id="kek-1", kek=KEK)
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_repr_shows_ids_only(sealed: SealedKey) -> None:
    assert b64url_encode(sealed.ciphertext) not in repr(sealed)
    assert "nonce" not in repr(sealed)


def test_wrong_kek_fails_authentication(sealed: SealedKey) -> None:
    with pytest.raises(SealIntegrityError):
        unseal_private_key(sealed, keks={"kek-1": OTHER_KEK})


def test_unknown_kek_id(sealed: SealedKey) -> None:
    with pytest.raises(UnknownKekError):
        unseal_private_key(sealed, keks={"kek-2": OTHER_KEK})


@pytest.mark.parametrize("position", [0, 15, 31, 32, 47])  # key bytes, then the GCM tag
def test_tampered_ciphertext_fails(sealed: SealedKey, position: int) -> None:
    ciphertext = bytearray(sealed.ciphertext)
    ciphertext[position] ^= 0x80
    with pytest.raises(SealIntegrityError):
        unseal_private_key(replace(sealed, ciphertext=bytes(ciphertext)), keks=KEKS)


def test_truncated_ciphertext_fails(sealed: SealedKey) -> None:
    with pytest.raises(SealIntegrityError):
        unseal_private_key(replace(sealed, ciphertext=sealed.ciphertext[:-1]), keks=KEKS)


def test_tampered_nonce_fails(sealed: SealedKey) -> None:
    with pytest.raises(SealIntegrityError):
        unseal_private_key(replace(sealed, nonce=bytes(12)), keks=KEKS)


def test_relabelled_kid_fails(sealed: SealedKey) -> None:
    other_kid = ed25519_thumbprint(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(SealIntegrityError):
        unseal_private_key(replace(sealed, kid=other_kid), keks=KEKS)


def test_relabelled_kek_id_fails_even_with_the_same_kek_bytes(sealed: SealedKey) -> None:
    with pytest.raises(SealIntegrityError):
        unseal_private_key(replace(sealed, kek_id="alias"), keks={"alias": KEK})


def test_reseal_moves_a_key_to_a_new_kek(key: Ed25519PrivateKey, sealed: SealedKey) -> None:
    moved = reseal_private_key(sealed, keks=KEKS, kek_id="kek-2", kek=OTHER_KEK)
    assert moved.kek_id == "kek-2"
    assert moved.kid == sealed.kid
    assert raw(unseal_private_key(moved, keks={"kek-2": OTHER_KEK})) == raw(key)
    with pytest.raises(UnknownKekError):
        unseal_private_key(moved, keks={"kek-1": KEK})


@pytest.mark.parametrize(
    ("kek_id", "kek", "match"),
    [
        ("kek-1", bytes(16), "32 bytes"),
        ("kek-1", bytes(33), "32 bytes"),
        ("", KEK, "kek_id"),
        ("has.dot", KEK, "kek_id"),
        ("x" * 65, KEK, "kek_id"),
    ],
)
def test_bad_keks_are_refused(key: Ed25519PrivateKey, kek_id: str, kek: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        seal_private_key(key, kek_id=kek_id, kek=kek)


def test_a_short_kek_in_the_lookup_is_refused(sealed: SealedKey) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        unseal_private_key(sealed, keks={"kek-1": bytes(16)})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v1.kek-1.kid.AAAAAAAAAAAAAAAA",
        "v2.kek-1.kid.AAAAAAAAAAAAAAAA.AAAA",
        "v1.bad kek.kid.AAAAAAAAAAAAAAAA.AAAA",
        "v1.kek-1.kid.AAAA.AAAA",
        "v1.kek-1..AAAAAAAAAAAAAAAA.AAAA",
        "v1.kek-1.kid.AAAAAAAAAAAAAAAA.A!AA",
        "v1.kek-1.kid.AAAAAAAAAAAAAAAA.AAAA.extra",
    ],
)
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(MalformedSealedKeyError) as caught:
        SealedKey.decode(text)
    assert isinstance(caught.value, SealError)


def test_random_kek_round_trip(key: Ed25519PrivateKey) -> None:
    kek = os.urandom(32)
    sealed = seal_private_key(key, kek_id="prod-2025", kek=kek)
    assert raw(unseal_private_key(sealed, keks={"prod-2025": kek})) == raw(key)


def test_a_blob_sealed_under_the_wrong_kid_is_refused(key: Ed25519PrivateKey) -> None:
    # Only a KEK holder could write this (the AAD is authenticated); unseal still cross-checks.
    wrong_kid = ed25519_thumbprint(Ed25519PrivateKey.generate().public_key())
    nonce = os.urandom(12)
    ciphertext = AESGCM(KEK).encrypt(
        nonce, raw(key), _associated_data(kek_id="kek-1", kid=wrong_kid)
    )
    forged = SealedKey(kek_id="kek-1", kid=wrong_kid, nonce=nonce, ciphertext=ciphertext)
    with pytest.raises(SealIntegrityError, match="does not match"):
        unseal_private_key(forged, keks=KEKS)


def test_sealed_secrets_open_only_for_their_owner_and_purpose() -> None:
    from caas_control_plane.auth.sealing import (  # noqa: PLC0415
        SealIntegrityError,
        seal_secret,
        unseal_secret,
    )

    kek = bytes(range(32))
    text = seal_secret(b"seed", kek_id="k1", kek=kek, purpose="totp", subject="acme/u-1")
    assert b"seed" not in text.encode()
    assert unseal_secret(text, keks={"k1": kek}, purpose="totp", subject="acme/u-1") == b"seed"
    for purpose, subject in (("totp", "acme/u-2"), ("other", "acme/u-1")):
        with pytest.raises(SealIntegrityError):
            unseal_secret(text, keks={"k1": kek}, purpose=purpose, subject=subject)

"""API keys `caas_sk_<key id>_<secret>`: format, parsing, storage hash, timing-safe check."""

import hashlib
import hmac
import re
import secrets
from base64 import b32encode
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from caas_core.domain.base64url import b64url_decode, b64url_encode

PREFIX: Final = "caas_sk_"  # recognisable to humans and to secret scanners
KEY_ID_LENGTH: Final = 16  # 10 random bytes in lowercase base32: unique, public, indexable
SECRET_BYTES: Final = 32
SECRET_LENGTH: Final = 43  # 32 bytes in unpadded base64url
# Fixed lengths make parsing unambiguous even though the base64url secret may itself contain '_'.
KEY_LENGTH: Final = len(PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH
_KEY_ID_RE: Final = re.compile(r"[a-z2-7]{16}")


class FormatReason(StrEnum):
    """Why a presented string is not an API key."""

    BAD_PREFIX = "bad_prefix"
    BAD_LENGTH = "bad_length"
    BAD_KEY_ID = "bad_key_id"
    BAD_SEPARATOR = "bad_separator"
    BAD_SECRET = "bad_secret"  # noqa: S105 - a reason code, not a secret


class ApiKeyFormatError(ValueError):
    """The presented string is not a well-formed API key."""

    def __init__(self, reason: FormatReason) -> None:
        super().__init__(f"malformed API key: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A parsed API key; the secret never appears in repr."""

    key_id: str
    secret: str = field(repr=False)

    @property
    def redacted(self) -> str:
        """A form safe to show in lists and logs."""
        return f"{PREFIX}{self.key_id}_…"


def new_api_key() -> ApiKey:
    """A fresh key: 80-bit public id, 256-bit secret."""
    key_id = b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return ApiKey(key_id, b64url_encode(secrets.token_bytes(SECRET_BYTES)))


def format_api_key(key: ApiKey) -> str:
    """The full key string, as shown to its owner exactly once."""
    return f"{PREFIX}{key.key_id}_{key.secret}"


def parse_api_key(text: str) -> ApiKey:
    """Split a presented key into id and secret, or raise `ApiKeyFormatError`."""
    if not text.startswith(PREFIX):
        raise ApiKeyFormatError(FormatReason.BAD_PREFIX)
    if len(text) != KEY_LENGTH:
        raise ApiKeyFormatError(FormatReason.BAD_LENGTH)
    id_end = len(PREFIX) + KEY_ID_LENGTH
    key_id, separator, secret = text[len(PREFIX) : id_end], text[id_end], text[id_end + 1 :]
    if not _KEY_ID_RE.fullmatch(key_id):
        raise ApiKeyFormatError(FormatReason.BAD_KEY_ID)
    if separator != "_":
        raise ApiKeyFormatError(FormatReason.BAD_SEPARATOR)
    try:
        b64url_decode(secret)
    except ValueError:
        raise ApiKeyFormatError(FormatReason.BAD_SECRET) from None
    return ApiKey(key_id, secret)


def hash_api_key(key: ApiKey) -> str:
    """The stored hash: hex SHA-256 of the whole key, which binds the secret to its id."""
    # A fast hash suffices: with 256 random bits an offline search is hopeless at any speed, and
    # verification stays cheap on the hot path (no password KDF needed for machine secrets).
    return hashlib.sha256(format_api_key(key).encode("ascii")).hexdigest()


# Random per process, so no key can ever match it; stands in when the key id is unknown.
_DUMMY_HASH: Final = secrets.token_hex(32)


def verify_api_key(key: ApiKey, *, stored_hash: str | None) -> bool:
    """Whether `key` matches the hash stored for its id (None: no such id, same work, False)."""
    # Unknown ids run the same hash and comparison as known ones, so response time does not
    # reveal which key ids exist.
    expected = _DUMMY_HASH if stored_hash is None else stored_hash
    matches = hmac.compare_digest(hash_api_key(key).encode("ascii"), expected.encode("ascii"))
    return matches and stored_hash is not None

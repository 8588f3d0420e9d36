"""Identifiers and human-read text the platform accepts from clients: one declared length and
alphabet each, enforced at the API's edge, published in its OpenAPI description, and sized so
that every store that keeps them (revocation facts are capped at 256 characters per field,
MongoDB `_id`s, Redis key names) can hold them with room for what it adds around them.

The patterns are written for three regex engines at once: pydantic's (Rust `regex`), Python's
`re` (property-based tests generate values from the published schema) and JSON Schema's
ECMA-262 (readers of the OpenAPI document), so they use plain classes and `\\uXXXX` escapes.
"""

import re
from dataclasses import dataclass
from typing import Final

from caas_core.domain.naming import TENANT_NAME_MAX_LENGTH

# Every revocation field (id, tenant, subject) is at most this long (caas_core.domain.revocations).
REVOCATION_FIELD_MAX: Final = 256


@dataclass(frozen=True, slots=True)
class Identifier:
    """A kind of identifier: its length bounds and its anchored pattern."""

    name: str
    max_length: int
    pattern: str
    min_length: int = 1

    def matches(self, value: str) -> bool:
        """Whether the value is a valid identifier of this kind."""
        return (
            self.min_length <= len(value) <= self.max_length
            and re.fullmatch(self.pattern, value) is not None
        )


# A tenant's own id for one of its users. 128 characters leave room for everything built from
# it: a user revocation's id is `user:<tenant>:<digest>:<epoch>` and its subject the id itself;
# MFA documents and spent codes are keyed `<tenant>/<user>/…` (so no '/'); Redis lockout keys
# carry it too. E-mail addresses, UUIDs, `auth0|…` and `tenant:user` forms all fit.
USER_ID: Final = Identifier("user id", 128, r"^[A-Za-z0-9._:@|+-]+$")
# What the tenant back end calls a device (trusted devices are keyed by it, in URL paths too).
DEVICE_ID: Final = Identifier("device id", 128, r"^[A-Za-z0-9._:@|+-]+$")
# `ses_` + 22 URL-safe base64 characters (services.tokens); a little room for other generators.
SESSION_ID: Final = Identifier("session id", 64, r"^ses_[A-Za-z0-9_-]+$")
# 10 random bytes in lowercase base32 (caas_core.domain.api_keys).
API_KEY_ID: Final = Identifier("API key id", 16, r"^[a-z2-7]+$", min_length=16)
# `tokens:issue`, `keys:*`, `*` (control plane auth.scopes).
SCOPE: Final = Identifier("scope", 64, r"^[a-z*][a-z:*_-]*$")
# A key of a tenant's free-form `metadata` map: stored as a document field name, so no '.'
# (a path separator) and no '$' (an operator prefix) — one rule for MongoDB and FerretDB alike.
METADATA_KEY: Final = Identifier("metadata key", 64, r"^[A-Za-z0-9_-]+$")

assert len(f"user:{'t' * TENANT_NAME_MAX_LENGTH}:{'0' * 32}:{'9' * 12}") <= REVOCATION_FIELD_MAX
assert USER_ID.max_length <= REVOCATION_FIELD_MAX

# Unicode control (Cc) and format (Cf) characters: NUL, newlines, escape sequences, bidi overrides
# (U+202E shows `exe.txt` as `txt.exe`), zero-width characters and invisible tag characters.
# A value a human reads (a key's name, a display name, a device's description) must hold none.
# tests/unit/domain/test_identifiers.py checks this list against `unicodedata` character by
# character; the BMP part is written with \\u escapes every regex engine above understands.
_CONTROL_AND_FORMAT_BMP: Final = (
    "\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f"
    "\\u0890-\\u0891\\u08e2\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064"
    "\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb"
)
# Outside the BMP (Egyptian hieroglyph and shorthand format controls, musical symbol formatting,
# tag characters). JSON Schema readers without the `u` flag cannot express these; the server's
# own check and Python's `re` can. (A lone surrogate, which JSON can carry as `"\\ud800"`, is
# refused by pydantic before any pattern: it is no character at all.)
_CONTROL_AND_FORMAT_ASTRAL: Final = (
    "\\U000110bd\\U000110cd\\U00013430-\\U0001343f\\U0001bca0-\\U0001bca3"
    "\\U0001d173-\\U0001d17a\\U000e0001\\U000e0020-\\U000e007f"
)
HUMAN_TEXT_PATTERN: Final = f"^[^{_CONTROL_AND_FORMAT_BMP}{_CONTROL_AND_FORMAT_ASTRAL}]*$"
_HUMAN_TEXT_RE: Final = re.compile(HUMAN_TEXT_PATTERN)
_HIDDEN_RE: Final = re.compile(f"[{_CONTROL_AND_FORMAT_BMP}{_CONTROL_AND_FORMAT_ASTRAL}]")


def is_human_text(value: str) -> bool:
    """Whether the value holds no control or format character (a human can read what it says)."""
    return _HUMAN_TEXT_RE.fullmatch(value) is not None


def visible(value: str) -> str:
    """The value with every control or format character replaced by U+FFFD, for text the API
    records but does not validate (a User-Agent header, kept as sent otherwise)."""
    return _HIDDEN_RE.sub("\ufffd", value)

"""SCRAM-SHA-256 (RFC 7677) as MongoDB stores it: does a password match a user's stored key?

The operator cannot read a MongoDB user's password back, but `usersInfo` with
`showCredentials` returns the salted SCRAM keys; recomputing the stored key from the password
the tenant's Secret holds tells whether someone changed the password behind the operator's back
(drift), without opening a connection as the tenant. Written here because no maintained library
exposes the server-side check; tests compare it with the real server's own SCRAM.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any


def stored_key(password: str, *, salt: bytes, iterations: int) -> bytes:
    """StoredKey := H(HMAC(SaltedPassword, "Client Key")) with SHA-256 (RFC 5802 §3)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest()


def password_matches(password: str, credentials: Mapping[str, Any]) -> bool | None:
    """Whether `password` is the one behind `credentials` (a usersInfo `credentials` entry);
    None when that cannot be told: no SCRAM-SHA-256 keys, or a password SASLprep would change
    (the operator's generated passwords are printable ASCII, which SASLprep leaves as it is)."""
    scram = credentials.get("SCRAM-SHA-256")
    if not isinstance(scram, Mapping) or not (password.isascii() and password.isprintable()):
        return None
    try:
        salt = base64.b64decode(scram["salt"])
        expected = base64.b64decode(scram["storedKey"])
        iterations = int(scram["iterationCount"])
    except (KeyError, ValueError, TypeError):
        return None
    return hmac.compare_digest(stored_key(password, salt=salt, iterations=iterations), expected)

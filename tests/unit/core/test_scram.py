"""SCRAM-SHA-256 stored-key check (the real server's keys are checked in integration tests)."""

import base64
import hashlib
import hmac

from caas_core.domain.scram import password_matches, stored_key


def _credentials(password: str, salt: bytes = b"0123456789abcdef", iterations: int = 4096) -> dict:
    # Independent of stored_key's code path: RFC 5802's definitions spelled out again.
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return {
        "SCRAM-SHA-256": {
            "iterationCount": iterations,
            "salt": base64.b64encode(salt).decode(),
            "storedKey": base64.b64encode(hashlib.sha256(client_key).digest()).decode(),
        }
    }


def test_the_right_password_matches_and_others_do_not() -> None:
    credentials = _credentials("pencil")
    assert password_matches("pencil", credentials) is True
    assert password_matches("pencil ", credentials) is False
    assert password_matches("", credentials) is False


def test_stored_key_depends_on_salt_and_iterations() -> None:
    one = stored_key("pencil", salt=b"a" * 16, iterations=4096)
    assert one != stored_key("pencil", salt=b"b" * 16, iterations=4096)
    assert one != stored_key("pencil", salt=b"a" * 16, iterations=4097)


def test_undecidable_cases_say_none_not_false() -> None:
    assert password_matches("pencil", {}) is None  # no SCRAM-SHA-256 keys (SHA-1 only)
    assert password_matches("pencil", {"SCRAM-SHA-1": {}}) is None
    assert password_matches("pencil", {"SCRAM-SHA-256": {"salt": "%%%"}}) is None
    # SASLprep could change a non-ASCII password: not ours to judge.
    assert password_matches("p\u00e9ncil", _credentials("p\u00e9ncil")) is None

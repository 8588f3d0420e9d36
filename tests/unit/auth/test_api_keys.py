"""API keys: format, parsing errors, storage hash, and the timing-safe check for unknown ids."""

import hashlib
import hmac
import re

import pytest

from caas_core.domain import api_keys
from caas_core.domain.api_keys import (
    KEY_LENGTH,
    ApiKey,
    ApiKeyFormatError,
    FormatReason,
    format_api_key,
    hash_api_key,
    new_api_key,
    parse_api_key,
    verify_api_key,
)

KEY_ID = "abcdefghijklmnop"
SECRET = "A" * 42 + "w"  # 43 base64url characters, canonical final one
TEXT = f"caas_sk_{KEY_ID}_{SECRET}"


def test_new_keys_have_the_documented_shape() -> None:
    keys = [new_api_key() for _ in range(50)]
    assert len({key.key_id for key in keys}) == len({key.secret for key in keys}) == 50
    for key in keys:
        text = format_api_key(key)
        assert len(text) == KEY_LENGTH == 68
        assert re.fullmatch(r"caas_sk_[a-z2-7]{16}_[A-Za-z0-9_-]{43}", text)
        assert parse_api_key(text) == key


def test_parse_splits_id_and_secret_even_when_the_secret_has_underscores() -> None:
    secret = "_" * 42 + "w"
    assert parse_api_key(f"caas_sk_{KEY_ID}_{secret}") == ApiKey(KEY_ID, secret)


def test_the_secret_never_appears_in_repr_or_redacted_form() -> None:
    key = parse_api_key(TEXT)
    assert SECRET not in repr(key)
    assert SECRET not in key.redacted
    assert key.redacted.startswith(f"caas_sk_{KEY_ID}_")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", FormatReason.BAD_PREFIX),
        (f"caas_rt_{KEY_ID}_{SECRET}", FormatReason.BAD_PREFIX),
        (f"CAAS_SK_{KEY_ID}_{SECRET}", FormatReason.BAD_PREFIX),
        (f"Bearer {TEXT}", FormatReason.BAD_PREFIX),
        (TEXT[:-1], FormatReason.BAD_LENGTH),
        (TEXT + "A", FormatReason.BAD_LENGTH),
        (TEXT + "\n", FormatReason.BAD_LENGTH),
        (f"caas_sk_{KEY_ID.upper()}_{SECRET}", FormatReason.BAD_KEY_ID),
        (f"caas_sk_abcdefghijklmno1_{SECRET}", FormatReason.BAD_KEY_ID),
        (f"caas_sk_abcdefghijklmnoö_{SECRET}", FormatReason.BAD_KEY_ID),
        (f"caas_sk_{KEY_ID}-{SECRET}", FormatReason.BAD_SEPARATOR),
        (f"caas_sk_{KEY_ID}_{'A' * 42}x", FormatReason.BAD_SECRET),  # non-canonical last char
        (f"caas_sk_{KEY_ID}_{'A' * 41}+w", FormatReason.BAD_SECRET),
        (f"caas_sk_{KEY_ID}_{'A' * 41}=w", FormatReason.BAD_SECRET),
        (f"caas_sk_{KEY_ID}_{'é' * 43}", FormatReason.BAD_SECRET),
    ],
)
def test_parse_errors_name_their_reason(text: str, reason: FormatReason) -> None:
    with pytest.raises(ApiKeyFormatError) as caught:
        parse_api_key(text)
    assert caught.value.reason is reason
    assert isinstance(caught.value, ValueError)
    assert SECRET not in str(caught.value)


def test_hash_is_sha256_of_the_whole_key() -> None:
    key = parse_api_key(TEXT)
    assert hash_api_key(key) == hashlib.sha256(TEXT.encode()).hexdigest()


def test_hash_binds_the_secret_to_its_key_id() -> None:
    key = parse_api_key(TEXT)
    moved = ApiKey("qrstuvwxyz234567", key.secret)
    assert not verify_api_key(moved, stored_hash=hash_api_key(key))


def test_verify_accepts_the_right_secret_only() -> None:
    key = new_api_key()
    stored = hash_api_key(key)
    assert verify_api_key(key, stored_hash=stored)
    assert not verify_api_key(new_api_key(), stored_hash=stored)
    assert not verify_api_key(ApiKey(key.key_id, SECRET), stored_hash=stored)


def test_unknown_ids_do_the_same_work_and_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    real_hash, real_compare = api_keys.hash_api_key, hmac.compare_digest

    def counting_hash(key: ApiKey) -> str:
        calls.append(("hash", 0))
        return real_hash(key)

    def counting_compare(a: bytes, b: bytes) -> bool:
        calls.append(("compare", len(b)))
        return real_compare(a, b)

    monkeypatch.setattr(api_keys, "hash_api_key", counting_hash)
    monkeypatch.setattr(hmac, "compare_digest", counting_compare)
    key = new_api_key()
    assert verify_api_key(key, stored_hash=real_hash(key))
    known = list(calls)
    calls.clear()
    assert not verify_api_key(key, stored_hash=None)
    assert calls == known == [("hash", 0), ("compare", 64)]


def test_an_unknown_id_fails_even_if_the_dummy_hash_matched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The dummy is random per process; the result must still not depend on it matching.
    key = new_api_key()
    monkeypatch.setattr(api_keys, "_DUMMY_HASH", hash_api_key(key))
    assert not verify_api_key(key, stored_hash=None)

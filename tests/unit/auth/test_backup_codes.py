"""MFA backup codes: format, hashing at rest, single use, forgiving input."""

import re
from collections.abc import Callable

import pytest

from caas_control_plane.auth.backup_codes import (
    ALPHABET,
    DEFAULT_COST,
    BackupCodes,
    ScryptCost,
    generate_backup_codes,
    normalize_backup_code,
    use_backup_code,
)

CHEAP = ScryptCost(n=2**4, r=1, p=1)  # keeps the tests fast; the defaults get one test of their own


@pytest.fixture(scope="module")
def issued() -> tuple[tuple[str, ...], BackupCodes]:
    return generate_backup_codes(count=10, cost=CHEAP)


def test_codes_are_human_friendly_and_distinct(issued: tuple[tuple[str, ...], BackupCodes]) -> None:
    codes, stored = issued
    assert len(codes) == len(set(codes)) == stored.remaining == 10
    for code in codes:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", code)
    assert not set("ILOU") & set(ALPHABET)


def test_only_hashes_are_stored(issued: tuple[tuple[str, ...], BackupCodes]) -> None:
    codes, stored = issued
    text = repr(stored)
    for code in codes:
        assert code not in text
        assert code.replace("-", "") not in text
    assert len(stored.salt) == 16
    assert all(len(digest) == 32 for digest in stored.hashes)


def test_each_code_works_exactly_once(issued: tuple[tuple[str, ...], BackupCodes]) -> None:
    codes, stored = issued
    for code in codes:
        after = use_backup_code(code, codes=stored)
        assert after is not None
        assert after.remaining == stored.remaining - 1
        assert use_backup_code(code, codes=after) is None
        stored = after
    assert stored.remaining == 0


def test_using_one_code_leaves_the_others_valid(
    issued: tuple[tuple[str, ...], BackupCodes],
) -> None:
    codes, stored = issued
    after = use_backup_code(codes[3], codes=stored)
    assert after is not None
    assert all(use_backup_code(code, codes=after) is not None for code in codes if code != codes[3])


@pytest.mark.parametrize(
    "transform",
    [
        str.lower,
        lambda code: code.replace("-", ""),
        lambda code: code.replace("-", " "),
        lambda code: f" {code} ",
    ],
)
def test_typing_variations_are_forgiven(
    issued: tuple[tuple[str, ...], BackupCodes], transform: Callable[[str], str]
) -> None:
    codes, stored = issued
    assert use_backup_code(transform(codes[0]), codes=stored) is not None


def test_confusable_letters_read_as_digits() -> None:
    assert normalize_backup_code("o1lI0-ABCDE") == "01110ABCDE"


@pytest.mark.parametrize(
    "code", ["", "ABCDE", "ABCDE-FGHJKM", "ABCDE-FGHJU", "ABCDE_FGHJK", "ÄBCDE-FGHJK"]
)
def test_malformed_codes_are_refused(
    issued: tuple[tuple[str, ...], BackupCodes], code: str
) -> None:
    assert normalize_backup_code(code) is None
    assert use_backup_code(code, codes=issued[1]) is None


def test_a_wrong_code_is_refused(issued: tuple[tuple[str, ...], BackupCodes]) -> None:
    codes, stored = issued
    wrong = next(
        candidate
        for candidate in ("00000-00000", "11111-11111", "22222-22222")
        if candidate not in codes
    )
    assert use_backup_code(wrong, codes=stored) is None


def test_codes_do_not_verify_against_another_users_set(
    issued: tuple[tuple[str, ...], BackupCodes],
) -> None:
    _, other = generate_backup_codes(count=3, cost=CHEAP)
    assert use_backup_code(issued[0][0], codes=other) is None


def test_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="count"):
        generate_backup_codes(count=0, cost=CHEAP)


def test_default_cost_round_trip() -> None:
    codes, stored = generate_backup_codes(count=2)
    assert stored.cost == DEFAULT_COST == ScryptCost(n=2**14, r=8, p=1)
    after = use_backup_code(codes[1], codes=stored)
    assert after is not None
    assert after.remaining == 1

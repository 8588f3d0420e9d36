"""TOTP against the RFC 4226/6238 vectors, the ±1 window, the no-reuse rule and otpauth URIs."""

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from caas_control_plane.auth.totp import (
    SECRET_BYTES,
    Algorithm,
    hotp,
    new_totp_secret,
    provisioning_uri,
    secret_to_base32,
    time_step,
    totp,
    verify_totp,
)

# RFC 6238 Appendix B seeds: the SHA-1 one, and its repetitions to 32/64 bytes for SHA-256/512.
SEEDS: dict[Algorithm, bytes] = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890" * 6 + b"1234",
}
RFC6238 = [
    (59, 0x1, "94287082", "SHA1"),
    (59, 0x1, "46119246", "SHA256"),
    (59, 0x1, "90693936", "SHA512"),
    (1111111109, 0x23523EC, "07081804", "SHA1"),
    (1111111109, 0x23523EC, "68084774", "SHA256"),
    (1111111109, 0x23523EC, "25091201", "SHA512"),
    (1111111111, 0x23523ED, "14050471", "SHA1"),
    (1111111111, 0x23523ED, "67062674", "SHA256"),
    (1111111111, 0x23523ED, "99943326", "SHA512"),
    (1234567890, 0x273EF07, "89005924", "SHA1"),
    (1234567890, 0x273EF07, "91819424", "SHA256"),
    (1234567890, 0x273EF07, "93441116", "SHA512"),
    (2000000000, 0x3F940AA, "69279037", "SHA1"),
    (2000000000, 0x3F940AA, "90698825", "SHA256"),
    (2000000000, 0x3F940AA, "38618901", "SHA512"),
    (20000000000, 0x27BC86AA, "65353130", "SHA1"),
    (20000000000, 0x27BC86AA, "77737706", "SHA256"),
    (20000000000, 0x27BC86AA, "47863826", "SHA512"),
]
# RFC 4226 Appendix D: HOTP values for counters 0..9 with the SHA-1 seed.
RFC4226 = ["755224", "287082", "359152", "969429", "338314"]
RFC4226 += ["254676", "287922", "162583", "399871", "520489"]

SECRET = SEEDS["SHA1"]
NOW = datetime(2025, 6, 1, 12, 0, 15, tzinfo=UTC)  # 15 s into a step
STEP = time_step(NOW)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@pytest.mark.parametrize(("seconds", "step", "code", "algorithm"), RFC6238)
def test_rfc6238_vectors(seconds: int, step: int, code: str, algorithm: Algorithm) -> None:
    assert time_step(at(seconds)) == step
    assert totp(SEEDS[algorithm], now=at(seconds), digits=8, algorithm=algorithm) == code
    found = verify_totp(
        code,
        secret=SEEDS[algorithm],
        now=at(seconds),
        last_used_step=None,
        digits=8,
        algorithm=algorithm,
    )
    assert found == step


@pytest.mark.parametrize(("counter", "code"), list(enumerate(RFC4226)))
def test_rfc4226_vectors(counter: int, code: str) -> None:
    assert hotp(SECRET, counter=counter) == code


def test_six_digit_codes_are_the_low_digits_zero_padded() -> None:
    assert totp(SECRET, now=at(1234567890)) == "005924"


def test_step_boundaries_are_exact() -> None:
    assert time_step(at(29)) == 0
    assert time_step(at(30)) == 1
    assert time_step(at(30) - timedelta(microseconds=1)) == 0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        time_step(datetime(2025, 1, 1))


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_window_accepts_one_step_either_side(offset: int) -> None:
    code = hotp(SECRET, counter=STEP + offset)
    assert verify_totp(code, secret=SECRET, now=NOW, last_used_step=None) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_window_rejects_further_steps(offset: int) -> None:
    code = hotp(SECRET, counter=STEP + offset)
    assert verify_totp(code, secret=SECRET, now=NOW, last_used_step=None) is None


def test_a_wider_window_can_be_configured() -> None:
    code = hotp(SECRET, counter=STEP - 2)
    assert verify_totp(code, secret=SECRET, now=NOW, last_used_step=None, window=2) == STEP - 2


def test_a_code_is_never_accepted_twice() -> None:
    code = totp(SECRET, now=NOW)
    used = verify_totp(code, secret=SECRET, now=NOW, last_used_step=None)
    assert used == STEP
    # The same code, replayed while still inside its window, is refused.
    for later in (NOW, NOW + timedelta(seconds=20), NOW + timedelta(seconds=40)):
        assert verify_totp(code, secret=SECRET, now=later, last_used_step=used) is None


def test_earlier_codes_are_refused_after_a_later_one() -> None:
    previous = hotp(SECRET, counter=STEP - 1)
    assert verify_totp(previous, secret=SECRET, now=NOW, last_used_step=STEP) is None


def test_the_next_code_is_accepted_after_the_current_one() -> None:
    following = hotp(SECRET, counter=STEP + 1)
    assert verify_totp(following, secret=SECRET, now=NOW, last_used_step=STEP) == STEP + 1


def test_wrong_code_is_refused() -> None:
    code = totp(SECRET, now=NOW)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert verify_totp(wrong, secret=SECRET, now=NOW, last_used_step=None) is None


def test_spaces_are_forgiven() -> None:
    code = totp(SECRET, now=NOW)
    spaced = f"{code[:3]} {code[3:]}"
    assert verify_totp(spaced, secret=SECRET, now=NOW, last_used_step=None) == STEP


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "-12345", "+12345"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert verify_totp(code, secret=SECRET, now=NOW, last_used_step=None) is None


def test_new_secrets_are_random_and_160_bits() -> None:
    secrets = {new_totp_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(secret) == SECRET_BYTES == 20 for secret in secrets)


def test_provisioning_uri_known_answer() -> None:
    uri = provisioning_uri(secret=SECRET, issuer="ACME Co", account="alice@example.com")
    assert uri == (
        "otpauth://totp/ACME%20Co:alice%40example.com"
        "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co"
        "&algorithm=SHA1&digits=6&period=30"
    )


def test_provisioning_uri_round_trips_through_a_parser() -> None:
    secret = new_totp_secret()
    uri = provisioning_uri(
        secret=secret, issuer="Zoë & Co/EU", account="bob+mfa@example.com", digits=8
    )
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    issuer, account = (unquote(part) for part in parts.path.lstrip("/").split(":"))
    assert (issuer, account) == ("Zoë & Co/EU", "bob+mfa@example.com")
    query = parse_qs(parts.query)
    assert query["issuer"] == ["Zoë & Co/EU"]
    assert query["digits"] == ["8"]
    padded = query["secret"][0] + "=" * (-len(query["secret"][0]) % 8)
    assert base64.b32decode(padded) == secret
    assert "=" not in secret_to_base32(secret)


@pytest.mark.parametrize(
    ("issuer", "account"), [("", "a"), ("i", ""), ("ACME:EU", "a"), ("ACME", "a:b")]
)
def test_provisioning_uri_refuses_ambiguous_labels(issuer: str, account: str) -> None:
    with pytest.raises(ValueError, match="issuer and account"):
        provisioning_uri(secret=SECRET, issuer=issuer, account=account)

"""RFC 6238 TOTP: codes, verification that never accepts a code twice, otpauth:// URIs."""

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from urllib.parse import quote

Algorithm = Literal["SHA1", "SHA256", "SHA512"]

DIGITS: Final = 6
PERIOD: Final = 30
WINDOW: Final = 1  # one step either side absorbs clock skew and slow typing (RFC 6238 §5.2)
SECRET_BYTES: Final = 20  # 160 bits, the length RFC 4226 §4 recommends for HMAC-SHA1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DIGESTS: Final = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def new_totp_secret() -> bytes:
    """A fresh random shared secret."""
    return secrets.token_bytes(SECRET_BYTES)


def hotp(
    secret: bytes, *, counter: int, digits: int = DIGITS, algorithm: Algorithm = "SHA1"
) -> str:
    """The RFC 4226 HOTP value for `counter`, zero-padded to `digits`."""
    # HMAC-SHA1 here is the algorithm the RFCs and every authenticator app use; SHA-1's collision
    # weakness does not affect HMAC.
    mac = hmac.new(secret, counter.to_bytes(8, "big"), _DIGESTS[algorithm]).digest()
    offset = mac[-1] & 0x0F  # dynamic truncation (RFC 4226 §5.3)
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def time_step(now: datetime, *, period: int = PERIOD) -> int:
    """The RFC 6238 counter T = floor((now - T0) / X) with T0 = the Unix epoch."""
    if now.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    # Exact integer arithmetic on timedeltas: no float rounding near step boundaries.
    return (now - _EPOCH) // timedelta(seconds=period)


def totp(
    secret: bytes,
    *,
    now: datetime,
    digits: int = DIGITS,
    period: int = PERIOD,
    algorithm: Algorithm = "SHA1",
) -> str:
    """The TOTP code at `now`."""
    return hotp(secret, counter=time_step(now, period=period), digits=digits, algorithm=algorithm)


def verify_totp(
    code: str,
    *,
    secret: bytes,
    now: datetime,
    last_used_step: int | None,
    window: int = WINDOW,
    digits: int = DIGITS,
    period: int = PERIOD,
    algorithm: Algorithm = "SHA1",
) -> int | None:
    """The step `code` matches within ±`window` and after `last_used_step`, else None.

    The caller stores the returned step as the new `last_used_step`, so no code is accepted twice
    (RFC 6238 §5.2), not even within its own validity window.
    """
    code = code.replace(" ", "")
    if len(code) != digits or not (code.isascii() and code.isdigit()):
        return None
    current = time_step(now, period=period)
    matched: int | None = None
    for step in range(current - window, current + window + 1):
        # Every candidate is computed and compared, so timing does not tell which step matched.
        candidate = hotp(secret, counter=step, digits=digits, algorithm=algorithm)
        fresh = last_used_step is None or step > last_used_step
        if hmac.compare_digest(candidate, code) and fresh and matched is None:
            matched = step
    return matched


def secret_to_base32(secret: bytes) -> str:
    """The unpadded base32 form authenticator apps expect."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def provisioning_uri(
    *,
    secret: bytes,
    issuer: str,
    account: str,
    digits: int = DIGITS,
    period: int = PERIOD,
    algorithm: Algorithm = "SHA1",
) -> str:
    """The `otpauth://totp/` URI (Key Uri Format) to show as a QR code."""
    # The label's colon separates issuer from account, so neither may contain one.
    if not issuer or not account or ":" in issuer or ":" in account:
        raise ValueError("issuer and account must be non-empty and contain no ':'")
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    # The issuer parameter repeats the label prefix: apps that read only one of them still agree.
    query = "&".join(
        (
            f"secret={secret_to_base32(secret)}",
            f"issuer={quote(issuer, safe='')}",
            f"algorithm={algorithm}",
            f"digits={digits}",
            f"period={period}",
        )
    )
    return f"otpauth://totp/{label}?{query}"

"""Benchmark: in-process access-token verification against raw PyNaCl Ed25519 verify.

    .venv/bin/python bench/auth_verify.py

Same token, same process, same loop: `verify_access_token` (parse, header allow-list, kid
lookup, signature, claims) and the request guard's full check (that plus the in-memory
revocation set) against `nacl.signing.VerifyKey.verify` of the same signature. Target 0.7x.
"""

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.signing import VerifyKey

from auth_common import table
from caas_control_plane.auth.revocation import RevocationSet
from caas_control_plane.auth.signing import (
    KeyRing,
    SigningKey,
    build_access_claims,
    sign_access_token,
    verify_access_token,
)
from caas_core.domain.base64url import b64url_decode

N = int(os.environ.get("BENCH_VERIFICATIONS", "30000"))


def _rate(fn: object, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return n / (time.perf_counter() - started)


def main() -> None:
    """Print ops/s of each verification path and the ratios."""
    key = SigningKey(Ed25519PrivateKey.generate())
    ring = KeyRing(active=key)
    now = datetime.now(UTC)
    claims = build_access_claims(
        issuer="https://caas", audience="caas-sdk", subject="u-1", tenant_id="acme",
        session_id="ses_1", now=now, ttl=timedelta(minutes=15),
    )  # fmt: skip
    token = sign_access_token(claims, ring=ring)
    signing_input, _, signature_text = token.rpartition(".")
    signature, data = b64url_decode(signature_text), signing_input.encode()
    raw_public = key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    nacl_key = VerifyKey(raw_public)
    revoked = RevocationSet()

    def ours() -> None:
        verify_access_token(token, ring=ring, issuer="https://caas", audience="caas-sdk", now=now)

    def guarded() -> None:
        verified = verify_access_token(
            token, ring=ring, issuer="https://caas", audience="caas-sdk", now=now
        )
        revoked.check(
            tenant=verified.tid, user=verified.sub, session=verified.sid, jti=verified.jti,
            issued_at=verified.iat,
        )  # fmt: skip

    def raw() -> None:
        nacl_key.verify(data, signature)

    for fn in (raw, ours, guarded):  # warm up
        _rate(fn, 1000)
    raw_rate = _rate(raw, N)
    ours_rate = _rate(ours, N)
    guarded_rate = _rate(guarded, N)
    table(
        [
            ("raw PyNaCl Ed25519 verify (ops/s)", f"{raw_rate:.0f}"),
            ("verify_access_token (ops/s)", f"{ours_rate:.0f}"),
            ("verify + revocation check (ops/s)", f"{guarded_rate:.0f}"),
            ("verify_access_token / raw (target >= 0.7)", f"{ours_rate / raw_rate:.2f}"),
            ("with revocation check / raw", f"{guarded_rate / raw_rate:.2f}"),
        ]
    )


if __name__ == "__main__":
    main()

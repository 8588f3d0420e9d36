"""Single-use MFA backup codes: human-friendly to type, stored only as scrypt hashes."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Final

# Crockford's base32: no I, L, O or U, so codes survive being read aloud or written down.
ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH: Final = 10  # 50 bits per code
DEFAULT_COUNT: Final = 10
SALT_BYTES: Final = 16
_CONFUSABLES: Final = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})

# Why scrypt and not SHA-256 (used for refresh tokens and API keys): a backup code has 50 bits,
# few enough that a leaked fast hash could be brute-forced on GPUs (~10**10 SHA-256/s: about a day
# per code). scrypt is memory-hard and in the standard library; at n=2**14, r=8 each guess costs
# ~10**5 times more. Codes are used rarely (account recovery), so ~50 ms per attempt is affordable.
# One salt per set, not per code: an attempt costs one scrypt however many codes remain, while a
# stolen set still cannot be attacked with tables precomputed for other users.


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt parameters, stored with each set so that defaults can rise later."""

    n: int = 2**14
    r: int = 8
    p: int = 1


DEFAULT_COST: Final = ScryptCost()


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupCodes:
    """The stored form of a user's unused backup codes."""

    salt: bytes
    hashes: tuple[bytes, ...]
    cost: ScryptCost = DEFAULT_COST

    @property
    def remaining(self) -> int:
        """How many codes are still unused."""
        return len(self.hashes)


def _hash(normalized: str, *, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        normalized.encode("ascii"),
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        maxmem=256 * cost.n * cost.r + 2**20,  # scrypt needs 128*n*r bytes; leave headroom
        dklen=32,
    )


def normalize_backup_code(code: str) -> str | None:
    """The canonical form of a typed code (case, dashes, spaces, O/I/L forgiven), else None."""
    normalized = code.upper().translate(_CONFUSABLES)
    if len(normalized) != CODE_LENGTH or any(char not in ALPHABET for char in normalized):
        return None
    return normalized


def format_backup_code(normalized: str) -> str:
    """The display form, in two groups of five: `ABCDE-FGHJK`."""
    half = CODE_LENGTH // 2
    return f"{normalized[:half]}-{normalized[half:]}"


def generate_backup_codes(
    *, count: int = DEFAULT_COUNT, cost: ScryptCost = DEFAULT_COST
) -> tuple[tuple[str, ...], BackupCodes]:
    """`count` fresh codes to show the user once, and the set to store."""
    if count < 1:
        raise ValueError("count must be at least 1")
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)))
    ordered = tuple(sorted(codes))
    salt = secrets.token_bytes(SALT_BYTES)
    hashes = tuple(_hash(code, salt=salt, cost=cost) for code in ordered)
    return tuple(format_backup_code(code) for code in ordered), BackupCodes(
        salt=salt, hashes=hashes, cost=cost
    )


def use_backup_code(code: str, *, codes: BackupCodes) -> BackupCodes | None:
    """The set without `code` if it is one of its unused codes (so it works once), else None."""
    normalized = normalize_backup_code(code)
    if normalized is None:
        return None
    presented = _hash(normalized, salt=codes.salt, cost=codes.cost)
    # Compare against every stored hash in constant time, so timing does not reveal which matched.
    matches = [hmac.compare_digest(presented, stored) for stored in codes.hashes]
    if not any(matches):
        return None
    used = matches.index(True)
    return replace(codes, hashes=codes.hashes[:used] + codes.hashes[used + 1 :])

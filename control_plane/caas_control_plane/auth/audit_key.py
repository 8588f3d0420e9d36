"""The platform's audit checkpoint key: its Ed25519 seed and name from the settings.

One key signs the checkpoints of every log (the origin line names the log). The seed is
CAAS_AUDIT_SIGNING_KEY when given, else derived from the process secret with its own HKDF info,
so every API instance and the audit verifier sign with the same key and no extra secret has to
be distributed; a dedicated seed lets an operator keep the audit key when rotating the secret.
"""

from typing import Final
from urllib.parse import urlsplit

from caas_control_plane.auth.kek import derive_subkey, parse_kek
from caas_core.auditlog.checkpoint import CheckpointSigner

AUDIT_KEY_INFO: Final = b"audit checkpoint signing"


def parse_audit_seed(text: str) -> bytes:
    """A configured seed: 32 random bytes, base64url (the error never echoes the value)."""
    try:
        return parse_kek(text)
    except ValueError:
        raise ValueError(
            "the audit signing key must be 32 random bytes, base64url (no padding)"
        ) from None


def audit_seed(*, secret_key: str, configured: str | None) -> bytes:
    """The Ed25519 seed: the configured one, else derived from the process secret."""
    if configured is not None:
        return parse_audit_seed(configured)
    return derive_subkey(secret_key, info=AUDIT_KEY_INFO)


def audit_key_name(*, configured: str | None, issuer: str) -> str:
    """The key's name: the configured one, else `<issuer host>/audit`."""
    if configured:
        return configured
    host = urlsplit(issuer).hostname or "caas"
    return f"{host}/audit"


def checkpoint_signer(
    *, secret_key: str, configured_seed: str | None, configured_name: str | None, issuer: str
) -> CheckpointSigner:
    """The signer every process of the platform uses for audit checkpoints."""
    return CheckpointSigner(
        name=audit_key_name(configured=configured_name, issuer=issuer),
        seed=audit_seed(secret_key=secret_key, configured=configured_seed),
    )

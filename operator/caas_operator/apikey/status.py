"""Pure: an ApiKey's status fields and Ready message."""

from datetime import datetime
from typing import Any, Final

from caas_core.domain.api_key_records import ApiKeyRecord

ISSUED: Final = "Issued"


def status_fields(
    *,
    tenant: str,
    secret: str,
    current: ApiKeyRecord | None,
    retiring_record: ApiKeyRecord | None,
    rotation: int | None,
) -> dict[str, Any]:
    """The kind's own status fields (None clears a field)."""
    return {
        "tenant": tenant,
        "secretName": secret,
        "keyId": current.key_id if current else None,
        "expiresAt": _iso(current.expires_at) if current else None,
        "rotationGeneration": rotation,
        "retiringKeyId": retiring_record.key_id if retiring_record else None,
        "retiringUntil": _iso(retiring_record.valid_until) if retiring_record else None,
    }


def _iso(moment: datetime | None) -> str | None:
    return (
        None if moment is None else moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def ready_message(current: ApiKeyRecord, retiring_record: ApiKeyRecord | None, secret: str) -> str:
    """The Ready=True message."""
    message = f"key {current.key_id} is in Secret {secret}"
    if retiring_record is not None and retiring_record.valid_until is not None:
        message += (
            f"; previous key {retiring_record.key_id} works until "
            f"{_iso(retiring_record.valid_until)}"
        )
    return message

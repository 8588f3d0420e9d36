"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

The signed content is `<id>.<timestamp>.<body>`; each signature is `v1,<base64 HMAC-SHA256>`,
space-separated. During a secret rotation's overlap every live secret signs, so a receiver that
knows either the old or the new secret accepts the message.
"""

import base64
import functools
import hashlib
import hmac
from collections.abc import Sequence

from caas_core.domain.webhook_records import signing_key

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
VERSION = "v1"


def webhook_id(event_id: str, endpoint_id: str) -> str:
    """The message id a receiver deduplicates on: one per event and endpoint, stable across
    retries, replays and redeliveries after a crash."""
    return f"msg_{event_id}.{endpoint_id.removeprefix('whep_')}"


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature with the HMAC key `key`."""
    content = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


@functools.lru_cache(maxsize=4096)
def _key(secret: str) -> bytes:
    return signing_key(secret)


def sign_headers(
    secrets: Sequence[str], *, msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers, signed by every `whsec_` secret in `secrets` (newest first)."""
    if not secrets:
        raise ValueError("a message needs at least one signing secret")
    keys = [_key(s) for s in dict.fromkeys(secrets)]
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(signature(k, msg_id, timestamp, body) for k in keys),
    }

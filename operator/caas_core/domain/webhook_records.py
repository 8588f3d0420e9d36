"""Registered webhook endpoints in `caas_platform.webhook_endpoints`, read by the dispatcher.

One document per endpoint:

| field | meaning |
|---|---|
| `_id` | endpoint id `whep_<uid of the Webhook resource>` (REST-created ones: `whep_<random>`) |
| `tenant` | the tenant whose events go there |
| `url` | the validated https URL (re-validate resolved addresses at connect time: DNS rebinding) |
| `eventTypes` | filters: exact types, `<category>.*`, or `*` (see `webhook_events.CATALOGUE`) |
| `enabled` | the owner's switch: false pauses delivery without unregistering |
| `secretRef` | operator endpoints: `{namespace, name, key}` of the Secret holding the secret |
| `secrets` | REST endpoints: `[{sealed, fingerprint, createdAt, expiresAt}]` (webhook_secrets.py) |
| `secretFingerprint` | 16 hex of SHA-256 of the current secret: tells a cached copy is stale |
| `managedBy` / `source` | `operator` plus the Webhook resource (namespace, name, uid), or `api` |
| `generation` | the resource generation registered (operator-managed endpoints) |
| `maxConcurrency` | attempts in flight per dispatcher process, 1 to 1,000 (null: the dispatcher's |
| | `CAAS_WEBHOOK_MAX_CONCURRENCY`) |
| `rateLimitPerSecond` | attempts per second per dispatcher process, above 0 up to 100,000 (null: |
| | `CAAS_WEBHOOK_RATE_LIMIT_PER_SECOND`, unlimited by default) |
| `ordered` | true: in-order delivery per event key, one attempt in flight (null: unordered) |
| `disabledAt` / `disabledReason` | set by the dispatcher when it stops delivering (410, sustained |
| | failure); not part of the owner's registration, cleared when the owner re-enables |
| `createdAt` / `updatedAt` | timestamps |

Operator endpoints' secrets never land in Mongo: the dispatcher reads them from the Secret named
by `secretRef` (it needs `get` on Secrets labelled `platform.caas.io/webhook`). REST endpoints'
secrets are stored sealed under the control plane's KEK (see `webhook_secrets`).

Each writer (`WebhookWriter`) may change only its own endpoints; the other's are refused with
`ForeignEndpointError` (409 at the REST edge, a `ForeignEndpoint` condition on the resource).
"""

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeGuard

from caas_core.domain.webhook_events import (
    ALL_EVENTS,
    EVENT_CATEGORIES,
    EVENT_FILTER_PATTERN,
    EVENT_TYPES,
    event_filter_rule,
    matches_event,
    unknown_event_filters,
)
from caas_core.domain.webhook_secrets import StoredSecret, current_secret

__all__ = [
    "ALL_EVENTS",
    "EVENT_CATEGORIES",
    "EVENT_FILTER_PATTERN",
    "EVENT_TYPES",
    "event_filter_rule",
    "matches_event",
    "unknown_event_filters",
]

COLLECTION: Final = "webhook_endpoints"
ID_PREFIX: Final = "whep_"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES: Final = 32  # Standard Webhooks: between 24 and 64 random bytes
MIN_SECRET_BYTES: Final = 24
MAX_SECRET_BYTES: Final = 64
ENDPOINT_ID_PATTERN: Final = r"^whep_[A-Za-z0-9_-]{1,64}$"
# An endpoint's delivery options: the one definition of their bounds (the REST API, the Webhook
# resource's schema, the dispatcher and its settings all use these).
MIN_CONCURRENCY: Final = 1
MAX_CONCURRENCY: Final = 1000
MAX_RATE_PER_SECOND: Final = 100_000  # and above 0 (an endpoint cannot ask for "unlimited")


class WebhookWriter(StrEnum):
    """Who registered an endpoint, and therefore who alone may change or remove it."""

    OPERATOR = "operator"
    API = "api"


def concurrency_in_range(value: object) -> TypeGuard[int]:
    """Whether `value` is a `maxConcurrency` the dispatcher accepts (an integer, not a bool)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and MIN_CONCURRENCY <= value <= MAX_CONCURRENCY
    )


def rate_in_range(value: object) -> TypeGuard[int | float]:
    """Whether `value` is a `rateLimitPerSecond` the dispatcher accepts (a number above 0)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 < value <= MAX_RATE_PER_SECOND
    )


def delivery_option_errors(
    *, max_concurrency: int | None, rate_limit_per_second: float | None
) -> list[tuple[str, str]]:
    """(field, message) for each delivery option out of bounds (None: the default, valid)."""
    errors = []
    if max_concurrency is not None and not concurrency_in_range(max_concurrency):
        errors.append(
            (
                "maxConcurrency",
                f"maxConcurrency must be an integer from {MIN_CONCURRENCY} to {MAX_CONCURRENCY}",
            )
        )
    if rate_limit_per_second is not None and not rate_in_range(rate_limit_per_second):
        errors.append(
            (
                "rateLimitPerSecond",
                f"rateLimitPerSecond must be a number above 0 and at most {MAX_RATE_PER_SECOND:,}",
            )
        )
    return errors


def new_signing_secret(nbytes: int = SECRET_BYTES) -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of `nbytes` random bytes."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"signing secrets are {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("signing secrets start with whsec_")
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"signing secrets hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return key


def fingerprint(secret: str) -> str:
    """A short, non-reversible identifier of a signing secret."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()[:16]


def endpoint_id(uid: str) -> str:
    """Stable id of the endpoint registered for a Webhook resource."""
    return f"{ID_PREFIX}{uid}"


def new_endpoint_id() -> str:
    """A fresh id for a REST-created endpoint (`whep_api_<random>`: never a resource's uid)."""
    return f"{ID_PREFIX}api_{secrets.token_hex(12)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """Where the signing secret lives."""

    namespace: str
    name: str
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSource:
    """The Webhook custom resource an operator-managed endpoint belongs to."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEndpoint:
    """A registered endpoint."""

    endpoint_id: str
    tenant: str
    url: str
    event_types: tuple[str, ...]
    enabled: bool
    secret_ref: SecretRef | None
    secret_fingerprint: str
    managed_by: WebhookWriter
    created_at: datetime
    updated_at: datetime
    source: WebhookSource | None = None
    generation: int | None = None
    description: str | None = None
    secrets: tuple[StoredSecret, ...] = ()
    # The dispatcher's verdict, outside the owner's registration (see the module docstring).
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    # Delivery options (None: the dispatcher's default; bounds above).
    max_concurrency: int | None = None
    rate_limit_per_second: float | None = None
    ordered: bool | None = None

    def same_registration(self, other: "WebhookEndpoint") -> bool:
        """Whether two records register the same thing (timestamps aside)."""
        return _comparable(self) == _comparable(other)

    @property
    def delivering(self) -> bool:
        """Whether the dispatcher delivers to it: enabled by its owner and not disabled."""
        return self.enabled and self.disabled_at is None

    @property
    def owner(self) -> str:
        """Who owns it, for messages: the resource, or the REST API."""
        if self.source is not None:
            return f"the operator (Webhook {self.source.namespace}/{self.source.name})"
        return f"the {self.managed_by.value}"


class ForeignEndpointError(PermissionError):
    """A writer tried to change an endpoint another writer registered."""

    def __init__(self, endpoint: WebhookEndpoint, writer: WebhookWriter) -> None:
        hint = (
            "; change or delete the Webhook resource instead"
            if endpoint.managed_by is WebhookWriter.OPERATOR
            else "; use the REST API (/v1/webhooks) instead"
        )
        super().__init__(
            f"webhook endpoint {endpoint.endpoint_id} is managed by {endpoint.owner}; "
            f"the {writer.value} may not modify it{hint}"
        )
        self.endpoint = endpoint
        self.writer = writer


class WebhookQuotaError(PermissionError):
    """A new endpoint would exceed the tenant's plan (`maxWebhooks`)."""

    def __init__(self, *, tenant: str, count: int, quota: int) -> None:
        super().__init__(
            f"tenant {tenant} already has {count} webhooks; its plan allows {quota} "
            "(spec.plan.maxWebhooks)"
        )
        self.tenant = tenant
        self.count = count
        self.quota = quota


class EndpointChangedError(RuntimeError):
    """The endpoint changed between the read and the write (a concurrent update)."""


def _comparable(endpoint: WebhookEndpoint) -> dict[str, Any]:
    doc = to_document(endpoint)
    for volatile in ("createdAt", "updatedAt", *STATE_FIELDS):
        del doc[volatile]
    return doc


# Written by the dispatcher, never by an owner's registration.
STATE_FIELDS: Final = ("disabledAt", "disabledReason")


def _secret_document(secret: StoredSecret) -> dict[str, Any]:
    return {
        "sealed": secret.sealed,
        "fingerprint": secret.fingerprint,
        "createdAt": secret.created_at,
        "expiresAt": secret.expires_at,
    }


def to_document(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The Mongo document of an endpoint."""
    ref = endpoint.secret_ref
    source = endpoint.source
    return {
        "_id": endpoint.endpoint_id,
        "tenant": endpoint.tenant,
        "url": endpoint.url,
        "eventTypes": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "secretRef": None
        if ref is None
        else {"namespace": ref.namespace, "name": ref.name, "key": ref.key},
        "secrets": [_secret_document(s) for s in endpoint.secrets],
        "secretFingerprint": endpoint.secret_fingerprint,
        "managedBy": endpoint.managed_by.value,
        "source": None
        if source is None
        else {"namespace": source.namespace, "name": source.name, "uid": source.uid},
        "generation": endpoint.generation,
        "description": endpoint.description,
        "maxConcurrency": endpoint.max_concurrency,
        "rateLimitPerSecond": endpoint.rate_limit_per_second,
        "ordered": endpoint.ordered,
        "disabledAt": endpoint.disabled_at,
        "disabledReason": endpoint.disabled_reason,
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
    }


def from_document(doc: Mapping[str, Any]) -> WebhookEndpoint:
    """An endpoint from its Mongo document."""
    source = doc.get("source")
    ref = doc.get("secretRef")
    return WebhookEndpoint(
        endpoint_id=doc["_id"],
        tenant=doc["tenant"],
        url=doc["url"],
        event_types=tuple(doc.get("eventTypes", ())),
        enabled=bool(doc.get("enabled", True)),
        secret_ref=SecretRef(**ref) if ref else None,
        secret_fingerprint=doc.get("secretFingerprint", ""),
        managed_by=WebhookWriter(doc["managedBy"]),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        source=None if not source else WebhookSource(**source),
        generation=doc.get("generation"),
        description=doc.get("description"),
        secrets=tuple(
            StoredSecret(
                sealed=s["sealed"],
                fingerprint=s["fingerprint"],
                created_at=s["createdAt"],
                expires_at=s.get("expiresAt"),
            )
            for s in doc.get("secrets") or ()
        ),
        disabled_at=doc.get("disabledAt"),
        disabled_reason=doc.get("disabledReason"),
        max_concurrency=doc.get("maxConcurrency"),
        rate_limit_per_second=_rate(doc.get("rateLimitPerSecond")),
        ordered=doc.get("ordered"),
    )


def _rate(value: Any) -> float | None:
    # Stored as given (5 or 2.5); read back as a float, so 5 and 5.0 are one registration.
    return None if value is None else float(value)


def current_fingerprint(stored: tuple[StoredSecret, ...]) -> str:
    """The fingerprint of the current sealed secret ('' when there is none)."""
    current = current_secret(stored)
    return "" if current is None else current.fingerprint

"""What services need from storage: the store interfaces (Protocols) and the values they carry.

Services depend on these, never on a store's class or a driver; `runtime.py` (the composition
root) hands them the concrete stores of `stores/` and `caas_core.adapters`, which satisfy these
Protocols structurally. Unit tests hand them fakes. Nothing here does I/O.
"""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from caas_control_plane.auth.backup_codes import BackupCodes
from caas_control_plane.auth.devices import DeviceInfo
from caas_control_plane.auth.key_lifecycle import KeyRecord
from caas_control_plane.auth.refresh import Family, PresentedToken, RevocationReason
from caas_core.auditlog.append import Head
from caas_core.auditlog.checkpoint import Checkpoint, CheckpointSigner
from caas_core.auditlog.entry import Entry
from caas_core.auditlog.merkle import NodeReader
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.revocations import Revocation
from caas_core.domain.tenant_profiles import StoredProfile
from caas_core.domain.webhook_events import WebhookEvent
from caas_core.domain.webhook_records import WebhookEndpoint, WebhookWriter

# -- sessions (tenant_<name>.sessions) ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """One session: who, from where, since when, until when, and whether it was revoked."""

    session_id: str
    tenant: str
    user_id: str
    family_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    device: DeviceInfo = field(default_factory=DeviceInfo)
    ip: str | None = None
    user_agent: str | None = None
    api_key_id: str | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


class Sessions(Protocol):
    """A tenant's sessions."""

    async def create(self, record: SessionRecord) -> None: ...
    async def get(self, *, tenant: str, session_id: str) -> SessionRecord | None: ...
    async def list_for_user(self, *, tenant: str, user_id: str) -> list[SessionRecord]: ...
    async def extend(self, *, tenant: str, session_id: str, expires_at: datetime) -> None: ...
    async def touch(self, *, tenant: str, session_id: str, now: datetime) -> None: ...
    async def revoke(
        self, *, tenant: str, session_ids: list[str], reason: str, now: datetime
    ) -> int: ...
    async def revoke_user(
        self, *, tenant: str, user_id: str, reason: str, now: datetime
    ) -> int: ...
    async def revoke_all(self, *, tenant: str, reason: str, now: datetime) -> int: ...


# -- refresh-token families -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotation:
    """The one successor of a replaced token: its hash and the sealed token itself."""

    replaced_hash: str
    family_id: str
    successor_hash: str
    successor_sealed: str
    rotated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFamily:
    """A family as stored, when it started, and its latest rotation (None before the first)."""

    family: Family
    created_at: datetime
    last_rotation: Rotation | None = None


class RefreshFamilies(Protocol):
    """Refresh-token families: one compare-and-set per rotation."""

    async def create(self, family: Family, *, created_at: datetime) -> None: ...
    async def find(self, presented: PresentedToken) -> StoredFamily | None: ...
    async def get(self, family_id: str) -> StoredFamily | None: ...
    async def rotate(self, *, before: Family, after: Family, rotation: Rotation) -> bool: ...
    async def revoke(self, family: Family) -> bool: ...
    async def revoke_session(
        self, *, tenant: str, session_id: str, reason: RevocationReason, now: datetime
    ) -> int: ...
    async def revoke_user(
        self, *, tenant: str, user_id: str, reason: RevocationReason, now: datetime
    ) -> list[str]: ...
    async def revoke_tenant(
        self, *, tenant: str, reason: RevocationReason, now: datetime
    ) -> int: ...
    async def extend(self, family_id: str, *, expires_at: datetime) -> bool: ...
    async def count_active(self, *, tenant: str, now: datetime) -> int: ...


# -- signing keys ---------------------------------------------------------------------------------


class SigningKeys(Protocol):
    """Sealed signing keys, created race-safe by generation."""

    max_generation: int
    foreign: int

    async def load(self) -> list[KeyRecord]: ...
    async def insert(self, record: KeyRecord) -> bool: ...
    async def delete(self, generations: Sequence[int]) -> int: ...


# -- revocations ----------------------------------------------------------------------------------


class RevocationLog(Protocol):
    """Durable revocation facts and their broadcast (both or neither)."""

    async def record_and_broadcast(self, revocation: Revocation, *, now: datetime) -> bool: ...
    async def active(self, *, now: float) -> list[Revocation]: ...


# -- API keys (the store shared with the operator) ------------------------------------------------


class ApiKeys(Protocol):
    """Stored API keys; writes are ownership-checked (`writer`)."""

    async def insert(self, record: ApiKeyRecord) -> None: ...
    async def get(self, key_id: str, *, tenant: str | None = None) -> ApiKeyRecord | None: ...
    async def list_for_tenant(self, tenant: str) -> list[ApiKeyRecord]: ...
    async def save(self, record: ApiKeyRecord, *, writer: KeyWriter) -> ApiKeyRecord: ...
    async def revoke(self, key_id: str, *, writer: KeyWriter, now: datetime) -> ApiKeyRecord: ...


# -- webhook endpoints (the store shared with the operator) and events ----------------------------


class WebhookEndpoints(Protocol):
    """Registered endpoints (caas_core.adapters.webhook_store); writes are ownership-checked and
    raise the domain's ForeignEndpointError, WebhookQuotaError, EndpointChangedError."""

    async def get(
        self, endpoint_id: str, *, tenant: str | None = None
    ) -> WebhookEndpoint | None: ...
    async def list_for_tenant(self, tenant: str) -> list[WebhookEndpoint]: ...
    async def subscribed(self, tenant: str, event_type: str) -> list[WebhookEndpoint]: ...
    async def register(
        self,
        endpoint: WebhookEndpoint,
        *,
        writer: WebhookWriter,
        quota: int | None = None,
        expect: datetime | None = None,
    ) -> None: ...
    async def unregister(
        self, endpoint_id: str, *, writer: WebhookWriter, tenant: str | None = None
    ) -> bool: ...
    async def disable(self, endpoint_id: str, *, reason: str, now: datetime) -> bool: ...


class Events(Protocol):
    """Webhook events into Kafka through the outbox (durable before this returns; the event's
    topic and key come from the event: caas_core.domain.webhook_events)."""

    async def publish(self, events: Sequence[WebhookEvent]) -> None: ...


# -- tenant profiles (caas_platform.saas_clients) -------------------------------------------------


class TenantProfiles(Protocol):
    """One profile per tenant; the control plane writes `displayName`, `settings`, `updatedAt`."""

    async def get(self, tenant: str) -> StoredProfile | None: ...
    async def update(
        self, tenant: str, *, changes: Mapping[str, object], now: datetime
    ) -> StoredProfile: ...


class UsageCounters(Protocol):
    """A tenant's monthly usage counters."""

    async def month(self, key: str) -> dict[str, int]: ...


# -- rate limits and lockouts (Redis) -------------------------------------------------------------

LOCK_PREFIX: Final = "caas:lock:"


def lock_key(subject: str) -> str:
    """The key whose existence means `subject` is locked."""
    return LOCK_PREFIX + subject


@dataclass(frozen=True, slots=True, kw_only=True)
class LockoutPolicy:
    """`max_failures` within `window` seconds lock the subject for `lockout` seconds."""

    max_failures: int
    window: int
    lockout: int


class Lockouts(Protocol):
    """Failure counting and locks shared by every instance."""

    async def locked_for(self, subject: str) -> float: ...
    async def failure(self, subject: str, *, policy: LockoutPolicy) -> float: ...
    async def success(self, subject: str) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Counters to increment when the request is allowed (a hash per tenant and month)."""

    key: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """At most `per_minute` requests per minute on average for `key`, bursts up to `burst`."""

    key: str
    per_minute: int
    burst: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether the request may proceed; if not, which limit refused and for how long."""

    allowed: bool
    retry_after: float = 0.0  # seconds
    limit: Limit | None = None
    locked: bool = False  # refused by a brute-force lockout, not by a rate


class RateLimits(Protocol):
    """Checks and charges several limits atomically."""

    async def hit(
        self, limits: Sequence[Limit], *, usage: Usage | None = None, lock: str | None = None
    ) -> Verdict: ...


# -- second factors -------------------------------------------------------------------------------


def factor_id(tenant: str, user_id: str) -> str:
    """A user's second factors' id, also the subject sealed secrets are bound to (user ids
    never contain '/')."""
    return f"{tenant}/{user_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpFactor:
    """A user's TOTP secret (sealed) and how far it got."""

    sealed: str
    confirmed: bool
    last_step: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MfaFactors:
    """Everything stored about a user's second factors (empty: none)."""

    totp: TotpFactor | None = None
    backup: BackupCodes | None = None
    trusted: Mapping[str, datetime] = field(default_factory=dict)  # device id -> until


class MfaFactorStore(Protocol):
    """Second factors and spent codes."""

    async def get(self, tenant: str, user_id: str) -> MfaFactors: ...
    async def start_totp(self, tenant: str, user_id: str, *, sealed: str, at: datetime) -> None: ...
    async def confirm_totp(
        self, tenant: str, user_id: str, *, step: int, backup: BackupCodes, at: datetime
    ) -> None: ...
    async def record_totp_step(self, tenant: str, user_id: str, *, step: int) -> None: ...
    async def replace_backup_codes(
        self, tenant: str, user_id: str, *, codes: BackupCodes, at: datetime
    ) -> None: ...
    async def keep_backup_hashes(
        self, tenant: str, user_id: str, *, hashes: Sequence[bytes]
    ) -> None: ...
    async def trust_device(
        self, tenant: str, user_id: str, *, device_id: str, until: datetime
    ) -> None: ...
    async def forget_device(self, tenant: str, user_id: str, *, device_id: str) -> None: ...
    async def remove_all(self, tenant: str, user_id: str) -> None: ...
    async def spend(self, code_id: str, *, at: datetime, expires_at: datetime) -> bool: ...


# -- the tamper-evident audit log (caas_platform.security_audit_logs and its tree) -----------------

T = TypeVar("T")


class AuditRecord(Protocol):
    """One stored entry: its canonical bytes, the entry they decode to, its stored leaf hash, and
    the personal data it commits to while that is kept (None once erased)."""

    @property
    def raw(self) -> bytes: ...
    @property
    def entry(self) -> Entry: ...
    @property
    def hash(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any] | None: ...
    @property
    def salt(self) -> bytes | None: ...


class AuditLogs(Protocol):
    """The stored logs: reads, proofs over stored tree nodes, and signed checkpoints."""

    async def head(self, log: str) -> Head: ...
    async def entries(self, log: str, *, start: int, end: int) -> Sequence[AuditRecord]: ...
    async def entry_by_id(self, log: str, event_id: str) -> AuditRecord | None: ...
    async def search(
        self,
        log: str,
        *,
        before: int | None,
        limit: int,
        action: str | None = None,
        outcome: str | None = None,
        actor_id: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Sequence[AuditRecord]: ...
    async def prove(self, log: str, proof: Callable[[NodeReader], T]) -> T: ...
    async def checkpoint(self, log: str, *, signer: CheckpointSigner) -> tuple[Checkpoint, str]: ...
    async def sign_at(self, log: str, size: int, *, signer: CheckpointSigner) -> str: ...
    async def latest_checkpoint(self, log: str) -> tuple[int, str] | None: ...


class AuditExport(Protocol):
    """A log's NDJSON export lines for entries start ≤ seq < end (auditlog/export.py format)."""

    def __call__(self, log: str, *, start: int, end: int | None) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptPage:
    """A page of webhook attempts, newest first, and the `(at, _id)` of its last one."""

    items: list[dict[str, Any]]
    last: tuple[datetime, str] | None


class WebhookAttempts(Protocol):
    """The webhook attempt log (stores/webhook_attempts.py); every query names the tenant."""

    async def page(
        self,
        *,
        tenant: str,
        endpoint_id: str,
        limit: int,
        after: tuple[datetime, str] | None = None,
        event_id: str | None = None,
    ) -> AttemptPage: ...
    async def latest_for_event(
        self, *, tenant: str, endpoint_id: str, event_id: str
    ) -> dict[str, Any] | None: ...
    async def dead_since(
        self, *, tenant: str, since: datetime, endpoint_id: str | None = None, limit: int
    ) -> list[dict[str, Any]]: ...
    async def mark_replayed(self, ids: Sequence[str], *, at: datetime) -> int: ...
    async def stats(
        self, *, tenant: str, endpoint_id: str, since: datetime
    ) -> Mapping[str, int]: ...


class WebhookRetries(Protocol):
    """Schedules deliveries on `internal.retry` durably (through the outbox)."""

    async def schedule(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """`(message id, retry record)` pairs; a message id scheduled before is kept once."""
        ...

"""The operator's process-wide state, opened at start-up and shared through kopf's memo: the
validated settings, long-lived clients, the ownership registry, capabilities detected once,
and every lock and cache a reconcile needs (nothing of it lives in module globals)."""

import asyncio
from dataclasses import dataclass, field
from typing import Final

import kopf
from lightkube import AsyncClient

from caas_core.adapters.clients import BackendClients
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_operator.settings import OperatorSettings
from caas_operator.shared.events import EventPoster
from caas_operator.shared.kube import FIELD_MANAGER
from caas_operator.shared.legal_hold_store import LegalHoldStore
from caas_operator.shared.ownership import Capabilities
from caas_operator.shared.registry import Registry

_MEMO_KEY: Final = "context"


@dataclass(slots=True)
class Locks:
    """One asyncio lock per key (a tenant), created on first use."""

    held: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, key: str) -> asyncio.Lock:
        """The key's lock."""
        return self.held.setdefault(key, asyncio.Lock())

    def forget(self, key: str) -> None:
        """Drop the lock of a key that is gone (unless someone holds it)."""
        lock = self.held.get(key)
        if lock is not None and not lock.locked():
            del self.held[key]


@dataclass(slots=True, kw_only=True)
class ProcessState:
    """What the process learnt once and must not learn again."""

    # The webhook store's indexes were ensured by this process.
    webhook_indexes: bool = False
    # The authorization store's indexes (AccessPolicy) were ensured by this process.
    authz_indexes: bool = False


@dataclass(slots=True, kw_only=True)
class CapabilityCache:
    """Backend capabilities detected once per process (None until a detection succeeded)."""

    kafka_authorizer: bool | None = None
    mongo_users: bool | None = None

    def snapshot(self) -> Capabilities:
        """An immutable copy for planning."""
        return Capabilities(kafka_authorizer=self.kafka_authorizer, mongo_users=self.mongo_users)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorContext:
    """Settings, clients, the ownership registry, and per-tenant serialisation."""

    settings: OperatorSettings
    clients: BackendClients
    kube: AsyncClient
    registry: Registry
    holds: LegalHoldStore
    events: EventPoster
    capabilities: CapabilityCache = field(default_factory=CapabilityCache)
    # kopf runs timers beside change handlers: one lock per tenant keeps reconciles of the same
    # tenant in sequence; the semaphore bounds how many tenants are reconciled at once.
    locks: Locks = field(default_factory=Locks)
    # Quota checks and issuance of one tenant's API keys / webhooks run one at a time.
    api_key_locks: Locks = field(default_factory=Locks)
    webhook_locks: Locks = field(default_factory=Locks)
    state: ProcessState = field(default_factory=ProcessState)
    # Ready of every tenant this process reconciled, for the caas_operator_tenants gauge.
    ready: dict[str, bool] = field(default_factory=dict)
    # Uids of Tenants whose teardown began: a timer tick queued behind it must not reconcile.
    deleting: set[str] = field(default_factory=set)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(16))

    @classmethod
    def open(cls, settings: OperatorSettings) -> "OperatorContext":
        """Create every client (lazily connecting; KUBECONFIG or in-cluster config)."""
        clients = BackendClients.open(settings, app_name=FIELD_MANAGER)
        kube = AsyncClient(field_manager=FIELD_MANAGER)
        platform = clients.mongo[PLATFORM_DATABASE]
        return cls(
            settings=settings,
            clients=clients,
            kube=kube,
            registry=Registry(platform),
            holds=LegalHoldStore(platform),
            events=EventPoster(kube),
            slots=asyncio.Semaphore(settings.max_concurrent_reconciles),
        )

    def lock(self, tenant: str) -> asyncio.Lock:
        """The tenant's lock (created on first use)."""
        return self.locks.lock(tenant)

    def forget(self, tenant: str) -> None:
        """Drop the lock of a deleted tenant."""
        self.locks.forget(tenant)

    async def close(self) -> None:
        """Release every connection (queued events get a moment to go out)."""
        await self.events.drain()
        await self.clients.close()
        await self.kube.close()


def ensure(memo: kopf.Memo, settings: OperatorSettings) -> OperatorContext:
    """The context in the operator-wide memo (copied into every resource's), opened once."""
    existing = memo.get(_MEMO_KEY)
    if isinstance(existing, OperatorContext):
        return existing
    opened = OperatorContext.open(settings)
    memo[_MEMO_KEY] = opened
    return opened


async def close(memo: kopf.Memo) -> None:
    """Close the context if start-up got as far as opening it."""
    existing = memo.get(_MEMO_KEY)
    if isinstance(existing, OperatorContext):
        await existing.close()


async def discard(memo: kopf.Memo) -> None:
    """Close the context and forget it, so the next start-up attempt opens a fresh one."""
    await close(memo)
    memo.pop(_MEMO_KEY, None)


def load(memo: kopf.Memo) -> OperatorContext:
    """The context stored at start-up."""
    context = memo.get(_MEMO_KEY)
    if not isinstance(context, OperatorContext):
        raise TypeError("operator context missing: the start-up handler has not run")
    return context


def settings_of(memo: kopf.Memo) -> OperatorSettings:
    """The settings main() validated and handed to kopf."""
    settings = memo.get("settings")
    if not isinstance(settings, OperatorSettings):
        raise TypeError("operator settings missing from the memo")
    return settings

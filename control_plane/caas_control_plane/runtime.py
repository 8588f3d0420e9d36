"""The running service's object graph: clients, stores, services and background tasks.

Built once per process in the app's lifespan (`Runtime.start`) and torn down in reverse order.
"""

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo import ASCENDING, IndexModel

from caas_control_plane.auth.kek import KEK_INFO, SUCCESSOR_INFO, derive_subkey, kek_id, parse_kek
from caas_control_plane.auth.webhook_sealing import WebhookSecretSealer
from caas_control_plane.health import BackendHealth
from caas_control_plane.services.access import AccessGuard
from caas_control_plane.services.api_key_admin import ApiKeyAdmin
from caas_control_plane.services.api_keys import ApiKeyAuthenticator, ApiKeyCache
from caas_control_plane.services.audit_log import AuditLogService
from caas_control_plane.services.authz_admin import AuthzAdmin
from caas_control_plane.services.authz_decisions import DecisionPolicy, DecisionService
from caas_control_plane.services.events import EventingAuditWriter, EventPublisher
from caas_control_plane.services.keys import KeyPolicy, KeyService, utcnow
from caas_control_plane.services.mfa import MfaPolicy, MfaService
from caas_control_plane.services.rate_limits import RatePolicy, RequestLimits
from caas_control_plane.services.revocation import RevocationService
from caas_control_plane.services.sessions import SessionService
from caas_control_plane.services.signing_key_admin import SigningKeyAdmin
from caas_control_plane.services.tenants import TenantService
from caas_control_plane.services.token_control import TokenControl
from caas_control_plane.services.tokens import TokenPolicy, TokenService
from caas_control_plane.services.webhook_deliveries import WebhookDeliveries
from caas_control_plane.services.webhooks import WebhookAdmin, WebhookPolicy
from caas_control_plane.settings import ApiSettings
from caas_control_plane.stores.authz_cache import RedisDecisionCache
from caas_control_plane.stores.lockout import Lockout, LockoutPolicy
from caas_control_plane.stores.mfa import USED as MFA_USED_CODES
from caas_control_plane.stores.mfa import MfaStore
from caas_control_plane.stores.rate_limit import RateLimiter
from caas_control_plane.stores.refresh_tokens import FAMILIES, RefreshTokenStore
from caas_control_plane.stores.revocation_feed import RevocationFeed
from caas_control_plane.stores.sessions import SessionStore
from caas_control_plane.stores.signing_keys import SigningKeyStore
from caas_control_plane.stores.usage import UsageCounters
from caas_control_plane.stores.webhook_attempts import OutboxRetries, WebhookAttemptLog
from caas_control_plane.version import SERVICE_NAME
from caas_core.adapters.api_key_store import ApiKeyStore
from caas_core.adapters.audit import MongoAuditWriter, chain_audit_journal
from caas_core.adapters.auditlog_export import export_log
from caas_core.adapters.auditlog_store import INDEXES as AUDIT_LOG_INDEXES
from caas_core.adapters.auditlog_store import AuditLogStore
from caas_core.adapters.authz_store import AuthzStore
from caas_core.adapters.clients import BackendClients
from caas_core.adapters.outbox import COLLECTION as OUTBOX
from caas_core.adapters.outbox import KafkaPublisher, OutboxRelay, OutboxStore
from caas_core.adapters.revocation_store import COLLECTION as REVOCATIONS
from caas_core.adapters.revocation_store import EXPIRE_AT as REVOCATION_EXPIRE_AT
from caas_core.adapters.revocation_store import BroadcastRevocations, RevocationStore
from caas_core.adapters.tenant_profiles import TenantProfileStore
from caas_core.adapters.webhook_events import OutboxEvents
from caas_core.adapters.webhook_resolver import WebhookResolver
from caas_core.adapters.webhook_store import WebhookStore
from caas_core.auditlog.checkpoint import CheckpointSigner
from caas_core.domain.audit import AuditWriter
from caas_core.domain.naming import PLATFORM_DATABASE

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_RUNNER_SLACK: Final = 0.5

# Records that expire are deleted by TTL indexes (expireAfterSeconds=0: at the date in the
# field); none of these deletions needs an audit entry, so no sweeper runs.
_INDEXES: Final = {
    REVOCATIONS: [
        IndexModel([("expiresAt", ASCENDING)], name="expires_at"),
        IndexModel([(REVOCATION_EXPIRE_AT, ASCENDING)], name="expire_at_ttl", expireAfterSeconds=0),
    ],
    OUTBOX: [
        IndexModel([("claimUntil", ASCENDING)], name="claim_until"),
        # The relay reads back what its claim stamped (claim_due): by token, not a scan.
        IndexModel([("claim", ASCENDING)], name="claim"),
        # Per-key order (outbox.waiting_before): only messages waiting for a retry, so the
        # relay's check before each batch reads an index of the few failed ones.
        IndexModel(
            [("key", ASCENDING), ("order", ASCENDING)],
            name="key_waiting",
            partialFilterExpression={"attempts": {"$gt": 0}},
        ),
    ],
    FAMILIES: [
        IndexModel([("tenant", ASCENDING), ("user", ASCENDING)], name="tenant_user"),
        # Logout and ending a session revoke that session's family: without it, a scan of
        # every family of the tenant (the query-plan test found it).
        IndexModel([("tenant", ASCENDING), ("session", ASCENDING)], name="tenant_session"),
        IndexModel([("expiresAt", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
    MFA_USED_CODES: [
        IndexModel([("expiresAt", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
    **AUDIT_LOG_INDEXES,
}
# Indexes of earlier versions that a TTL index above replaces (same keys: MongoDB refuses a
# second index on identical keys, so the old one is dropped first).
_REPLACED_INDEXES: Final = {FAMILIES: ["expires_at"]}


def keks(settings: ApiSettings) -> tuple[str, dict[str, bytes]]:
    """The current KEK id and every KEK able to open stored keys."""
    current = (
        parse_kek(settings.kek.get_secret_value())
        if settings.kek is not None
        else derive_subkey(settings.secret_key.get_secret_value(), info=KEK_INFO)
    )
    available = {kek_id(current): current}
    if settings.previous_keks is not None:
        for text in settings.previous_keks.get_secret_value().split(","):
            previous = parse_kek(text)
            available.setdefault(kek_id(previous), previous)
    # The derived KEK also opens keys sealed before a dedicated CAAS_KEK was configured.
    derived = derive_subkey(settings.secret_key.get_secret_value(), info=KEK_INFO)
    available.setdefault(kek_id(derived), derived)
    return kek_id(current), available


def _lockout_policy(settings: ApiSettings, *, max_failures: int) -> LockoutPolicy:
    """Lock a subject after `max_failures` within the settings' window, for their lockout."""
    return LockoutPolicy(
        max_failures=max_failures,
        window=settings.failure_window_seconds,
        lockout=settings.lockout_seconds,
    )


@dataclass(kw_only=True)
class Runtime:
    """Everything the routers use, plus what must be stopped on shutdown."""

    settings: ApiSettings
    clients: BackendClients
    health: BackendHealth
    keys: KeyService
    signing_key_admin: SigningKeyAdmin
    revocations: RevocationService
    tokens: TokenService
    control: TokenControl
    api_keys: ApiKeyAuthenticator
    key_admin: ApiKeyAdmin
    tenants: TenantService
    sessions: SessionService
    mfa: MfaService
    authz_admin: AuthzAdmin
    authz_decisions: DecisionService
    limits: RequestLimits
    guard: AccessGuard
    outbox: OutboxStore
    audit: AuditWriter
    audit_log: AuditLogStore
    audit_signer: CheckpointSigner
    audit_service: AuditLogService
    webhook_admin: WebhookAdmin
    webhook_deliveries: WebhookDeliveries
    event_publisher: EventPublisher
    relay: OutboxRelay
    publisher: KafkaPublisher
    feed: RevocationFeed
    instance_id: str
    clock: Clock = utcnow
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: ApiSettings, *, clock: Clock = utcnow) -> "Runtime":
        """Open clients, load (or create) signing keys, start consumers and background tasks."""
        clients = BackendClients.open(settings, app_name=SERVICE_NAME)
        try:
            return await cls._start(settings, clients=clients, clock=clock)
        except BaseException:
            await clients.close()
            raise

    @classmethod
    async def _start(
        cls, settings: ApiSettings, *, clients: BackendClients, clock: Clock
    ) -> "Runtime":
        db = clients.mongo[PLATFORM_DATABASE]
        instance_id = (
            settings.instance_id or f"{os.uname().nodename}-{os.getpid()}-{secrets.token_hex(3)}"
        )
        current_kek, available = keks(settings)
        outbox = OutboxStore(db, clock=clock)
        events = OutboxEvents(outbox)
        # Audited actions that are also platform events (api_key.created …) queue both.
        audit = EventingAuditWriter(MongoAuditWriter(outbox=outbox), events)
        audit_log = AuditLogStore(db, clock=clock)
        audit_signer = settings.audit_signer()
        chain_audit_journal(outbox=outbox, log=audit_log)
        families = RefreshTokenStore(db)
        sessions = SessionStore(clients.mongo)
        keys = KeyService(
            SigningKeyStore(db, kek_id=current_kek, keks=available),
            policy=KeyPolicy(
                access_token_ttl=settings.access_token_ttl,
                rotate_after=timedelta(seconds=settings.signing_key_rotation_seconds),
                publish_for=timedelta(seconds=settings.key_publish_seconds),
            ),
            issuer=settings.issuer,
            audience=settings.audience,
            clock=clock,
        )
        revocations = RevocationService(
            store=BroadcastRevocations(RevocationStore(db), outbox),
            families=families,
            sessions=sessions,
            access_token_ttl=settings.access_token_ttl,
            clock=clock,
        )
        tokens = TokenService(
            keys=keys,
            families=families,
            sessions=sessions,
            revocations=revocations,
            audit=audit,
            policy=TokenPolicy(
                issuer=settings.issuer,
                audience=settings.audience,
                access_token_ttl=settings.access_token_ttl,
                refresh_token_ttl=settings.refresh_token_ttl,
                refresh_grace=settings.refresh_grace,
            ),
            successor_key=derive_subkey(
                settings.secret_key.get_secret_value(), info=SUCCESSOR_INFO
            ),
            clock=clock,
        )
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers,
            client_id=f"{SERVICE_NAME}-{instance_id}",
            delivery_timeout=settings.backend_timeout,
        )
        relay = OutboxRelay(outbox, publisher, scan_interval=settings.outbox_scan_seconds)
        feed = RevocationFeed(
            settings.kafka_bootstrap_servers,
            group_id=f"{SERVICE_NAME}-revocations-{instance_id}",
            handler=revocations.on_event,
            timeout=settings.backend_timeout,
        )
        api_key_store = ApiKeyStore(db)
        webhook_store = WebhookStore(db)
        await webhook_store.ensure_indexes()
        webhook_attempts = WebhookAttemptLog(
            db, ttl_seconds=settings.webhook_attempt_ttl_days * 86_400
        )
        await webhook_attempts.ensure_indexes()
        authz_store = AuthzStore(db, clock=clock)
        await authz_store.ensure_indexes()
        lockout = Lockout(clients.redis)
        authenticator = ApiKeyAuthenticator(
            store=api_key_store,
            audit=audit,
            clock=clock,
            cache=ApiKeyCache(
                ttl=settings.api_key_cache_seconds, changed_at=revocations.api_key_changed_at
            ),
            lockout=lockout,
            lockout_policy=_lockout_policy(settings, max_failures=settings.api_key_max_failures),
        )
        tenants = TenantService(
            store=TenantProfileStore(db),
            api_keys=api_key_store,
            families=families,
            counters=UsageCounters(clients.redis),
            audit=audit,
            clock=clock,
        )
        mfa = MfaService(
            store=MfaStore(db),
            sessions=sessions,
            keys=keys,
            revocations=revocations,
            lockout=lockout,
            lockout_policy=_lockout_policy(settings, max_failures=settings.mfa_max_failures),
            audit=audit,
            kek_id=current_kek,
            keks=available,
            policy=MfaPolicy(
                issuer=settings.issuer,
                audience=settings.audience,
                step_up=timedelta(seconds=settings.mfa_step_up_seconds),
                trusted_device=timedelta(days=settings.trusted_device_days),
            ),
            clock=clock,
            tenant_requires_mfa=tenants.requires_mfa,
        )
        runtime = cls(
            settings=settings,
            clients=clients,
            health=BackendHealth(
                probes=clients.probes(timeout=settings.health_timeout),
                timeout=settings.health_timeout + _RUNNER_SLACK,
            ),
            keys=keys,
            signing_key_admin=SigningKeyAdmin(keys=keys, audit=audit),
            revocations=revocations,
            tokens=tokens,
            control=TokenControl(
                keys=keys, families=families, revocations=revocations, audit=audit, clock=clock
            ),
            api_keys=authenticator,
            key_admin=ApiKeyAdmin(
                store=api_key_store,
                tenants=tenants,
                authenticator=authenticator,
                revocations=revocations,
                audit=audit,
                clock=clock,
            ),
            tenants=tenants,
            sessions=SessionService(
                sessions=sessions,
                families=families,
                revocations=revocations,
                audit=audit,
                max_lifetime=settings.refresh_token_ttl,
                clock=clock,
                require_step_up=mfa.require_step_up,
            ),
            mfa=mfa,
            authz_admin=AuthzAdmin(store=authz_store, audit=audit),
            authz_decisions=DecisionService(
                store=authz_store,
                cache=RedisDecisionCache(clients.redis),
                audit=audit,
                policy=DecisionPolicy(
                    cache_seconds=settings.authz_decision_cache_seconds,
                    log_sample=settings.authz_decision_log_sample,
                    recent=settings.authz_recent_decisions,
                ),
            ),
            limits=RequestLimits(
                RateLimiter(clients.redis),
                policy=RatePolicy(
                    per_key=settings.rate_limit_per_minute,
                    per_user=settings.user_rate_limit_per_minute,
                    per_tenant=settings.tenant_rate_limit_per_minute,
                    per_ip=settings.ip_rate_limit_per_minute,
                    burst=settings.rate_limit_burst,
                ),
                client_rate=tenants.client_rate,
            ),
            guard=AccessGuard(keys=keys, revocations=revocations, clock=clock),
            outbox=outbox,
            audit=audit,
            audit_log=audit_log,
            audit_signer=audit_signer,
            audit_service=AuditLogService(
                store=audit_log,
                export=functools.partial(export_log, audit_log, signer=audit_signer),
                signer=audit_signer,
                checkpoint_period=timedelta(seconds=settings.audit_checkpoint_seconds),
                clock=clock,
            ),
            webhook_admin=WebhookAdmin(
                store=webhook_store,
                plan=tenants.plan,
                sealer=WebhookSecretSealer(kek_id=current_kek, keks=available),
                resolve=WebhookResolver(
                    hosts_file=settings.webhook_hosts_file, timeout=settings.backend_timeout
                ),
                audit=audit,
                policy=WebhookPolicy(
                    overlap=timedelta(seconds=settings.webhook_secret_overlap_seconds),
                    # Development only (the settings refuse both elsewhere), like the dispatcher.
                    allow_insecure_http=settings.webhook_allow_insecure_http,
                    allow_networks=tuple(
                        ipaddress.ip_network(entry.strip(), strict=False)
                        for entry in settings.webhook_allow_private_networks.split(",")
                        if entry.strip()
                    ),
                ),
                clock=clock,
            ),
            webhook_deliveries=WebhookDeliveries(
                endpoints=webhook_store,
                attempts=webhook_attempts,
                retries=OutboxRetries(outbox),
                audit=audit,
                clock=clock,
            ),
            event_publisher=EventPublisher(events=events, clock=clock),
            relay=relay,
            publisher=publisher,
            feed=feed,
            instance_id=instance_id,
            clock=clock,
        )
        try:
            await runtime._begin(db_indexes=db)
        except BaseException:
            await runtime._end()
            raise
        return runtime

    async def _begin(self, *, db_indexes: Any) -> None:
        settings = self.settings
        for collection, indexes in _INDEXES.items():
            # Only the missing ones: a start-up of many instances issues no no-op index builds.
            existing = await db_indexes[collection].index_information()
            for replaced in _REPLACED_INDEXES.get(collection, []):
                if replaced in existing:
                    await db_indexes[collection].drop_index(replaced)
            missing = [index for index in indexes if index.document["name"] not in existing]
            if missing:
                await db_indexes[collection].create_indexes(missing)
        await self.keys.start()
        # The feed first, then the snapshot: a revocation is either in one or the other.
        self.feed.start()
        # Bounded: with Kafka down the instance still starts; the resync loop covers it.
        await asyncio.to_thread(self.feed.assigned.wait, settings.backend_timeout * 2)
        await self.revocations.resync()
        self._spawn(self.relay.run(), "outbox-relay")
        self._spawn(self.keys.run(interval=settings.key_refresh_seconds), "signing-keys")
        self._spawn(
            self.revocations.run_resync(interval=settings.revocation_resync_seconds),
            "revocation-resync",
        )
        logger.info("runtime started", extra={"instance": self.instance_id})

    def _spawn(self, coroutine: Any, name: str) -> None:
        self.tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self) -> None:
        """Stop background work, deliver what is in flight, close the clients."""
        await self._end()

    async def _end(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        await self.feed.stop()
        await self.publisher.close(timeout=2.0)
        await self.clients.close()

"""Kafka: AdminClient factory, idempotent topic provisioning with drift reports, a ping probe.

Over 400 lines: topics and ACLs share the client, the future-awaiting and error mapping of
librdkafka's admin API; splitting ACLs into their own module is the next cut if it grows.
"""

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from caas_core.adapters.probe import timed_probe
from caas_core.domain.health import ProbeResult
from caas_core.domain.kafka_acl import (
    ANY_HOST,
    SCRAM_ITERATIONS,
    AclOp,
    AclResource,
    AclRule,
)
from caas_core.domain.topics import TopicDrift, TopicSpec, diff_topic

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Headroom over librdkafka's own request timeout, so its error (not ours) usually wins.
_GRACE: Final = 1.0


class KafkaAdminError(RuntimeError):
    """A Kafka admin operation failed for one or more topics."""


class KafkaUnavailableError(KafkaAdminError, ConnectionError):
    """The brokers could not be reached (transport failure or timeout)."""


_UNREACHABLE_CODES: Final = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError.REQUEST_TIMED_OUT,
    }
)


def _admin_error(message: str, errors: Iterable[object]) -> KafkaAdminError:
    """KafkaUnavailableError when any underlying error means the cluster is unreachable."""
    unreachable = any(isinstance(e, KafkaError) and e.code() in _UNREACHABLE_CODES for e in errors)
    return (KafkaUnavailableError if unreachable else KafkaAdminError)(message)


class AuthorizerDisabledError(KafkaAdminError):
    """The cluster has no authorizer, so ACLs cannot be described or set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveTopic:
    """Partition count and replication factor of an existing topic."""

    name: str
    partitions: int
    replication_factor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicsReport:
    """What ensure_topics did, and the drifts it cannot correct."""

    created: tuple[str, ...] = ()
    reconfigured: tuple[str, ...] = ()
    repartitioned: tuple[str, ...] = ()
    drifts: tuple[TopicDrift, ...] = ()
    # Differences found and corrected (configs set, partitions raised), before correction.
    corrected: tuple[TopicDrift, ...] = ()


def connect(
    bootstrap_servers: str, *, client_id: str = "caas", timeout: float = 5.0
) -> AdminClient:
    """An AdminClient; it connects in the background, so creating it does not block."""
    millis = int(timeout * 1000)
    return AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "client.id": client_id,
            "socket.timeout.ms": millis,
            "socket.connection.setup.timeout.ms": millis,
            # librdkafka logs every failed reconnect to stderr; back off so an outage
            # yields a line every few seconds instead of twenty a second.
            "reconnect.backoff.ms": 1000,
            "reconnect.backoff.max.ms": 10000,
        }
    )


async def _await(future: "concurrent.futures.Future[T]", *, timeout: float) -> T:
    async with asyncio.timeout(timeout + _GRACE):
        return await asyncio.wrap_future(future)


async def ping(admin: AdminClient, *, timeout: float = 2.0) -> ProbeResult:
    """Ask the cluster to describe itself (needs a live broker connection)."""

    async def check() -> None:
        await asyncio.wrap_future(admin.describe_cluster(request_timeout=timeout))

    return await timed_probe(check, timeout=timeout)


async def describe_topics(admin: AdminClient, *, timeout: float = 10.0) -> dict[str, LiveTopic]:
    """Every non-internal topic with its partition count and replication factor."""
    # list_topics blocks on a metadata request, so it runs in a worker thread.
    metadata: ClusterMetadata = await asyncio.to_thread(admin.list_topics, timeout=timeout)
    live: dict[str, LiveTopic] = {}
    for name, topic in metadata.topics.items():
        if name.startswith("__"):
            continue
        if topic.error is not None:
            raise KafkaAdminError(f"cannot describe topic {name}: {topic.error.str()}")
        first = topic.partitions.get(0)
        live[name] = LiveTopic(
            name=name,
            partitions=len(topic.partitions),
            replication_factor=len(first.replicas) if first is not None else 0,
        )
    return live


async def describe_named_topics(
    admin: AdminClient, names: Sequence[str], *, timeout: float = 10.0
) -> dict[str, LiveTopic]:
    """Partitions and replication of the named topics that exist (missing ones are left out).

    Cheaper than a full metadata listing once the cluster holds thousands of tenant topics.
    """
    if not names:
        return {}
    futures = admin.describe_topics(TopicCollection(list(names)), request_timeout=timeout)
    live: dict[str, LiveTopic] = {}
    failures: list[str] = []
    errors: list[object] = []
    for name, future in futures.items():
        try:
            description = await _await(future, timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            errors.append(error)
            failures.append(f"{name}: {error.str() if isinstance(error, KafkaError) else exc}")
            continue
        partitions = description.partitions
        live[name] = LiveTopic(
            name=name,
            partitions=len(partitions),
            replication_factor=len(partitions[0].replicas) if partitions else 0,
        )
    if failures:
        raise _admin_error("; ".join(failures), errors)
    return live


async def list_topic_names(
    admin: AdminClient, *, prefix: str = "", timeout: float = 10.0
) -> tuple[str, ...]:
    """Sorted names of the topics that start with the prefix."""
    topics = await describe_topics(admin, timeout=timeout)
    return tuple(sorted(name for name in topics if name.startswith(prefix)))


async def ensure_topics(
    admin: AdminClient,
    topics: Sequence[TopicSpec],
    *,
    timeout: float = 10.0,
    live: Mapping[str, LiveTopic] | None = None,
) -> TopicsReport:
    """Create missing topics; raise partitions and set configs that drifted; report the rest.

    `live` (what describe_named_topics returned for these names, when the caller just asked)
    saves a round trip.
    """
    if live is None:
        live = await describe_named_topics(admin, [t.name for t in topics], timeout=timeout)
    missing = [t for t in topics if t.name not in live]
    existing = [t for t in topics if t.name in live]
    created = await _create(admin, missing, timeout=timeout)
    configs = await _describe_configs(admin, [t.name for t in existing], timeout=timeout)
    drifts = [
        drift
        for spec in existing
        for drift in diff_topic(
            spec,
            partitions=live[spec.name].partitions,
            replication_factor=live[spec.name].replication_factor,
            config=configs.get(spec.name, {}),
        )
    ]
    specs = {t.name: t for t in existing}
    grow = sorted({d.topic for d in drifts if d.correctable and d.setting == "partitions"})
    reconfigure = sorted({d.topic for d in drifts if d.correctable and d.setting != "partitions"})
    await _add_partitions(admin, [specs[n] for n in grow], timeout=timeout)
    await _set_configs(admin, [specs[n] for n in reconfigure], timeout=timeout)
    report = TopicsReport(
        created=tuple(created),
        reconfigured=tuple(reconfigure),
        repartitioned=tuple(grow),
        drifts=tuple(d for d in drifts if not d.correctable),
        corrected=tuple(d for d in drifts if d.correctable),
    )
    if report.created or report.reconfigured or report.repartitioned:
        logger.info(
            "kafka topics ensured",
            extra={
                "topics_created": list(report.created),
                "topics_reconfigured": list(report.reconfigured),
                "topics_repartitioned": list(report.repartitioned),
            },
        )
    return report


async def delete_topics(
    admin: AdminClient, names: Iterable[str], *, timeout: float = 10.0
) -> tuple[str, ...]:
    """Delete the topics; ones already gone count as deleted."""
    wanted = sorted(set(names))
    if not wanted:
        return ()
    futures = admin.delete_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
    await _collect(futures, timeout=timeout, ignore=(KafkaError.UNKNOWN_TOPIC_OR_PART,))
    logger.info("kafka topics deleted", extra={"topics": wanted})
    return tuple(wanted)


async def _create(admin: AdminClient, topics: Sequence[TopicSpec], *, timeout: float) -> list[str]:
    if not topics:
        return []
    new = [
        NewTopic(
            t.name,
            num_partitions=t.partitions,
            replication_factor=t.replication_factor,
            config=dict(t.config),
        )
        for t in topics
    ]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    # Another reconciler may have won the race; the topic is then compared on the next pass.
    await _collect(futures, timeout=timeout, ignore=(KafkaError.TOPIC_ALREADY_EXISTS,))
    return [t.name for t in topics]


async def _describe_configs(
    admin: AdminClient, names: Sequence[str], *, timeout: float
) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    futures = admin.describe_configs(resources, request_timeout=timeout)
    described: dict[str, dict[str, str]] = {}
    for resource, future in futures.items():
        entries: Mapping[str, ConfigEntry] = await _await(future, timeout=timeout)
        described[resource.name] = {
            key: entry.value for key, entry in entries.items() if entry.value is not None
        }
    return described


async def _add_partitions(
    admin: AdminClient, topics: Sequence[TopicSpec], *, timeout: float
) -> None:
    if not topics:
        return
    requests = [NewPartitions(t.name, t.partitions) for t in topics]
    futures = admin.create_partitions(requests, operation_timeout=timeout, request_timeout=timeout)
    await _collect(futures, timeout=timeout)


async def _set_configs(admin: AdminClient, topics: Sequence[TopicSpec], *, timeout: float) -> None:
    if not topics:
        return
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            t.name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in sorted(t.config.items())
            ],
        )
        for t in topics
    ]
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
    await _collect(futures, timeout=timeout)


async def _collect(
    futures: Mapping[Any, "concurrent.futures.Future[Any]"],
    *,
    timeout: float,
    ignore: tuple[int, ...] = (),
) -> None:
    """Wait for every per-topic future; raise one error naming all topics that failed."""
    failures: list[str] = []
    errors: list[object] = []
    for key, future in futures.items():
        try:
            await _await(future, timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() in ignore:
                continue
            errors.append(error)
            detail = error.str() if isinstance(error, KafkaError) else str(exc)
            failures.append(f"{getattr(key, 'name', key)}: {detail}")
    if failures:
        raise _admin_error("; ".join(failures), errors)


# --- SCRAM principals and ACLs ---------------------------------------------------------------

_RESOURCE_TYPES: Final = {
    AclResource.TOPIC: ResourceType.TOPIC,
    AclResource.GROUP: ResourceType.GROUP,
    AclResource.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID,
}
_OPERATIONS: Final = {
    AclOp.READ: AclOperation.READ,
    AclOp.WRITE: AclOperation.WRITE,
    AclOp.DESCRIBE: AclOperation.DESCRIBE,
    AclOp.DESCRIBE_CONFIGS: AclOperation.DESCRIBE_CONFIGS,
}
_RESOURCE_NAMES: Final = {v: k for k, v in _RESOURCE_TYPES.items()}
_OPERATION_NAMES: Final = {v: k for k, v in _OPERATIONS.items()}


def _error_of(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


def _principal_filter(principal: str) -> AclBindingFilter:
    # None matches any resource name and any host (the stubs say str; librdkafka takes NULL).
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        principal,
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _binding(rule: AclRule) -> AclBinding:
    return AclBinding(
        _RESOURCE_TYPES[rule.resource],
        rule.prefix,
        ResourcePatternType.PREFIXED,
        rule.principal,
        ANY_HOST,
        _OPERATIONS[rule.operation],
        AclPermissionType.ALLOW,
    )


def _exact_filter(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PrincipalAcls:
    """A principal's live ACLs: the ones we can express as rules, and the raw bindings of all."""

    rules: frozenset[AclRule]
    foreign: tuple[str, ...]
    bindings: tuple[AclBinding, ...]


def binding_rule(binding: AclBinding) -> AclRule | None:
    """The binding as one of our rules; None for anything a tenant grant never looks like."""
    restype, op = binding.restype, binding.operation
    resource = _RESOURCE_NAMES.get(restype) if isinstance(restype, ResourceType) else None
    operation = _OPERATION_NAMES.get(op) if isinstance(op, AclOperation) else None
    if (
        resource is None
        or operation is None
        or binding.resource_pattern_type != ResourcePatternType.PREFIXED
        or binding.permission_type != AclPermissionType.ALLOW
        or binding.host != ANY_HOST
    ):
        return None
    return AclRule(
        principal=binding.principal, resource=resource, prefix=binding.name, operation=operation
    )


async def describe_principal_acls(
    admin: AdminClient, principal: str, *, timeout: float = 10.0
) -> PrincipalAcls:
    """Every ACL bound to the principal; AuthorizerDisabledError when the cluster has none."""
    future = admin.describe_acls(_principal_filter(principal), request_timeout=timeout)
    try:
        bindings: list[AclBinding] = await _await(future, timeout=timeout)
    except KafkaException as exc:
        error = _error_of(exc)
        if error is not None and error.code() == KafkaError.SECURITY_DISABLED:
            raise AuthorizerDisabledError("the Kafka cluster has no authorizer") from None
        raise _admin_error(f"describe ACLs of {principal}: {error or exc}", [error]) from None
    rules: set[AclRule] = set()
    foreign: list[str] = []
    for binding in bindings:
        rule = binding_rule(binding)
        if rule is None:
            foreign.append(str(binding))
        else:
            rules.add(rule)
    return PrincipalAcls(rules=frozenset(rules), foreign=tuple(foreign), bindings=tuple(bindings))


async def authorizer_enabled(admin: AdminClient, *, timeout: float = 10.0) -> bool:
    """Whether the cluster enforces ACLs (describing ACLs fails with SECURITY_DISABLED if not)."""
    try:
        await describe_principal_acls(admin, "User:caas-operator-probe", timeout=timeout)
    except AuthorizerDisabledError:
        return False
    return True


async def create_acls(
    admin: AdminClient, rules: Iterable[AclRule], *, timeout: float = 10.0
) -> None:
    """Create the ALLOW bindings (creating an existing binding is a no-op in Kafka)."""
    bindings = [_binding(rule) for rule in sorted(rules)]
    if not bindings:
        return
    futures = admin.create_acls(bindings, request_timeout=timeout)
    await _collect(futures, timeout=timeout)


async def delete_acl_bindings(
    admin: AdminClient, bindings: Iterable[AclBinding], *, timeout: float = 10.0
) -> None:
    """Delete exactly these bindings."""
    filters = [_exact_filter(b) for b in bindings]
    if not filters:
        return
    futures = admin.delete_acls(filters, request_timeout=timeout)
    await _collect(futures, timeout=timeout)


async def delete_principal_acls(
    admin: AdminClient, principal: str, *, timeout: float = 10.0
) -> int:
    """Delete every ACL of the principal; the number removed (0 without an authorizer)."""
    futures = admin.delete_acls([_principal_filter(principal)], request_timeout=timeout)
    removed = 0
    for future in futures.values():
        try:
            removed += len(await _await(future, timeout=timeout))
        except KafkaException as exc:
            error = _error_of(exc)
            if error is not None and error.code() == KafkaError.SECURITY_DISABLED:
                return 0
            raise _admin_error(f"delete ACLs of {principal}: {error or exc}", [error]) from None
    if removed:
        logger.info("kafka acls deleted", extra={"principal": principal, "count": removed})
    return removed


async def scram_user_exists(admin: AdminClient, username: str, *, timeout: float = 10.0) -> bool:
    """Whether the SCRAM user has a SCRAM-SHA-512 credential."""
    futures = admin.describe_user_scram_credentials([username], request_timeout=timeout)
    if not isinstance(futures, Mapping):  # only a call without users returns one future
        raise KafkaAdminError("describe_user_scram_credentials returned a single future")
    try:
        description = await _await(futures[username], timeout=timeout)
    except KafkaException as exc:
        error = _error_of(exc)
        if error is not None and error.code() == KafkaError.RESOURCE_NOT_FOUND:
            return False
        raise _admin_error(f"describe SCRAM user {username}: {error or exc}", [error]) from None
    return any(
        info.mechanism == ScramMechanism.SCRAM_SHA_512
        for info in description.scram_credential_infos
    )


async def upsert_scram_user(
    admin: AdminClient, username: str, *, password: str, timeout: float = 10.0
) -> None:
    """Create or replace the user's SCRAM-SHA-512 credential."""
    upsert = UserScramCredentialUpsertion(
        username,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
        password.encode(),
    )
    futures = admin.alter_user_scram_credentials([upsert], request_timeout=timeout)
    try:
        await _await(futures[username], timeout=timeout)
    except KafkaException as exc:
        # The error never contains the password (it is sent salted and hashed).
        raise KafkaAdminError(
            f"set SCRAM credential of {username}: {_error_of(exc) or exc}"
        ) from None
    logger.info("kafka scram user set", extra={"kafka_user": username})


async def delete_scram_user(admin: AdminClient, username: str, *, timeout: float = 10.0) -> bool:
    """Delete the user's SCRAM-SHA-512 credential; False when it did not exist."""
    deletion = UserScramCredentialDeletion(username, ScramMechanism.SCRAM_SHA_512)
    futures = admin.alter_user_scram_credentials([deletion], request_timeout=timeout)
    try:
        await _await(futures[username], timeout=timeout)
    except KafkaException as exc:
        error = _error_of(exc)
        if error is not None and error.code() == KafkaError.RESOURCE_NOT_FOUND:
            return False
        message = f"delete SCRAM credential of {username}: {error or exc}"
        raise _admin_error(message, [error]) from None
    logger.info("kafka scram user deleted", extra={"kafka_user": username})
    return True

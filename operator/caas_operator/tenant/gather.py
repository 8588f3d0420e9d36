"""Read what already exists for a tenant before planning (the reads every reconcile needs)."""

import asyncio
import logging
from dataclasses import dataclass

from lightkube.core.exceptions import ApiError

from caas_core.adapters import kafka, mongo
from caas_core.domain.naming import PLATFORM_DATABASE, TenantNames
from caas_core.domain.retention import Rule
from caas_operator.context import OperatorContext
from caas_operator.shared import kube
from caas_operator.shared.outcomes import describe
from caas_operator.shared.ownership import Claims
from caas_operator.shared.retention_policies import governing_rules

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """The current state the plan depends on."""

    namespace: kube.ObjectState | None = None
    secret: kube.ObjectState | None = None
    # None when the registry could not be read: backends are then left alone.
    claims: Claims | None = None
    registry_error: str | None = None
    # Rules of the tenant's RetentionPolicies: they govern the retention.ms of backed topics.
    retention_rules: tuple[Rule, ...] = ()


async def gather(context: OperatorContext, names: TenantNames) -> Observed:
    """Namespace, credentials Secret and registry claims; Kubernetes errors propagate."""
    namespace, secret, (claims, registry_error), _, rules = await asyncio.gather(
        kube.read_namespace(context.kube, name=names.namespace),
        kube.read_secret(context.kube, namespace=names.namespace, name=names.credentials_secret),
        _claims(context, names.tenant),
        detect_capabilities(context),
        _retention_rules(context, names.namespace),
    )
    return Observed(
        namespace=namespace,
        secret=secret,
        claims=claims,
        registry_error=registry_error,
        retention_rules=rules,
    )


async def _retention_rules(context: OperatorContext, namespace: str) -> tuple[Rule, ...]:
    try:
        return await governing_rules(context.kube, namespace=namespace)
    except ApiError as exc:
        # No RetentionPolicy CRD installed (404) means no policies; anything else propagates.
        if exc.status.code == 404:
            return ()
        raise


async def _claims(context: OperatorContext, tenant: str) -> tuple[Claims | None, str | None]:
    try:
        return await context.registry.claims(tenant), None
    except Exception as exc:  # reported per backend; Kubernetes objects can still converge
        return None, describe(exc)


async def detect_capabilities(context: OperatorContext) -> None:
    """Learn once per process whether Kafka has an authorizer and MongoDB manages users.

    Both decide which credentials the Secret holds; a backend that is down is asked again on
    the next reconcile (the steps also refresh what they learn).
    """
    cache, timeout = context.capabilities, context.settings.backend_timeout

    async def authorizer() -> None:
        if cache.kafka_authorizer is None:
            try:
                cache.kafka_authorizer = await kafka.authorizer_enabled(
                    context.clients.kafka, timeout=timeout
                )
            except Exception as exc:  # unknown for now; the Kafka step reports the outage
                logger.debug("kafka authorizer not detected", extra={"error": describe(exc)})

    async def users() -> None:
        if cache.mongo_users is None:
            try:
                cache.mongo_users = await mongo.users_supported(
                    context.clients.mongo, database=PLATFORM_DATABASE
                )
            except Exception as exc:  # unknown for now; the MongoDB step reports the outage
                logger.debug("mongo user support not detected", extra={"error": describe(exc)})

    await asyncio.gather(authorizer(), users())

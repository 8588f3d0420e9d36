"""Tear a tenant down according to its deletion policy."""

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from caas_core.adapters import kafka, mongo, redis
from caas_core.domain.naming import InvalidTenantNameError, tenant_names
from caas_core.resources.tenant import DeletionPolicy, TenantSpec
from caas_operator import kube
from caas_operator.context import OperatorContext
from caas_operator.planning import plan_deletion

logger = logging.getLogger(__name__)


def deletion_policy(spec: Mapping[str, Any]) -> DeletionPolicy:
    """The spec's policy; an unreadable spec falls back to Retain, which never loses data."""
    try:
        return TenantSpec.model_validate(dict(spec)).deletion_policy
    except ValidationError:
        return DeletionPolicy.RETAIN


async def finalize(context: OperatorContext, *, name: str, spec: Mapping[str, Any]) -> None:
    """Revoke access (Redis user, namespace with its Secret); with Delete, drop the data too."""
    try:
        names = tenant_names(name)
    except InvalidTenantNameError:
        return  # nothing was ever provisioned for an invalid name
    policy = deletion_policy(spec)
    plan = plan_deletion(names=names, policy=policy)
    clients = context.clients
    await redis.delete_acl_user(clients.redis, name=plan.redis_user)
    if plan.database is not None:
        await mongo.drop_database(clients.mongo, database=plan.database)
    if plan.topic_prefix is not None:
        timeout = context.settings.backend_timeout
        topics = await kafka.list_topic_names(
            clients.kafka, prefix=plan.topic_prefix, timeout=timeout
        )
        await kafka.delete_topics(clients.kafka, topics, timeout=timeout)
    # The namespace holds the credentials; it goes with either policy.
    await kube.delete_namespace(context.kube, name=plan.namespace)
    logger.info(
        "tenant finalized",
        extra={"tenant": name, "deletion_policy": policy.value},
    )

"""Platform-wide resources the operator ensures at start: registry database and topics."""

import logging

from caas_core.adapters import kafka, mongo
from caas_core.domain.collections import PLATFORM_COLLECTIONS
from caas_core.domain.naming import PLATFORM_DATABASE
from caas_core.domain.topics import platform_topics
from caas_operator.context import OperatorContext

logger = logging.getLogger(__name__)


async def ensure_platform(context: OperatorContext) -> None:
    """Create the caas_platform collections and the platform topics; raise if unreachable."""
    settings = context.settings
    await mongo.ensure_database(
        context.clients.mongo, database=PLATFORM_DATABASE, collections=PLATFORM_COLLECTIONS
    )
    topics = platform_topics(
        replication_factor=settings.kafka_replication_factor,
        partitions=settings.kafka_platform_partitions,
    )
    report = await kafka.ensure_topics(
        context.clients.kafka, topics, timeout=settings.backend_timeout
    )
    # Drifts Kafka cannot correct (fewer partitions, other replication) need a human;
    # the platform still works, so they are reported rather than fatal.
    for drift in report.drifts:
        logger.warning("platform topic drift", extra={"drift": drift.describe()})
    # Deletion looks legal holds up by tenant.
    await context.holds.ensure_indexes()
    logger.info(
        "platform resources ensured",
        extra={"database": PLATFORM_DATABASE, "topics": [t.name for t in topics]},
    )

"""Pydantic models of the platform's custom resources; the CRDs are generated from them."""

from caas_core.resources.tenant import (
    DeletionPolicy,
    DriftRecord,
    KafkaSpec,
    KafkaTopic,
    MongoCollection,
    MongoIndex,
    MongoSpec,
    PlanSpec,
    RateLimit,
    RedisCategory,
    RedisSpec,
    TenantSpec,
    TenantStatus,
)

__all__ = [
    "DeletionPolicy",
    "DriftRecord",
    "KafkaSpec",
    "KafkaTopic",
    "MongoCollection",
    "MongoIndex",
    "MongoSpec",
    "PlanSpec",
    "RateLimit",
    "RedisCategory",
    "RedisSpec",
    "TenantSpec",
    "TenantStatus",
]

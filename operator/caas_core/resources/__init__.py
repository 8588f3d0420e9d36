"""Pydantic models of the platform's custom resources; the CRDs are generated from them."""

from caas_core.resources.tenant import (
    DeletionPolicy,
    KafkaSpec,
    KafkaTopic,
    TenantSpec,
    TenantStatus,
)

__all__ = ["DeletionPolicy", "KafkaSpec", "KafkaTopic", "TenantSpec", "TenantStatus"]

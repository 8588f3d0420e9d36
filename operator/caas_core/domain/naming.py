"""Tenant name validation and every backend name derived from it."""

import re
from dataclasses import dataclass
from typing import Final

TENANT_NAME_MAX_LENGTH: Final = 40
# A DNS-1123 label (lowercase alphanumerics and '-', alphanumeric at both ends).
TENANT_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_TENANT_NAME_RE: Final = re.compile(TENANT_NAME_PATTERN)

API_GROUP: Final = "platform.caas.io"
# The one served version of every kind of the group (the CRDs, owner references, API calls).
API_VERSION: Final = "v1alpha1"
GROUP_VERSION: Final = f"{API_GROUP}/{API_VERSION}"
TENANT_LABEL: Final = f"{API_GROUP}/tenant"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "caas-operator"
CREDENTIALS_SECRET_NAME: Final = "caas-tenant-credentials"  # noqa: S105 - a name, not a secret
PLATFORM_DATABASE: Final = "caas_platform"
# `kubectl annotate tenant/<name> platform.caas.io/paused=true` stops every change to it.
PAUSED_ANNOTATION: Final = f"{API_GROUP}/paused"

NAMESPACE_PREFIX: Final = "tenant-"
DATABASE_PREFIX: Final = "tenant_"
TOPIC_PREFIX: Final = "tenant."
REDIS_USER_PREFIX: Final = "tenant-"
REDIS_KEY_PREFIX: Final = "t:"
# Kafka SCRAM and MongoDB users share the Redis user's name: one identity per tenant.
PRINCIPAL_PREFIX: Final = "tenant-"


class InvalidTenantNameError(ValueError):
    """The tenant name is not a DNS-1123 label of at most 40 characters."""


def validate_tenant_name(name: str) -> str:
    """Return the name unchanged if it is a valid tenant name, else raise InvalidTenantNameError."""
    if not name:
        raise InvalidTenantNameError("tenant name must not be empty")
    if len(name) > TENANT_NAME_MAX_LENGTH:
        raise InvalidTenantNameError(
            f"tenant name {name!r} is {len(name)} characters long; "
            f"the maximum is {TENANT_NAME_MAX_LENGTH} so derived names fit"
        )
    if not _TENANT_NAME_RE.fullmatch(name):
        raise InvalidTenantNameError(
            f"tenant name {name!r} must be a DNS-1123 label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def is_valid_tenant_name(name: str) -> bool:
    """Tell whether the name is a valid tenant name."""
    try:
        validate_tenant_name(name)
    except InvalidTenantNameError:
        return False
    return True


def namespace_name(tenant: str) -> str:
    """Kubernetes namespace of the tenant."""
    return f"{NAMESPACE_PREFIX}{validate_tenant_name(tenant)}"


def database_name(tenant: str) -> str:
    """MongoDB database of the tenant ('-' is awkward in database names, so it becomes '_')."""
    return f"{DATABASE_PREFIX}{validate_tenant_name(tenant).replace('-', '_')}"


def topic_prefix(tenant: str) -> str:
    """Prefix shared by every Kafka topic of the tenant."""
    return f"{TOPIC_PREFIX}{validate_tenant_name(tenant)}."


def topic_name(tenant: str, suffix: str) -> str:
    """Full Kafka topic name for one of the tenant's topic suffixes."""
    return f"{topic_prefix(tenant)}{suffix}"


def redis_user(tenant: str) -> str:
    """Redis ACL user of the tenant."""
    return f"{REDIS_USER_PREFIX}{validate_tenant_name(tenant)}"


def redis_prefix(tenant: str) -> str:
    """Prefix of every Redis key and pub/sub channel the tenant may touch."""
    return f"{REDIS_KEY_PREFIX}{validate_tenant_name(tenant)}:"


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantNames:
    """Every backend name derived from one tenant name."""

    tenant: str
    namespace: str
    database: str
    topic_prefix: str
    redis_user: str
    redis_key_pattern: str
    redis_channel_pattern: str
    credentials_secret: str
    kafka_user: str
    mongo_user: str

    def topic(self, suffix: str) -> str:
        """Full Kafka topic name for a suffix."""
        return f"{self.topic_prefix}{suffix}"

    def labels(self) -> dict[str, str]:
        """Labels put on every Kubernetes object the operator creates for the tenant."""
        return {TENANT_LABEL: self.tenant, MANAGED_BY_LABEL: MANAGED_BY}


def tenant_names(tenant: str) -> TenantNames:
    """Derive all backend names of a tenant, validating the name once."""
    validate_tenant_name(tenant)
    prefix = redis_prefix(tenant)
    return TenantNames(
        tenant=tenant,
        namespace=namespace_name(tenant),
        database=database_name(tenant),
        topic_prefix=topic_prefix(tenant),
        redis_user=redis_user(tenant),
        redis_key_pattern=f"{prefix}*",
        redis_channel_pattern=f"{prefix}*",
        credentials_secret=CREDENTIALS_SECRET_NAME,
        kafka_user=f"{PRINCIPAL_PREFIX}{tenant}",
        mongo_user=f"{PRINCIPAL_PREFIX}{tenant}",
    )

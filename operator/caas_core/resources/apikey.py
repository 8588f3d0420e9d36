"""The ApiKey custom resource: a tenant's API key, issued by the operator into a Secret."""

from datetime import datetime
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from caas_core.domain.conditions import Condition

# `<resource>:<action>`, `<resource>:*` or `*`, as the control plane's scope check reads them.
SCOPE_PATTERN: Final = r"^(\*|[a-z][a-z0-9_-]*:(\*|[a-z][a-z0-9_.-]*))$"
MAX_SCOPES: Final = 32
# A DNS-1123 subdomain, the rule for Secret names.
DNS_SUBDOMAIN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_SUBDOMAIN_MAX_LENGTH: Final = 253
DEFAULT_OVERLAP_SECONDS: Final = 24 * 60 * 60
MAX_OVERLAP_SECONDS: Final = 30 * 24 * 60 * 60

ROTATION_GENERATION_RULE: Final = "self >= oldSelf"
ROTATION_GENERATION_MESSAGE: Final = (
    "rotation.generation can only be increased (each increase issues a new key)"
)
DELIVERY_RULE: Final = (
    "has(self.secretName) == has(oldSelf.secretName) && "
    "(!has(self.secretName) || self.secretName == oldSelf.secretName)"
)
DELIVERY_MESSAGE: Final = (
    "secretName is immutable: the key was delivered there; create a new resource instead"
)

Scope = Annotated[
    str,
    Field(
        description="One scope: <resource>:<action>, <resource>:* or *.",
        min_length=1,
        max_length=128,
        pattern=SCOPE_PATTERN,
    ),
]

MODEL_CONFIG: Final = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    frozen=True,
    # The API server prunes unknown fields; ignoring extras keeps older operators working.
    extra="ignore",
)


class ApiKeyRotation(BaseModel):
    """How to rotate the key: bump the generation; the old key stays valid for the overlap."""

    model_config = MODEL_CONFIG

    generation: int = Field(
        default=0,
        description=(
            "Rotation counter. Raising it issues a new key into the Secret; the previous key "
            "keeps working for overlapSeconds, then stops. It can never be lowered."
        ),
        ge=0,
        json_schema_extra={
            "format": "int64",
            "x-kubernetes-validations": [
                {"rule": ROTATION_GENERATION_RULE, "message": ROTATION_GENERATION_MESSAGE}
            ],
        },
    )
    overlap_seconds: int = Field(
        default=DEFAULT_OVERLAP_SECONDS,
        description=(
            "How long the previous key stays valid after a rotation, in seconds "
            "(0 retires it at once; at most 30 days)."
        ),
        ge=0,
        le=MAX_OVERLAP_SECONDS,
    )


class ApiKeySpec(BaseModel):
    """Desired state of an API key of the namespace's tenant."""

    model_config = ConfigDict(
        **MODEL_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": DELIVERY_RULE, "message": DELIVERY_MESSAGE},
            ],
        },
    )

    description: str | None = Field(
        default=None, description="What the key is for, shown to humans.", max_length=256
    )
    scopes: list[Scope] = Field(
        default_factory=list,
        description=(
            "What the key may do, as <resource>:<action>, <resource>:* or *; "
            "an empty list allows nothing."
        ),
        max_length=MAX_SCOPES,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    expires_at: datetime | None = Field(
        default=None,
        description="When the key stops working (RFC 3339); unset means it never expires.",
    )
    secret_name: str | None = Field(
        default=None,
        description=(
            "Secret in this namespace that receives the key (keys apiKey and keyId); "
            "defaults to <name>-api-key. Immutable. An existing Secret is never adopted."
        ),
        max_length=DNS_SUBDOMAIN_MAX_LENGTH,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )
    rotation: ApiKeyRotation = Field(
        default_factory=ApiKeyRotation,
        description="Rotation of the key with an overlap window.",
    )


class ApiKeyStatus(BaseModel):
    """Observed state of an API key, written by the operator."""

    model_config = MODEL_CONFIG

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the operator last reconciled.", ge=0
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, with a reason such as Issued, SecretLost, NoTenant or QuotaExceeded.",
        max_length=8,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    tenant: str | None = Field(default=None, description="The tenant the key belongs to.")
    key_id: str | None = Field(
        default=None, description="Public id of the current key (caas_sk_<keyId>_...)."
    )
    secret_name: str | None = Field(default=None, description="Secret holding the current key.")
    rotation_generation: int | None = Field(
        default=None, description="The spec.rotation.generation the current key was issued for."
    )
    retiring_key_id: str | None = Field(
        default=None, description="Public id of the previous key while its overlap window runs."
    )
    retiring_until: datetime | None = Field(
        default=None, description="When the previous key stops working."
    )
    expires_at: datetime | None = Field(
        default=None, description="When the current key expires, if ever."
    )

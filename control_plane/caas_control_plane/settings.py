"""Control plane settings from the environment; they fail closed on unsafe secrets.

Over 500 lines on purpose: one class is the whole environment contract of the control plane's
processes (API, audit verifier, dispatcher share it, so a deployment sets one environment), each
field with its bounds and its description (which `caasctl` and the chart's docs show); the
cross-field rules need them together. Splitting by capability would be mixins of one class.
"""

import ipaddress
from collections.abc import Sequence
from datetime import timedelta
from typing import Final, Literal, Self

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from caas_control_plane.auth.audit_key import checkpoint_signer, parse_audit_seed
from caas_control_plane.auth.kek import parse_kek
from caas_core.auditlog.checkpoint import CheckpointSigner
from caas_core.domain.revocations import MAX_REFRESH_LIFETIME
from caas_core.domain.webhook_records import MAX_CONCURRENCY, MAX_RATE_PER_SECOND, MIN_CONCURRENCY
from caas_core.settings import BackendSettings, SettingsError, describe_validation_error

Environment = Literal["development", "production"]
TRUST_EVERY_PEER: Final = "*"
MIN_SECRET_KEY_LENGTH: Final = 32
# Values that appear in templates, tutorials and .env examples: never acceptable in production.
KNOWN_DEFAULT_SECRETS: Final = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "changeit",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "your-secret-key",
        "supersecret",
        "password",
        "default",
        "development",
        "dev",
        "test",
        "insecure",
        "caas",
    }
)


class ApiSettings(BackendSettings):
    """Everything the control plane needs to start."""

    env: Environment = Field(
        default="production",
        validation_alias="CAAS_ENV",
        description="development relaxes the secret-key checks; anything else is production.",
    )
    secret_key: SecretStr = Field(
        validation_alias="CAAS_SECRET_KEY",
        description="Process-wide secret (e.g. for sealing signing keys); required.",
    )
    host: str = Field(default="127.0.0.1", validation_alias="CAAS_API_HOST")
    port: int = Field(default=3000, ge=1, le=65535, validation_alias="CAAS_API_PORT")
    health_timeout: float = Field(
        default=2.0,
        gt=0,
        le=30,
        validation_alias="CAAS_HEALTH_TIMEOUT_SECONDS",
        description="Deadline of each backend probe behind the readiness endpoints.",
    )

    instance_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        validation_alias="CAAS_INSTANCE_ID",
        description="Name of this API instance (its revocation consumer group); default random.",
    )
    kek: SecretStr | None = Field(
        default=None,
        validation_alias="CAAS_KEK",
        description="Key-encryption key for signing keys at rest: 32 bytes in base64url. "
        "Default: derived from CAAS_SECRET_KEY with HKDF.",
    )
    previous_keks: SecretStr | None = Field(
        default=None,
        validation_alias="CAAS_PREVIOUS_KEKS",
        description="KEKs still able to open keys during KEK rotation: comma-separated base64url.",
    )
    internal_token: SecretStr | None = Field(
        default=None,
        validation_alias="CAAS_INTERNAL_TOKEN",
        description="Bearer token of the /internal admin calls (key rotation); unset: disabled.",
    )
    issuer: str = Field(
        default="https://api.caas.local",
        min_length=1,
        validation_alias="CAAS_JWT_ISSUER",
        description="`iss` of access tokens.",
    )
    audience: str = Field(
        default="caas-api",
        min_length=1,
        validation_alias="CAAS_JWT_AUDIENCE",
        description="`aud` of access tokens.",
    )
    access_token_ttl_seconds: int = Field(
        default=900, ge=30, le=86_400, validation_alias="CAAS_ACCESS_TOKEN_TTL_SECONDS"
    )
    refresh_token_ttl_seconds: int = Field(
        default=30 * 86_400,
        ge=300,
        le=int(MAX_REFRESH_LIFETIME.total_seconds()),  # tenant revocations outlive them all
        validation_alias="CAAS_REFRESH_TOKEN_TTL_SECONDS",
        description="Absolute lifetime of a refresh family (rotation never extends it).",
    )
    refresh_grace_seconds: float = Field(
        default=10.0,
        ge=0,
        le=120,
        validation_alias="CAAS_REFRESH_GRACE_SECONDS",
        description="How long the replaced refresh token still yields the same successor.",
    )
    signing_key_rotation_seconds: int = Field(
        default=30 * 86_400,
        ge=0,
        validation_alias="CAAS_SIGNING_KEY_ROTATION_SECONDS",
        description="Age at which the signing key is rotated on schedule; 0 disables it.",
    )
    key_publish_seconds: int = Field(
        default=600,
        ge=0,
        le=86_400,
        validation_alias="CAAS_SIGNING_KEY_PUBLISH_SECONDS",
        description="How long a new key sits in the JWKS before it signs (caches catch up).",
    )
    key_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        validation_alias="CAAS_SIGNING_KEY_REFRESH_SECONDS",
        description="How often each instance re-reads the signing keys.",
    )
    jwks_max_age_seconds: int = Field(
        default=300, ge=0, le=86_400, validation_alias="CAAS_JWKS_MAX_AGE_SECONDS"
    )
    revocation_resync_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        validation_alias="CAAS_REVOCATION_RESYNC_SECONDS",
        description="Revocations are re-read from MongoDB this often (Kafka is the fast path).",
    )
    outbox_scan_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        validation_alias="CAAS_OUTBOX_SCAN_SECONDS",
        description="How often the outbox relay looks for undelivered events.",
    )
    audit_signing_key: SecretStr | None = Field(
        default=None,
        validation_alias="CAAS_AUDIT_SIGNING_KEY",
        description="Ed25519 seed (32 bytes, base64url) signing audit checkpoints. Default: "
        "derived from CAAS_SECRET_KEY with HKDF. Its public key is published at "
        "/.well-known/caas-audit-keys.",
    )
    audit_key_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:/-]{1,128}$",
        validation_alias="CAAS_AUDIT_KEY_NAME",
        description="Name of the checkpoint key (the origin's prefix). Default: the issuer's "
        "host followed by /audit.",
    )
    audit_checkpoint_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        validation_alias="CAAS_AUDIT_CHECKPOINT_SECONDS",
        description="How often the audit verifier signs a checkpoint of every log that grew.",
    )
    audit_verify_scan_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        validation_alias="CAAS_AUDIT_VERIFY_SCAN_SECONDS",
        description="How often the audit verifier passes over every log (Kafka up or not).",
    )
    audit_reverify_seconds: float = Field(
        default=3600.0,
        ge=0,
        le=30 * 86_400,
        validation_alias="CAAS_AUDIT_REVERIFY_SECONDS",
        description="How often the audit verifier verifies every log again from 0 (an old "
        "entry changed in place); 0 never does.",
    )
    audit_verifier_group: str = Field(
        default="audit-verifier",
        pattern=r"^[A-Za-z0-9._-]{1,128}$",
        validation_alias="CAAS_AUDIT_VERIFIER_GROUP",
        description="Kafka consumer group of the audit verifiers on platform.audit.",
    )
    audit_verifier_host: str = Field(
        default="127.0.0.1",
        validation_alias="CAAS_AUDIT_VERIFIER_HOST",
        description="Address of the audit verifier's /metrics and /healthz.",
    )
    audit_verifier_port: int = Field(
        default=9464,
        ge=1,
        le=65535,
        validation_alias="CAAS_AUDIT_VERIFIER_PORT",
        description="Port of the audit verifier's /metrics and /healthz.",
    )
    dispatcher_group: str = Field(
        default="gateway-webhooks",
        pattern=r"^[A-Za-z0-9._-]{1,128}$",
        validation_alias="CAAS_DISPATCHER_GROUP",
        description="Kafka consumer group of the webhook dispatchers (events and retries).",
    )
    dispatcher_host: str = Field(
        default="127.0.0.1",
        validation_alias="CAAS_DISPATCHER_HOST",
        description="Address of the webhook dispatcher's /metrics and /healthz.",
    )
    dispatcher_port: int = Field(
        default=9465,
        ge=1,
        le=65535,
        validation_alias="CAAS_DISPATCHER_PORT",
        description="Port of the webhook dispatcher's /metrics and /healthz.",
    )
    dispatcher_max_in_flight: int = Field(
        default=20_000,
        ge=1,
        le=1_000_000,
        validation_alias="CAAS_DISPATCHER_MAX_IN_FLIGHT",
        description="Events (and, separately, waiting retries) a dispatcher holds before it "
        "pauses reading more.",
    )
    webhook_retry_schedule: str = Field(
        default="0,5,300,1800,7200,18000,36000,36000",
        pattern=r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?){0,49}\s*$",
        validation_alias="CAAS_WEBHOOK_RETRY_SCHEDULE",
        description="Seconds before each attempt (the first is the initial one): Svix's "
        "immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default.",
    )
    webhook_retry_after_max_seconds: float = Field(
        default=3600.0,
        ge=0,
        le=86_400,
        validation_alias="CAAS_WEBHOOK_RETRY_AFTER_MAX_SECONDS",
        description="Longest wait a receiver's Retry-After may ask for.",
    )
    webhook_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        le=120,
        validation_alias="CAAS_WEBHOOK_TIMEOUT_SECONDS",
        description="Deadline of one attempt (lookup, connect, request, answer).",
    )
    webhook_disable_after_seconds: float = Field(
        default=5 * 86_400.0,
        gt=0,
        validation_alias="CAAS_WEBHOOK_DISABLE_AFTER_SECONDS",
        description="An endpoint failing this long with no success in between is disabled.",
    )
    webhook_max_concurrency: int = Field(
        default=32,
        ge=MIN_CONCURRENCY,
        le=MAX_CONCURRENCY,
        validation_alias="CAAS_WEBHOOK_MAX_CONCURRENCY",
        description="Attempts in flight per endpoint per dispatcher (an endpoint's "
        "maxConcurrency overrides it).",
    )
    webhook_rate_limit_per_second: float = Field(
        default=0.0,
        ge=0,
        le=MAX_RATE_PER_SECOND,
        validation_alias="CAAS_WEBHOOK_RATE_LIMIT_PER_SECOND",
        description="Attempts per second per endpoint per dispatcher; 0: unlimited (an "
        "endpoint's rateLimitPerSecond overrides it).",
    )
    webhook_endpoint_refresh_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        validation_alias="CAAS_WEBHOOK_ENDPOINT_REFRESH_SECONDS",
        description="How often a dispatcher re-reads the registered endpoints.",
    )
    webhook_attempt_ttl_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        validation_alias="CAAS_WEBHOOK_ATTEMPT_TTL_DAYS",
        description="How long delivery attempts stay in the attempt log.",
    )
    webhook_allow_private_networks: str = Field(
        default="",
        validation_alias="CAAS_WEBHOOK_ALLOW_PRIVATE_NETWORKS",
        description="CIDRs the dispatcher may deliver to although the SSRF rules refuse them "
        "(local test receivers); refused outside CAAS_ENV=development.",
    )
    webhook_allow_insecure_http: bool = Field(
        default=False,
        validation_alias="CAAS_WEBHOOK_ALLOW_INSECURE_HTTP",
        description="Deliver to http:// URLs (local test receivers); refused outside "
        "CAAS_ENV=development.",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        validation_alias="CAAS_RATE_LIMIT_PER_MINUTE",
        description="`/v1` requests per API key per minute; 0 disables the limit.",
    )
    rate_limit_burst: int = Field(default=100, ge=1, validation_alias="CAAS_RATE_LIMIT_BURST")
    tenant_rate_limit_per_minute: int = Field(
        default=6000,
        ge=0,
        validation_alias="CAAS_TENANT_RATE_LIMIT_PER_MINUTE",
        description="`/v1` requests per tenant per minute (keys and users); 0 disables the limit.",
    )
    user_rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        validation_alias="CAAS_USER_RATE_LIMIT_PER_MINUTE",
        description="`/v1` requests per SDK user (access token) per minute; 0 disables the limit.",
    )
    ip_rate_limit_per_minute: int = Field(
        # High on purpose: behind an ingress with CAAS_TRUSTED_PROXIES unset every client has the
        # proxy's address, so this is then a service-wide refresh limit.
        default=6000,
        ge=0,
        validation_alias="CAAS_IP_RATE_LIMIT_PER_MINUTE",
        description="Unauthenticated `/v1` requests (refresh) per client IP per minute; 0: off.",
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        validation_alias="CAAS_API_KEY_CACHE_SECONDS",
        description=(
            "How long an instance reuses a looked-up API key; REST changes are broadcast at once, "
            "changes by the operator are seen after at most this long. 0 disables the cache."
        ),
    )
    authz_decision_cache_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        validation_alias="CAAS_AUTHZ_DECISION_CACHE_SECONDS",
        description=(
            "How long a tenant's authorization decision is kept in Redis (its key carries the "
            "policy-set version, so a change never serves a stale one). 0 disables the cache."
        ),
    )
    authz_decision_log_sample: float = Field(
        default=1.0,
        ge=0,
        le=1,
        validation_alias="CAAS_AUTHZ_DECISION_LOG_SAMPLE",
        description="Share of allowed decisions written to the audit log; denies always are.",
    )
    authz_recent_decisions: int = Field(
        default=1000,
        ge=0,
        le=100_000,
        validation_alias="CAAS_AUTHZ_RECENT_DECISIONS",
        description="Recent decisions kept per tenant for the what-if replay (Redis list).",
    )
    mfa_max_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        validation_alias="CAAS_MFA_MAX_FAILURES",
        description="Wrong TOTP/backup codes per user (per factor) before a lockout.",
    )
    api_key_max_failures: int = Field(
        default=20,
        ge=1,
        le=10_000,
        validation_alias="CAAS_API_KEY_MAX_FAILURES",
        description="Invalid API keys presented from one client IP before a lockout.",
    )
    failure_window_seconds: int = Field(
        default=300, ge=1, le=86400, validation_alias="CAAS_FAILURE_WINDOW_SECONDS"
    )
    lockout_seconds: int = Field(
        default=900, ge=1, le=86400, validation_alias="CAAS_LOCKOUT_SECONDS"
    )
    mfa_step_up_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        validation_alias="CAAS_MFA_STEP_UP_SECONDS",
        description="How long a step-up token from /v1/mfa/verify authorises sensitive actions.",
    )
    trusted_device_days: int = Field(
        default=30, ge=1, le=365, validation_alias="CAAS_TRUSTED_DEVICE_DAYS"
    )
    webhook_secret_overlap_seconds: int = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        validation_alias="CAAS_WEBHOOK_SECRET_OVERLAP_SECONDS",
        description="After a signing-secret rotation, how long the replaced secret keeps "
        "signing deliveries too (a request may ask for another window).",
    )
    webhook_hosts_file: str | None = Field(
        default=None,
        validation_alias="CAAS_WEBHOOK_HOSTS_FILE",
        description="A hosts(5) file consulted before DNS when webhook URLs are checked "
        "(split horizon, tests); the addresses found are checked by the same rules.",
    )
    cors_origins: str = Field(
        default="",
        validation_alias="CAAS_CORS_ORIGINS",
        description="Origins allowed by CORS (comma-separated); empty: no CORS headers.",
    )

    trusted_proxies: str = Field(
        default="",
        validation_alias="CAAS_TRUSTED_PROXIES",
        description=(
            "Proxies (IP addresses or CIDR networks, comma-separated) whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed: the client is the right-most forwarded address that "
            "is not one of them. Empty: trust nobody, the peer address is the client's."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_are_safe(cls, value: str, info: ValidationInfo) -> str:
        entries = _entries(value)
        for entry in entries:
            if entry == TRUST_EVERY_PEER:
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"entry {entry[:64]!r} is not an IP address or CIDR network "
                    "(e.g. 10.0.0.7 or 10.0.0.0/8)"
                ) from None
        # `env` is declared (so validated) first; were it invalid, that is reported anyway.
        if info.data.get("env") != "development" and _trusts_every_address(entries):
            raise ValueError(
                "trusting every peer address (*, 0.0.0.0/0 or ::/0) lets any client set its own "
                "address with X-Forwarded-For and escape the per-address rate limit and API-key "
                "lockout; list only your proxies' addresses or networks (allowed with "
                "CAAS_ENV=development only)"
            )
        return value

    @field_validator("webhook_allow_private_networks", "webhook_allow_insecure_http")
    @classmethod
    def _webhook_test_switches(cls, value: str | bool, info: ValidationInfo) -> str | bool:
        if isinstance(value, str):
            for entry in _entries(value):
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"entry {entry[:64]!r} is not a CIDR network") from None
        # Secure by default: these only ever serve receivers on a developer's machine.
        if value and info.data.get("env") != "development":
            raise ValueError(
                "delivering webhooks to private networks or over plain http is allowed with "
                "CAAS_ENV=development only (it defeats the SSRF defence)"
            )
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_is_sane(cls, value: str) -> str:
        if len([p for p in value.split(",") if p.strip()]) < 1:
            raise ValueError("the retry schedule needs at least one step")
        return value

    @field_validator("audit_signing_key")
    @classmethod
    def _audit_key_is_well_formed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_audit_seed(value.get_secret_value())
        return value

    @field_validator("kek", "previous_keks")
    @classmethod
    def _keks_are_well_formed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for part in value.get_secret_value().split(","):
                parse_kek(part)  # raises a ValueError that never echoes the value
        return value

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """The CORS origins as a tuple."""
        return tuple(part.strip() for part in self.cors_origins.split(",") if part.strip())

    @property
    def trusted_proxy_list(self) -> tuple[str, ...]:
        """The trusted proxies in the form uvicorn's forwarded_allow_ips understands.

        Networks are normalised (uvicorn parses them strictly and silently ignores `10.1.2.3/8`,
        which ip_network(strict=False) accepts) and a `*` stands alone (uvicorn trusts everyone
        only when the list is exactly `*`). Empty: trust nobody.
        """
        entries = _entries(self.trusted_proxies)
        if TRUST_EVERY_PEER in entries:
            return (TRUST_EVERY_PEER,)
        return tuple(
            dict.fromkeys(
                str(ipaddress.ip_network(entry, strict=False))
                if "/" in entry
                else str(ipaddress.ip_address(entry))
                for entry in entries
            )
        )

    def audit_signer(self) -> CheckpointSigner:
        """The audit checkpoint signer these settings describe."""
        return checkpoint_signer(
            secret_key=self.secret_key.get_secret_value(),
            configured_seed=None
            if self.audit_signing_key is None
            else self.audit_signing_key.get_secret_value(),
            configured_name=self.audit_key_name,
            issuer=self.issuer,
        )

    @property
    def access_token_ttl(self) -> timedelta:
        """Lifetime of an access token."""
        return timedelta(seconds=self.access_token_ttl_seconds)

    @property
    def refresh_token_ttl(self) -> timedelta:
        """Absolute lifetime of a refresh family."""
        return timedelta(seconds=self.refresh_token_ttl_seconds)

    @property
    def refresh_grace(self) -> timedelta:
        """The concurrent-refresh grace window."""
        return timedelta(seconds=self.refresh_grace_seconds)

    @model_validator(mode="after")
    def _secret_key_is_safe(self) -> Self:
        key = self.secret_key.get_secret_value()
        if not key.strip():
            raise ValueError("CAAS_SECRET_KEY must not be empty")
        if self.env == "development":
            return self
        if key.strip().lower() in KNOWN_DEFAULT_SECRETS:
            raise ValueError(
                "CAAS_SECRET_KEY is a well-known default; outside CAAS_ENV=development set a "
                "random value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"CAAS_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters "
                "outside CAAS_ENV=development"
            )
        return self


def _entries(value: str) -> list[str]:
    """The non-empty, stripped comma-separated parts of a list setting."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _trusts_every_address(proxies: Sequence[str]) -> bool:
    """Whether the trusted networks cover all of IPv4 or all of IPv6 (or are `*`)."""
    if TRUST_EVERY_PEER in proxies:
        return True
    networks = [ipaddress.ip_network(entry, strict=False) for entry in proxies]
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    # collapse_addresses merges e.g. 0.0.0.0/1 and 128.0.0.0/1 into 0.0.0.0/0.
    return any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(v4)) or any(
        n.prefixlen == 0 for n in ipaddress.collapse_addresses(v6)
    )


def load_settings() -> ApiSettings:
    """Settings from the environment, or SettingsError naming every problem (never a value)."""
    try:
        return ApiSettings()  # every value comes from the environment
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None

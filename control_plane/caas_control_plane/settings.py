"""Control plane settings from the environment; they fail closed on unsafe secrets."""

from typing import Final, Literal, Self

from pydantic import Field, SecretStr, ValidationError, model_validator

from caas_core.settings import BackendSettings, SettingsError, describe_validation_error

Environment = Literal["development", "production"]
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


def load_settings() -> ApiSettings:
    """Settings from the environment, or SettingsError naming every problem (never a value)."""
    try:
        return ApiSettings()  # every value comes from the environment
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None

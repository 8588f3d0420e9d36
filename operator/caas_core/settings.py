"""Backend connection settings shared by the operator and the control plane (from the env)."""

from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


class BackendSettings(BaseSettings):
    """Where the backends are; the env var names are the local stack's contract."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, case_sensitive=True
    )

    # URIs may embed credentials, hence SecretStr: they never show up in reprs or logs.
    mongodb_uri: SecretStr = Field(
        validation_alias="MONGODB_URI", description="MongoDB connection string."
    )
    kafka_bootstrap_servers: str = Field(
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        min_length=1,
        description="Comma-separated Kafka bootstrap host:port list.",
    )
    redis_url: SecretStr = Field(
        validation_alias="REDIS_URL", description="redis:// URL of an admin connection."
    )
    backend_timeout: float = Field(
        default=5.0,
        gt=0,
        le=120,
        validation_alias="CAAS_BACKEND_TIMEOUT_SECONDS",
        description="Connect and request timeout for backend clients, in seconds.",
    )
    log_format: LogFormat = Field(default="json", validation_alias="CAAS_LOG_FORMAT")
    log_level: LogLevel = Field(default="info", validation_alias="CAAS_LOG_LEVEL")


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the variable but never echoing its (maybe secret) value."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)

"""The RetentionPolicy custom resource: how long each class of the tenant's data is kept."""

from datetime import datetime
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caas_core.domain.conditions import Condition
from caas_core.domain.retention import MAX_AGE_DAYS_LIMIT, MIN_MAX_AGE_DAYS, DataClass, Rule
from caas_core.resources.apikey import MODEL_CONFIG

MAX_RULES: Final = len(DataClass)
MIN_AGE_RULE: Final = "!has(self.minAgeDays) || self.minAgeDays <= self.maxAgeDays"
MIN_AGE_MESSAGE: Final = "minAgeDays must not exceed maxAgeDays"
UNIQUE_CLASS_RULE: Final = "self.all(r, self.exists_one(s, s.dataClass == r.dataClass))"
UNIQUE_CLASS_MESSAGE: Final = "each dataClass may appear in one rule only"


class RetentionRule(BaseModel):
    """Retention of one data class."""

    model_config = ConfigDict(
        **MODEL_CONFIG,
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": MIN_AGE_RULE, "message": MIN_AGE_MESSAGE}],
        },
    )

    data_class: DataClass = Field(
        description=(
            "The data governed: messages (tenant collection messages, topics messages and "
            "events), sessions (collection sessions), audit (topic audit), exports "
            "(collection exports)."
        )
    )
    max_age_days: int = Field(
        description="Records older than this many days are deleted (topics: retention.ms).",
        ge=MIN_MAX_AGE_DAYS,
        le=MAX_AGE_DAYS_LIMIT,
    )
    min_age_days: int | None = Field(
        default=None,
        description="Records are kept at least this many days; at most maxAgeDays.",
        ge=0,
        le=MAX_AGE_DAYS_LIMIT,
    )

    @model_validator(mode="after")
    def _min_within_max(self) -> Self:
        if self.min_age_days is not None and self.min_age_days > self.max_age_days:
            raise ValueError(MIN_AGE_MESSAGE)
        return self

    def to_rule(self) -> Rule:
        """The domain rule."""
        return Rule(
            data_class=self.data_class,
            max_age_days=self.max_age_days,
            min_age_days=self.min_age_days,
        )


class RetentionPolicySpec(BaseModel):
    """Desired retention of the namespace's tenant's data."""

    model_config = MODEL_CONFIG

    rules: list[RetentionRule] = Field(
        description="One rule per data class.",
        min_length=1,
        max_length=MAX_RULES,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["dataClass"],
            "x-kubernetes-validations": [
                {"rule": UNIQUE_CLASS_RULE, "message": UNIQUE_CLASS_MESSAGE}
            ],
        },
    )
    dry_run: bool = Field(
        default=False,
        description="Sweeps count what they would delete, and log it, without deleting.",
    )

    @field_validator("rules")
    @classmethod
    def _classes_are_unique(cls, rules: list[RetentionRule]) -> list[RetentionRule]:
        classes = [r.data_class for r in rules]
        if len(set(classes)) != len(classes):
            raise ValueError(UNIQUE_CLASS_MESSAGE)
        return rules


class LastSweep(BaseModel):
    """The most recent deletion run."""

    model_config = MODEL_CONFIG

    run_id: str = Field(description="Id of the run's entry in caas_platform.deletion_logs.")
    started_at: datetime = Field(description="When the run started.")
    finished_at: datetime = Field(description="When the run finished.")
    generation: int | None = Field(default=None, description="The policy generation applied.")
    deleted: int = Field(description="Records deleted (would-be deletions in a dry run).", ge=0)
    held: int = Field(description="Expired records kept because of legal holds.", ge=0)
    dry_run: bool = Field(default=False, description="Whether the run only counted.")


class TopicRetention(BaseModel):
    """A topic's retention as applied."""

    model_config = MODEL_CONFIG

    name: str = Field(description="Full topic name.")
    retention_ms: int = Field(
        description="retention.ms set on the topic.", json_schema_extra={"format": "int64"}
    )


class RetentionPolicyStatus(BaseModel):
    """Observed state of a retention policy, written by the operator."""

    model_config = MODEL_CONFIG

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the operator last reconciled.", ge=0
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, KafkaReady (topic retention) and MongoReady (sweeps).",
        max_length=8,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    tenant: str | None = Field(default=None, description="The tenant the policy governs.")
    topics: list[TopicRetention] = Field(
        default_factory=list, description="Tenant topics whose retention.ms the policy sets."
    )
    last_sweep: LastSweep | None = Field(default=None, description="The most recent sweep.")

"""Pure decisions of the Tenant's provisioning steps, taken on what a step found.

The provisioning modules (`tenant/provision/*`) read and write; every rule they apply is here,
so it is unit-tested without servers: drift versus first provisioning, edited or removed keys
of the credentials Secret, when a namespace or Secret must be written, when a SCRAM or MongoDB
password is (re)set (the registry's credential hash against the Secret's password), and the
outcomes a step reports when it must stop.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from caas_core.resources.tenant import DriftBackend
from caas_operator.shared.conditions import Finding, StepOutcome
from caas_operator.shared.ownership import REGISTRY, Claim, credential_hash


def is_drift(*, steady: bool, known: bool) -> bool:
    """A change is drift when the backend was converged for this generation (`steady`) and the
    object was made before (`known`: registered or adopted earlier); otherwise provisioning."""
    return steady and known


@dataclass(slots=True)
class StepNotes:
    """Actions and findings collected by a step."""

    steady: bool
    actions: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def change(
        self, backend: DriftBackend, obj: str, *, found: str, action: str, known: bool = True
    ) -> None:
        """A correction: a drift finding (see is_drift), or a provisioning action."""
        if is_drift(steady=self.steady, known=known):
            self.findings.append(Finding(backend=backend, object=obj, found=found, corrected=True))
        else:
            self.actions.append(action)

    def outcome(
        self, condition: str, *, ok: bool, reason: str, message: str, retryable: bool = True
    ) -> StepOutcome:
        """The step's outcome with what it noted."""
        return StepOutcome(
            condition=condition,
            ok=ok,
            reason=reason,
            message=message,
            retryable=retryable,
            actions=tuple(self.actions),
            findings=tuple(self.findings),
        )


# --- Kubernetes ----------------------------------------------------------------------------------


def needs_write(
    *,
    labels: Mapping[str, str],
    owner_uids: frozenset[str],
    want_labels: Mapping[str, str],
    owner_uid: str,
) -> bool:
    """Whether an existing namespace or Secret lacks a label the plan sets, or its owner."""
    return any(labels.get(k) != v for k, v in want_labels.items()) or owner_uid not in owner_uids


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretChanges:
    """Keys of the credentials Secret that differ from the plan's."""

    changed: tuple[str, ...]  # every key that differs: added, edited or removed
    tampered: tuple[str, ...]  # those the Secret held: edited or removed by someone (drift)


def secret_changes(current: Mapping[str, str], desired: Mapping[str, str]) -> SecretChanges:
    """New keys (a capability detected since) are provisioning; edited or removed are drift."""
    changed = sorted(k for k in set(current) | set(desired) if current.get(k) != desired.get(k))
    return SecretChanges(changed=tuple(changed), tampered=tuple(k for k in changed if k in current))


# --- credentials in the backends -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordDecision:
    """Whether to set a backend user's password, and to record its hash in the registry."""

    wanted_hash: str
    set_password: bool
    record_hash: bool


def mongo_password(claim: Claim | None, password: str) -> PasswordDecision:
    """MongoDB: set the password on a first claim or when the Secret's differs from the one set
    last (its hash in the registry); record the hash then."""
    wanted = credential_hash(password)
    reset = claim is None or claim.credential_hash != wanted
    return PasswordDecision(wanted_hash=wanted, set_password=reset, record_hash=reset)


def scram_password(*, exists: bool, claim: Claim | None, password: str) -> PasswordDecision:
    """Kafka SCRAM: set the password when the credential is missing, on a first claim, or when
    the Secret's password differs from the one set last. A new claim is written with the hash
    already; an existing claim's hash is updated once Kafka has the password."""
    wanted = credential_hash(password)
    return PasswordDecision(
        wanted_hash=wanted,
        set_password=not exists or claim is None or claim.credential_hash != wanted,
        record_hash=claim is not None and claim.credential_hash != wanted,
    )


def scram_rotated(*, exists: bool, claim: Claim | None) -> bool:
    """A password set on an existing, registered credential whose hash is known: a rotation
    from the Secret (a missing credential is re-created instead)."""
    return exists and claim is not None and claim.credential_hash is not None


# --- outcomes of a step that stops --------------------------------------------------------------


def show(labels: Mapping[str, str]) -> str:
    """Labels as `k=v, k2=v2` for messages."""
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def not_owned(condition: str, message: str, notes: StepNotes | None = None) -> StepOutcome:
    """The object exists and is not the tenant's: never retried hot (a human must sort it out)."""
    if notes is not None:
        return notes.outcome(
            condition, ok=False, reason="NotOwned", message=message, retryable=False
        )
    return StepOutcome(
        condition=condition, ok=False, reason="NotOwned", message=message, retryable=False
    )


def registry_down(condition: str, error: str | None) -> StepOutcome:
    """The registry could not be read: nothing is changed until ownership can be checked."""
    return StepOutcome(
        condition=condition,
        ok=False,
        reason="RegistryUnavailable",
        message=(
            f"the ownership registry ({REGISTRY}) cannot be read "
            f"({error}); nothing is changed until ownership can be checked"
        ),
    )


def waiting_for_secret(condition: str, what: str) -> StepOutcome:
    """A password is never given to a backend before the Secret holds it."""
    return StepOutcome(
        condition=condition,
        ok=False,
        reason="CredentialsNotStored",
        message=f"waiting for the credentials Secret before setting the {what} password",
    )

"""MFA: TOTP enrolment/confirmation/verification, backup codes, step-up tokens, trusted devices.

(Over 400 lines on purpose: every use case shares the lockout, the spent-code guard and the
step-up token; the documents they change live in stores/mfa.py.)

- TOTP secrets are sealed at rest (AES-GCM under the KEK, bound to tenant/user).
- A code is accepted once: its time step must be later than the last used one and inserting the
  spent step (keyed by `_id`) must succeed, which only one concurrent request can do.
- Backup codes are shown once, stored as scrypt hashes, single-use (spent-code insert as for
  TOTP) and replaced as a whole when regenerated.
- Wrong codes count towards a lockout shared by all instances through Redis (per user, per
  factor kind).
- A successful verification returns a short-lived step-up access token for the same session,
  carrying `amr: ["mfa", <method>]` and `auth_time`: sensitive actions demand it.
"""

import base64
import io
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import segno

from caas_control_plane.auth.backup_codes import (
    ScryptCost,
    generate_backup_codes,
    normalize_backup_code,
    use_backup_code,
)
from caas_control_plane.auth.sealing import seal_secret, unseal_secret
from caas_control_plane.auth.signing import build_access_claims
from caas_control_plane.auth.totp import (
    PERIOD,
    WINDOW,
    new_totp_secret,
    provisioning_uri,
    secret_to_base32,
    verify_totp,
)
from caas_control_plane.ports import (
    LockoutPolicy,
    Lockouts,
    MfaFactors,
    MfaFactorStore,
    Sessions,
    TotpFactor,
    factor_id,
)
from caas_control_plane.services.context import ClientInfo, Principal
from caas_control_plane.services.errors import (
    ConflictError,
    InvalidCredentialsError,
    InvalidRequestError,
    LockedError,
    MfaRequiredError,
    NotFoundError,
)
from caas_control_plane.services.keys import KeyService
from caas_control_plane.services.revocation import RevocationService
from caas_core.domain.audit import AuditWriter, Outcome

Clock = Callable[[], datetime]
_PURPOSE: Final = "totp"
_BACKUP_KEEP: Final = timedelta(days=400)
MFA_AMR: Final = "mfa"


@dataclass(frozen=True, slots=True, kw_only=True)
class MfaPolicy:
    """Issuer/audience of step-up tokens and the time limits."""

    issuer: str
    audience: str
    step_up: timedelta
    trusted_device: timedelta
    totp_issuer: str = "CAAS"


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrolment:
    """What the user scans or types into an authenticator app."""

    secret: str
    otpauth_uri: str
    qr_png: str  # base64


@dataclass(frozen=True, slots=True, kw_only=True)
class MfaStatus:
    """A user's second factors."""

    totp: str  # "none", "pending", "enabled"
    backup_codes_remaining: int
    trusted_devices: Mapping[str, datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepUp:
    """A short-lived access token proving a recent second factor."""

    token: str
    expires_at: datetime
    method: str


def qr_png(uri: str) -> str:
    """The URI as a QR code PNG, base64-encoded."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=5, border=2)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def has_step_up(principal: Principal, *, now: datetime, within: timedelta) -> bool:
    """Whether the principal's token carries a second factor verified within `within`."""
    amr = principal.claims.extra.get("amr")
    auth_time = principal.claims.extra.get("auth_time")
    return (
        isinstance(amr, list)
        and MFA_AMR in amr
        and isinstance(auth_time, int)
        and now.timestamp() - auth_time <= within.total_seconds()
    )


class MfaService:
    """Second factors of SDK users."""

    def __init__(
        self,
        *,
        store: MfaFactorStore,
        sessions: Sessions,
        keys: KeyService,
        revocations: RevocationService,
        lockout: Lockouts,
        lockout_policy: LockoutPolicy,
        audit: AuditWriter,
        kek_id: str,
        keks: Mapping[str, bytes],
        policy: MfaPolicy,
        clock: Clock,
        backup_cost: ScryptCost | None = None,
        tenant_requires_mfa: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._tenant_requires = tenant_requires_mfa
        self._store = store
        self._sessions = sessions
        self._keys = keys
        self._revocations = revocations
        self._lockout = lockout
        self._lockout_policy = lockout_policy
        self._audit = audit
        self._kek_id = kek_id
        self._keks = keks
        self._policy = policy
        self._clock = clock
        self._backup_cost = backup_cost or ScryptCost()

    # -- status and enrolment --------------------------------------------------------------------

    async def status(self, principal: Principal) -> MfaStatus:
        """The caller's factors."""
        factors = await self._store.get(principal.tenant, principal.user_id)
        totp = factors.totp
        state = "none" if totp is None else ("enabled" if totp.confirmed else "pending")
        now = self._clock()
        return MfaStatus(
            totp=state,
            backup_codes_remaining=0 if factors.backup is None else len(factors.backup.hashes),
            trusted_devices={d: until for d, until in factors.trusted.items() if until > now},
        )

    async def enabled(self, *, tenant: str, user_id: str) -> bool:
        """Whether the user has a confirmed TOTP factor."""
        totp = (await self._store.get(tenant, user_id)).totp
        return totp is not None and totp.confirmed

    async def enrol(self, principal: Principal, *, client: ClientInfo) -> Enrolment:
        """A new (pending) TOTP secret; refused while a confirmed one exists."""
        if await self.enabled(tenant=principal.tenant, user_id=principal.user_id):
            raise ConflictError("TOTP is already enabled; disable it first")
        secret = new_totp_secret()
        subject = factor_id(principal.tenant, principal.user_id)
        sealed = seal_secret(
            secret,
            kek_id=self._kek_id,
            kek=self._keks[self._kek_id],
            purpose=_PURPOSE,
            subject=subject,
        )
        await self._store.start_totp(
            principal.tenant, principal.user_id, sealed=sealed, at=self._clock()
        )
        uri = provisioning_uri(
            secret=secret,
            issuer=self._policy.totp_issuer,
            account=f"{principal.user_id}@{principal.tenant}".replace(":", "_"),
        )
        await self._emit("mfa.totp.enrolment_started", principal, client, Outcome.SUCCESS)
        return Enrolment(secret=secret_to_base32(secret), otpauth_uri=uri, qr_png=qr_png(uri))

    async def confirm(self, principal: Principal, code: str, *, client: ClientInfo) -> list[str]:
        """Enable the pending secret with a first code; returns the backup codes (shown once)."""
        totp = (await self._store.get(principal.tenant, principal.user_id)).totp
        if totp is None:
            raise NotFoundError("no TOTP enrolment is pending; start one first")
        if totp.confirmed:
            raise ConflictError("TOTP is already enabled")
        step = await self._check_totp(principal, code, totp=totp, client=client)
        codes, stored = generate_backup_codes(cost=self._backup_cost)
        await self._store.confirm_totp(
            principal.tenant, principal.user_id, step=step, backup=stored, at=self._clock()
        )
        await self._emit("mfa.totp.enabled", principal, client, Outcome.SUCCESS)
        return list(codes)

    # -- verification ------------------------------------------------------------------------------

    async def verify(
        self,
        principal: Principal,
        *,
        code: str | None,
        backup_code: str | None,
        trust_device: bool,
        client: ClientInfo,
    ) -> StepUp:
        """Check a TOTP or backup code; returns a step-up token for the caller's session."""
        method = await self._second_factor(
            principal, code=code, backup_code=backup_code, client=client
        )
        if trust_device:
            await self._trust_current_device(principal)
        await self._emit("mfa.verified", principal, client, Outcome.SUCCESS, method=method)
        return self._step_up(principal, method=method)

    async def challenge(self, principal: Principal, *, client: ClientInfo) -> StepUp:
        """A step-up token without a code when the session's device is trusted, else 403."""
        if not await self.enabled(tenant=principal.tenant, user_id=principal.user_id):
            raise MfaRequiredError("enrol a second factor first (POST /v1/mfa/totp/enroll)")
        device = await self._session_device(principal)
        trusted = (await self._store.get(principal.tenant, principal.user_id)).trusted
        until = None if device is None else trusted.get(device)
        if until is None or until <= self._clock():
            raise MfaRequiredError(
                "verify a TOTP or backup code at POST /v1/mfa/verify for this action"
            )
        await self._emit("mfa.verified", principal, client, Outcome.SUCCESS, method="device")
        return self._step_up(principal, method="trusted_device")

    async def require_step_up(self, principal: Principal) -> None:
        """Sensitive actions need a recent step-up token from users with MFA, and from every
        user of a tenant whose settings say `mfaRequired` (who must enrol first)."""
        if has_step_up(principal, now=self._clock(), within=self._policy.step_up):
            return
        if await self.enabled(tenant=principal.tenant, user_id=principal.user_id):
            raise MfaRequiredError("this action needs a recent second factor (POST /v1/mfa/verify)")
        if self._tenant_requires is not None and await self._tenant_requires(principal.tenant):
            raise MfaRequiredError(
                "the tenant requires a second factor: enrol at POST /v1/mfa/totp/enroll"
            )

    # -- management ------------------------------------------------------------------------------

    async def disable(
        self,
        principal: Principal,
        *,
        code: str | None,
        backup_code: str | None,
        client: ClientInfo,
    ) -> None:
        """Remove TOTP and backup codes, after re-authentication with a fresh code."""
        if not await self.enabled(tenant=principal.tenant, user_id=principal.user_id):
            raise NotFoundError("TOTP is not enabled")
        await self._second_factor(principal, code=code, backup_code=backup_code, client=client)
        await self._store.remove_all(principal.tenant, principal.user_id)
        await self._emit("mfa.totp.disabled", principal, client, Outcome.SUCCESS)

    async def regenerate_backup_codes(
        self,
        principal: Principal,
        *,
        code: str | None,
        backup_code: str | None,
        client: ClientInfo,
    ) -> list[str]:
        """A new set of backup codes (the old set stops working), after a fresh TOTP code or
        one of the current backup codes."""
        if not await self.enabled(tenant=principal.tenant, user_id=principal.user_id):
            raise NotFoundError("TOTP is not enabled")
        await self._second_factor(principal, code=code, backup_code=backup_code, client=client)
        codes, stored = generate_backup_codes(cost=self._backup_cost)
        await self._store.replace_backup_codes(
            principal.tenant, principal.user_id, codes=stored, at=self._clock()
        )
        await self._emit("mfa.backup_codes.regenerated", principal, client, Outcome.SUCCESS)
        return list(codes)

    async def forget_device(self, principal: Principal, device_id: str) -> None:
        """Stop trusting one device (a sensitive action: needs a step-up with MFA)."""
        await self.require_step_up(principal)
        await self._store.forget_device(principal.tenant, principal.user_id, device_id=device_id)

    # -- internals ---------------------------------------------------------------------------------

    async def _second_factor(
        self,
        principal: Principal,
        *,
        code: str | None,
        backup_code: str | None,
        client: ClientInfo,
    ) -> str:
        if (code is None) == (backup_code is None):
            raise InvalidRequestError("give exactly one of code and backupCode")
        factors = await self._store.get(principal.tenant, principal.user_id)
        totp = factors.totp
        if totp is None or not totp.confirmed:
            raise NotFoundError("TOTP is not enabled")
        if code is not None:
            step = await self._check_totp(principal, code, totp=totp, client=client)
            await self._store.record_totp_step(principal.tenant, principal.user_id, step=step)
            return "otp"
        await self._check_backup(principal, backup_code or "", factors=factors, client=client)
        return "backup_code"

    async def _check_totp(
        self, principal: Principal, code: str, *, totp: TotpFactor, client: ClientInfo
    ) -> int:
        subject = f"totp:{factor_id(principal.tenant, principal.user_id)}"
        await self._not_locked(subject)
        secret = unseal_secret(
            totp.sealed,
            keks=self._keks,
            purpose=_PURPOSE,
            subject=factor_id(principal.tenant, principal.user_id),
        )
        now = self._clock()
        step = verify_totp(code, secret=secret, now=now, last_used_step=totp.last_step)
        if step is not None:
            spent = await self._store.spend(
                f"totp/{factor_id(principal.tenant, principal.user_id)}/{step}",
                at=now,
                expires_at=now + timedelta(seconds=PERIOD * (2 * WINDOW + 2)),
            )
            if spent:
                await self._lockout.success(subject)
                return step
        await self._failed(subject, principal, client, "otp")
        raise InvalidCredentialsError("the code is not valid (or was used already)")

    async def _check_backup(
        self, principal: Principal, code: str, *, factors: MfaFactors, client: ClientInfo
    ) -> None:
        subject = f"backup:{factor_id(principal.tenant, principal.user_id)}"
        await self._not_locked(subject)
        stored = factors.backup
        remaining = (
            None
            if stored is None or normalize_backup_code(code) is None
            else (use_backup_code(code, codes=stored))
        )
        if stored is not None and remaining is not None:
            used = next(h for h in stored.hashes if h not in remaining.hashes)
            now = self._clock()
            if await self._store.spend(
                f"backup/{factor_id(principal.tenant, principal.user_id)}/{used.hex()[:32]}",
                at=now,
                expires_at=now + _BACKUP_KEEP,
            ):
                await self._store.keep_backup_hashes(
                    principal.tenant, principal.user_id, hashes=remaining.hashes
                )
                await self._lockout.success(subject)
                return
        await self._failed(subject, principal, client, "backup_code")
        raise InvalidCredentialsError("the backup code is not valid (or was used already)")

    async def _not_locked(self, subject: str) -> None:
        seconds = await self._lockout.locked_for(subject)
        if seconds > 0:
            raise LockedError(
                "too many wrong codes; this factor is locked for a while",
                headers={"Retry-After": str(max(1, int(seconds + 0.999)))},
            )

    async def _failed(
        self, subject: str, principal: Principal, client: ClientInfo, method: str
    ) -> None:
        await self._emit(
            "mfa.verification_failed", principal, client, Outcome.FAILURE, method=method
        )
        seconds = await self._lockout.failure(subject, policy=self._lockout_policy)
        if seconds > 0:
            raise LockedError(
                "too many wrong codes; this factor is locked for a while",
                headers={"Retry-After": str(max(1, int(seconds + 0.999)))},
            )

    async def _session_device(self, principal: Principal) -> str | None:
        record = await self._sessions.get(tenant=principal.tenant, session_id=principal.session_id)
        return None if record is None else record.device.device_id

    async def _trust_current_device(self, principal: Principal) -> None:
        device = await self._session_device(principal)
        if device is None:
            raise InvalidRequestError("the session has no device id to trust")
        until = self._clock() + self._policy.trusted_device
        await self._store.trust_device(
            principal.tenant, principal.user_id, device_id=device, until=until
        )

    def _step_up(self, principal: Principal, *, method: str) -> StepUp:
        now = self._clock()
        not_before = self._revocations.not_before(tenant=principal.tenant, user=principal.user_id)
        issued = max(now, datetime.fromtimestamp(not_before, UTC))
        claims = build_access_claims(
            issuer=self._policy.issuer,
            audience=self._policy.audience,
            subject=principal.user_id,
            tenant_id=principal.tenant,
            session_id=principal.session_id,
            now=issued,
            ttl=self._policy.step_up,
            extra={"amr": [MFA_AMR, method], "auth_time": int(issued.timestamp())},
        )
        return StepUp(
            token=self._keys.sign(claims),
            expires_at=datetime.fromtimestamp(claims.exp, UTC),
            method=method,
        )

    async def _emit(
        self,
        action: str,
        principal: Principal,
        client: ClientInfo,
        outcome: Outcome,
        **details: str,
    ) -> None:
        await self._audit.emit(
            client.event(
                action,
                outcome=outcome,
                actor=principal.actor,
                tenant=principal.tenant,
                target_type="user",
                target_id=principal.user_id,
                details=dict(details),
            )
        )

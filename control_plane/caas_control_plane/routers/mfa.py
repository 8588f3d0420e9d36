"""`/v1/mfa`: TOTP, backup codes, step-up verification and trusted devices (Bearer user)."""

from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Response
from pydantic import Field, StrictBool

from caas_control_plane.deps import ClientDep, CurrentPrincipal, MfaDep
from caas_control_plane.schemas import COMMON, CamelModel, DeviceIdPath, problems
from caas_control_plane.services.mfa import StepUp

router = APIRouter(prefix="/v1/mfa", tags=["mfa"])
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_RESPONSES: Final = problems(**COMMON, _404="No such factor", _409="Already enabled")
# Six digits, optionally grouped with spaces (`123 456`, as authenticator apps show them).
Code = Annotated[str, Field(min_length=6, max_length=8, pattern=r"^ *([0-9] *){6}$")]
# Ten base32 characters, optionally grouped with '-' or ' ' (services.mfa normalises them).
BackupCode = Annotated[
    str, Field(min_length=10, max_length=16, pattern=r"^[A-Za-z0-9]+([- ][A-Za-z0-9]+)*$")
]


class StatusPublic(CamelModel):
    """The caller's second factors."""

    totp: str = Field(description="none, pending (enrolled, not confirmed) or enabled.")
    backup_codes_remaining: int
    trusted_devices: dict[str, datetime] = Field(description="Device id -> trusted until.")


class EnrolmentPublic(CamelModel):
    """Scan `qrPng` (or type `secret`) into an authenticator app, then confirm with a code."""

    secret: str = Field(description="Base32 secret.")
    otpauth_uri: str
    qr_png: str = Field(description="The otpauth URI as a QR code PNG, base64.")


class CodeIn(CamelModel):
    """A current TOTP code."""

    code: Code


class TotpFactor(CamelModel):
    """A current TOTP code."""

    code: Code


class BackupFactor(CamelModel):
    """One of the backup codes."""

    backup_code: BackupCode


# Exactly one of the two, as the published schema says (each refuses the other's member).
FactorIn = TotpFactor | BackupFactor


class TotpVerify(TotpFactor):
    """Verify a TOTP code; optionally trust this session's device from now on."""

    trust_device: StrictBool = False


class BackupVerify(BackupFactor):
    """Verify a backup code; optionally trust this session's device from now on."""

    trust_device: StrictBool = False


VerifyIn = TotpVerify | BackupVerify


def _codes(body: TotpFactor | BackupFactor) -> dict[str, str | None]:
    if isinstance(body, TotpFactor):
        return {"code": body.code, "backup_code": None}
    return {"code": None, "backup_code": body.backup_code}


class BackupCodesPublic(CamelModel):
    """Backup codes, shown this once: each works one time."""

    backup_codes: list[str]


class StepUpPublic(CamelModel):
    """A short-lived access token for the same session with `amr: ["mfa", method]`."""

    step_up_token: str
    expires_at: datetime
    method: str


def _step_up(step_up: StepUp) -> StepUpPublic:
    return StepUpPublic(
        step_up_token=step_up.token, expires_at=step_up.expires_at, method=step_up.method
    )


@router.get("", response_model=StatusPublic, responses=problems(**COMMON))
async def status(principal: CurrentPrincipal, mfa: MfaDep) -> StatusPublic:
    """Which factors the caller has."""
    current = await mfa.status(principal)
    return StatusPublic(
        totp=current.totp,
        backup_codes_remaining=current.backup_codes_remaining,
        trusted_devices=dict(current.trusted_devices),
    )


@router.post("/totp/enroll", response_model=EnrolmentPublic, responses=_RESPONSES)
async def enroll(
    principal: CurrentPrincipal, mfa: MfaDep, client: ClientDep, response: Response
) -> EnrolmentPublic:
    """Start TOTP enrolment (replaces a pending, unconfirmed one)."""
    enrolment = await mfa.enrol(principal, client=client)
    response.headers.update(_NO_STORE)
    return EnrolmentPublic(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_png=enrolment.qr_png
    )


@router.post("/totp/confirm", response_model=BackupCodesPublic, responses=_RESPONSES)
async def confirm(
    body: CodeIn,
    principal: CurrentPrincipal,
    mfa: MfaDep,
    client: ClientDep,
    response: Response,
) -> BackupCodesPublic:
    """Enable TOTP with a first code; the answer holds the backup codes."""
    codes = await mfa.confirm(principal, body.code, client=client)
    response.headers.update(_NO_STORE)
    return BackupCodesPublic(backup_codes=codes)


@router.post("/verify", response_model=StepUpPublic, responses=_RESPONSES)
async def verify(
    body: VerifyIn,
    principal: CurrentPrincipal,
    mfa: MfaDep,
    client: ClientDep,
    response: Response,
) -> StepUpPublic:
    """Check a TOTP or backup code (each accepted once); returns a step-up token."""
    step_up = await mfa.verify(
        principal, **_codes(body), trust_device=body.trust_device, client=client
    )
    response.headers.update(_NO_STORE)
    return _step_up(step_up)


@router.post("/challenge", response_model=StepUpPublic, responses=_RESPONSES)
async def challenge(
    principal: CurrentPrincipal, mfa: MfaDep, client: ClientDep, response: Response
) -> StepUpPublic:
    """A step-up token without a code on a trusted device; else 403 `mfa-required`."""
    step_up = await mfa.challenge(principal, client=client)
    response.headers.update(_NO_STORE)
    return _step_up(step_up)


@router.post("/totp/disable", status_code=204, responses=_RESPONSES)
async def disable(
    body: FactorIn, principal: CurrentPrincipal, mfa: MfaDep, client: ClientDep
) -> Response:
    """Turn MFA off: re-authenticate with a fresh TOTP or backup code."""
    await mfa.disable(principal, **_codes(body), client=client)
    return Response(status_code=204)


@router.post("/backup-codes", response_model=BackupCodesPublic, responses=_RESPONSES)
async def regenerate(
    body: FactorIn,
    principal: CurrentPrincipal,
    mfa: MfaDep,
    client: ClientDep,
    response: Response,
) -> BackupCodesPublic:
    """A new set of backup codes (re-authenticate with a fresh TOTP or backup code); the
    previous set stops working."""
    codes = await mfa.regenerate_backup_codes(principal, **_codes(body), client=client)
    response.headers.update(_NO_STORE)
    return BackupCodesPublic(backup_codes=codes)


@router.delete("/trusted-devices/{device_id}", status_code=204, responses=_RESPONSES)
async def forget_device(
    device_id: DeviceIdPath,
    principal: CurrentPrincipal,
    mfa: MfaDep,
) -> Response:
    """Stop trusting a device (a sensitive action: needs a recent step-up token)."""
    await mfa.forget_device(principal, device_id)
    return Response(status_code=204)

"""Step-up detection, QR codes, and the rule that a key never grants more than it holds."""

import base64
from datetime import UTC, datetime, timedelta

import pytest

from caas_control_plane.auth.signing import build_access_claims
from caas_control_plane.services.api_key_admin import InvalidScopeError, _check_scopes, _covered
from caas_control_plane.services.context import Principal
from caas_control_plane.services.errors import InsufficientScopeError
from caas_control_plane.services.mfa import has_step_up, qr_png
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _principal(extra: dict[str, object] | None) -> Principal:
    claims = build_access_claims(
        issuer="i", audience="a", subject="u", tenant_id="t", session_id="s", now=NOW,
        ttl=timedelta(minutes=5), extra=extra,
    )  # fmt: skip
    return Principal.from_claims(claims)


def test_step_up_needs_mfa_amr_and_a_recent_auth_time() -> None:
    recent = int(NOW.timestamp()) - 60
    assert has_step_up(
        _principal({"amr": ["mfa", "otp"], "auth_time": recent}), now=NOW,
        within=timedelta(minutes=5),
    )  # fmt: skip
    for extra in (
        None,
        {"amr": ["pwd"], "auth_time": recent},
        {"amr": ["mfa"], "auth_time": recent - 600},
        {"amr": "mfa", "auth_time": recent},
        {"amr": ["mfa"]},
    ):
        assert not has_step_up(_principal(extra), now=NOW, within=timedelta(minutes=5))


def test_qr_codes_are_png() -> None:
    png = base64.b64decode(qr_png("otpauth://totp/CAAS:u?secret=ABC&issuer=CAAS"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def _caller(*scopes: str) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id="k" * 16, tenant="t", name="n", key_hash="0" * 64, scopes=scopes,
        managed_by=KeyWriter.API, created_at=NOW,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("held", "granted"),
    [
        (("*",), ["*"]),
        (("*",), ["tokens:issue", "tenant:*"]),
        (("keys:manage", "tokens:*"), ["tokens:issue", "tokens:*"]),
        (("keys:manage", "tenant:read"), ["tenant:read"]),
    ],
)
def test_a_key_may_grant_what_it_holds(held: tuple[str, ...], granted: list[str]) -> None:
    caller = _caller(*held)
    # Refused grants raise (the next test); an allowed one returns and leaves the caller as is.
    assert _check_scopes(caller, granted) is None
    assert all(_covered(caller.scopes, scope) for scope in granted)


@pytest.mark.parametrize(
    ("held", "granted"),
    [
        (("keys:manage",), ["*"]),
        (("keys:manage", "tokens:issue"), ["tokens:*"]),
        (("keys:manage", "tenant:read"), ["tenant:write"]),
    ],
)
def test_a_key_never_grants_more(held: tuple[str, ...], granted: list[str]) -> None:
    with pytest.raises(InsufficientScopeError):
        _check_scopes(_caller(*held), granted)


def test_unknown_scopes_are_refused_first() -> None:
    with pytest.raises(InvalidScopeError):
        _check_scopes(_caller("*"), ["rockets:launch"])

"""Rules that used to live in routers, now in services, tested with fakes of the store ports:
who may end a session, the step-up before ending the others, the revoke caller, the internal
token."""

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from caas_control_plane.auth.refresh import RevocationReason
from caas_control_plane.auth.signing import AccessClaims
from caas_control_plane.ports import SessionRecord
from caas_control_plane.services.context import ClientInfo, Principal
from caas_control_plane.services.errors import (
    InvalidCredentialsError,
    MfaRequiredError,
    NotFoundError,
)
from caas_control_plane.services.revocation import RevocationService
from caas_control_plane.services.sessions import SessionService
from caas_control_plane.services.signing_key_admin import InternalAccess, internal_access
from caas_control_plane.services.token_control import Caller
from caas_core.domain.api_key_records import ApiKeyRecord, KeyWriter
from caas_core.domain.audit import MemoryAuditWriter
from caas_core.domain.revocations import Revocation

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeSessions:
    """The Sessions port over a dict."""

    def __init__(self, records: Mapping[str, SessionRecord]) -> None:
        self.records = dict(records)

    async def get(self, *, tenant: str, session_id: str) -> SessionRecord | None:
        record = self.records.get(session_id)
        return record if record is not None and record.tenant == tenant else None

    async def list_for_user(self, *, tenant: str, user_id: str) -> list[SessionRecord]:
        return [r for r in self.records.values() if (r.tenant, r.user_id) == (tenant, user_id)]

    async def revoke(
        self, *, tenant: str, session_ids: list[str], reason: str, now: datetime
    ) -> int:
        for session_id in session_ids:
            self.records[session_id] = replace(
                self.records[session_id], revoked_at=now, revoked_reason=reason
            )
        return len(session_ids)


class FakeFamilies:
    async def revoke_session(
        self, *, tenant: str, session_id: str, reason: RevocationReason, now: datetime
    ) -> int:
        return 1


class FakeLog:
    def __init__(self) -> None:
        self.published: list[Revocation] = []

    async def record_and_broadcast(self, revocation: Revocation, *, now: datetime) -> bool:
        self.published.append(revocation)
        return True

    async def active(self, *, now: float) -> list[Revocation]:
        return list(self.published)


def _session(session_id: str, *, tenant: str = "acme", user_id: str = "u-1") -> SessionRecord:
    return SessionRecord(
        session_id=session_id, tenant=tenant, user_id=user_id, family_id=f"f-{session_id}",
        created_at=NOW, last_seen_at=NOW, expires_at=NOW + timedelta(days=1),
    )  # fmt: skip


def _principal(*, session_id: str = "ses_1", user_id: str = "u-1") -> Principal:
    claims = AccessClaims(
        iss="i", aud=("a",), sub=user_id, tid="acme", sid=session_id, jti="j",
        iat=0, nbf=0, exp=2**31,
    )  # fmt: skip
    return Principal.from_claims(claims)


def _key(tenant: str = "acme") -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id="K" * 16, tenant=tenant, name="admin", key_hash="h", scopes=("sessions:admin",),
        managed_by=KeyWriter.API, created_at=NOW,
    )  # fmt: skip


def _service(
    sessions: FakeSessions, *, step_up_refused: bool = False
) -> tuple[SessionService, MemoryAuditWriter, FakeLog]:
    audit, log = MemoryAuditWriter(), FakeLog()

    async def require_step_up(principal: Principal) -> None:
        if step_up_refused:
            raise MfaRequiredError("step up first")

    revocations = RevocationService(
        store=log, families=FakeFamilies(), sessions=sessions,  # type: ignore[arg-type]
        access_token_ttl=timedelta(minutes=15), clock=lambda: NOW,
    )  # fmt: skip
    service = SessionService(
        sessions=sessions, families=FakeFamilies(), revocations=revocations,  # type: ignore[arg-type]
        audit=audit, max_lifetime=timedelta(days=30), clock=lambda: NOW,
        require_step_up=require_step_up,
    )  # fmt: skip
    return service, audit, log


async def test_a_user_ends_only_their_own_session_and_an_admin_key_any_of_its_tenant() -> None:
    sessions = FakeSessions({"ses_1": _session("ses_1"), "ses_2": _session("ses_2", user_id="u-2")})
    service, audit, log = _service(sessions)
    client = ClientInfo()
    with pytest.raises(NotFoundError):
        await service.terminate_as("ses_2", admin=None, principal=_principal(), client=client)
    with pytest.raises(NotFoundError):  # another tenant's key: no such session
        await service.terminate_as("ses_2", admin=_key("other"), principal=None, client=client)
    with pytest.raises(InvalidCredentialsError):
        await service.terminate_as("ses_1", admin=None, principal=None, client=client)
    await service.terminate_as("ses_2", admin=_key(), principal=_principal(), client=client)
    await service.terminate_as("ses_1", admin=None, principal=_principal(), client=client)
    assert [r.subject for r in log.published] == ["ses_2", "ses_1"]
    assert [e.actor.type for e in audit.events] == ["api_key", "user"]


async def test_ending_the_other_sessions_needs_the_step_up_first() -> None:
    records = {s: _session(s) for s in ("ses_1", "ses_2", "ses_3")}
    refused, _, refused_log = _service(FakeSessions(records), step_up_refused=True)
    with pytest.raises(MfaRequiredError):
        await refused.terminate_others(_principal(), client=ClientInfo())
    assert refused_log.published == []
    allowed, _, log = _service(FakeSessions(records))
    assert await allowed.terminate_others(_principal(), client=ClientInfo()) == 2
    assert sorted(r.subject for r in log.published) == ["ses_2", "ses_3"]


def test_the_caller_of_a_revocation_is_the_key_first_then_the_user() -> None:
    assert Caller.of(api_key=_key(), principal=_principal()).actor.type == "api_key"
    user = Caller.of(principal=_principal())
    assert (user.tenant, user.user_id, user.actor.type) == ("acme", "u-1", "user")
    with pytest.raises(InvalidCredentialsError):
        Caller.of()


def test_the_internal_token_is_compared_and_absent_means_disabled() -> None:
    assert internal_access(expected=None, presented="x") is InternalAccess.DISABLED
    assert internal_access(expected="s3cret", presented=None) is InternalAccess.REFUSED
    assert internal_access(expected="s3cret", presented="s3cre") is InternalAccess.REFUSED
    assert internal_access(expected="s3cret", presented="s3cret") is InternalAccess.ALLOWED

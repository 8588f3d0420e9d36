"""`/v1/security/audit`: the caller's tenant's tamper-evident audit log (X-API-Key, audit:read),
and `/.well-known/caas-audit-keys`, the public key that verifies its checkpoints."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field

from caas_control_plane.deps import AuditLogDep, AuditReaderKey, SettingsDep
from caas_control_plane.problems import PROBLEM_BASE, InvalidParam, ProblemError
from caas_control_plane.schemas import COMMON, CamelModel, Instant, json_integer, problems
from caas_control_plane.services.audit_log import (
    MAX_PAGE,
    AuditFilter,
    AuditItem,
    AuditRequestError,
    SignedHead,
)
from caas_core.auditlog.entry import MAX_INT
from caas_core.domain.identifiers import HUMAN_TEXT_PATTERN

PREFIX: Final = "/v1/security/audit"
KEYS_PATH: Final = "/.well-known/caas-audit-keys"
NDJSON: Final = "application/x-ndjson"
router = APIRouter(tags=["audit"])
_NO_STORE: Final = {"Cache-Control": "no-store"}  # answers may hold personal data
_RANGE = problems(**COMMON, _400="A range or size the log cannot answer (the field is named)")
_ENTRY = problems(
    **COMMON, _400="A size the log cannot answer", _404="No such entry in the tenant's log"
)

# Filters: free text a human reads, bounded, no control or format characters.
_Text = Annotated[str | None, Query(min_length=1, max_length=256, pattern=HUMAN_TEXT_PATTERN)]
_Seq = Annotated[int, Field(ge=0, le=MAX_INT), BeforeValidator(json_integer)]
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def _date_time(value: Any) -> Any:
    # The published format is an RFC 3339 date-time; pydantic alone would also read `0.5` or
    # `1700000000` as a Unix time, which the schema does not allow.
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-01T03:00:00Z")
    return value


_Time = Annotated[Instant | None, BeforeValidator(_date_time)]


@contextmanager
def _named_fields() -> Iterator[None]:
    """Refusals of the audit service as problems naming the parameter (`errors`, like a 422)."""
    try:
        yield
    except AuditRequestError as error:
        where = InvalidParam(location=error.location, field=error.field, detail=error.detail)
        raise ProblemError(
            status=error.status,
            title=error.title,
            detail=error.detail,
            type_=f"{PROBLEM_BASE}{error.code}",
            errors=[where.model_dump()],
            errorCount=1,
        ) from None


class ActorPublic(CamelModel):
    """Who acted: `user`, `api_key`, `system` or `anonymous`, and its pseudonymous id."""

    type: str
    id: str | None


class TargetPublic(CamelModel):
    """What was acted on."""

    type: str | None
    id: str | None


class PersonalDataPublic(CamelModel):
    """The entry's personal data, kept beside the log until erased (GDPR)."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: dict[str, Any] | None = None
    matches_commitment: bool = Field(
        description="The payload and its salt are the ones the entry's `pd` commits to."
    )


class AuditEntryPublic(CamelModel):
    """One entry, read from its canonical bytes (what is hashed), not from query copies."""

    seq: int
    id: str
    at: datetime
    action: str
    outcome: str
    actor: ActorPublic
    target: TargetPublic
    hash: str = Field(description="RFC 9162 leaf hash of the canonical entry, hex.")
    pd: str | None = Field(description="Commitment to the personal data, hex (null: none).")
    personal_data: PersonalDataPublic | None = Field(
        description="Null when the entry has none or it was erased."
    )


class AuditPagePublic(CamelModel):
    """Entries newest first; pass `nextCursor` as `cursor` (with the same filters) for more."""

    items: list[AuditEntryPublic]
    next_cursor: str | None


class CheckpointPublic(CamelModel):
    """A signed checkpoint (C2SP tlog-checkpoint in a signed note, Ed25519)."""

    log: str = Field(examples=["tenant:acme"])
    size: int = Field(description="Tree size: entries 0 … size-1 are covered.")
    root: str = Field(description="RFC 9162 root hash, hex (base64 inside the note).")
    note: str = Field(description="The signed note; verify it with /.well-known/caas-audit-keys.")


class InclusionPublic(CamelModel):
    """An entry and its RFC 9162 inclusion proof against a signed checkpoint."""

    entry: AuditEntryPublic
    leaf_index: int
    leaf_hash: str
    proof: list[str] = Field(description="Audit path, hex, leaf sibling first.")
    checkpoint: CheckpointPublic


class ConsistencyPublic(CamelModel):
    """An RFC 9162 consistency proof: the log at `new` extends the log at `old`."""

    old: CheckpointPublic
    new: CheckpointPublic
    proof: list[str] = Field(description="Hex hashes (empty when the sizes are equal).")


class VerifyRequest(CamelModel):
    """A range of entries, `from` ≤ seq < `to` (default: the whole log)."""

    start: _Seq | None = Field(default=None, alias="from")
    end: _Seq | None = Field(default=None, alias="to")


class VerifyProblemPublic(CamelModel):
    """The first problem found, where, and why."""

    kind: str = Field(examples=["modified"])
    seq: int | None
    line: int = Field(description="Line of the export (1-based; 0: before any line).")
    detail: str


class VerifyPublic(CamelModel):
    """The store's own export of the range, verified with the published key only."""

    ok: bool
    log: str
    start: int = Field(alias="from")
    end: int = Field(alias="to")
    size: int = Field(description="Tree size verified up to.")
    root: str = Field(description="Root hash at that size, hex.")
    entries: int
    checkpoints: int
    problem: VerifyProblemPublic | None


class AuditJwk(BaseModel):
    """The checkpoint key as an RFC 8037 JWK (`kid`: its RFC 7638 thumbprint)."""

    kty: str = Field(examples=["OKP"])
    crv: str = Field(examples=["Ed25519"])
    x: str
    kid: str
    alg: str = Field(examples=["EdDSA"])


class AuditKeyPublic(BaseModel):
    """A key that signs audit checkpoints."""

    name: str = Field(description="The key name signature lines carry.")
    verifierKey: str = Field(  # noqa: N815 - the published member name
        description="Note verifier key `<name>+<hex id>+<base64(0x01 || key)>`, as `caasctl "
        "audit verify --key` and hack/audit_verify_standalone.py take it."
    )
    jwk: AuditJwk


class AuditKeySet(BaseModel):
    """Keys that verify audit checkpoints."""

    keys: list[AuditKeyPublic]


def _entry(item: AuditItem) -> AuditEntryPublic:
    entry, payload = item.entry, item.personal_data
    personal = None
    if payload is not None:
        details = payload.get("details")
        personal = PersonalDataPublic(
            ip=payload.get("ip"),
            user_agent=payload.get("userAgent"),
            request_id=payload.get("requestId"),
            details=details if isinstance(details, dict) else None,
            matches_commitment=bool(item.personal_data_matches),
        )
    return AuditEntryPublic(
        seq=entry.seq,
        id=entry.id,
        at=entry.at,
        action=entry.action,
        outcome=entry.outcome,
        actor=ActorPublic(type=entry.actor_type, id=entry.actor_id),
        target=TargetPublic(type=entry.target_type, id=entry.target_id),
        hash=item.hash,
        pd=entry.pd,
        personal_data=personal,
    )


def _checkpoint(head: SignedHead) -> CheckpointPublic:
    return CheckpointPublic(log=head.log, size=head.size, root=head.root.hex(), note=head.note)


@router.get(
    PREFIX,
    response_model=AuditPagePublic,
    responses=problems(**COMMON, _400="A cursor this API did not issue"),
    summary="Query the tenant's audit log",
)
async def list_entries(
    *,
    caller: AuditReaderKey,
    audit: AuditLogDep,
    response: Response,
    action: _Text = None,
    outcome: Literal["success", "failure", "error"] | None = None,
    actor: _Text = None,
    target: _Text = None,
    target_type: Annotated[
        str | None,
        Query(alias="targetType", min_length=1, max_length=256, pattern=HUMAN_TEXT_PATTERN),
    ] = None,
    since: Annotated[_Time, Query(alias="from")] = None,
    until: Annotated[_Time, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditPagePublic:
    """Newest first. `actor` and `target` are ids; `from` ≤ at < `to`."""
    selected = AuditFilter(
        action=action, outcome=outcome, actor_id=actor, target_type=target_type,
        target_id=target, since=since, until=until,
    )  # fmt: skip
    with _named_fields():
        page = await audit.search(caller.tenant, selected, cursor=cursor, limit=limit)
    response.headers.update(_NO_STORE)
    return AuditPagePublic(items=[_entry(i) for i in page.items], next_cursor=page.next_cursor)


@router.get(
    f"{PREFIX}/checkpoints/latest",
    response_model=CheckpointPublic,
    responses=problems(**COMMON),
    summary="The latest signed checkpoint",
)
async def latest_checkpoint(caller: AuditReaderKey, audit: AuditLogDep) -> CheckpointPublic:
    """The newest stored one; the current head is signed first when there is none or an entry
    waited unsigned longer than `CAAS_AUDIT_CHECKPOINT_SECONDS`."""
    return _checkpoint(await audit.latest_checkpoint(caller.tenant))


@router.post(
    f"{PREFIX}/checkpoints",
    response_model=CheckpointPublic,
    responses=problems(**COMMON),
    summary="Sign the current head now",
)
async def sign_checkpoint(caller: AuditReaderKey, audit: AuditLogDep) -> CheckpointPublic:
    """A checkpoint of every entry logged so far (the stored one if this size is signed)."""
    return _checkpoint(await audit.sign_checkpoint(caller.tenant))


@router.get(
    f"{PREFIX}/entries/{{id}}",
    response_model=AuditEntryPublic | InclusionPublic,
    responses=_ENTRY,
    summary="One entry, with its inclusion proof on request",
)
async def get_entry(
    *,
    id: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")],
    caller: AuditReaderKey,
    audit: AuditLogDep,
    response: Response,
    proof: bool = False,
    size: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> AuditEntryPublic | InclusionPublic:
    """With `proof=true`: its leaf hash and inclusion proof against the checkpoint of `size`
    (default: the latest, or the current head signed now if that does not cover the entry)."""
    response.headers.update(_NO_STORE)
    with _named_fields():
        if not proof:
            return _entry(await audit.entry(caller.tenant, id))
        found = await audit.inclusion(caller.tenant, id, size=size)
    return InclusionPublic(
        entry=_entry(found.item),
        leaf_index=found.item.entry.seq,
        leaf_hash=found.leaf_hash.hex(),
        proof=[h.hex() for h in found.proof],
        checkpoint=_checkpoint(found.checkpoint),
    )


@router.get(
    f"{PREFIX}/proofs/consistency",
    response_model=ConsistencyPublic,
    responses=_RANGE,
    summary="Consistency proof between two tree sizes",
)
async def consistency(
    caller: AuditReaderKey,
    audit: AuditLogDep,
    old: Annotated[int, Query(alias="from", ge=1, le=MAX_INT)],
    new: Annotated[int | None, Query(alias="to", ge=1, le=MAX_INT)] = None,
) -> ConsistencyPublic:
    """Both checkpoints signed, and the proof that `to` (default: the head now) extends `from`."""
    with _named_fields():
        found = await audit.consistency(caller.tenant, old=old, new=new)
    return ConsistencyPublic(
        old=_checkpoint(found.old),
        new=_checkpoint(found.new),
        proof=[h.hex() for h in found.proof],
    )


@router.post(
    f"{PREFIX}/verify",
    response_model=VerifyPublic,
    responses=_RANGE,
    summary="Verify a range of the stored log",
)
async def verify(
    caller: AuditReaderKey,
    audit: AuditLogDep,
    body: Annotated[VerifyRequest | None, Body()] = None,
) -> VerifyPublic:
    """Runs the verifier over the store's own export of `from` ≤ seq < `to` with the published
    key only: ok, or the first problem (modified, deleted, reordered, inserted … at which seq)."""
    wanted = body or VerifyRequest()
    with _named_fields():
        found = await audit.verify(caller.tenant, start=wanted.start, end=wanted.end)
    report, problem = found.report, found.report.problem
    return VerifyPublic(
        ok=report.ok,
        log=found.log,
        start=found.start,
        end=found.end,
        size=report.size,
        root=report.root.hex(),
        entries=report.entries,
        checkpoints=report.checkpoints,
        problem=None
        if problem is None
        else VerifyProblemPublic(
            kind=problem.kind.value, seq=problem.seq, line=problem.line, detail=problem.detail
        ),
    )


@router.get(
    f"{PREFIX}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "NDJSON: entries, signed checkpoints (one at the end), and a pruned "
            "record first when `from` > 0 (docs/audit-verify.md)",
            "content": {NDJSON: {"schema": {"type": "string"}}},
        },
        **_RANGE,
    },
    summary="Export a range as NDJSON",
)
async def export(
    caller: AuditReaderKey,
    audit: AuditLogDep,
    start: Annotated[int | None, Query(alias="from", ge=0, le=MAX_INT)] = None,
    end: Annotated[int | None, Query(alias="to", ge=0, le=MAX_INT)] = None,
) -> StreamingResponse:
    """Entries `from` ≤ seq < `to` (default: all), verifiable with the published key only."""
    with _named_fields():
        lines = await audit.export(caller.tenant, start=start, end=end)
    name = f"audit-{caller.tenant}.ndjson"
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(lines, media_type=NDJSON, headers=headers)


@router.get(
    KEYS_PATH,
    response_model=AuditKeySet,
    responses=problems(_503="The service is starting"),
    summary="Keys verifying audit checkpoints",
)
async def audit_keys(audit: AuditLogDep, settings: SettingsDep, response: Response) -> AuditKeySet:
    """Published like the JWKS (and as cacheable): the note verifier key an auditor needs."""
    max_age = settings.jwks_max_age_seconds
    response.headers["Cache-Control"] = f"public, max-age={max_age}, must-revalidate"
    return AuditKeySet.model_validate({"keys": audit.published_keys()})

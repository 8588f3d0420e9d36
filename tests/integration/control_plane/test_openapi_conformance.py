"""Property-based test of every operation of /openapi.json against a real API process:
no 5xx, every answer (status, media type, body, headers) as documented, requests valid by the
schema accepted and invalid ones refused, undocumented methods answered 405 with a true Allow.

Schemathesis generates the requests from the published schema (examples, boundary "coverage"
cases, then random positive and negative data), so the schema and the server are held to each
other: a constraint published but not enforced, or enforced but not published, fails here.
Bounded and derandomized: the same cases every run, a few minutes at most on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from caas_control_plane.app import create_app
from caas_control_plane.problems import PROBLEM_BASE
from caas_control_plane.settings import ApiSettings
from tests.conftest import Stack
from tests.integration.control_plane.edge_support import EdgeApi, edge_api

# The fuzzer presents thousands of invalid API keys, and lockouts of a client address are counted
# in the Redis every test on this stack shares: it speaks from an address of its own, so its
# failures never add up to a lockout of 127.0.0.1 (where every other suite connects from).
SOURCE_ADDRESS = "127.0.0.2"
MAX_EXAMPLES = 25  # random examples per operation (both modes), on top of examples and boundaries
_STATE: dict[str, Any] = {}


def _described() -> dict[str, Any]:
    """The description an API process with these settings serves (checked against the real
    one below): built here, because pytest parametrizes the operations before any fixture runs."""
    settings = ApiSettings.model_validate(
        {
            "MONGODB_URI": "mongodb://127.0.0.1:1/",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "CAAS_SECRET_KEY": "openapi-description-only-0123456789-abcdefghijklmnop",
            "CAAS_ENV": "production",
            "CAAS_INTERNAL_TOKEN": "set: the signing-key routes are described",
        }
    )
    return create_app(settings, probes={}).openapi()


DESCRIPTION = _described()
schema = schemathesis.openapi.from_dict(DESCRIPTION)


@pytest.fixture(scope="module")
def target(stack: Stack) -> Iterator[EdgeApi]:
    transport = httpx.HTTPTransport(local_address=SOURCE_ADDRESS)
    with (
        edge_api(stack, "it-openapi") as api,
        httpx.Client(timeout=120, transport=transport) as client,
    ):
        _STATE["api"], _STATE["client"] = api, client
        yield api
        _STATE.clear()


def test_the_process_serves_this_description(target: EdgeApi) -> None:
    served = httpx.get(f"{target.url}/openapi.json").json()
    assert served == DESCRIPTION


class _FromSourceAddress(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (SOURCE_ADDRESS, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as shared:
        shared.mount("http://", _FromSourceAddress())
        yield shared


# Operations after which the cached access token may no longer be valid.
_ENDS_SESSIONS = frozenset(
    {"/v1/auth/logout", "/v1/auth/revoke", "/v1/auth/revoke-all", "/v1/sessions"}
)


def credentials(case: Any) -> dict[str, str]:
    """Valid credentials for a case: the internal token on /internal routes, else the tenant's
    all-scopes API key and a user access token, logged in again whenever an earlier case may
    have ended its session. Set when the case is sent, not when it is generated (boundary
    cases are generated while pytest collects, before any fixture runs)."""
    api: EdgeApi = _STATE["api"]
    if case.path.startswith("/internal/"):
        return {"Authorization": f"Bearer {api.internal_token}"}
    if "token" not in _STATE:
        _STATE["token"] = api.login(_STATE["client"])
    return {"X-API-Key": api.api_key, "Authorization": f"Bearer {_STATE['token']}"}


def expires_in_the_past(case: Any) -> bool:
    """`expiresAt` must lie in the future: JSON Schema cannot say so (the field's description
    does), so such a schema-valid body is held to its documented 422 instead of a 2xx."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("expiresAt"), str):
        return False
    try:
        expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
        return expires.tzinfo is not None and expires <= datetime.now(UTC) + timedelta(minutes=1)
    except (ValueError, OverflowError):
        return False


_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Every rotation adds a signing key to the store all API processes on this stack share (kept a
# day after it retires): rotation gets its boundary cases and a few random ones.
_ROTATE = "/internal/signing-keys/rotate"


@schema.exclude(path=_ROTATE).parametrize()
@_SETTINGS
def test_every_operation_behaves_as_documented(
    case: Any, target: EdgeApi, session: requests.Session
) -> None:
    check_case(case, target, session)


@schema.include(path=_ROTATE).parametrize()
@settings(_SETTINGS, max_examples=3)
def test_rotation_behaves_as_documented(
    case: Any, target: EdgeApi, session: requests.Session
) -> None:
    check_case(case, target, session)


_AUTHZ_PATHS = tuple(
    f"/v1/security/{name}"
    for name in (
        "authorize", "policies", "permissions", "grants", "schema", "roles", "role-assignments",
        "entities",
    )
)  # fmt: skip


_AUDIT = "/v1/security/audit"
_AUDIT_REFUSALS = frozenset({f"{PROBLEM_BASE}invalid-cursor", f"{PROBLEM_BASE}invalid-audit-range"})


def audit_position(case: Any) -> bool:
    """A cursor, seq range or tree size of the audit log: whether the log has that position is
    its state, which no schema describes (a cursor never issued, a size beyond the log's), so
    such a schema-valid request may get its documented 400 naming the field (checked below)."""
    if not case.path.startswith(_AUDIT):
        return False
    body = case.body if isinstance(case.body, dict) else {}
    given = set(case.query or {}) | set(body)
    # The listing's `from`/`to` are times, always answerable; only its cursor is a position.
    return bool(given & ({"cursor"} if case.path == _AUDIT else {"from", "to", "size"}))


def webhook_url_write(case: Any) -> bool:
    """Registering or changing a webhook's URL: it must resolve to public addresses only, which
    no schema can say (and this machine has no DNS), so a schema-valid URL may get its
    documented 422 naming `url` (checked below)."""
    body = case.body if isinstance(case.body, dict) else {}
    return (
        case.method.upper() in {"POST", "PUT"}
        and case.path in {"/v1/webhooks", "/v1/webhooks/{endpoint_id}"}
        and "url" in body
    )


def event_data(case: Any) -> bool:
    """Publishing an event: its `data` may hold any JSON the schema allows, but integers beyond
    ±2**53-1, non-finite numbers and text that is not valid Unicode are refused (no receiver
    reads them back exactly, no database stores them) — nothing a JSON Schema can say for every
    nested value — so a schema-valid body may get its documented 422 naming `data`."""
    body = case.body if isinstance(case.body, dict) else {}
    return case.method.upper() == "POST" and case.path == "/v1/events" and "data" in body


def positive(case: Any) -> bool:
    """Whether schemathesis meant the case to be valid (negative ones are refused anyway)."""
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode is GenerationMode.POSITIVE


def check_case(case: Any, target: EdgeApi, session: requests.Session) -> None:
    """Send the case with valid credentials (unless it tests them) and check every answer."""
    # A case testing a missing or wrong credential keeps what was generated for it.
    negated = case.operation.schema.is_security_param_negated(case)
    headers = None if negated else credentials(case)
    excluded = []
    past = expires_in_the_past(case)
    if past or case.path == "/v1/auth/refresh" or case.path.startswith(_AUTHZ_PATHS):
        # Schema-valid yet refused, as documented: a past expiry (422, checked below), and a
        # refresh token, which a schema cannot generate: a well-formed one never issued is
        # refused with 400 `invalid_grant` (RFC 6749 §5.2). Authorization documents and
        # requests are checked against the tenant's own schema (its entity types, attributes
        # and actions), which no OpenAPI document can describe: 422 with JSON pointers.
        excluded.append(positive_data_acceptance)
    position = audit_position(case)
    if position:
        excluded.append(positive_data_acceptance)
    url_write = webhook_url_write(case)
    if url_write:
        excluded.append(positive_data_acceptance)
    data_write = event_data(case)
    if data_write:
        excluded.append(positive_data_acceptance)
    # Generous timeouts: the stack's database is shared with other suites and benchmarks.
    response = case.call_and_validate(
        base_url=target.url, session=session, headers=headers, excluded_checks=excluded,
        timeout=120,
    )  # fmt: skip
    if position and response.status_code == 400:
        assert response.json()["type"] in _AUDIT_REFUSALS, response.text
    if url_write and positive(case) and response.status_code == 422:
        assert response.json()["errors"][0]["field"] == "url", response.text
    if data_write and positive(case) and response.status_code == 422:
        assert response.json()["errors"][0]["field"] == "data", response.text
    if case.path in _ENDS_SESSIONS or response.status_code == 401:
        _STATE.pop("token", None)
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")
        assert len(response.content) < 8192
    if case.path == "/v1/auth/refresh" and response.status_code == 400:
        assert response.json()["error"] == "invalid_grant"
    if past and 200 <= response.status_code < 300:
        pytest.fail(f"an expiry in the past was accepted: {case.body}")

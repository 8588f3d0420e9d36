"""The dispatcher's pure core: signing, schedule, outcomes, offsets, limits, targets, messages."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from caas_control_plane.dispatcher.limits import TokenBucket
from caas_control_plane.dispatcher.messages import (
    BadMessageError,
    Delivery,
    decode_event,
    decode_retry,
    parse_event,
)
from caas_control_plane.dispatcher.offsets import OffsetTracker
from caas_control_plane.dispatcher.outcomes import (
    FINAL,
    TRANSITIONS,
    AttemptResult,
    FailureKind,
    InvalidTransitionError,
    State,
    Verdict,
    classify,
    decide,
)
from caas_control_plane.dispatcher.schedule import (
    SVIX_SCHEDULE,
    RetrySchedule,
    parse_retry_after,
)
from caas_control_plane.dispatcher.signing import sign_headers, webhook_id
from caas_control_plane.dispatcher.targets import TargetPolicy
from caas_core.domain.webhook_records import new_signing_secret
from caas_core.domain.webhook_urls import UrlProblem, WebhookUrlError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


# -- signing -------------------------------------------------------------------------------------


def test_signatures_verify_with_the_reference_library_for_each_live_secret() -> None:
    current, previous, stranger = (new_signing_secret() for _ in range(3))
    body = b'{"id":"evt_1","type":"message.created"}'
    ts = int(datetime.now(UTC).timestamp())
    headers = sign_headers([current, previous], msg_id="msg_1", timestamp=ts, body=body)
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(current).verify(body, headers)
    Webhook(previous).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(stranger).verify(body, headers)


def test_signing_needs_a_secret_and_the_id_is_stable_per_event_and_endpoint() -> None:
    with pytest.raises(ValueError, match="at least one"):
        sign_headers([], msg_id="m", timestamp=1, body=b"")
    assert webhook_id("evt_1", "whep_a") == webhook_id("evt_1", "whep_a")
    assert webhook_id("evt_1", "whep_a") != webhook_id("evt_1", "whep_b")
    assert webhook_id("evt_1", "whep_a") != webhook_id("evt_2", "whep_a")


# -- schedule ------------------------------------------------------------------------------------


def test_svix_schedule_then_exhausted() -> None:
    schedule = RetrySchedule()
    assert schedule.attempts == 8
    waits = [schedule.delay_after(n) for n in range(1, 9)]
    assert waits == [*SVIX_SCHEDULE[1:], None]


def test_retry_after_lengthens_but_never_shortens_and_is_capped() -> None:
    schedule = RetrySchedule(delays=(0, 5, 300), retry_after_max=60)
    assert schedule.delay_after(1, retry_after=2) == 5
    assert schedule.delay_after(1, retry_after=30) == 30
    assert schedule.delay_after(1, retry_after=10_000) == 60
    assert schedule.delay_after(2, retry_after=10_000) == 300  # the schedule's own step wins


def test_schedule_parsing_and_refusals() -> None:
    assert RetrySchedule.parse("0, 0.5,2").delays == (0.0, 0.5, 2.0)
    for text in ("", "a,b", "0,-1"):
        with pytest.raises(ValueError):
            RetrySchedule.parse(text)
    with pytest.raises(ValueError, match="from 1"):
        RetrySchedule().delay_after(0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("Thu, 01 Jan 2026 00:01:00 GMT", 60.0),
        ("Wed, 31 Dec 2025 00:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
        ("-5", None),
    ],
)
def test_retry_after_header(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


# -- outcomes ------------------------------------------------------------------------------------

RESULTS = {
    "200": AttemptResult(status=200),
    "204": AttemptResult(status=204),
    "301": AttemptResult(status=301),
    "400": AttemptResult(status=400),
    "410": AttemptResult(status=410),
    "429": AttemptResult(status=429, retry_after=7),
    "500": AttemptResult(status=500),
    "timeout": AttemptResult(failure=FailureKind.TIMEOUT),
    "connect": AttemptResult(failure=FailureKind.CONNECT),
    "refused-name": AttemptResult(failure=FailureKind.REFUSED_ADDRESS),
    "refused-literal": AttemptResult(failure=FailureKind.REFUSED_LITERAL),
    "invalid-url": AttemptResult(failure=FailureKind.INVALID_URL),
    "no-secret": AttemptResult(failure=FailureKind.SECRET_UNAVAILABLE),
}
VERDICTS = {
    "200": Verdict.SUCCESS,
    "204": Verdict.SUCCESS,
    "410": Verdict.GONE,
    "refused-literal": Verdict.FORBIDDEN_TARGET,
    "invalid-url": Verdict.FORBIDDEN_TARGET,
}


@pytest.mark.parametrize("name", RESULTS)
def test_classification(name: str) -> None:
    assert classify(RESULTS[name]) is VERDICTS.get(name, Verdict.RETRY)


def test_an_attempt_has_a_status_or_a_failure() -> None:
    with pytest.raises(ValueError, match="either"):
        AttemptResult()
    with pytest.raises(ValueError, match="either"):
        AttemptResult(status=200, failure=FailureKind.TIMEOUT)


@pytest.mark.parametrize(
    ("state", "name", "attempt", "failing_for"),
    list(
        itertools.product((State.PENDING, State.RETRYING), RESULTS, (1, 2, 4), (None, 10.0, 1000.0))
    ),
)
def test_every_decision_follows_the_table(
    state: State, name: str, attempt: int, failing_for: float | None
) -> None:
    schedule = RetrySchedule(delays=(0, 1, 2, 3))
    result = RESULTS[name]
    decision = decide(
        state=state, attempt=attempt, result=result, schedule=schedule,
        failing_for=failing_for, disable_after=500.0,
    )  # fmt: skip
    assert decision.state in TRANSITIONS[(state, classify(result))]
    assert (decision.delay is not None) == (decision.state is State.RETRYING)
    assert decision.disable_endpoint == (decision.state is State.ENDPOINT_DISABLED)
    verdict = classify(result)
    if verdict is Verdict.RETRY:
        if failing_for == 1000.0:
            assert decision.state is State.ENDPOINT_DISABLED
        elif attempt == 4:
            assert decision.state is State.DEAD
        else:
            assert decision.state is State.RETRYING
            expected = schedule.delay_after(attempt, result.retry_after)
            assert decision.delay == expected


@pytest.mark.parametrize("state", sorted(FINAL))
def test_final_states_are_not_attempted_again(state: State) -> None:
    with pytest.raises(InvalidTransitionError):
        decide(
            state=state, attempt=1, result=RESULTS["200"], schedule=RetrySchedule(),
            failing_for=None, disable_after=1.0,
        )  # fmt: skip


# -- offsets -------------------------------------------------------------------------------------


def test_commit_position_is_the_first_unfinished_offset() -> None:
    tracker = OffsetTracker()
    tp = ("events", 0)
    epochs = [tracker.started(tp, offset) for offset in range(5)]
    for offset in (1, 2, 4):
        tracker.finished(tp, offset, epochs[offset])
    assert tracker.committable() == {tp: 0}
    tracker.finished(tp, 0, epochs[0])
    assert tracker.committable() == {tp: 3}
    tracker.committed({tp: 3})
    assert tracker.committable() == {}
    tracker.finished(tp, 3, epochs[3])
    assert tracker.committable() == {tp: 5}
    assert tracker.in_flight() == 0


def test_a_late_finish_from_before_a_revocation_moves_nothing() -> None:
    tracker = OffsetTracker()
    tp = ("events", 1)
    old = tracker.started(tp, 10)
    tracker.revoke([tp])
    new = tracker.started(tp, 10)
    tracker.started(tp, 11)
    tracker.finished(tp, 10, old)  # the previous owner's task, finishing late
    assert tracker.position(tp) == 10
    tracker.finished(tp, 10, new)
    assert tracker.position(tp) == 11
    assert tracker.in_flight("events") == 1
    assert tracker.in_flight("internal.retry") == 0


# -- limits --------------------------------------------------------------------------------------


def test_token_bucket_serves_a_burst_then_paces() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    assert bucket.wait(0.0) == 0
    assert bucket.wait(0.0) == 0
    assert bucket.wait(0.0) == pytest.approx(0.1)
    assert bucket.wait(0.0) == pytest.approx(0.2)
    assert bucket.wait(1.0) == 0  # refilled
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate=0, burst=1)


# -- targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addresses", "problem"),
    [
        (["127.0.0.1"], UrlProblem.LOOPBACK_ADDRESS),
        (["10.9.8.7"], UrlProblem.PRIVATE_ADDRESS),
        (["169.254.169.254"], UrlProblem.METADATA_ADDRESS),
        (["::1"], UrlProblem.LOOPBACK_ADDRESS),
        (["::ffff:127.0.0.1"], UrlProblem.LOOPBACK_ADDRESS),
        (["fd12::1"], UrlProblem.PRIVATE_ADDRESS),
        (["fe80::1"], UrlProblem.LINK_LOCAL_ADDRESS),
        (["93.184.215.14", "192.168.1.1"], UrlProblem.PRIVATE_ADDRESS),  # rebinding mix
        ([], UrlProblem.UNRESOLVABLE_HOST),
    ],
)
def test_vetting_refuses_what_registration_refuses(
    addresses: list[str], problem: UrlProblem
) -> None:
    with pytest.raises(WebhookUrlError) as refused:
        TargetPolicy().vet("hooks.example.com", addresses)
    assert refused.value.problem is problem


def test_vetting_connects_to_the_first_public_address_and_allow_lists_only_what_is_named() -> None:
    assert TargetPolicy().vet("h.example.com", ["93.184.215.14", "2606:2800::1"]) == (
        "93.184.215.14"
    )
    policy = TargetPolicy.parse("127.0.0.0/8")
    assert policy.vet("127.0.0.1", ["127.0.0.1"]) == "127.0.0.1"
    with pytest.raises(WebhookUrlError):
        policy.vet("h.example.com", ["10.0.0.1"])
    with pytest.raises(WebhookUrlError):
        policy.vet_host("localhost")  # names are checked as at registration, allow-list or not


# -- messages ------------------------------------------------------------------------------------


def test_retry_records_round_trip_and_bad_records_are_named() -> None:
    event = parse_event({"id": "evt_1", "type": "message.created", "tenant": "t", "data": {}})
    delivery = Delivery(event=event, endpoint_id="whep_x", attempt=3, round=2, due_at=12.5)
    again = decode_retry(json.dumps(delivery.to_retry()).encode())
    assert again == delivery
    assert json.loads(event.body) == event.raw
    for bad in (b"", b"[]", b'{"kind":"retry"}', b'{"kind":"retry","endpointId":"e"}'):
        with pytest.raises(BadMessageError):
            decode_retry(bad)
    with pytest.raises(BadMessageError, match="tenant"):
        decode_event(b'{"id":"e","type":"t"}')
    with pytest.raises(BadMessageError):
        decode_event(b"not json")

"""What one delivery attempt's result means, and the message's next state.

A message for one endpoint is a small state machine, written as a table (`TRANSITIONS`) and
walked by `decide`:

- 2xx: delivered.
- 410 Gone: endpoint_disabled (the receiver asks to stop; Svix does so too).
- 429, 5xx, 408, timeouts, connection and TLS errors, an address refused for a host name (its
  answer may change): retrying, or dead once the schedule is exhausted.
- Other 4xx and 3xx (redirects are never followed): retrying / dead too, as Svix does — a 400
  is often one deploy away from a 200, and the attempt log shows the receiver's answer.
- An address refused for an IP-literal URL, or a URL that does not parse: dead at once (it can
  never change).
- Any failure once the endpoint has failed for `disable_after` with no success in between:
  endpoint_disabled.

`delivered`, `dead` and `endpoint_disabled` are final for this round; a replay starts a new round
(same `webhook-id`).
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from caas_control_plane.dispatcher.schedule import RetrySchedule


class State(StrEnum):
    """Where a message stands for one endpoint."""

    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    ENDPOINT_DISABLED = "endpoint_disabled"


class Verdict(StrEnum):
    """What an attempt's result says, before the schedule is consulted."""

    SUCCESS = "success"
    RETRY = "retry"
    GONE = "gone"  # 410: the receiver asks never to be called again
    FORBIDDEN_TARGET = "forbidden_target"  # an IP literal the SSRF rules refuse


class FailureKind(StrEnum):
    """Why no HTTP status was obtained."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    TLS = "tls"
    PROTOCOL = "protocol"  # the receiver answered with something that is not HTTP/1.1
    REFUSED_ADDRESS = "refused_address"  # the SSRF rules refused every resolved address
    REFUSED_LITERAL = "refused_literal"  # …and the host is an address, so it never changes
    UNRESOLVABLE = "unresolvable"
    INVALID_URL = "invalid_url"  # a stored URL that does not even parse: never sendable
    # Nothing to sign with: the message is never sent unsigned.
    SECRET_UNAVAILABLE = "secret_unavailable"  # noqa: S105 - a reason, not a secret


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptResult:
    """The observable result of one POST."""

    status: int | None = None
    failure: FailureKind | None = None
    retry_after: float | None = None  # seconds, from the response's Retry-After
    detail: str = ""

    def __post_init__(self) -> None:
        if (self.status is None) == (self.failure is None):
            raise ValueError("an attempt has either a status or a failure")

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def classify(result: AttemptResult) -> Verdict:
    """The verdict on one attempt (see the module table)."""
    if result.ok:
        return Verdict.SUCCESS
    if result.status == 410:
        return Verdict.GONE
    if result.failure in (FailureKind.REFUSED_LITERAL, FailureKind.INVALID_URL):
        return Verdict.FORBIDDEN_TARGET
    return Verdict.RETRY


# (from-state, verdict) → the states it may lead to; `decide` picks one by the schedule.
TRANSITIONS: Final[dict[tuple[State, Verdict], frozenset[State]]] = {
    (source, verdict): targets
    for source in (State.PENDING, State.RETRYING)
    for verdict, targets in (
        (Verdict.SUCCESS, frozenset({State.DELIVERED})),
        (Verdict.GONE, frozenset({State.ENDPOINT_DISABLED})),
        (Verdict.FORBIDDEN_TARGET, frozenset({State.DEAD})),
        (Verdict.RETRY, frozenset({State.RETRYING, State.DEAD, State.ENDPOINT_DISABLED})),
    )
}
FINAL: Final = frozenset({State.DELIVERED, State.DEAD, State.ENDPOINT_DISABLED})


class InvalidTransitionError(ValueError):
    """A final message was attempted again without a new round."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The message's next state; `delay` is set when it is retrying."""

    state: State
    verdict: Verdict
    delay: float | None = None
    disable_endpoint: bool = False


def decide(
    *,
    state: State,
    attempt: int,
    result: AttemptResult,
    schedule: RetrySchedule,
    failing_for: float | None,
    disable_after: float,
) -> Decision:
    """The next state after attempt `attempt` (1-based) ended with `result`.

    `failing_for` is how long the endpoint has been failing without a success in between
    (None: its last attempt succeeded); past `disable_after` a failure disables the endpoint.
    """
    verdict = classify(result)
    allowed = TRANSITIONS.get((state, verdict))
    if allowed is None:
        raise InvalidTransitionError(f"a {state} message is not attempted again")
    if verdict is Verdict.SUCCESS:
        target, delay = State.DELIVERED, None
    elif verdict is Verdict.GONE:
        target, delay = State.ENDPOINT_DISABLED, None
    elif verdict is Verdict.FORBIDDEN_TARGET:
        target, delay = State.DEAD, None
    elif failing_for is not None and failing_for >= disable_after:
        target, delay = State.ENDPOINT_DISABLED, None
    else:
        delay = schedule.delay_after(attempt, result.retry_after)
        target = State.DEAD if delay is None else State.RETRYING
    assert target in allowed  # the table and this function must agree (unit-tested)
    return Decision(
        state=target,
        verdict=verdict,
        delay=delay,
        disable_endpoint=target is State.ENDPOINT_DISABLED,
    )

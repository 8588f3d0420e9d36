"""The retry schedule and `Retry-After`: when attempt n+1 is due after attempt n failed."""

import email.utils
from dataclasses import dataclass
from datetime import datetime
from typing import Final

# Svix's schedule: the first attempt at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
SVIX_SCHEDULE: Final = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# Receivers asking for more than this are capped: a hostile or broken header must not park a
# message for a week; the schedule's own steps still apply when they are longer.
DEFAULT_RETRY_AFTER_MAX: Final = 3600.0


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """`delays[k]` is the wait before attempt k+1 (so `delays[0]` is the first attempt's)."""

    delays: tuple[float, ...] = SVIX_SCHEDULE
    retry_after_max: float = DEFAULT_RETRY_AFTER_MAX

    def __post_init__(self) -> None:
        if not self.delays or any(d < 0 for d in self.delays):
            raise ValueError("a retry schedule is one or more delays of 0 seconds or more")
        if self.retry_after_max < 0:
            raise ValueError("the Retry-After cap is 0 seconds or more")

    @property
    def attempts(self) -> int:
        """How many attempts a message gets before it is dead-lettered."""
        return len(self.delays)

    def delay_after(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt `attempt` (1-based), or None when exhausted.

        A receiver's `Retry-After` lengthens the wait (never shortens it below the schedule),
        up to `retry_after_max`.
        """
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        if attempt >= self.attempts:
            return None
        planned = self.delays[attempt]
        if retry_after is None:
            return planned
        return max(planned, min(retry_after, self.retry_after_max))

    @classmethod
    def parse(
        cls, text: str, *, retry_after_max: float = DEFAULT_RETRY_AFTER_MAX
    ) -> "RetrySchedule":
        """A schedule from `0,5,300,…` (seconds, comma-separated)."""
        try:
            delays = tuple(float(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(
                f"retry schedule {text[:80]!r} is not comma-separated seconds"
            ) from None
        return cls(delays=delays, retry_after_max=retry_after_max)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP-date), None if absent or
    unreadable (RFC 9110 §10.2.3); a date in the past means 0."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())

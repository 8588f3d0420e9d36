"""Per-endpoint rate limit: a token bucket on an injected clock (pure; one per endpoint per
process). Limits are per dispatcher process on purpose: they need no Redis round trip per
delivery and cannot hang when Redis restarts (Svix OSS's failure mode); with N processes an
endpoint sees at most N times the rate (documented in docs/webhooks.md)."""

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a bucket needs a positive rate and a burst of at least 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def wait(self, now: float) -> float:
        """Take a token: 0 when one was available, else the seconds until it will be (the
        token is taken in advance, so callers sleeping that long are served in order)."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

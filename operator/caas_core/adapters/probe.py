"""Run one backend check under a deadline and report it as a ProbeResult."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from caas_core.domain.health import ProbeResult


async def timed_probe(check: Callable[[], Awaitable[object]], *, timeout: float) -> ProbeResult:
    """Await the check within `timeout` seconds; any failure becomes a failed result."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await check()
    except TimeoutError:
        return ProbeResult.failure(
            latency_ms=_elapsed(started), error=f"timed out after {timeout}s"
        )
    except Exception as exc:  # a probe reports failures, it never raises them
        return ProbeResult.failure(latency_ms=_elapsed(started), error=_describe(exc))
    return ProbeResult(ok=True, latency_ms=_elapsed(started))


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

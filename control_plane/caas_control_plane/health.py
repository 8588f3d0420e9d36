"""Backend health: run every probe concurrently under one deadline each."""

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from caas_core.domain.health import Probe, ProbeResult


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendHealth:
    """The probes of the backends the API depends on, and how long each may take."""

    probes: Mapping[str, Probe] = field(default_factory=dict)
    timeout: float = 2.0

    async def check(self) -> dict[str, ProbeResult]:
        """Every probe's result, concurrently; a hung or raising probe is a failure."""
        names = list(self.probes)
        results = await asyncio.gather(*(self._run(self.probes[name]) for name in names))
        return dict(zip(names, results, strict=True))

    async def _run(self, probe: Probe) -> ProbeResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                return await probe()
        except TimeoutError:
            error = f"no answer within {self.timeout}s"
        except Exception as exc:  # probes should not raise; one that does is a failed backend
            error = f"{type(exc).__name__}: {exc}"
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        return ProbeResult.failure(latency_ms=elapsed, error=error)

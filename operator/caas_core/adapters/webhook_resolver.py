"""Host resolution for webhook URL checks: an optional hosts(5)-format file first, then the
system resolver.

The file (`CAAS_WEBHOOK_HOSTS_FILE`) serves split-horizon deployments and tests that need a
name to resolve somewhere (and then somewhere else: it is re-read whenever its modification time
changes). It cannot weaken the SSRF defence: whatever address a name resolves to, from the file
or from DNS, is checked afterwards by the same rules (`check_addresses`).
"""

import os
from collections.abc import Sequence
from functools import partial

from caas_core.adapters.webhook_store import resolve_host


def parse_hosts(text: str) -> dict[str, tuple[str, ...]]:
    """name (lowercase) -> addresses, in file order, from hosts(5) text."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        if len(fields) < 2:  # an address and at least one name
            continue
        address, names = fields[0], fields[1:]
        for name in names:
            table.setdefault(name.lower().rstrip("."), []).append(address)
    return {name: tuple(dict.fromkeys(addresses)) for name, addresses in table.items()}


class WebhookResolver:
    """Resolves names for webhook URL checks (a `Resolver`)."""

    def __init__(self, *, hosts_file: str | None, timeout: float) -> None:
        self._path = hosts_file
        self._system = partial(resolve_host, timeout=timeout)
        self._stamp: tuple[int, int] | None = None
        self._table: dict[str, tuple[str, ...]] = {}

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        """The addresses of `host`: the hosts file's when it names the host, else DNS's."""
        found = self._hosts().get(host.lower().rstrip("."))
        if found:
            return list(found)
        return await self._system(host, port)

    def _hosts(self) -> dict[str, tuple[str, ...]]:
        if self._path is None:
            return {}
        try:
            status = os.stat(self._path)
            stamp = (status.st_mtime_ns, status.st_size)
            if stamp != self._stamp:
                with open(self._path, encoding="utf-8") as handle:
                    self._table = parse_hosts(handle.read())
                self._stamp = stamp
        except FileNotFoundError:
            self._table, self._stamp = {}, None
        return self._table

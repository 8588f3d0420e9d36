"""Where issuance's time goes: one API process profiled under wrk load, and the CPU of each.

    source ~/.local/state/caas-stack/env
    pip install --target /tmp/pyinstrument pyinstrument   # not a project dependency
    PYINSTRUMENT_PATH=/tmp/pyinstrument .venv/bin/python bench/profile_issuance.py

The API process (pinned to CPU 0, MongoDB as the API's user, rate limits out of the way, as in
`auth_issuance.py`) runs under pyinstrument's sampling profiler (main thread, 1 ms); wrk drives
`POST /v1/auth/sdk/token` from CPU 1 for `BENCH_SECONDS` with `BENCH_CONNECTIONS`. Printed:
req/s, the CPU each process used during the window (API, MongoDB, Redis, Kafka, wrk's share is
the rest), and the profile's call tree (the text file and an HTML one are kept in /tmp).
The profiler costs the API some throughput: compare the CPU shares, not the req/s, with
`auth_issuance.py`.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auth_common import (
    PYTHON,
    SECRET,
    _pin,
    _process,
    api_env,
    cpu_seconds,
    free_port,
    seeded_key,
    server_pid,
    table,
    wrk,
)

SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
STATE = Path(os.environ.get("CAAS_STACK_HOME", Path.home() / ".local" / "state" / "caas-stack"))
OUT = Path(os.environ.get("TMPDIR", "/tmp")) / "caas-issuance-profile"

WRAPPER = """
import os, sys
sys.path.insert(0, os.environ["PYINSTRUMENT_PATH"])
from pyinstrument import Profiler
from caas_control_plane.__main__ import main

profiler = Profiler(interval=0.001, async_mode="disabled")
profiler.start()
try:
    main()
finally:
    profiler.stop()
    out = sys.argv[1]
    with open(out + ".txt", "w") as f:
        f.write(profiler.output_text(unicode=True, show_all=False))
    with open(out + ".flat.txt", "w") as f:  # self time per function
        f.write(profiler.output_text(unicode=True, flat=True))
    profiler.last_session.save(out + ".pyisession")
    with open(out + ".html", "w") as f:
        f.write(profiler.output_html())
"""


def _stack_pid(name: str) -> int | None:
    path = STATE / "run" / f"{name}.pid"
    try:
        pid = int(path.read_text().split()[0])
        cpu_seconds(pid)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def main() -> None:
    """Profile one API process under load; report CPU shares and the call tree."""
    if not os.environ.get("PYINSTRUMENT_PATH"):
        sys.exit("PYINSTRUMENT_PATH: a directory holding pyinstrument (see the docstring)")
    body = {"userId": "bench-user", "device": {"deviceId": "d1", "platform": "ios"}}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, **api_env(), "CAAS_SECRET_KEY": SECRET, "CAAS_ENV": "production",
        "CAAS_LOG_LEVEL": "warning", "CAAS_API_PORT": str(port), "CAAS_API_HOST": "127.0.0.1",
        "CAAS_RATE_LIMIT_PER_MINUTE": "100000000", "CAAS_RATE_LIMIT_BURST": "1000000",
        "CAAS_TENANT_RATE_LIMIT_PER_MINUTE": "100000000",
    }  # fmt: skip
    argv = [*_pin(0), PYTHON, "-c", WRAPPER, str(OUT)]
    with seeded_key() as key, _process(argv, env=env, ready_url=f"{url}/internal/ready"):
        watched = {"API process": server_pid()}
        for name in ("mongodb", "redis", "kafka"):
            pid = _stack_pid(name)
            if pid is not None:
                watched[name] = pid
        target = f"{url}/v1/auth/sdk/token"
        headers = {"X-API-Key": key.api_key}
        wrk(target, method="POST", body=body, headers=headers, seconds=2, connections=CONNECTIONS)
        before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        started = time.monotonic()
        result = wrk(target, method="POST", body=body, headers=headers, seconds=SECONDS,
                     connections=CONNECTIONS)  # fmt: skip
        elapsed = time.monotonic() - started
        shares = {n: (cpu_seconds(p) - before[n]) / elapsed for n, p in watched.items()}
    rows = [
        ("POST /v1/auth/sdk/token under the profiler (req/s)", f"{result.requests_per_second:.0f}"),
        ("non-2xx", str(result.non_2xx)),
        ("load average", " ".join(f"{x:.1f}" for x in os.getloadavg())),
    ]
    rows += [(f"CPU of {name} (cores)", f"{share:.2f}") for name, share in shares.items()]
    table(rows)
    print(f"\nprofile: {OUT}.txt / .flat.txt / .html / .pyisession\n")
    print(Path(f"{OUT}.txt").read_text()[:20000])
    print("\nself time per function (top 40):")
    print("\n".join(Path(f"{OUT}.flat.txt").read_text().splitlines()[:48]))


if __name__ == "__main__":
    main()

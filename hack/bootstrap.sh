#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, idempotently:
# OS packages (Redis, a JRE and Maven for Kafka, cmake and a C compiler for the MongoDB server;
# unzip-free: Python unpacks archives itself),
# then the project's virtualenv at .venv with its dev extras. Safe to run on every invocation:
# each step is skipped when its result is already there.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CAAS_VENV:-$repo_root/.venv}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root (or sudo) to run: $*"
  fi
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v git >/dev/null || missing+=(git)
# SecantusDB's server compiles WiredTiger from C source (caasctl stack install).
command -v cmake >/dev/null || missing+=(cmake)
# The HTTP benchmarks in bench/ load the API with wrk.
command -v wrk >/dev/null || missing+=(wrk)
command -v cc >/dev/null || missing+=(build-essential)
# The audit verifier's C accelerator (hack/build_audit_accelerator.py) links OpenSSL's libcrypto
# and compiles against Python's headers.
[ -e /usr/include/openssl/sha.h ] || missing+=(libssl-dev)
"${PYTHON:-python3}" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null \
  || missing+=(python3-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing OS packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a system-wide redis-server on install; the stack runs its own private instance
# and never uses it, so leave it alone rather than fight the init system.

command -v go >/dev/null || die "Go >= 1.24 is required to build etcd, kube-apiserver and FerretDB (not found on PATH)"
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
[ "$go_minor" -ge 24 ] || die "Go >= 1.24 is required, found $(go env GOVERSION)"

cargo_bin="$(command -v cargo || echo "$HOME/.cargo/bin/cargo")"
[ -x "$cargo_bin" ] || die "Rust (cargo >= 1.95, e.g. from rustup) is required to build the stack's MongoDB server (SecantusDB)"

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python >= 3.11 is required, found $("$python" --version 2>&1)"

if [ ! -x "$venv/bin/python" ]; then
  log "creating virtualenv $venv"
  "$python" -m venv "$venv"
fi

stamp="$venv/.caas-install-stamp"
want="$(cat "$repo_root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing the project and its dev tools into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "$repo_root[dev]"
  echo "$want" > "$stamp"
fi

# The audit verifier's C accelerator, compiled into the package (a no-op when up to date).
"$venv/bin/python" "$repo_root/hack/build_audit_accelerator.py" >/dev/null

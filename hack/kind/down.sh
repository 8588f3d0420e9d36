#!/usr/bin/env bash
# Delete the kind cluster hack/kind/up.sh created (and everything in it).
set -euo pipefail
cluster="${KIND_CLUSTER_NAME:-caas}"
command -v kind >/dev/null || { echo "kind/down.sh: kind is required on PATH" >&2; exit 1; }
kind delete cluster --name "$cluster"

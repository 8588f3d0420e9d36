#!/usr/bin/env bash
# The CAAS platform on a kind cluster, for users with Docker: a kind cluster, MongoDB, Kafka and
# Redis inside it (backends.yaml), the platform image built from this checkout, the Helm chart
# installed with the backends Secret, and the sample tenant applied and waited for.
#
#   hack/kind/up.sh        # idempotent: re-running upgrades the release in place
#   hack/kind/down.sh      # deletes the cluster
#
# Needs docker, kind, kubectl and helm (v3.17+ or v4) on PATH. This project's CI has no Docker
# and cannot run this script; the chart itself is tested against a real apiserver by
# tests/e2e/chart.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo_root/hack/kind"
cluster="${KIND_CLUSTER_NAME:-caas}"
image="${CAAS_IMAGE:-caas-platform:dev}"
namespace="${CAAS_NAMESPACE:-caas-system}"
release="${CAAS_RELEASE:-caas-platform}"
secret="caas-platform-backends"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'kind/up.sh: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool is required on PATH"
done
docker info >/dev/null 2>&1 || die "docker is installed but its daemon does not answer (docker info failed)"

random_secret() { head -c 48 /dev/urandom | base64 | tr -d '\n/+='; }

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "kind cluster '$cluster' exists"
else
  log "creating kind cluster '$cluster'"
  kind create cluster --name "$cluster" --config "$here/cluster.yaml" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
fi
context="kind-$cluster"
k() { kubectl --context "$context" "$@"; }

log "building $image from $repo_root"
docker build -f "$here/Dockerfile" -t "$image" "$repo_root"
kind load docker-image --name "$cluster" "$image"

log "starting MongoDB, Kafka and Redis in namespace caas-backends"
k apply -f "$here/backends.yaml" >/dev/null
# Generated once and kept: re-running the script must not change a password under a running app.
if ! k -n caas-backends get secret redis-auth >/dev/null 2>&1; then
  k -n caas-backends create secret generic redis-auth --from-literal=password="$(random_secret)" >/dev/null
fi
for backend in mongodb kafka redis; do
  k -n caas-backends rollout status "deployment/$backend" --timeout=300s
done
redis_password="$(k -n caas-backends get secret redis-auth -o jsonpath='{.data.password}' | base64 -d)"

log "creating the backends Secret '$secret' in namespace $namespace"
k create namespace "$namespace" --dry-run=client -o yaml | k apply -f - >/dev/null
k label namespace "$namespace" --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
if k -n "$namespace" get secret "$secret" >/dev/null 2>&1; then
  secret_key="$(k -n "$namespace" get secret "$secret" -o jsonpath='{.data.CAAS_SECRET_KEY}' | base64 -d)"
else
  secret_key="$(random_secret)"
fi
k -n "$namespace" create secret generic "$secret" \
  --from-literal=MONGODB_URI="mongodb://mongodb.caas-backends.svc.cluster.local:27017/" \
  --from-literal=KAFKA_BOOTSTRAP_SERVERS="kafka.caas-backends.svc.cluster.local:9092" \
  --from-literal=REDIS_URL="redis://default:${redis_password}@redis.caas-backends.svc.cluster.local:6379/0" \
  --from-literal=CAAS_SECRET_KEY="$secret_key" \
  --dry-run=client -o yaml | k apply -f - >/dev/null

log "installing the chart (release $release)"
helm --kube-context "$context" upgrade --install "$release" "$repo_root/charts/caas-platform" \
  --namespace "$namespace" \
  --set backends.existingSecret="$secret" \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never \
  --set api.replicaCount=1 \
  --wait --timeout 5m

log "applying the sample tenant and waiting until it is Ready"
k apply -f "$repo_root/manifests/samples/" >/dev/null
k wait tenant/acme --for=condition=Ready --timeout=180s

# The chart's object names: "<release>-caas-platform-api", or "<release>-api" when the release
# name already contains the chart name (as the default does).
case "$release" in *caas-platform*) api_service="$release-api" ;; *) api_service="$release-caas-platform-api" ;; esac
cat >&2 <<DONE
==> done. Try:
  kubectl --context $context get tenants
  kubectl --context $context -n $namespace port-forward svc/$api_service 3000:3000 &
  curl -f http://127.0.0.1:3000/internal/ready
  hack/kind/down.sh    # delete the cluster
DONE

#!/usr/bin/env bash
# The CAAS platform on a kind cluster, for users with Docker: a kind cluster with the backends
# inside it (backends.yaml: MongoDB as a three-member replica set with authentication, Kafka as
# three KRaft brokers, Redis), the MongoDB users made from hack/stack/mongodb/platform-users.json,
# the platform image built from this checkout, the Helm chart installed with a backends Secret
# giving the operator and the API each its own MongoDB user, and the sample tenant applied and
# waited for.
#
#   hack/kind/up.sh        # idempotent: re-running upgrades the release in place
#   hack/kind/down.sh      # deletes the cluster
#
# Needs docker, kind, kubectl and helm (v3.17+ or v4) on PATH. This project's CI has no Docker
# and cannot run this script. tests/e2e/chart checks the chart and backends.yaml against a real
# apiserver (a server-side dry run), and `bash -n` checks this script.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo_root/hack/kind"
cluster="${KIND_CLUSTER_NAME:-caas}"
image="${CAAS_IMAGE:-caas-platform:dev}"
namespace="${CAAS_NAMESPACE:-caas-system}"
release="${CAAS_RELEASE:-caas-platform}"
secret="caas-platform-backends"
backends="caas-backends"
# The administrator, then the platform's MongoDB users. The platform's users must be the ones that
# hack/stack/mongodb/platform-users.json names, and tests/unit/deploy checks that they are.
mongodb_admin="caas-admin"
mongodb_users=("$mongodb_admin" caas-operator caas-api)
mongodb_members=() kafka_brokers=()
for i in 0 1 2; do
  mongodb_members+=("mongodb-$i.mongodb.$backends.svc.cluster.local:27017")
  kafka_brokers+=("kafka-$i.kafka-nodes.$backends.svc.cluster.local:9092")
done
mongodb_hosts="$(IFS=,; echo "${mongodb_members[*]}")"
kafka_hosts="$(IFS=,; echo "${kafka_brokers[*]}")"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'kind/up.sh: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool is required on PATH"
done
docker info >/dev/null 2>&1 || die "docker is installed but its daemon does not answer (docker info failed)"

# Letters and digits only, so that a password needs no escaping in a URI or in JSON.
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

log "starting MongoDB (replica set rs0), Kafka (3 brokers) and Redis in namespace $backends"
if k -n "$backends" get deployment mongodb >/dev/null 2>&1; then
  die "this cluster was made by an earlier up.sh (one MongoDB, one Kafka node); delete it with hack/kind/down.sh and run up.sh again"
fi
k create namespace "$backends" --dry-run=client -o yaml | k apply -f - >/dev/null
secret_value() {  # secret_value SECRET KEY: the decoded value, or nothing when the key is missing
  k -n "$backends" get secret "$1" -o "jsonpath={.data.$2}" 2>/dev/null | base64 -d
}
# Generated once and kept: re-running the script must not change a secret under a running app.
ensure_generated() {  # ensure_generated SECRET KEY...: a random value for each missing key
  local name="$1" key value
  shift
  k -n "$backends" get secret "$name" >/dev/null 2>&1 || k -n "$backends" create secret generic "$name" >/dev/null
  for key in "$@"; do
    if [ -z "$(secret_value "$name" "$key")" ]; then
      if [ "$key" = keyfile ]; then
        value="$(head -c 756 /dev/urandom | base64 | tr -d '\n')"  # 1008 base64 characters
      else
        value="$(random_secret)"
      fi
      k -n "$backends" patch secret "$name" --type=merge -p "{\"stringData\":{\"$key\":\"$value\"}}" >/dev/null
    fi
  done
}
ensure_generated redis-auth password
ensure_generated mongodb-keyfile keyfile
ensure_generated mongodb-users "${mongodb_users[@]}"
k apply -f "$here/backends.yaml" >/dev/null
k -n "$backends" rollout status statefulset/mongodb --timeout=600s
k -n "$backends" rollout status statefulset/kafka --timeout=600s
k -n "$backends" rollout status deployment/redis --timeout=300s

log "initiating the MongoDB replica set and making its users (hack/kind/mongodb-init.js)"
# Passwords by the index of their user in mongodb_users (no associative arrays: macOS has bash 3).
mongodb_passwords=()
for user in "${mongodb_users[@]}"; do
  password="$(secret_value mongodb-users "$user")"
  [[ "$password" =~ ^[A-Za-z0-9]+$ ]] || die "Secret $backends/mongodb-users: the password of $user is missing or holds characters other than letters and digits"
  mongodb_passwords+=("$password")
done
# The script goes through stdin into a private file in the pod: no password on a command line.
for i in "${!mongodb_users[@]}"; do printf '%s %s\n' "${mongodb_users[$i]}" "${mongodb_passwords[$i]}"; done \
  | "$here/mongodb-init-script.sh" "$mongodb_admin" "${mongodb_members[@]}" \
  | k -n "$backends" exec -i mongodb-0 -c mongodb -- bash -c \
    'umask 077; script="$(mktemp --suffix=.js)"; trap "rm -f \"$script\"" EXIT; cat >"$script"; mongosh --nodb --quiet --norc "$script"'
mongodb_uri() {  # mongodb_uri USER: the replica set, as that user (every one of them lives in admin)
  local i
  for i in "${!mongodb_users[@]}"; do
    if [ "${mongodb_users[$i]}" = "$1" ]; then
      printf 'mongodb://%s:%s@%s/?replicaSet=rs0&authSource=admin' "$1" "${mongodb_passwords[$i]}" "$mongodb_hosts"
      return
    fi
  done
  die "no MongoDB user $1 in mongodb_users"
}
# Each application connects as its own user (docs/mongodb-users.md).
operator_mongodb_uri="$(mongodb_uri caas-operator)"
api_mongodb_uri="$(mongodb_uri caas-api)"
redis_password="$(secret_value redis-auth password)"

log "creating the backends Secret '$secret' in namespace $namespace"
k create namespace "$namespace" --dry-run=client -o yaml | k apply -f - >/dev/null
k label namespace "$namespace" --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
if k -n "$namespace" get secret "$secret" >/dev/null 2>&1; then
  secret_key="$(k -n "$namespace" get secret "$secret" -o jsonpath='{.data.CAAS_SECRET_KEY}' | base64 -d)"
else
  secret_key="$(random_secret)"
fi
k -n "$namespace" create secret generic "$secret" \
  --from-literal=OPERATOR_MONGODB_URI="$operator_mongodb_uri" \
  --from-literal=API_MONGODB_URI="$api_mongodb_uri" \
  --from-literal=KAFKA_BOOTSTRAP_SERVERS="$kafka_hosts" \
  --from-literal=REDIS_URL="redis://default:${redis_password}@redis.$backends.svc.cluster.local:6379/0" \
  --from-literal=CAAS_SECRET_KEY="$secret_key" \
  --dry-run=client -o yaml | k apply -f - >/dev/null

log "installing the chart (release $release)"
helm --kube-context "$context" upgrade --install "$release" "$repo_root/charts/caas-platform" \
  --namespace "$namespace" \
  --set backends.existingSecret="$secret" \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never \
  --set api.replicaCount=1 \
  --set operator.kafkaReplicationFactor=3 \
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

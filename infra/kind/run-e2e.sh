#!/usr/bin/env bash
# Tier 2 end-to-end run on a throwaway kind cluster. See infra/kind/README.md.
#
# Needs: docker (an engine that answers), kind, kubectl, python3, and internet (base image, kind node
# image, PyPI for the wheels' dependencies). It NEVER touches a cluster it did not create: it refuses to
# start if a kind cluster of the same name exists, and deletes only its own cluster on exit.
#
# Steps: build wheels (./pants package ::) -> build the worker image with a unique non-latest tag ->
# create the cluster (infra/kind/kind-config.yaml) -> label workers -> `kind load docker-image` ->
# apply k8s-topology's namespace + RBAC -> run the driver Job (saga-dfk + k8s-topology's pinned provider, inside the
# cluster) -> check its E2E_RESULT line: every task ran on its planned node, on >= 2 nodes ->
# on failure `kind export logs` -> always delete the cluster.
#
# Environment knobs:
#   KIND_CLUSTER_NAME  cluster name (default saga-e2e-<pid>; node names derive from it)
#   KIND_NODE_IMAGE    kind node image (default kindest/node:v1.31.0, the image kind v0.24.0 ships with)
#   BASE_IMAGE         worker base image (default python:3.12-slim; where Docker Hub is unreachable, the
#                      local base images/worker/build-base.sh prints, as CI's images/worker/build-image.sh uses)
#   IMAGE_TAG          worker image tag (default e2e-<git sha>-<epoch>; never "latest")
#   ARTIFACTS_DIR      where logs go (default dist/kind-e2e)
#   SKIP_PACKAGE=1     reuse dist/*.whl instead of running ./pants package ::
#   KEEP_CLUSTER=1     do not delete the cluster at the end (for debugging)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KIND_DIR="$ROOT/infra/kind"
CLUSTER="${KIND_CLUSTER_NAME:-saga-e2e-$$}"
CONTEXT="kind-$CLUSTER"
NAMESPACE="parsl"  # k8s-topology's manifests: namespace parsl, ServiceAccount parsl-driver
NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.31.0}"
BASE_IMAGE="${BASE_IMAGE:-python:3.12-slim}"
GIT_SHA="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo nogit)"
IMAGE_TAG="${IMAGE_TAG:-e2e-$GIT_SHA-$(date +%s)}"
IMAGE="saga-e2e-worker:$IMAGE_TAG"
ARTIFACTS="${ARTIFACTS_DIR:-$ROOT/dist/kind-e2e}"
JOB_TIMEOUT_S=900
CLUSTER_CREATED=0
CONTEXT_DIR=""

# shellcheck source=/dev/null  # images/worker/lib.sh: log, die
source "$ROOT/images/worker/lib.sh" run-e2e

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $CLUSTER_CREATED == 1 ]]; then
    if [[ $rc -ne 0 ]]; then
      log "failed (exit $rc): exporting logs to $ARTIFACTS"
      mkdir -p "$ARTIFACTS"
      kubectl --context "$CONTEXT" -n "$NAMESPACE" get pods -o wide >"$ARTIFACTS/pods.txt" 2>&1 || true
      kubectl --context "$CONTEXT" -n "$NAMESPACE" get events --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1 || true
      kubectl --context "$CONTEXT" -n "$NAMESPACE" logs job/saga-e2e-driver >"$ARTIFACTS/driver.log" 2>&1 || true
      kind export logs "$ARTIFACTS/kind-logs" --name "$CLUSTER" || true
    fi
    if [[ ${KEEP_CLUSTER:-0} == 1 ]]; then
      log "KEEP_CLUSTER=1: leaving cluster $CLUSTER (delete with: kind delete cluster --name $CLUSTER)"
    else
      log "deleting cluster $CLUSTER"
      kind delete cluster --name "$CLUSTER" || true
    fi
  fi
  [[ -n $CONTEXT_DIR ]] && rm -rf "$CONTEXT_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in docker kind kubectl python3; do
  command -v "$tool" >/dev/null || die "'$tool' is not on PATH (tier 2 needs docker, kind, kubectl, python3)"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' failed)"
[[ $IMAGE_TAG != latest ]] || die "IMAGE_TAG must not be 'latest': kind-loaded images would be pulled"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  die "a kind cluster named '$CLUSTER' already exists; refusing to reuse or delete it (set KIND_CLUSTER_NAME)"
fi

# 1. Wheels: the same code the driver runs, installed into the image.
if [[ ${SKIP_PACKAGE:-0} != 1 ]]; then
  log "building wheels: ./pants package ::"
  (cd "$ROOT" && ./pants --no-pantsd package ::)
fi
compgen -G "$ROOT/dist/*.whl" >/dev/null || die "no wheels in $ROOT/dist (run ./pants package ::)"

# 2. Image: staged context (wheels + the workflow module), unique non-latest tag.
CONTEXT_DIR="$(mktemp -d)"
mkdir -p "$CONTEXT_DIR/wheels"
cp "$ROOT"/dist/*.whl "$CONTEXT_DIR/wheels/"
cp -r "$KIND_DIR/e2e_tests" "$CONTEXT_DIR/e2e_tests"
cp "$ROOT/images/worker/.dockerignore" "$CONTEXT_DIR/.dockerignore"
log "building $IMAGE (base $BASE_IMAGE)"
docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$ROOT/images/worker/Dockerfile" -t "$IMAGE" "$CONTEXT_DIR"

# 3. Cluster.
log "creating kind cluster $CLUSTER ($NODE_IMAGE)"
CLUSTER_CREATED=1
kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --config "$KIND_DIR/kind-config.yaml" --wait 180s
kubectl --context "$CONTEXT" wait --for=condition=Ready nodes --all --timeout=180s

# node-role labels cannot be set in the kind config (the kubelet refuses them), so label afterwards.
WORKERS=("$CLUSTER-worker" "$CLUSTER-worker2" "$CLUSTER-worker3")
for node in "${WORKERS[@]}"; do
  kubectl --context "$CONTEXT" get node "$node" >/dev/null || die "expected node $node is missing"
  kubectl --context "$CONTEXT" label node "$node" node-role.kubernetes.io/worker= --overwrite
done

# 4. Image into every node's containerd (no registry); pods use IfNotPresent (non-latest tag).
log "loading $IMAGE into $CLUSTER"
kind load docker-image "$IMAGE" --name "$CLUSTER"

# 5. Namespace + least-privilege RBAC (k8s-topology's own manifests, not a copy), then the driver Job.
K8S_MANIFESTS="$ROOT/packages/k8s-topology/manifests"
kubectl --context "$CONTEXT" apply -f "$K8S_MANIFESTS/namespace.yaml"
kubectl --context "$CONTEXT" apply -f "$K8S_MANIFESTS/rbac.yaml"
kubectl --context "$CONTEXT" apply -f "$K8S_MANIFESTS/network-policy.yaml"
sed "s|saga-e2e-worker:IMAGE_TAG|$IMAGE|g" "$KIND_DIR/manifests/driver-job.yaml" \
  | kubectl --context "$CONTEXT" apply -f -

# 6. Wait for the driver to succeed or fail (kubectl wait cannot wait for "either").
log "waiting up to ${JOB_TIMEOUT_S}s for job/saga-e2e-driver"
deadline=$((SECONDS + JOB_TIMEOUT_S))
status=""
while ((SECONDS < deadline)); do
  succeeded="$(kubectl --context "$CONTEXT" -n "$NAMESPACE" get job saga-e2e-driver -o jsonpath='{.status.succeeded}')"
  failed="$(kubectl --context "$CONTEXT" -n "$NAMESPACE" get job saga-e2e-driver -o jsonpath='{.status.failed}')"
  if [[ ${succeeded:-0} -ge 1 ]]; then status=succeeded; break; fi
  if [[ ${failed:-0} -ge 1 ]]; then status=failed; break; fi
  sleep 5
done
mkdir -p "$ARTIFACTS"
kubectl --context "$CONTEXT" -n "$NAMESPACE" logs job/saga-e2e-driver >"$ARTIFACTS/driver.log" 2>&1 || true
kubectl --context "$CONTEXT" -n "$NAMESPACE" get pods -o wide | tee "$ARTIFACTS/pods.txt"
[[ $status == succeeded ]] || die "driver job did not succeed (status: ${status:-timeout}); see $ARTIFACTS"

# 7. Independent check of the driver's verdict: the result line must show >= 2 nodes, no mismatch.
grep '^E2E_RESULT ' "$ARTIFACTS/driver.log" | tail -n 1 | cut -d' ' -f2- >"$ARTIFACTS/result.json" \
  || die "driver log has no E2E_RESULT line"
python3 - "$ARTIFACTS/result.json" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
nodes = set(result["nodes_used"])
assert not result["mismatches"], f"tasks off their planned node: {result['mismatches']}"
assert len(nodes) >= 2, f"tasks ran on {sorted(nodes)}; expected >= 2 nodes"
print(f"ok: {result['tasks']} tasks on {sorted(nodes)} exactly as planned; makespan {result['makespan_s']:.1f}s")
PY
log "tier 2 passed"

#!/usr/bin/env bash
# Tier 1b in CI: a private Docker engine, the worker image built from the wheels, then the test command.
#
#   .ci/tier1b.sh [--wheels DIR] -- COMMAND...
#
# 1. starts a private dockerd (.ci/docker_engine.sh; socket, data and exec root under /tmp/saga-ci-docker.*)
#    and exports DOCKER_HOST; an EXIT trap stops it and deletes its directory, also on failure or Ctrl-C;
# 2. builds the worker image (images/worker/build-image.sh: the cached debootstrap base, then
#    images/worker/Dockerfile with the wheels of DIR, default dist/) and exports SAGA_E2E_WORKER_IMAGE;
# 3. runs COMMAND with SAGA_E2E_REQUIRE_DOCKER=1 (the test fails instead of skipping when engine or
#    image is missing) and returns its exit status.
# Needs root (dockerd, debootstrap); .ci/run calls it only as root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_args=()
while (($#)); do
  case "$1" in
    --wheels) build_args+=(--wheels "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--wheels DIR] -- COMMAND..." >&2; exit 2 ;;
  esac
done
(($#)) || { echo "usage: $0 [--wheels DIR] -- COMMAND..." >&2; exit 2; }

engine_dir="$(mktemp -d /tmp/saga-ci-docker.XXXXXX)"
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_engine() {
  local rc=$?
  trap - EXIT INT TERM
  .ci/docker_engine.sh stop "$engine_dir" || echo "tier1b: stopping the engine failed; see $engine_dir" >&2
  exit "$rc"
}
trap stop_engine EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$(date +%s)
DOCKER_HOST="$(.ci/docker_engine.sh start "$engine_dir")"
export DOCKER_HOST
t1=$(date +%s)
SAGA_E2E_WORKER_IMAGE="$(images/worker/build-image.sh "${build_args[@]}" | tail -n 1)"
export SAGA_E2E_WORKER_IMAGE SAGA_E2E_REQUIRE_DOCKER=1
t2=$(date +%s)
echo "tier1b: engine $DOCKER_HOST up in $((t1 - t0)) s; image $SAGA_E2E_WORKER_IMAGE ($(/usr/bin/docker image inspect -f '{{.Size}}' "$SAGA_E2E_WORKER_IMAGE" | awk '{printf "%d MB", $1 / 1e6}')) in $((t2 - t1)) s"
rc=0
"$@" || rc=$?
echo "tier1b: test command exited $rc after $(($(date +%s) - t2)) s (tier 1b total $(($(date +%s) - t0)) s)"
exit "$rc"

#!/usr/bin/env bash
# Builds the worker image (images/worker/Dockerfile) from the wheels of `./pants package ::` on a machine
# whose Docker engine cannot pull images (no Docker Hub) and has no default bridge (dockerd --bridge=none).
#
# Same Dockerfile, same staged context (wheels/, e2e_tests/, .dockerignore) and same tag scheme
# (saga-e2e-worker:e2e-<git sha>-<epoch>, never latest) as infra/kind/run-e2e.sh; two differences,
# both because of the machine, not the image:
#   - BASE_IMAGE is this machine's own base from images/worker/build-base.sh (debootstrap + the driver's
#     CPython 3.12) instead of python:3.12-slim, unless BASE_IMAGE is set;
#   - the build runs with --network=host (pip inside the build needs PyPI; the engine has no bridge) and
#     the classic builder (BuildKit would fetch the `# syntax=` frontend from Docker Hub).
#
# Usage: images/worker/build-image.sh [--wheels DIR] [--image-file FILE]
#   --wheels DIR       wheels to install (default: dist/, as `./pants package ::` leaves them)
#   --image-file FILE  also write the image reference to FILE
# Environment: BASE_IMAGE, IMAGE_TAG (default e2e-<git sha>-<epoch>), DOCKER (docker CLI), DOCKER_HOST.
# The last line of stdout is the image reference.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WHEELS="$ROOT/dist"
IMAGE_FILE=""
DOCKER="${DOCKER:-$(if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else command -v docker || echo docker; fi)}"
export DOCKER
CONTEXT_DIR=""

# shellcheck source=/dev/null  # images/worker/lib.sh: log, die
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" build-image
trap '[[ -n $CONTEXT_DIR ]] && rm -rf "$CONTEXT_DIR"' EXIT

while (($#)); do
  case "$1" in
    --wheels) WHEELS="$(cd "$2" && pwd)"; shift 2 ;;
    --image-file) IMAGE_FILE="$2"; shift 2 ;;
    *) die "unknown argument $1 (usage: $0 [--wheels DIR] [--image-file FILE])" ;;
  esac
done

"$DOCKER" version >/dev/null 2>&1 || die "no Docker engine answers at ${DOCKER_HOST:-the default socket}"
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
shopt -u nullglob
((${#wheels[@]})) || die "no wheels in $WHEELS (run ./pants package ::)"
for dist in saga_graphs parsl_affinity_htex k8s_topology saga_dfk; do
  compgen -G "$WHEELS/$dist-*.whl" >/dev/null || die "no $dist wheel in $WHEELS (found: ${wheels[*]##*/})"
done

GIT_SHA="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo nogit)"
IMAGE_TAG="${IMAGE_TAG:-e2e-$GIT_SHA-$(date +%s)}"
[[ $IMAGE_TAG != latest ]] || die "IMAGE_TAG must not be 'latest'"
IMAGE="saga-e2e-worker:$IMAGE_TAG"

started=$SECONDS
if [[ -z ${BASE_IMAGE:-} ]]; then
  BASE_IMAGE="$("$ROOT/images/worker/build-base.sh" | tail -n 1)"
fi
base_s=$((SECONDS - started))

# Staged context, exactly as run-e2e.sh stages it.
CONTEXT_DIR="$(mktemp -d)"
mkdir -p "$CONTEXT_DIR/wheels"
cp "${wheels[@]}" "$CONTEXT_DIR/wheels/"
cp -r "$ROOT/infra/kind/e2e_tests" "$CONTEXT_DIR/e2e_tests"
cp "$ROOT/images/worker/.dockerignore" "$CONTEXT_DIR/.dockerignore"
log "building $IMAGE (base $BASE_IMAGE, ${#wheels[@]} wheels from $WHEELS)"
build_started=$SECONDS
DOCKER_BUILDKIT=0 "$DOCKER" build --network=host --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -f "$ROOT/images/worker/Dockerfile" -t "$IMAGE" "$CONTEXT_DIR" >&2
build_s=$((SECONDS - build_started))
size="$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")"
log "built $IMAGE: $((size / 1000000)) MB; base step ${base_s} s, Dockerfile build ${build_s} s"
[[ -z $IMAGE_FILE ]] || echo "$IMAGE" >"$IMAGE_FILE"
echo "$IMAGE"

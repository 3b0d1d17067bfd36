#!/usr/bin/env bash
# Builds (or reuses) a worker BASE image on a machine that cannot pull from Docker Hub.
#
# The base is this machine's own Debian release (debootstrap, minbase variant, from the Debian mirror)
# plus the CPython 3.12 the driver runs, copied from a self-contained build (pyenv's ~/.pyenv/versions/
# 3.12.*) into /usr/local, the layout python:3.12-slim has. Why not Debian's python3: Debian 12 ships
# 3.11 and Debian 13 ships 3.13, and the interchange refuses a worker pool whose Python minor differs
# from the driver's.
#
# The root filesystem is cached as a tarball under $SAGA_BASE_CACHE (default /var/cache/saga-worker-base),
# keyed by Debian release + Python version + a hash of the recipe, and reused when present; `docker
# import` turns it into saga-worker-rootfs:<key>. A one-layer build on top adds this machine's CA bundle
# (registry traffic goes through a TLS-terminating proxy whose CA is only in
# /etc/ssl/certs/ca-certificates.crt) and points pip at it (PIP_CERT, PIP_CONFIG_FILE=/dev/null) ->
# saga-worker-base:<key>-ca<hash>. The last line of stdout is that image reference; give it to
# images/worker/Dockerfile as --build-arg BASE_IMAGE=... (images/worker/build-image.sh does).
#
# Needs root (debootstrap, chroot), debootstrap, and a Docker CLI whose engine answers (DOCKER_HOST).
# Environment knobs:
#   PYTHON312         interpreter whose installation is copied (default: the newest ~/.pyenv/versions/3.12.*,
#                     then python3.12 on PATH unless it is the distribution's own /usr one)
#   SAGA_BASE_CACHE   tarball cache directory (default /var/cache/saga-worker-base)
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#   DOCKER            docker CLI (default /usr/bin/docker, Debian's docker.io, else `docker` on PATH)
set -Eeuo pipefail

CACHE="${SAGA_BASE_CACHE:-/var/cache/saga-worker-base}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKER="${DOCKER:-$(if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else command -v docker || echo docker; fi)}"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# Bump when the recipe below changes in a way the key would not otherwise see.
RECIPE_VERSION=1
WORK=""

# shellcheck source=/dev/null  # images/worker/lib.sh: log, die
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" build-base
cleanup() {
  local rc=$?
  if [[ -n $WORK ]]; then
    # Never leave bind mounts behind under the scratch rootfs before deleting it.
    for m in dev/pts dev sys proc; do
      if mountpoint -q "$WORK/rootfs/$m" 2>/dev/null; then umount -l "$WORK/rootfs/$m" || true; fi
    done
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || die "needs root (debootstrap and chroot); euid is $(id -u)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v "$DOCKER" >/dev/null || die "no docker CLI ($DOCKER)"
"$DOCKER" version >/dev/null 2>&1 || die "no Docker engine answers at ${DOCKER_HOST:-the default socket}"
[[ -r $CA_BUNDLE ]] || die "no CA bundle at $CA_BUNDLE"

# --- 1. This machine's Debian release -------------------------------------------------------------
# shellcheck disable=SC1091
. /etc/os-release
[[ ${ID:-} == debian && -n ${VERSION_CODENAME:-} ]] \
  || die "this recipe debootstraps the machine's own Debian release; /etc/os-release says ID=${ID:-?} VERSION_CODENAME=${VERSION_CODENAME:-?}"
SUITE="$VERSION_CODENAME"

# --- 2. The driver's Python 3.12, as a self-contained installation prefix ---------------------------
probe='import sys, platform, sysconfig
assert platform.python_implementation() == "CPython" and sys.version_info[:2] == (3, 12)
print(sys.base_prefix); print(platform.python_version()); print(sysconfig.get_config_var("LDLIBRARY") or "")'
PREFIX="" PYVER="" LDLIBRARY=""
candidates=("${PYTHON312:-}")
shopt -s nullglob
mapfile -t pyenv_312 < <(printf '%s\n' "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.* | sort -V -r)
shopt -u nullglob
for c in "${pyenv_312[@]}"; do [[ -n $c ]] && candidates+=("$c/bin/python3.12"); done
candidates+=("$(command -v python3.12 || true)")
for candidate in "${candidates[@]}"; do
  [[ -n $candidate && -x $candidate ]] || continue
  if out="$("$candidate" -c "$probe" 2>/dev/null)"; then
    { read -r p; read -r v; read -r l; } <<<"$out"
    if [[ $p == /usr || $p == / ]]; then
      log "skipping $candidate: it is the distribution's own Python ($p), not a self-contained prefix"
      continue
    fi
    if [[ -x $p/bin/python3.12 && -f $p/lib/python3.12/os.py ]]; then
      PREFIX="$p" PYVER="$v" LDLIBRARY="$l"; break
    fi
  fi
done
[[ -n $PREFIX ]] || die "no self-contained CPython 3.12 found (tried: ${candidates[*]}); install one with
  pyenv install 3.12   or point PYTHON312 at a 3.12 whose prefix holds bin/python3.12 and lib/python3.12"
log "Python $PYVER from $PREFIX (Debian $SUITE, mirror $MIRROR)"

# What the copied interpreter links against, as Debian packages of this release (tkinter excluded: X11).
mapfile -t objects < <(
  echo "$PREFIX/bin/python3.12"
  [[ -n $LDLIBRARY && -f $PREFIX/lib/$LDLIBRARY ]] && echo "$PREFIX/lib/$LDLIBRARY"
  find "$PREFIX/lib/python3.12/lib-dynload" -name '*.so' ! -name '_tkinter*'
)
libs="$(for o in "${objects[@]}"; do ldd "$o"; done)"
if grep -q 'not found' <<<"$libs"; then
  die "the interpreter misses libraries on this host already: $(grep 'not found' <<<"$libs" | sort -u | tr '\n' ' ')"
fi
packages=()
while read -r lib; do
  [[ $lib == "$PREFIX"/* ]] && continue
  pkg=""
  for path in "$lib" "$(readlink -f "$lib")" "/usr${lib#/usr}" "${lib#/usr}"; do
    pkg="$(dpkg -S "$path" 2>/dev/null | head -n1 | cut -d: -f1)" && [[ -n $pkg ]] && break
  done
  [[ -n $pkg ]] || die "no Debian package owns $lib (needed by the interpreter)"
  packages+=("$pkg")
done < <(awk '/=> \//{print $3}' <<<"$libs" | sort -u)
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
include="$(IFS=,; echo "${packages[*]}")"

EXCLUDES=(
  ./lib/python3.12/test ./lib/python3.12/idlelib ./lib/python3.12/tkinter ./lib/python3.12/turtledemo
  './lib/python3.12/lib-dynload/_tkinter*' './lib/python3.12/site-packages/*' './lib/libpython3.12.a'
  './lib/python3.12/config-3.12-*/libpython3.12.a' ./share ./include './bin/idle*' './bin/pydoc*'
  './bin/2to3*' './bin/pip*' './bin/python*-config' ./bin/python3.12-gdb.py './lib/pkgconfig'
)
KEY_SRC="recipe=$RECIPE_VERSION suite=$SUITE mirror=$MIRROR python=$PYVER include=$include excludes=${EXCLUDES[*]}"
KEY="$SUITE-py$PYVER-$(sha256sum <<<"$KEY_SRC" | cut -c1-10)"
TARBALL="$CACHE/$KEY.tar.gz"
ROOTFS_IMAGE="saga-worker-rootfs:$KEY"
CA_HASH="$(sha256sum "$CA_BUNDLE" | cut -c1-10)"
BASE_IMAGE="saga-worker-base:$KEY-ca$CA_HASH"

# --- 3. The root filesystem tarball (cold: debootstrap; warm: reused) --------------------------------
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9  # concurrent builds on one machine wait for each other instead of racing on the tarball
if [[ -s $TARBALL ]]; then
  log "reusing $TARBALL"
else
  started=$SECONDS
  WORK="$(mktemp -d "$CACHE/.build.XXXXXX")"
  log "debootstrap --variant=minbase $SUITE (+ $include)"
  debootstrap --variant=minbase --include="$include" "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  log "copying Python $PYVER into /usr/local"
  (cd "$PREFIX" && tar -cf - "${EXCLUDES[@]/#/--exclude=}" .) | tar -C "$WORK/rootfs/usr/local" -xf -
  mkdir -p "$WORK/rootfs/usr/local/lib/python3.12/site-packages"
  chroot "$WORK/rootfs" /sbin/ldconfig
  # A clean pip from the interpreter's own bundled wheel (the host's site-packages is not copied).
  chroot "$WORK/rootfs" /usr/local/bin/python3.12 -m ensurepip --default-pip >/dev/null
  ln -sf python3.12 "$WORK/rootfs/usr/local/bin/python"
  ln -sf python3.12 "$WORK/rootfs/usr/local/bin/python3"
  # Every shared object resolves inside the rootfs, and the modules that need system libraries import.
  # shellcheck disable=SC2016  # expanded by the rootfs's sh, not here
  missing="$(chroot "$WORK/rootfs" /bin/sh -c 'for f in /usr/local/bin/python3.12 /usr/local/lib/libpython3.12.so* /usr/local/lib/python3.12/lib-dynload/*.so; do [ -e "$f" ] && ldd "$f"; done' | grep 'not found' || true)"
  [[ -z $missing ]] || die "inside the rootfs: $missing"
  chroot "$WORK/rootfs" /usr/local/bin/python3.12 -c 'import ssl, sqlite3, ctypes, zlib, bz2, lzma, uuid, decimal, hashlib, readline, pyexpat, _ctypes; print(ssl.OPENSSL_VERSION, sqlite3.sqlite_version)' >&2
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"* \
    "$WORK/rootfs/usr/share/doc/"* "$WORK/rootfs/usr/share/man/"* "$WORK/rootfs/usr/share/info/"*
  log "packing $TARBALL"
  tar -C "$WORK/rootfs" --numeric-owner -czf "$WORK/rootfs.tar.gz" .
  mv "$WORK/rootfs.tar.gz" "$TARBALL"
  printf '%s\n' "$KEY_SRC" >"$CACHE/$KEY.recipe"
  log "rootfs built in $((SECONDS - started)) s: $(du -h "$TARBALL" | cut -f1) compressed"
fi

# --- 4. Images: the imported rootfs, then this machine's CA bundle on top ------------------------
if ! "$DOCKER" image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
  log "docker import -> $ROOTFS_IMAGE"
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$TARBALL" "$ROOTFS_IMAGE" >/dev/null
fi
flock -u 9
if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  ctx="$(mktemp -d)"
  cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<EOF
FROM $ROOTFS_IMAGE
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CONFIG_FILE=/dev/null
# The same checks as on the rootfs, now inside the image the worker Dockerfile builds on.
RUN for f in /usr/local/bin/python3.12 /usr/local/lib/python3.12/lib-dynload/_ssl*.so /usr/local/lib/python3.12/lib-dynload/_sqlite3*.so; do \\
      ldd "\$f" | grep 'not found' && exit 1; done; \\
    python -c "import sys, ssl, sqlite3; assert sys.version_info[:2] == (3, 12), sys.version; print(sys.version.split()[0], ssl.OPENSSL_VERSION)"
EOF
  log "docker build -> $BASE_IMAGE"
  DOCKER_BUILDKIT=0 "$DOCKER" build --network=none -q -t "$BASE_IMAGE" "$ctx" >/dev/null \
    || { rm -rf "$ctx"; die "the base image's checks failed"; }
  rm -rf "$ctx"
fi
log "base image $BASE_IMAGE (rootfs $TARBALL)"
echo "$BASE_IMAGE"

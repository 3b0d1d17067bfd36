#!/usr/bin/env bash
# A private Docker engine for CI's tier 1b: Debian's dockerd with its socket, data root, exec root and
# (dockerd-managed) containerd all under one directory -- never the system's /var/run/docker.sock.
#
#   .ci/docker_engine.sh start DIR   starts it, waits until it answers, prints unix://DIR/docker.sock
#   .ci/docker_engine.sh stop DIR    stops it (its containers die with it), unmounts and deletes DIR
#
# `--bridge=none --iptables=false`: no default bridge and no iptables rules, so nothing on this machine's
# network or firewall changes; the tests make their own bridge network (e2e_tests/docker_nodes.py) and
# image builds use --network=host. Needs root and the docker.io package (dockerd, containerd, runc).
set -euo pipefail

die() { echo "docker_engine: $*" >&2; exit 1; }
[[ $# == 2 ]] || die "usage: $0 start|stop DIR"
action="$1"
dir="$2"
dockerd_bin="$(command -v dockerd || true)"
docker_cli=/usr/bin/docker  # Debian's client, matching its engine (a newer /usr/local/bin/docker may exist)

case "$action" in
  start)
    [[ $(id -u) == 0 ]] || die "needs root (euid $(id -u))"
    [[ -n $dockerd_bin && -x $docker_cli ]] || die "dockerd/docker not installed (apt-get install docker.io)"
    mkdir -p "$dir"
    sock="$dir/docker.sock"
    # A containerd namespace of our own, so that even an engine sharing a system containerd keeps apart.
    ns="saga-ci-$$"
    "$dockerd_bin" \
      --host "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
      --containerd-namespace "$ns" --containerd-plugins-namespace "$ns-plugins" \
      --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
      --log-level=warn >"$dir/dockerd.log" 2>&1 &
    echo $! >"$dir/dockerd.launcher-pid"
    for _ in $(seq 1 150); do
      if DOCKER_HOST="unix://$sock" "$docker_cli" version >/dev/null 2>&1; then
        echo "unix://$sock"
        exit 0
      fi
      kill -0 "$(cat "$dir/dockerd.launcher-pid")" 2>/dev/null || break
      sleep 0.2
    done
    tail -n 30 "$dir/dockerd.log" >&2 || true
    die "dockerd did not answer on $sock within 30 s (log above)"
    ;;
  stop)
    [[ -d $dir ]] || exit 0
    pid="$(cat "$dir/dockerd.pid" 2>/dev/null || cat "$dir/dockerd.launcher-pid" 2>/dev/null || true)"
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"  # dockerd stops its containers and its managed containerd, then exits
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "docker_engine: dockerd $pid still running after 30 s; SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    # Whatever is still mounted below DIR (overlay layers, netns bind mounts), deepest first.
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$dir"
    ;;
  *) die "unknown action $action (start|stop)" ;;
esac

"""Several "hosts" on one machine: Linux network namespaces on a private bridge.

Why: the end-to-end tests (infra/kind/e2e_tests) must show that a task ran on the node the plan chose,
proven by the network address it ran from, and that a slow link really is slow; the makespan benchmark
(benchmarks/bench_makespan.py) runs its pools behind the same kind of shaped link. Namespaces give each
"node" its own IP, its own veth link (which ``tc ... tbf`` can shape; this kernel has no netem) and its own
processes, for ~0.3 s of setup. Everything stays on a private bridge in the root namespace: nothing is
routed or NATed out.

Several test runs may share a machine, so every run picks unique names (pid + random tag) and a /24 that
no interface or route on the machine uses, under a lock file. Teardown is idempotent and is registered
three ways (the caller's ``finally``, ``atexit``, and SIGINT/SIGTERM handlers) so a Ctrl-C or a killed
test run does not leave namespaces or bridges behind; namespaces left by runs whose process is gone are
swept on the next run.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import logging
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

log = logging.getLogger(__name__)

NAMESPACE_PREFIX = "saga-e2e-"
_LOCK_PATH = Path("/tmp/saga-e2e-netns.lock")
_NODE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")


class NetnsError(RuntimeError):
    """A namespace, link or shaping command failed; the message names the command and its output."""


class NetnsUnavailable(RuntimeError):
    """This machine cannot build namespaces (not root, no ``ip netns``); the message says which."""


def unavailable_reason() -> str | None:
    """Why namespaces cannot be built here, or None when they can (used for pytest skip reasons)."""
    if os.geteuid() != 0:
        return f"network namespaces need root (euid is {os.geteuid()})"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) is not on PATH"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"`ip netns list` failed: {probe.stderr.strip() or probe.returncode}"
    name = f"{NAMESPACE_PREFIX}probe-{os.getpid()}-{secrets.token_hex(2)}"
    add = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if add.returncode != 0:
        return f"`ip netns add` failed: {add.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return None


def _run(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one iproute2 command; raise NetnsError naming the command and its stderr on failure."""
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"`{' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network assigned to an interface or routed on this machine (root namespace)."""
    used: list[ipaddress.IPv4Network] = []
    for line in _run(["ip", "-o", "-4", "addr", "show"]).stdout.splitlines():
        m = re.search(r"inet (\S+)", line)
        if m:
            used.append(ipaddress.IPv4Interface(m.group(1)).network)
    for line in _run(["ip", "-4", "route", "show", "table", "all"]).stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("default", "broadcast", "local", "unreachable", "prohibit", "blackhole"):
            first = line.split()[1] if len(line.split()) > 1 else ""
        with contextlib.suppress(ValueError):
            used.append(ipaddress.IPv4Network(first, strict=False))
    return used


def pick_free_subnet(
    used: Sequence[ipaddress.IPv4Network], rng: random.Random | None = None, attempts: int = 500
) -> ipaddress.IPv4Network:
    """A random 10.x.y.0/24 overlapping none of ``used``; why random: concurrent runs rarely collide."""
    rng = rng or random.Random()
    for _ in range(attempts):
        candidate = ipaddress.IPv4Network(f"10.{rng.randint(64, 254)}.{rng.randint(0, 255)}.0/24")
        if not any(candidate.overlaps(u) for u in used if u.prefixlen > 0):
            return candidate
    raise NetnsError(f"no free 10.x.y.0/24 found after {attempts} attempts; in use: {list(used)}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Delete namespaces/bridges that earlier runs left behind when their process is gone.

    Names embed the creating pid, so only leftovers of dead processes are touched, never a concurrent
    run's.
    """
    removed: list[str] = []
    listing = _run(["ip", "netns", "list"], check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(rf"^{NAMESPACE_PREFIX}(\d+)-", name)
        if m and not pid_alive(int(m.group(1))):
            _kill_namespace_processes(name)
            _run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    for line in _run(["ip", "-o", "link", "show", "type", "bridge"], check=False).stdout.splitlines():
        m = re.match(r"^\d+: (sb(\d+)x[0-9a-f]+)[:@]", line)
        if m and not pid_alive(int(m.group(2))):
            _run(["ip", "link", "del", m.group(1)], check=False)
            removed.append(m.group(1))
    if removed:
        log.warning("netns.swept_stale removed=%s", removed)
    return removed


def _kill_namespace_processes(namespace: str) -> None:
    pids = _run(["ip", "netns", "pids", namespace], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


class _Addressed(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...


class NodesByName[N: _Addressed]:
    """Lookups over ``self.nodes`` (name -> node), shared by the namespace and the container clusters."""

    nodes: dict[str, N]

    def node(self, name: str) -> N:
        """The node called ``name``; KeyError naming the known nodes otherwise."""
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"unknown node {name!r}; nodes are {sorted(self.nodes)}") from None

    def node_for_address(self, address: str) -> str | None:
        """The node that owns ``address`` (None for the driver or unknown addresses)."""
        return next((node.name for node in self.nodes.values() if node.address == address), None)


@dataclass(frozen=True)
class NetnsNode:
    """One "host": a namespace with one veth into the run's bridge and its own IPv4 address."""

    name: str
    namespace: str
    address: str
    host_veth: str
    node_veth: str

    def exec_prefix(self) -> list[str]:
        """Argv prefix that runs a command inside this node's namespace."""
        return ["ip", "netns", "exec", self.namespace]


@dataclass(eq=False)
class NetnsCluster(NodesByName[NetnsNode]):
    """N namespaces on one bridge; the driver owns the bridge address in the root namespace.

    Build with :func:`netns_cluster` (a context manager that always tears down) or call :meth:`create`
    and :meth:`destroy` yourself.
    """

    node_names: Sequence[str]
    tag: str = field(default_factory=lambda: f"{os.getpid()}x{secrets.token_hex(2)}")
    subnet: ipaddress.IPv4Network | None = None
    nodes: dict[str, NetnsNode] = field(default_factory=dict)
    bridge: str = ""
    driver_address: str = ""
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _destroyed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.node_names:
            raise ValueError("node_names is empty; expected at least one node name")
        if len(set(self.node_names)) != len(self.node_names):
            raise ValueError(f"node_names has duplicates: {list(self.node_names)}")
        if len(self.node_names) > 200:
            raise ValueError(f"{len(self.node_names)} nodes requested; at most 200 fit in a /24")
        for name in self.node_names:
            if not _NODE_NAME_RE.match(name):
                raise ValueError(f"node name {name!r} is not a DNS label of at most 32 characters")
        # Interface names are limited to 15 characters: "sb" + tag and "sv"/"sp" + tag + index.
        if len(self.tag) > 11:
            raise ValueError(f"tag {self.tag!r} is longer than 11 characters (interface names max 15)")

    # -- lifecycle -------------------------------------------------------------------------------
    def create(self) -> NetnsCluster:
        """Build bridge, namespaces and links; on any failure tear down what was built and re-raise."""
        _register_for_emergency_teardown(self)
        try:
            with machine_lock():
                sweep_stale()
                self.subnet = self.subnet or pick_free_subnet(networks_in_use())
                hosts = list(self.subnet.hosts())
                self.bridge = f"sb{self.tag}"
                self.driver_address = str(hosts[0])
                _run(["ip", "link", "add", self.bridge, "type", "bridge"])
                _run(
                    [
                        "ip",
                        "addr",
                        "add",
                        f"{self.driver_address}/{self.subnet.prefixlen}",
                        "dev",
                        self.bridge,
                    ]
                )
                _run(["ip", "link", "set", self.bridge, "up"])
            for index, name in enumerate(self.node_names, start=1):
                node = NetnsNode(
                    name=name,
                    namespace=f"{NAMESPACE_PREFIX}{self.tag.replace('x', '-')}-{name}",
                    address=str(hosts[index]),
                    host_veth=f"sv{self.tag}{index}",
                    node_veth=f"sp{self.tag}{index}",
                )
                self.nodes[name] = node
                _run(["ip", "netns", "add", node.namespace])
                _run(["ip", "link", "add", node.host_veth, "type", "veth", "peer", "name", node.node_veth])
                _run(["ip", "link", "set", node.node_veth, "netns", node.namespace])
                _run(["ip", "link", "set", node.host_veth, "master", self.bridge])
                _run(["ip", "link", "set", node.host_veth, "up"])
                ns = node.exec_prefix()
                _run(
                    [
                        *ns,
                        "ip",
                        "addr",
                        "add",
                        f"{node.address}/{self.subnet.prefixlen}",
                        "dev",
                        node.node_veth,
                    ]
                )
                _run([*ns, "ip", "link", "set", node.node_veth, "up"])
                _run([*ns, "ip", "link", "set", "lo", "up"])
        except BaseException:
            self.destroy()
            raise
        log.info(
            "netns.created bridge=%s subnet=%s driver=%s nodes=%s",
            self.bridge,
            str(self.subnet),
            self.driver_address,
            {n.name: n.address for n in self.nodes.values()},
        )
        return self

    def destroy(self) -> None:
        """Kill every process started in the namespaces, delete namespaces, veths and bridge.

        Idempotent and safe to call from a signal handler or atexit (it never raises).
        """
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
        for proc in self._processes:
            _terminate(proc)
        for node in self.nodes.values():
            _kill_namespace_processes(node.namespace)
            _run(["ip", "link", "del", node.host_veth], check=False)
            _run(["ip", "netns", "del", node.namespace], check=False)
        if self.bridge:
            _run(["ip", "link", "del", self.bridge], check=False)
        _unregister(self)
        log.info("netns.destroyed bridge=%s nodes=%s", self.bridge, list(self.nodes))

    # -- processes -------------------------------------------------------------------------------
    def spawn(
        self,
        node: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``node``'s namespace in its own process group (killed at teardown)."""
        target = self.node(node)
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
        try:
            proc = subprocess.Popen(
                [*target.exec_prefix(), *argv],
                env=dict(env) if env is not None else None,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log_path:
                out.close()  # type: ignore[union-attr]
        self._processes.append(proc)
        log.info("netns.spawned node=%s pid=%s argv=%s", node, proc.pid, list(argv)[:4])
        return proc

    def kill_node_processes(self, node: str) -> list[int]:
        """SIGKILL every process in ``node``'s namespace (a host dying): returns the pids killed."""
        namespace = self.node(node).namespace
        pids = [int(p) for p in _run(["ip", "netns", "pids", namespace], check=False).stdout.split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.warning("netns.node_killed node=%s pids=%s", node, pids)
        return pids

    # -- shaping ---------------------------------------------------------------------------------
    def shape(self, node: str, rate_mbit: float) -> None:
        """Limit ``node``'s link to ``rate_mbit`` in both directions with a token bucket (tbf).

        Why both ends: tbf shapes egress only; the host-side veth's egress is traffic *to* the node and
        the node-side veth's egress is traffic *from* it.
        """
        if not rate_mbit > 0:
            raise ValueError(f"rate_mbit must be > 0, got {rate_mbit!r}")
        target = self.node(node)
        rate = f"{rate_mbit}mbit"
        burst_bytes = max(16_384, int(rate_mbit * 1e6 / 8 / 100))  # >= 10 ms of traffic
        spec = ["root", "tbf", "rate", rate, "burst", str(burst_bytes), "latency", "100ms"]
        _run(["tc", "qdisc", "replace", "dev", target.host_veth, *spec])
        _run([*target.exec_prefix(), "tc", "qdisc", "replace", "dev", target.node_veth, *spec])
        log.info("netns.shaped node=%s rate_mbit=%s burst_bytes=%s", node, rate_mbit, burst_bytes)

    def qdisc(self, node: str) -> str:
        """``tc qdisc show`` of the node's host-side veth (for assertions and debugging)."""
        return _run(["tc", "qdisc", "show", "dev", self.node(node).host_veth]).stdout


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 3.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Serialise subnet choice + bridge creation across concurrent runs on this machine."""
    with open(_LOCK_PATH, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- emergency teardown: atexit and SIGINT/SIGTERM ----------------------------------------------------
_live: list[NetnsCluster] = []
_live_lock = threading.Lock()
_previous_handlers: dict[int, object] = {}


def _teardown_all() -> None:
    with _live_lock:
        clusters = list(_live)
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.destroy()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _teardown_all()
    previous = _previous_handlers.get(signum)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _register_for_emergency_teardown(cluster: NetnsCluster) -> None:
    with _live_lock:
        first = not _previous_handlers
        _live.append(cluster)
    if first and threading.current_thread() is threading.main_thread():
        atexit.register(_teardown_all)
        for signum in (signal.SIGINT, signal.SIGTERM):
            _previous_handlers[signum] = signal.getsignal(signum)
            signal.signal(signum, _on_signal)


def _unregister(cluster: NetnsCluster) -> None:
    with _live_lock:
        if cluster in _live:
            _live.remove(cluster)


@contextlib.contextmanager
def netns_cluster(node_names: Sequence[str]) -> Iterator[NetnsCluster]:
    """Build a :class:`NetnsCluster`, yield it, and always destroy it (also on errors and Ctrl-C)."""
    cluster = NetnsCluster(node_names=list(node_names))
    try:
        yield cluster.create()
    finally:
        cluster.destroy()


_SENDER = (
    "import socket,sys,time\n"
    "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=60)\n"
    "buf=bytes(65536);left=int(sys.argv[3])\n"
    "while left>0:\n"
    "    n=s.send(buf[:min(left,65536)]);left-=n\n"
    "s.shutdown(socket.SHUT_WR);s.recv(1);s.close()\n"
)


def measure_upload(
    cluster: NetnsCluster, node: str, nbytes: int = 2 * 1024 * 1024, python: str = ""
) -> float:
    """Bytes/s a TCP stream from ``node`` to the driver achieves (the direction results travel)."""
    import socket
    import sys
    import time

    server = socket.create_server((cluster.driver_address, 0))
    server.settimeout(60)
    port = server.getsockname()[1]
    sender = subprocess.Popen(
        [
            *cluster.node(node).exec_prefix(),
            python or sys.executable,
            "-c",
            _SENDER,
            cluster.driver_address,
            str(port),
            str(nbytes),
        ],
    )
    try:
        conn, _ = server.accept()
        with conn:
            received = 0
            started = time.monotonic()
            while received < nbytes:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                received += len(chunk)
            elapsed = time.monotonic() - started
            conn.sendall(b"k")
        sender.wait(timeout=60)
    finally:
        server.close()
        if sender.poll() is None:
            sender.kill()
            sender.wait()
    if received != nbytes:
        raise NetnsError(f"measurement from {node} got {received} of {nbytes} bytes")
    return nbytes / max(elapsed, 1e-9)

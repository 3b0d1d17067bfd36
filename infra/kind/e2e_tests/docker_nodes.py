"""Containers as nodes: one container per node on a private Docker bridge network, the driver on the host.

Why a bridge network of our own: each container gets its own network namespace, hostname and address,
and the host owns the bridge's gateway address, which is where the driver's interchange and witness
listen. The engine CI starts here runs ``dockerd --bridge=none --iptables=false`` (no default bridge, no
NAT): a user-defined bridge network still works there -- the engine creates the Linux bridge and the
veth pairs, and host <-> container traffic never needs iptables -- so no hand-made veths are needed.
Nothing is routed or NATed out: the containers reach the driver and each other, nothing else.

The subnet is chosen by us, not by the engine: a random ``10.x.y.0/24`` that no interface or route of the
machine uses, picked and created under the same lock file the namespace tier uses (several test runs,
and several engines, may share one machine). Names carry the creating pid; networks and containers that
runs whose process is gone left behind are swept at the next run. :meth:`ContainerCluster.destroy` is
idempotent and also runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import logging
import os
import random
import re
import secrets
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from repo_support.netns import NodesByName, machine_lock, networks_in_use, pick_free_subnet, pid_alive

log = logging.getLogger(__name__)

LABEL = "org.saga-e2e.owner-pid"
NAME_PREFIX = "saga-e2e-"
_NODE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")


class DockerUnavailable(RuntimeError):
    """No Docker engine answers (or the docker SDK is missing); the message says why."""


def engine() -> Any:
    """A docker SDK client for ``$DOCKER_HOST`` (or the default socket) that answered a ping.

    Obtained through testcontainers (the project's declared dependency for this tier, which brings the
    docker SDK); only its client is used -- its containers would start the Ryuk reaper, an image that
    cannot be pulled here, and teardown is ours anyway.
    """
    where = os.environ.get("DOCKER_HOST") or "the default socket (DOCKER_HOST unset)"
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError as exc:  # pragma: no cover - testcontainers is in the lock
        raise DockerUnavailable(f"testcontainers / the docker SDK is not importable: {exc}") from exc
    try:
        client = DockerClient(timeout=120).client
        client.ping()
    except Exception as exc:
        raise DockerUnavailable(f"no Docker engine answers at {where}: {exc!r}") from exc
    return client


def sweep_stale(client: Any) -> list[str]:
    """Remove containers and networks of this engine whose creating process is gone."""
    removed: list[str] = []
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        owner = container.labels.get(LABEL, "")
        if owner.isdigit() and not pid_alive(int(owner)):
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed.append(container.name)
    for network in client.networks.list(filters={"label": LABEL}):
        owner = (network.attrs.get("Labels") or {}).get(LABEL, "")
        if owner.isdigit() and not pid_alive(int(owner)):
            with contextlib.suppress(Exception):
                network.remove()
                removed.append(network.name)
    if removed:
        log.warning('docker_nodes.swept_stale removed=%s', removed)
    return removed


@dataclass(frozen=True)
class ContainerNode:
    """One node: a container with its own network namespace, hostname (= node name) and address."""

    name: str
    container_name: str
    address: str


@dataclass(eq=False)
class ContainerCluster(NodesByName[ContainerNode]):
    """A private bridge network plus one container per node; the host owns the gateway address.

    Build the network with :meth:`create`, start one container per node with :meth:`start`, and always
    :meth:`destroy` (idempotent: removes every container, then the network and with it its bridge and
    veths).
    """

    client: Any
    image: str
    node_names: Sequence[str]
    tag: str = field(default_factory=lambda: f"{os.getpid()}x{secrets.token_hex(2)}")
    subnet: ipaddress.IPv4Network | None = None
    network_name: str = ""
    bridge: str = ""
    driver_address: str = ""
    nodes: dict[str, ContainerNode] = field(default_factory=dict)
    _containers: dict[str, Any] = field(default_factory=dict)
    _network: Any = None
    _destroyed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.node_names or len(set(self.node_names)) != len(self.node_names):
            raise ValueError(f"node_names must be non-empty and distinct, got {list(self.node_names)}")
        for name in self.node_names:
            if not _NODE_NAME_RE.match(name):
                raise ValueError(f"node name {name!r} is not a DNS label of at most 32 characters")
        if len(self.tag) > 13:  # bridge name "sc" + tag, at most 15 characters
            raise ValueError(f"tag {self.tag!r} is longer than 13 characters")

    def create(self) -> ContainerCluster:
        """Create the network (under the machine lock, so concurrent runs pick distinct subnets)."""
        atexit.register(self.destroy)
        labels = {LABEL: str(os.getpid())}
        try:
            sweep_stale(self.client)
            rng = random.Random()
            with machine_lock():
                for attempt in range(5):
                    subnet = self.subnet or pick_free_subnet(networks_in_use(), rng)
                    gateway = str(next(subnet.hosts()))
                    self.network_name = f"{NAME_PREFIX}{self.tag}"
                    self.bridge = f"sc{self.tag}"
                    try:
                        self._network = self.client.networks.create(
                            self.network_name,
                            driver="bridge",
                            ipam={"Driver": "default", "Config": [{"Subnet": str(subnet), "Gateway": gateway}]},
                            options={
                                "com.docker.network.bridge.name": self.bridge,
                                "com.docker.network.bridge.enable_ip_masquerade": "false",
                            },
                            labels=labels,
                            check_duplicate=True,
                        )
                    except Exception as exc:  # e.g. the subnet overlaps another network of this engine
                        if self.subnet is not None or attempt == 4:
                            raise
                        log.warning('docker_nodes.subnet_retry subnet=%s error=%s', str(subnet), str(exc))
                        continue
                    self.subnet, self.driver_address = subnet, gateway
                    break
        except BaseException:
            self.destroy()
            raise
        assert self.subnet is not None  # set by the loop above, or it raised
        hosts = list(self.subnet.hosts())
        for index, name in enumerate(self.node_names, start=1):
            self.nodes[name] = ContainerNode(
                name=name, container_name=f"{NAME_PREFIX}{self.tag}-{name}", address=str(hosts[index])
            )
        log.info('docker_nodes.network network=%s bridge=%s subnet=%s driver=%s', self.network_name, self.bridge, str(self.subnet), self.driver_address)
        return self

    def start(
        self,
        node: str,
        command: Sequence[str],
        *,
        environment: Mapping[str, str] | None = None,
        volumes: Mapping[str, Mapping[str, str]] | None = None,
        user: str | None = None,
    ) -> Any:
        """Start ``node``'s container running the image's entry point with ``command`` as its arguments."""
        target = self.node(node)
        endpoint = self.client.api.create_endpoint_config(ipv4_address=target.address)
        container = self.client.containers.run(
            self.image,
            command=list(command),
            name=target.container_name,
            hostname=node,
            network=self.network_name,
            networking_config={self.network_name: endpoint},
            environment=dict(environment or {}),
            volumes={k: dict(v) for k, v in (volumes or {}).items()},
            labels={LABEL: str(os.getpid()), "org.saga-e2e.node": node},
            detach=True,
            **({"user": user} if user is not None else {}),
        )
        self._containers[node] = container
        log.info('docker_nodes.started node=%s container=%s address=%s', node, target.container_name, target.address)
        return container

    def kill(self, node: str) -> None:
        """SIGKILL the node's container (a host dying): its pool and workers die with it."""
        container = self._containers[node]
        container.kill()
        container.reload()
        log.warning('docker_nodes.killed node=%s status=%s', node, container.status)

    def container(self, node: str) -> Any:
        """The docker SDK container object of ``node`` (reloaded)."""
        container = self._containers[node]
        container.reload()
        return container

    def inspected_address(self, node: str) -> str:
        """The address the engine gave the node's container on our network (must equal the planned one)."""
        return str(self.container(node).attrs["NetworkSettings"]["Networks"][self.network_name]["IPAddress"])

    def logs(self, node: str, tail: int = 50) -> str:
        """The tail of the container's output (for failure messages)."""
        with contextlib.suppress(Exception):
            return bytes(self._containers[node].logs(tail=tail)).decode(errors="replace")
        return ""

    def destroy(self) -> None:
        """Remove every container (running or not), then the network (its bridge and veths go with it)."""
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
        for node, container in self._containers.items():
            try:
                container.remove(force=True)
            except Exception as exc:
                if "No such container" not in str(exc) and "404" not in str(exc):
                    log.warning('docker_nodes.remove_failed node=%s error=%s', node, str(exc))
        if self._network is not None:
            try:
                self._network.remove()
            except Exception as exc:
                log.warning('docker_nodes.network_remove_failed network=%s error=%s', self.network_name, str(exc))
        with contextlib.suppress(Exception):
            atexit.unregister(self.destroy)
        log.info('docker_nodes.destroyed network=%s nodes=%s', self.network_name, list(self._containers))

    def leftovers(self) -> list[str]:
        """What of this cluster still exists: containers, the network, the host bridge (empty when clean)."""
        mine = {n.container_name for n in self.nodes.values()}
        left = [c.name for c in self.client.containers.list(all=True, filters={"label": LABEL}) if c.name in mine]
        left += [n.name for n in self.client.networks.list(names=[self.network_name]) if n.name == self.network_name]
        if self.bridge and subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode == 0:
            left.append(f"bridge {self.bridge}")
        return left

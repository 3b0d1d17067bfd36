"""The Kubernetes path without a cluster: kmock as the API server, this module as the kubelet.

kmock (a Kubernetes API emulator over real HTTP) stands in for the kube-apiserver, which this machine
cannot run; everything else is real: k8s-topology's discovery and PinnedKubernetesProvider talk to it with
the official ``kubernetes`` client, Parsl's provider code creates, polls and deletes pods through it.

:class:`FakeKubelet` plays every node's kubelet: it watches (polls) pods through the same API, and for
each new pod decides its node exactly as the scheduler must (the required node affinity on
``metadata.name`` the provider sets, or ``spec.nodeName``), refuses pods a scheduler could not place,
sets ``spec.nodeName``, ``status.phase`` and ``status.podIP`` (the namespace's address: the pod
shares its node's network here) like a kubelet, resolves the downward-API variables (``PARSL_NODE_NAME``,
``NODE_NAME``) from ``spec.nodeName``, and runs the container's command inside that node's network namespace. Deleting the
pod kills its process.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from k8s_topology.testing import FakeApiServer
from repo_support.netns import NetnsCluster
from repo_support.pools import child_env

log = logging.getLogger(__name__)


def node_object(name: str, *, zone: str, cpu: str = "2", memory: str = "4Gi") -> dict[str, Any]:
    """A Ready worker Node as a kubelet would register it (labels a real kind worker carries)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": zone,
                "topology.kubernetes.io/region": "netns",
            },
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


class UnschedulablePod(RuntimeError):
    """A pod names no node, or a node no kubelet serves; a real scheduler would leave it Pending."""


def pinned_node(pod: Any) -> str:
    """The node a pod must run on: ``spec.nodeName`` or a required affinity ``metadata.name In [one]``."""
    if pod.spec.node_name:
        return str(pod.spec.node_name)
    affinity = pod.spec.affinity
    terms: list[Any] = []
    if (
        affinity
        and affinity.node_affinity
        and affinity.node_affinity.required_during_scheduling_ignored_during_execution
    ):
        terms = (
            affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
            or []
        )
    names: set[str] = set()
    for term in terms:
        for req in term.match_fields or []:
            if req.key == "metadata.name" and req.operator == "In":
                names.update(req.values or [])
    if len(names) != 1:
        raise UnschedulablePod(
            f"pod {pod.metadata.name} is not pinned to exactly one node (nodeName unset, metadata.name "
            f"affinity gives {sorted(names)})"
        )
    return names.pop()


@dataclass
class RunningPod:
    """A pod the fake kubelet started: where, with which command, and its process (the first container's;
    ``sidecars`` are the processes of the others, e.g. a node store)."""

    name: str
    node: str
    command: list[str]
    env: dict[str, str]
    process: Any
    sidecars: list[Any] = field(default_factory=list)

    def kill(self) -> None:
        for proc in [self.process, *self.sidecars]:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)


_VARIABLE_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class FakeKubelet:
    """Runs pods created through the API as processes in their node's network namespace."""

    def __init__(
        self,
        server: FakeApiServer,
        cluster: NetnsCluster,
        namespace: str,
        *,
        log_dir: str | None = None,
        poll: float = 0.2,
    ) -> None:
        self.core = client.CoreV1Api(server.api_client())
        self.cluster = cluster
        self.namespace = namespace
        self.log_dir = log_dir
        self.poll = poll
        self.pods: dict[str, RunningPod] = {}
        self.refused: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-kubelet", daemon=True)

    def __enter__(self) -> FakeKubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop watching; kill every pod process it started."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for pod in self.pods.values():
            pod.kill()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self._sync()
            except Exception as exc:  # keep "kubelet" alive across API hiccups, like the real one
                log.warning("kubelet.sync_failed error=%s", repr(exc))

    def _sync(self) -> None:
        try:
            listed: list[Any] = self.core.list_namespaced_pod(self.namespace).items
        except client.exceptions.ApiException as exc:
            if exc.status != 404:  # kmock answers 404 for a namespace nothing was created in yet
                raise
            listed = []
        seen = set()
        for pod in listed:
            name = pod.metadata.name
            seen.add(name)
            if name in self.pods or name in self.refused:
                continue
            try:
                self._start(pod)
            except UnschedulablePod as exc:
                self.refused[name] = str(exc)
                log.warning("kubelet.unschedulable pod=%s reason=%s", name, str(exc))
        for name, running in self.pods.items():
            if name not in seen and running.process.poll() is None:  # deleted through the API
                running.kill()
                log.info("kubelet.pod_killed pod=%s node=%s", name, running.node)

    def _environment(self, container: Any, node: str) -> dict[str, str]:
        """The container's variables as a kubelet resolves them after binding: the downward API's
        ``spec.nodeName`` and ``status.podIP`` (a pod's IP is its node's here) and ``$(VAR)`` references
        to variables defined before."""
        field_values = {"spec.nodeName": node, "status.podIP": self.cluster.node(node).address}
        env: dict[str, str] = {}
        for var in container.env or []:
            if var.value is not None:
                env[var.name] = _VARIABLE_REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), var.value)
            elif var.value_from and var.value_from.field_ref:
                value = field_values.get(var.value_from.field_ref.field_path)
                if value is not None:
                    env[var.name] = value
        return env

    def _start(self, pod: Any) -> None:
        node = pinned_node(pod)
        if node not in self.cluster.nodes:
            raise UnschedulablePod(
                f"pod {pod.metadata.name} is pinned to {node!r}, which has no kubelet here"
            )
        # The "image" is this machine: the pod's processes import what this test process can import. The
        # pool command itself carries no import path (the provider is not local), as on a real cluster.
        # Every container runs in the node's namespace, as a pod's containers share the pod's network.
        started: list[tuple[list[str], dict[str, str], Any]] = []
        for index, container in enumerate(pod.spec.containers):
            env = self._environment(container, node)
            command = [*(container.command or []), *(container.args or [])]
            suffix = "" if index == 0 else f"-{container.name}"
            log_path = Path(self.log_dir) / f"{pod.metadata.name}{suffix}.log" if self.log_dir else None
            started.append(
                (command, env, self.cluster.spawn(node, command, env=child_env(env), log_path=log_path))
            )
        (command, env, process), *sidecars = started
        self.pods[pod.metadata.name] = RunningPod(
            pod.metadata.name, node, command, env, process, [p for _, _, p in sidecars]
        )
        # What the scheduler and kubelet would write back: binding, then phase Running.
        self.core.patch_namespaced_pod(
            pod.metadata.name,
            self.namespace,
            {
                "spec": {"nodeName": node},
                "status": {"phase": "Running", "podIP": self.cluster.node(node).address},
            },
        )
        log.info("kubelet.pod_started pod=%s node=%s pid=%s", pod.metadata.name, node, process.pid)

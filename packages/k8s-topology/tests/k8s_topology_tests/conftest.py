"""Test fixtures: a kube-apiserver stand-in and node factories.

``kmock`` (a Kubernetes API emulator over real HTTP) stands in for the kube-apiserver, which this
machine cannot run (no kube-apiserver, k3s or kind binary is obtainable here). The code under test
talks to it through the official ``kubernetes`` client, over TCP, exactly as it would to a cluster.

kmock is asyncio-based and the kubernetes client is synchronous: kmock runs its own event loop in a
background thread, and test code (the sync client) runs on the main thread, off that loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kmock
import pytest
from kubernetes import client


class FakeApiServer:
    """kmock's KubernetesEmulator served on 127.0.0.1 from a private event-loop thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.km: Any = None
        self.url = ""
        self._thread = threading.Thread(target=self._run, name="kmock-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError(f"kmock did not start: {self._error!r}")
        if self._error is not None:
            raise RuntimeError(f"kmock did not start: {self._error!r}")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as km, kmock.Server(km) as srv:
            self.km = km
            self.url = str(srv.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on kmock's loop (kmock's DSL must be used there) and return its result."""

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(20)

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)

    # -- conveniences ----------------------------------------------------------------------------
    def api_client(self) -> client.ApiClient:
        cfg = client.Configuration()
        cfg.host = self.url
        return client.ApiClient(cfg)

    def core(self) -> Any:
        """A CoreV1Api (typed Any: tests pass plain JSON dicts where the stubs want models)."""
        return client.CoreV1Api(self.api_client())

    def add_nodes(self, *nodes: dict[str, Any]) -> None:
        core = self.core()
        for node in nodes:
            core.create_node(node)

    def requests(self) -> list[Any]:
        return list(self.on_loop(lambda: list(self.km)))

    def kubeconfig(self, path: Any) -> str:
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: tester\n  user:\n    token: not-a-real-token\n"
            "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n"
            "current-context: fake\n"
        )
        return str(path)


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    try:
        yield server
    finally:
        server.close()


def make_node(
    name: str,
    *,
    zone: str | None = "zone-a",
    region: str | None = "region-1",
    cpu: str = "3800m",
    memory: str = "16Gi",
    ready: str = "True",
    unschedulable: bool = False,
    taints: list[dict[str, str]] | None = None,
    control_plane: bool = False,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A v1 Node in JSON form, as a kubelet on a real cluster would report it."""
    all_labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if zone:
        all_labels["topology.kubernetes.io/zone"] = zone
    if region:
        all_labels["topology.kubernetes.io/region"] = region
    if control_plane:
        all_labels["node-role.kubernetes.io/control-plane"] = ""
        taints = [*(taints or []), {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    all_labels.update(labels or {})
    spec: dict[str, Any] = {}
    if unschedulable:
        spec["unschedulable"] = True
        taints = [*(taints or []), {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": annotations or {}},
        "spec": spec,
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": "KubeletReady" if ready == "True" else "KubeletNotReady",
                },
            ],
        },
    }


def acceptance_cluster() -> list[dict[str, Any]]:
    """4 workers over 2 zones, 1 control-plane, 1 NotReady, 1 cordoned node."""
    return [
        make_node("worker-a1", zone="zone-a"),
        make_node("worker-a2", zone="zone-a", cpu="7500m", memory="32Gi"),
        make_node("worker-b1", zone="zone-b"),
        make_node("worker-b2", zone="zone-b", cpu="1", memory="2048Mi"),
        make_node("control-plane", zone="zone-a", control_plane=True),
        make_node("worker-notready", zone="zone-b", ready="False"),
        make_node("worker-cordoned", zone="zone-a", unschedulable=True),
    ]


def free_port() -> int:
    """A TCP port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

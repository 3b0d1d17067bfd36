"""Test fixtures: a kube-apiserver stand-in and node factories.

The stand-in is the package's public :class:`k8s_topology.testing.FakeApiServer` (kmock over real HTTP;
this machine cannot run a kube-apiserver, k3s or kind): the code under test talks to it through the
official ``kubernetes`` client, over TCP, exactly as it would to a cluster.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from k8s_topology.testing import FakeApiServer


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


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

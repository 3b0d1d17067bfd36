"""The Kubernetes node watch as saga-dfk's network source.

kmock stands in for the kube-apiserver, which cannot run on this machine (no kube-apiserver, k3s or kind
binary): k8s-topology's discovery and watch talk to it with the official ``kubernetes`` client over TCP;
the test's own client calls (cordon, NotReady, delete) run on the main thread, off kmock's event loop.
The real run uses real pools (parsl_affinity_htex.LocalVirtualCluster) whose node names are the kmock
Kubernetes node names, a real SagaDataFlowKernel and real SAGA.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import saga_dfk
from k8s_topology.testing import FakeApiServer
from saga_dfk import KubernetesNetworkSource, NetworkEvent, SagaConfig

from .conftest import make_apps, start_kernel, stop_kernel, wait_until

pytestmark = pytest.mark.timeout(120)

NODES = {"kw-a": 1, "kw-b": 1, "kw-c": 1}


def node(name: str, zone: str) -> dict[str, Any]:
    """A Ready worker Node in JSON form, as a kubelet would register it."""
    labels = {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "1", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


@pytest.fixture
def cluster() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.add_nodes(node("kw-a", "zone-a"), node("kw-b", "zone-a"), node("kw-c", "zone-b"))
        yield server


class Events:
    def __init__(self) -> None:
        self.q: queue.Queue[NetworkEvent] = queue.Queue()

    def __call__(self, event: NetworkEvent) -> None:
        self.q.put(event)

    def next(self) -> tuple[str, str, str]:
        ev = self.q.get(timeout=15)
        assert ev.source == "kubernetes"
        return ev.kind, ev.node, ev.reason


def test_cluster_changes_become_joined_lost_changed_events(cluster: FakeApiServer) -> None:
    source = KubernetesNetworkSource(cluster.api_client())  # discovers the starting topology itself
    assert source.names == ["kw-a", "kw-b", "kw-c"]
    got = Events()
    source.subscribe(got)
    source.subscribe(lambda ev: 1 / 0)  # a failing listener is logged, the others still hear
    core = cluster.core()
    source.start()
    try:
        core.patch_node("kw-b", {"spec": {"unschedulable": True}})
        assert got.next() == ("lost", "kw-b", "cordoned (spec.unschedulable=true)")
        assert source.names == ["kw-a", "kw-c"]
        assert {n["name"] for n in source.to_network_spec(slots={"kw-a": 2, "kw-b": 1})["nodes"]} == {
            "kw-a",
            "kw-c",
        }  # an override for a node that left is dropped, not an error
        core.patch_node("kw-b", {"spec": {"unschedulable": False}})
        assert got.next() == ("joined", "kw-b", "usable again")
        core.patch_node(
            "kw-c",
            {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}},
        )
        kind, node, reason = got.next()
        assert (kind, node) == ("lost", "kw-c") and reason.startswith("NotReady")
        core.patch_node("kw-a", {"metadata": {"annotations": {"saga.parsl.org/speed": "2"}}})
        assert got.next() == ("changed", "kw-a", "annotations changed")
        assert source.to_network_spec()["nodes"][0]["speed"] == 2.0
        core.delete_node("kw-a")
        assert got.next() == ("lost", "kw-a", "deleted")
        assert source.names == ["kw-b"]
    finally:
        source.stop()
        source.stop()  # idempotent
    assert not source.running and source.error is None


def test_saga_config_takes_a_network_source_and_plans_on_its_live_topology(cluster: FakeApiServer) -> None:
    source = KubernetesNetworkSource(cluster.api_client())
    config = SagaConfig(network_source=source)
    assert config.network_source is source and config.topology is source
    import k8s_topology

    static = k8s_topology.discover(cluster.api_client())
    assert SagaConfig(network_source=source, topology=static).topology is static
    with pytest.raises(
        saga_dfk.errors.InvalidSagaConfigError,
        match=r"network_source must have subscribe\(\), start\(\) and stop\(\)",
    ):
        SagaConfig(network_source=object())
    assert saga_dfk.NetworkSource is not None and isinstance(source, saga_dfk.NetworkSource)


def make_gate_app() -> Any:
    """A task that waits until the test opens its gate (a file), built in a function so Parsl
    serializes it by value."""
    from parsl import python_app

    def gate(path: str, timeout: float = 120.0) -> tuple[str, int]:
        import os
        import time

        from parsl_affinity_htex import current_node

        deadline = time.monotonic() + timeout
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        return current_node(), 1

    return python_app(gate)


@pytest.mark.timeout(400)
def test_a_node_cordoned_mid_run_replans_the_tasks_not_yet_dispatched(
    cluster: FakeApiServer, tmp_path: Path
) -> None:
    """Real run: saga-dfk plans on the Kubernetes topology with the watch as its network source. While a
    gate task runs, the node it runs on is cordoned through the API: the not-yet-dispatched tasks planned
    there move to the other nodes (their RunRecords say where they really ran), the gate task keeps
    running on the cordoned node, and the run completes."""
    source = KubernetesNetworkSource(cluster.api_client())
    apps = make_apps()
    gate_app = make_gate_app()
    gate_file = tmp_path / "gate-open"
    dfk, provider = start_kernel(
        tmp_path, NODES, planning="explicit", network_source=source, report_path=str(tmp_path / "run.json")
    )
    try:
        assert source.running
        gate = gate_app(str(gate_file))
        children = [apps.node_task(gate, seconds=0.2) for _ in range(6)]
        sink = apps.node_task(*children)
        dfk.execute()
        plan = {f.tid: dfk.saga_assignments[f.tid].node for f in [gate, *children, sink]}
        on_gate_node = [c for c in children if plan[c.tid] == plan[gate.tid]]
        # The gate's node, if the plan put children there (HEFT does: no transfer); else the busiest one.
        if on_gate_node:
            cordoned = plan[gate.tid]
        else:
            cordoned = max(NODES, key=lambda n: sum(plan[c.tid] == n for c in children))
        victims = [f for f in [*children, sink] if plan[f.tid] == cordoned]
        assert victims, f"the plan must put some waiting task on {cordoned}: {plan}"

        cluster.core().patch_node(cordoned, {"spec": {"unschedulable": True}})

        def replanned() -> bool:
            rows = {row["id"]: row for row in dfk.run_report()["tasks"]}
            return all(rows[v.tid]["replanned"] for v in victims)

        wait_until(replanned, 60, f"the tasks planned on {cordoned} to be re-planned")
        assert not gate.done(), "the gate held every child back: none was dispatched before the re-plan"
        gate_file.write_text("open")
        results = [f.result(timeout=180) for f in [gate, *children, sink]]
        report = dfk.run_report()
    finally:
        gate_file.write_text("open")
        stop_kernel(dfk, provider)
        source.stop()
    assert not source.running
    assert [v for _, v in results] == [1, *([2] * 6), 13]
    rows = {row["id"]: row for row in report["tasks"]}
    for v in victims:
        row = rows[v.tid]
        (move,) = row["replanned"]
        assert move["from"] == cordoned and move["to"] == row["planned"]["node"] != cordoned
        assert "cordoned (spec.unschedulable=true)" in move["reason"]
    for f in [*children, sink]:  # dispatched after the cordon: none ran there
        assert rows[f.tid]["actual"]["node"] == rows[f.tid]["planned"]["node"] != cordoned
    # Tasks already on the cordoned node keep running (a cordon does not evict pods).
    assert rows[gate.tid]["actual"]["node"] == plan[gate.tid]
    assert cordoned in report["lost_nodes"]
    assert cordoned not in report["rounds"][-1]["nodes"]
    assert sorted(report["replanned_tasks"]) == sorted(v.tid for v in victims)

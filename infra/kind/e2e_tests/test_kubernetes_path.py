"""Tier 1, Kubernetes path without a cluster: discovery -> pinned pods -> pools -> planning -> routing.

Only the kube-apiserver is emulated (kmock, which this machine can run; a real API server cannot be
obtained here). Everything else is real: k8s_topology.discover reads Node objects through the official
client; PinnedKubernetesProvider (inside Parsl's scaling) creates one pod per node through the API; a fake
kubelet (e2e_tests.kube.FakeKubelet) binds each pod to the node its required affinity names, resolves the
downward-API PARSL_NODE_NAME / NODE_NAME and runs the pod's command in that node's network namespace; the
worker pools (told their node by PARSL_NODE_NAME only) register with the interchange on the bridge; a
SagaDataFlowKernel plans on the discovered topology and the affinity interchange routes. The Node objects carry the link speed (``saga.parsl.org/bandwidth``
annotation) that tbf really imposes on the slow node's namespace, and the witness proves where each task
ran by its source address.

Needs root and ``ip netns`` (skipped with the reason otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from kubernetes import client

import saga_dfk
import saga_graphs
from e2e_tests.kube import FakeKubelet, node_object
from e2e_tests.runner import collect, parsl_session, submit_workflow, warm_up
from e2e_tests.witness import Witness
from e2e_tests.workflow import heavy_edges, stages
from k8s_topology import BANDWIDTH_KEY, PinnedKubernetesProvider, discover
from k8s_topology.testing import FakeApiServer
from parsl_affinity_htex import AffinityHighThroughputExecutor
from repo_support.netns import NetnsCluster
from repo_support.waiting import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(400)]

CLUSTER = "e2e"
WORKERS = [f"{CLUSTER}-worker", f"{CLUSTER}-worker2", f"{CLUSTER}-worker3"]  # kind's naming
ZONES = {WORKERS[0]: "zone-a", WORKERS[1]: "zone-a", WORKERS[2]: "zone-b"}
SLOW = WORKERS[2]
SLOW_MBIT = 20
NAMESPACE = "saga-e2e"
SLOTS = 2


def test_discovery_pinned_pods_planning_and_routing_end_to_end(
    netns_factory: Callable[[Sequence[str]], NetnsCluster],
    witness_factory: Callable[[str], Witness],
    apiserver: FakeApiServer,
    run_dir: str,
    tmp_path: Any,
) -> None:
    cluster = netns_factory(WORKERS)
    cluster.shape(SLOW, SLOW_MBIT)
    witness = witness_factory(cluster.driver_address)
    core = client.CoreV1Api(apiserver.api_client())
    for name in WORKERS:
        node = node_object(name, zone=ZONES[name])
        if name == SLOW:  # what an operator would declare for a node behind a 20 Mbit/s link
            node["metadata"]["annotations"] = {BANDWIDTH_KEY: f"{int(SLOW_MBIT * 1e6 / 8)}"}
        apiserver.add_nodes(node)
    control_plane = node_object(f"{CLUSTER}-control-plane", zone="zone-a")
    control_plane["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = ""
    control_plane["spec"]["taints"] = [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]
    apiserver.add_nodes(control_plane)

    topology = discover(apiserver.api_client())
    assert sorted(topology.names) == WORKERS  # the control plane is not a worker node
    spec = topology.to_network_spec(slots=SLOTS)
    slow_links = {frozenset((link["source"], link["target"])): link["bandwidth"] for link in spec["links"]}
    assert all(bw == SLOW_MBIT * 1e6 / 8 for pair, bw in slow_links.items() if SLOW in pair)

    # type: ignore: k8s_topology exports the provider through a lazy module __getattr__ (typed as object).
    provider = PinnedKubernetesProvider(
        image="saga-e2e-worker:test",
        namespace=NAMESPACE,
        api_client=apiserver.api_client(),
        image_pull_policy="IfNotPresent",
    )
    assert sorted(provider.nodes) == WORKERS and provider.init_blocks == len(WORKERS)
    executor = AffinityHighThroughputExecutor(
        label="k8s",
        address=cluster.driver_address,
        provider=provider,
        max_workers_per_node=SLOTS,
        heartbeat_period=1,
        heartbeat_threshold=5,
        affinity_grace_period=3.0,
        encrypted=True,
    )
    workflow = stages()
    # the workflow's stages are declared in it as they are submitted, under their real task ids
    cost_model = saga_graphs.DeclaredCostModel(
        default=saga_graphs.UniformCostModel(cost=0.1, output_size=0.0)
    )
    config = saga_dfk.SagaConfig(
        executors=[executor],
        topology=topology,
        cost_model=cost_model,
        affinity="hard",
        min_nodes=len(WORKERS),
        strategy="none",
        run_dir=run_dir,
    )
    kubelet = FakeKubelet(apiserver, cluster, NAMESPACE, log_dir=str(tmp_path))
    with kubelet, parsl_session(config, loader=saga_dfk.load) as dfk:
        wait_until(
            lambda: set(executor.connected_nodes()) == set(WORKERS),
            timeout=120,
            what="one pool per Kubernetes node to register",
        )
        # One pod per node, each pinned by the provider and started in its node's namespace.
        assert sorted(p.node for p in kubelet.pods.values()) == WORKERS, kubelet.refused
        for pod in kubelet.pods.values():
            assert pod.env["PARSL_NODE_NAME"] == pod.env["NODE_NAME"] == pod.node
            assert (
                pod.command[:2] == ["/bin/bash", "-c"] and "parsl_affinity_htex.worker_pool" in pod.command[2]
            )
            assert "--node-name" not in pod.command[2]  # the executor's command, unchanged
        assert not kubelet.refused

        warm_up(executor.label, witness, WORKERS, SLOTS, timeout=120)

        started = time.time()
        futures = submit_workflow(workflow, witness, executor_label=executor.label, costs=cost_model)
        dfk.execute()
        run = collect(workflow, futures, witness, started=started, timeout=240)
        run.planned = {name: dfk.saga_assignments[f.tid].node for name, f in futures.items()}

    proven = run.ran_on(cluster.node_for_address)
    print(f"\n== Kubernetes path (kmock API server, fake kubelet): makespan {run.makespan:.2f} s")
    for task in sorted(run.results, key=lambda t: run.results[t]["start"]):
        print(f"   {task:12s} planned {run.planned[task]:11s} ran on {proven[task]}")

    heavy_tasks = {t for edge in heavy_edges(workflow) for t in edge}
    assert not [t for t in heavy_tasks if run.planned[t] == SLOW], "heavy task planned behind the slow link"
    assert run.mismatches(cluster.node_for_address) == {}
    assert len({proven[t] for t in run.results}) >= 2
    # Shutdown deleted the pods through the API, and the kubelet stopped their processes.
    assert core.list_namespaced_pod(NAMESPACE).items == []
    assert all(p.process.poll() is not None for p in kubelet.pods.values())

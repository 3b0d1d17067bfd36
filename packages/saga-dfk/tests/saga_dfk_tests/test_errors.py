"""Clear errors: unknown scheduler, empty topology (real executor with no pool), bad options.

The empty-topology cases run a real AffinityHighThroughputExecutor (interchange process) whose provider
never starts a pool, so planning finds no node.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl.dataflow.dflow import DataFlowKernelLoader
from parsl.errors import ConfigurationError
from parsl.executors import ThreadPoolExecutor
from parsl.providers import LocalProvider

import saga_dfk
import saga_graphs
from parsl_affinity_htex import AffinityHighThroughputExecutor
from saga_dfk import SagaConfig
from saga_dfk.errors import EmptyTopologyError, InvalidSagaConfigError, NoPlannableExecutorError

from .conftest import make_apps


def _no_pool_config(tmp: Path, planning: str) -> SagaConfig:
    executor = AffinityHighThroughputExecutor(
        label="vc",
        provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
        encrypted=False,
    )
    return SagaConfig(
        executors=[executor],
        planning=planning,  # type: ignore[arg-type]
        node_wait_timeout=1.0,
        run_dir=str(tmp / "runinfo"),
        initialize_logging=False,
    )


@pytest.fixture
def loaded() -> Iterator[list[saga_dfk.SagaDataFlowKernel]]:
    kernels: list[saga_dfk.SagaDataFlowKernel] = []
    try:
        yield kernels
    finally:
        for dfk in kernels:
            if not dfk.cleanup_called:
                dfk.cleanup()
        DataFlowKernelLoader.clear()


def test_unknown_scheduler_fails_at_config_time() -> None:
    with pytest.raises(saga_graphs.errors.UnknownSchedulerError, match="'HEFTY'"):
        SagaConfig(saga_scheduler="HEFTY")
    with pytest.raises(saga_graphs.errors.UnknownSchedulerError, match="'nope'"):
        SagaConfig(saga_scheduler=["HEFT", "nope"])
    assert SagaConfig(saga_scheduler=["HEFT", "CPOP"]).saga_scheduler == ["HEFT", "CPOP"]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"planning": "sometimes"}, "'sometimes'"),
        ({"settle_window": -1.0}, "settle_window"),
        ({"settle_window": float("nan")}, "settle_window"),
        ({"round_threshold": 0}, "round_threshold"),
        ({"min_nodes": 0}, "min_nodes"),
        ({"affinity": "sticky"}, "'sticky'"),
        ({"cost_model": object()}, "cost_model"),
        ({"topology": object()}, "to_network_spec"),
        ({"saga_scheduler": []}, "empty"),
    ],
)
def test_bad_options_name_the_value(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidSagaConfigError, match=needle):
        SagaConfig(**options)


def test_load_refuses_a_second_kernel_and_plain_configs(tmp_path: Path, loaded: list[Any]) -> None:
    from parsl.config import Config

    with pytest.raises(TypeError, match="SagaConfig"):
        saga_dfk.load(Config())  # type: ignore[arg-type]
    spec = {"nodes": [{"name": "n1", "slots": 1}]}
    cfg = SagaConfig(
        executors=[ThreadPoolExecutor(label="tp")],
        network=spec,
        run_dir=str(tmp_path),
        initialize_logging=False,
    )
    dfk = saga_dfk.load(cfg)
    loaded.append(dfk)
    import parsl

    assert parsl.dfk() is dfk
    with pytest.raises(ConfigurationError):
        saga_dfk.load(cfg)


@pytest.mark.timeout(120)
def test_a_failed_load_leaves_no_interchange_or_pool_behind(tmp_path: Path) -> None:
    """The executors start inside upstream's __init__, before saga-dfk can check its own options: a load
    that then fails must shut them down (a new user's typo left an orphaned interchange and pools)."""
    import time

    from parsl_affinity_htex import LocalVirtualCluster, LocalVirtualClusterProvider

    executor = LocalVirtualCluster({"node-a": 1}).executor(label="vc", encrypted=False)
    cfg = SagaConfig(
        executors=[executor], saga_executor="nope", run_dir=str(tmp_path), initialize_logging=False
    )
    with pytest.raises(NoPlannableExecutorError, match="'nope'"):
        saga_dfk.load(cfg)
    assert DataFlowKernelLoader._dfk is None
    proc = executor.interchange_proc
    deadline = time.monotonic() + 30
    while proc is not None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc is None or proc.poll() is not None, "the interchange outlived the failed load"
    provider = executor.provider
    assert isinstance(provider, LocalVirtualClusterProvider)
    time.sleep(3)  # what Parsl's strategy would have started by now
    running = [
        j
        for j, status in zip(provider.job_nodes, provider.status(list(provider.job_nodes)), strict=True)
        if not status.terminal
    ]
    assert running == [], f"worker pools left running: {running}"


def test_no_plannable_executor_is_a_clear_error(tmp_path: Path) -> None:
    cfg = SagaConfig(
        executors=[ThreadPoolExecutor(label="tp")], run_dir=str(tmp_path), initialize_logging=False
    )
    with pytest.raises(NoPlannableExecutorError, match="connected_nodes"):
        saga_dfk.SagaDataFlowKernel(cfg)


def test_empty_network_spec_fails_execute_and_the_futures(tmp_path: Path, loaded: list[Any]) -> None:
    cfg = SagaConfig(
        executors=[ThreadPoolExecutor(label="tp")],
        network={"nodes": [], "links": []},
        run_dir=str(tmp_path),
        initialize_logging=False,
    )
    dfk = saga_dfk.load(cfg)
    loaded.append(dfk)
    fut = make_apps().add(1, 2)
    with pytest.raises(EmptyTopologyError, match="no usable nodes"):
        dfk.execute()
    assert isinstance(fut.exception(timeout=30), EmptyTopologyError)


@pytest.mark.timeout(120)
def test_no_pool_connected_explicit(tmp_path: Path, loaded: list[Any]) -> None:
    dfk = saga_dfk.load(_no_pool_config(tmp_path, "explicit"))
    loaded.append(dfk)
    fut = make_apps().add(1, 2)
    with pytest.raises(EmptyTopologyError, match=r"no worker pool connected within node_wait_timeout=1.0s"):
        dfk.execute()
    assert isinstance(fut.exception(timeout=30), EmptyTopologyError)


@pytest.mark.timeout(120)
def test_no_pool_connected_rolling_reaches_the_futures(tmp_path: Path, loaded: list[Any]) -> None:
    dfk = saga_dfk.load(_no_pool_config(tmp_path, "rolling"))
    loaded.append(dfk)
    apps = make_apps()
    first = apps.add(1, 2)
    second = apps.add(first, 3)
    from parsl.dataflow.errors import DependencyError

    assert isinstance(first.exception(timeout=60), EmptyTopologyError)
    assert isinstance(second.exception(timeout=60), EmptyTopologyError | DependencyError)


def test_network_from_a_kubernetes_topology(tmp_path: Path, loaded: list[Any]) -> None:
    """A real k8s_topology.Topology (built from KubeNode records, no API server) gives nodes and bandwidths."""
    from k8s_topology import KubeNode, Topology

    topology = Topology(
        nodes=[
            KubeNode(name="w1", cpu=4.0, memory=2**33, zone="z1", region="r1"),
            KubeNode(name="w2", cpu=2.0, memory=2**33, zone="z1", region="r1"),
            KubeNode(name="w3", cpu=2.0, memory=2**33, zone="z2", region="r1"),
        ]
    )
    cfg = SagaConfig(
        executors=[ThreadPoolExecutor(label="tp")],
        topology=topology,
        run_dir=str(tmp_path),
        initialize_logging=False,
    )
    dfk = saga_dfk.load(cfg)
    loaded.append(dfk)
    network = dfk._cluster.network()
    assert list(network) == ["w1", "w2", "w3"]
    assert [network.nodes[n].slots for n in network] == [4, 2, 2]
    bw = network.links
    assert bw[("w1", "w2")] > bw[("w1", "w3")], "same-zone links must be faster than cross-zone ones"
    schedule = saga_graphs.plan(_diamond_graph(), network, "HEFT")
    assert set(p.node for p in schedule.placements.values()) <= {"w1", "w2", "w3"}


def _diamond_graph() -> saga_graphs.TaskGraph:
    graph = saga_graphs.TaskGraph()
    for name, cost in [("t1", 0.5), ("t2", 2.0), ("t3", 1.0), ("t4", 0.5)]:
        graph.add_task(name, cost)
    for a, b in [("t1", "t2"), ("t1", "t3"), ("t2", "t4"), ("t3", "t4")]:
        graph.add_dependency(a, b, size=1e6)
    return graph

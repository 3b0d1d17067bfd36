"""Tier 1: the data plane across real network hosts (namespaces): a fetch from another node's store crosses
that node's shaped link, so ``tc tbf`` slows exactly the transfers the plan's network model says it does.

Real components: an AffinityHighThroughputExecutor with a DataPlane (interchange on the driver's bridge
address), one ``parsl_affinity_htex.worker_pool`` per namespace started with ``--start-node-store <its
address>`` (a real redis-server bound to the node's veth address). The workers measure each fetch
(``RunRecord.inputs``); the interchange counts the bytes that came through the driver.

Needs root, ``ip netns`` and ``redis-server`` (skipped with the reason otherwise).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from parsl import python_app
from parsl.config import Config
from parsl.providers import LocalProvider

from e2e_tests.runner import parsl_session
from parsl_affinity_htex import AffinityHighThroughputExecutor, DataPlane
from repo_support.netns import NetnsCluster
from repo_support.pools import AFFINITY_POOL_MODULE, child_env, pool_argv
from repo_support.waiting import wait_until

pytestmark = [
    pytest.mark.netns,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="node stores need redis-server on PATH"),
]

NODES = ["node-a", "node-b", "node-s"]
SLOW = "node-s"
SLOW_MBIT = 20
SIZE = 4 << 20


@python_app
def produce(nbytes: int, parsl_resource_specification: dict[str, Any] | None = None) -> bytes:
    import os

    return os.urandom(nbytes)


@python_app
def consume(data: bytes, parsl_resource_specification: dict[str, Any] | None = None) -> int:
    return len(data)


def on(node: str) -> dict[str, Any]:
    return {"node": node, "affinity": "hard"}


def run_record(app_future: Any) -> Any:
    wait_until(lambda: app_future.task_record["exec_fu"] is not None, 30, "the task's executor future")
    return app_future.task_record["exec_fu"].run_record


def test_a_fetch_from_another_nodes_store_follows_its_shaped_link(
    netns_factory: Callable[[Sequence[str]], NetnsCluster], run_dir: str
) -> None:
    cluster = netns_factory(NODES)
    cluster.shape(SLOW, SLOW_MBIT)
    executor = AffinityHighThroughputExecutor(
        label="data-plane",
        address=cluster.driver_address,
        provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),  # the pools are started below
        max_workers_per_node=1,
        heartbeat_period=1,
        heartbeat_threshold=5,
        data_plane=DataPlane(threshold_bytes=64 * 1024),
        encrypted=True,
    )
    with parsl_session(Config(executors=[executor], strategy="none", run_dir=run_dir)):
        for index, node in enumerate(NODES):
            argv = pool_argv(executor, node=node, block_id=f"{node}-{index}", module=AFFINITY_POOL_MODULE)
            cluster.spawn(
                node,
                [*argv, "--start-node-store", cluster.node(node).address],
                env=child_env(),
                log_path=Path(run_dir) / f"pool-{node}.log",
            )
        wait_until(lambda: len(executor.connected_nodes()) == len(NODES), 90, "3 pools with node stores")
        stores = {name: n.stores for name, n in executor.connected_nodes().items()}
        for name, advertised in stores.items():  # each node's own store, at its own address
            assert len(advertised) == 1 and advertised[0].startswith(f"{cluster.node(name).address}:"), stores

        before = executor.affinity_stats().bytes_from_pools
        fast = produce(SIZE, parsl_resource_specification=on("node-a"))
        fast_child = consume(fast, parsl_resource_specification=on("node-b"))
        slow = produce(SIZE, parsl_resource_specification=on(SLOW))
        slow_child = consume(slow, parsl_resource_specification=on("node-b"))
        assert fast_child.result(timeout=120) == SIZE and slow_child.result(timeout=120) == SIZE
        through_driver = executor.affinity_stats().bytes_from_pools - before

        [fast_fetch] = run_record(fast_child).inputs
        [slow_fetch] = run_record(slow_child).inputs
        expected = slow_fetch.nbytes / (SLOW_MBIT * 1e6 / 8)  # seconds at the tbf rate
        print(
            f"\nfetch of {slow_fetch.nbytes} B: from {SLOW} (tbf {SLOW_MBIT} Mbit/s) {slow_fetch.seconds:.2f} s "
            f"(link rate says {expected:.2f} s); from node-a (unshaped) {fast_fetch.seconds:.3f} s; "
            f"through the driver: {through_driver} B"
        )
        assert not slow_fetch.local and f"{SLOW}@" in slow_fetch.store
        assert 0.8 * expected <= slow_fetch.seconds <= 1.6 * expected
        assert fast_fetch.seconds < expected / 4, "the unshaped link is not the bottleneck"
        assert through_driver < 64 * 1024, "the 4 MiB results never crossed the driver"

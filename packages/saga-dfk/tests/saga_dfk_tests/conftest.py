"""Fixtures that run a real SagaDataFlowKernel on a real local virtual cluster (no mocks).

Each test module that needs pools shares one kernel: the affinity interchange process and one real
node-labelled worker pool process per virtual node (parsl_affinity_htex.LocalVirtualCluster). Startup
(10-25 s on a busy 2-core machine) dominates, hence one cluster per module. Teardown always runs:
cleanup under a deadline, then SIGKILL of every pool process group the provider started. The pools get this
process's import path from the virtual cluster itself (nothing here exports PYTHONPATH).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from parsl.dataflow.dflow import DataFlowKernelLoader

import saga_dfk
from k8s_topology.testing import FakeApiServer as SharedFakeApiServer
from parsl_affinity_htex import LocalVirtualCluster, LocalVirtualClusterProvider
from repo_support.waiting import wait_until
from saga_dfk import SagaConfig, SagaDataFlowKernel

STARTUP_TIMEOUT_S = 150.0


def start_kernel(
    tmp: Path,
    nodes: Mapping[str, int],
    *,
    executor_options: Mapping[str, Any] | None = None,
    **saga_options: Any,
) -> tuple[SagaDataFlowKernel, LocalVirtualClusterProvider]:
    """Load a SagaDataFlowKernel on a fresh local virtual cluster and wait for every node's pool."""
    options: dict[str, Any] = {
        "encrypted": False,  # test-only: skips certificate generation on a slow machine
        "heartbeat_period": 1,
        "heartbeat_threshold": 4,
        "affinity_grace_period": 3.0,
        "node_poll_period": 0.5,
    }
    options.update(executor_options or {})
    executor = LocalVirtualCluster(dict(nodes)).executor(label="vc", **options)
    config = SagaConfig(
        executors=[executor],
        min_nodes=len(nodes),
        node_wait_timeout=STARTUP_TIMEOUT_S,
        strategy_period=0.5,
        run_dir=str(tmp / "runinfo"),
        initialize_logging=False,
        **saga_options,
    )
    dfk = saga_dfk.load(config)
    provider = executor.provider
    assert isinstance(provider, LocalVirtualClusterProvider)
    try:
        wait_until(
            lambda: set(executor.connected_nodes()) >= set(nodes), STARTUP_TIMEOUT_S, f"pools of {nodes}"
        )
    except BaseException:
        stop_kernel(dfk, provider)
        raise
    return dfk, provider


@contextlib.contextmanager
def running_kernel(tmp: Path, nodes: Mapping[str, int], **options: Any) -> Iterator[SagaDataFlowKernel]:
    """``start_kernel`` for a ``with`` block (a module fixture's body): stopped on the way out, also on failure."""
    dfk, provider = start_kernel(tmp, nodes, **options)
    try:
        yield dfk
    finally:
        stop_kernel(dfk, provider)


def stop_kernel(
    dfk: SagaDataFlowKernel, provider: LocalVirtualClusterProvider, deadline_s: float = 60.0
) -> None:
    """cleanup() under a deadline, then kill whatever pool is left; always unregister the DFK."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if not dfk.cleanup_called:
                dfk.cleanup()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(deadline_s)
    with contextlib.suppress(Exception):
        provider.kill_all()
    with contextlib.suppress(Exception):
        executor: Any = dfk.executors["vc"]
        executor.interchange_proc.kill()
    DataFlowKernelLoader.clear()
    if thread.is_alive():
        raise AssertionError(f"dfk.cleanup() did not return within {deadline_s:.0f}s")
    if errors:
        raise errors[0]


def make_apps() -> Any:
    """The test apps, built inside a function so Parsl serializes them by value (workers import nothing).

    ``node_task`` returns ``(node the worker pool runs on, 1 + sum of its inputs' values)``: the first is
    independent evidence of where a task ran, the second checks each task got its own inputs.
    """
    from types import SimpleNamespace

    from parsl import join_app, python_app

    def node_task(*deps: Any, seconds: float = 0.0) -> tuple[str, int]:
        import time as _time

        from parsl_affinity_htex import current_node

        _time.sleep(seconds)
        return current_node(), 1 + sum(d[1] for d in deps)

    def add(x: int, y: int, parsl_resource_specification: dict[str, Any] = {}) -> int:  # noqa: B006
        return x + y

    def fail(message: str) -> int:
        raise ValueError(message)

    def pinned_task(seconds: float = 0.0, parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006
        import time as _time

        from parsl_affinity_htex import current_node

        _time.sleep(seconds)
        return current_node()

    node_app = python_app(node_task)
    add_app = python_app(add)

    def fan_out(n: int) -> Any:
        return [node_app(seconds=0.05) for _ in range(n)]

    return SimpleNamespace(
        node_task=node_app,
        pinned_task=python_app(pinned_task),
        add=add_app,
        fail=python_app(fail),
        fan_out=join_app(fan_out),
    )


def random_dag(n: int, seed: int, max_parents: int = 3) -> list[list[int]]:
    """Parents of each task i (all < i): a random DAG in topological order."""
    import random

    rng = random.Random(seed)
    parents: list[list[int]] = []
    for i in range(n):
        k = rng.randint(0, min(max_parents, i))
        parents.append(sorted(rng.sample(range(i), k)) if k else [])
    return parents


def expected_values(parents: list[list[int]]) -> list[int]:
    """What node_task computes for each DAG task (1 + sum of parents' values)."""
    values: list[int] = []
    for ps in parents:
        values.append(1 + sum(values[p] for p in ps))
    return values


class FakeApiServer(SharedFakeApiServer):
    """k8s-topology's kube-apiserver stand-in (kmock; none can run on this machine), plus a node factory."""

    def add_node(self, name: str, cpu: str, zone: str) -> None:
        labels = {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": zone,
            "topology.kubernetes.io/region": "region-1",
        }
        self.core().create_node(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "spec": {},
                "status": {
                    "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                },
            }
        )

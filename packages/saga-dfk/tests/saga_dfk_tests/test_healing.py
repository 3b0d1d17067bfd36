"""Failures that heal: no node yet, a node that joins late, a node that is lost, cleanup with work held.

Real Parsl (AffinityHighThroughputExecutor, its interchange, LocalVirtualCluster pools) and real SAGA.
Measured on c6c897e, where each failed: a round planned before any pool registered failed every task of
the round for good and used up all Parsl retries at once; result(timeout=0.5) returned after 4.3 s;
cleanup() with held tasks and no pool waited the whole node_wait_timeout (120 s); a node that joined
after the first round never got work.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from parsl.dataflow.dflow import DataFlowKernelLoader
from parsl.providers import LocalProvider

import saga_dfk
from parsl_affinity_htex import AffinityHighThroughputExecutor, LocalVirtualClusterProvider
from repo_support.waiting import wait_until
from saga_dfk.errors import EmptyTopologyError, PlanningCancelledError

from .conftest import make_apps, start_kernel, stop_kernel

pytestmark = pytest.mark.timeout(400)


def _poolless_kernel(tmp: Path, **options: Any) -> saga_dfk.SagaDataFlowKernel:
    """An executor whose provider starts no pool: no node will ever register."""
    executor = AffinityHighThroughputExecutor(
        label="empty",
        provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
        encrypted=False,
        address="127.0.0.1",
    )
    config = saga_dfk.SagaConfig(
        executors=[executor], run_dir=str(tmp / "runinfo"), initialize_logging=False, **options
    )
    return saga_dfk.load(config)


def test_no_node_fails_once_as_final_without_spending_retries(tmp_path: Path) -> None:
    dfk = _poolless_kernel(tmp_path, node_wait_timeout=2.0, retries=2)
    try:
        apps = make_apps()
        fut = apps.add(1, 2)
        started = time.monotonic()
        exc = fut.exception(timeout=60)
        assert isinstance(exc, EmptyTopologyError), exc
        assert "node_wait_timeout=2.0s" in str(exc)
        assert time.monotonic() - started < 20
        assert fut.task_record["fail_count"] == 0  # planning spent no Parsl retry
    finally:
        _cleanup_within(dfk, 30)


def test_cleanup_returns_at_once_and_fails_what_is_held(tmp_path: Path) -> None:
    dfk = _poolless_kernel(tmp_path, node_wait_timeout=120.0)
    apps = make_apps()
    futures = [apps.add(i, i) for i in range(5)]
    time.sleep(0.5)  # the round is now waiting for a node
    started = time.monotonic()
    _cleanup_within(dfk, 30)
    assert time.monotonic() - started < 10
    for fut in futures:
        assert isinstance(fut.exception(timeout=10), PlanningCancelledError)


def _cleanup_within(dfk: saga_dfk.SagaDataFlowKernel, seconds: float) -> None:
    thread = threading.Thread(target=dfk.cleanup, daemon=True)
    thread.start()
    thread.join(seconds)
    DataFlowKernelLoader.clear()
    assert not thread.is_alive(), f"cleanup() did not return within {seconds}s"


def test_work_submitted_before_any_pool_runs_and_timeouts_are_honoured(tmp_path: Path) -> None:
    """Submitted right after load, before any pool registered: the round waits for the nodes (no error,
    no retry spent) while result(timeout=0.5) returns after 0.5 s."""
    from parsl_affinity_htex import LocalVirtualCluster

    executor = LocalVirtualCluster({"node-a": 1, "node-b": 1}).executor(label="late", encrypted=False)
    dfk = saga_dfk.load(
        saga_dfk.SagaConfig(
            executors=[executor], run_dir=str(tmp_path / "runinfo"), initialize_logging=False, retries=2
        )
    )
    try:
        apps = make_apps()
        fut = apps.node_task()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            fut.result(timeout=0.5)
        assert time.monotonic() - started < 2.0
        assert fut.result(timeout=240)[1] == 1
        assert fut.task_record["fail_count"] == 0
    finally:
        provider = executor.provider
        assert isinstance(provider, LocalVirtualClusterProvider)
        stop_kernel(dfk, provider)


def test_a_node_that_joins_late_gets_work_and_a_lost_one_loses_it(tmp_path: Path) -> None:
    """node-c's pool is killed before the work is submitted, so the first round plans on node-a and
    node-b; Parsl replaces the pool, node-c joins, and the join round moves work there."""
    dfk, provider = start_kernel(
        tmp_path,
        {"node-a": 1, "node-b": 1, "node-c": 1},
        node_settle_time=0.0,
        report_path=str(tmp_path / "r.json"),
    )
    executor: Any = dfk.executors["vc"]
    try:
        provider.kill_node("node-c")
        wait_until(lambda: "node-c" not in executor.connected_nodes(), 60, "node-c's pool to be lost")
        apps = make_apps()
        futures = [apps.node_task(seconds=0.6) for _ in range(45)]
        ran = Counter(f.result(timeout=300)[0] for f in futures)
        report = dfk.run_report()
        reasons = [r["reason"] for r in report["rounds"]]
        assert report["rounds"][0]["nodes"] == ["node-a", "node-b"]
        assert any("node-c joined" in r for r in reasons), reasons
        assert ran["node-c"] > 0, ran
        moved = [row for row in report["tasks"] if any(m["to"] == "node-c" for m in row["replanned"])]
        assert moved, "no task was re-planned onto node-c"
    finally:
        stop_kernel(dfk, provider)


def test_a_node_that_keeps_a_pool_is_not_banned_after_a_manager_loss(tmp_path: Path) -> None:
    """node-a runs two pools; the pool running a task of node-a is killed (ManagerLost). node-a still
    has a live pool, so the task is re-planned without a Parsl retry and later rounds still plan on
    node-a. On c6c897e the first ManagerLost put node-a on a ban list for the rest of the run."""
    import os
    import signal
    import subprocess

    from repo_support.pools import AFFINITY_POOL_MODULE, child_env, pool_argv

    nodes = {"node-a": 1, "node-b": 1}
    dfk, provider = start_kernel(tmp_path, nodes, retries=0)
    executor: Any = dfk.executors["vc"]
    extra = subprocess.Popen(
        pool_argv(executor, node="node-a", block_id="extra", module=AFFINITY_POOL_MODULE),
        env=child_env({"PARSL_CORES": "1"}),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: executor.connected_nodes()["node-a"].pools == 2, 120, "a second pool on node-a")

        def report_pool(marker: str, seconds: float) -> str:
            import os as _os
            import time as _time

            from parsl_affinity_htex import current_node

            with open(marker, "w") as fh:
                fh.write(str(_os.getppid()))  # the pool (manager) process this worker belongs to
            _time.sleep(seconds)
            return current_node()

        from parsl import python_app

        app = python_app(report_pool)
        markers = [tmp_path / f"pool-{i}.pid" for i in range(2)]
        futures = [app(str(m), 8.0) for m in markers]
        dfk.execute()  # auto mode would not need it; it keeps the test meaningful for explicit kernels
        wait_until(lambda: all(m.exists() and m.read_text() for m in markers), 120, "both tasks to start")
        on_a = next(i for i, f in enumerate(futures) if dfk.saga_assignments[f.tid].node == "node-a")
        os.kill(int(markers[on_a].read_text()), signal.SIGKILL)
        assert futures[on_a].result(timeout=180) in nodes  # re-planned: no Parsl retry (retries=0)
        assert futures[on_a].task_record["fail_count"] == 0
        assert "node-a" in executor.connected_nodes()
        later = [apps_node_task() for _ in range(6)]
        dfk.execute()
        ran = Counter(f.result(timeout=120) for f in later)
        assert any(dfk.saga_assignments[f.tid].node == "node-a" for f in later), ran
        assert ran["node-a"] > 0, ran
    finally:
        if extra.poll() is None:
            os.killpg(extra.pid, signal.SIGKILL)
        stop_kernel(dfk, provider)


def apps_node_task() -> Any:
    """One short task that says where it ran."""
    from parsl import python_app

    def where(seconds: float = 0.2) -> str:
        import time as _time

        from parsl_affinity_htex import current_node

        _time.sleep(seconds)
        return current_node()

    return python_app(where)()


class _ScriptedSource:
    """A network source the test drives: it reports what the test tells it to (the NetworkSource
    protocol, as KubernetesNetworkSource implements it from a node watch)."""

    def __init__(self) -> None:
        self._listeners: list[Any] = []

    def subscribe(self, listener: Any) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def lose(self, node: str) -> None:
        from saga_dfk import NetworkEvent

        for listener in self._listeners:
            listener(NetworkEvent("lost", node, "taken away by the test", "test"))


def test_a_parsl_retry_never_goes_back_to_a_node_known_lost(tmp_path: Path) -> None:
    """A task's first try fails (a user error, retries=1) while the cluster takes its node away (its
    pool still runs): the retry is re-planned onto a live node. On c6c897e it went back to the same
    node with the old tags."""
    source = _ScriptedSource()
    nodes = {"node-a": 1, "node-b": 1, "node-c": 1}
    dfk, provider = start_kernel(tmp_path, nodes, retries=1, network_source=source)
    try:
        from parsl import python_app

        def fail_first(marker: str, gate: str) -> str:
            import os as _os
            import time as _time

            from parsl_affinity_htex import current_node

            if not _os.path.exists(marker):
                with open(marker, "w") as fh:
                    fh.write(current_node())
                while not _os.path.exists(gate):
                    _time.sleep(0.05)
                raise ValueError("first try fails")
            return current_node()

        marker, gate = tmp_path / "first-try", tmp_path / "gate"
        fut = python_app(fail_first)(str(marker), str(gate))
        dfk.execute()
        wait_until(lambda: marker.exists() and marker.read_text() in nodes, 120, "the first try to start")
        first_node = marker.read_text()
        source.lose(first_node)
        wait_until(lambda: first_node not in dfk._cluster.network(), 30, "the node to leave the plan")
        gate.write_text("go")
        second_node = fut.result(timeout=120)
        assert second_node != first_node, f"the retry ran on {first_node}, which the cluster took away"
        assert fut.task_record["fail_count"] == 1
    finally:
        stop_kernel(dfk, provider)

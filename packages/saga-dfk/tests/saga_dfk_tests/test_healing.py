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
import saga_graphs
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
    """node-a runs three pools. A task of node-a loses its pool, the interchange re-queues it onto another
    pool of node-a (once), and that pool is lost too: the task fails with ManagerLost while node-a still has
    a live pool. The kernel re-plans it without a Parsl retry, and later rounds still plan on node-a. On
    c6c897e that ManagerLost put node-a on a ban list for the rest of the run: later tasks all went to
    node-b."""
    import os
    import signal
    import subprocess

    from repo_support.pools import AFFINITY_POOL_MODULE, child_env, pool_argv

    nodes = {"node-a": 1, "node-b": 1}
    dfk, provider = start_kernel(tmp_path, nodes, retries=0)
    executor: Any = dfk.executors["vc"]
    extras = {
        block: subprocess.Popen(
            pool_argv(executor, node="node-a", block_id=block, module=AFFINITY_POOL_MODULE),
            env=child_env({"PARSL_CORES": "1"}),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for block in ("extra-1", "extra-2")
    }

    def kill_block(block: str) -> None:
        if block in extras:
            os.killpg(extras[block].pid, signal.SIGKILL)
        else:
            provider.kill_node("node-a")  # the provider's own pool of node-a; the extras stay up

    def node_a_pools() -> int:
        node = executor.connected_nodes().get("node-a")
        return 0 if node is None else int(node.pools)

    try:
        wait_until(lambda: node_a_pools() == 3, 120, "three pools on node-a")

        def report_block(marker: str, seconds: float) -> str:
            import os as _os
            import time as _time

            from parsl_affinity_htex import current_node

            with open(marker, "a") as fh:
                fh.write(_os.environ["PARSL_WORKER_BLOCK_ID"] + "\n")  # the pool this try runs in
            _time.sleep(seconds)
            return current_node()

        from parsl import python_app

        def blocks(marker: Path) -> list[str]:
            return marker.read_text().split() if marker.exists() else []

        app = python_app(report_block)
        markers = [tmp_path / f"block-{i}" for i in range(4)]
        futures = [app(str(m), 6.0) for m in markers]  # four slots: node-a's three pools and node-b's
        dfk.execute()  # auto mode would not need it; it keeps the test meaningful for explicit kernels
        wait_until(lambda: all(blocks(m) for m in markers), 120, "all tasks to start")
        victim = next((i for i, m in enumerate(markers) if blocks(m) == ["extra-1"]), None)
        assert victim is not None, [blocks(m) for m in markers]
        kill_block("extra-1")
        wait_until(lambda: len(blocks(markers[victim])) == 2, 120, "the task to be re-queued on node-a")
        second = blocks(markers[victim])[1]
        assert second != "extra-1", blocks(markers[victim])
        kill_block(second)  # the second pool lost under the same task: ManagerLost reaches the kernel
        assert futures[victim].result(timeout=180) in nodes  # re-planned: no Parsl retry (retries=0)
        assert futures[victim].task_record["fail_count"] == 0
        reasons = [r["reason"] for r in dfk.run_report()["rounds"]]
        assert any("ManagerLost" in r for r in reasons), reasons  # the kernel saw the loss and re-planned
        assert node_a_pools() >= 1, executor.connected_nodes()
        later = [apps_node_task() for _ in range(6)]
        dfk.execute()
        ran = Counter(f.result(timeout=120) for f in later)
        assert any(dfk.saga_assignments[f.tid].node == "node-a" for f in later), ran
        assert ran["node-a"] > 0, ran
    finally:
        for pool in extras.values():
            if pool.poll() is None:
                os.killpg(pool.pid, signal.SIGKILL)
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


def _first_try_that_fails(
    dfk: saga_dfk.SagaDataFlowKernel, tmp_path: Path, nodes: Any
) -> tuple[Any, str, Path]:
    """Submit a task whose first try writes down its node and raises once ``gate`` exists (a later try returns
    its node); returns (its future, the node the first try runs on, gate) once that try is running."""
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
    return fut, marker.read_text(), gate


def test_a_parsl_retry_never_goes_back_to_a_node_known_lost(tmp_path: Path) -> None:
    """A task's first try fails (a user error, retries=1) while the cluster takes its node away (its
    pool still runs): the retry is re-planned onto a live node. On c6c897e it went back to the same
    node with the old tags."""
    source = _ScriptedSource()
    nodes = {"node-a": 1, "node-b": 1, "node-c": 1}
    dfk, provider = start_kernel(tmp_path, nodes, retries=1, network_source=source)
    try:
        fut, first_node, gate = _first_try_that_fails(dfk, tmp_path, nodes)
        source.lose(first_node)
        wait_until(lambda: first_node not in dfk._cluster.network(), 30, "the node to leave the plan")
        gate.write_text("go")
        second_node = fut.result(timeout=120)
        assert second_node != first_node, f"the retry ran on {first_node}, which the cluster took away"
        assert fut.task_record["fail_count"] == 1
    finally:
        stop_kernel(dfk, provider)


class _CostModelThatStallsOnce(saga_graphs.CostModel):
    """Uniform costs; once armed, the next ``cost()`` call takes ``stall`` seconds, as pricing a large
    re-plan does. ``stalling`` is set while that call runs, ``stalled`` once it returned."""

    def __init__(self, stall: float) -> None:
        self._stall = stall
        self._armed = threading.Event()
        self.stalling = threading.Event()
        self.stalled = threading.Event()

    def arm(self) -> None:
        self._armed.set()

    def cost(self, function_name: str, task_id: str | int | None = None) -> float:
        if self._armed.is_set() and not self.stalling.is_set():
            self.stalling.set()
            time.sleep(self._stall)
            self.stalled.set()
        return 1.0

    def output_size(self, function_name: str, task_id: str | int | None = None) -> float:
        return 0.0


def test_a_replan_never_holds_the_launch_thread(tmp_path: Path) -> None:
    """A node is lost while one of its planned tasks waits for a parent elsewhere; the re-plan is slow (its
    cost model stalls 8 s). The parent finishes during that re-plan, and then an unrelated task (opted out
    of planning) is submitted: it runs at once, while the re-plan is still planning. On c6c897e the re-plan
    held the waiting task's launch lock, Parsl's only launch thread blocked on it, and the unrelated task
    waited for the re-plan to end (2.7 s in the probe; here the whole stall)."""
    costs = _CostModelThatStallsOnce(stall=8.0)
    nodes = {"node-a": 1, "node-b": 1, "node-c": 1}
    dfk, provider = start_kernel(tmp_path, nodes, cost_model=costs, planning="explicit")
    try:
        from parsl import python_app

        def gated(marker: str, gate: str) -> str:
            import os as _os
            import time as _time

            from parsl_affinity_htex import current_node

            open(marker, "w").close()
            while not _os.path.exists(gate):
                _time.sleep(0.05)
            return current_node()

        def child(parent: str) -> str:
            from parsl_affinity_htex import current_node

            return current_node()

        apps = make_apps()
        marker, gate = tmp_path / "parent-started", tmp_path / "gate"
        parent = python_app(gated)(str(marker), str(gate))
        children = [python_app(child)(parent) for _ in range(3)]
        dfk.execute()
        planned = {f.tid: dfk.saga_assignments[f.tid].node for f in [parent, *children]}
        assert planned[parent.tid] != "node-c", planned
        assert any(planned[f.tid] == "node-c" for f in children), planned  # three children, three nodes
        wait_until(marker.exists, 60, "the parent to start")
        costs.arm()
        provider.kill_node("node-c")
        assert costs.stalling.wait(60), "the loss of node-c was never re-planned"
        gate.write_text("go")  # the waiting child becomes ready during the re-plan
        parent.result(timeout=60)
        sent = time.monotonic()
        unrelated = apps.add(1, 2, parsl_resource_specification={"saga_plan": False})
        assert unrelated.result(timeout=60) == 3
        waited = time.monotonic() - sent
        assert not costs.stalled.is_set(), f"the unrelated task waited {waited:.1f}s, until the re-plan ended"
        assert [f.result(timeout=120) for f in children] and all(
            f.result() != "node-c" for f in children if planned[f.tid] == "node-c"
        )
    finally:
        stop_kernel(dfk, provider)


def test_a_retry_after_its_node_was_lost_is_planned_onto_a_live_node(tmp_path: Path) -> None:
    """A task's first try fails (a user error, retries=1); before Parsl sends the retry (its retry_handler
    waits for this), the pool of the node the try ran on is killed and the kernel has seen the loss. The
    retry is re-planned onto a live node and never handed to the lost one. On c6c897e the retry went to
    the lost node with the old tags, failed there with NodeUnavailable after the grace period and was only
    then re-planned."""
    loss_seen = threading.Event()
    retrying = threading.Event()

    def wait_for_the_loss(_exc: BaseException, _record: Any) -> float:
        retrying.set()
        loss_seen.wait(120)
        return 1.0

    nodes = {"node-a": 1, "node-b": 1, "node-c": 1}
    dfk, provider = start_kernel(tmp_path, nodes, retries=1, retry_handler=wait_for_the_loss)
    try:
        fut, first_node, gate = _first_try_that_fails(dfk, tmp_path, nodes)
        gate.write_text("go")
        assert retrying.wait(60), "the first try did not fail"
        provider.kill_node(first_node)
        wait_until(lambda: first_node not in dfk._cluster.live(), 60, f"the kernel to see {first_node} lost")
        loss_seen.set()
        second_node = fut.result(timeout=120)
        assert second_node != first_node, f"the retry ran on {first_node}, whose pool was killed"
        assert fut.task_record["fail_count"] == 1
        report = dfk.run_report()
        row = next(r for r in report["tasks"] if r["id"] == fut.tid)
        sent_to_lost = [m for m in row["replanned"] if "NodeUnavailable" in m["reason"]]
        assert not sent_to_lost, f"the retry was handed to the lost node {first_node}: {sent_to_lost}"
    finally:
        loss_seen.set()
        stop_kernel(dfk, provider)

"""Tier 1: the whole system on real separate network hosts (namespaces), one behind a slow link.

Real components only: a SagaDataFlowKernel plans with saga_graphs/SAGA, an AffinityHighThroughputExecutor
runs its interchange on the driver's bridge address, and one ``parsl_affinity_htex.worker_pool`` per
namespace connects over its own veth (CurveZMQ encryption on). Where a task ran is proven by the source
address of the TCP connection it opens to the driver's witness, not by the node name it claims.

Needs root and ``ip netns`` (skipped with the reason otherwise).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider

import saga_dfk
import saga_graphs
from e2e_tests.runner import WorkflowRun, collect, parsl_session, submit_workflow, warm_up
from e2e_tests.witness import Witness
from e2e_tests.workflow import heavy_edges, network_spec, stage_task, stages
from parsl_affinity_htex import AffinityHighThroughputExecutor
from repo_support.netns import NetnsCluster
from repo_support.pools import (
    AFFINITY_POOL_MODULE,
    STOCK_POOL_MODULE,
    child_env,
    connected_manager_count,
    pool_argv,
)
from repo_support.stages import Stage
from repo_support.waiting import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(400)]

NODES = ["node-a", "node-b", "node-c", "node-d"]
SLOW = "node-d"
SLOW_MBIT = 20  # tbf rate; the declared bandwidth below must match it
SLOW_BPS = SLOW_MBIT * 1e6 / 8
SLOTS = 2
POOL_START_TIMEOUT = 90


def _no_blocks() -> LocalProvider:
    """A provider that starts nothing: the fixture starts the pools, one per namespace."""
    return LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0)


def _affinity_executor(cluster: NetnsCluster, label: str = "affinity") -> AffinityHighThroughputExecutor:
    return AffinityHighThroughputExecutor(
        label=label,
        address=cluster.driver_address,  # the interchange binds here: reachable from every namespace
        provider=_no_blocks(),
        max_workers_per_node=SLOTS,
        heartbeat_period=1,
        heartbeat_threshold=5,  # a killed pool is declared lost after ~5 s
        affinity_grace_period=3.0,
        encrypted=True,
    )


def _start_pools(
    cluster: NetnsCluster, executor: Any, module: str, nodes: Sequence[str], log_dir: str
) -> None:
    for index, node in enumerate(nodes):
        cluster.spawn(
            node,
            pool_argv(executor, node=node, block_id=f"{node}-{index}", module=module),
            env=child_env({"E2E_NODE": node}),
            log_path=Path(log_dir) / f"pool-{node}.log",
        )


def _saga_config(
    executor: Any,
    run_dir: str,
    network: dict[str, Any],
    cost_model: saga_graphs.DeclaredCostModel,
    **extra: Any,
) -> saga_dfk.SagaConfig:
    """A SagaConfig planning with ``cost_model`` (the workflow's tasks are declared in it as submitted)."""
    return saga_dfk.SagaConfig(
        executors=[executor],
        saga_scheduler="HEFT",
        cost_model=cost_model,
        network=network,
        affinity="hard",
        strategy="none",
        run_dir=run_dir,
        **extra,
    )


def _run_planned(
    cluster: NetnsCluster,
    witness: Witness,
    workflow: list[Stage],
    run_dir: str,
    network: dict[str, Any],
    nodes: Sequence[str],
    during: Callable[[Any, dict[str, Any]], None] | None = None,
    **config_extra: Any,
) -> tuple[WorkflowRun, dict[str, Any]]:
    executor = _affinity_executor(cluster)
    costs = saga_graphs.DeclaredCostModel(default=saga_graphs.UniformCostModel(cost=0.1, output_size=0.0))
    config = _saga_config(executor, run_dir, network, costs, **config_extra)
    with parsl_session(config, loader=saga_dfk.load) as dfk:
        _start_pools(cluster, executor, AFFINITY_POOL_MODULE, nodes, run_dir)
        wait_until(
            lambda: len(executor.connected_nodes()) == len(nodes),
            timeout=POOL_START_TIMEOUT,
            what=f"{len(nodes)} node-aware pools to register",
        )
        warm_up(executor.label, witness, nodes, SLOTS)
        started = time.time()
        # each stage's cost and size declared under the task id its future got
        futures = submit_workflow(workflow, witness, executor_label=executor.label, costs=costs)
        dfk.execute()
        if during is not None:
            during(dfk, futures)
        run = collect(workflow, futures, witness, started=started, timeout=240)
        run.planned = {name: dfk.saga_assignments[f.tid].node for name, f in futures.items()}
        report = dfk.run_report()
    return run, report


def _print_run(title: str, run: WorkflowRun, proven: dict[str, str | None]) -> None:
    print(f"\n== {title}: makespan {run.makespan:.2f} s (driver wall clock, submit to last result)")
    for task in sorted(run.results, key=lambda t: run.results[t]["start"]):
        planned = run.planned.get(task, "-")
        print(f"   {task:12s} planned {planned:7s} ran on {proven.get(task)}")


def test_plan_avoids_slow_link_and_every_task_runs_where_planned_then_stock_for_comparison(
    netns_factory: Callable[[Sequence[str]], NetnsCluster],
    witness_factory: Callable[[str], Witness],
    run_dir: str,
) -> None:
    """(a) planned run on 4 hosts, one behind tbf 20 Mbit/s; (b) the same workflow under stock HTEx."""
    cluster = netns_factory(NODES)
    cluster.shape(SLOW, SLOW_MBIT)
    witness = witness_factory(cluster.driver_address)
    workflow = stages()
    network = network_spec(NODES, SLOW, slots=SLOTS, slow_bps=SLOW_BPS)

    # --- (a) planned -----------------------------------------------------------------------------------
    planned_run, report = _run_planned(
        cluster, witness, workflow, run_dir, network, NODES, min_nodes=len(NODES)
    )
    proven = {
        t: n for t, n in planned_run.ran_on(cluster.node_for_address).items() if t in planned_run.results
    }
    _print_run("planned (saga_dfk, HEFT, hard affinity)", planned_run, proven)
    print(
        f"   predicted makespan {report.get('planned_makespan')}, plan on slow node: "
        f"{sorted(t for t, n in planned_run.planned.items() if n == SLOW)}"
    )

    # The plan keeps every heavy transfer off the slow link: no task with a 4 MiB input or output is
    # placed behind it (in Parsl every result crosses the node's link to the driver, so that holds even
    # for a parent and child that share the node).
    heavy_tasks = {t for edge in heavy_edges(workflow) for t in edge}
    on_slow = sorted(t for t in heavy_tasks if planned_run.planned[t] == SLOW)
    assert not on_slow, f"heavy tasks planned behind the {SLOW_MBIT} Mbit/s link: {on_slow}"
    # Every task ran exactly where it was planned, proven by its source address on the bridge.
    assert planned_run.mismatches(cluster.node_for_address) == {}
    # And the workers' own claims agree with the network's evidence.
    assert {t: r["node"] for t, r in planned_run.results.items()} == proven
    assert len(set(proven.values())) >= 3

    # --- (b) stock placement, same hosts, same shaping -------------------------------------------------
    for node in NODES:
        cluster.kill_node_processes(node)  # the affinity pools of (a); their interchange is gone already
    stock_witness = witness_factory(cluster.driver_address)
    stock = HighThroughputExecutor(
        label="stock",
        address=cluster.driver_address,
        provider=_no_blocks(),
        max_workers_per_node=SLOTS,
        heartbeat_period=1,
        heartbeat_threshold=5,
        interchange_launch_cmd=[sys.executable, "-m", "parsl.executors.high_throughput.interchange"],
        encrypted=True,
    )
    with parsl_session(Config(executors=[stock], strategy="none", run_dir=run_dir)):
        _start_pools(cluster, stock, STOCK_POOL_MODULE, NODES, run_dir)
        wait_until(
            lambda: connected_manager_count(stock) == len(NODES),
            timeout=POOL_START_TIMEOUT,
            what="4 stock pools to register",
        )
        _stock_warm_up(stock.label, stock_witness)
        started = time.time()
        futures = submit_workflow(workflow, stock_witness, executor_label=stock.label)
        stock_run = collect(workflow, futures, stock_witness, started=started, timeout=240)
    stock_proven = stock_run.ran_on(cluster.node_for_address)
    _print_run("stock HTEx placement", stock_run, stock_proven)
    stock_heavy_on_slow = sorted(t for t in heavy_tasks if stock_proven.get(t) == SLOW)
    print(
        f"\nMAKESPAN planned={planned_run.makespan:.2f}s stock={stock_run.makespan:.2f}s "
        f"(stock ran heavy tasks behind the slow link: {stock_heavy_on_slow or 'none'})"
    )
    assert set(stock_run.results) == {s.name for s in workflow}


def _stock_warm_up(label: str, witness: Witness) -> None:
    """Stock HTEx cannot target nodes: run one slot-filling round of trivial tasks."""
    from parsl import python_app

    app = python_app(stage_task, executors=[label])
    futures = [app(f"warmup-{i}", witness.address, 1.0, 0) for i in range(len(NODES) * SLOTS)]
    for future in futures:
        future.result(timeout=120)


def test_pool_killed_mid_run_everything_still_completes(
    netns_factory: Callable[[Sequence[str]], NetnsCluster],
    witness_factory: Callable[[str], Witness],
    run_dir: str,
) -> None:
    """(c) SIGKILL every process of one host while its tasks run: all tasks still finish, elsewhere."""
    nodes = ["node-a", "node-b", "node-c"]
    victim = "node-b"
    cluster = netns_factory(nodes)
    witness = witness_factory(cluster.driver_address)
    workflow = stages(transforms=6, combines=3, lights=6)
    network = network_spec(nodes, None, slots=SLOTS)
    killed_at: list[float] = []

    def kill_when_victim_busy(dfk: Any, futures: dict[str, Any]) -> None:
        planned_victim = {n for n, f in futures.items() if dfk.saga_assignments[f.tid].node == victim}
        assert planned_victim, f"the plan put nothing on {victim}; the test would prove nothing"

        def victim_running() -> bool:
            return any(
                s.task in planned_victim and cluster.node_for_address(s.peer_address) == victim
                for s in witness.sightings()
            )

        wait_until(victim_running, timeout=120, what=f"a task to start on {victim}")
        killed_at.append(time.time())
        assert cluster.kill_node_processes(victim), f"no process to kill in {victim}'s namespace"

    run, report = _run_planned(
        cluster,
        witness,
        workflow,
        run_dir,
        network,
        nodes,
        during=kill_when_victim_busy,
        min_nodes=len(nodes),
    )
    proven = run.ran_on(cluster.node_for_address)
    _print_run(
        f"{victim} killed at +{killed_at[0] - min(r['start'] for r in run.results.values()):.1f}s",
        run,
        proven,
    )
    print(f"   lost nodes per saga_dfk: {report.get('lost_nodes')}")

    assert set(run.results) == {s.name for s in workflow}  # everything completed with intact inputs
    late = [s for seen in run.sightings.values() for s in seen if s.received_at > killed_at[0] + 0.5]
    assert all(
        cluster.node_for_address(s.peer_address) != victim for s in late
    ), "a task ran on the dead node"
    # Nothing counts as done on the dead host unless it finished there before the kill ...
    for task, node in proven.items():
        if task in run.results and node == victim:
            assert run.results[task]["end"] < killed_at[0], f"{task} claims to have finished on dead {victim}"
    # ... and what was running there when it died was run again on a live host.
    interrupted = {
        t
        for t, seen in run.sightings.items()
        if t in run.results
        and any(cluster.node_for_address(s.peer_address) == victim for s in seen)
        and proven[t] != victim
    }
    print(f"   re-run elsewhere after the kill: {sorted(interrupted)}")
    assert interrupted, f"no task was interrupted on {victim}; the kill came too late to test anything"

"""Rolling planning on real pools (nodes with 2, 1 and 1 slots), one shared SagaDataFlowKernel.

Rounds start by themselves (settle window); nobody calls execute(). Real interchange, pools and SAGA.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from repo_support.waiting import wait_until
from saga_dfk import SagaDataFlowKernel

from .conftest import expected_values, make_apps, random_dag, running_kernel

NODES = {"node-a": 2, "node-b": 1, "node-c": 1}
pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SagaDataFlowKernel]:
    with running_kernel(
        tmp_path_factory.mktemp("rolling"), NODES, planning="rolling", settle_window=0.2, round_threshold=50
    ) as dfk:
        yield dfk


@pytest.fixture(scope="module")
def apps() -> Any:
    return make_apps()


def test_random_dag_of_200_tasks_runs_on_plan(kernel: SagaDataFlowKernel, apps: Any) -> None:
    dfk = kernel
    rounds_before = len(dfk._rounds)
    parents = random_dag(200, seed=5)
    futures: list[Any] = []
    for ps in parents:
        futures.append(apps.node_task(*[futures[p] for p in ps], seconds=0.01))
    results = [f.result(timeout=300) for f in futures]  # no execute(): rounds are automatic
    assert [v for _, v in results] == expected_values(parents)
    off_plan = [
        f.tid
        for f, (node, _) in zip(futures, results, strict=True)
        if node != dfk.saga_assignments[f.tid].node
    ]
    assert off_plan == []
    rounds = list(dfk._rounds)[rounds_before:]
    assert sum(r["tasks"] for r in rounds) == 200
    # round_threshold=50: a burst of 200 submissions is planned in rounds of at most 50, however fast
    # it was submitted (the planner thread may not run before the burst is over)
    assert max(r["tasks"] for r in rounds) <= 50
    assert len(rounds) >= 4


def test_later_rounds_build_on_the_placed_schedule(kernel: SagaDataFlowKernel, apps: Any) -> None:
    dfk = kernel
    slow = [apps.node_task(seconds=1.5) for _ in range(4)]  # fills all 4 slots
    wait_until(lambda: all(f.tid in dfk.saga_assignments for f in slow), 60, "the first round")
    late = apps.node_task(seconds=0.1)
    assert late.result(timeout=120)[0] == dfk.saga_assignments[late.tid].node
    slow_plans = [dfk.saga_assignments[f.tid] for f in slow]
    late_plan = dfk.saga_assignments[late.tid]
    assert late_plan.round > max(p.round for p in slow_plans)
    late_round = next(r for r in list(dfk._rounds) if r["round"] == late_plan.round)
    assert late_round["fixed"] >= 1, "the late round must start from the placed, unfinished slow tasks"
    # every slot was busy with a fixed task, so the late task is planned after one of them ends
    assert late_plan.start >= min(p.end for p in slow_plans) - 1e-6
    for f in slow:
        f.result(timeout=120)


def test_join_app_inner_tasks_are_planned(kernel: SagaDataFlowKernel, apps: Any) -> None:
    dfk = kernel
    before = set(dfk.saga_assignments)
    outer = apps.fan_out(6)
    results = outer.result(timeout=120)
    assert len(results) == 6
    new = [t for t in dfk._records.values() if t.tid not in before and t.func_name == "node_task"]
    assert len(new) == 6
    for task in new:
        assert task.tid in dfk.saga_assignments
        assert task.actual is not None and task.actual.node == dfk.saga_assignments[task.tid].node
    assert sorted(node for node, _ in results) == sorted(t.actual.node for t in new if t.actual)

"""Explicit planning on real pools: three 1-slot virtual nodes, one shared SagaDataFlowKernel.

Real parsl_affinity_htex interchange and worker pool processes, real SAGA (saga_graphs); no mocks.
Where a task ran is checked twice: the executor's run record (the report) and the node name the task
body itself returns (``current_node()`` inside the worker pool).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl.dataflow.errors import DependencyError

import saga_graphs
from parsl_affinity_htex import RunRecord
from repo_support.waiting import wait_until
from saga_dfk import SagaDataFlowKernel

from .conftest import expected_values, make_apps, random_dag, start_kernel, stop_kernel

NODES = {"node-a": 1, "node-b": 1, "node-c": 1}
pytestmark = pytest.mark.timeout(400)


class RecordingCostModel(saga_graphs.DeclaredCostModel):
    """Declared costs (per task id, as the tests submit) plus a log of what the kernel observed."""

    def __init__(self) -> None:
        super().__init__()
        self.observed: list[tuple[str, float, float]] = []

    def observe(
        self, function_name: str, duration: float, output_size: float = 0.0, *, speed: float = 1.0
    ) -> None:
        self.observed.append((function_name, duration * speed, output_size))


@pytest.fixture(scope="module")
def kernel(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SagaDataFlowKernel, RecordingCostModel]]:
    costs = RecordingCostModel()
    tmp = tmp_path_factory.mktemp("explicit")
    dfk, provider = start_kernel(
        tmp, NODES, planning="explicit", cost_model=costs, report_path=str(tmp / "r.json")
    )
    try:
        yield dfk, costs
    finally:
        stop_kernel(dfk, provider)
    report = saga_dfk_report(tmp / "r.json")
    assert report["tasks"], "cleanup() must write the run report"


def saga_dfk_report(path: Path) -> dict[str, Any]:
    from saga_dfk import load_report

    return load_report(path)


@pytest.fixture(scope="module")
def apps() -> Any:
    return make_apps()


def test_result_before_execute_returns_the_value(kernel: Any, apps: Any) -> None:
    dfk, _ = kernel
    first = apps.add(1, 2)
    second = apps.add(first, 10)
    # no execute(): result() must release the held task itself instead of waiting forever
    assert second.result(timeout=120) == 13
    assert {first.tid, second.tid} <= set(dfk.saga_assignments)


def test_diamond_follows_the_plan_and_splits_t2_t3(
    kernel: Any, apps: Any, caplog: pytest.LogCaptureFixture
) -> None:
    dfk, costs = kernel
    with caplog.at_level(logging.INFO, logger="saga_dfk"):
        t1 = apps.node_task(seconds=0.5)
        t2 = apps.node_task(t1, seconds=2.0)
        t3 = apps.node_task(t1, seconds=1.0)
        t4 = apps.node_task(t2, t3, seconds=0.5)
        futures = {"t1": t1, "t2": t2, "t3": t3, "t4": t4}
        for key, cost in {"t1": 0.5, "t2": 2.0, "t3": 1.0, "t4": 0.5}.items():
            costs.declare(futures[key].tid, cost=cost, output_size=0.0)  # the diamond's costs, free transfers
        dfk.execute()
        ran = {key: fut.result(timeout=120)[0] for key, fut in futures.items()}
    # stdlib records of the saga_dfk logger; the event's fields, unformatted, ride on the record
    events = [{"event": r.msg.split()[0], **r.args} for r in caplog.records if isinstance(r.args, dict)]
    assigned = [e for e in events if e["event"] == "task.assigned"]
    by_task = {e["task"]: e for e in assigned}
    for key, fut in futures.items():
        event = by_task[fut.tid]
        assert event["function"] == "node_task"
        assert event["node"] in NODES
        assert event["end"] > event["start"] >= 0
        plan = dfk.saga_assignments[fut.tid]
        assert dfk._saga_task_assignments[fut.tid] == plan
        assert ran[key] == plan.node == event["node"], f"{key} ran on {ran[key]}, planned {plan.node}"
    assert dfk.saga_assignments[t2.tid].node != dfk.saga_assignments[t3.tid].node
    assert t4.result()[1] == 5
    # one run record: the executor future's RunRecord, carried by saga-dfk's proxy future, kept by the
    # kernel on its plan clock, and spanned by saga_graphs.span whatever the clock
    t0 = dfk._t0 if dfk._t0 is not None else 0.0
    runs = {}
    for key, fut in futures.items():
        run = fut.task_record["exec_fu"].run_record
        assert isinstance(run, RunRecord) and run.node == ran[key]
        assert dfk._records.get(fut.tid).actual == run.relative_to(t0)
        runs[key] = run
    assert saga_graphs.span(runs.values()) == pytest.approx(
        saga_graphs.span(dfk._records.get(f.tid).actual for f in futures.values())
    )
    assert (saga_graphs.span(runs.values()) or 0.0) >= 0.5 + 2.0 + 0.5  # t1 -> t2 -> t4: critical path
    # reality feeds the cost model: the observed durations are the sleeps, measured on the workers
    wait_until(lambda: len([o for o in costs.observed if o[0] == "node_task"]) >= 4, 30, "4 observations")
    durations = sorted(d for name, d, _ in costs.observed if name == "node_task")[-4:]
    assert durations[-1] >= 2.0 and durations[0] >= 0.5


def test_data_futures_become_dependencies(kernel: Any, tmp_path: Path) -> None:
    """A File produced by one task and read by another is an edge of the planned graph."""
    from parsl import python_app
    from parsl.data_provider.files import File

    def write(outputs: Any = ()) -> None:
        with open(outputs[0].filepath, "w") as fh:
            fh.write("42")

    def read(inputs: Any = ()) -> int:
        with open(inputs[0].filepath) as fh:
            return int(fh.read())

    dfk, _ = kernel
    producer = python_app(write)(outputs=[File(str(tmp_path / "x.txt"))])
    consumer = python_app(read)(inputs=[producer.outputs[0]])
    dfk.execute()
    assert consumer.result(timeout=120) == 42
    assert dfk._records.get(consumer.tid).parents == (producer.tid,)
    plans = dfk.saga_assignments
    assert plans[consumer.tid].start >= plans[producer.tid].end - 1e-9


def test_each_task_gets_a_fresh_resource_specification(kernel: Any, apps: Any) -> None:
    dfk, _ = kernel
    futures = [apps.add(i, i) for i in range(4)]
    dfk.execute()
    assert [f.result(timeout=120) for f in futures] == [0, 2, 4, 6]
    specs = [f.task_record["resource_specification"] for f in futures]
    assert len({id(s) for s in specs}) == 4, "tasks share one resource specification dict"
    for fut, spec in zip(futures, specs, strict=True):
        plan = dfk.saga_assignments[fut.tid]
        assert spec["node"] == plan.node
        assert spec["priority"] == round(plan.start, 6)  # HTEx runs lower values first
    # the app's own default dict (shared by all calls) stays untouched
    assert apps.add.kwargs["parsl_resource_specification"] == {}


def test_dependency_callbacks_capture_each_task(kernel: Any, apps: Any) -> None:
    """Tasks created in a loop, each depending on a future -- each must launch itself."""
    dfk, _ = kernel
    bases = [apps.add(i, 0) for i in range(6)]
    dependents = []
    for i, base in enumerate(bases):
        dependents.append(apps.add(base, 100 * i))
    dfk.execute()
    assert [d.result(timeout=120) for d in dependents] == [i + 100 * i for i in range(6)]
    launched = [d.task_record["try_time_launched"] for d in dependents]
    assert all(t is not None for t in launched)


def test_random_dag_of_200_tasks_runs_on_plan(kernel: Any, apps: Any) -> None:
    dfk, _ = kernel
    parents = random_dag(200, seed=11)
    futures: list[Any] = []
    for ps in parents:
        futures.append(apps.node_task(*[futures[p] for p in ps], seconds=0.01))
    dfk.execute()
    results = [f.result(timeout=300) for f in futures]
    assert [v for _, v in results] == expected_values(parents)
    off_plan = [
        f.tid
        for f, (node, _) in zip(futures, results, strict=True)
        if node != dfk.saga_assignments[f.tid].node
    ]
    assert off_plan == []
    report = dfk.run_report()
    rows = {row["id"]: row for row in report["tasks"]}
    assert all(rows[f.tid]["actual"]["node"] == rows[f.tid]["planned"]["node"] for f in futures)
    assert report["fidelity"]["off_plan_tasks"] == []


def test_join_app_inner_tasks_are_planned(kernel: Any, apps: Any) -> None:
    dfk, _ = kernel
    outer = apps.fan_out(5)
    inner_results = outer.result(timeout=120)  # inner tasks appear at run time: planned in automatic rounds
    assert len(inner_results) == 5
    inner = [t for t in dfk._records.values() if t.func_name == "node_task" and t.dynamic]
    assert len(inner) >= 5
    for task in inner:
        assert task.tid in dfk.saga_assignments
        assert task.actual is not None and task.actual.node == dfk.saga_assignments[task.tid].node


def test_task_exception_propagates_as_in_plain_parsl(kernel: Any, apps: Any) -> None:
    dfk, _ = kernel
    bad = apps.fail("boom-7")
    after = apps.add(bad, 1)
    dfk.execute()
    exc = bad.exception(timeout=120)
    assert type(exc) is ValueError and str(exc) == "boom-7"
    with pytest.raises(ValueError, match="boom-7"):
        bad.result()
    with pytest.raises(DependencyError):
        after.result(timeout=120)


def test_portfolio_and_upstream_errors_are_typed(kernel: Any) -> None:
    with pytest.raises(saga_graphs.errors.UnknownSchedulerError, match="NOPE"):
        from saga_dfk import SagaConfig

        SagaConfig(saga_scheduler=["HEFT", "NOPE"])

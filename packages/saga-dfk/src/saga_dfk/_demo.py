"""The built-in demo: a four-task diamond and a fork-join DAG, under SAGA planning and under stock placement.

Runs on a local virtual cluster (parsl_affinity_htex) so it needs no cluster and finishes on a 2-core
machine in about a minute. Task bodies sleep for their declared cost, so plan and reality can be
compared honestly; their outputs are real byte strings of the declared size.
"""

from __future__ import annotations

import logging
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from parsl import python_app
from parsl.dataflow.futures import AppFuture

import saga_graphs
from parsl_affinity_htex import RunRecord

from ._config import SagaConfig
from ._dfk import OPT_OUT_KEY
from ._loader import load
from ._report import actual_run, describe_planned_span, gantt_tasks

__all__ = [
    "DEFAULT_NODES",
    "DemoResult",
    "diamond_spec",
    "fork_join_spec",
    "run_demo",
    "schedule_from_report",
]

log = logging.getLogger(__name__)

#: Three node-labelled pools with different slot counts (6 slots on a 2-core machine: tasks mostly sleep).
DEFAULT_NODES: dict[str, int] = {"node-a": 3, "node-b": 2, "node-c": 1}


@dataclass(frozen=True)
class DemoTask:
    """One task of a built-in workflow: cost in seconds (speed-1 core), output size in bytes."""

    key: str
    cost: float
    size: int
    parents: tuple[str, ...] = ()


def diamond_spec() -> list[DemoTask]:
    """The diamond: t1 0.5 s -> (t2 2.0 s, t3 1.0 s) -> t4 0.5 s, free transfers."""
    return [
        DemoTask("t1", 0.5, 0),
        DemoTask("t2", 2.0, 0, ("t1",)),
        DemoTask("t3", 1.0, 0, ("t1",)),
        DemoTask("t4", 0.5, 0, ("t2", "t3")),
    ]


def fork_join_spec(stages: int = 3, width: int = 16, seed: int = 7) -> list[DemoTask]:
    """source -> stages x (width uneven tasks -> join): 1 + stages*(width+1) tasks (52 by default)."""
    rng = random.Random(seed)
    tasks = [DemoTask("src", 0.2, 20_000)]
    previous = "src"
    for s in range(stages):
        members = []
        for i in range(width):
            key = f"s{s}.{i}"
            tasks.append(
                DemoTask(
                    key,
                    round(rng.choice([0.1, 0.2, 0.3, 0.6, 1.0, 1.4]), 2),
                    rng.choice([10_000, 100_000, 400_000]),
                    (previous,),
                )
            )
            members.append(key)
        join = f"join{s}"
        tasks.append(DemoTask(join, 0.2, 20_000, tuple(members)))
        previous = join
    return tasks


def _make_app() -> Callable[..., AppFuture]:
    """The demo's app, built in a function so it is serialized by value (workers need not import us)."""

    def demo_task(
        key: str,
        seconds: float,
        size: int,
        *deps: Any,
        parsl_resource_specification: dict[str, Any] = {},  # noqa: B006 - Parsl reads it, nobody mutates it
    ) -> bytes:
        import time as _time

        _time.sleep(seconds)
        return b"x" * size

    return python_app(demo_task)  # type: ignore[no-any-return]


def submit_workflow(
    spec: Sequence[DemoTask], app: Callable[..., AppFuture], costs: saga_graphs.DeclaredCostModel | None
) -> dict[str, AppFuture]:
    """Submit a workflow in topological order; declare each task's cost and size under the Parsl task id
    its AppFuture got (the demo's tasks share one function, so only the task id tells them apart).

    Without a cost model the tasks opt out of planning (``saga_plan: False``): stock placement.
    """
    futures: dict[str, AppFuture] = {}
    for task in spec:
        extra = {} if costs is not None else {"parsl_resource_specification": {OPT_OUT_KEY: False}}
        fut = app(task.key, task.cost, task.size, *[futures[p] for p in task.parents], **extra)
        if costs is not None:
            costs.declare(fut.tid, cost=task.cost, output_size=task.size)
            set_label = getattr(fut.task_record["dfk"], "set_task_label", None)
            if set_label is not None:  # the caller's name for the task, for the report and the chart
                set_label(fut, task.key)
        futures[task.key] = fut
    return futures


@dataclass
class DemoResult:
    """What the demo measured (also printed)."""

    report_path: Path
    gantt_path: Path
    saga_makespan: float | None
    planned_makespan: float | None
    stock_makespan: float | None
    on_planned_node: float | None
    diamond_nodes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class _Progress:
    """A live one-line progress display (carriage return on a terminal, sparse lines otherwise)."""

    def __init__(self, out: IO[str], label: str, total: int, count: Callable[[], tuple[int, int]]) -> None:
        self.out, self.label, self.total, self.count = out, label, total, count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="saga-demo-progress")
        self._tty = bool(getattr(out, "isatty", lambda: False)())

    def __enter__(self) -> _Progress:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._line(final=True)

    def _line(self, final: bool = False) -> None:
        done, running = self.count()
        text = (
            f"[{self.label}] {done}/{self.total} done, {running} launched, "
            f"{time.monotonic() - self._started:5.1f} s"
        )
        if self._tty:
            self.out.write("\r" + text + ("\n" if final else ""))
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def _run(self) -> None:
        period = 0.25 if self._tty else 2.0
        while not self._stop.wait(period):
            self._line()


def _wait_for_nodes(executor: Any, nodes: Mapping[str, int], timeout: float = 90.0) -> float:
    """Block until every virtual node has a pool; returns seconds waited."""
    start = time.monotonic()
    while set(executor.connected_nodes()) < set(nodes):
        if time.monotonic() - start > timeout:
            raise TimeoutError(
                f"only {sorted(executor.connected_nodes())} of {sorted(nodes)} connected after {timeout:g} s"
            )
        time.sleep(0.2)
    return time.monotonic() - start


def _run_records(futures: Mapping[str, AppFuture]) -> list[RunRecord]:
    """The RunRecords of the tasks that ran (worker clocks), from their executor futures: the executor's
    own for stock tasks, saga-dfk's proxy (which carries the same record) for planned ones."""
    runs = (getattr(f.task_record.get("exec_fu"), "run_record", None) for f in futures.values())
    return [r for r in runs if r is not None]


def _warm_up(app: Callable[..., AppFuture], slots: int) -> None:
    """Run a few unplanned no-op tasks so every worker process has started before the timed runs."""
    futures = [
        app("warm-up", 0.3, 0, parsl_resource_specification={OPT_OUT_KEY: False}) for _ in range(2 * slots)
    ]
    for fut in futures:
        fut.result()


def schedule_from_report(report: Mapping[str, Any]) -> tuple[saga_graphs.Schedule, dict[str, RunRecord]]:
    """Rebuild the combined plan and the actual runs (RunRecords on the plan clock) from a run report,
    for Gantt charts."""
    placements: dict[str, saga_graphs.Placement] = {}
    actual: dict[str, RunRecord] = {}
    for row in report["tasks"]:
        name = str(row["name"])  # the task id (t13); function and label come from gantt_tasks(report)
        p = row.get("planned")
        if p:
            placements[name] = saga_graphs.Placement(
                name, p["node"], int(p.get("slot", 0)), p["start"], p["end"]
            )
        run = actual_run(row)
        if run is not None:
            actual[name] = run
    scheduler = report.get("scheduler")
    return saga_graphs.Schedule(placements, str(scheduler), {}), actual


def _table(report: Mapping[str, Any], keys: Mapping[int, str]) -> str:
    lines = [
        f"{'task':>6} {'id':>4} {'plan node':>9} {'start':>6} {'end':>6} | {'ran on':>7} {'start':>6} {'end':>6}"
    ]
    for row in report["tasks"]:
        if row["id"] not in keys:
            continue
        p, a = row.get("planned") or {}, row.get("actual") or {}
        mark = "" if not a or not p or a.get("node") == p.get("node") else "  OFF-PLAN"
        lines.append(
            f"{keys[row['id']]:>6} {row['id']:>4} {p.get('node', '-'):>9} {p.get('start', 0):6.2f} "
            f"{p.get('end', 0):6.2f} | {a.get('node', '-'):>7} {a.get('start', 0):6.2f} {a.get('end', 0):6.2f}"
            f"{mark}"
        )
    return "\n".join(lines)


def run_demo(
    *,
    nodes: Mapping[str, int] | None = None,
    scheduler: str | Sequence[str] = "HEFT",
    report_path: str | Path = "saga-demo-report.json",
    topology: Any = None,
    out: IO[str] | None = None,
    stock: bool = True,
) -> DemoResult:
    """Run the demo end to end; print the tables and summary to ``out``; write report JSON + Gantt HTML."""
    from parsl_affinity_htex import LocalVirtualCluster

    out = out if out is not None else sys.stdout  # looked up per call: sys.stdout may be replaced

    began = time.monotonic()
    # The interchange and pools (`python -m parsl_affinity_htex...`) get our import path from the virtual
    # cluster itself, on their command line: nothing to export (the user's os.environ stays as it is).
    nodes = dict(nodes or DEFAULT_NODES)
    report = Path(report_path)
    gantt = report.with_suffix(".html")
    run_dir = tempfile.mkdtemp(prefix="saga-demo-")
    cluster = LocalVirtualCluster(nodes)
    out.write(
        f"saga-dfk demo: local virtual cluster {' '.join(f'{n}={s}' for n, s in nodes.items())} "
        f"({sum(nodes.values())} slots), scheduler {scheduler}\n"
    )
    app = _make_app()
    costs = saga_graphs.DeclaredCostModel()  # each task declared under its task id as it is submitted
    executor_options: dict[str, Any] = {
        "heartbeat_period": 2,
        "heartbeat_threshold": 10,
        "affinity_grace_period": 10.0,
    }
    config = SagaConfig(
        executors=[cluster.executor(label="saga", **executor_options)],
        saga_scheduler=scheduler,
        cost_model=costs,
        planning="explicit",
        min_nodes=len(nodes),
        node_wait_timeout=90.0,
        topology=topology,
        strategy_period=0.5,
        run_dir=run_dir,
        initialize_logging=False,
    )
    dfk = load(config)
    try:
        waited = _wait_for_nodes(dfk.executors["saga"], nodes)
        out.write(f"pools connected: {len(nodes)}/{len(nodes)} nodes after {waited:.1f} s\n")
        _warm_up(app, sum(nodes.values()))

        out.write("\n== diamond (costs: t1 0.5 s -> t2 2.0 s, t3 1.0 s -> t4 0.5 s; free transfers)\n")
        diamond = submit_workflow(diamond_spec(), app, costs)
        dfk.execute()
        for fut in diamond.values():
            fut.result()
        keys = {f.tid: k for k, f in diamond.items()}
        out.write(_table(dfk.run_report(), keys) + "\n")

        spec = fork_join_spec()
        out.write(f"\n== fork-join under SAGA planning ({len(spec)} tasks, uneven costs and data sizes)\n")
        forkjoin = submit_workflow(spec, app, costs)
        dfk.execute()
        fj_ids = {f.tid for f in forkjoin.values()}

        def saga_count() -> tuple[int, int]:
            done = sum(1 for f in forkjoin.values() if f.done())
            launched = sum(1 for f in forkjoin.values() if f.task_record.get("exec_fu") is not None)
            return done, launched

        with _Progress(out, "saga", len(spec), saga_count):
            for fut in forkjoin.values():
                fut.result()
        saga_report = dfk.run_report()
        fj_keys = {f.tid: k for k, f in forkjoin.items()}
        out.write(_table(saga_report, fj_keys) + "\n")
        fj_rows = [r for r in saga_report["tasks"] if r["id"] in fj_ids]
        planned_fj = saga_graphs.span(dfk.saga_assignments[t] for t in fj_ids if t in dfk.saga_assignments)
        saga_fj = saga_graphs.span(_run_records(forkjoin))
        per_node: dict[str, int] = {}
        for r in fj_rows:
            if r["actual"]:
                per_node[r["actual"]["node"]] = per_node.get(r["actual"]["node"], 0) + 1
        out.write(f"where fork-join tasks ran: {dict(sorted(per_node.items()))}\n")

        stock_span: float | None = None
        if stock:
            out.write(
                f"\n== the same fork-join under stock HTEx placement (untagged tasks, same pools, {len(spec)} tasks)\n"
            )
            stock_futs = submit_workflow(spec, app, None)

            def stock_count() -> tuple[int, int]:
                done = sum(1 for f in stock_futs.values() if f.done())
                launched = sum(1 for f in stock_futs.values() if f.task_record.get("exec_fu") is not None)
                return done, launched

            with _Progress(out, "stock", len(spec), stock_count):
                for fut in stock_futs.values():
                    fut.result()
            stock_runs = _run_records(stock_futs)
            stock_span = saga_graphs.span(stock_runs)
            stock_nodes: dict[str, int] = {}
            for run in stock_runs:
                stock_nodes[run.node] = stock_nodes.get(run.node, 0) + 1
            out.write(f"where stock tasks ran: {dict(sorted(stock_nodes.items()))}\n")
    finally:
        dfk.cleanup()
    dfk.write_report(report)
    final = dfk.run_report()
    schedule, actual = schedule_from_report(final)
    saga_graphs.gantt_html(schedule, gantt, actual=actual, tasks=gantt_tasks(final))

    fid = final["fidelity"]
    diamond_nodes = {
        k: (final_row["actual"] or {}).get("node", "?")
        for k, f in diamond.items()
        for final_row in final["tasks"]
        if final_row["id"] == f.tid
    }
    result = DemoResult(
        report_path=report,
        gantt_path=gantt,
        saga_makespan=saga_fj,
        planned_makespan=planned_fj,
        stock_makespan=stock_span,
        on_planned_node=fid["on_planned_node"],
        diamond_nodes=diamond_nodes,
        seconds=time.monotonic() - began,
    )
    out.write("\n== summary\n")
    out.write(f"diamond ran on: {diamond_nodes}\n")
    if planned_fj is not None:
        fj_planned = [dfk.saga_assignments[t] for t in fj_ids if t in dfk.saga_assignments]
        _, fj_text = describe_planned_span(fj_planned, f"{len(fj_planned)} fork-join tasks")
        out.write(f"fork-join planned makespan: {fj_text}\n")
        all_planned = [r["planned"] for r in final["tasks"] if r.get("planned")]
        _, all_text = describe_planned_span(all_planned, f"{len(all_planned)} tasks in the report")
        out.write(f"report planned makespan (diamond + fork-join, as `saga-dfk report` prints): {all_text}\n")
    if saga_fj is not None:
        out.write(f"fork-join actual makespan under SAGA: {saga_fj:.2f} s\n")
    if stock_span is not None:
        out.write(f"fork-join makespan under stock placement: {stock_span:.2f} s\n")
    on = fid["on_planned_node"]
    out.write(
        f"tasks on their planned node: {on * 100:.1f}% of {fid['tasks_compared']} "
        f"(off-plan: {len(fid['off_plan_tasks'])})\n"
        if on is not None
        else "tasks on their planned node: n/a\n"
    )
    out.write(f"report: {report}\ngantt:  {gantt}\ndemo took {result.seconds:.1f} s\n")
    out.flush()
    return result

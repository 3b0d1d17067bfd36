"""The built-in demo: the seed's diamond and a fork-join DAG, under SAGA planning and under stock placement.

Runs on a local virtual cluster (parsl_affinity_htex) so it needs no cluster and finishes on a 2-core
machine in about a minute. Task bodies sleep for their declared cost, so plan and reality can be
compared honestly; their outputs are real byte strings of the declared size.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog
from parsl import python_app
from parsl.dataflow.futures import AppFuture

import saga_graphs

from ._config import SagaConfig
from ._dfk import OPT_OUT_KEY
from ._loader import load

__all__ = [
    "DEFAULT_NODES",
    "DemoResult",
    "TableCostModel",
    "diamond_spec",
    "fork_join_spec",
    "run_demo",
    "schedule_from_report",
]

log = structlog.get_logger(__name__)

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
    """The seed's diamond: t1 0.5 s -> (t2 2.0 s, t3 1.0 s) -> t4 0.5 s, free transfers."""
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


class TableCostModel(saga_graphs.CostModel):
    """Costs and sizes declared per task id (the demo knows each task's cost when it submits it).

    The CostModel interface keys on (function name, task id); the demo's tasks share one function, so
    the table is filled with each AppFuture's tid right after submission, before planning.
    """

    def __init__(self) -> None:
        self.costs: dict[int, float] = {}
        self.sizes: dict[int, float] = {}
        self.observed: list[tuple[str, float, float]] = []

    def declare(self, task_id: int, cost: float, size: float) -> None:
        self.costs[task_id] = cost
        self.sizes[task_id] = size

    def cost(self, function_name: str, task_id: str | int | None = None) -> float:
        return self.costs.get(int(task_id), 1.0) if task_id is not None else 1.0

    def output_size(self, function_name: str, task_id: str | int | None = None) -> float:
        return self.sizes.get(int(task_id), 0.0) if task_id is not None else 0.0

    def observe(
        self, function_name: str, duration: float, output_size: float = 0.0, *, speed: float = 1.0
    ) -> None:
        self.observed.append((function_name, duration * speed, output_size))


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
    spec: Sequence[DemoTask], app: Callable[..., AppFuture], costs: TableCostModel | None
) -> dict[str, AppFuture]:
    """Submit a workflow in topological order; declare each task's cost under its Parsl task id.

    Without a cost table the tasks opt out of planning (``saga_plan: False``): stock placement.
    """
    futures: dict[str, AppFuture] = {}
    for task in spec:
        extra = {} if costs is not None else {"parsl_resource_specification": {OPT_OUT_KEY: False}}
        fut = app(task.key, task.cost, task.size, *[futures[p] for p in task.parents], **extra)
        if costs is not None:
            costs.declare(fut.tid, task.cost, task.size)
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


def _span(futures: Mapping[str, AppFuture]) -> float | None:
    """Latest end minus earliest start of the tasks' run records (worker clocks)."""
    records = [f.task_record.get("exec_fu") for f in futures.values()]
    runs: list[Any] = [getattr(r, "run_record", None) for r in records]
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    return max(r.end for r in runs) - min(r.start for r in runs)


def _report_span(runs: Sequence[Mapping[str, Any]]) -> float | None:
    if not runs:
        return None
    return max(float(r["end"]) for r in runs) - min(float(r["start"]) for r in runs)


def _warm_up(app: Callable[..., AppFuture], slots: int) -> None:
    """Run a few unplanned no-op tasks so every worker process has started before the timed runs."""
    futures = [
        app("warm-up", 0.3, 0, parsl_resource_specification={OPT_OUT_KEY: False}) for _ in range(2 * slots)
    ]
    for fut in futures:
        fut.result()


def schedule_from_report(report: Mapping[str, Any]) -> tuple[saga_graphs.Schedule, dict[str, Any]]:
    """Rebuild the combined plan and the actual runs from a run report (for Gantt charts)."""
    placements: dict[str, saga_graphs.Placement] = {}
    actual: dict[str, Any] = {}
    for row in report["tasks"]:
        name = f"{row['name']} {row['function']}"
        p = row.get("planned")
        if p:
            placements[name] = saga_graphs.Placement(
                name, p["node"], int(p.get("slot", 0)), p["start"], p["end"]
            )
        a = row.get("actual")
        if a:
            actual[name] = _Run(a["node"], a["start"], a["end"])
    scheduler = report.get("scheduler")
    return saga_graphs.Schedule(placements, str(scheduler), {}), actual


@dataclass(frozen=True)
class _Run:
    node: str
    start: float
    end: float


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
    # The interchange and pools run `python -m parsl_affinity_htex...`; from a PEX or a source checkout
    # they find our modules only through PYTHONPATH.
    paths = [os.path.abspath(p) for p in sys.path if p]
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + inherited))
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
    costs = TableCostModel()
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

        out.write("\n== diamond (seed costs: t1 0.5 s -> t2 2.0 s, t3 1.0 s -> t4 0.5 s; free transfers)\n")
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
        planned_iv = [(r["planned"]["start"], r["planned"]["end"]) for r in fj_rows if r["planned"]]
        planned_fj = max(e for _, e in planned_iv) - min(s for s, _ in planned_iv) if planned_iv else None
        saga_fj = _report_span([r["actual"] for r in fj_rows if r["actual"]])
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
            stock_span = _span(stock_futs)
            stock_nodes: dict[str, int] = {}
            for fut in stock_futs.values():
                run = getattr(fut.task_record.get("exec_fu"), "run_record", None)
                if run is not None:
                    stock_nodes[run.node] = stock_nodes.get(run.node, 0) + 1
            out.write(f"where stock tasks ran: {dict(sorted(stock_nodes.items()))}\n")
    finally:
        dfk.cleanup()
    dfk.write_report(report)
    final = dfk.run_report()
    schedule, actual = schedule_from_report(final)
    saga_graphs.gantt_html(schedule, gantt, actual=actual)

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
        out.write(f"fork-join planned makespan: {planned_fj:.2f} s\n")
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

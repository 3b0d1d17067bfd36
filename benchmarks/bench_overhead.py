"""Overhead benchmark: driver CPU per task that saga_dfk adds to plain Parsl, at 10,000 tasks.

Why: a planner must not cost the driver more than it saves; the target is <= 0.2 ms of driver CPU per
task for graph building + planning + release. Both kernels run the same 10,000-task workflow (100 layers x
100 no-op tasks, each task reading the results of two tasks of the layer above) on the same kind of executor
(an AffinityHighThroughputExecutor on a 2-node LocalVirtualCluster), side by side in one process tree:

* plain: ``parsl.load(Config(...))``, tasks untagged (the executor's shared queue, as stock HTEx);
* saga:  ``saga_dfk`` (explicit planning, HEFT, UniformCostModel): all tasks held, one ``execute()`` builds
  the graph, plans it, tags and releases every task.

Headline = (driver process CPU of saga - of plain) / tasks, with ``time.process_time()`` from the first
submit to the last result (pools have registered before; interchange and workers are other processes and
not counted). Runs alternate plain, saga, plain, saga... The saga kernel is the one ``saga_dfk.load`` returns,
with timers wrapped around its own per-phase methods (``PhaseTimers``, ``time.thread_time()``: register = per-task bookkeeping at submit; plan = graph building
and HEFT; assign = tagging; release = letting upstream launch, which includes executor submits of tasks whose
parents are done, work plain Parsl does too; record = per-result bookkeeping); the wrappers cost ~1 us per
call and count against saga.

    ./pants run benchmarks/bench_overhead.py                   # 10,000 tasks, 1 round (~2-3 min)
    ./pants run benchmarks/bench_overhead.py -- --quick        # 2,000 tasks
    PYTHONPATH=packages/saga-dfk/src:packages/saga-graphs/src:packages/parsl-affinity-htex/src:support:benchmarks \\
        python benchmarks/bench_overhead.py [--tasks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import parsl
from _common import format_table, machine_info, quiet_logging
from parsl import python_app
from parsl.config import Config
from parsl.dataflow.dflow import DataFlowKernel

import saga_dfk
import saga_graphs
from parsl_affinity_htex import AffinityHighThroughputExecutor, LocalVirtualCluster
from repo_support.waiting import wait_until

TARGET_MS_PER_TASK = 0.2
NODES = {"node-a": 2, "node-b": 2}
LABEL = "overhead"
PHASES = ("register", "plan", "assign", "release", "record")


def noop(*parents: Any, parsl_resource_specification: dict[str, Any] | None = None) -> None:
    """The task body: nothing (the driver's cost per task is what is measured)."""
    return None


#: The kernel's own per-phase methods (timed by PhaseTimers) -> the phase they count towards.
PHASE_METHODS = {
    "_register": "register",
    "_plan": "plan",
    "_assign": "assign",
    "_release": "release",
    "_record_actual": "record",
}


class PhaseTimers:
    """CPU timers (``thread_time``) around a loaded kernel's per-phase methods; ``plan_wall`` for planning.

    Installed on the instance ``saga_dfk.load`` returned (its methods call each other through ``self``, so
    instance attributes wrap every call); ``reset()`` drops what was counted so far.
    """

    def __init__(self, dfk: saga_dfk.SagaDataFlowKernel) -> None:
        self.phase_cpu: dict[str, float] = defaultdict(float)
        self.phase_calls: dict[str, int] = defaultdict(int)
        self.plan_wall = 0.0
        for method, phase in PHASE_METHODS.items():
            setattr(dfk, method, self._timed(phase, getattr(dfk, method)))

    def _timed(self, phase: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began, wall = time.thread_time(), time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.phase_cpu[phase] += time.thread_time() - began
                self.phase_calls[phase] += 1
                if phase == "plan":
                    self.plan_wall += time.perf_counter() - wall

        return timed

    def reset(self) -> None:
        self.phase_cpu.clear()
        self.phase_calls.clear()
        self.plan_wall = 0.0


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user+system) of every live thread of this process, by thread name (Linux /proc).

    Why: process CPU says how much saga_dfk adds, per-thread CPU says where (the submitting main thread,
    the planner thread, the executor's result thread ...). Empty where /proc is unavailable.
    """
    import os
    import threading

    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = defaultdict(float)
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields after "(comm)": state is [0]; utime and stime are stat fields 14 and 15 -> [11], [12]
        out[_thread_kind(thread.name)] += (int(fields[11]) + int(fields[12])) / ticks
    return dict(out)


def _thread_kind(name: str) -> str:
    """Group numbered threads (``Thread-12 (...)``) by their target, so runs are comparable."""
    if name.startswith("Thread-") and "(" in name:
        return name.split("(", 1)[1].rstrip(")")
    return re.sub(r"[-_]\d+$", "", name)


def _executor() -> AffinityHighThroughputExecutor:
    return LocalVirtualCluster(NODES).executor(label=LABEL, heartbeat_period=2, heartbeat_threshold=30)


def _wait_for_pools(executor: AffinityHighThroughputExecutor, timeout: float = 180.0) -> None:
    wait_until(
        lambda: {n: c.slots for n, c in executor.connected_nodes().items()} == NODES,
        timeout,
        f"pools {NODES} to register",
        period=0.3,
    )


def planner_process_cpu() -> dict[int, float]:
    """CPU seconds of this process's saga_graphs worker children (SAGA schedulers run there), by pid (/proc).

    Why: a scheduler run in saga_graphs' killable worker process costs the driver machine CPU that
    ``process_time()`` of the driver does not see; it is added to saga's side.
    """
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out: dict[int, float] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ")
        except OSError:
            continue
        # after "(comm)": [0] state, [1] ppid, ..., [11] utime, [12] stime (clock ticks)
        if int(fields[1]) == me and b"saga_graphs._worker" in cmdline:
            out[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def run_once(
    kind: str, tasks: int, width: int, run_dir: str, scheduler: str, time_budget: float
) -> dict[str, Any]:
    """One run: returns driver CPU seconds, wall seconds, and (saga) phase CPU."""
    executor = _executor()
    dfk: DataFlowKernel
    timers: PhaseTimers | None = None
    if kind == "saga":
        saga = saga_dfk.load(
            saga_dfk.SagaConfig(
                executors=[executor],
                saga_scheduler=scheduler,
                time_budget=time_budget,
                cost_model=saga_graphs.UniformCostModel(),
                planning="explicit",
                min_nodes=len(NODES),
                strategy="none",
                run_dir=run_dir,
            )
        )
        timers, dfk = PhaseTimers(saga), saga
    else:
        dfk = parsl.load(Config(executors=[executor], strategy="none", run_dir=run_dir))
    try:
        _wait_for_pools(executor)
        app = python_app(noop, executors=[LABEL])
        # warm the path (first task imports, connections) outside the measurement; opted out of planning
        app(parsl_resource_specification={"saga_plan": False} if kind == "saga" else {}).result(timeout=120)
        if timers is not None:
            timers.reset()
        threads0, workers0 = thread_cpu(), planner_process_cpu()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        futures: list[Any] = []
        for i in range(tasks):
            layer, col = divmod(i, width)
            parents = (
                () if layer == 0 else (futures[i - width], futures[(layer - 1) * width + (col + 1) % width])
            )
            futures.append(app(*parents, parsl_resource_specification={}))
        if isinstance(dfk, saga_dfk.SagaDataFlowKernel):
            dfk.execute()
        for fut in futures:
            fut.result(timeout=900)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        threads = {n: round(v - threads0.get(n, 0.0), 2) for n, v in thread_cpu().items()}
        worker_cpu = sum(v - workers0.get(pid, 0.0) for pid, v in planner_process_cpu().items())
        out: dict[str, Any] = {
            "kind": kind,
            "cpu_s": cpu,
            "planner_process_cpu_s": worker_cpu,
            "wall_s": wall,
            "thread_cpu_s": threads,
        }
        if timers is not None:
            assert isinstance(dfk, saga_dfk.SagaDataFlowKernel)
            out["phase_cpu_s"] = {p: timers.phase_cpu.get(p, 0.0) for p in PHASES}
            out["phase_calls"] = {p: timers.phase_calls.get(p, 0) for p in PHASES}
            out["plan_wall_s"] = timers.plan_wall
            planned = sum(1 for f in futures if f.tid in dfk.saga_assignments)
            if planned != tasks:
                raise AssertionError(f"saga planned {planned} of {tasks} tasks")
        return out
    finally:
        dfk.cleanup()
        parsl.clear()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per run (default 10000)")
    parser.add_argument("--rounds", type=int, default=1, help="plain+saga run pairs (default 1)")
    parser.add_argument("--quick", action="store_true", help="2,000 tasks")
    parser.add_argument("--scheduler", default="HEFT", help="saga_graphs scheduler name (default HEFT)")
    parser.add_argument(
        "--time-budget", type=float, default=600.0, help="planning time budget, s (default 600)"
    )
    args = parser.parse_args(argv)
    tasks = 2_000 if args.quick else args.tasks
    width = 100
    if tasks < width or tasks % width or args.rounds < 1:
        parser.error(
            f"--tasks must be a multiple of {width} (>= {width}) and --rounds >= 1; got {tasks}, {args.rounds}"
        )
    quiet_logging()

    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "saga": []}
    with tempfile.TemporaryDirectory(prefix="bench_overhead_") as tmp:
        for round_no in range(args.rounds):
            for kind in ("plain", "saga"):
                run = run_once(
                    kind,
                    tasks,
                    width,
                    str(Path(tmp) / f"runinfo-{kind}-{round_no}"),
                    args.scheduler,
                    args.time_budget,
                )
                runs[kind].append(run)
                print(
                    f"round {round_no + 1}/{args.rounds} {kind:5s}: driver CPU {run['cpu_s']:7.2f} s, "
                    f"wall {run['wall_s']:7.2f} s",
                    flush=True,
                )

    plain_cpu = statistics.median(r["cpu_s"] for r in runs["plain"])
    saga_cpu = statistics.median(r["cpu_s"] + r["planner_process_cpu_s"] for r in runs["saga"])
    worker_cpu = statistics.median(r["planner_process_cpu_s"] for r in runs["saga"])
    plan_wall = statistics.median(r["plan_wall_s"] for r in runs["saga"])
    added_ms = (saga_cpu - plain_cpu) / tasks * 1e3
    phases = {p: statistics.median(r["phase_cpu_s"][p] for r in runs["saga"]) for p in PHASES}
    planner_thread = statistics.median(r["thread_cpu_s"].get("saga-planner", 0.0) for r in runs["saga"])
    own_s = sum(phases[p] for p in ("register", "plan", "assign", "record")) + planner_thread + worker_cpu
    own_ms = own_s / tasks * 1e3
    print()
    print(
        f"Driver CPU for {tasks} tasks ({tasks // width} layers x {width}, 2 parents each), median of {args.rounds}"
    )
    rows: list[list[Any]] = [
        ["plain Parsl DFK", plain_cpu, plain_cpu / tasks * 1e3],
        ["saga_dfk DFK (+ planner process)", saga_cpu, saga_cpu / tasks * 1e3],
        ["added by saga_dfk", saga_cpu - plain_cpu, added_ms],
    ]
    rows += [[f"  phase: {p}", phases[p], phases[p] / tasks * 1e3] for p in PHASES]
    rows += [
        ["  saga-planner thread", planner_thread, planner_thread / tasks * 1e3],
        ["  planner worker process", worker_cpu, worker_cpu / tasks * 1e3],
        ["saga's own (phases excl. release, threads, worker)", own_s, own_ms],
    ]
    print(format_table(["kernel / phase", "CPU s", "ms per task"], rows))
    print("\nDriver CPU by thread (s, last run of each kernel; threads alive at the end):")
    names = sorted(set(runs["plain"][-1]["thread_cpu_s"]) | set(runs["saga"][-1]["thread_cpu_s"]))
    print(
        format_table(
            ["thread", "plain", "saga"],
            [
                [n, runs["plain"][-1]["thread_cpu_s"].get(n), runs["saga"][-1]["thread_cpu_s"].get(n)]
                for n in names
            ],
        )
    )
    print(f"planning: scheduler {args.scheduler!r}, wall {plan_wall:.2f} s for {tasks} tasks")
    print(
        f"target added CPU <= {TARGET_MS_PER_TASK} ms/task: process difference {added_ms:.3f} ms "
        f"{'met' if added_ms <= TARGET_MS_PER_TASK else 'MISSED'}; saga's own instrumented CPU {own_ms:.3f} ms "
        f"{'met' if own_ms <= TARGET_MS_PER_TASK else 'MISSED'}"
    )
    summary = {
        "benchmark": "overhead",
        "tasks": tasks,
        "rounds": args.rounds,
        "machine": machine_info(),
        "plain_cpu_s": [round(r["cpu_s"], 3) for r in runs["plain"]],
        "saga_cpu_s": [round(r["cpu_s"] + r["planner_process_cpu_s"], 3) for r in runs["saga"]],
        "plain_wall_s": [round(r["wall_s"], 3) for r in runs["plain"]],
        "saga_wall_s": [round(r["wall_s"], 3) for r in runs["saga"]],
        "saga_over_plain_cpu": round(saga_cpu / plain_cpu, 4),
        "added_ms_per_task": round(added_ms, 4),
        "saga_own_ms_per_task": round(own_ms, 4),
        "scheduler": args.scheduler,
        "plan_wall_s": round(plan_wall, 3),
        "planner_process_cpu_s": round(worker_cpu, 3),
        "thread_cpu_s": {
            "plain": runs["plain"][-1]["thread_cpu_s"],
            "saga": runs["saga"][-1]["thread_cpu_s"],
        },
        "saga_phase_ms_per_task": {p: round(v / tasks * 1e3, 4) for p, v in phases.items()},
        "target_ms_per_task": TARGET_MS_PER_TASK,
        "meets_target": added_ms <= TARGET_MS_PER_TASK and own_ms <= TARGET_MS_PER_TASK,
    }
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])

"""Overhead benchmark: driver CPU and memory that saga_dfk adds to plain Parsl, at 100,000 tasks, rolling.

Why: a planner must not cost the driver more than it saves. Target: at 100,000 tasks
planned in rolling rounds while they are submitted, <= 0.1 ms of driver CPU per task over plain Parsl, and
driver memory after the caller dropped its futures within 50 MB of plain Parsl's. Both kernels run the same
workflow (layers of 100 no-op tasks, each task reading the results of two tasks of the layer above; 1,000
layers at 100,000 tasks) on the same kind of executor (an AffinityHighThroughputExecutor on a 2-node
LocalVirtualCluster), side by side in one process tree:

* plain: ``parsl.load(Config(...))``, tasks untagged (the executor's shared queue, as stock HTEx);
* saga:  ``saga_dfk`` (HEFT, UniformCostModel, the defaults otherwise): ``--planning auto`` (default) plans
  the tasks in rounds while they are submitted (a round when submissions settle for ``settle_window`` or
  ``round_threshold`` tasks are held); ``--planning explicit`` holds them all and plans them in one
  ``execute()``.

CPU headline = (driver process CPU of saga + its saga_graphs worker processes - of plain) / tasks, with
``time.process_time()`` from the first submit to the last result (pools have registered before; interchange
and workers are other processes and not counted). Runs alternate plain, saga, plain, saga...

Memory headline = growth of the driver's RSS (``/proc/self/statm``) from just before the submit loop to
after the last result arrived, the caller dropped its futures and one more independent task ran
(``gc.collect()`` and glibc ``malloc_trim(0)`` before both readings, so freed heap is not counted; the
untrimmed figure is printed too), saga minus plain. The extra task matters: until the executor's result
thread gets its next result, its loop variable holds the last task's future, which reaches the whole DAG
(done-callbacks and ``task_record["depends"]``), so RSS right after the drop (also printed, "before next
result") is Parsl's own retention of every task, in both kernels. Also printed: ``len(dfk.tasks)`` and,
for saga, its records (how many, how many still hold Parsl's TaskRecord, a ``sys.getsizeof`` walk of
their size, by field).

The saga kernel is the one ``saga_dfk.load`` returns, with CPU timers (``time.thread_time()``, per thread,
*self* time: a timed call nested in another is subtracted from it) around its per-task methods
(``PhaseTimers``): register = ``_register`` (first launch_if_ready: bookkeeping); plan = ``plan_round``
(graph + HEFT; wrapped as the ``plan_round`` attribute of the module the kernel class lives in, for the saga
run only); round = the rest of ``_run_round`` (snapshot, release to Parsl); assign = ``_apply`` (tagging);
queue = ``launch_task`` (dependencies done: into the node queue); dispatch = ``_take_dispatchable`` +
``_dispatch``; record = ``_record_actual`` + ``_on_exec_done``; finish = ``_on_app_done`` (compacting the
record); drift = ``_check_drift``; upstream = Parsl's own work run from saga's hooks, which plain Parsl
does too and which is not counted as saga's own: ``DataFlowKernel.launch_task`` called by ``_dispatch``
(the executor submit; the class attribute is wrapped for the saga run only) and ``handle_exec_update`` run
inside saga's result callback. The wrappers cost ~1 us per call and count against saga. The number of
planning rounds and the cost of each are printed; on a miss the per-phase profile is printed again, as the
explanation.

While waiting for results a progress line is printed every minute. A run whose next result does not arrive
within ``--task-timeout`` s is reported as stuck (where that task stands in saga-dfk, the profile so far, a
JSON line with ``"completed": false``, exit status 1) and its run directory (parsl.log, with saga-dfk's
round log) is kept.

    ./pants run benchmarks/bench_overhead.py                   # 100,000 tasks, auto planning (~20 min)
    ./pants run benchmarks/bench_overhead.py -- --quick        # 2,000 tasks
    PYTHONPATH=packages/saga-dfk/src:packages/saga-graphs/src:packages/parsl-affinity-htex/src:support:benchmarks \\
        python benchmarks/bench_overhead.py [--tasks N] [--rounds R] [--planning auto|explicit] [--task-timeout S]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import parsl
from _common import format_table, machine_info, quiet_logging
from parsl import python_app
from parsl.config import Config
from parsl.dataflow.dflow import DataFlowKernel

import saga_dfk
import saga_graphs
from parsl_affinity_htex import AffinityHighThroughputExecutor, LocalVirtualCluster
from repo_support.waiting import wait_until

TARGET_MS_PER_TASK = 0.1
TARGET_MEMORY_MB = 50.0
NODES = {"node-a": 2, "node-b": 2}
LABEL = "overhead"
PHASES = ("register", "plan", "round", "assign", "queue", "dispatch", "record", "finish", "drift", "upstream")
#: phases that are saga-dfk's own work (upstream: Parsl's, run from saga's hooks; plain Parsl does it too)
OWN_PHASES = ("register", "plan", "round", "assign", "queue", "dispatch", "record", "finish", "drift")


def noop(*parents: Any, parsl_resource_specification: dict[str, Any] | None = None) -> None:
    """The task body: nothing (the driver's cost per task is what is measured)."""
    return None


#: The kernel's own per-task methods (timed by PhaseTimers on the instance) -> the phase they count towards.
PHASE_METHODS = {
    "_register": "register",
    "_run_round": "round",
    "_apply": "assign",
    "launch_task": "queue",
    "_take_dispatchable": "dispatch",
    "_dispatch": "dispatch",
    "_record_actual": "record",
    "_on_exec_done": "record",
    "_on_app_done": "finish",
    "_check_drift": "drift",
    "handle_exec_update": "upstream",
}


class _Tally:
    """One thread's counts (no lock needed: only its own thread writes them)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[float] = []  # per open timed call: CPU of the timed calls nested in it


class PhaseTimers:
    """Self-time CPU timers (``thread_time``) around a loaded kernel's per-task methods and ``plan_round``.

    Installed on the instance ``saga_dfk.load`` returned (its methods call each other through ``self``, so
    instance attributes wrap every call) and on the kernel module's ``plan_round`` (restored by
    ``uninstall``). Each thread keeps its own tally; a timed call nested in another (``_take_dispatchable``
    inside ``_on_exec_done``) counts for its own phase only. ``reset()`` drops what was counted so far.
    """

    def __init__(self, dfk: saga_dfk.SagaDataFlowKernel) -> None:
        self._local = threading.local()
        self._tallies: list[_Tally] = []
        self._tallies_lock = threading.Lock()
        #: per plan_round call: (tasks in the batch, tasks running around it, CPU s, wall s)
        self.rounds: list[tuple[int, int, float, float]] = []
        for method, phase in PHASE_METHODS.items():
            setattr(dfk, method, self._timed(phase, getattr(dfk, method)))
        # the name the kernel calls, in the module it lives in (looked up, not imported: benchmarks use the
        # public surface only, see saga-dfk's test_import_boundary.py)
        self._module: Any = cast(Any, sys.modules[type(dfk).__module__])
        self._plan_round = self._module.plan_round
        self._module.plan_round = self._timed("plan", self._plan_round, rounds=True)
        # upstream's launch_task, which _dispatch calls through the class (the executor submit: plain
        # Parsl's work too); the class attribute, put back by uninstall() before the next run
        self._launch_task = DataFlowKernel.launch_task
        DataFlowKernel.launch_task = self._timed("upstream", self._launch_task)  # type: ignore[method-assign]

    def uninstall(self) -> None:
        self._module.plan_round = self._plan_round
        DataFlowKernel.launch_task = self._launch_task  # type: ignore[method-assign]

    def _tally(self) -> _Tally:
        tally: _Tally | None = getattr(self._local, "tally", None)
        if tally is None:
            tally = self._local.tally = _Tally()
            with self._tallies_lock:
                self._tallies.append(tally)
        return tally

    def _timed(self, phase: str, call: Callable[..., Any], rounds: bool = False) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            tally = self._tally()
            tally.stack.append(0.0)
            began, wall = time.thread_time(), time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                inclusive = time.thread_time() - began
                tally.cpu[phase] += inclusive - tally.stack.pop()
                tally.calls[phase] += 1
                if tally.stack:
                    tally.stack[-1] += inclusive
                if rounds:
                    batch, running = kwargs.get("batch", ()), kwargs.get("running", ())
                    self.rounds.append((len(batch), len(running), inclusive, time.perf_counter() - wall))

        return timed

    def phase_cpu(self) -> dict[str, float]:
        with self._tallies_lock:
            return {p: sum(t.cpu.get(p, 0.0) for t in self._tallies) for p in PHASES}

    def phase_calls(self) -> dict[str, int]:
        with self._tallies_lock:
            return {p: sum(t.calls.get(p, 0) for t in self._tallies) for p in PHASES}

    def reset(self) -> None:
        with self._tallies_lock:
            for tally in self._tallies:
                tally.cpu.clear()
                tally.calls.clear()
        self.rounds.clear()


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user+system) of every live thread of this process, by thread name (Linux /proc).

    Why: process CPU says how much saga_dfk adds, per-thread CPU says where (the submitting main thread,
    the planner thread, the executor's result thread ...). Empty where /proc is unavailable.
    """
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


# ---------------------------------------------------------------------------------------------- memory
_LIBC: Any = None


def _malloc_trim() -> None:
    """Give freed heap back to the OS (glibc), so RSS shows what is still in use; no-op elsewhere."""
    global _LIBC
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
        except OSError:
            _LIBC = False
    if _LIBC and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def rss_mb() -> float:
    """Resident set size of this process, MiB (Linux /proc/self/statm; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def settled_rss_mb() -> tuple[float, float]:
    """(RSS after ``gc.collect()``, RSS after that and ``malloc_trim(0)``), MiB."""
    gc.collect()
    raw = rss_mb()
    _malloc_trim()
    return raw, rss_mb()


def deep_size(root: Any) -> int:
    """Bytes of ``root`` and everything it reaches through containers and our packages' objects
    (``sys.getsizeof``; other libraries' objects are counted themselves but not walked into)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    ours = ("saga_dfk", "saga_graphs", "parsl_affinity_htex")
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | deque):
            stack.extend(obj)
        elif type(obj).__module__.split(".")[0] in ours:
            for cls in type(obj).__mro__:
                slots = getattr(cls, "__slots__", ())
                for name in (slots,) if isinstance(slots, str) else slots:
                    if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                        stack.append(getattr(obj, name))
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
    return total


def _dispatch_state(dfk: saga_dfk.SagaDataFlowKernel) -> dict[str, Any]:
    """The kernel's per-node dispatch queues, in-flight counts and task -> node map, wherever they live
    (on the kernel, or on its ``_queues`` object); empty when neither layout is there."""
    q: Any = getattr(dfk, "_queues", None)
    holder: Any = dfk if isinstance(q, dict) else q
    queues = q if isinstance(q, dict) else getattr(q, "_queues", {})
    return {
        "queues": queues if isinstance(queues, dict) else {},
        "in_flight": getattr(holder, "_in_flight", {}),
        "dispatched_to": getattr(holder, "_dispatched_to", {}),
    }


def saga_records_after(dfk: saga_dfk.SagaDataFlowKernel) -> dict[str, Any]:
    """What saga-dfk still keeps per task once every task finished and the caller dropped its futures."""
    records = dfk._records
    open_tasks = list(records.open.values())
    return {
        "records": len(records),
        "records_holding_task_record": sum(1 for t in open_tasks if t.record is not None),
        "records_holding_proxy": sum(1 for t in open_tasks if t.proxy is not None),
        "records_open": len(records.open),
        "records_held": len(records.held),
        "records_size_mb": deep_size(records) / 2**20,
        "finished_columns_mb": deep_size(records.finished) / 2**20,
        "replan_entries": sum(len(v) for v in records.finished._replans.values())
        + sum(len(t.replans or ()) for t in open_tasks),
        "queued": sum(len(q) for q in _dispatch_state(dfk)["queues"].values()),
        "dispatched_to": len(_dispatch_state(dfk)["dispatched_to"]),
    }


# ---------------------------------------------------------------------------------------------- runs
def _submit_all(app: Any, tasks: int, width: int) -> list[Any]:
    """The workflow: layers of ``width`` tasks, each reading two tasks of the layer above."""
    futures: list[Any] = []
    for i in range(tasks):
        layer, col = divmod(i, width)
        parents = () if layer == 0 else (futures[i - width], futures[(layer - 1) * width + (col + 1) % width])
        futures.append(app(*parents, parsl_resource_specification={}))
    return futures


class Stuck(Exception):
    """A task's result did not arrive within ``--task-timeout`` seconds of waiting on it."""

    def __init__(self, index: int, waited: float) -> None:
        super().__init__(f"task #{index} of the workflow: no result after {waited:.0f} s of waiting on it")
        self.index, self.waited = index, waited


def _progress_text(dfk: DataFlowKernel, futures: list[Any], index: int) -> str:
    """One progress line (saga: its own cheap counts; plain: done() of the futures, which is cheap there)."""
    if isinstance(dfk, saga_dfk.SagaDataFlowKernel):
        p = dfk.progress()
        last = dfk._rounds[-1] if dfk._rounds else {}
        return (
            f"done {p['done']}/{p['total']}, running {p['running']}, held {p['held']}, failed {p['failed']}; "
            f"rounds {dfk._round} (last: {str(last.get('reason', '-'))[:40]}, new {last.get('tasks')}, "
            f"re-planned {last.get('replanned')}, moved {last.get('moved')}, {last.get('seconds')} s)"
        )
    return f"done {sum(1 for f in futures if f.done())}/{len(futures)}"


def _wait_all(
    dfk: DataFlowKernel, futures: list[Any], kind: str, task_timeout: float, every: float = 60.0
) -> None:
    """Every result, in submission order; a progress line every ``every`` s (costs the driver ~0.1 s a
    line at 100,000 tasks); Stuck after ``task_timeout`` s spent waiting on one task."""
    began = last_line = time.monotonic()
    for index, fut in enumerate(futures):
        waited_since = time.monotonic()
        while True:
            try:
                fut.result(timeout=min(every, task_timeout))
                break
            except TimeoutError:
                if time.monotonic() - waited_since >= task_timeout:
                    raise Stuck(index, time.monotonic() - waited_since) from None
            finally:
                now = time.monotonic()
                if now - last_line >= every:
                    last_line = now
                    print(
                        f"  {kind} {now - began:.0f} s into waiting, at task #{index}: "
                        f"{_progress_text(dfk, futures, index)}",
                        flush=True,
                    )


def diagnose(dfk: saga_dfk.SagaDataFlowKernel, fut: Any) -> dict[str, Any]:
    """Where the task nobody got a result for stands in saga-dfk (for the report of a stuck run)."""
    task = dfk._records.get(fut.tid)
    out: dict[str, Any] = {
        "tid": fut.tid,
        "parsl_status": getattr(fut.task_record.get("status"), "name", None),
        "progress": dfk.progress(),
        "in_flight": dict(_dispatch_state(dfk)["in_flight"]),
        "queued": {n: len(q) for n, q in _dispatch_state(dfk)["queues"].items()},
        "rounds": dfk._round,
        "last_rounds": [
            {k: r[k] for k in ("round", "reason", "tasks", "replanned", "moved", "seconds")}
            for r in list(dfk._rounds)[-10:]
        ],
    }
    if task is not None:
        a = task.assignment
        out["record"] = {
            "state": task.state,
            "released": task.released,
            "ready": task.ready,
            "dispatched": task.dispatched,
            "assignment": None
            if a is None
            else {"node": a.node, "start": a.start, "end": a.end, "round": a.round},
            "plan_clock_now": dfk._now(),
            "replans": len(task.replans or ()),
            "queued_on": [
                n for n, q in _dispatch_state(dfk)["queues"].items() if any(e[-1] is task for e in q)
            ],
            "dispatched_to": _dispatch_state(dfk)["dispatched_to"].get(task.tid),
            "parents_done": [
                p.done if (p := dfk._records.get(pid)) is not None else None for pid in task.parents
            ],
        }
    return out


def run_once(
    kind: str,
    tasks: int,
    width: int,
    run_dir: str,
    scheduler: str,
    time_budget: float,
    planning: str,
    task_timeout: float,
) -> dict[str, Any]:
    """One run: driver CPU and wall seconds, memory after the drop, and (saga) phase CPU and rounds."""
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
                planning=planning,  # type: ignore[arg-type]
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
        warm_spec: dict[str, Any] = {"saga_plan": False} if kind == "saga" else {}
        app(parsl_resource_specification=dict(warm_spec)).result(timeout=120)
        _, rss0 = settled_rss_mb()
        if timers is not None:
            timers.reset()
        threads0, workers0 = thread_cpu(), planner_process_cpu()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        futures = _submit_all(app, tasks, width)
        submit_wall = time.perf_counter() - wall0
        if isinstance(dfk, saga_dfk.SagaDataFlowKernel) and planning == "explicit":
            dfk.execute()
        stuck: dict[str, Any] | None = None
        try:
            _wait_all(dfk, futures, kind, task_timeout)
        except Stuck as exc:
            stuck = {"error": str(exc), "index": exc.index}
            if isinstance(dfk, saga_dfk.SagaDataFlowKernel):
                stuck.update(diagnose(dfk, futures[exc.index]))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        threads = {n: round(v - threads0.get(n, 0.0), 2) for n, v in thread_cpu().items()}
        worker_cpu = sum(v - workers0.get(pid, 0.0) for pid, v in planner_process_cpu().items())
        out: dict[str, Any] = {
            "stuck": stuck,
            "kind": kind,
            "cpu_s": cpu,
            "planner_process_cpu_s": worker_cpu,
            "wall_s": wall,
            "submit_wall_s": submit_wall,
            "thread_cpu_s": threads,
        }
        if timers is not None:
            assert isinstance(dfk, saga_dfk.SagaDataFlowKernel)
            out["phase_cpu_s"] = timers.phase_cpu()
            out["phase_calls"] = timers.phase_calls()
            out["plan_rounds"] = list(timers.rounds)
            out["rounds"] = dfk._round
            out["round_reasons"] = dict(Counter(r["reason"].split(":")[0] for r in dfk._rounds))
            out["round_log"] = [
                {k: r[k] for k in ("round", "reason", "tasks", "replanned", "moved", "seconds")}
                for r in dfk._rounds
            ]
            if stuck is not None:
                return out  # no memory figures: the run did not finish
            planned = sum(1 for f in futures if f.tid in dfk.saga_assignments)
            if planned != tasks:
                raise AssertionError(f"saga planned {planned} of {tasks} tasks")
        if stuck is not None:
            return out
        # the caller drops its futures: what the driver still holds is the kernel's
        futures.clear()
        del futures
        _, stale = settled_rss_mb()
        # Until the executor's result thread gets its next result, its loop variable still holds the last
        # task's executor future, and through done-callbacks and task_record["depends"] that reaches every
        # task of the DAG (Parsl's own retention, both kernels alike). One more independent task moves it
        # on, as a driver that keeps running would.
        app(parsl_resource_specification=dict(warm_spec)).result(timeout=120)
        raw, trimmed = settled_rss_mb()
        out["memory_after_drop_mb"] = trimmed - rss0
        out["memory_after_drop_untrimmed_mb"] = raw - rss0
        out["memory_before_next_result_mb"] = stale - rss0
        out["dfk_tasks_after_drop"] = len(dfk.tasks)
        if isinstance(dfk, saga_dfk.SagaDataFlowKernel):
            out.update(saga_records_after(dfk))
        return out
    finally:
        if timers is not None:
            timers.uninstall()
        dfk.cleanup()
        parsl.clear()


def _median(runs: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(key(r) for r in runs)


def saga_profile(
    phases: dict[str, float], run: dict[str, Any], planner_thread: float, worker_cpu: float, tasks: int
) -> str:
    """The per-phase table, the planning rounds (how many, why, what each cost) and the costliest rounds."""
    calls = run["phase_calls"]
    rows: list[list[Any]] = [
        [
            f"{p}{'' if p in OWN_PHASES else ' (not own)'}",
            phases[p],
            phases[p] / tasks * 1e3,
            calls.get(p, 0),
            phases[p] / calls[p] * 1e6 if calls.get(p) else None,
        ]
        for p in PHASES
    ]
    rows += [
        ["saga-planner thread (all)", planner_thread, planner_thread / tasks * 1e3, None, None],
        ["planner worker process", worker_cpu, worker_cpu / tasks * 1e3, None, None],
    ]
    text = [format_table(["saga phase (self CPU)", "CPU s", "ms per task", "calls", "us per call"], rows)]
    plan_rounds: list[tuple[int, int, float, float]] = run["plan_rounds"]
    if plan_rounds:
        batches = [b for b, _r, _c, _w in plan_rounds]
        cpus = [c for _b, _r, c, _w in plan_rounds]
        walls = [w for _b, _r, _c, w in plan_rounds]
        text.append(
            f"planning rounds: {run['rounds']} (by reason: {run['round_reasons']}); plan_round calls "
            f"{len(plan_rounds)}, batch (new + re-planned) median {statistics.median(batches):.0f} max "
            f"{max(batches)} total {sum(batches)} tasks planned ({sum(batches) / tasks:.2f} per task); "
            f"CPU per round median {statistics.median(cpus) * 1e3:.1f} ms, mean {statistics.mean(cpus) * 1e3:.1f}"
            f" ms, max {max(cpus) * 1e3:.1f} ms; wall per round median {statistics.median(walls) * 1e3:.1f} ms,"
            f" max {max(walls) * 1e3:.1f} ms, total {sum(walls):.1f} s; CPU per planned task "
            f"{sum(cpus) / max(1, sum(batches)) * 1e6:.1f} us"
        )
    else:
        text.append(f"planning rounds: {run['rounds']} (no plan_round call was timed)")
    heavy = sorted(run["round_log"], key=lambda r: -r["seconds"])[:5]
    if heavy:
        text.append("costliest rounds (kernel's own log, last 1000 rounds):")
        text.append(
            format_table(
                ["round", "reason", "new", "replanned", "moved", "seconds"],
                [
                    [r["round"], r["reason"][:40], r["tasks"], r["replanned"], r["moved"], r["seconds"]]
                    for r in heavy
                ],
            )
        )
    return "\n".join(text)


def report_stuck(
    run: dict[str, Any],
    runs: dict[str, list[dict[str, Any]]],
    tasks: int,
    args: argparse.Namespace,
    load: list[float],
    run_dir: str,
) -> dict[str, Any]:
    """A run whose results stopped arriving: say so, where the waited-on task stands, and (saga) where the
    driver's time went until then; the run directory (parsl.log with saga's round log) is kept."""
    stuck = run["stuck"]
    print("\n" + "=" * 30 + f" STUCK: the {run['kind']} run did not finish " + "=" * 30)
    print(f"{stuck['error']} (per-task timeout {args.task_timeout:.0f} s)")
    print(
        f"driver CPU until then {run['cpu_s']:.2f} s, wall {run['wall_s']:.2f} s "
        f"(submit loop {run['submit_wall_s']:.2f} s); run directory kept: {run_dir}"
    )
    if run["kind"] == "saga":
        print(json.dumps({k: v for k, v in stuck.items() if k != "error"}, indent=1, default=str))
        print("\nPer-phase profile of saga_dfk until then (self CPU, ms per task of all tasks):")
        planner = run["thread_cpu_s"].get("saga-planner", 0.0)
        print(saga_profile(run["phase_cpu_s"], run, planner, run["planner_process_cpu_s"], tasks))
    print("=" * 95)
    summary = {
        "benchmark": "overhead",
        "completed": False,
        "tasks": tasks,
        "planning": args.planning,
        "machine": machine_info(),
        "load_average": [round(v, 2) for v in load],
        "stuck_kind": run["kind"],
        "stuck": {k: stuck.get(k) for k in ("error", "tid", "parsl_status", "record", "progress", "rounds")},
        "plain_cpu_s": [round(r["cpu_s"], 3) for r in runs["plain"]],
        "plain_wall_s": [round(r["wall_s"], 3) for r in runs["plain"]],
        "saga_cpu_s_until_stuck": round(run["cpu_s"] + run["planner_process_cpu_s"], 3)
        if run["kind"] == "saga"
        else None,
        "saga_phase_cpu_s_until_stuck": {p: round(v, 3) for p, v in run.get("phase_cpu_s", {}).items()},
        "run_dir": run_dir,
        "target_ms_per_task": TARGET_MS_PER_TASK,
        "target_memory_mb": TARGET_MEMORY_MB,
        "meets_target": False,
    }
    print(json.dumps(summary, sort_keys=True, default=str))
    return summary


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks per run (default 100000)")
    parser.add_argument("--rounds", type=int, default=1, help="plain+saga run pairs (default 1)")
    parser.add_argument("--quick", action="store_true", help="2,000 tasks")
    parser.add_argument(
        "--planning",
        choices=("auto", "explicit"),
        default="auto",
        help="saga planning: auto = rounds while tasks are submitted (default); explicit = one execute()",
    )
    parser.add_argument(
        "--task-timeout",
        type=float,
        default=900.0,
        help="give up when one task's result takes this long to arrive, s (default 900): reports where it stands",
    )
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
    print(
        f"{tasks} tasks ({tasks // width} layers x {width}, 2 parents each), saga planning={args.planning}, "
        f"{args.rounds} round(s); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )

    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "saga": []}
    load: list[float] = []
    tmp = tempfile.mkdtemp(prefix="bench_overhead_")  # kept when a run gets stuck (parsl.log has the rounds)
    for round_no in range(args.rounds):
        for kind in ("plain", "saga"):
            run = run_once(
                kind,
                tasks,
                width,
                str(Path(tmp) / f"runinfo-{kind}-{round_no}"),
                args.scheduler,
                args.time_budget,
                args.planning,
                args.task_timeout,
            )
            runs[kind].append(run)
            load.append(os.getloadavg()[0])
            if run["stuck"] is not None:
                return report_stuck(run, runs, tasks, args, load, tmp)
            print(
                f"run {round_no + 1}/{args.rounds} {kind:5s}: driver CPU {run['cpu_s']:7.2f} s, "
                f"wall {run['wall_s']:7.2f} s (submit loop {run['submit_wall_s']:.2f} s), "
                f"memory after drop {run['memory_after_drop_mb']:+.1f} MB, load {load[-1]:.1f}",
                flush=True,
            )
    shutil.rmtree(tmp, ignore_errors=True)

    saga_runs, plain_runs = runs["saga"], runs["plain"]
    plain_cpu = _median(plain_runs, lambda r: r["cpu_s"])
    saga_cpu = _median(saga_runs, lambda r: r["cpu_s"] + r["planner_process_cpu_s"])
    worker_cpu = _median(saga_runs, lambda r: r["planner_process_cpu_s"])
    added_ms = (saga_cpu - plain_cpu) / tasks * 1e3
    phases = {p: statistics.median(r["phase_cpu_s"][p] for r in saga_runs) for p in PHASES}
    planner_thread = _median(saga_runs, lambda r: r["thread_cpu_s"].get("saga-planner", 0.0))
    own_s = sum(phases[p] for p in OWN_PHASES) + worker_cpu
    own_ms = own_s / tasks * 1e3
    plain_mem = _median(plain_runs, lambda r: r["memory_after_drop_mb"])
    saga_mem = _median(saga_runs, lambda r: r["memory_after_drop_mb"])
    mem_diff = saga_mem - plain_mem
    cpu_met, mem_met = added_ms <= TARGET_MS_PER_TASK, mem_diff <= TARGET_MEMORY_MB

    # ---- the table
    print()
    print(
        f"Driver CPU for {tasks} tasks ({tasks // width} layers x {width}, 2 parents each), "
        f"saga planning={args.planning}, median of {args.rounds}"
    )
    rows: list[list[Any]] = [
        ["plain Parsl DFK", plain_cpu, plain_cpu / tasks * 1e3],
        ["saga_dfk DFK (+ planner process)", saga_cpu, saga_cpu / tasks * 1e3],
        ["added by saga_dfk", saga_cpu - plain_cpu, added_ms],
        ["saga's own (instrumented phases + worker)", own_s, own_ms],
    ]
    print(format_table(["kernel", "CPU s", "ms per task"], rows))

    # ---- the per-phase profile (the explanation on a miss)
    last = saga_runs[-1]
    plan_rounds: list[tuple[int, int, float, float]] = last["plan_rounds"]
    batches = [b for b, _r, _c, _w in plan_rounds]
    cpus = [c for _b, _r, c, _w in plan_rounds]
    walls = [w for _b, _r, _c, w in plan_rounds]

    def show_profile() -> None:
        print(saga_profile(phases, last, planner_thread, worker_cpu, tasks))

    print()
    print("Per-phase profile of saga_dfk (self CPU, median of runs; calls: last run):")
    show_profile()

    # ---- threads
    print("\nDriver CPU by thread (s, last run of each kernel; threads alive at the end):")
    names = sorted(set(plain_runs[-1]["thread_cpu_s"]) | set(last["thread_cpu_s"]))
    print(
        format_table(
            ["thread", "plain", "saga"],
            [[n, plain_runs[-1]["thread_cpu_s"].get(n), last["thread_cpu_s"].get(n)] for n in names],
        )
    )

    # ---- memory
    print(
        "\nDriver memory after all results arrived, the futures were dropped and one more task ran "
        "(RSS growth since submit):"
    )
    mem_rows: list[list[Any]] = [
        [
            kind,
            _median(runs[kind], lambda r: r["memory_after_drop_mb"]),
            _median(runs[kind], lambda r: r["memory_after_drop_untrimmed_mb"]),
            _median(runs[kind], lambda r: r["memory_before_next_result_mb"]),
            runs[kind][-1]["dfk_tasks_after_drop"],
            runs[kind][-1].get("records"),
            runs[kind][-1].get("records_size_mb"),
        ]
        for kind in ("plain", "saga")
    ]
    mem_rows.append(["saga - plain", mem_diff, None, None, None, None, None])
    print(
        format_table(
            [
                "kernel",
                "RSS MB (trimmed)",
                "RSS MB (untrimmed)",
                "RSS MB (before next result)",
                "len(dfk.tasks)",
                "saga records",
                "records MB",
            ],
            mem_rows,
        )
    )
    leftovers = {
        k: last[k]
        for k in (
            "records_holding_task_record",
            "records_holding_proxy",
            "records_open",
            "records_held",
            "queued",
            "dispatched_to",
        )
    }
    print(f"saga records after the drop: {leftovers}")
    print(
        f"saga's finished tasks (columns): {last['finished_columns_mb']:.1f} MB; replan entries kept: "
        f"{last['replan_entries']} ({last['replan_entries'] / tasks:.1f} per task)"
    )

    # ---- verdict
    print()
    print(
        f"target added driver CPU <= {TARGET_MS_PER_TASK} ms/task: {added_ms:.3f} ms "
        f"{'met' if cpu_met else 'MISSED'} (saga's own instrumented CPU {own_ms:.3f} ms/task)"
    )
    print(
        f"target memory after drop within {TARGET_MEMORY_MB:.0f} MB of plain: saga - plain {mem_diff:+.1f} MB "
        f"{'met' if mem_met else 'MISSED'}"
    )
    if not (cpu_met and mem_met):
        print("\n" + "=" * 30 + " MISSED: where saga_dfk's driver time goes " + "=" * 30)
        show_profile()
        if not mem_met:
            print(
                f"memory: saga keeps {last.get('records')} records of ~{last.get('records_size_mb', 0.0):.1f} MB "
                f"(sys.getsizeof walk); {leftovers}"
            )
        print("=" * 103)
    summary = {
        "benchmark": "overhead",
        "completed": True,
        "tasks": tasks,
        "rounds": args.rounds,
        "planning": args.planning,
        "machine": machine_info(),
        "load_average": [round(v, 2) for v in load],
        "plain_cpu_s": [round(r["cpu_s"], 3) for r in plain_runs],
        "saga_cpu_s": [round(r["cpu_s"] + r["planner_process_cpu_s"], 3) for r in saga_runs],
        "plain_wall_s": [round(r["wall_s"], 3) for r in plain_runs],
        "saga_wall_s": [round(r["wall_s"], 3) for r in saga_runs],
        "saga_over_plain_cpu": round(saga_cpu / plain_cpu, 4),
        "added_ms_per_task": round(added_ms, 4),
        "saga_own_ms_per_task": round(own_ms, 4),
        "scheduler": args.scheduler,
        "planning_rounds": last["rounds"],
        "plan_round_calls": len(plan_rounds),
        "round_reasons": last["round_reasons"],
        "tasks_planned_per_task": round(sum(batches) / tasks, 3),
        "plan_round_cpu_ms": {
            "median": round(statistics.median(cpus) * 1e3, 3) if cpus else None,
            "mean": round(statistics.mean(cpus) * 1e3, 3) if cpus else None,
            "max": round(max(cpus) * 1e3, 3) if cpus else None,
        },
        "plan_wall_s": round(sum(walls), 3),
        "planner_process_cpu_s": round(worker_cpu, 3),
        "thread_cpu_s": {"plain": plain_runs[-1]["thread_cpu_s"], "saga": last["thread_cpu_s"]},
        "saga_phase_ms_per_task": {p: round(v / tasks * 1e3, 4) for p, v in phases.items()},
        "memory_after_drop_mb": {"plain": round(plain_mem, 2), "saga": round(saga_mem, 2)},
        "memory_after_drop_untrimmed_mb": {
            k: round(_median(runs[k], lambda r: r["memory_after_drop_untrimmed_mb"]), 2) for k in runs
        },
        "memory_saga_minus_plain_mb": round(mem_diff, 2),
        "memory_before_next_result_mb": {
            k: round(_median(runs[k], lambda r: r["memory_before_next_result_mb"]), 2) for k in runs
        },
        "dfk_tasks_after_drop": {k: runs[k][-1]["dfk_tasks_after_drop"] for k in runs},
        "saga_finished_columns_mb": round(last["finished_columns_mb"], 2),
        "saga_replan_entries": last["replan_entries"],
        "saga_records_after_drop": {
            "records": last["records"],
            "size_mb": round(last["records_size_mb"], 2),
            **leftovers,
        },
        "target_ms_per_task": TARGET_MS_PER_TASK,
        "target_memory_mb": TARGET_MEMORY_MB,
        "meets_cpu_target": cpu_met,
        "meets_memory_target": mem_met,
        "meets_target": cpu_met and mem_met,
    }
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]).get("completed", True) else 1)

"""SagaDataFlowKernel: a Parsl DataFlowKernel that plans tasks with SAGA before letting them run.

Design (why it looks like this):

* Only ``launch_if_ready`` and ``launch_task`` of the upstream DFK are overridden -- the narrowest
  hooks. ``submit`` stays upstream's, so dependency tracking, staging, memoization, retries and error
  propagation are exactly plain Parsl's. The first ``launch_if_ready`` call for a task registers it and
  holds it; a planning round tags it (fresh resource specification dict with node, priority, affinity)
  and then calls upstream ``launch_if_ready``, which launches it once its dependencies are done.
* Dependency callbacks that saga-dfk adds itself bind their task with ``functools.partial`` (by value);
  a callback that closed over the loop variable instead would launch the loop's last task once per
  dependency, and never the others.
* ``launch_task`` returns a proxy future: when the executor future fails because the task's node was
  lost (``ManagerLost`` for a running task, ``NodeUnavailable`` for a queued hard-affinity task), the
  task is re-planned on the remaining nodes and resubmitted before upstream ever sees a failure; every
  other outcome (results and user exceptions) is copied to the proxy unchanged, and the proxy carries the
  executor future's ``run_record`` (parsl_affinity_htex.RunRecord) like the executor's own futures do.
* The AppFutures of planned tasks get a subclass whose ``result()``/``exception()`` first release what
  is held, so waiting on a held task before ``execute()`` cannot wait forever.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from parsl.app.futures import DataFuture
from parsl.dataflow.dflow import DataFlowKernel
from parsl.dataflow.futures import AppFuture
from parsl.dataflow.taskrecord import TaskRecord
from parsl.executors.high_throughput.errors import ManagerLost

import saga_graphs
from parsl_affinity_htex import RunRecord

from ._config import SagaConfig
from ._errors import EmptyTopologyError, InvalidTaskHintError, NoPlannableExecutorError
from ._hints import TaskHints, resolve_cost, resolve_output_size, split_hints
from ._log import kv
from ._parsl_log import ParslLogBridge

__all__ = ["OPT_OUT_KEY", "SagaDataFlowKernel", "TaskAssignment"]

log = logging.getLogger(__name__)

_INTERNAL_EXECUTOR = "_parsl_internal"
#: resource specification key: ``False`` keeps the task out of SAGA planning (stock placement).
OPT_OUT_KEY = "saga_plan"


@dataclass(frozen=True)
class TaskAssignment:
    """SAGA's decision for one task. Times are seconds on the plan clock (0 = first planning round)."""

    task_id: int
    function: str
    node: str
    start: float
    end: float
    round: int
    scheduler: str
    slot: int = 0


@dataclass(eq=False)
class _SagaTask:
    """saga-dfk's bookkeeping for one planned task (the Parsl TaskRecord stays the source of truth)."""

    tid: int
    name: str
    func_name: str
    record: TaskRecord
    parents: tuple[int, ...]
    released: bool = False
    launched: bool = False
    done: bool = False
    error: BaseException | None = None
    assignment: TaskAssignment | None = None
    actual: RunRecord | None = None  # the executor future's run_record, on the plan clock (relative_to t0)
    replans: list[dict[str, Any]] = field(default_factory=list)
    dynamic: bool = False
    label: str | None = None  # the caller's name for the task (set_task_label), for reports and charts
    failure: BaseException | None = None  # what the AppFuture finished with when the task failed
    hints: TaskHints | None = None  # per-call planning hints (cost, output_size) from the resource spec


class _RunFuture(Future):
    """What launch_task returns for a planned task: once the task succeeded, ``run_record`` is the
    RunRecord of its (last) run, exactly as on the executor's AffinityFuture (worker epoch seconds)."""

    run_record: RunRecord | None = None


class _SagaAppFuture(AppFuture):
    """AppFuture whose waits release held tasks first, so result() before execute() cannot hang."""

    def result(self, timeout: float | None = None) -> Any:
        self._release()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._release()
        return super().exception(timeout)

    def _release(self) -> None:
        dfk = self.task_record["dfk"]
        if not self.done() and isinstance(dfk, SagaDataFlowKernel):
            dfk._saga_release_on_wait()


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _is_node_loss(exc: BaseException) -> bool:
    """A failure caused by the node going away, not by the task: worth re-planning."""
    if isinstance(exc, ManagerLost):
        return True
    try:
        from parsl_affinity_htex.errors import NodeUnavailable
    except ImportError:  # pragma: no cover - parsl_affinity_htex is a hard dependency
        return False
    return isinstance(exc, NodeUnavailable)


class SagaDataFlowKernel(DataFlowKernel):
    """A DataFlowKernel that plans its tasks with SAGA and tags each with its planned node.

    Install it with ``saga_dfk.load(SagaConfig(...))`` so ``@python_app`` code is unchanged.
    Attribute ``saga_assignments`` (task id -> TaskAssignment) holds the current plan (also reachable as
    ``_saga_task_assignments``, the one compatibility name of saga-dfk: see README "Compatibility").
    """

    def __init__(self, config: SagaConfig) -> None:
        if not isinstance(config, SagaConfig):
            raise TypeError(f"SagaDataFlowKernel needs a SagaConfig, got {type(config).__name__}")
        # State first: upstream __init__ starts executors, which may already report nodes.
        self._saga_config = config
        self._state_lock = threading.RLock()
        self._plan_lock = threading.Lock()
        self._cond = threading.Condition(self._state_lock)
        self._saga_tasks: dict[int, _SagaTask] = {}
        self._held: dict[int, _SagaTask] = {}
        self._lost_nodes: set[str] = set()
        self._source_lost: set[str] = set()  # reported lost by the network source (e.g. cordoned)
        self._unplanned: set[int] = set()
        self._last_submit = time.monotonic()
        self._stopping = threading.Event()
        self._t0: float | None = None
        self._round = 0
        self._last_fixed = 0
        self._rounds: list[dict[str, Any]] = []
        self._network: saga_graphs.Network | None = None  # the latest round's network
        self.saga_assignments: dict[int, TaskAssignment] = {}
        # Compatibility (the only one in saga-dfk; README "Compatibility"): the name the original SAGA-Parsl
        # fork's DataFlowKernel gave this dict. The same dict object, never rebound, so the two cannot differ.
        self._saga_task_assignments = self.saga_assignments
        self.saga_report_path: str | None = config.report_path
        #: the live HTML view (plan against reality), rewritten during the run; None without report_path
        self.saga_live_report_path: Path | None = (
            Path(config.report_path).with_suffix(".live.html")
            if config.report_path and config.live_report_interval is not None
            else None
        )
        # Cost model of steps 2-5 of the order in _hints (declarations always win; see declare_cost).
        self._cost_model: saga_graphs.DeclaredCostModel = (
            config.cost_model
            if isinstance(config.cost_model, saga_graphs.DeclaredCostModel)
            else saga_graphs.DeclaredCostModel(default=config.cost_model)
        )
        self._live_stop = threading.Event()
        self._live_thread: threading.Thread | None = None
        self._progress_shown = False
        self._parsl_log = ParslLogBridge()  # our loggers join Parsl's parsl.log handler (add_executors)
        super().__init__(config)
        self._parsl_log.attach()  # no-op if add_executors did it already
        self._planned_label = self._choose_executor(config)
        self._replan_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saga-replan")
        executor: Any = self.executors[self._planned_label]
        if callable(getattr(executor, "add_node_listener", None)):
            executor.add_node_listener(self._on_node_change)
        if config.network_source is not None:  # e.g. the Kubernetes node watch
            config.network_source.subscribe(self._on_network_event)
            config.network_source.start()
        self._planner = threading.Thread(target=self._planner_loop, name="saga-planner", daemon=True)
        self._planner.start()
        threading.Thread(target=self._warm_up_planner, name="saga-warm-up", daemon=True).start()
        if self.saga_live_report_path is not None or (config.progress and _stderr_is_tty()):
            self._live_thread = threading.Thread(target=self._live_loop, name="saga-live", daemon=True)
            self._live_thread.start()
        log.info(
            "saga.loaded %s",
            kv(
                executor=self._planned_label,
                scheduler=config.saga_scheduler,
                planning=config.planning,
                cost_model=type(config.cost_model).__name__,
            ),
        )

    # ------------------------------------------------------------------ configuration helpers
    def _choose_executor(self, config: SagaConfig) -> str:
        """The executor whose tasks are planned (see SagaConfig.saga_executor)."""
        labels = [label for label in self.executors if label != _INTERNAL_EXECUTOR]
        if config.saga_executor is not None:
            if config.saga_executor not in labels:
                raise NoPlannableExecutorError(
                    f"saga_executor {config.saga_executor!r} is not a configured executor; have {labels}"
                )
            return config.saga_executor
        for label in labels:
            if callable(getattr(self.executors[label], "connected_nodes", None)):
                return label
        if (config.network is not None or config.topology is not None) and labels:
            return labels[0]
        raise NoPlannableExecutorError(
            f"no executor reports connected nodes (connected_nodes()); executors are {labels}. Use "
            "parsl_affinity_htex.AffinityHighThroughputExecutor, or give SagaConfig(network=...) and saga_executor="
        )

    @property
    def saga_config(self) -> SagaConfig:
        """The SagaConfig this kernel was loaded with."""
        return self._saga_config

    def _now(self) -> float:
        """Seconds on the plan clock (0 = start of the first planning round)."""
        if self._t0 is None:
            self._t0 = time.time()
        return time.time() - self._t0

    # ------------------------------------------------------------------ upstream hooks
    def launch_if_ready(self, task_record: TaskRecord) -> None:
        """Hold planned tasks until their planning round; pass everything else to upstream."""
        tid = task_record["id"]
        with self._state_lock:
            st = self._saga_tasks.get(tid)
            if st is None and tid not in self._unplanned and self._opted_out(task_record):
                self._unplanned.add(tid)
                self._take_hints(task_record, validate=False)  # not planned: hints mean nothing, drop them
            if st is None and task_record["executor"] == self._planned_label and tid not in self._unplanned:
                st = self._register(task_record)
                try:
                    st.hints = self._take_hints(task_record)
                except InvalidTaskHintError as exc:  # fails at once (launch_task raises it), unplanned
                    st.error = exc
                    st.released = True
                if not st.released:
                    st.dynamic = self._submitted_by_app()
                    self._held[tid] = st
                    self._last_submit = time.monotonic()
                    if st.dynamic or self._saga_config.planning == "rolling":
                        # Only tasks the planner loop may plan wake it: a wake-up scans the held tasks, and
                        # waking it for every held task of a large explicit workflow costs O(n^2).
                        self._cond.notify_all()
                    return
            if st is not None and not st.released:
                return
            if st is None and type(task_record["app_fu"]) is AppFuture:
                # unplanned (e.g. a join_app body): waiting on it must still release held tasks
                task_record["app_fu"].__class__ = _SagaAppFuture
        super().launch_if_ready(task_record)

    def launch_task(self, task_record: TaskRecord) -> Future:
        """Submit a planned task; return a proxy future that hides node-loss failures behind a re-plan."""
        st = self._saga_tasks.get(task_record["id"])
        if st is None:
            return super().launch_task(task_record)
        if st.error is not None:
            raise st.error
        exec_fu = super().launch_task(task_record)
        st.launched = True
        proxy = _RunFuture()
        exec_fu.add_done_callback(partial(self._on_exec_done, st, proxy))  # st bound by value
        return proxy

    def add_executors(self, executors: Sequence[Any]) -> None:
        """Upstream's, after our loggers joined parsl.log (upstream set its handler up just before)."""
        if hasattr(self, "_parsl_log"):
            self._parsl_log.attach()
        super().add_executors(executors)

    def wait_for_current_tasks(self) -> None:
        """Release (plan) what is held, then wait like upstream."""
        self._saga_release_on_wait()
        super().wait_for_current_tasks()

    def cleanup(self) -> None:
        """Plan and release what is still held, stop the planner, clean up, then write the report."""
        if not self.cleanup_called:
            try:
                self._saga_release_on_wait()
            except Exception:  # pragma: no cover - errors already delivered to the futures
                log.exception("saga.cleanup_release_failed")
        self._stopping.set()
        if self._saga_config.network_source is not None:
            self._saga_config.network_source.stop()
        with self._cond:
            self._cond.notify_all()
        super().cleanup()
        self._replan_pool.shutdown(wait=False)
        self._stop_live_view()
        if self.saga_report_path:
            self.write_report(self.saga_report_path)
        if self.saga_live_report_path is not None:
            try:
                self.write_live_report(final=True)
            except Exception:  # pragma: no cover - the JSON report is already written
                log.exception("saga.live_report_failed")
        self._write_monitoring_placements()
        self._parsl_log.detach()  # our loggers leave parsl.log (attached in add_executors)

    def _write_monitoring_placements(self) -> None:
        """With Parsl monitoring on, add planned and actual node per task to its database (``saga_task``
        table, see saga_dfk._monitoring); after super().cleanup(), so Parsl's db manager has finished."""
        monitoring = self.monitoring
        url = getattr(monitoring, "logging_endpoint", None) if monitoring is not None else None
        if not isinstance(url, str):
            return
        from ._monitoring import sqlite_path, write_placements

        if sqlite_path(url) is None:
            log.warning("saga.monitoring_placements_skipped %s", kv(url=url, reason="not a sqlite:/// URL"))
            return
        try:
            rows = write_placements(url, self.run_id, self.run_report()["tasks"])
            log.info("saga.monitoring_placements_written %s", kv(url=url, rows=rows))
        except Exception as exc:  # monitoring extras must never fail a cleanup
            log.warning("saga.monitoring_placements_failed %s", kv(url=url, error=repr(exc)))

    # ------------------------------------------------------------------ public API
    def execute(self) -> None:
        """Plan every held task and let it run (explicit mode's go signal).

        Tasks submitted later are held again until the next execute() or wait; tasks submitted by running
        apps (join_app bodies) are planned in automatic rounds. A planning error is raised here and is also
        set on the affected tasks' futures, so waiting code sees it like any Parsl launch failure.
        """
        self._run_round("execute", raise_errors=True)

    def saga_progress(self) -> dict[str, int]:
        """Counts for a progress line: total planned-executor tasks, held, launched, done, re-planned."""
        with self._state_lock:
            tasks = list(self._saga_tasks.values())
            return {
                "total": len(tasks),
                "held": len(self._held),
                "launched": sum(1 for t in tasks if t.launched),
                "done": sum(1 for t in tasks if t.done),
                "replanned": sum(1 for t in tasks if t.replans),
            }

    def progress(self) -> dict[str, Any]:
        """Live counts of the planned executor's tasks; cheap, thread-safe, callable at any time.

        ``total`` tasks seen; ``held`` waiting for a planning round; ``planned`` with a plan; ``released`` to
        Parsl (planned, or failed before planning); ``running`` handed to the executor and not finished
        (queued on its node or executing); ``done`` succeeded; ``failed`` finished with an error (also a
        dependency's); ``replanned`` re-planned after node loss; ``elapsed`` seconds on the plan clock
        (None before the first plan); ``predicted_finish`` the plan clock time the last task is expected
        to end (planned ends, pushed back to "now" for tasks running late; finished tasks count with their
        actual end); ``nodes``: per node (the actual node of a task that ran, else its planned node)
        ``{"planned", "running", "done", "failed"}``, where ``planned`` counts tasks not started yet.
        Built on :meth:`saga_progress` (the same bookkeeping).
        """
        with self._state_lock:
            tasks = list(self._saga_tasks.values())
            base = self.saga_progress()
            t0 = self._t0
        now = (time.time() - t0) if t0 is not None else None
        nodes: dict[str, dict[str, int]] = {}
        finish: float | None = None
        counts = {"planned": 0, "released": 0, "running": 0, "done": 0, "failed": 0}
        for st in tasks:
            a = st.assignment
            failed = st.done and (st.failure is not None or st.error is not None)
            running = st.launched and not st.done
            state = "failed" if failed else "done" if st.done else "running" if running else "planned"
            counts["planned"] += a is not None
            counts["released"] += st.released
            counts["running"] += running
            counts["done"] += st.done and not failed
            counts["failed"] += failed
            node = st.actual.node if st.actual is not None else a.node if a is not None else None
            if node is not None and (a is not None or st.actual is not None):
                per = nodes.setdefault(node, {"planned": 0, "running": 0, "done": 0, "failed": 0})
                per[state] += 1
            end: float | None = None
            if st.done:
                end = st.actual.end if st.actual is not None else None
            elif a is not None:
                end = a.end
                if now is not None and now > a.start:
                    end = max(a.end, now) if running else max(a.end, now + (a.end - a.start))
            if end is not None:
                finish = end if finish is None else max(finish, end)
        return {
            "total": base["total"],
            "held": base["held"],
            **counts,
            "replanned": base["replanned"],
            "elapsed": now,
            "predicted_finish": finish,
            "nodes": dict(sorted(nodes.items())),
        }

    def progress_line(self) -> str:
        """:meth:`progress` as one line of plain text (what ``SagaConfig(progress=True)`` shows)."""
        p = self.progress()
        per = " ".join(f"{n}:{c['running']}r/{c['done']}d" for n, c in p["nodes"].items())
        clock = ""
        if p["elapsed"] is not None:
            clock = f" | {p['elapsed']:.1f} s"
            if p["predicted_finish"] is not None:
                clock += f", finish ~{p['predicted_finish']:.1f} s"
        return (
            f"saga: {p['done']}/{p['total']} done, {p['running']} running, {p['failed']} failed, "
            f"{p['planned']} planned, {p['held']} held{' | ' + per if per else ''}{clock}"
        )

    def declare_cost(
        self, key: AppFuture | int | str, *, cost: float | None = None, output_size: float | None = None
    ) -> None:
        """Declare what the planner should assume for one task (an AppFuture or task id) or for every task
        of a function (its name), after the kernel was built: steps 2 and 3 of the order in
        ``saga_dfk._hints`` (a per-call hint still wins). Takes effect from the next planning round.
        Raises saga_graphs.errors.InvalidCostError / InvalidSizeError naming a bad value."""
        tid = key.tid if isinstance(key, AppFuture) else key
        self._cost_model.declare(tid, cost=cost, output_size=output_size)

    def write_live_report(self, path: str | Path | None = None, *, final: bool = False) -> Path | None:
        """Write the live HTML view (``saga_live_report_path`` unless ``path``): planned vs actual Gantt, a
        "now" line (``<line id="now">``), per-node utilisation and the predicted finish. While the run is
        live (``final=False``) the page reloads itself every 2 s (``<meta http-equiv="refresh">``); the
        final page has no refresh. Written atomically (temp file + os.replace). None if nothing to write."""
        from ._report import live_view

        target = Path(path) if path is not None else self.saga_live_report_path
        if target is None:
            return None
        report = self.run_report()
        if not any(row.get("planned") for row in report["tasks"]):
            return None
        progress = self.progress()
        target.parent.mkdir(parents=True, exist_ok=True)
        return live_view(report, progress, target, final=final, nodes=self._node_slots())

    def _node_slots(self) -> dict[str, int]:
        network = self._network
        return {name: network.nodes[name].slots for name in network} if network is not None else {}

    def _live_loop(self) -> None:
        """The live view: the progress line (terminal only) and the live HTML page, every few seconds."""
        cfg = self._saga_config
        show = cfg.progress and _stderr_is_tty()
        interval = cfg.live_report_interval or 2.0
        period = min(interval, 0.5) if show else interval
        last_html = 0.0
        while not self._live_stop.wait(period):
            try:
                if show and self._saga_tasks:
                    sys.stderr.write("\r" + self.progress_line() + "\x1b[K")
                    sys.stderr.flush()
                    self._progress_shown = True
                if self.saga_live_report_path is not None and time.monotonic() - last_html >= interval:
                    last_html = time.monotonic()
                    self.write_live_report()
            except Exception as exc:  # the view must never break the run
                log.debug("saga.live_view_failed %s", kv(error=repr(exc)))

    def _stop_live_view(self) -> None:
        self._live_stop.set()
        if self._live_thread is not None:
            self._live_thread.join(timeout=10)
        if self._progress_shown:
            sys.stderr.write("\r" + self.progress_line() + "\x1b[K\n")
            sys.stderr.flush()

    def set_task_label(self, task: AppFuture | int, label: str) -> None:
        """Give a planned task the caller's name (e.g. ``"s0.3"``): shown in the run report (``label``)
        and on Gantt charts instead of the function name. Unknown (unplanned) tasks are ignored."""
        tid = task if isinstance(task, int) else task.tid
        with self._state_lock:
            st = self._saga_tasks.get(tid)
            if st is not None:
                st.label = str(label)

    def run_report(self) -> dict[str, Any]:
        """Planned vs actual per task, planned/actual makespan and fidelity, as a JSON-able dict."""
        from ._report import build_report

        with self._state_lock:
            tasks = list(self._saga_tasks.values())
            return build_report(
                tasks=tasks,
                rounds=list(self._rounds),
                network=self._network.to_spec() if self._network is not None else None,
                scheduler=self._saga_config.saga_scheduler,
                planning=self._saga_config.planning,
                t0=self._t0,
                lost_nodes=sorted(self._lost_nodes | self._source_lost),
            )

    def write_report(self, path: str | Path) -> Path:
        """Write run_report() as JSON; returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.run_report(), indent=2, sort_keys=True))
        log.info("saga.report_written %s", kv(path=str(target)))
        return target

    # ------------------------------------------------------------------ registration and rounds
    def _register(self, task_record: TaskRecord) -> _SagaTask:
        """Create the bookkeeping for a task; called under the state lock on its first launch_if_ready."""
        tid = task_record["id"]
        parents: list[int] = []
        for dep in task_record["depends"]:
            pid: int | None = None
            if isinstance(dep, AppFuture) and dep.task_record["dfk"] is self:
                pid = dep.task_record["id"]
            elif isinstance(dep, DataFuture):
                pid = dep.tid  # the task that produces the file
            if pid is not None and pid in self._saga_tasks and pid not in parents:
                parents.append(pid)
        st = _SagaTask(
            tid=tid,
            name=f"t{tid}",
            func_name=task_record["func_name"],
            record=task_record,
            parents=tuple(parents),
        )
        self._saga_tasks[tid] = st
        app_fu = task_record["app_fu"]
        if type(app_fu) is AppFuture:
            app_fu.__class__ = _SagaAppFuture
        app_fu.add_done_callback(partial(self._on_app_done, st))  # st bound by value
        return st

    def _opted_out(self, task_record: TaskRecord) -> bool:
        """``parsl_resource_specification={"saga_plan": False}`` keeps a task out of planning.

        The key is removed (into a fresh dict) because executors reject unknown keys; the task then gets
        the executor's own placement -- the demo uses this to measure stock placement on the same pools.
        """
        spec = task_record["resource_specification"]
        if not isinstance(spec, Mapping) or spec.get(OPT_OUT_KEY, True) is not False:
            return False
        fresh = {k: v for k, v in spec.items() if k != OPT_OUT_KEY}
        task_record["resource_specification"] = fresh
        if "parsl_resource_specification" in task_record["kwargs"]:
            task_record["kwargs"]["parsl_resource_specification"] = fresh
        return True

    def _take_hints(self, task_record: TaskRecord, *, validate: bool = True) -> TaskHints | None:
        """Take the planning hints (``cost``, ``output_size``) out of the task's resource specification.

        Called on the task's first launch_if_ready, i.e. before upstream computes a memoization hash (the
        hash covers the kwargs, where ``parsl_resource_specification`` lives) and long before the executor
        validates the spec. The rest goes into a FRESH dict (apps share one default dict across calls).
        Raises InvalidTaskHintError (when ``validate``) naming the task, key and value.
        """
        spec = task_record["resource_specification"]
        try:
            hints, rest = split_hints(spec, task_record["id"], task_record["func_name"])
        except InvalidTaskHintError:
            if validate:
                raise
            hints, rest = None, {k: v for k, v in spec.items() if k not in ("cost", "output_size")}
        if rest is None:
            return None
        task_record["resource_specification"] = rest
        if "parsl_resource_specification" in task_record["kwargs"]:
            task_record["kwargs"]["parsl_resource_specification"] = rest
        return hints

    def _submitted_by_app(self) -> bool:
        """True when the current thread is an app running in this process (a join_app body).

        Such tasks appear at run time; nobody could call execute() for them, so explicit mode plans them
        in automatic rounds too.
        """
        name = threading.current_thread().name
        for executor in self.executors.values():
            prefix = getattr(executor, "thread_name_prefix", None)
            if isinstance(prefix, str) and prefix and name.startswith(prefix):
                return True
        return False

    def _saga_release_on_wait(self) -> None:
        """Somebody waits on a result: in explicit mode that is the go signal (it used to hang forever)."""
        if self.cleanup_called:
            return
        with self._cond:
            if not self._held:
                return
        self._run_round("wait", raise_errors=False)

    def _warm_up_planner(self) -> None:
        """Plan a one-task graph while pools start, so the first real round does not pay SAGA's start-up."""
        try:
            with self._plan_lock:
                graph = saga_graphs.TaskGraph()
                graph.add_task("warm-up", 1.0)
                network = saga_graphs.Network()
                network.add_node("warm-up")
                scheduler = self._saga_config.saga_scheduler
                saga_graphs.plan(graph, network, scheduler, time_budget=self._saga_config.time_budget)
        except Exception as exc:  # only an optimisation: the real round reports real errors
            log.debug("saga.warm_up_failed %s", kv(error=repr(exc)))

    def _planner_loop(self) -> None:
        """Start rounds by themselves: in rolling mode always; in explicit mode for dynamic tasks only."""
        cfg = self._saga_config
        only_dynamic = cfg.planning == "explicit"
        while not self._stopping.is_set():
            with self._cond:
                eligible = [st for st in self._held.values() if st.dynamic or not only_dynamic]
                if not eligible:
                    self._cond.wait(0.5)
                    continue
                quiet = time.monotonic() - self._last_submit
                if len(eligible) < cfg.round_threshold and quiet < cfg.settle_window:
                    self._cond.wait(cfg.settle_window - quiet)
                    continue
            try:
                self._run_round("rolling", raise_errors=False, only_dynamic=only_dynamic)
            except Exception:  # pragma: no cover - _run_round delivers errors to the futures
                log.exception("saga.round_crashed")

    def _run_round(self, reason: str, *, raise_errors: bool, only_dynamic: bool = False) -> None:
        """Plan the held tasks (all, or only dynamic ones) in one SAGA call, tag them, release them."""
        with self._plan_lock:
            with self._state_lock:
                batch = sorted(
                    (st for st in self._held.values() if st.dynamic or not only_dynamic), key=lambda t: t.tid
                )
                for st in batch:
                    del self._held[st.tid]
            if not batch:
                return
            self._round += 1
            try:
                schedule, network = self._plan(batch, self._round)
            except Exception as exc:
                log.error("plan.failed %s", kv(round=self._round, tasks=len(batch), error=repr(exc)))
                for st in batch:
                    st.error = exc
                self._release(batch)
                if raise_errors:
                    raise
                return
            self._assign(batch, schedule, self._round)
            self._rounds.append(
                {
                    "round": self._round,
                    "reason": reason,
                    "tasks": len(batch),
                    "scheduler": schedule.scheduler,
                    "predicted_makespan": schedule.makespan,
                    "fixed": self._last_fixed,
                    "portfolio": {k: v for k, v in dict(schedule.portfolio).items()},
                    "nodes": list(network),
                }
            )
            self._release(batch)

    def _release(self, batch: Sequence[_SagaTask]) -> None:
        """Let upstream launch the tasks (each waits for its own dependencies as usual)."""
        for st in batch:
            st.released = True
        for st in sorted(batch, key=lambda t: t.assignment.start if t.assignment else math.inf):
            DataFlowKernel.launch_if_ready(self, st.record)

    # ------------------------------------------------------------------ planning
    def _live_network(self) -> saga_graphs.Network:
        """The network to plan on: config override, k8s topology, or the executor's connected nodes;
        only live nodes."""
        cfg = self._saga_config
        executor: Any = self.executors[self._planned_label]
        connected: Mapping[str, Any] | None = None
        if callable(getattr(executor, "connected_nodes", None)) and cfg.network is None:
            deadline = time.monotonic() + cfg.node_wait_timeout
            # min_nodes is about start-up; later rounds (e.g. after a node loss) take what is connected
            wanted = cfg.min_nodes if self._t0 is None else 1
            while True:
                connected = {
                    name: node
                    for name, node in executor.connected_nodes().items()
                    if name not in self._lost_nodes
                }
                if len(connected) >= wanted or time.monotonic() >= deadline or self._stopping.is_set():
                    break
                time.sleep(0.2)
        if cfg.network is not None:
            network = saga_graphs.Network.from_spec(cfg.network)
        elif cfg.topology is not None:
            network = saga_graphs.Network.from_spec(cfg.topology.to_network_spec())
            if connected is not None:  # the connected nodes, with the slots their pools really have
                network = network.restrict(connected).with_slots(
                    {name: int(node.slots) for name, node in connected.items() if name in network}
                )
        else:
            assert connected is not None
            network = saga_graphs.Network(default_bandwidth=cfg.default_bandwidth)
            for name, node in sorted(connected.items()):
                network.add_node(name, slots=int(node.slots))
        network = network.restrict(
            name for name in network if name not in self._lost_nodes and name not in self._source_lost
        )
        if not len(network):
            raise EmptyTopologyError(
                f"no node to plan on for executor {self._planned_label!r}: "
                f"{'the configured network/topology has no usable nodes' if cfg.network is not None or cfg.topology is not None else f'no worker pool connected within node_wait_timeout={cfg.node_wait_timeout}s'}"
                f"{f' (lost: {sorted(self._lost_nodes)})' if self._lost_nodes else ''}"
            )
        if len(network) < cfg.min_nodes:
            log.info("saga.fewer_nodes %s", kv(wanted=cfg.min_nodes, have=sorted(network)))
        self._network = network
        return network

    def _fixed_placements(
        self, network: saga_graphs.Network, exclude: set[int]
    ) -> dict[str, saga_graphs.Placement]:
        """Placements of planned, unfinished tasks on live nodes: the schedule a new round builds on."""
        nodes = network.nodes
        out: dict[str, saga_graphs.Placement] = {}
        for st in self._saga_tasks.values():
            a = st.assignment
            if a is None or st.done or st.tid in exclude or st.error is not None:
                continue
            if a.node not in nodes or a.slot >= nodes[a.node].slots:
                continue
            out[st.name] = saga_graphs.Placement(st.name, a.node, a.slot, a.start, a.end)
        return out

    def _plan(
        self, batch: Sequence[_SagaTask], round_no: int
    ) -> tuple[saga_graphs.Schedule, saga_graphs.Network]:
        """One SAGA call for the batch, starting after the already-placed load."""
        cfg = self._saga_config
        network = self._live_network()
        graph = saga_graphs.TaskGraph()
        in_batch = {st.tid for st in batch}
        for st in batch:
            graph.add_task(st.name, resolve_cost(self._cost_model, st.hints, st.func_name, st.tid))
        # The plan clock starts when the first plan is released, so planning time (SAGA's worker start
        # on the first call) does not show up as lateness of every task.
        first = self._t0 is None
        now = 0.0 if first else self._now()
        with self._state_lock:
            fixed = self._fixed_placements(network, in_batch) if not first else {}
        self._last_fixed = len(fixed)
        for st in batch:
            for pid in st.parents:
                parent = self._saga_tasks[pid]
                if pid not in in_batch and parent.name not in fixed:
                    continue  # finished (or unplanned) parent: its output is already there
                if parent.name in fixed and parent.name not in graph.tasks:
                    p = fixed[parent.name]
                    speed = network.speed(p.node)
                    graph.add_task(parent.name, (p.end - p.start) * speed)
                size = resolve_output_size(self._cost_model, parent.hints, parent.func_name, parent.tid)
                graph.add_dependency(parent.name, st.name, size=size)
        started = time.perf_counter()
        schedule = saga_graphs.plan(
            graph,
            network,
            cfg.saga_scheduler,
            time_budget=cfg.time_budget,
            fixed=saga_graphs.Schedule(fixed, "fixed") if fixed else None,
            min_start_time=now,
        )
        if first:
            self._t0 = time.time()
        log.info(
            "saga.round_planned %s",
            kv(
                round=round_no,
                tasks=len(batch),
                nodes=len(network),
                scheduler=schedule.scheduler,
                predicted_makespan=schedule.makespan,
                seconds=round(time.perf_counter() - started, 4),
            ),
        )
        return schedule, network

    def _assign(self, batch: Sequence[_SagaTask], schedule: saga_graphs.Schedule, round_no: int) -> None:
        """Store the plan, log task.assigned, give each task a FRESH resource specification dict."""
        for st in sorted(batch, key=lambda t: schedule.placements[t.name].start):
            placement = schedule.placements[st.name]
            self._tag(st, placement, round_no, schedule.scheduler)

    def _tag(self, st: _SagaTask, placement: saga_graphs.Placement, round_no: int, scheduler: str) -> None:
        """Record one assignment and write the task's resource specification (a new dict every time)."""
        node, start, end = placement.node, float(placement.start), float(placement.end)
        assignment = TaskAssignment(
            task_id=st.tid,
            function=st.func_name,
            node=node,
            start=start,
            end=end,
            round=round_no,
            scheduler=scheduler,
            slot=int(placement.slot),
        )
        st.assignment = assignment
        self.saga_assignments[st.tid] = assignment
        record = st.record
        # The app's default parsl_resource_specification={} is ONE dict shared by all calls: never mutate it.
        spec = dict(record["resource_specification"] or {})
        # HTEx hands out LOWER priority values first, so the planned start itself orders a node's queue.
        spec.update(
            {"node": node, "priority": round(float(start), 6), "affinity": self._saga_config.affinity}
        )
        record["resource_specification"] = spec
        if "parsl_resource_specification" in record["kwargs"]:
            record["kwargs"]["parsl_resource_specification"] = spec
        log.info(
            "task.assigned %s",
            kv(
                task=st.tid,
                function=st.func_name,
                node=node,
                start=round(float(start), 4),
                end=round(float(end), 4),
                round=round_no,
            ),
        )

    # ------------------------------------------------------------------ reality and node loss
    def _on_app_done(self, st: _SagaTask, fut: Future) -> None:
        # No notify: the planner loop waits for held tasks, not for finished ones.
        # The AppFuture is done: exception() returns at once (the task's own error or a DependencyError).
        exc = None if fut.cancelled() else Future.exception(fut)
        with self._state_lock:
            st.done = True
            st.failure = exc

    def _on_exec_done(self, st: _SagaTask, proxy: _RunFuture, fut: Future) -> None:
        """Record reality, feed the cost model, re-plan on node loss, else copy the outcome unchanged."""
        exc = fut.exception()
        if (
            exc is not None
            and _is_node_loss(exc)
            and len(st.replans) < self._saga_config.max_replans
            and not self.cleanup_called
        ):
            self._replan_pool.submit(self._replan_and_resubmit, st, proxy, exc)
            return
        if exc is None:
            proxy.run_record = self._record_actual(st, fut)
            proxy.set_result(fut.result())
        else:
            proxy.set_exception(exc)

    def _record_actual(self, st: _SagaTask, fut: Future) -> RunRecord | None:
        """Keep the executor future's run_record (on the plan clock) and feed the cost model; returns it."""
        run: RunRecord | None = getattr(fut, "run_record", None)
        if run is None:
            return None
        st.actual = run.relative_to(self._t0 if self._t0 is not None else 0.0)
        a = st.assignment
        log.info(
            "task.ran %s",
            kv(
                task=st.tid,
                function=st.func_name,
                node=st.actual.node,
                planned_node=a.node if a else None,
                start=round(st.actual.start, 4),
                end=round(st.actual.end, 4),
            ),
        )
        try:
            size = float(len(pickle.dumps(fut.result())))
        except Exception:
            size = 0.0
        network = self._network
        speed = network.speed(st.actual.node) if network is not None and st.actual.node in network else 1.0
        try:
            self._saga_config.cost_model.observe(st.func_name, max(0.0, run.duration), size, speed=speed)
        except Exception as exc:  # a cost model must never break the run
            log.warning("cost_model.observe_failed %s", kv(function=st.func_name, error=repr(exc)))
        return run

    def _on_node_change(self, change: Any) -> None:
        """Executor node listener: on loss, re-plan the tasks planned there that have not been submitted."""
        kind, node = getattr(change, "kind", None), getattr(change, "node", None)
        node = getattr(node, "name", node)  # NodeChange.node is a ConnectedNode; accept a bare name too
        log.info("node.changed %s", kv(kind=kind, node=node))
        if kind != "lost" or node is None or self.cleanup_called:
            if kind == "joined" and node is not None:
                self._lost_nodes.discard(node)
            return
        with self._state_lock:
            self._lost_nodes.add(node)
            victims = [
                st
                for st in self._saga_tasks.values()
                if st.assignment is not None
                and st.assignment.node == node
                and not st.launched
                and not st.done
            ]
        if victims:
            why = getattr(change, "reason", "")  # a NetworkEvent says why (e.g. "cordoned ...")
            self._replan_pool.submit(self._replan, victims, f"node {node} lost" + (f": {why}" if why else ""))

    def _on_network_event(self, event: Any) -> None:
        """Network-source listener: a node the cluster lost (deleted, cordoned, NotReady) is lost for
        planning exactly like a pool leaving; ``joined`` makes it plannable again; ``changed`` needs
        nothing (later rounds read the source's live topology). Tasks already dispatched there keep running."""
        kind, node = getattr(event, "kind", None), getattr(event, "node", None)
        log.info("network.changed %s", kv(kind=kind, node=node, reason=getattr(event, "reason", "")))
        if node is None or kind not in ("joined", "lost"):
            return
        with self._state_lock:
            (self._source_lost.add if kind == "lost" else self._source_lost.discard)(node)
        self._on_node_change(event)

    def _replan(self, victims: Sequence[_SagaTask], reason: str) -> list[_SagaTask]:
        """Plan the victims again on the remaining nodes; only tasks not yet submitted are changed."""
        with self._plan_lock:
            self._round += 1
            round_no = self._round
            locks = [st.record["task_launch_lock"] for st in victims]
            for lock in locks:
                lock.acquire()
            try:
                todo = [st for st in victims if not st.launched and not st.done]
                if not todo:
                    return []
                old = {st.tid: st.assignment.node if st.assignment else None for st in todo}
                try:
                    schedule, network = self._plan(todo, round_no)
                except Exception as exc:
                    log.error("replan.failed %s", kv(tasks=[st.tid for st in todo], error=repr(exc)))
                    for st in todo:
                        st.error = exc
                    return todo
                now = self._now()
                for st in todo:
                    p = schedule.placements[st.name]
                    st.replans.append(
                        {
                            "from": old[st.tid],
                            "to": p.node,
                            "reason": reason,
                            "at": round(now, 4),
                            "round": round_no,
                        }
                    )
                    self._tag(st, p, round_no, schedule.scheduler)
                    log.info(
                        "task.replanned %s",
                        kv(task=st.tid, from_node=old[st.tid], to_node=p.node, reason=reason),
                    )
                self._rounds.append(
                    {
                        "round": round_no,
                        "reason": reason,
                        "tasks": len(todo),
                        "scheduler": schedule.scheduler,
                        "predicted_makespan": schedule.makespan,
                        "portfolio": dict(schedule.portfolio),
                        "nodes": list(network),
                    }
                )
                return todo
            finally:
                for lock in locks:
                    lock.release()

    def _replan_and_resubmit(self, st: _SagaTask, proxy: _RunFuture, exc: BaseException) -> None:
        """A submitted task lost its node: re-plan it and submit it again; its AppFuture never sees the loss."""
        try:
            node = st.assignment.node if st.assignment else None
            if node is not None:
                with self._state_lock:
                    self._lost_nodes.add(node)
            st.launched = False
            self._replan([st], f"{type(exc).__name__}: {exc}")
            if st.error is not None:
                proxy.set_exception(st.error)
                return
            exec_fu = DataFlowKernel.launch_task(self, st.record)
            st.launched = True
            exec_fu.add_done_callback(partial(self._on_exec_done, st, proxy))
        except Exception as err:
            log.error("replan.resubmit_failed %s", kv(task=st.tid, error=repr(err)))
            if not proxy.done():
                proxy.set_exception(exc)

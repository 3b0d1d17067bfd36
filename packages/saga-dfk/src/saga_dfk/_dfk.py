"""SagaDataFlowKernel: a Parsl DataFlowKernel that plans tasks with SAGA before letting them run.

The kernel is the thin part that hooks Parsl; the rest stands apart and is called one way:

* :mod:`._records` -- what each task was planned and did (the report and the progress line read these);
* :mod:`._network_source` -- :class:`ClusterView`, the cluster as the planner sees it (executor, topology or
  static spec, network source): it reports joins and losses, plans nothing;
* :mod:`._dispatch` -- the per-node dispatch window (ready tasks wait there, movable by a re-plan);
* :mod:`._planner` -- one round: the tasks not dispatched yet, around the running work, with the caller's
  pins and what finished tasks taught (calibration); returns placements and calls nothing back.

Hooks (why these): ``submit`` only checks a caller's pin (a hard pin to a node the cluster does not have
fails there, naming the known nodes), then is upstream's, so dependency tracking, memoization, retries
and errors are plain Parsl's. ``launch_if_ready`` holds a task on its first call until a round planned it.
``launch_task`` (dependencies done) puts the task in its node's queue: at most ``dispatch_window`` tasks
per slot are in the executor at once, so a re-plan can still move the rest; it returns a proxy future, and
a node loss behind that future becomes a re-plan and a new dispatch that upstream never sees (no Parsl
retry used). The plan's tags go into the task's resource specification only, never into its kwargs, so
memoization and checkpoint hashes are plain Parsl's.

One planner thread runs every round (the launch thread never plans and never waits on the planner); it
wakes when submissions settle, when somebody waits on a held task, on node joins and losses, on drift.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from parsl.app.errors import RemoteExceptionWrapper
from parsl.app.futures import DataFuture
from parsl.dataflow.dependency_resolvers import DependencyResolver
from parsl.dataflow.dflow import DataFlowKernel
from parsl.dataflow.futures import AppFuture
from parsl.dataflow.states import States
from parsl.dataflow.taskrecord import TaskRecord
from parsl.executors.high_throughput.errors import ManagerLost

import saga_graphs
from parsl_affinity_htex import RunRecord, plain_value, store_node

from ._config import SagaConfig
from ._dispatch import NodeQueues
from ._errors import (
    EmptyTopologyError,
    InvalidTaskHintError,
    NoPlannableExecutorError,
    PlanningCancelledError,
    UnknownPinnedNodeError,
)
from ._hints import HINT_KEYS, split_hints
from ._lineage import Lineage, lost_error
from ._live import LiveView
from ._log import kv
from ._network_source import ClusterView, NetworkEvent
from ._parsl_log import ParslLogBridge
from ._planner import Calibration, RoundPlan, overdue_nodes, plan_round
from ._protocols import ReportsConnectedNodes
from ._records import AssignmentsView, Pin, PlannedTask, RoundLog, TaskAssignment, TaskRecords

__all__ = ["OPT_OUT_KEY", "SagaDataFlowKernel", "TaskAssignment"]

log = logging.getLogger(__name__)

_INTERNAL_EXECUTOR = "_parsl_internal"
#: resource specification key: ``False`` keeps the task out of SAGA planning (stock placement).
OPT_OUT_KEY = "saga_plan"
#: round summaries kept for the report (older ones are counted, not kept)
MAX_ROUNDS_KEPT = 1000
_TICK = 0.25


class _RunFuture(Future):
    """What launch_task returns for a planned task: once the task succeeded, ``run_record`` is the
    RunRecord of its (last) run, exactly as on the executor's AffinityFuture (worker epoch seconds)."""

    run_record: RunRecord | None = None


class _WaitSignal(list):  # type: ignore[type-arg]
    """A future's ``_waiters`` list that tells the kernel when ``concurrent.futures.wait`` or
    ``as_completed`` start waiting on it (they append a waiter under the future's lock: no blocking here)."""

    def __init__(self, items: list[Any], kernel: SagaDataFlowKernel, tid: int) -> None:
        super().__init__(items)
        self._kernel = kernel
        self._tid = tid

    def append(self, item: Any) -> None:
        super().append(item)
        self._kernel._waited_on(self._tid)


#: Set while Parsl unwraps a task's dependencies: their results go to the task as they are (a result kept
#: in a node store stays a proxy, which the child's worker fetches from the node holding it).
_unwrapping = threading.local()


def _passing_node_results(resolver: DependencyResolver) -> DependencyResolver:
    """``resolver`` (the config's, or Parsl's shallow one) with the dependencies' results unwrapped as they
    are, not fetched to the driver by ``_SagaAppFuture.result``."""
    unwrap = resolver.traverse_to_unwrap

    def traverse_to_unwrap(dep: object) -> object:
        _unwrapping.active = True
        try:
            return unwrap(dep)
        finally:
            _unwrapping.active = False

    return DependencyResolver(
        traverse_to_gather=resolver.traverse_to_gather, traverse_to_unwrap=traverse_to_unwrap
    )


class _SagaAppFuture(AppFuture):
    """AppFuture whose every way of waiting (result, exception, done-polling, wait, as_completed) asks the
    kernel to plan what is held, so explicit mode cannot wait forever; ``result()`` gives a result kept in
    a node store (the executor's data plane) as its plain value, fetched then."""

    def result(self, timeout: float | None = None) -> Any:
        _signal(self.task_record)
        value = super().result(timeout)
        return value if getattr(_unwrapping, "active", False) else plain_value(value)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        _signal(self.task_record)
        return super().exception(timeout)

    def done(self) -> bool:
        finished = super().done()
        if not finished:
            _signal(self.task_record)
        return finished


class _SagaDataFuture(DataFuture):
    """The DataFuture of a planned task's output file, with the same wait signals as its AppFuture."""

    def result(self, timeout: float | None = None) -> Any:
        _signal(getattr(self.parent, "task_record", None))
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        _signal(getattr(self.parent, "task_record", None))
        return super().exception(timeout)

    def done(self) -> bool:
        finished = super().done()
        if not finished:
            _signal(getattr(self.parent, "task_record", None))
        return finished


def _signal(task_record: Any) -> None:
    dfk = task_record.get("dfk") if isinstance(task_record, dict) else None
    if isinstance(dfk, SagaDataFlowKernel):
        dfk._waited_on(task_record.get("id"))


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _node_had_no_pool(exc: BaseException) -> bool:
    """The executor failed the task because its node had no live pool at all (not one pool lost of many)."""
    from parsl_affinity_htex.errors import NodeUnavailable

    return isinstance(exc, NodeUnavailable)


def _is_node_loss(exc: BaseException) -> bool:
    """A failure caused by the node going away, not by the task: worth re-planning."""
    if isinstance(exc, ManagerLost):
        return True
    from parsl_affinity_htex.errors import NodeUnavailable

    return isinstance(exc, NodeUnavailable)


class SagaDataFlowKernel(DataFlowKernel):
    """A DataFlowKernel that plans its tasks with SAGA and runs each on its planned node.

    Install it with ``saga_dfk.load(SagaConfig(...))`` so ``@python_app`` code is unchanged.
    ``saga_assignments`` (task id -> TaskAssignment) is the current plan (also reachable as
    ``_saga_task_assignments``, the one compatibility name of saga-dfk: see README "Compatibility").
    """

    def __init__(self, config: SagaConfig) -> None:
        if not isinstance(config, SagaConfig):
            raise TypeError(f"SagaDataFlowKernel needs a SagaConfig, got {type(config).__name__}")
        # State first: upstream __init__ starts executors, which may already report nodes.
        self._saga_config = config
        self._records = TaskRecords()
        self._lock = self._records.lock
        self.saga_assignments: Mapping[int, TaskAssignment] = AssignmentsView(self._records)
        # Compatibility (README "Compatibility"): the name the original SAGA-Parsl fork gave this mapping.
        self._saga_task_assignments = self.saga_assignments
        self._wake = threading.Event()
        self._go = threading.Event()  # execute() or a wait asked for a round now
        self._go_reason = "execute"
        self._in_round: frozenset[int] = frozenset()  # held tasks the running round is planning
        self._executed = threading.Event()  # explicit mode: rounds are rolling from now on
        self._stopping = threading.Event()
        self._round_done = threading.Condition(self._lock)
        self._t0: float | None = None
        self._round = 0
        self._rounds = RoundLog(MAX_ROUNDS_KEPT)
        self._triggers: list[str] = []  # why the next round must re-plan (joins, losses, drift)
        # what the next round may move (tasks not dispatched yet): all of them after a join, those on
        # lost or drifting nodes, and single tasks whose node went away under them
        self._replan_all = False
        self._replan_nodes: set[str] = set()
        self._replan_tids: set[int] = set()
        self._failed: deque[tuple[PlannedTask, BaseException]] = deque()  # to fail without a Parsl retry
        self._queues = NodeQueues(config.dispatch_window, self._node_slots_now)
        self._lineage = Lineage(self._remake, self._remade)
        self._last_submit = time.monotonic()
        self._started = time.monotonic()
        self._last_drift_round = 0.0
        self._idle_drift_rounds = 0  # drift rounds in a row that moved no task
        self._round_errors: dict[int, BaseException] = {}  # task id -> planning error, for execute()
        self._network: saga_graphs.Network | None = None
        self._lost_seen: set[str] = set()
        self._lost_at_cleanup: set[str] | None = None
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
        self._calibration = Calibration(
            learn_functions=not isinstance(config.cost_model, saga_graphs.LearnedCostModel)
        )
        self._live: LiveView | None = None
        self._parsl_log = ParslLogBridge()  # our loggers join Parsl's parsl.log handler (add_executors)
        super().__init__(config)
        self.dependency_resolver = _passing_node_results(self.dependency_resolver)
        self._parsl_log.attach()  # no-op if add_executors did it already
        try:
            self._planned_label = self._choose_executor(config)
        except BaseException:
            # the executors are running already: a failed load must not leave them (and their pools) behind
            self._stopping.set()
            DataFlowKernel.cleanup(self)
            self._parsl_log.detach()
            raise
        executor: Any = self.executors[self._planned_label]
        self._default_affinity = getattr(executor, "default_affinity", "hard")
        self._cluster = ClusterView(
            executor,
            network_spec=config.network,
            topology=config.topology,
            source=config.network_source,
            default_bandwidth=config.default_bandwidth,
        )
        self._cluster.start(self._on_network_event)
        self._cluster.refresh()
        self._planner = threading.Thread(target=self._planner_loop, name="saga-planner", daemon=True)
        self._planner.start()
        threading.Thread(target=self._warm_up_planner, name="saga-warm-up", daemon=True).start()
        show = config.progress and _stderr_is_tty()
        if self.saga_live_report_path is not None or show:
            self._live = LiveView(
                self.progress_line,
                self.write_live_report if self.saga_live_report_path is not None else None,
                interval=config.live_report_interval or 2.0,
                show_line=show,
            )
            self._live.start()
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
            if isinstance(self.executors[label], ReportsConnectedNodes):
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
            return 0.0
        return time.time() - self._t0

    # ------------------------------------------------------------------ upstream hooks
    def submit(
        self,
        func: Any,
        app_args: Sequence[Any],
        executors: str | Sequence[str] = "all",
        cache: bool = False,
        ignore_for_cache: Sequence[str] | None = None,
        app_kwargs: dict[str, Any] | None = None,
        join: bool = False,
    ) -> AppFuture:
        """Upstream's submit, after checking the caller's pin: a hard pin to a node this cluster does not
        have raises UnknownPinnedNodeError here, naming the known nodes (it would never run)."""
        kwargs = app_kwargs if app_kwargs is not None else {}
        spec = kwargs.get("parsl_resource_specification")
        if (
            isinstance(spec, Mapping)
            and spec.get(OPT_OUT_KEY, True) is not False
            and self._targets_planned(executors)
        ):
            self._check_pin(getattr(func, "__name__", repr(func)), spec)
        return super().submit(func, app_args, executors, cache, ignore_for_cache, kwargs, join)

    def _targets_planned(self, executors: str | Sequence[str]) -> bool:
        return executors == "all" or self._planned_label in (
            [executors] if isinstance(executors, str) else executors
        )

    def _check_pin(self, name: str, spec: Mapping[str, Any]) -> None:
        """A caller's placement, checked at the call: the executor's own spec validation (bad keys and
        types raise its AffinitySpecError now, not at result()), then the node against the cluster."""
        own = {k: v for k, v in spec.items() if k not in (OPT_OUT_KEY, *HINT_KEYS)}
        if not own:
            return
        executor: Any = self.executors[self._planned_label]
        validate = getattr(executor, "validate_resource_spec", None)
        if callable(validate):
            validate(own)
        pin = self._pin_of(spec)
        if pin is None:
            return
        known = self._cluster.known_names()
        if not known or pin.node in known:
            return
        if pin.hard:
            raise UnknownPinnedNodeError(
                f"{name!r} is pinned (hard) to node {pin.node!r}, which this cluster does not have; "
                f"known nodes: {sorted(known)}"
            )
        log.warning(
            "task.pinned_to_unknown_node %s",
            kv(function=name, node=pin.node, known=sorted(known), effect="soft pin: planned freely"),
        )

    def launch_if_ready(self, task_record: TaskRecord) -> None:
        """Hold a planned task on its first call until a round planned it; pass everything else on."""
        tid = task_record["id"]
        with self._lock:
            task = self._records.get(tid)
            if task is None:
                task = self._register(task_record)
            if task is not None and not task.released:
                return
        super().launch_if_ready(task_record)

    def launch_task(self, task_record: TaskRecord) -> Future:
        """Dependencies are done: queue the task on its node (dispatched while the node's window has room)
        and return a proxy future that hides node-loss failures behind a re-plan."""
        with self._lock:
            task = self._records.get(task_record["id"])
            if task is None or task.opted_out or task.done:
                planned = False
            else:
                planned = True
                proxy = _RunFuture()
                task.proxy = proxy
                task.ready = True
                node = task.assignment.node if task.assignment is not None else None
                pinned_hard = task.pin is not None and task.pin.hard
                if node is None or (not pinned_hard and not self._cluster.is_live(node)):
                    self._triggers.append(f"task {task.tid} ready for node {node}, which has no live pool")
                    self._replan_tids.add(task.tid)
                    self._wake.set()
                else:
                    self._enqueue(task)
                todo = self._take_dispatchable()
        if not planned:
            return super().launch_task(task_record)
        self._dispatch(todo)
        return proxy

    def add_executors(self, executors: Sequence[Any]) -> None:
        """Upstream's, after our loggers joined parsl.log (upstream set its handler up just before)."""
        if hasattr(self, "_parsl_log"):
            self._parsl_log.attach()
        super().add_executors(executors)

    def wait_for_current_tasks(self) -> None:
        """Ask for a round (what is held gets planned), then wait like upstream."""
        self._waited_on()
        super().wait_for_current_tasks()

    def cleanup(self) -> None:
        """Stop planning (tasks still held fail with PlanningCancelledError: nothing waits forever),
        clean up like upstream, then write the report. Returns within seconds whatever is held."""
        if self.cleanup_called:
            super().cleanup()  # upstream raises its own "already cleaned up" error
            return
        self._lost_at_cleanup = self._lost_nodes()
        self._stopping.set()
        self._wake.set()
        self._planner.join(timeout=5.0)
        self._cluster.stop()
        with self._lock:
            held = list(self._records.held.values())
            waiting = [t for t in self._records.open.values() if t.ready and not t.dispatched and t.proxy]
            self._records.held.clear()
        cancelled = PlanningCancelledError("the kernel was cleaned up before this task was planned")
        for task in held:
            self._fail(task, cancelled)
        for task in waiting:
            if not task.proxy.done():
                task.proxy.set_exception(
                    PlanningCancelledError("the kernel was cleaned up before this task was dispatched")
                )
        super().cleanup()
        if self._live is not None:
            self._live.stop()
        if self.saga_report_path:
            self.write_report(self.saga_report_path)
        if self.saga_live_report_path is not None:
            try:
                self.write_live_report(final=True)
            except Exception:  # pragma: no cover - the JSON report is already written
                log.exception("saga.live_report_failed")
        self._write_monitoring_placements()
        self._parsl_log.detach()  # our loggers leave parsl.log (attached in add_executors)

    # ------------------------------------------------------------------ registration
    def _register(self, task_record: TaskRecord) -> PlannedTask | None:
        """The records of a task seen for the first time (under the lock); None when it is not ours."""
        if task_record["executor"] != self._planned_label:
            self._watch_waits(task_record)  # e.g. a join_app body: waiting on it must release held tasks
            return None
        tid = task_record["id"]
        parents: list[int] = []
        for dep in task_record["depends"]:
            pid: int | None = None
            if isinstance(dep, AppFuture) and dep.task_record["dfk"] is self:
                pid = dep.task_record["id"]
            elif isinstance(dep, DataFuture):
                pid = dep.tid  # the task that produces the file
            if pid is not None and pid in self._records and pid not in parents:
                parents.append(pid)
        task = PlannedTask(
            tid=tid,
            name=f"t{tid}",
            func_name=task_record["func_name"],
            parents=tuple(parents),
            record=task_record,
        )
        spec = task_record["resource_specification"]
        if isinstance(spec, Mapping) and spec.get(OPT_OUT_KEY, True) is False:
            task.opted_out = True
            task.released = True
            task_record["resource_specification"] = {k: v for k, v in spec.items() if k != OPT_OUT_KEY}
            self._strip_hints(task_record, validate=False)
        else:
            try:
                task.hints = self._strip_hints(task_record, validate=True)
            except InvalidTaskHintError as exc:  # fails as final from the planner thread, never launched
                task.error = exc
                self._failed.append((task, exc))
                self._wake.set()
            task.pin = self._pin_of(task_record["resource_specification"])
            task.dynamic = self._submitted_by_app()
            self._last_submit = time.monotonic()
        self._records.add(task)
        self._watch_waits(task_record)
        task_record["app_fu"].add_done_callback(partial(self._on_app_done, task))  # task bound by value
        if task.error is None and not task.released:
            held = len(self._records.held)
            # wake the planner only to start a settle window or at the threshold (not once per submit)
            if held == 1 or held >= self._saga_config.round_threshold or task.dynamic or self._go.is_set():
                self._wake.set()
        return task

    def _watch_waits(self, task_record: TaskRecord) -> None:
        """Give the task's futures the wait signals (result, exception, done, wait, as_completed)."""
        app_fu = task_record["app_fu"]
        if type(app_fu) is AppFuture:
            app_fu.__class__ = _SagaAppFuture
            app_fu._waiters = _WaitSignal(app_fu._waiters, self, task_record["id"])
        for out in getattr(app_fu, "_outputs", ()):
            if type(out) is DataFuture:
                out.__class__ = _SagaDataFuture
                out._waiters = _WaitSignal(out._waiters, self, task_record["id"])

    def _pin_of(self, spec: Any) -> Pin | None:
        """The caller's pin in a resource specification, before any plan tagged it."""
        if not isinstance(spec, Mapping) or not isinstance(spec.get("node"), str) or not spec["node"]:
            return None
        affinity = spec.get("affinity", self._default_affinity)
        return Pin(spec["node"], affinity != "soft")

    def _strip_hints(self, task_record: TaskRecord, *, validate: bool) -> Any:
        """Take the planning hints (``cost``, ``output_size``) out of the task's resource specification,
        into a FRESH dict (apps share one default dict across calls), before upstream computes a
        memoization hash over the kwargs and before the executor validates the spec."""
        spec = task_record["resource_specification"]
        try:
            hints, rest = split_hints(spec, task_record["id"], task_record["func_name"])
        except InvalidTaskHintError:
            if validate:
                raise
            hints, rest = None, {k: v for k, v in spec.items() if k not in ("cost", "output_size")}
        if rest is None:
            rest = dict(spec) if isinstance(spec, Mapping) else spec
        task_record["resource_specification"] = rest
        if "parsl_resource_specification" in task_record["kwargs"]:
            # what the app body receives: the caller's spec without saga-dfk's own keys (never the plan)
            task_record["kwargs"]["parsl_resource_specification"] = {
                k: v for k, v in rest.items() if k != OPT_OUT_KEY
            }
        return hints

    def _submitted_by_app(self) -> bool:
        """True when the current thread is an app running in this process (a join_app body)."""
        name = threading.current_thread().name
        for executor in self.executors.values():
            prefix = getattr(executor, "thread_name_prefix", None)
            if isinstance(prefix, str) and prefix and name.startswith(prefix):
                return True
        return False

    def _eligible(self, task: PlannedTask) -> bool:
        """May a round plan this held task now? Always in auto mode and once explicit mode was told to go;
        before that, only tasks submitted by running apps (nobody could call execute() for them)."""
        if self._saga_config.planning == "auto" or self._executed.is_set() or self._go.is_set():
            return True
        if not task.dynamic:
            return False
        return not any(
            (p := self._records.open.get(pid)) is not None and not p.released for pid in task.parents
        )

    def _waited_on(self, tid: int | None = None) -> None:
        """Somebody waits on task ``tid`` (any way of waiting; None: on everything): plan what is held.
        Never blocks. A planned task already released needs nothing (Parsl itself polls done() of the
        dependencies of every task it launches); a task of another executor may wait on held ones."""
        if not self._records.held or self._stopping.is_set():
            return
        if tid is not None and tid in self._records.finished:
            return  # finished
        task = self._records.open.get(tid) if tid is not None else None
        if task is not None and (task.released or tid in self._in_round):
            return  # planned already, or in the round being planned right now
        if not self._go.is_set():
            self._go_reason = "wait"
            self._go.set()
            self._wake.set()

    # ------------------------------------------------------------------ dispatch
    def _node_slots_now(self, node: str) -> int:
        network = self._network
        return self._cluster.live().get(node) or (
            network.nodes[node].slots if network is not None and node in network else 1
        )

    def _enqueue(self, task: PlannedTask) -> None:
        self._queues.push(task)

    def _take_dispatchable(self, nodes: Sequence[str] | None = None) -> list[PlannedTask]:
        """Ready tasks that fit their node's window, marked dispatched (under the lock)."""
        return self._queues.take(nodes)

    def _dispatch(self, tasks: Sequence[PlannedTask]) -> None:
        """Hand tasks to the executor (upstream launch_task: memoization, monitoring, submit)."""
        for task in tasks:
            record, proxy = task.record, task.proxy
            if record is None or proxy is None:
                continue
            try:
                exec_fu = DataFlowKernel.launch_task(self, record)
            except Exception as exc:
                self._settle(task)
                if not proxy.done():
                    proxy.set_exception(exc)
                continue
            exec_fu.add_done_callback(partial(self._on_exec_done, task, proxy))

    def _dispatch_later(self, tasks: list[PlannedTask]) -> None:
        """Dispatch from Parsl's launch thread (never from an executor's result thread)."""
        if not tasks:
            return
        if self.cleanup_called:
            for task in tasks:
                if task.proxy is not None and not task.proxy.done():
                    task.proxy.set_exception(PlanningCancelledError("the kernel was cleaned up"))
            return
        try:
            self._task_launch_pool.submit(self._dispatch, tasks)
        except RuntimeError:  # the launch pool is shut down
            self._dispatch(tasks)

    def _settle(self, task: PlannedTask) -> list[PlannedTask]:
        """A dispatched try ended: free its place in the window; what may go next (under the lock)."""
        with self._lock:
            task.ready = False  # the try ended; a Parsl retry calls launch_task again
            node = self._queues.settle(task)
            return [] if node is None else self._take_dispatchable([node])

    # ------------------------------------------------------------------ outcomes
    def _on_exec_done(self, task: PlannedTask, proxy: _RunFuture, fut: Future) -> None:
        """Record reality, feed the cost model and calibration, re-plan on node loss, else pass it on."""
        exc = fut.exception()
        nxt = self._settle(task)
        lost = lost_error(exc if exc is not None else fut.result())
        if lost is not None and self._lineage.knows(lost.key) and task.losses < self._saga_config.max_replans:
            # an argument was a result kept on a node that is gone: make it again, then re-plan this task
            with self._lock:
                task.losses += 1
                task.ready = True
            self._dispatch_later(nxt)
            self._lineage.recover(lost.key, partial(self._recovered, task), lost_on=lost.producer_node)
            return
        pinned_hard = task.pin is not None and task.pin.hard
        if (
            exc is not None
            and _is_node_loss(exc)
            and not pinned_hard
            and task.losses < self._saga_config.max_replans
            and not self.cleanup_called
        ):
            with self._lock:
                task.losses += 1
                task.ready = True  # still ready to run: the next round re-plans and dispatches it
                node = task.assignment.node if task.assignment else None
                self._triggers.append(f"task {task.tid}: {type(exc).__name__} on {node}")
                self._replan_tids.add(task.tid)
            if node is not None and _node_had_no_pool(exc):
                self._cluster.mark_gone(node)  # never re-planned onto it before a pool is seen there again
            self._wake.set()
            self._dispatch_later(nxt)
            return
        if exc is None:
            result = fut.result()
            # A task's own exception comes back as a result (Parsl's RemoteExceptionWrapper): that try
            # failed and Parsl may retry it, so the task stays movable and teaches the calibration nothing.
            if not isinstance(result, RemoteExceptionWrapper):
                with self._lock:
                    task.done = True  # it ran: no round may move it any more (the app future follows)
                try:
                    proxy.run_record = self._record_actual(task, fut)
                except Exception:  # bookkeeping must never keep a result from its future
                    log.exception("saga.record_failed %s", kv(task=task.tid))
            self._dispatch_later(nxt)
            proxy.set_result(result)
        else:
            self._dispatch_later(nxt)
            proxy.set_exception(exc)

    def _remake(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], avoid: str | None) -> Future:
        """Run a lost result's recipe again on the planned executor: on the live node with the most slots
        other than ``avoid`` (the node that lost it, whose pool may not be known gone yet), soft (if that
        node goes too, the executor runs it elsewhere)."""
        executor: Any = self.executors[self._planned_label]
        live = {n: s for n, s in self._cluster.live().items() if n != avoid}
        spec = {}
        if live:
            spec = {"node": max(sorted(live), key=lambda n: live[n]), "affinity": "soft"}
        return executor.submit(func, spec, *args, **kwargs)

    def _remade(self, old_key: str, new_key: str, store: str) -> None:
        """A lost result exists again: the producer's record points at the new copy and says so."""
        with self._lock:
            tid = self._records.producer_of(old_key)
            producer = self._records.get(tid) if tid is not None else None
            if producer is None or producer.actual is None:
                return
            previous = producer.actual.node
            self._records.set_actual(
                producer.tid,
                replace(producer.actual, output_key=new_key, output_store=store),
                {
                    "from": previous,
                    "to": store_node(store),
                    "reason": f"its result was lost with node {previous}: made again",
                    "at": round(self._now(), 4) if self._t0 is not None else 0.0,
                    "round": self._round,
                },
            )

    def _recovered(self, task: PlannedTask, error: BaseException | None) -> None:
        """The lost argument of ``task`` was made again (or could not be): re-plan and run it, or fail it."""
        if error is not None:
            log.error("lineage.failed %s", kv(task=task.tid, error=repr(error)))
            with self._lock:
                proxy = task.proxy
            if proxy is not None and not proxy.done():
                proxy.set_exception(error)
            return
        with self._lock:
            self._triggers.append(f"task {task.tid}: an argument was made again after its node was lost")
            self._replan_tids.add(task.tid)
        self._wake.set()

    def _record_actual(self, task: PlannedTask, fut: Future) -> RunRecord | None:
        # not getattr(): a memoized result's future is an AppFuture, whose unknown attributes are futures
        run = fut.__dict__.get("run_record")
        if not isinstance(run, RunRecord):
            return None
        if run.output_key is not None and task.record is not None:
            self._lineage.remember(run.output_key, task.record, fut.result())
        task.actual = run.relative_to(self._t0 if self._t0 is not None else 0.0)
        task.output_bytes = getattr(run, "output_bytes", None)
        a = task.assignment
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "task.ran %s",
                kv(task=task.tid, function=task.func_name, node=run.node, planned_node=a.node if a else None),
            )
        if a is not None and a.node == run.node:
            self._calibration.observe(run.node, task.func_name, a.end - a.start, run.duration, task.applied)
        network = self._network
        speed = network.speed(run.node) if network is not None and run.node in network else 1.0
        try:
            self._saga_config.cost_model.observe(
                task.func_name, max(0.0, run.duration), float(task.output_bytes or 0), speed=speed
            )
        except Exception as exc:  # a cost model must never break the run
            log.warning("cost_model.observe_failed %s", kv(function=task.func_name, error=repr(exc)))
        return run

    def _on_app_done(self, task: PlannedTask, fut: Future) -> None:
        """The task is final (result, error, dependency failure): keep only what the report needs."""
        exc = None if fut.cancelled() else Future.exception(fut)
        record = task.record
        status = record["status"].name if record is not None and "status" in record else None
        with self._lock:
            self._records.finish(task, status, exc)

    def _fail(self, task: PlannedTask, exc: BaseException) -> None:
        """Fail a task that saga-dfk could not plan, as final (upstream retries would fail the same way)."""
        record = task.record
        if record is None or task.done:
            return
        with self._lock:
            task.error = exc
            task.released = True
            self._records.held.pop(task.tid, None)
            self._round_errors[task.tid] = exc
        if record["app_fu"].done():
            return
        try:
            self._complete_task_exception(record, States.failed, exc)
        except Exception:  # pragma: no cover - upstream bookkeeping failed; the future must still finish
            log.exception("saga.fail_task_failed %s", kv(task=task.tid))
            if not record["app_fu"].done():
                record["app_fu"].set_exception(exc)

    # ------------------------------------------------------------------ the cluster
    def _on_network_event(self, event: NetworkEvent) -> None:
        """A node joined or was lost (executor or network source): the next round re-plans what is not
        dispatched. Tasks already dispatched there keep running (or fail and are re-planned)."""
        log.info(
            "node.changed %s", kv(kind=event.kind, node=event.node, reason=event.reason, source=event.source)
        )
        if event.kind not in ("joined", "lost") or self._stopping.is_set() or self.cleanup_called:
            return
        with self._lock:
            (self._lost_seen.add if event.kind == "lost" else self._lost_seen.discard)(event.node)
            if self._t0 is None:
                return  # the first round reads the cluster as it is then
            planned_on = self._network
            known = planned_on is not None and event.node in planned_on
            if (event.kind == "joined") == known:
                return  # the latest round already planned with it (joined) or without it (lost)
            if event.kind == "joined" and not self._saga_config.adaptive:
                return
            self._triggers.append(
                f"node {event.node} {event.kind}" + (f": {event.reason}" if event.reason else "")
            )
            if event.kind == "joined":
                self._replan_all = True
            else:
                self._replan_nodes.add(event.node)
        self._wake.set()

    def _wait_for_cluster(self) -> None:
        """Before the first round: wait for the expected nodes up to ``node_settle_time`` after start, then
        plan on what registered (a warning names what is missing); with no node at all, wait up to
        ``node_wait_timeout``."""
        cfg = self._saga_config
        if not self._cluster.reports_nodes or cfg.network is not None:
            return
        settle_deadline = self._started + cfg.node_settle_time
        any_deadline = time.monotonic() + cfg.node_wait_timeout
        while not self._stopping.is_set():
            self._cluster.refresh()
            missing = self._cluster.missing(cfg.min_nodes)
            if missing is None:
                return
            now, live = time.monotonic(), self._cluster.live()
            if live and now >= settle_deadline:
                log.warning(
                    "saga.planning_without_nodes %s",
                    kv(missing=missing, have=sorted(live), waited=round(now - self._started, 1)),
                )
                return
            if not live and now >= any_deadline:
                return
            self._stopping.wait(_TICK)

    def _network_now(self, wait: bool) -> saga_graphs.Network:
        """The network to plan on; with ``wait``, wait up to node_wait_timeout for a first node."""
        cfg = self._saga_config
        # a static spec is all there is: nothing will join it
        wait = wait and cfg.network is None and self._cluster.reports_nodes
        deadline = time.monotonic() + (cfg.node_wait_timeout if wait else 0.0)
        while True:
            self._cluster.refresh()
            network = self._cluster.network()
            if len(network) or time.monotonic() >= deadline or self._stopping.is_set():
                break
            self._stopping.wait(_TICK)
        if not len(network) and self._stopping.is_set():
            raise PlanningCancelledError("the kernel was cleaned up before this task was planned")
        if not len(network):
            raise EmptyTopologyError(
                f"no node to plan on for executor {self._planned_label!r}: "
                + (
                    "the configured network has no usable nodes"
                    if cfg.network is not None
                    else f"no worker pool connected within node_wait_timeout={cfg.node_wait_timeout}s"
                )
            )
        self._network = network
        return network

    # ------------------------------------------------------------------ rounds
    def _planner_loop(self) -> None:
        cfg = self._saga_config
        timeout = _TICK
        last_drift_check = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stopping.is_set():
                break
            while self._failed:
                task, exc = self._failed.popleft()
                self._fail(task, exc)
            try:
                reason, timeout = self._round_due()
                if reason is not None:
                    self._run_round(reason)
                    timeout = 0.0 if self._triggers or self._go.is_set() or self._records.held else _TICK
                elif cfg.adaptive and self._t0 is not None and time.monotonic() - last_drift_check >= 1.0:
                    last_drift_check = time.monotonic()
                    self._check_drift()
            except Exception:  # pragma: no cover - _run_round delivers errors to the futures
                log.exception("saga.round_crashed")
                timeout = _TICK

    def _round_due(self) -> tuple[str | None, float]:
        """Why a round should run now (or None), and how long to sleep before looking again."""
        cfg = self._saga_config
        with self._lock:
            if self._triggers:
                return "; ".join(dict.fromkeys(self._triggers))[:500], 0.0
            held = self._records.held
            if not held:
                self._go.clear()
                return None, _TICK
            if self._go.is_set():
                return self._go_reason, 0.0
            if cfg.planning == "auto" or self._executed.is_set():
                eligible = len(held)
            else:
                eligible = sum(1 for t in held.values() if t.dynamic and self._eligible(t))
            if not eligible:
                return None, _TICK
            quiet = time.monotonic() - self._last_submit
            if eligible >= cfg.round_threshold or quiet >= cfg.settle_window:
                return "rolling", 0.0
        return None, max(0.005, min(_TICK, cfg.settle_window - quiet))

    def _run_round(self, reason: str) -> None:
        """Plan the held tasks (and, after a join, a loss or drift, the tasks not dispatched yet that the
        round may move) around the rest; tag, queue and release them."""
        cfg = self._saga_config
        first = self._t0 is None
        if first:
            self._wait_for_cluster()
        go = self._go.is_set()
        with self._lock:
            new = sorted((t for t in self._records.held.values() if self._eligible(t)), key=lambda t: t.tid)
            if not (go and self._go_reason == "execute"):
                # a round plans the oldest round_threshold tasks (their held parents are older, so they come
                # along) and leaves the rest to the next rounds: each round's planning stays short and work
                # starts while a burst is still being planned (also when a wait asked for the round);
                # execute() plans everything held at once
                new = new[: cfg.round_threshold]
            self._in_round = frozenset(t.tid for t in new)
            self._triggers.clear()
            self._go.clear()
            replan_all, replan_nodes, replan_tids = self._replan_all, self._replan_nodes, self._replan_tids
            self._replan_all, self._replan_nodes, self._replan_tids = False, set(), set()
            moving = replan_all or bool(replan_nodes) or bool(replan_tids)
        if not new and not moving:
            self._notify_round()
            return
        try:
            network = self._network_now(wait=True)
        except (EmptyTopologyError, PlanningCancelledError) as exc:
            log.error("plan.failed %s", kv(tasks=len(new), error=str(exc)))
            for task in new:
                self._fail(task, exc)
            self._fail_stranded(exc)
            self._notify_round()
            return
        if first:
            self._t0 = time.time()
        if go and cfg.planning == "explicit":
            self._executed.set()  # from now on every task is planned in rolling rounds, from any thread
        with self._lock:
            new = [t for t in new if t.tid in self._records.held]
            open_tasks = list(self._records.open.values())
            replan: list[PlannedTask] = []
            if moving:
                live = self._cluster.live() if self._cluster.reports_nodes else None
                for t in open_tasks:
                    if not t.released or t.dispatched or t.opted_out or t.error is not None:
                        continue
                    a = t.assignment
                    if a is None and not t.ready:
                        continue
                    if (
                        replan_all
                        or t.tid in replan_tids
                        or a is None
                        or a.node in replan_nodes
                        or (live is not None and a.node not in live)
                    ):
                        replan.append(t)
            moved_ids = {t.tid for t in replan}
            fixed = [
                t
                for t in open_tasks
                if t.assignment is not None and not t.opted_out and t.tid not in moved_ids
            ]
            now = 0.0 if first else self._now()
            self._round += 1
            round_no = self._round
        batch = new + replan
        if not batch:
            self._notify_round()
            return
        try:
            result = plan_round(
                batch=batch,
                fixed=fixed,
                lookup=self._records.open.get,  # a finished parent's output is there: nothing to plan
                network=network,
                cost_model=self._cost_model,
                calibration=self._calibration,
                scheduler=cfg.saga_scheduler,
                time_budget=cfg.time_budget,
                now=now,
            )
        except Exception as exc:
            log.error("plan.failed %s", kv(round=round_no, tasks=len(batch), error=repr(exc)))
            for task in new:
                self._fail(task, exc)
            self._fail_stranded(exc)
            self._notify_round()
            return
        release, todo = self._apply(result, new, replan, round_no, reason)
        for task in release:
            if task.record is not None:
                DataFlowKernel.launch_if_ready(self, task.record)
        self._dispatch_later(todo)
        self._notify_round()

    def _apply(
        self,
        result: RoundPlan,
        new: Sequence[PlannedTask],
        replan: Sequence[PlannedTask],
        round_no: int,
        reason: str,
    ) -> tuple[list[PlannedTask], list[PlannedTask]]:
        """Tag what the round placed (tasks dispatched meanwhile keep their plan), queue ready ones;
        returns (tasks to release to Parsl, tasks to dispatch now). Under the lock, no planning here."""
        cfg = self._saga_config
        moved = 0
        # A plan that merely improves on itself moves tasks silently. Worth a record: a task moved off a
        # node that is gone, and any move of a round that exists to move work (a join, drift).
        moving_round = "joined" in reason or reason.startswith("drift")
        with self._lock:
            for task in (*new, *replan):
                if task.dispatched or task.done:
                    continue
                p = result.placements.get(task.tid)
                if p is None:  # a hard pin to a node without a pool now: the executor's affinity decides
                    assert task.pin is not None
                    at = self._now()
                    p = saga_graphs.Placement(task.name, task.pin.node, 0, at, at)
                old = task.assignment.node if task.assignment is not None else None
                if old is not None and old != p.node and (moving_round or old not in result.nodes):
                    moved += 1
                    task.add_replan(
                        {
                            "from": old,
                            "to": p.node,
                            "reason": reason,
                            "at": round(self._now(), 4),
                            "round": round_no,
                        }
                    )
                self._tag(task, p, round_no, result.scheduler or "pin")
                task.applied = self._calibration.node_factor(p.node) * self._calibration.function_factor(
                    task.func_name
                )
                if task.ready:
                    self._enqueue(task)
            for task in new:
                task.released = True
                self._records.held.pop(task.tid, None)
            self._rounds.append(
                {
                    "round": round_no,
                    "reason": reason,
                    "tasks": len(new),
                    "replanned": len(replan),
                    "moved": moved,
                    "scheduler": result.scheduler,
                    "predicted_makespan": result.predicted_makespan,
                    "fixed": result.fixed,
                    "portfolio": result.portfolio,
                    "nodes": result.nodes,
                    "seconds": round(result.seconds, 4),
                    "calibration": self._calibration.factors if cfg.adaptive else {},
                }
            )
            todo = self._take_dispatchable()
            if reason.startswith("drift"):
                self._idle_drift_rounds = self._idle_drift_rounds + 1 if moved == 0 else 0
        log.info(
            "saga.round_planned %s",
            kv(
                round=round_no,
                reason=reason,
                tasks=len(new),
                replanned=len(replan),
                moved=moved,
                nodes=len(result.nodes),
                scheduler=result.scheduler,
                predicted_makespan=result.predicted_makespan,
                seconds=round(result.seconds, 4),
            ),
        )
        release = sorted(new, key=lambda t: t.assignment.start if t.assignment else math.inf)
        return release, todo

    def _tag(
        self, task: PlannedTask, placement: saga_graphs.Placement, round_no: int, scheduler: str
    ) -> None:
        """Record the assignment and write the task's resource specification (a new dict every time; the
        kwargs are left alone, so memoization hashes what the caller wrote)."""
        old = task.assignment
        record = task.record
        assignment = TaskAssignment(
            task_id=task.tid,
            function=task.func_name,
            node=placement.node,
            start=float(placement.start),
            end=float(placement.end),
            round=round_no,
            scheduler=scheduler,
            slot=int(placement.slot),
        )
        task.assignment = assignment
        if record is None:
            return
        spec = dict(record["resource_specification"] or {})
        # HTEx hands out LOWER priority values first, so the planned start itself orders a node's queue.
        spec["node"] = placement.node
        if task.pin is None:
            spec["priority"] = round(float(placement.start), 6)
            spec["affinity"] = self._saga_config.affinity
        else:  # the caller's pin: its node (the plan honoured it), its affinity, its priority if it gave one
            spec.setdefault("priority", round(float(placement.start), 6))
        record["resource_specification"] = spec
        if (old is None or old.node != placement.node) and log.isEnabledFor(logging.INFO):
            log.info(
                "task.assigned %s",
                kv(
                    task=task.tid,
                    function=task.func_name,
                    node=placement.node,
                    start=round(float(placement.start), 4),
                    end=round(float(placement.end), 4),
                    round=round_no,
                ),
            )

    def _fail_stranded(self, exc: BaseException) -> None:
        """Ready tasks whose node was lost and that no round could re-plan: their try fails (Parsl's
        retries then apply as for any failed try)."""
        with self._lock:
            stranded = [
                t
                for t in self._records.open.values()
                if t.ready
                and not t.dispatched
                and t.proxy is not None
                and (t.assignment is None or not self._cluster.is_live(t.assignment.node))
            ]
        for task in stranded:
            if not task.proxy.done():
                task.proxy.set_exception(exc)

    def _notify_round(self) -> None:
        self._in_round = frozenset()
        with self._round_done:
            self._round_done.notify_all()

    def _check_drift(self) -> None:
        """Re-plan what is not dispatched when a node fell behind the plan (both drift thresholds)."""
        cfg = self._saga_config
        # a drift round that moved nothing doubles the wait before the next (up to a minute)
        cooldown = min(60.0, max(cfg.drift_absolute, 1.0) * 2 ** min(self._idle_drift_rounds, 6))
        if time.monotonic() - self._last_drift_round < cooldown:
            return
        self._calibration.fit()  # what the next round plans with; only a node behind the plan re-plans
        with self._lock:
            watched = [t for t in self._records.open.values() if t.dispatched or t.ready]
            movable = any(
                t.released and not t.dispatched and t.assignment is not None
                for t in self._records.open.values()
            )
        if not movable:
            return
        behind = overdue_nodes(watched, self._now(), relative=cfg.drift_relative, absolute=cfg.drift_absolute)
        if not behind:
            return
        self._last_drift_round = time.monotonic()
        what = ", ".join(f"{n} {lag:.1f}s behind" for n, lag in sorted(behind.items()))
        with self._lock:
            self._triggers.append(f"drift: {what}")
            self._replan_nodes.update(behind)
        log.info(
            "saga.drift %s",
            kv(behind={n: round(v, 2) for n, v in behind.items()}, **self._calibration.factors),
        )
        self._wake.set()

    def _warm_up_planner(self) -> None:
        """Plan a one-task graph while pools start, so the first real round does not pay SAGA's start-up."""
        try:
            graph = saga_graphs.TaskGraph()
            graph.add_task("warm-up", 1.0)
            network = saga_graphs.Network()
            network.add_node("warm-up")
            saga_graphs.plan(
                graph, network, self._saga_config.saga_scheduler, time_budget=self._saga_config.time_budget
            )
        except Exception as exc:  # only an optimisation: the real round reports real errors
            log.debug("saga.warm_up_failed %s", kv(error=repr(exc)))

    # ------------------------------------------------------------------ public API
    def set_network(self, spec: Mapping[str, Any] | saga_graphs.Network) -> None:
        """Plan the next rounds on ``spec`` (a network spec, or a ``saga_graphs.Network``) instead of the
        configured static network: e.g. after measuring the links between the running pools. Checked
        now (``saga_graphs`` validation errors name the bad part); tasks already planned keep their plan.
        """
        if isinstance(spec, saga_graphs.Network):
            spec = spec.to_spec()
        checked = dict(spec)
        saga_graphs.Network.from_spec(checked).validate()  # as a round would: a disconnected pair fails here
        self._cluster.set_spec(checked)
        self._saga_config.network = checked
        log.info("saga.network_set %s", kv(nodes=len(checked.get("nodes", ()))))

    def execute(self, timeout: float | None = None) -> None:
        """Plan every held task now and let it run (explicit mode's go signal; in auto mode it only
        skips the settle window). Returns once they are planned. Tasks submitted later are planned in
        rolling rounds. A planning error is raised here and is also set on the affected tasks' futures.
        Raises TimeoutError when ``timeout`` seconds pass first."""
        with self._lock:
            wanted = set(self._records.held)
        if not wanted:
            return
        self._go_reason = "execute"
        self._go.set()
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._round_done:
            while True:
                pending = wanted & set(self._records.held)
                if not pending or self._stopping.is_set():
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{len(pending)} task(s) still held after {timeout}s")
                self._round_done.wait(_TICK if left is None else min(_TICK, left))
            errors = [self._round_errors[t] for t in sorted(wanted) if t in self._round_errors]
        if errors:
            raise errors[0]

    def progress(self) -> dict[str, Any]:
        """Live counts of the planned executor's tasks; cheap, thread-safe, callable at any time.

        ``total`` tasks seen; ``held`` waiting for a planning round; ``planned`` with a plan; ``released`` to
        Parsl (planned, or failed before planning); ``running`` handed to the executor and not finished
        (queued on its node or executing); ``done`` succeeded; ``failed`` finished with an error (also a
        dependency's); ``replanned`` re-planned (node joined, lost, drift); ``elapsed`` seconds on the plan
        clock (None before the first plan); ``predicted_finish`` the plan clock time the last task is
        expected to end; ``nodes``: per node ``{"planned", "running", "done", "failed"}``.
        """
        from ._live import progress

        with self._lock:
            open_tasks = list(self._records.open.values())
            finished = self._records.finished.summary()
        return progress(open_tasks, finished, len(self._records.held), self._t0)

    def progress_line(self) -> str:
        """:meth:`progress` as one line of plain text (what ``SagaConfig(progress=True)`` shows)."""
        from ._live import progress_line

        return progress_line(self.progress())

    def declare_cost(
        self, key: AppFuture | int | str, *, cost: float | None = None, output_size: float | None = None
    ) -> None:
        """Declare what the planner should assume for one task (an AppFuture or task id) or for every task
        of a function (its name): steps 2 and 3 of the order in ``saga_dfk._hints`` (a per-call hint still
        wins). Takes effect from the next planning round. Raises saga_graphs.errors.InvalidCostError /
        InvalidSizeError naming a bad value."""
        tid = key.tid if isinstance(key, AppFuture) else key
        self._cost_model.declare(tid, cost=cost, output_size=output_size)

    def set_task_label(self, task: AppFuture | int, label: str) -> None:
        """Give a planned task the caller's name (e.g. ``"s0.3"``): shown in the run report (``label``)
        and on Gantt charts instead of the function name. Unknown (unplanned) tasks are ignored."""
        tid = task if isinstance(task, int) else task.tid
        with self._lock:
            self._records.set_label(tid, str(label))

    def run_report(self) -> dict[str, Any]:
        """Planned vs actual per task, planned/actual makespan and fidelity, as a JSON-able dict."""
        from ._report import build_report

        with self._lock:
            tasks = self._records.values()
            rounds = list(self._rounds)
        return build_report(
            tasks=tasks,
            rounds=rounds,
            rounds_total=self._round,
            network=self._network.to_spec() if self._network is not None else None,
            scheduler=self._saga_config.saga_scheduler,
            planning=self._saga_config.planning,
            t0=self._t0,
            lost_nodes=sorted(self._lost_nodes()),
            calibration=self._calibration.factors,
        )

    def _lost_nodes(self) -> set[str]:
        """Nodes some round planned on that are not plannable now (as of cleanup, once it started: the
        executor's shutdown takes every pool away)."""
        if self._lost_at_cleanup is not None:
            return set(self._lost_at_cleanup)
        with self._lock:
            planned = self._rounds.nodes | self._lost_seen
        if not self._cluster.reports_nodes and self._saga_config.network_source is None:
            return set()
        live = self._cluster.live() if self._cluster.reports_nodes else None
        return {n for n in planned if (live is not None and n not in live) or self._cluster.source_lost(n)}

    def write_report(self, path: str | Path) -> Path:
        """Write run_report() as JSON; returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.run_report(), indent=2, sort_keys=True))
        log.info("saga.report_written %s", kv(path=str(target)))
        return target

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
        target.parent.mkdir(parents=True, exist_ok=True)
        network = self._network
        slots = {name: network.nodes[name].slots for name in network} if network is not None else {}
        return live_view(report, self.progress(), target, final=final, nodes=slots)

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

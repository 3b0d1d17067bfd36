"""plan(): validate, expand slots, run one or several schedulers, map back, check, pick the best."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import pairwise

from saga_graphs._graphs import Network, TaskGraph
from saga_graphs._log import kv
from saga_graphs._problem import FREE_BANDWIDTH, Problem, ProcessorPlacement, processor_name
from saga_graphs._registry import SchedulerEntry, entry
from saga_graphs._schedule import Placement, Schedule, _tol
from saga_graphs._worker import shared_worker
from saga_graphs.errors import (
    GraphValidationError,
    InvalidScheduleError,
    SagaGraphsError,
    SchedulerFailedError,
    SchedulerTimeoutError,
    UnknownNodeError,
    UnknownSchedulerError,
)

__all__ = ["DEFAULT_TIME_BUDGET", "build_problem", "plan"]

#: Seconds a scheduler may run before it is stopped, unless plan() is told otherwise.
DEFAULT_TIME_BUDGET = 60.0

log = logging.getLogger(__name__)


def _blocker(i: int) -> str:
    return f"__saga_graphs_blocked_{i}__"


def build_problem(
    task_graph: TaskGraph,
    network: Network,
    *,
    fixed: Schedule | None = None,
    node_available_at: Mapping[str, float] | None = None,
    min_start_time: float = 0.0,
) -> tuple[Problem, dict[str, tuple[str, int]]]:
    """The slot-level :class:`Problem` and processor -> (node, slot). Inputs must be validated."""
    nodes = sorted(network.nodes.values(), key=lambda n: n.name)
    procs: list[tuple[str, float]] = []
    where: dict[str, tuple[str, int]] = {}
    for n in nodes:
        for s in range(n.slots):
            p = processor_name(n.name, s)
            procs.append((p, n.speed))
            where[p] = (n.name, s)
    links: list[tuple[str, str, float]] = []
    for i, (a, _speed) in enumerate(procs):
        na = where[a][0]
        for b, _speed_b in procs[i:]:
            nb = where[b][0]
            bw = FREE_BANDWIDTH if na == nb else network.bandwidth(na, nb)
            bw = FREE_BANDWIDTH if math.isinf(bw) else bw
            links.append((a, b, bw) if a <= b else (b, a, bw))
    fixed_entries: list[ProcessorPlacement] = []
    if fixed is not None:
        for fp in fixed.placements.values():
            fixed_entries.append((fp.task, processor_name(fp.node, fp.slot), fp.start, fp.end))
    if fixed_entries or node_available_at:
        # Occupy every slot until it may be used (max of min_start_time and the node's availability)
        # with blocker tasks in the gaps between fixed tasks: some SAGA schedulers honour a partial
        # schedule but ignore min_start_time, and none knows per-node availability.
        available = {
            n.name: max(float(min_start_time), float((node_available_at or {}).get(n.name, min_start_time)))
            for n in nodes
        }
        earliest = min([float(min_start_time), 0.0, *(f[2] for f in fixed_entries)]) - 1.0
        by_proc: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for _, proc, start, end in fixed_entries:
            by_proc[proc].append((start, end))
        k = 0
        for n in nodes:
            until = available[n.name]
            for s in range(n.slots):
                proc = processor_name(n.name, s)
                cur = earliest
                for start, end in sorted(by_proc.get(proc, [])):
                    if start >= until:
                        break
                    if start > cur:
                        fixed_entries.append((_blocker(k), proc, cur, start))
                        k += 1
                    cur = max(cur, end)
                if cur < until:
                    fixed_entries.append((_blocker(k), proc, cur, until))
                    k += 1
    problem = Problem(
        tasks=tuple(task_graph.tasks.items()),
        dependencies=tuple((p, c, s) for (p, c), s in task_graph.dependencies.items()),
        processors=tuple(procs),
        links=tuple(links),
        fixed=tuple(fixed_entries),
        min_start_time=float(min_start_time),
    )
    return problem, where


def _check_inputs(
    task_graph: TaskGraph,
    network: Network,
    fixed: Schedule | None,
    node_available_at: Mapping[str, float] | None,
    min_start_time: float,
    budgets: Mapping[str, float | None],
) -> None:
    task_graph.validate()
    network.validate()
    if (
        isinstance(min_start_time, bool)
        or not isinstance(min_start_time, int | float)
        or not math.isfinite(min_start_time)
    ):
        raise GraphValidationError(f"min_start_time must be a finite number; got {min_start_time!r}")
    for name, budget in budgets.items():
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0
        ):
            raise GraphValidationError(
                f"time_budget of {name!r} must be a number > 0 seconds or None; got {budget!r}"
            )
    for node, at in (node_available_at or {}).items():
        if node not in network.nodes:
            raise UnknownNodeError(
                f"node_available_at names unknown node {node!r}; known: {sorted(network.nodes)}"
            )
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise GraphValidationError(f"node_available_at[{node!r}] must be a finite number; got {at!r}")
    if fixed is None:
        return
    for t, p in fixed.placements.items():
        spec = network.nodes.get(p.node)
        if spec is None:
            raise UnknownNodeError(
                f"fixed task {t!r} is on unknown node {p.node!r}; known: {sorted(network.nodes)}"
            )
        if not 0 <= p.slot < spec.slots:
            raise InvalidScheduleError(
                f"fixed task {t!r} is on slot {p.slot} of node {p.node!r}, which has {spec.slots} slot(s)"
            )
        if not (math.isfinite(p.start) and math.isfinite(p.end) and p.end >= p.start):
            raise InvalidScheduleError(f"fixed task {t!r} has bad times start={p.start!r} end={p.end!r}")
        if t in task_graph:
            for parent in task_graph.parents(t):
                if parent not in fixed.placements:
                    raise InvalidScheduleError(
                        f"fixed task {t!r} depends on {parent!r}, which is not fixed: fix its parents too"
                    )
    for (node, slot), ps in fixed.by_slot().items():
        for a, b in pairwise(ps):
            if b.start < a.end - _tol(a.end):
                raise InvalidScheduleError(
                    f"fixed tasks {a.task!r} and {b.task!r} overlap on node {node!r} slot {slot}"
                )


def _check_result(
    schedule: Schedule,
    task_graph: TaskGraph,
    network: Network,
    fixed: Schedule | None,
    node_available_at: Mapping[str, float] | None,
    min_start_time: float,
) -> None:
    """The independent validity check, plus the rolling-planning promises."""
    fixed_names = set(fixed.placements) if fixed is not None else set()
    # Fixed tasks keep their observed times, which need not equal cost / speed.
    schedule.validate(task_graph, network, observed=fixed_names)
    avail = node_available_at or {}
    for t, p in schedule.placements.items():
        if t in fixed_names:
            if p != fixed.placements[t]:  # type: ignore[union-attr]
                raise InvalidScheduleError(f"fixed task {t!r} was moved: {fixed.placements[t]} -> {p}")  # type: ignore[union-attr]
            continue
        earliest = max(min_start_time, avail.get(p.node, min_start_time))
        if p.start < earliest - _tol(earliest):
            raise InvalidScheduleError(
                f"task {t!r} starts at {p.start!r} on {p.node!r}, before the earliest allowed {earliest!r}"
            )
    # Occupancy-only fixed tasks (not in this graph) must not be overlapped either.
    if fixed is not None:
        extra = [p for t, p in fixed.placements.items() if t not in task_graph]
        if extra:
            slots = schedule.by_slot()
            for f in extra:
                for p in slots.get((f.node, f.slot), []):
                    if p.start < f.end - _tol(f.end) and f.start < p.end - _tol(p.end):
                        raise InvalidScheduleError(
                            f"task {p.task!r} overlaps fixed task {f.task!r} on {f.node!r}"
                        )


def _run_one(
    sched: SchedulerEntry,
    problem: Problem,
    where: Mapping[str, tuple[str, int]],
    time_budget: float | None,
    shift: float,
) -> tuple[list[Placement], float]:
    if sched.in_worker:
        raw, seconds = shared_worker().run(sched.name, problem, time_budget)
    else:
        started = time.perf_counter()
        try:
            raw = sched.run(problem)
        except SagaGraphsError:
            raise
        except Exception as e:
            raise SchedulerFailedError(f"scheduler {sched.name!r} raised {type(e).__name__}: {e}") from e
        seconds = time.perf_counter() - started
    out: list[Placement] = []
    for task, proc, start, end in raw:
        node_slot = where.get(proc)
        if node_slot is None:
            raise SchedulerFailedError(
                f"scheduler {sched.name!r} placed {task!r} on unknown processor {proc!r}"
            )
        out.append(Placement(task, node_slot[0], node_slot[1], start + shift, end + shift))
    return out, seconds


def _budgets(
    entries: Sequence[SchedulerEntry], time_budget: float | None | Mapping[str, float | None]
) -> dict[str, float | None]:
    if not isinstance(time_budget, Mapping):
        return {e.name: time_budget for e in entries}
    given: dict[str, float | None] = {}
    for name, budget in time_budget.items():
        given[entry(name).name] = budget
    return {e.name: given.get(e.name, DEFAULT_TIME_BUDGET) for e in entries}


def plan(
    task_graph: TaskGraph,
    network: Network,
    scheduler: str | Sequence[str] = "HEFT",
    *,
    time_budget: float | None | Mapping[str, float | None] = DEFAULT_TIME_BUDGET,
    fixed: Schedule | None = None,
    node_available_at: Mapping[str, float] | None = None,
    min_start_time: float = 0.0,
) -> Schedule:
    """Plan ``task_graph`` on ``network`` with one scheduler or a portfolio; return a checked schedule.

    - ``scheduler``: a case-insensitive name (see :func:`available_schedulers`) or a list of them;
      with a list, the plan with the smallest predicted makespan wins (ties: earlier in the list) and
      ``Schedule.portfolio`` records every scheduler's makespan or error.
    - ``time_budget``: seconds per scheduler (``None``: no limit), or a mapping of scheduler name
      (case-insensitive) to seconds, with ``DEFAULT_TIME_BUDGET`` for names left out. SAGA schedulers run in a worker
      process that is killed when the budget runs out (:class:`SchedulerTimeoutError`).
    - Rolling planning: tasks in ``fixed`` keep their placement (they may be in ``task_graph``, whose
      other tasks then depend on them, or be occupancy only); new tasks start no earlier than
      ``min_start_time`` and, on a node in ``node_available_at``, no earlier than its time there.
      Fixed placements and per-node availability need a scheduler that honours partial schedules
      (HEFT, CPOP, DPS, FastestNode, MCT, MET, MST, OLB); a plain ``min_start_time`` works with any.

    The result holds one placement per task of ``task_graph`` (fixed ones included, unchanged) and
    has passed :meth:`Schedule.validate`; a scheduler whose answer fails the check counts as failed.
    """
    names = [scheduler] if isinstance(scheduler, str) else list(scheduler)
    if not names:
        raise UnknownSchedulerError("no scheduler given; pass a name or a non-empty list of names")
    entries: list[SchedulerEntry] = []
    for n in names:
        e = entry(n)
        if e not in entries:
            entries.append(e)
    budgets = _budgets(entries, time_budget)
    _check_inputs(task_graph, network, fixed, node_available_at, min_start_time, budgets)
    fixed_in_graph = (
        {t: p for t, p in fixed.placements.items() if t in task_graph} if fixed is not None else {}
    )
    if len(fixed_in_graph) == len(task_graph):
        return Schedule(fixed_in_graph, entries[0].name, {e.name: 0.0 for e in entries})
    needs_partial = bool(fixed is not None and len(fixed) > 0) or bool(node_available_at)
    # Without a partial schedule, plan from 0 and shift: every scheduler honours that.
    shift = 0.0 if needs_partial else float(min_start_time)
    problem, where = build_problem(
        task_graph,
        network,
        fixed=fixed,
        node_available_at=node_available_at,
        min_start_time=min_start_time if needs_partial else 0.0,
    )
    portfolio: dict[str, float | str] = {}
    errors: dict[str, SagaGraphsError] = {}
    best: Schedule | None = None
    for e in entries:
        try:
            if needs_partial and not e.supports_fixed:
                raise SchedulerFailedError(
                    f"scheduler {e.name!r} does not honour fixed placements or node availability; "
                    "use HEFT, CPOP, DPS, FastestNode, MCT, MET, MST or OLB"
                )
            placements, seconds = _run_one(e, problem, where, budgets[e.name], shift)
            by_task = dict(fixed_in_graph)
            for p in placements:
                if p.task in by_task and p.task not in fixed_in_graph:
                    raise SchedulerFailedError(f"scheduler {e.name!r} placed task {p.task!r} twice")
                if p.task not in fixed_in_graph:
                    by_task[p.task] = p
            missing = [t for t in task_graph.tasks if t not in by_task]
            if missing:
                raise SchedulerFailedError(
                    f"scheduler {e.name!r} left {len(missing)} task(s) unplaced, e.g. {missing[:5]}"
                )
            ordered = dict(
                sorted(by_task.items(), key=lambda kv: (kv[1].start, kv[1].node, kv[1].slot, kv[0]))
            )
            candidate = Schedule(ordered, e.name)
            try:
                _check_result(candidate, task_graph, network, fixed, node_available_at, min_start_time)
            except InvalidScheduleError as bad:
                raise SchedulerFailedError(
                    f"scheduler {e.name!r} returned an invalid schedule: {bad}"
                ) from None
        except (SchedulerFailedError, SchedulerTimeoutError) as err:
            portfolio[e.name] = f"{type(err).__name__}: {err}"
            errors[e.name] = err
            log.warning(
                "plan.scheduler_failed %s", kv(scheduler=e.name, error=str(err), kind=type(err).__name__)
            )
            continue
        portfolio[e.name] = candidate.makespan
        log.info(
            "plan.scheduler_done %s",
            kv(
                scheduler=e.name,
                makespan=candidate.makespan,
                seconds=round(seconds, 4),
                tasks=len(task_graph),
                processors=len(problem.processors),
            ),
        )
        if best is None or candidate.makespan < best.makespan:
            best = candidate
    if best is None:
        if len(errors) == 1:
            raise next(iter(errors.values()))
        summary = "; ".join(f"{n}: {m}" for n, m in portfolio.items())
        if all(isinstance(err, SchedulerTimeoutError) for err in errors.values()):
            raise SchedulerTimeoutError(f"every scheduler timed out: {summary}")
        raise SchedulerFailedError(f"every scheduler failed: {summary}")
    result = Schedule(best.placements, best.scheduler, portfolio)
    log.info(
        "plan.done %s",
        kv(
            scheduler=result.scheduler,
            makespan=result.makespan,
            tasks=len(task_graph),
            fixed=len(fixed_in_graph),
            portfolio=len(entries),
        ),
    )
    return result

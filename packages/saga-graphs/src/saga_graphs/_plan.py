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
from saga_graphs._pinned import repair_pins
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
    UnknownTaskError,
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
    pinned: Mapping[str, str] | None = None,
) -> tuple[Problem, dict[str, tuple[str, int]]]:
    """The slot-level :class:`Problem` and processor -> (node, slot). Inputs must be validated.

    A pinned task's allow-list (``Problem.allowed``) is every slot of its node; pinned tasks that
    are in ``fixed`` are placed already and get none."""
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
    placed = fixed.placements if fixed is not None else {}
    allowed = tuple(
        (task, tuple(processor_name(node, s) for s in range(network.nodes[node].slots)))
        for task, node in sorted((pinned or {}).items())
        if task not in placed
    )
    problem = Problem(
        tasks=tuple(task_graph.tasks.items()),
        dependencies=tuple((p, c, s) for (p, c), s in task_graph.dependencies.items()),
        processors=tuple(procs),
        links=tuple(links),
        fixed=tuple(fixed_entries),
        min_start_time=float(min_start_time),
        allowed=allowed,
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


def _check_pinned(
    task_graph: TaskGraph, network: Network, fixed: Schedule | None, pinned: object
) -> dict[str, str]:
    """``pinned`` as a plain dict, once every pin names a task of the graph and a node of the
    network (and agrees with ``fixed`` where the task is fixed). Inputs must be validated."""
    if pinned is None:
        return {}
    if not isinstance(pinned, Mapping):
        raise GraphValidationError(
            f"pinned must be a mapping of task name -> node name; got {type(pinned).__name__} {pinned!r}"
        )
    out: dict[str, str] = {}
    for task, node in pinned.items():
        if not isinstance(task, str) or not isinstance(node, str):
            raise GraphValidationError(
                "pinned must map task names (str) to node names (str); got "
                f"{task!r} -> {node!r} ({type(task).__name__} -> {type(node).__name__})"
            )
        if task not in task_graph:
            raise UnknownTaskError(
                f"pinned names unknown task {task!r} (pinned to node {node!r}); the task graph has "
                f"{len(task_graph)} task(s), e.g. {sorted(task_graph.tasks)[:5]}"
            )
        if node not in network.nodes:
            raise UnknownNodeError(
                f"pinned task {task!r} names unknown node {node!r}; known: {sorted(network.nodes)}"
            )
        placed = fixed.placements.get(task) if fixed is not None else None
        if placed is not None and placed.node != node:
            raise InvalidScheduleError(
                f"task {task!r} is pinned to node {node!r} but fixed on node {placed.node!r}; "
                "a fixed placement cannot move: pin it where it is fixed or drop the pin"
            )
        out[task] = node
    return out


def _check_result(
    schedule: Schedule,
    task_graph: TaskGraph,
    network: Network,
    fixed: Schedule | None,
    node_available_at: Mapping[str, float] | None,
    min_start_time: float,
    pinned: Mapping[str, str] | None = None,
) -> None:
    """The independent validity check, plus the rolling-planning promises and the pins."""
    fixed_names = set(fixed.placements) if fixed is not None else set()
    # Fixed tasks keep their observed times, which need not equal cost / speed.
    schedule.validate(task_graph, network, observed=fixed_names)
    for t, node in (pinned or {}).items():
        p = schedule.placements[t]
        if p.node != node:
            raise InvalidScheduleError(
                f"pinned task {t!r} is on node {p.node!r}, not on its pinned node {node!r}"
            )
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
    """Run one scheduler and map its placements back to (node, slot), shifted by ``shift``.

    A scheduler without ``supports_pins`` never saw ``problem.allowed``: its misplaced pinned tasks
    are moved here (:func:`repair_pins`), before the result is checked like any other."""
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
    if problem.allowed and not sched.supports_pins:
        makespan = max((end for *_, end in raw), default=0.0)
        raw, moved = repair_pins(problem, raw)
        if moved:
            log.info(
                "plan.pins_repaired %s",
                kv(
                    scheduler=sched.name,
                    moved=len(moved),
                    tasks=",".join(moved[:5]),
                    makespan_before=makespan + shift,
                    makespan_after=max((end for *_, end in raw), default=0.0) + shift,
                ),
            )
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
    pinned: Mapping[str, str] | None = None,
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
    - ``pinned``: task name -> node name; each such task runs on (some slot of) that node, and the
      rest is planned around it. Every scheduler honours it: HEFT (a processor mask), SAGA-HEFT and
      FastestNode (SAGA's ``node_constraints``) choose among that node's slots themselves; for every
      other scheduler, which ignores SAGA's constraints, a repair pass moves each misplaced pinned
      task to the slot of its node where it finishes earliest and re-times every task in the
      scheduler's order, keeping all other tasks on their slots (see ``saga_graphs._pinned``). A
      pinned task that is also in ``fixed`` must be fixed on that node. Unknown tasks and nodes
      raise :class:`UnknownTaskError` / :class:`UnknownNodeError`.

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
    pins = _check_pinned(task_graph, network, fixed, pinned)
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
        pinned=pins,
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
                _check_result(candidate, task_graph, network, fixed, node_available_at, min_start_time, pins)
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
            pinned=len(pins),
            portfolio=len(entries),
        ),
    )
    return result

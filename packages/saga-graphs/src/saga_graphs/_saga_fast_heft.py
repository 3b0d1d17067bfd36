"""The fast HEFT as a SAGA ``Scheduler``: SAGA objects in, SAGA's own ``Schedule`` out.

:func:`saga_graphs.plan` does not use this module (its "HEFT" runs :func:`saga_graphs._fast_heft.heft`
on the plain :class:`~saga_graphs._problem.Problem` and never builds a SAGA object). It exists for
the equivalence corpus (``test_fast_heft.py`` runs it and SAGA's HEFT on the very same SAGA objects,
so SAGA's frozenset-order tie-breaking is the same on both sides) and for code that wants a drop-in
SAGA scheduler. It shares the whole algorithm with the array path; only the conversions are here:

* SAGA ``Network``/``TaskGraph`` -> index arrays, in frozenset order (``tie_break="saga"``) or in
  sorted order (``"stable"``, which is what the array path uses);
* an existing partial ``Schedule`` -> the per-node timelines, and SAGA's per-task node allow-lists
  (``node_constraints``) -> candidate masks;
* the placements -> SAGA's ``Schedule``, with the same per-node list order, task lookup and the
  load aggregates behind ``Schedule.throughput`` (built in one pass instead of one ``add_task`` per
  task).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Set

import numpy as np
import numpy.typing as npt
import saga
from saga import ConstraintViolation, ScheduledTask

from saga_graphs._fast_heft import (
    FastHeftError,
    TieBreak,
    _bandwidth_matrix,
    _gc_paused,
    _index,
    _place,
    _Problem,
    _Timeline,
)
from saga_graphs._log import kv

__all__ = ["FastHeftScheduler", "fast_heft"]

log = logging.getLogger(__name__)


class FastHeftScheduler(saga.Scheduler):
    """SAGA ``Scheduler`` drop-in for HEFT, exactly reproducing SAGA's deterministic HEFT variant.

    ``tie_break="saga"`` (default) matches SAGA in the same process on every problem;
    ``tie_break="stable"`` additionally makes equal-rank ties independent of ``PYTHONHASHSEED``.
    """

    tie_break: TieBreak = "saga"

    def schedule(
        self,
        network: saga.Network,
        task_graph: saga.TaskGraph,
        schedule: saga.Schedule | None = None,
        min_start_time: float = 0.0,
        node_constraints: dict[str, set[str]] | None = None,
    ) -> saga.Schedule:
        """Schedule ``task_graph`` on ``network``; see :func:`fast_heft` for the arguments."""
        return fast_heft(
            network,
            task_graph,
            schedule=schedule,
            min_start_time=min_start_time,
            node_constraints=node_constraints,
            tie_break=self.tie_break,
        )


def fast_heft(
    network: saga.Network,
    task_graph: saga.TaskGraph,
    schedule: saga.Schedule | None = None,
    min_start_time: float = 0.0,
    node_constraints: Mapping[str, Set[str]] | None = None,
    tie_break: TieBreak = "saga",
) -> saga.Schedule:
    """HEFT with insertion, returning the schedule SAGA's deterministic HEFT variant returns.

    Args:
        network: SAGA network; every node pair (and every node with itself) needs a link with a
            positive speed, as SAGA itself divides by every link speed.
        task_graph: SAGA task graph (a DAG); tasks already in ``schedule`` are kept as they are.
        schedule: an existing partial schedule to extend in place and return (rolling planning);
            its ``task_graph`` must equal ``task_graph`` and its node constraints apply.
        min_start_time: no new task starts earlier (SAGA's ``current_moment``).
        node_constraints: task name -> node names it may run on; used only for a new schedule,
            exactly like ``ParametricScheduler.schedule``.
        tie_break: ``"saga"`` reproduces SAGA's frozenset-order tie-breaking and summation order;
            ``"stable"`` uses sorted orders so results do not depend on ``PYTHONHASHSEED``.

    Returns:
        The SAGA schedule (the ``schedule`` argument itself when one was given).

    Raises:
        FastHeftError: unknown task or node names, a missing or non-positive link or node speed,
            a cyclic task graph, a partial schedule whose graph or nodes do not match.
        saga.ConstraintViolation: a task whose allow-list leaves no node.
    """
    if tie_break not in ("saga", "stable"):
        raise FastHeftError(f"tie_break must be 'saga' or 'stable', got {tie_break!r}")
    if not math.isfinite(min_start_time):
        raise FastHeftError(f"min_start_time must be finite, got {min_start_time!r}")
    began = time.process_time()
    with _gc_paused():
        problem = _from_saga(network, task_graph, tie_break)
        if (
            schedule is not None
            and schedule.task_graph is not task_graph
            and schedule.task_graph != task_graph
        ):
            raise FastHeftError("the given schedule was built for a different task graph than task_graph")
        constraints = schedule.node_constraints if schedule is not None else node_constraints
        order = problem.priority_order()
        initial = _initial(problem, schedule)
        placements, timelines = _place(
            problem, order, initial, float(min_start_time), _allowed_masks(problem, constraints)
        )
        result = _to_saga_schedule(problem, network, task_graph, schedule, placements, timelines, constraints)
    log.debug(
        "fast_heft.planned %s",
        kv(
            tasks=problem.n_tasks,
            nodes=problem.n_procs,
            placed=len(placements),
            makespan=result.makespan,
            tie_break=tie_break,
            cpu_seconds=round(time.process_time() - began, 6),
        ),
    )
    return result


def _from_saga(network: saga.Network, task_graph: saga.TaskGraph, tie_break: TieBreak) -> _Problem:
    """Index arrays of SAGA objects: processors by name; summation and task orders as SAGA iterates
    its frozensets (``"saga"``) or sorted by name (``"stable"``)."""
    # Candidate order for node ties is always by name (SAGA's GreedyInsert sorts by name).
    nodes_by_name = sorted(network.nodes, key=lambda node: node.name)
    if not nodes_by_name:
        raise FastHeftError("the network has no nodes")
    # Summation order for the mean computation time: SAGA iterates the nodes frozenset.
    node_iter = list(network.nodes) if tie_break == "saga" else nodes_by_name
    # Link speeds: SAGA's Network._edge_by_pair, where a later edge for the same unordered pair
    # (in frozenset order) overwrites both directions.
    edges_frozen = list(network.edges)
    proc_names = [node.name for node in nodes_by_name]
    proc_index = _index(proc_names, "node")
    speeds = np.array([node.speed for node in nodes_by_name], dtype=np.float64)
    _Problem.check_speeds(proc_names, speeds)
    bandwidth = _bandwidth_matrix(
        proc_index, ((e.source, e.target, e.speed) for e in edges_frozen), "network edge"
    )
    edge_iter = (
        edges_frozen if tie_break == "saga" else sorted(edges_frozen, key=lambda e: (e.source, e.target))
    )
    tasks = list(task_graph.tasks) if tie_break == "saga" else sorted(task_graph.tasks, key=lambda t: t.name)
    task_names = [task.name for task in tasks]
    task_index = _index(task_names, "task")
    deps = (
        list(task_graph.dependencies)
        if tie_break == "saga"
        else sorted(task_graph.dependencies, key=lambda d: (d.source, d.target))
    )
    try:
        src = np.array([task_index[d.source] for d in deps], dtype=np.int64)
        dst = np.array([task_index[d.target] for d in deps], dtype=np.int64)
    except KeyError as err:
        raise FastHeftError(
            f"a dependency names task {err.args[0]!r}, which is not in the task graph"
        ) from err
    return _Problem(
        proc_names=proc_names,
        proc_index=proc_index,
        speeds=speeds,
        speed_iter=np.array([node.speed for node in node_iter], dtype=np.float64),
        bandwidth=bandwidth,
        edge_speed_iter=np.array([edge.speed for edge in edge_iter], dtype=np.float64),
        task_names=task_names,
        task_index=task_index,
        costs=np.array([task.cost for task in tasks], dtype=np.float64),
        src=src,
        dst=dst,
        sizes=np.array([d.size for d in deps], dtype=np.float64),
    )


def _initial(problem: _Problem, schedule: saga.Schedule | None) -> dict[int, list[tuple[float, float, int]]]:
    """A partial schedule's node lists, as SAGA keeps them (its order is what SAGA's gap scan follows)."""
    initial: dict[int, list[tuple[float, float, int]]] = {}
    if schedule is None:
        return initial
    for node_name, scheduled in schedule.mapping.items():
        proc = problem.proc_index.get(node_name)
        if proc is None:
            raise FastHeftError(f"the given schedule uses node {node_name!r}, which is not in the network")
        initial[proc] = [
            (float(entry.start), float(entry.end), problem.task_index.get(entry.name, -1))
            for entry in scheduled
        ]
    return initial


def _allowed_masks(
    problem: _Problem, constraints: Mapping[str, Set[str]] | None
) -> dict[int, npt.NDArray[np.bool_]]:
    """SAGA's node allow-lists as candidate masks over the processors."""
    masks: dict[int, npt.NDArray[np.bool_]] = {}
    for name, nodes in (constraints or {}).items():
        constrained = problem.task_index.get(name)
        if constrained is None:
            continue
        allowed = np.array([proc in nodes for proc in problem.proc_names], dtype=bool)
        if not allowed.any():
            raise ConstraintViolation(
                f"Task {name} has no allowed node among the candidates (constraint: {sorted(nodes)})."
            )
        masks[constrained] = allowed
    return masks


def _sorted_edge_lists(problem: _Problem) -> tuple[list[list[int]], list[list[int]]]:
    """Each task's in- and out-dependencies in SAGA's order (sorted by source, target name)."""
    name_rank = np.empty(problem.n_tasks, dtype=np.int64)
    name_rank[np.argsort(np.array(problem.task_names, dtype=object), kind="stable")] = np.arange(
        problem.n_tasks
    )
    order = np.lexsort((name_rank[problem.dst], name_rank[problem.src])).tolist()
    in_lists: list[list[int]] = [[] for _ in range(problem.n_tasks)]
    out_lists: list[list[int]] = [[] for _ in range(problem.n_tasks)]
    src, dst = problem.src.tolist(), problem.dst.tolist()
    for edge in order:
        in_lists[dst[edge]].append(edge)
        out_lists[src[edge]].append(edge)
    return in_lists, out_lists


def _to_saga_schedule(
    problem: _Problem,
    network: saga.Network,
    task_graph: saga.TaskGraph,
    schedule: saga.Schedule | None,
    placements: list[tuple[int, int, float, float]],
    timelines: list[_Timeline],
    constraints: Mapping[str, Set[str]] | None,
) -> saga.Schedule:
    """Hand the placements back as SAGA's own Schedule, with SAGA's per-node list order."""
    names, procs = problem.task_names, problem.proc_names
    if schedule is not None:
        # Same order of add_task calls as SAGA, so the mapping lists come out identical.
        for task, proc, start, end in placements:
            schedule.add_task(ScheduledTask(node=procs[proc], name=names[task], start=start, end=end))
        return schedule
    node_constraints = {k: set(v) for k, v in constraints.items()} if constraints is not None else None
    result = saga.Schedule(task_graph, network, node_constraints=node_constraints)
    # Fill the new schedule in one go instead of replaying SAGA's add_task per task (which
    # rebuilds a node's whole (start, end) list every time and walks every edge with pydantic
    # attribute lookups). The timelines already hold SAGA's list order; the task map and the
    # compute/communication load aggregates behind Schedule.throughput are accumulated in
    # placement order with SAGA's own arithmetic, so they equal what add_task would have built
    # (checked against SAGA in the tests).
    task_map: dict[str, ScheduledTask] = {}
    for proc, timeline in enumerate(timelines):
        entries = [
            ScheduledTask(node=procs[proc], name=names[task], start=start, end=end)
            for (start, end), task in zip(timeline.keys, timeline.tasks, strict=True)
        ]
        result.mapping[procs[proc]] = entries
        for entry in entries:
            task_map[entry.name] = entry
    compute_load: dict[str, float] = {}
    comm_load: dict[tuple[str, str], float] = {}
    in_lists, out_lists = _sorted_edge_lists(problem)
    src, dst, sizes = problem.src.tolist(), problem.dst.tolist(), problem.sizes.tolist()
    bandwidth: list[list[float]] = problem.bandwidth.tolist()
    proc_of = [-1] * problem.n_tasks  # -1: not placed yet
    for task, proc, start, end in placements:
        node = procs[proc]
        proc_of[task] = proc
        compute_load[node] = compute_load.get(node, 0.0) + 1.0 * (end - start)
        for edge in in_lists[task]:
            other_proc = proc_of[src[edge]]
            if other_proc >= 0 and other_proc != proc and src[edge] != task:
                other = procs[other_proc]
                key = (other, node) if other < node else (node, other)
                comm_load[key] = comm_load.get(key, 0.0) + 1.0 * (sizes[edge] / bandwidth[other_proc][proc])
        for edge in out_lists[task]:
            other_proc = proc_of[dst[edge]]
            if other_proc >= 0 and other_proc != proc and dst[edge] != task:
                other = procs[other_proc]
                key = (other, node) if other < node else (node, other)
                comm_load[key] = comm_load.get(key, 0.0) + 1.0 * (sizes[edge] / bandwidth[proc][other_proc])
    result._task_map.update(task_map)
    result._compute_load.update(compute_load)
    result._comm_load.update(comm_load)
    return result

"""A fast HEFT that produces exactly the schedules of SAGA's deterministic HEFT.

Why this exists: SAGA 2.1.0's HEFT scans every node's whole task list for every task
(``Schedule.get_earliest_start_time`` is a linear gap scan) and recomputes the mean transfer
time over all links for every dependency in Python, which costs about 24 s of CPU for 5,000 tasks
on 64 nodes. A planner that slow cannot re-plan a running workflow.

The reference this module reproduces, bit for bit, is SAGA's deterministic HEFT variant::

    ParametricScheduler(UpwardRanking(),
                        GreedyInsert(append_only=False, compare=EFT, critical_path=False))

which is what SAGA's ``HeftScheduler`` computes too, except that ``HeftScheduler`` breaks
finish-time ties between nodes in ``frozenset`` iteration order (it depends on
``PYTHONHASHSEED``) and reports ``start = (start + runtime) - runtime``, which can differ from the
earliest start by one ulp. The parametric variant breaks node ties by node name and reports the
earliest start itself; that is the one matched here.

What is reproduced exactly (and tested on a corpus of random DAGs against SAGA itself):

* Upward rank ``rank(t) = mean_n(cost_t / speed_n) + max_children(rank(c) + mean_l(size / speed_l))``
  where the means run over *all* network nodes and *all* network edges, self-loops included, in the
  same summation order as SAGA's ``np.mean`` over the frozensets (``tie_break="saga"``). The mean
  transfer time is computed once per distinct data size, vectorised, instead of once per
  dependency in Python.
* Task order: rank descending; equal ranks in networkx's topological order of
  ``task_graph.graph`` (SAGA's ``heft_rank_sort``).
* Node choice: the smallest earliest finish time, equal finish times won by the first node in name
  order (SAGA's ``GreedyInsert`` sorts the candidate nodes by name and replaces only on a strictly
  smaller finish time).
* Earliest start: SAGA's first-fit insertion rule: the first gap, in list order, where
  ``max(ready, gap_start) + runtime <= gap_end``, with the same floating-point operations
  (``ready = max(min_start_time, parent.end + size / link_speed)``, ``end = start + runtime``).
  SAGA scans every node's whole task list for every task. Here the ready times of a task on all
  nodes are one numpy expression, the append-only finish times give a vectorised upper bound and
  ``ready + runtime`` a lower bound, and only nodes that are busy after the ready time, have a gap
  at least as wide as the runtime (each node keeps its exact widest gap) and whose lower bound can
  still win get an exact search, in order of their lower bound until it exceeds the best finish
  time found. The exact search is a binary search for the gap that ends after ``ready + runtime``
  followed by SAGA's own predicate on the gaps from there on; per-node lists stay sorted exactly
  as SAGA's ``add_task`` keeps them (bisect on ``(start, end)``).
* Rolling planning: an existing ``schedule`` is extended in place (its tasks are kept as they are
  and occupy their slots), ``min_start_time`` is the earliest start of every new task, and per-task
  node allow-lists (``node_constraints``) restrict the candidate nodes, all as in SAGA. A
  hand-made partial schedule whose node lists are unsorted or overlap (SAGA accepts those) is
  scanned with SAGA's literal loop, so it is treated exactly as SAGA treats it.
* The result is SAGA's own ``Schedule``, with the same per-node list order, task lookup and the
  load aggregates behind ``Schedule.throughput`` (built in one pass instead of one ``add_task``
  per task).

``tie_break="stable"`` is the same algorithm with every set iterated in sorted order (nodes by
name, links by endpoint names, tasks by name, dependencies by endpoint names): exactly what SAGA
returns when its collections iterate in that order (tested). It gives the same schedule whatever
``PYTHONHASHSEED`` is, which SAGA itself does not when two tasks have equal ranks (e.g. every task
costs 1.0): SAGA then orders them by ``frozenset`` iteration order.

Deliberate differences from SAGA, all on inputs saga-graphs never passes: a missing link, a
non-positive or infinite node speed, a non-positive link speed, a cycle, or a dependency on an
unknown task raises :class:`FastHeftError` naming it before anything is scheduled (SAGA divides
by zero, raises a bare ValueError or networkx's NetworkXUnfeasible midway, or, for an infinite
node speed, plans zero-length tasks).
"""

from __future__ import annotations

import bisect
import gc
import itertools
import math
import operator
import time
from collections.abc import Mapping, Sequence, Set
from typing import Literal

import numpy as np
import numpy.typing as npt
import saga
import structlog
from saga import ConstraintViolation, ScheduledTask

from saga_graphs._errors import SagaGraphsError

__all__ = ["FastHeftError", "FastHeftScheduler", "fast_heft"]

log = structlog.get_logger(__name__)

TieBreak = Literal["saga", "stable"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Largest number of float64 elements materialised at once by the vectorised means (32 MiB).
_CHUNK_ELEMENTS = 4_000_000
# Relative slack used when skipping a node because all its interior gaps look too small. The exact
# SAGA predicate ``gap_start + runtime <= gap_end`` can hold for a gap whose computed width is
# smaller than the runtime by a few ulps; 1e-12 is far above that, and the exact predicate is still
# what decides, so the slack only costs a few extra scans.
_GAP_SLACK = 1e-12


class FastHeftError(SagaGraphsError):
    """An input the fast HEFT cannot schedule: the message names the offending item.

    A ValueError (through SagaGraphsError) like the ValueError SAGA raises for the same problems
    (unknown nodes, missing links); it takes one argument so it pickles across process boundaries.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


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
    # The cyclic garbage collector would otherwise run every few hundred allocations and walk
    # every live object (millions of pydantic models for a large task graph): that alone took
    # more than half the CPU time at 50,000 tasks. Nothing here creates reference cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _fast_heft(network, task_graph, schedule, min_start_time, node_constraints, tie_break, began)
    finally:
        if gc_was_enabled:
            gc.enable()


def _fast_heft(
    network: saga.Network,
    task_graph: saga.TaskGraph,
    schedule: saga.Schedule | None,
    min_start_time: float,
    node_constraints: Mapping[str, Set[str]] | None,
    tie_break: TieBreak,
    began: float,
) -> saga.Schedule:
    problem = _Problem(network, task_graph, tie_break)
    if schedule is not None and schedule.task_graph is not task_graph and schedule.task_graph != task_graph:
        raise FastHeftError("the given schedule was built for a different task graph than task_graph")
    if schedule is not None:
        constraints: Mapping[str, Set[str]] | None = schedule.node_constraints
    else:
        constraints = node_constraints
    order = problem.priority_order()
    placements, timelines = _place(problem, order, schedule, float(min_start_time), constraints)
    result = _to_saga_schedule(problem, network, task_graph, schedule, placements, timelines, constraints)
    log.debug(
        "fast_heft.planned",
        tasks=problem.n_tasks,
        nodes=problem.n_procs,
        placed=len(placements),
        makespan=result.makespan,
        tie_break=tie_break,
        cpu_seconds=round(time.process_time() - began, 6),
    )
    return result


class _Problem:
    """The scheduling instance as index arrays (tasks, dependencies, nodes, link speeds)."""

    def __init__(self, network: saga.Network, task_graph: saga.TaskGraph, tie_break: TieBreak) -> None:
        self.tie_break = tie_break
        # Candidate order for node ties is always by name (SAGA's GreedyInsert sorts by name).
        nodes_by_name = sorted(network.nodes, key=lambda node: node.name)
        if not nodes_by_name:
            raise FastHeftError("the network has no nodes")
        self.proc_names: list[str] = [node.name for node in nodes_by_name]
        self.proc_index: dict[str, int] = {name: i for i, name in enumerate(self.proc_names)}
        self.n_procs = len(self.proc_names)
        self.speeds: FloatArray = np.array([node.speed for node in nodes_by_name], dtype=np.float64)
        bad = [n.name for n in nodes_by_name if not (n.speed > 0 and math.isfinite(n.speed))]
        if bad:
            raise FastHeftError(f"node speeds must be positive and finite; bad nodes: {bad[:5]}")

        # Summation order for the mean computation time: SAGA iterates the nodes frozenset.
        node_iter = list(network.nodes) if tie_break == "saga" else nodes_by_name
        self.speed_iter: FloatArray = np.array([node.speed for node in node_iter], dtype=np.float64)

        # Link speeds: SAGA's Network._edge_by_pair, where a later edge for the same unordered
        # pair (in frozenset order) overwrites both directions.
        edges_frozen = list(network.edges)
        bandwidth = np.full((self.n_procs, self.n_procs), np.nan, dtype=np.float64)
        for edge in edges_frozen:
            try:
                i, j = self.proc_index[edge.source], self.proc_index[edge.target]
            except KeyError as err:
                raise FastHeftError(
                    f"network edge {edge.source!r}-{edge.target!r} names a node that is not in the network"
                ) from err
            if not edge.speed > 0:
                raise FastHeftError(
                    f"link {edge.source!r}-{edge.target!r} has speed {edge.speed!r}; expected > 0"
                )
            bandwidth[i, j] = edge.speed
            bandwidth[j, i] = edge.speed
        missing = np.argwhere(np.isnan(bandwidth))
        if missing.size:
            i, j = (int(v) for v in missing[0])
            raise FastHeftError(
                f"no link between {self.proc_names[i]!r} and {self.proc_names[j]!r} "
                f"({len(missing)} ordered pairs missing); SAGA needs every pair, self-loops included"
            )
        self.bandwidth: FloatArray = bandwidth
        edge_iter = (
            edges_frozen if tie_break == "saga" else sorted(edges_frozen, key=lambda e: (e.source, e.target))
        )
        self.edge_speed_iter: FloatArray = np.array([edge.speed for edge in edge_iter], dtype=np.float64)

        # Tasks and dependencies, indexed in iteration order (saga) or sorted order (stable).
        tasks = (
            list(task_graph.tasks) if tie_break == "saga" else sorted(task_graph.tasks, key=lambda t: t.name)
        )
        self.task_names: list[str] = [task.name for task in tasks]
        self.task_index: dict[str, int] = {name: i for i, name in enumerate(self.task_names)}
        self.n_tasks = len(self.task_names)
        if len(self.task_index) != self.n_tasks:
            raise FastHeftError("the task graph has two tasks with the same name")
        self.costs: FloatArray = np.array([task.cost for task in tasks], dtype=np.float64)
        deps = (
            list(task_graph.dependencies)
            if tie_break == "saga"
            else sorted(task_graph.dependencies, key=lambda d: (d.source, d.target))
        )
        try:
            self.src: IntArray = np.array([self.task_index[d.source] for d in deps], dtype=np.int64)
            self.dst: IntArray = np.array([self.task_index[d.target] for d in deps], dtype=np.int64)
        except KeyError as err:
            raise FastHeftError(
                f"a dependency names task {err.args[0]!r}, which is not in the task graph"
            ) from err
        self.sizes: FloatArray = np.array([d.size for d in deps], dtype=np.float64)
        # In-edges grouped by target (CSR) for data-ready times and the bottom-up ranking.
        by_dst = np.argsort(self.dst, kind="stable")
        self.in_edges: IntArray = by_dst.astype(np.int64)
        self.in_ptr: IntArray = np.zeros(self.n_tasks + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.dst, minlength=self.n_tasks), out=self.in_ptr[1:])

    def sorted_edge_lists(self) -> tuple[list[list[int]], list[list[int]]]:
        """Each task's in- and out-dependencies in SAGA's order (sorted by source, target name)."""
        name_rank = np.empty(self.n_tasks, dtype=np.int64)
        name_rank[np.argsort(np.array(self.task_names, dtype=object), kind="stable")] = np.arange(
            self.n_tasks
        )
        order = np.lexsort((name_rank[self.dst], name_rank[self.src])).tolist()
        in_lists: list[list[int]] = [[] for _ in range(self.n_tasks)]
        out_lists: list[list[int]] = [[] for _ in range(self.n_tasks)]
        src, dst = self.src.tolist(), self.dst.tolist()
        for edge in order:
            in_lists[dst[edge]].append(edge)
            out_lists[src[edge]].append(edge)
        return in_lists, out_lists

    # -- ranking ---------------------------------------------------------------------------
    def upward_ranks(self) -> FloatArray:
        """SAGA's upward ranks, computed level by level from the sinks with numpy."""
        comp = _row_means(self.costs, self.speed_iter)
        comm = _row_means(self.sizes, self.edge_speed_iter)
        n = self.n_tasks
        remaining = np.bincount(self.src, minlength=n).astype(np.int64)
        best_child = np.zeros(n, dtype=np.float64)
        rank = np.zeros(n, dtype=np.float64)
        frontier = np.flatnonzero(remaining == 0)
        done = 0
        while frontier.size:
            rank[frontier] = comp[frontier] + best_child[frontier]
            done += int(frontier.size)
            edges = _gather_csr(self.in_ptr, self.in_edges, frontier)
            if edges.size == 0:
                break
            parents = self.src[edges]
            np.maximum.at(best_child, parents, rank[self.dst[edges]] + comm[edges])
            uniq, counts = np.unique(parents, return_counts=True)
            remaining[uniq] -= counts
            frontier = uniq[remaining[uniq] == 0]
        if done != n:
            stuck = [self.task_names[i] for i in np.flatnonzero(remaining > 0)[:5]]
            raise FastHeftError(f"the task graph has a cycle through tasks such as {stuck}")
        return rank

    def priority_order(self) -> list[int]:
        """Task indices by rank descending, equal ranks in (networkx) topological order."""
        rank = self.upward_ranks()
        if self.n_tasks == 0:
            return []
        ordered = np.sort(rank)
        if not np.any(ordered[1:] == ordered[:-1]):
            return [int(i) for i in np.argsort(-rank, kind="stable")]
        topo_pos = self._generation_positions()
        return [int(i) for i in np.lexsort((topo_pos, -rank))]

    def _generation_positions(self) -> IntArray:
        """Each task's position in SAGA's ``task_graph.topological_sort()``.

        That is networkx's generation-by-generation sort of ``task_graph.graph``, whose nodes and
        edges are inserted in frozenset iteration order; this problem indexes tasks and
        dependencies in exactly that order (or sorted, for ``tie_break="stable"``), so replaying
        the algorithm here gives the same order without building a networkx graph (checked
        against SAGA's own on the test corpus)."""
        n = self.n_tasks
        succ: list[list[int]] = [[] for _ in range(n)]
        indegree = [0] * n
        seen: set[tuple[int, int]] = set()
        for s, d in zip(self.src.tolist(), self.dst.tolist(), strict=True):
            if (s, d) in seen:
                continue
            seen.add((s, d))
            succ[s].append(d)
            indegree[d] += 1
        generation = [v for v in range(n) if indegree[v] == 0]
        order: list[int] = []
        while generation:
            following: list[int] = []
            for v in generation:
                for c in succ[v]:
                    indegree[c] -= 1
                    if indegree[c] == 0:
                        following.append(c)
            order.extend(generation)
            generation = following
        pos = np.empty(n, dtype=np.int64)
        pos[np.array(order, dtype=np.int64)] = np.arange(n)
        return pos


def _row_means(values: FloatArray, speeds: FloatArray) -> FloatArray:
    """``[np.mean([v / s for s in speeds]) for v in values]`` with the same rounding, vectorised.

    Reducing a C-contiguous row with ``mean(axis=1)`` uses the same pairwise summation as
    ``np.mean`` of a 1-D list (checked bit for bit by the equivalence tests). Each distinct value
    is computed once: task costs and data sizes repeat a lot in real workflows.
    """
    if values.size == 0:
        return np.zeros(0, dtype=np.float64)
    uniq, inverse = np.unique(values, return_inverse=True)
    out = np.empty(uniq.size, dtype=np.float64)
    rows = max(1, _CHUNK_ELEMENTS // max(1, speeds.size))
    for lo in range(0, uniq.size, rows):
        block = uniq[lo : lo + rows]
        out[lo : lo + rows] = (block[:, None] / speeds[None, :]).mean(axis=1)
    return out[inverse.reshape(-1)]


def _gather_csr(ptr: IntArray, items: IntArray, rows: IntArray) -> IntArray:
    """Concatenate ``items[ptr[r]:ptr[r+1]]`` for every r in ``rows`` without a Python loop."""
    starts = ptr[rows]
    lengths = ptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return items[offsets + np.arange(total)]


class _Timeline:
    """One node's tasks sorted by (start, end), as SAGA's ``Schedule.mapping[node]`` keeps them.

    ``clean`` means the list is sorted and no task overlaps the next (every end <= the next
    start), so gap starts and gap ends are both sorted and the first-fit gap can be found by
    binary search. A timeline from a user-supplied schedule that is unsorted or overlapping falls
    back to SAGA's literal scan. ``gap_max`` is the exact widest interior gap, so a node whose
    gaps are all narrower than a task's runtime is skipped without a scan.
    """

    __slots__ = ("clean", "ends", "gap_max", "keys", "starts", "tasks")

    def __init__(self) -> None:
        self.keys: list[tuple[float, float]] = []
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.tasks: list[int] = []  # task index, or -1 for a task not in this task graph
        self.clean = True
        self.gap_max = -math.inf

    def load(self, items: Sequence[tuple[float, float, int]]) -> None:
        """Take a SAGA mapping list as is (its order is what SAGA's gap scan follows)."""
        for start, end, task in items:
            self.keys.append((start, end))
            self.starts.append(start)
            self.ends.append(end)
            self.tasks.append(task)
        for i in range(1, len(self.keys)):
            if self.ends[i - 1] > self.starts[i] or self.keys[i - 1] > self.keys[i]:
                self.clean = False
        self._recompute_gap_max()

    def _recompute_gap_max(self) -> None:
        self.gap_max = max(map(operator.sub, self.starts[1:], self.ends[:-1]), default=-math.inf)

    @property
    def gap_cap(self) -> float:
        """A runtime above this cannot fit any interior gap, even with SAGA's rounding."""
        if not self.starts:
            return -math.inf
        return self.gap_max + _GAP_SLACK * max(1.0, abs(self.ends[-1]), abs(self.starts[0]))

    def earliest_start(self, ready: float, runtime: float) -> float:
        """SAGA's ``get_earliest_start_time(append_only=False)`` for this timeline."""
        if not self.clean:
            return self._literal_scan(ready, runtime)
        starts, ends = self.starts, self.ends
        count = len(starts)
        if count == 0:
            return ready
        first = bisect.bisect_left(starts, ready + runtime)  # first gap ending at >= ready + runtime
        if first == 0 or ends[first - 1] <= ready:
            return ready
        # From here every gap starts after `ready`: SAGA's test is gap_start + runtime <= gap_end.
        if first < count and runtime <= self.gap_cap:
            for i in range(first, count):
                gap_start = ends[i - 1]
                if gap_start + runtime <= starts[i]:
                    return gap_start
        return ends[-1]

    def _literal_scan(self, ready: float, runtime: float) -> float:
        """SAGA 2.1.0 ``Schedule.get_earliest_start_time`` gap loop, verbatim."""
        keys = self.keys
        if not keys or ready + runtime <= keys[0][0]:
            return ready
        for (_, left_end), (right_start, _) in itertools.pairwise(keys):
            if ready >= left_end and ready + runtime <= right_start:
                return ready
            if ready < left_end and left_end + runtime <= right_start:
                return left_end
        return max(ready, keys[-1][1])

    def insert(self, start: float, end: float, task: int) -> None:
        """Insert where SAGA's ``Schedule.add_task`` inserts (bisect_left on (start, end))."""
        keys = self.keys
        key = (start, end)
        # Appending is the common case; the shortcut is valid only on a sorted list.
        idx = len(keys) if self.clean and (not keys or keys[-1] < key) else bisect.bisect_left(keys, key)
        count = len(keys)
        starts, ends = self.starts, self.ends
        split = -math.inf
        if 0 < idx < count:
            split = starts[idx] - ends[idx - 1]
        if idx > 0 and ends[idx - 1] > start:
            self.clean = False
        if idx < count and end > starts[idx]:
            self.clean = False
        keys.insert(idx, key)
        starts.insert(idx, start)
        ends.insert(idx, end)
        self.tasks.insert(idx, task)
        if split >= self.gap_max:
            self._recompute_gap_max()  # the widest gap was split in two
        else:
            if idx > 0:
                self.gap_max = max(self.gap_max, start - ends[idx - 1])
            if idx < count:
                self.gap_max = max(self.gap_max, starts[idx + 1] - end)

    @property
    def last_end(self) -> float:
        """``mapping[node][-1].end`` (SAGA's append position), or -inf when empty."""
        return self.ends[-1] if self.ends else -math.inf

    @property
    def first_start(self) -> float:
        """``mapping[node][0].start`` (the end of the gap before the first task), or +inf."""
        return self.starts[0] if self.starts else math.inf


def _place(
    problem: _Problem,
    order: list[int],
    schedule: saga.Schedule | None,
    min_start_time: float,
    constraints: Mapping[str, Set[str]] | None,
) -> tuple[list[tuple[int, int, float, float]], list[_Timeline]]:
    """Run HEFT's placement loop; returns (task, node, start, end) in placement order and the
    per-node timelines (in SAGA's list order)."""
    n_procs, n_tasks = problem.n_procs, problem.n_tasks
    timelines = [_Timeline() for _ in range(n_procs)]
    task_end = np.full(n_tasks, np.nan, dtype=np.float64)
    task_proc = np.zeros(n_tasks, dtype=np.int64)
    placed = np.zeros(n_tasks, dtype=bool)
    if schedule is not None:
        for node_name, scheduled in schedule.mapping.items():
            proc = problem.proc_index.get(node_name)
            if proc is None:
                raise FastHeftError(
                    f"the given schedule uses node {node_name!r}, which is not in the network"
                )
            items = []
            for entry in scheduled:
                idx = problem.task_index.get(entry.name, -1)
                items.append((float(entry.start), float(entry.end), idx))
                if idx >= 0:
                    task_end[idx] = entry.end
                    task_proc[idx] = proc
                    placed[idx] = True
            timelines[proc].load(items)
    # Tasks we place start at or after min_start_time, so only children of tasks that were
    # already in the schedule can have a ready time below it.
    clamp = np.zeros(n_tasks, dtype=bool)
    if placed.any():
        clamp[problem.dst[placed[problem.src]]] = True
    last_end = np.array([tl.last_end for tl in timelines], dtype=np.float64)
    first_start = np.array([tl.first_start for tl in timelines], dtype=np.float64)
    gap_cap = np.array([tl.gap_cap for tl in timelines], dtype=np.float64)
    forced = np.array([not tl.clean for tl in timelines], dtype=bool)
    any_forced = bool(forced.any())
    allowed_masks: dict[int, npt.NDArray[np.bool_]] = {}
    if constraints:
        for name, nodes in constraints.items():
            constrained = problem.task_index.get(name)
            if constrained is None:
                continue
            allowed = np.array([proc in nodes for proc in problem.proc_names], dtype=bool)
            if not allowed.any():
                raise ConstraintViolation(
                    f"Task {name} has no allowed node among the candidates (constraint: {sorted(nodes)})."
                )
            allowed_masks[constrained] = allowed

    costs, speeds = problem.costs, problem.speeds
    bandwidth = problem.bandwidth
    in_ptr = problem.in_ptr.tolist()
    parents_sorted = problem.src[problem.in_edges]
    sizes_sorted = problem.sizes[problem.in_edges]
    floor = np.full(n_procs, min_start_time, dtype=np.float64)
    placements: list[tuple[int, int, float, float]] = []
    for task in order:
        if placed[task]:
            continue
        runtime = costs[task] / speeds  # SAGA: task.cost / node.speed
        lo, hi = in_ptr[task], in_ptr[task + 1]
        if hi - lo == 1:
            parent = parents_sorted[lo]
            ready = task_end[parent] + sizes_sorted[lo] / bandwidth[task_proc[parent]]
        elif hi > lo:
            parents = parents_sorted[lo:hi]
            ready = (
                task_end[parents][:, None] + sizes_sorted[lo:hi][:, None] / bandwidth[task_proc[parents]]
            ).max(axis=0)
        else:
            ready = floor
        if ready[0] != ready[0]:  # NaN: a parent without an end time
            parents = parents_sorted[lo:hi]
            missing = problem.task_names[int(parents[~placed[parents]][0])]
            raise FastHeftError(f"parent task {missing} is not scheduled yet")
        if clamp[task]:
            ready = np.maximum(ready, min_start_time)
        start = np.maximum(ready, last_end)
        mask = allowed_masks.get(task)
        if mask is not None:
            start[~mask] = np.inf
        finish = start + runtime
        if any_forced:
            # On an unsorted or overlapping timeline SAGA's scan may not return the append
            # position, so only an exact search gives such a node a finish time.
            finish[forced] = np.inf
        best = float(finish.min())
        # Nodes where inserting into a gap could start the task before its append position: busy
        # after `ready`, with a finish-time lower bound that can still win, and a gap wide enough
        # (the one before the first task, or an interior one).
        lower = ready + runtime
        hopeful = (lower <= best) & (start > ready) & ((runtime <= gap_cap) | (lower <= first_start))
        if any_forced:
            hopeful |= forced & (lower <= best)
        if mask is not None:
            hopeful &= mask
        candidates = np.flatnonzero(hopeful)
        if candidates.size:
            if candidates.size > 1:
                candidates = candidates[np.argsort(lower[candidates], kind="stable")]
            # By increasing lower bound; stop once the bound exceeds the best finish time found.
            for proc in candidates.tolist():
                if lower[proc] > best:
                    break
                rt = float(runtime[proc])
                begin = timelines[proc].earliest_start(float(ready[proc]), rt)
                end = begin + rt
                finish[proc] = end
                start[proc] = begin
                if end < best:
                    best = end
        proc = int(np.argmin(finish))
        begin, end = float(start[proc]), float(finish[proc])
        timeline = timelines[proc]
        timeline.insert(begin, end, task)
        last_end[proc] = timeline.ends[-1]
        first_start[proc] = timeline.starts[0]
        gap_cap[proc] = timeline.gap_cap
        if not timeline.clean and not forced[proc]:
            forced[proc] = any_forced = True
        task_end[task] = end
        task_proc[task] = proc
        placed[task] = True
        placements.append((task, proc, begin, end))
    return placements, timelines


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
    in_lists, out_lists = problem.sorted_edge_lists()
    src, dst, sizes = problem.src.tolist(), problem.dst.tolist(), problem.sizes.tolist()
    bandwidth = problem.bandwidth.tolist()
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

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
* Rolling planning: an existing partial schedule (``Problem.fixed``) is extended (its tasks are
  kept as they are and occupy their slots), ``min_start_time`` is the earliest start of every new
  task, and per-task node allow-lists (SAGA's ``node_constraints`` through the adapter, or
  ``Problem.allowed``: pinned tasks) restrict the candidate nodes, all as in SAGA. A hand-made partial schedule whose node lists are unsorted
  or overlap (SAGA accepts those) is scanned with SAGA's literal loop, so it is treated exactly as
  SAGA treats it.
* Input and output are plain: :func:`heft` takes saga-graphs' slot-level
  :class:`~saga_graphs._problem.Problem` (tuples) and returns ``(task, processor, start, end)``
  tuples, building index arrays directly and never a SAGA object, so :func:`saga_graphs.plan` pays
  neither SAGA's import nor pydantic model construction. The same algorithm on SAGA objects, with
  SAGA's own ``Schedule`` as the result, is :class:`saga_graphs._saga_fast_heft.FastHeftScheduler`
  (the equivalence tests run it against SAGA on the same objects).

:func:`heft` iterates every collection in sorted order (nodes by name, links by endpoint names,
tasks by name, dependencies by endpoint names; the adapter's ``tie_break="stable"``): exactly what
SAGA returns when its collections iterate in that order (tested). It gives the same schedule
whatever ``PYTHONHASHSEED`` is, which SAGA itself does not when two tasks have equal ranks (e.g.
every task costs 1.0): SAGA then orders them by ``frozenset`` iteration order. The adapter's
default ``tie_break="saga"`` follows SAGA's frozenset orders instead, to match SAGA in-process.

Deliberate differences from SAGA, all on inputs saga-graphs never passes: a missing link, a
non-positive or infinite node speed, a non-positive link speed, a cycle, two tasks or nodes with
the same name, or a dependency on an unknown task raises :class:`FastHeftError` naming it before
anything is scheduled (SAGA divides by zero, raises a bare ValueError or networkx's
NetworkXUnfeasible midway, or, for an infinite node speed, plans zero-length tasks).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import logging
import math
import operator
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from saga_graphs._log import kv
from saga_graphs._problem import Problem, ProcessorPlacement
from saga_graphs.errors import SchedulerFailedError

__all__ = ["FastHeftError", "heft"]

log = logging.getLogger(__name__)

TieBreak = Literal["saga", "stable"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Largest number of float64 elements materialised at once by the vectorised means (2 MiB: the
# block stays in cache, which is faster than one large block).
_CHUNK_ELEMENTS = 262_144
# Relative slack used when skipping a node because all its interior gaps look too small. The exact
# SAGA predicate ``gap_start + runtime <= gap_end`` can hold for a gap whose computed width is
# smaller than the runtime by a few ulps; 1e-12 is far above that, and the exact predicate is still
# what decides, so the slack only costs a few extra scans.
_GAP_SLACK = 1e-12
# Largest task x node runtime table computed up front (64 MiB); bigger problems divide per task.
_RUNTIME_TABLE_ELEMENTS = 8_000_000
# ndarray.max(axis=0) without the Python-level wrapper (the same reduction).
_max_rows = np.maximum.reduce


class FastHeftError(SchedulerFailedError):
    """An input the fast HEFT cannot schedule: the message names the offending item.

    A :class:`~saga_graphs.errors.SchedulerFailedError` (so :func:`saga_graphs.plan` records it like
    any failed scheduler) and a ValueError like the one SAGA raises for the same problems (unknown
    nodes, missing links); it takes one argument so it pickles across process boundaries.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


def heft(problem: Problem) -> list[ProcessorPlacement]:
    """HEFT on ``problem`` as SAGA's deterministic HEFT computes it with every collection iterated in
    sorted order; the registry's "HEFT".

    Fixed entries (``problem.fixed``) keep their processor and times and occupy it; new tasks start
    no earlier than ``problem.min_start_time``; a task of ``problem.allowed`` (a pinned task) is
    placed only on its allowed processors, exactly as SAGA's ``node_constraints`` restrict
    ``GreedyInsert``. Returns the placement of every task of ``problem.tasks`` (fixed ones as
    given), never of occupancy-only fixed entries.
    """
    if not math.isfinite(problem.min_start_time):
        raise FastHeftError(f"min_start_time must be finite, got {problem.min_start_time!r}")
    began = time.process_time()
    with _gc_paused():
        arrays = _Problem.from_problem(problem)
        order = arrays.priority_order()
        initial = arrays.initial(problem.fixed)
        masks = arrays.allowed_masks(problem.allowed)
        placements, _ = _place(arrays, order, initial, float(problem.min_start_time), masks)
    names, procs = arrays.task_names, arrays.proc_names
    out: list[ProcessorPlacement] = [(names[t], procs[p], start, end) for t, p, start, end in placements]
    index = arrays.task_index
    out.extend(f for f in problem.fixed if f[0] in index)
    log.debug(
        "fast_heft.planned %s",
        kv(
            tasks=arrays.n_tasks,
            nodes=arrays.n_procs,
            placed=len(placements),
            cpu_seconds=round(time.process_time() - began, 6),
        ),
    )
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, and hand it back as it was found.

    It would otherwise run every few hundred allocations and walk every live object (millions of
    objects for a large task graph): with SAGA's pydantic models that alone took more than half the
    CPU time at 50,000 tasks. Nothing here creates reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _index(names: Sequence[str], what: str) -> dict[str, int]:
    """Name -> position; two equal names raise :class:`FastHeftError` naming one."""
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise FastHeftError(f"two {what}s have the same name {name!r}")
            seen.add(name)
    return index


def _bandwidth_matrix(
    proc_index: Mapping[str, int], links: Iterable[tuple[str, str, float]], what: str = "link"
) -> FloatArray:
    """Both directions of every link, a later link for the same pair overwriting both (as SAGA's
    ``Network._edge_by_pair`` does); every processor pair, self pairs included, must be covered."""
    n = len(proc_index)
    bandwidth = np.full((n, n), np.nan, dtype=np.float64)
    for source, target, speed in links:
        try:
            i, j = proc_index[source], proc_index[target]
        except KeyError as err:
            raise FastHeftError(
                f"{what} {source!r}-{target!r} names a node that is not in the network"
            ) from err
        if not speed > 0:
            raise FastHeftError(f"link {source!r}-{target!r} has speed {speed!r}; expected > 0")
        bandwidth[i, j] = speed
        bandwidth[j, i] = speed
    missing = np.argwhere(np.isnan(bandwidth))
    if missing.size:
        names = list(proc_index)
        i, j = (int(v) for v in missing[0])
        raise FastHeftError(
            f"no link between {names[i]!r} and {names[j]!r} "
            f"({len(missing)} ordered pairs missing); SAGA needs every pair, self-loops included"
        )
    return bandwidth


class _Problem:
    """The scheduling instance as index arrays (tasks, dependencies, processors, link speeds).

    Processors are indexed in name order (SAGA's ``GreedyInsert`` tries nodes in name order, so
    node ties go to the first); ``speed_iter`` / ``edge_speed_iter`` are the node and link speeds
    in the order SAGA sums them for its means; tasks and dependencies are indexed in the order SAGA
    iterates them (which decides equal-rank ties). :meth:`from_problem` builds the sorted-order
    instance of a :class:`Problem`; ``saga_graphs._saga_fast_heft`` builds one from SAGA objects.
    """

    def __init__(
        self,
        *,
        proc_names: list[str],
        proc_index: dict[str, int],
        speeds: FloatArray,
        speed_iter: FloatArray,
        bandwidth: FloatArray,
        edge_speed_iter: FloatArray,
        task_names: list[str],
        task_index: dict[str, int],
        costs: FloatArray,
        src: IntArray,
        dst: IntArray,
        sizes: FloatArray,
    ) -> None:
        if not proc_names:
            raise FastHeftError("the network has no nodes")
        self.proc_names, self.proc_index, self.n_procs = proc_names, proc_index, len(proc_names)
        self.speeds, self.speed_iter = speeds, speed_iter
        self.bandwidth, self.edge_speed_iter = bandwidth, edge_speed_iter
        self.task_names, self.task_index, self.n_tasks = task_names, task_index, len(task_names)
        self.costs, self.src, self.dst, self.sizes = costs, src, dst, sizes
        # In-edges grouped by target (CSR) for data-ready times and the bottom-up ranking.
        by_dst = np.argsort(self.dst, kind="stable")
        self.in_edges: IntArray = by_dst.astype(np.int64)
        self.in_ptr: IntArray = np.zeros(self.n_tasks + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.dst, minlength=self.n_tasks), out=self.in_ptr[1:])

    @staticmethod
    def check_speeds(names: Sequence[str], speeds: FloatArray) -> None:
        bad = [names[i] for i in np.flatnonzero(~((speeds > 0) & np.isfinite(speeds))).tolist()]
        if bad:
            raise FastHeftError(f"node speeds must be positive and finite; bad nodes: {bad[:5]}")

    @classmethod
    def from_problem(cls, problem: Problem) -> _Problem:
        """Every collection of ``problem`` in sorted order (processors, links by endpoint names,
        tasks by name, dependencies by endpoint names), straight from its tuples."""
        if not problem.processors:
            raise FastHeftError("the network has no nodes")
        by_name = operator.itemgetter(0)
        procs = sorted(problem.processors, key=by_name)
        proc_names = [p for p, _ in procs]
        proc_index = _index(proc_names, "processor")
        speeds = np.array([s for _, s in procs], dtype=np.float64)
        cls.check_speeds(proc_names, speeds)
        links = sorted(problem.links, key=operator.itemgetter(0, 1))
        bandwidth = _bandwidth_matrix(proc_index, links)
        tasks = sorted(problem.tasks, key=by_name)
        task_names = [t for t, _ in tasks]
        task_index = _index(task_names, "task")
        n_deps = len(problem.dependencies)
        if n_deps:
            parents, children, sizes = zip(*problem.dependencies, strict=True)
            try:
                src = np.fromiter(map(task_index.__getitem__, parents), dtype=np.int64, count=n_deps)
                dst = np.fromiter(map(task_index.__getitem__, children), dtype=np.int64, count=n_deps)
            except KeyError as err:
                raise FastHeftError(
                    f"a dependency names task {err.args[0]!r}, which is not in the task graph"
                ) from err
            # Task indices follow name order, so this is the order of (source, target) names.
            order = np.lexsort((dst, src))
            src, dst = src[order], dst[order]
            size_array = np.array(sizes, dtype=np.float64)[order]
        else:
            src = dst = np.zeros(0, dtype=np.int64)
            size_array = np.zeros(0, dtype=np.float64)
        return cls(
            proc_names=proc_names,
            proc_index=proc_index,
            speeds=speeds,
            speed_iter=speeds,
            bandwidth=bandwidth,
            edge_speed_iter=np.array([bw for _, _, bw in links], dtype=np.float64),
            task_names=task_names,
            task_index=task_index,
            costs=np.array([c for _, c in tasks], dtype=np.float64),
            src=src,
            dst=dst,
            sizes=size_array,
        )

    def initial(self, fixed: Iterable[ProcessorPlacement]) -> dict[int, list[tuple[float, float, int]]]:
        """Fixed entries as per-processor lists sorted by (start, end, task): what SAGA's mapping
        holds when built from them (``saga_graphs._problem.to_saga``)."""
        initial: dict[int, list[tuple[float, float, int]]] = {}
        for task, proc, start, end in sorted(fixed, key=lambda f: (f[1], f[2], f[3], f[0])):
            index = self.proc_index.get(proc)
            if index is None:
                raise FastHeftError(
                    f"fixed task {task!r} is on processor {proc!r}, which is not in the problem"
                )
            initial.setdefault(index, []).append((float(start), float(end), self.task_index.get(task, -1)))
        return initial

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

    def allowed_masks(
        self, allowed: Iterable[tuple[str, Iterable[str]]]
    ) -> dict[int, npt.NDArray[np.bool_]] | None:
        """Task index -> candidate mask over the processors, from ``Problem.allowed``; None if empty.

        Unlike SAGA's lookup (which skips unknown names), an unknown task or processor is an error:
        saga-graphs builds these lists itself, so one that does not match is a bug to report."""
        masks: dict[int, npt.NDArray[np.bool_]] = {}
        for name, procs in allowed:
            task = self.task_index.get(name)
            if task is None:
                raise FastHeftError(f"an allow-list names task {name!r}, which is not in the task graph")
            mask = np.zeros(self.n_procs, dtype=bool)
            for proc in procs:
                idx = self.proc_index.get(proc)
                if idx is None:
                    raise FastHeftError(
                        f"the allow-list of task {name!r} names processor {proc!r}, which is not in the network"
                    )
                mask[idx] = True
            if not mask.any():
                raise FastHeftError(f"task {name!r} has an empty allow-list: no processor may run it")
            masks[task] = mask
        return masks or None

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
    initial: Mapping[int, Sequence[tuple[float, float, int]]],
    min_start_time: float,
    allowed_masks: Mapping[int, npt.NDArray[np.bool_]] | None,
) -> tuple[list[tuple[int, int, float, float]], list[_Timeline]]:
    """Run HEFT's placement loop; returns (task, node, start, end) in placement order and the
    per-node timelines (in SAGA's list order).

    ``initial``: processor -> its existing entries ``(start, end, task index or -1)`` in list
    order (the tasks with an index are already placed); ``allowed_masks``: task -> the processors
    it may use (SAGA's node constraints).
    """
    n_procs, n_tasks = problem.n_procs, problem.n_tasks
    timelines = [_Timeline() for _ in range(n_procs)]
    task_end = np.full(n_tasks, np.nan, dtype=np.float64)
    task_proc = np.zeros(n_tasks, dtype=np.int64)
    placed = np.zeros(n_tasks, dtype=bool)
    for proc, items in initial.items():
        for _start, end, idx in items:
            if idx >= 0:
                task_end[idx] = end
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
    allowed_masks = allowed_masks or {}

    costs, speeds = problem.costs, problem.speeds
    # SAGA: task.cost / node.speed. One division for all tasks when the table is small enough
    # (elementwise, so the very same floats); otherwise one row per task.
    runtimes = costs[:, None] / speeds[None, :] if n_tasks * n_procs <= _RUNTIME_TABLE_ELEMENTS else None
    bandwidth = problem.bandwidth
    in_ptr = problem.in_ptr.tolist()
    parents_sorted = problem.src[problem.in_edges]
    sizes_sorted = problem.sizes[problem.in_edges]
    floor = np.full(n_procs, min_start_time, dtype=np.float64)
    placements: list[tuple[int, int, float, float]] = []
    for task in order:
        if placed[task]:
            continue
        runtime = runtimes[task] if runtimes is not None else costs[task] / speeds
        lo, hi = in_ptr[task], in_ptr[task + 1]
        if hi - lo == 1:
            parent = parents_sorted[lo]
            ready = task_end[parent] + sizes_sorted[lo] / bandwidth[task_proc[parent]]
        elif hi > lo:
            parents = parents_sorted[lo:hi]
            ready = _max_rows(
                task_end[parents][:, None] + sizes_sorted[lo:hi][:, None] / bandwidth[task_proc[parents]],
                axis=0,
            )
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
        candidates = hopeful.nonzero()[0]
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
        proc = int(finish.argmin())
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

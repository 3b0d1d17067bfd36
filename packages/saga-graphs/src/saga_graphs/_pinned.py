"""Pinned tasks for schedulers that ignore SAGA's node constraints: a repair pass on their schedule.

Why a repair and not a restricted problem: SAGA's cost model is ``cost / node speed`` for every
task on every node, so there is no way to make a node "forbidden" for one task through the problem
alone (an infinite cost would forbid it everywhere), and SAGA 2.1.0's per-task allow-lists
(``Schedule.node_constraints``) are honoured only by ``ParametricScheduler`` and
``FastestNodeScheduler``; every other class either ignores them or, given a constrained partial
schedule, raises ``ConstraintViolation`` as soon as it probes a forbidden node.

:func:`repair_pins` keeps the scheduler's decisions wherever the pins allow:

* every task that is not misplaced keeps its processor (slot);
* a pinned task the scheduler put elsewhere moves to the slot of its node where it finishes
  earliest (ties: the first slot);
* then every task is re-timed in the scheduler's own order (by its start time; a topological order
  that follows it, so a child always comes after its parents), each as early as its inputs, its
  slot's idle gaps, the fixed entries (fixed tasks, occupancy, availability blockers) and
  ``min_start_time`` allow, with SAGA's arithmetic (``end = start + cost / speed``, input ready at
  ``parent end + size / link speed``).

The result is a valid schedule in which every pinned task is on its node; when nothing is
misplaced the scheduler's schedule is returned untouched.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from collections.abc import Sequence

from saga_graphs._problem import Problem, ProcessorPlacement

__all__ = ["misplaced", "repair_pins"]


def misplaced(problem: Problem, placements: Sequence[ProcessorPlacement]) -> list[str]:
    """Tasks of ``problem.allowed`` placed on a processor outside their allow-list, sorted."""
    allowed = {task: set(procs) for task, procs in problem.allowed}
    return sorted({task for task, proc, _, _ in placements if task in allowed and proc not in allowed[task]})


def _earliest_start(timeline: Sequence[tuple[float, float]], ready: float, runtime: float) -> float:
    """The first time >= ``ready`` at which ``runtime`` fits between the entries of ``timeline``
    (sorted by start; entries may overlap, as blockers and fixed tasks can)."""
    at = ready
    for start, end in timeline:
        if end <= at:
            continue
        if at + runtime <= start:
            return at
        at = end
    return at


def repair_pins(
    problem: Problem, placements: Sequence[ProcessorPlacement]
) -> tuple[list[ProcessorPlacement], list[str]]:
    """``placements`` with every misplaced pinned task moved to its node, and the tasks moved.

    Returns the placements unchanged (and no moved task) when no pinned task is misplaced, or when
    the scheduler's answer is incomplete (a task missing or placed twice): plan() reports that as
    the scheduler's failure, and a repair must not paper over it.
    """
    moved = misplaced(problem, placements)
    if not moved:
        return list(placements), []
    costs = dict(problem.tasks)
    by_task: dict[str, ProcessorPlacement] = {}
    for p in placements:
        if p[0] in by_task or p[0] not in costs:
            return list(placements), []
        by_task[p[0]] = p
    if len(by_task) != len(costs):
        return list(placements), []
    allowed = dict(problem.allowed)
    speeds = dict(problem.processors)
    bandwidth: dict[tuple[str, str], float] = {}
    for a, b, bw in problem.links:
        bandwidth[(a, b)] = bandwidth[(b, a)] = bw
    timelines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    fixed: dict[str, ProcessorPlacement] = {}
    for entry in problem.fixed:
        timelines[entry[1]].append((entry[2], entry[3]))
        if entry[0] in costs:
            fixed[entry[0]] = entry
    for timeline in timelines.values():
        timeline.sort()
    parents: dict[str, list[tuple[str, float]]] = defaultdict(list)
    children: dict[str, list[str]] = defaultdict(list)
    waiting = dict.fromkeys(costs, 0)
    for parent, child, size in problem.dependencies:
        parents[child].append((parent, size))
        children[parent].append(child)
        waiting[child] += 1
    to_move = set(moved)
    floor = float(problem.min_start_time)

    def key(task: str) -> tuple[float, float, str]:
        _, _, start, end = fixed.get(task) or by_task[task]
        return (start, end, task)

    heap = [key(t) for t, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    done: dict[str, ProcessorPlacement] = {}
    while heap:
        _, _, task = heapq.heappop(heap)
        if task in fixed:
            done[task] = fixed[task]
        else:
            candidates = allowed[task] if task in to_move else (by_task[task][1],)
            best: ProcessorPlacement | None = None
            for proc in candidates:
                ready = floor
                for parent, size in parents[task]:
                    _, parent_proc, _, parent_end = done[parent]
                    ready = max(ready, parent_end + size / bandwidth[(parent_proc, proc)])
                runtime = costs[task] / speeds[proc]
                start = _earliest_start(timelines[proc], ready, runtime)
                end = start + runtime
                if best is None or end < best[3]:
                    best = (task, proc, start, end)
            assert best is not None  # every allow-list is non-empty (build_problem)
            bisect.insort(timelines[best[1]], (best[2], best[3]))
            done[task] = best
        for child in children[task]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(heap, key(child))
    # The input is a validated DAG, so every task was reached.
    return [done[t] for t, _ in problem.tasks], moved

"""The slot-level problem an algorithm sees, and the SAGA adapter (to and from SAGA objects).

Why a separate, plain representation: SAGA runs one task at a time per processor, so a node with k
slots becomes k processors (``"node-a#0"`` ... ``"node-a#{k-1}"``) joined by free links. The plain
tuples pickle cheaply to the scheduler worker process, and the in-process fast HEFT
(:func:`saga_graphs._fast_heft.heft`) takes the very same input and never builds a SAGA object:
:func:`to_saga` / :func:`run_saga` are only for SAGA's own schedulers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FREE_BANDWIDTH", "Problem", "ProcessorPlacement", "processor_name", "run_saga", "to_saga"]

#: Bandwidth used for "free" links (same node, or declared infinite). SAGA's default for a self link
#: is ``inf``, which serialises as JSON null; a huge finite value keeps transfer times at ~0.
FREE_BANDWIDTH = 1e30

#: (task, processor, start, end)
ProcessorPlacement = tuple[str, str, float, float]


def processor_name(node: str, slot: int) -> str:
    """Deterministic SAGA processor name of a slot; injective because the suffix is all digits."""
    return f"{node}#{slot}"


@dataclass(frozen=True)
class Problem:
    """A scheduling problem on processors (slots), in plain tuples.

    ``tasks``/``dependencies`` hold every task SAGA must know (new and fixed ones); ``fixed`` holds
    the placements that must stay as they are, including occupancy-only entries (tasks from other
    graphs, availability blockers) whose names are not in ``tasks``. ``links`` covers every unordered
    processor pair including self pairs, keyed ``(a, b)`` with ``a <= b``. ``allowed`` maps a task
    to the only processors it may run on (a pinned task: every slot of its node); a task not listed
    may run anywhere. It is SAGA's per-task ``node_constraints``, which only some schedulers honour
    (``SchedulerEntry.supports_pins``); :func:`saga_graphs._pinned.repair_pins` makes the others'
    schedules obey it.
    """

    tasks: tuple[tuple[str, float], ...]
    dependencies: tuple[tuple[str, str, float], ...]
    processors: tuple[tuple[str, float], ...]
    links: tuple[tuple[str, str, float], ...]
    fixed: tuple[ProcessorPlacement, ...] = ()
    min_start_time: float = 0.0
    allowed: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def node_constraints(self) -> dict[str, set[str]] | None:
        """``allowed`` in SAGA's shape (task -> set of processor names), or None when empty."""
        return {task: set(procs) for task, procs in self.allowed} if self.allowed else None


def to_saga(problem: Problem, *, constrained: bool = False) -> tuple[Any, Any, Any]:
    """SAGA ``(Network, TaskGraph, Schedule | None)`` built directly (``TaskGraph.create`` is O(V*E)
    and would add ``__super_source__``/``__super_sink__``).

    ``constrained``: the partial schedule carries ``problem.allowed`` as its ``node_constraints``
    (SAGA schedulers that honour constraints read them from a given schedule; the others call
    ``get_earliest_start_time`` on every node, which then raises ``ConstraintViolation``)."""
    import saga

    network = saga.Network(
        nodes=frozenset(saga.NetworkNode(name=p, speed=s) for p, s in problem.processors),
        edges=frozenset(saga.NetworkEdge(source=a, target=b, speed=bw) for a, b, bw in problem.links),
    )
    task_graph = saga.TaskGraph(
        tasks=frozenset(saga.TaskGraphNode(name=t, cost=c) for t, c in problem.tasks),
        dependencies=frozenset(
            saga.TaskGraphEdge(source=p, target=c, size=s) for p, c, s in problem.dependencies
        ),
    )
    partial = None
    if problem.fixed:
        mapping: dict[str, list[Any]] = {p: [] for p, _ in problem.processors}
        for task, proc, start, end in sorted(problem.fixed, key=lambda f: (f[1], f[2], f[3], f[0])):
            mapping[proc].append(saga.ScheduledTask(node=proc, name=task, start=start, end=end))
        partial = saga.Schedule(
            task_graph,
            network,
            mapping=mapping,
            node_constraints=problem.node_constraints() if constrained else None,
        )
    return network, task_graph, partial


def run_saga(scheduler: Any, problem: Problem, *, node_constraints: bool = False) -> list[ProcessorPlacement]:
    """Run a SAGA scheduler object on ``problem``; returns the placements of ``problem.tasks`` only.

    ``node_constraints``: hand ``problem.allowed`` to the scheduler as SAGA's per-task
    ``node_constraints`` (only for schedulers whose ``schedule()`` takes them, such as
    ``ParametricScheduler`` and ``FastestNodeScheduler``).
    """
    constraints = problem.node_constraints() if node_constraints else None
    network, task_graph, partial = to_saga(problem, constrained=constraints is not None)
    # A given schedule's own constraints apply; without one, SAGA takes them as an argument.
    extra: dict[str, Any] = {"node_constraints": constraints} if constraints and partial is None else {}
    try:
        result = scheduler.schedule(
            network, task_graph, schedule=partial, min_start_time=problem.min_start_time, **extra
        )
    finally:
        _clear_saga_caches()
    wanted = {t for t, _ in problem.tasks}
    out: list[ProcessorPlacement] = []
    for proc, scheduled in result.mapping.items():
        for st in scheduled:
            if st.name in wanted:
                out.append((st.name, proc, float(st.start), float(st.end)))
    return out


def _clear_saga_caches() -> None:
    """SAGA memoises ranks in unbounded module-level caches keyed by the problem: a long-lived
    worker would otherwise grow without bound."""
    from saga.schedulers import cpop

    for fn in (getattr(cpop, "upward_rank", None), getattr(cpop, "cpop_ranks", None)):
        if fn is not None and hasattr(fn, "cache_clear"):
            fn.cache_clear()

"""The scheduler registry: case-insensitive names -> algorithms on a :class:`Problem`.

Adding a scheduler is one entry in ``_ENTRIES``. ``in_worker=True`` runs it in the killable worker
process (every SAGA scheduler: they can hang, and their results depend on ``PYTHONHASHSEED``, which the
worker pins); ``in_worker=False`` runs it in the caller's process (for deterministic, fast algorithms
written here, such as the fast HEFT: ``SchedulerEntry("HEFT", _fast_heft, in_worker=False,
supports_fixed=True, supports_pins=True)``, which takes the :class:`Problem` as it is).

Pinned tasks (``Problem.allowed``): SAGA 2.1.0 has per-task node allow-lists
(``Schedule.node_constraints``, and a ``node_constraints=`` argument of ``schedule()``), but only
``ParametricScheduler`` (our SAGA-HEFT) and ``FastestNodeScheduler`` choose among the allowed nodes;
every other class ignores them (or, handed a constrained partial schedule, raises SAGA's
``ConstraintViolation`` as soon as it probes a forbidden node). Entries with ``supports_pins=True``
get the constraints; :func:`saga_graphs.plan` repairs the schedules of the others
(:func:`saga_graphs._pinned.repair_pins`).

Probed on SAGA 2.1.0 with random DAGs (5-29 tasks, 4 processors, equal and unequal speeds, zero and
non-zero sizes, independent tasks), 30 problems each; see README "Schedulers".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from saga_graphs._problem import Problem, ProcessorPlacement, run_saga
from saga_graphs.errors import UnknownSchedulerError

__all__ = [
    "EXCLUDED",
    "SchedulerEntry",
    "available_schedulers",
    "entry",
    "register_scheduler",
    "scheduler_object",
]

Algorithm = Callable[[Problem], list[ProcessorPlacement]]


@dataclass(frozen=True)
class SchedulerEntry:
    """A named algorithm.

    ``supports_fixed``: it honours an existing partial schedule and ``min_start_time`` (needed for
    rolling planning around fixed tasks and for per-node availability).
    ``supports_pins``: it places every task of ``Problem.allowed`` on one of its allowed processors
    by itself; for the others plan() moves misplaced pinned tasks afterwards (a repair pass).
    """

    name: str
    run: Algorithm
    in_worker: bool = True
    supports_fixed: bool = False
    description: str = ""
    supports_pins: bool = False


def scheduler_object(factory: Callable[[], Any], *, node_constraints: bool = False) -> Algorithm:
    """An algorithm from a factory of SAGA ``Scheduler`` objects (``.schedule(network, task_graph,
    schedule=, min_start_time=)``), e.g. ``scheduler_object(lambda: HeftScheduler())``.

    ``node_constraints=True`` for a class whose ``schedule()`` also takes ``node_constraints=`` and
    honours them: it then gets ``Problem.allowed`` (register it with ``supports_pins=True``)."""

    def run(problem: Problem) -> list[ProcessorPlacement]:
        return run_saga(factory(), problem, node_constraints=node_constraints)

    return run


def _saga(class_name: str, *, node_constraints: bool = False, **kwargs: Any) -> Algorithm:
    def make() -> Any:
        import saga.schedulers

        return getattr(saga.schedulers, class_name)(**kwargs)

    return scheduler_object(make, node_constraints=node_constraints)


def _saga_heft(problem: Problem) -> list[ProcessorPlacement]:
    """HEFT as SAGA's ParametricScheduler(UpwardRanking, insertion EFT): the same algorithm as
    ``HeftScheduler`` but with processors tried in name order, so ties break deterministically.
    It honours SAGA's node constraints (``GreedyInsert`` tries only the allowed nodes)."""
    from saga.schedulers.parametric import ParametricScheduler
    from saga.schedulers.parametric.components import GreedyInsert, GreedyInsertCompareFuncs, UpwardRanking

    scheduler = ParametricScheduler(
        UpwardRanking(),
        GreedyInsert(append_only=False, compare=GreedyInsertCompareFuncs.EFT, critical_path=False),
    )
    return run_saga(scheduler, problem, node_constraints=True)


def _fast_heft(problem: Problem) -> list[ProcessorPlacement]:
    """The fast HEFT on the problem's own arrays (no SAGA object is built, SAGA is not even
    imported), with ties broken in sorted order, so that results do not depend on
    ``PYTHONHASHSEED`` (SAGA's own order of equal-rank tasks does)."""
    from saga_graphs._fast_heft import heft

    return heft(problem)


_ENTRIES: tuple[SchedulerEntry, ...] = (
    SchedulerEntry(
        "HEFT",
        _fast_heft,
        in_worker=False,
        supports_fixed=True,
        supports_pins=True,
        description="HEFT, fast: SAGA-HEFT's exact placements, vectorised (50,000 tasks x 128 nodes)",
    ),
    SchedulerEntry(
        "SAGA-HEFT",
        _saga_heft,
        supports_fixed=True,
        supports_pins=True,
        description="SAGA's parametric HEFT (name-ordered ties): the reference for HEFT",
    ),
    SchedulerEntry(
        "SAGA-HeftScheduler",
        _saga("HeftScheduler"),
        supports_fixed=True,
        description="SAGA's HeftScheduler class",
    ),
    SchedulerEntry(
        "CPOP",
        _saga("CpopScheduler"),
        supports_fixed=True,
        description="CPOP-like (SAGA's downward rank uses the task's own cost)",
    ),
    SchedulerEntry("PEFT", _saga("PEFTScheduler")),
    SchedulerEntry("ETF", _saga("ETFScheduler")),
    SchedulerEntry("MinMin", _saga("MinMinScheduler")),
    SchedulerEntry("MaxMin", _saga("MaxMinScheduler")),
    SchedulerEntry(
        "FastestNode",
        _saga("FastestNodeScheduler", node_constraints=True),
        supports_fixed=True,
        supports_pins=True,
    ),
    SchedulerEntry("MCT", _saga("MCTScheduler"), supports_fixed=True),
    SchedulerEntry("MET", _saga("METScheduler"), supports_fixed=True),
    SchedulerEntry("MST", _saga("MSTScheduler"), supports_fixed=True),
    SchedulerEntry("OLB", _saga("OLBScheduler"), supports_fixed=True),
    SchedulerEntry("Sufferage", _saga("SufferageScheduler")),
    SchedulerEntry("WBA", _saga("WBAScheduler")),
    SchedulerEntry("BIL", _saga("BILScheduler")),
    SchedulerEntry("DPS", _saga("DPSScheduler"), supports_fixed=True),
    SchedulerEntry("Duplex", _saga("DuplexScheduler")),
    SchedulerEntry("FLB", _saga("FLBScheduler")),
    SchedulerEntry("GDL", _saga("GDLScheduler")),
    SchedulerEntry("MSBC", _saga("MsbcScheduler")),
    SchedulerEntry("FCP", _saga("FCPScheduler"), description="can hang on partial schedules"),
)

#: SAGA 2.1.0 schedulers left out, and why (measured; see README).
EXCLUDED: dict[str, str] = {
    "BruteForceScheduler": "exhaustive search: did not finish 8 tasks x 4 processors in 30 s",
    "SMTScheduler": "SMT-solver search: did not finish 8 tasks x 4 processors in 30 s",
    "HybridScheduler": "a meta-scheduler that needs a list of schedulers; plan(scheduler=[...]) is the portfolio",
    "HbmctScheduler": "returned schedules missing tasks on 23 of 30 random problems",
}

_registry: dict[str, SchedulerEntry] = {}


def register_scheduler(new: SchedulerEntry, *, replace: bool = False) -> None:
    """Add ``new`` under its case-insensitive name (``replace=True`` to override an entry).

    The worker process knows only the entries of ``_ENTRIES``: register ``in_worker=True`` entries
    there; entries added at run time should be ``in_worker=False`` (they run in the caller and are
    not stopped by the time budget).
    """
    key = new.name.lower()
    if key in _registry and not replace:
        raise ValueError(f"a scheduler named {_registry[key].name!r} is already registered")
    _registry[key] = new


for _e in _ENTRIES:
    register_scheduler(_e)


def available_schedulers() -> list[str]:
    """Canonical names of every usable scheduler, in registry order."""
    return [e.name for e in _registry.values()]


def entry(name: str) -> SchedulerEntry:
    """Look a scheduler up by case-insensitive name."""
    if not isinstance(name, str):
        raise UnknownSchedulerError(f"a scheduler name must be a string; got {name!r}")
    found = _registry.get(name.strip().lower())
    if found is None:
        raise UnknownSchedulerError(
            f"unknown scheduler {name!r}; available: {', '.join(available_schedulers())}"
        )
    return found

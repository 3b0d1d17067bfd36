"""What "a task ran (or is planned to run) on ``node`` from ``start`` to ``end``" means to saga_graphs.

saga_graphs knows nothing of executors, so it does not define the record of a real run: it states the
shape it reads (:class:`TaskRun`) and anything with those attributes fits -- the executor's
``parsl_affinity_htex.RunRecord``, a :class:`~saga_graphs.Placement`, saga-dfk's ``TaskAssignment``.
:func:`span` is the one makespan-as-span computation; charts and reports call it instead of their own
``max(end) - min(start)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

__all__ = ["TaskRun", "span"]


@runtime_checkable
class TaskRun(Protocol):
    """Where and when one task ran: node name and start/end seconds (any one clock per collection).

    Read-only attributes, so frozen dataclasses and named tuples satisfy it. Charts also read an
    optional integer ``slot`` (the worker slot on ``node``) when the object has one; without it the
    run is drawn in its planned slot when it ran on the planned node, else in slot 0.
    """

    @property
    def node(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


def _bounds(runs: Iterable[TaskRun]) -> tuple[float, float] | None:
    """(earliest start, latest end) of ``runs``; None when there is none."""
    lo = hi = None
    for run in runs:
        start, end = float(run.start), float(run.end)
        lo = start if lo is None or start < lo else lo
        hi = end if hi is None or end > hi else hi
    if lo is None or hi is None:
        return None
    return lo, hi


def span(runs: Iterable[TaskRun]) -> float | None:
    """Latest end minus earliest start of ``runs`` (the makespan of what ran); None for no runs.

    A span, not "latest end": it compares a plan (clock starting at 0) with real runs (worker wall
    clocks starting whenever the first task did) without converting clocks. All runs must share one clock.
    """
    bounds = _bounds(runs)
    return None if bounds is None else bounds[1] - bounds[0]

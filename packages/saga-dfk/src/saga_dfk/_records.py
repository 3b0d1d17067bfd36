"""What saga-dfk knows about each task: its plan, where it stands, and what it really did.

The records are the one source of truth for the kernel's hooks, the round planner, the progress line and
the run report; the report reads them and never the kernel. Parsl's own ``TaskRecord`` stays the source
of truth for the task itself, and a record lets go of it as soon as the task finished: a finished task
keeps only what the report needs (ids, node, times, sizes, the outcome in words), so memory does not grow
with results the caller has dropped.

Lifecycle of a planned task::

    held --(round)--> released --(dependencies done: launch_task)--> ready --(dispatch)--> dispatched --> done
                 \\___ re-planned while not dispatched (join, loss, drift) ___/

``ready`` tasks wait in saga-dfk's per-node queue (at most ``dispatch_window`` tasks per slot are in the
executor at once), so a re-plan can still move them; a dispatched task is the executor's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parsl.dataflow.taskrecord import TaskRecord

    from parsl_affinity_htex import RunRecord

    from ._hints import TaskHints

__all__ = ["AssignmentsView", "Pin", "PlannedTask", "TaskAssignment", "TaskRecords"]


@dataclass(frozen=True, slots=True)
class TaskAssignment:
    """SAGA's decision for one task. Times are seconds on the plan clock (0 = first planning round)."""

    task_id: int
    function: str
    node: str
    start: float
    end: float
    round: int
    scheduler: str
    slot: int = 0


@dataclass(frozen=True, slots=True)
class Pin:
    """The caller's own placement (``parsl_resource_specification={"node": ..., "affinity": ...}``): a
    constraint of the plan, never overridden by it."""

    node: str
    hard: bool


@dataclass(eq=False, slots=True)
class PlannedTask:
    """One task of the planned executor. ``record`` is Parsl's TaskRecord until the task finished."""

    tid: int
    name: str
    func_name: str
    parents: tuple[int, ...]
    record: TaskRecord | None
    hints: TaskHints | None = None
    pin: Pin | None = None
    dynamic: bool = False  # submitted by a running app (a join_app body)
    opted_out: bool = False  # stock placement; in the graph as work the plan cannot move
    # where it stands
    released: bool = False  # planned (or failed) and handed to Parsl's dependency tracking
    ready: bool = False  # Parsl called launch_task: dependencies done; waiting in the node queue
    dispatched: bool = False  # in the executor
    done: bool = False
    # the plan and reality
    assignment: TaskAssignment | None = None
    actual: RunRecord | None = None  # on the plan clock
    output_bytes: int | None = None
    replans: list[dict[str, Any]] | None = None
    applied: float = 1.0  # the calibration factor its current plan was made with
    losses: int = 0  # tries lost with their node (re-planned, not counted as Parsl retries)
    label: str | None = None
    error: BaseException | None = None  # saga-dfk's own failure (planning, hints) before it could run
    failure: dict[str, str] | None = None  # the outcome's error in words, once finished
    status: str | None = None  # Parsl's final state name, once finished
    proxy: Any = None  # the future launch_task returned, while the task is not finished

    def add_replan(self, entry: dict[str, Any]) -> None:
        if self.replans is None:
            self.replans = []
        self.replans.append(entry)

    @property
    def state(self) -> str:
        """``held``, ``released``, ``ready``, ``running`` (dispatched), ``done`` or ``failed``."""
        if self.done:
            return "failed" if self.failure is not None else "done"
        if self.dispatched:
            return "running"
        if self.ready:
            return "ready"
        return "released" if self.released else "held"


class AssignmentsView(Mapping[int, TaskAssignment]):
    """task id -> current TaskAssignment, read straight from the records (no second copy to keep in step)."""

    def __init__(self, records: TaskRecords) -> None:
        self._records = records

    def __getitem__(self, tid: int) -> TaskAssignment:
        task = self._records.get(tid)
        if task is None or task.assignment is None:
            raise KeyError(tid)
        return task.assignment

    def __iter__(self) -> Iterator[int]:
        return (tid for tid, t in list(self._records.items()) if t.assignment is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, tid: object) -> bool:
        task = self._records.get(tid) if isinstance(tid, int) else None
        return task is not None and task.assignment is not None


class TaskRecords:
    """The table of planned tasks, with the indexes the kernel needs at every step kept incrementally:
    ``held`` (waiting for a round) and ``open`` (planned or opted out, not finished: what a new round must
    plan around or re-plan). All mutation happens under ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._tasks: dict[int, PlannedTask] = {}
        self.held: dict[int, PlannedTask] = {}
        self.open: dict[int, PlannedTask] = {}

    def add(self, task: PlannedTask) -> None:
        self._tasks[task.tid] = task
        if not task.opted_out and not task.released and task.error is None:
            self.held[task.tid] = task
        if not task.done:
            self.open[task.tid] = task

    def get(self, tid: int) -> PlannedTask | None:
        return self._tasks.get(tid)

    def __contains__(self, tid: object) -> bool:
        return tid in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def items(self) -> list[tuple[int, PlannedTask]]:
        with self.lock:
            return list(self._tasks.items())

    def values(self) -> list[PlannedTask]:
        with self.lock:
            return list(self._tasks.values())

    def finish(self, task: PlannedTask, status: str | None, failure: BaseException | None) -> None:
        """The task is final: keep only what the report needs."""
        task.done = True
        task.status = status
        if failure is None and task.error is not None:
            failure = task.error
        task.failure = None if failure is None else {"type": type(failure).__name__, "message": str(failure)}
        task.record = None
        task.proxy = None
        task.hints = None
        task.error = None
        self.held.pop(task.tid, None)
        self.open.pop(task.tid, None)

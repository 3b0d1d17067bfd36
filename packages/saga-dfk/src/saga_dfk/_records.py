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

import json
import threading
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from parsl_affinity_htex import RunRecord

if TYPE_CHECKING:
    from parsl.dataflow.taskrecord import TaskRecord

    from ._hints import TaskHints

__all__ = [
    "AssignmentsView",
    "FinishedTasks",
    "Pin",
    "PlannedTask",
    "RoundLog",
    "SampleRing",
    "TaskAssignment",
    "TaskRecords",
]


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


class _Names:
    """Strings seen again and again (node, function, scheduler, host, status names) stored once, by index."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def index(self, name: str | None) -> int:
        if name is None:
            return -1
        i = self._index.get(name)
        if i is None:
            i = self._index[name] = len(self.names)
            self.names.append(name)
        return i

    def name(self, i: int) -> str | None:
        return None if i < 0 else self.names[i]


class FinishedTasks:
    """Finished tasks, what the report needs of each, in typed columns.

    Why columns: the records of finished tasks live as long as the kernel (the report is of the whole
    run). As 100,000 small objects (a PlannedTask with its TaskAssignment, RunRecord, name and parents)
    they took ~0.9 kB each and kept the allocator's pages of everything allocated between them alive:
    the driver held 317 MB more than plain Parsl after a 100,000-task run whose futures were dropped. In
    columns a finished task is ~100 bytes in a few arrays that grow as one block each. What few tasks have
    (a failure, re-plans, a label, a pin, a run through the data plane) is kept aside by task id.
    ``get`` gives a finished task back as a PlannedTask built for the asker (changes to it are not kept:
    ``set_label``, ``set_actual`` and ``add_replan`` are the ways to change a finished task).
    """

    def __init__(self) -> None:
        self._row = array("q")  # task id -> row, -1: not finished (Parsl's task ids count up from 0)
        self._tid = array("q")
        self._func = array("i")
        self._flags = array("b")  # 1 opted out, 2 dynamic, 4 released
        self._parents_end = array("q")  # parents of row r: _parents[_parents_end[r-1]:_parents_end[r]]
        self._parents = array("q")
        self._status = array("i")
        self._output_bytes = array("q")  # -1: None
        # the plan (node -1: none)
        self._p_node = array("i")
        self._p_start = array("d")
        self._p_end = array("d")
        self._p_round = array("i")
        self._p_scheduler = array("i")
        self._p_slot = array("i")
        # the run (node -1: none)
        self._a_node = array("i")
        self._a_host = array("i")
        self._a_start = array("d")
        self._a_end = array("d")
        self._a_bytes = array("q")  # -1: None
        self._names = _Names()
        # what few tasks have
        self._runs: dict[int, RunRecord] = {}  # runs with data-plane fields, kept as they are
        self._failure: dict[int, dict[str, str]] = {}
        self._replans: dict[int, list[dict[str, Any]]] = {}
        self._label: dict[int, str] = {}
        self._pin: dict[int, Pin] = {}
        self._by_output_key: dict[str, int] = {}
        # what progress() counts of them, kept as they come (a progress line must not cost O(tasks))
        self._counts = {"total": 0, "planned": 0, "done": 0, "failed": 0, "replanned": 0}
        self._per_node: dict[str, dict[str, int]] = {}
        self._finish: float | None = None

    def __len__(self) -> int:
        return len(self._tid)

    def summary(self) -> dict[str, Any]:
        """Counts of the finished tasks that were planned (opted-out ones are not counted): ``total``,
        ``planned``, ``done``, ``failed``, ``replanned``, per node ``{"done", "failed"}`` (where each ran, else
        where it was planned) and ``finish``, the latest actual end."""
        return {
            **self._counts,
            "nodes": {n: dict(c) for n, c in self._per_node.items()},
            "finish": self._finish,
        }

    def _count(self, tid: int, sign: int) -> None:
        """Add (``sign`` 1) or take back (-1) the task's part of the summary."""
        r = self._row[tid]
        if self._flags[r] & 1:
            return
        failed = tid in self._failure
        state = "failed" if failed else "done"
        c = self._counts
        c["total"] += sign
        c[state] += sign
        c["planned"] += sign * (self._p_node[r] >= 0)
        c["replanned"] += sign * bool(self._replans.get(tid))
        node = self._names.name(self._a_node[r] if self._a_node[r] >= 0 else self._p_node[r])
        if node is not None:
            per = self._per_node.setdefault(node, {"done": 0, "failed": 0})
            per[state] += sign
        if sign > 0 and self._a_node[r] >= 0:
            end = self._a_end[r]
            self._finish = end if self._finish is None else max(self._finish, end)

    def __contains__(self, tid: object) -> bool:
        return isinstance(tid, int) and 0 <= tid < len(self._row) and self._row[tid] >= 0

    def tids(self) -> Iterator[int]:
        return iter(self._tid)

    def add(self, task: PlannedTask) -> None:
        tid, names = task.tid, self._names
        if tid < 0:
            raise ValueError(f"task ids are >= 0, got {tid}")
        if tid >= len(self._row):
            self._row.extend([-1] * (tid + 1 - len(self._row) + len(self._row) // 2))
        self._row[tid] = len(self._tid)
        self._tid.append(tid)
        self._func.append(names.index(task.func_name))
        self._flags.append(task.opted_out | task.dynamic << 1 | task.released << 2)
        self._parents.extend(task.parents)
        self._parents_end.append(len(self._parents))
        self._status.append(names.index(task.status))
        self._output_bytes.append(-1 if task.output_bytes is None else task.output_bytes)
        a = task.assignment
        self._p_node.append(-1 if a is None else names.index(a.node))
        self._p_start.append(0.0 if a is None else a.start)
        self._p_end.append(0.0 if a is None else a.end)
        self._p_round.append(0 if a is None else a.round)
        self._p_scheduler.append(-1 if a is None else names.index(a.scheduler))
        self._p_slot.append(0 if a is None else a.slot)
        self._put_actual(tid, task.actual, append=True)
        if task.failure is not None:
            self._failure[tid] = task.failure
        if task.replans:
            self._replans[tid] = task.replans
        if task.label is not None:
            self._label[tid] = task.label
        if task.pin is not None:
            self._pin[tid] = task.pin
        self._count(tid, 1)

    def _put_actual(self, tid: int, run: RunRecord | None, append: bool = False) -> None:
        names = self._names
        node = -1 if run is None else names.index(run.node)
        host = -1 if run is None else names.index(run.hostname)
        start = 0.0 if run is None else run.start
        end = 0.0 if run is None else run.end
        nbytes = -1 if run is None or run.output_bytes is None else run.output_bytes
        if append:
            self._a_node.append(node)
            self._a_host.append(host)
            self._a_start.append(start)
            self._a_end.append(end)
            self._a_bytes.append(nbytes)
        else:
            r = self._row[tid]
            self._a_node[r], self._a_host[r], self._a_start[r], self._a_end[r] = node, host, start, end
            self._a_bytes[r] = nbytes
        self._runs.pop(tid, None)
        if run is not None and (run.output_store is not None or run.output_key is not None or run.inputs):
            self._runs[tid] = run
            if run.output_key is not None:
                self._by_output_key[run.output_key] = tid

    def set_actual(self, tid: int, run: RunRecord) -> None:
        self._count(tid, -1)
        self._put_actual(tid, run)
        self._count(tid, 1)

    def add_replan(self, tid: int, entry: dict[str, Any]) -> None:
        self._count(tid, -1)
        self._replans.setdefault(tid, []).append(entry)
        self._count(tid, 1)

    def set_label(self, tid: int, label: str) -> None:
        self._label[tid] = label

    def producer_of(self, output_key: str) -> int | None:
        """The finished task whose stored result has ``output_key``."""
        return self._by_output_key.get(output_key)

    def assignment(self, tid: int) -> TaskAssignment | None:
        if tid not in self:
            return None
        r = self._row[tid]
        node = self._names.name(self._p_node[r])
        if node is None:
            return None
        return TaskAssignment(
            task_id=tid,
            function=self._names.names[self._func[r]],
            node=node,
            start=self._p_start[r],
            end=self._p_end[r],
            round=self._p_round[r],
            scheduler=self._names.names[self._p_scheduler[r]],
            slot=self._p_slot[r],
        )

    def actual(self, tid: int) -> RunRecord | None:
        run = self._runs.get(tid)
        if run is not None or tid not in self:
            return run
        r = self._row[tid]
        node = self._names.name(self._a_node[r])
        if node is None:
            return None
        nbytes = self._a_bytes[r]
        return RunRecord(
            node=node,
            hostname=self._names.names[self._a_host[r]],
            start=self._a_start[r],
            end=self._a_end[r],
            output_bytes=None if nbytes < 0 else nbytes,
        )

    def get(self, tid: int) -> PlannedTask | None:
        if tid not in self:
            return None
        r = self._row[tid]
        flags = self._flags[r]
        nbytes = self._output_bytes[r]
        replans = self._replans.get(tid)
        return PlannedTask(
            tid=tid,
            name=f"t{tid}",
            func_name=self._names.names[self._func[r]],
            parents=tuple(self._parents[self._parents_end[r - 1] if r else 0 : self._parents_end[r]]),
            record=None,
            pin=self._pin.get(tid),
            dynamic=bool(flags & 2),
            opted_out=bool(flags & 1),
            released=bool(flags & 4),
            done=True,
            assignment=self.assignment(tid),
            actual=self.actual(tid),
            output_bytes=None if nbytes < 0 else nbytes,
            replans=list(replans) if replans else None,
            label=self._label.get(tid),
            failure=self._failure.get(tid),
            status=self._names.name(self._status[r]),
        )


class AssignmentsView(Mapping[int, TaskAssignment]):
    """task id -> current TaskAssignment, read straight from the records (no second copy to keep in step)."""

    def __init__(self, records: TaskRecords) -> None:
        self._records = records

    def __getitem__(self, tid: int) -> TaskAssignment:
        assignment = self._records.assignment(tid) if isinstance(tid, int) else None
        if assignment is None:
            raise KeyError(tid)
        return assignment

    def __iter__(self) -> Iterator[int]:
        return (tid for tid in self._records.tids() if self._records.assignment(tid) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, tid: object) -> bool:
        return isinstance(tid, int) and self._records.assignment(tid) is not None


class TaskRecords:
    """The table of planned tasks, with the indexes the kernel needs at every step kept incrementally:
    ``held`` (waiting for a round) and ``open`` (planned or opted out, not finished: what a new round must
    plan around or re-plan); finished tasks move to ``finished`` (columns). All mutation happens under
    ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.held: dict[int, PlannedTask] = {}
        self.open: dict[int, PlannedTask] = {}
        self.finished = FinishedTasks()

    def add(self, task: PlannedTask) -> None:
        if task.done:
            self.finished.add(task)
            return
        self.open[task.tid] = task
        if not task.opted_out and not task.released and task.error is None:
            self.held[task.tid] = task

    def get(self, tid: int) -> PlannedTask | None:
        """The task's record; a finished task's is rebuilt from the columns for the asker."""
        task = self.open.get(tid)
        return task if task is not None else self.finished.get(tid)

    def assignment(self, tid: int) -> TaskAssignment | None:
        task = self.open.get(tid)
        return task.assignment if task is not None else self.finished.assignment(tid)

    def __contains__(self, tid: object) -> bool:
        return tid in self.open or tid in self.finished

    def __len__(self) -> int:
        return len(self.open) + len(self.finished)

    def tids(self) -> list[int]:
        with self.lock:
            return sorted([*self.open, *self.finished.tids()])

    def values(self) -> list[PlannedTask]:
        """Every task by id (finished ones rebuilt: O(n), for reports and tests, not per task)."""
        with self.lock:
            tasks = [
                *self.open.values(),
                *(t for tid in self.finished.tids() if (t := self.finished.get(tid))),
            ]
        return sorted(tasks, key=lambda t: t.tid)

    def set_label(self, tid: int, label: str) -> bool:
        task = self.open.get(tid)
        if task is not None:
            task.label = label
        elif tid in self.finished:
            self.finished.set_label(tid, label)
        else:
            return False
        return True

    def producer_of(self, output_key: str) -> int | None:
        """The task whose stored result has ``output_key`` (None: no task of this kernel)."""
        for task in self.open.values():
            if task.actual is not None and task.actual.output_key == output_key:
                return task.tid
        return self.finished.producer_of(output_key)

    def set_actual(self, tid: int, run: RunRecord, replan: dict[str, Any]) -> None:
        """A task's run changed after it ran (its result was made again elsewhere), and why."""
        task = self.open.get(tid)
        if task is not None:
            task.actual = run
            task.add_replan(replan)
        elif tid in self.finished:
            self.finished.set_actual(tid, run)
            self.finished.add_replan(tid, replan)

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
        self.finished.add(task)


class RoundLog(Sequence[dict[str, Any]]):
    """The summaries of the latest ``maxlen`` planning rounds, oldest first, as JSON lines in one buffer.

    Why not a deque of dicts: a round's summary is a few dozen small objects made while the heap churns
    with the round's tasks, and they live to the end of the run. Scattered like that, the summaries of
    105 rounds kept 38 MiB of the interpreter's arenas from being freed after a 30,000-task run (each
    survivor holds its whole arena). One growing buffer holds none. Reading decodes (reports, tests).
    """

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._buffer = bytearray()
        self._ends = array("q")
        self.nodes: set[str] = set()  # every node some kept round planned on

    def append(self, summary: Mapping[str, Any]) -> None:
        self.nodes.update(summary.get("nodes", ()))
        if len(self._ends) >= self.maxlen:
            keep = self.maxlen // 2  # drop the older half at once: amortised O(1) per round
            cut = self._ends[len(self._ends) - keep - 1]
            del self._buffer[:cut]
            self._ends = array("q", (e - cut for e in self._ends[len(self._ends) - keep :]))
        self._buffer += json.dumps(summary, separators=(",", ":")).encode()
        self._ends.append(len(self._buffer))

    def __len__(self) -> int:
        return len(self._ends)

    def _decode(self, i: int) -> dict[str, Any]:
        start = self._ends[i - 1] if i else 0
        decoded: dict[str, Any] = json.loads(self._buffer[start : self._ends[i]])
        return decoded

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self._decode(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"round summary {i} of {n}")
        return self._decode(i % n)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._decode(i) for i in range(len(self)))


class SampleRing:
    """The latest ``capacity`` (node, function, value) observations, in typed arrays (see ``RoundLog``:
    tuples replaced one by one all run long would keep arenas alive the same way)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._node = array("i", [0] * capacity)
        self._func = array("i", [0] * capacity)
        self._value = array("d", [0.0] * capacity)
        self._names = _Names()
        self._next = 0
        self._count = 0

    def append(self, node: str, func: str, value: float) -> None:
        i = self._next
        self._node[i] = self._names.index(node)
        self._func[i] = self._names.index(func)
        self._value[i] = value
        self._next = (i + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def __len__(self) -> int:
        return self._count

    def items(self) -> list[tuple[str, str, float]]:
        """Oldest first."""
        first = (self._next - self._count) % self.capacity
        names = self._names.names
        return [
            (names[self._node[j]], names[self._func[j]], self._value[j])
            for j in ((first + k) % self.capacity for k in range(self._count))
        ]

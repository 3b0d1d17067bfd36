"""The per-node dispatch window: ready tasks wait here, in planned order, until their node has room.

Why a window: a task handed to the executor is the executor's (HTEx cannot take it back), so a re-plan
can only move tasks that were not dispatched yet. At most ``window`` tasks per slot of a node are in the
executor at once; the rest wait in this queue, where the next round may still move them to another node.
The callers hold the records lock; nothing here blocks or talks to Parsl.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable

from ._records import PlannedTask

__all__ = ["NodeQueues"]


class NodeQueues:
    """Ready tasks per node by planned start, and how many each node has in the executor.

    ``window``: tasks per slot in flight per node (None: no limit); ``slots(node)``: the node's slots now.
    Queue entries are never removed in place: a re-planned task gets a new entry and the old one is
    skipped when it comes up (it no longer matches the task's assignment).
    """

    def __init__(self, window: float | None, slots: Callable[[str], int]) -> None:
        self._window = window
        self._slots = slots
        self._queues: dict[str, list[tuple[float, int, PlannedTask]]] = {}
        self._in_flight: dict[str, int] = {}
        self._dispatched_to: dict[int, str] = {}

    def push(self, task: PlannedTask) -> None:
        """Queue a ready task on the node of its current assignment."""
        a = task.assignment
        assert a is not None
        heapq.heappush(self._queues.setdefault(a.node, []), (a.start, task.tid, task))

    def room(self, node: str) -> float:
        if self._window is None:
            return math.inf
        return max(1, math.ceil(self._window * max(1, self._slots(node)))) - self._in_flight.get(node, 0)

    def take(self, nodes: Iterable[str] | None = None) -> list[PlannedTask]:
        """Ready tasks that fit their node's window, in planned order, marked dispatched."""
        out: list[PlannedTask] = []
        for node in list(nodes if nodes is not None else self._queues):
            queue = self._queues.get(node)
            room = self.room(node) if queue else 0
            while queue and room > 0:
                start, _tid, task = heapq.heappop(queue)
                a = task.assignment
                if (
                    task.dispatched
                    or task.done
                    or not task.ready
                    or a is None
                    or a.node != node
                    or a.start != start
                ):
                    continue  # stale: re-planned (it has a newer entry) or already gone
                task.dispatched = True
                self._in_flight[node] = self._in_flight.get(node, 0) + 1
                self._dispatched_to[task.tid] = node
                out.append(task)
                room -= 1
        return out

    def settle(self, task: PlannedTask) -> str | None:
        """A dispatched try ended: free its place; the node it was on (None: it was not dispatched)."""
        task.dispatched = False
        node = self._dispatched_to.pop(task.tid, None)
        if node is not None:
            self._in_flight[node] = max(0, self._in_flight.get(node, 1) - 1)
        return node

    def in_flight(self) -> dict[str, int]:
        return {n: c for n, c in self._in_flight.items() if c}

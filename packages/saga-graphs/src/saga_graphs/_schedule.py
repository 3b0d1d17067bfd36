"""Schedules: one placement per task, checked independently of SAGA, lossless JSON.

The validity check re-derives every rule from the task graph and network (not from SAGA's own
bookkeeping), so a scheduler bug, a slot mapping bug or a hand-edited schedule is caught before a
workflow runs on it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from saga_graphs._graphs import Network, TaskGraph
from saga_graphs.errors import InvalidScheduleError

__all__ = ["Placement", "Schedule", "lower_bound"]

_FORMAT = "saga-graphs.schedule/1"


def _tol(value: float) -> float:
    """Float tolerance at magnitude ``value``: SAGA adds/subtracts floats in a different order."""
    return 1e-9 * max(1.0, abs(value)) * 16


@dataclass(frozen=True, order=True)
class Placement:
    """Where and when one task runs: ``slot`` is the worker slot index on ``node`` (0-based)."""

    task: str
    node: str
    slot: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(eq=True)
class Schedule:
    """A plan: task -> :class:`Placement`, plus which scheduler made it and what each one predicted.

    ``portfolio`` maps every scheduler tried to its predicted makespan (float) or to the text of its
    error; ``scheduler`` is the name of the one whose plan this is.
    """

    placements: Mapping[str, Placement]
    scheduler: str = ""
    portfolio: Mapping[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, p in self.placements.items():
            if name != p.task:
                raise InvalidScheduleError(f"placement keyed {name!r} is for task {p.task!r}")
        self.placements = MappingProxyType(dict(self.placements))
        self.portfolio = MappingProxyType(dict(self.portfolio))

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only views do not pickle; schedules cross process boundaries (Parsl, our worker).
        return (Schedule, (dict(self.placements), self.scheduler, dict(self.portfolio)))

    @classmethod
    def from_placements(
        cls,
        placements: list[Placement],
        scheduler: str = "",
        portfolio: Mapping[str, float | str] | None = None,
    ) -> Schedule:
        out: dict[str, Placement] = {}
        for p in placements:
            if p.task in out:
                raise InvalidScheduleError(f"task {p.task!r} is placed twice")
            out[p.task] = p
        return cls(out, scheduler, portfolio or {})

    @property
    def makespan(self) -> float:
        """Latest end time (0.0 for an empty schedule). Absolute: includes any min_start_time."""
        return max((p.end for p in self.placements.values()), default=0.0)

    def by_slot(self) -> dict[tuple[str, int], list[Placement]]:
        """(node, slot) -> placements in start order."""
        out: dict[tuple[str, int], list[Placement]] = defaultdict(list)
        for p in self.placements.values():
            out[(p.node, p.slot)].append(p)
        for ps in out.values():
            ps.sort(key=lambda p: (p.start, p.end, p.task))
        return dict(out)

    def nodes_of(self) -> dict[str, str]:
        """task -> node: what a placement-aware executor needs."""
        return {t: p.node for t, p in self.placements.items()}

    def __len__(self) -> int:
        return len(self.placements)

    def __repr__(self) -> str:
        return f"Schedule(tasks={len(self.placements)}, makespan={self.makespan:.6g}, scheduler={self.scheduler!r})"

    # -- checking -------------------------------------------------------------------------------
    def validate(self, task_graph: TaskGraph, network: Network, *, observed: Collection[str] = ()) -> None:
        """Raise :class:`InvalidScheduleError` unless this is a feasible plan for the problem.

        Rules: every task placed exactly once and nothing else; node known and slot in range;
        duration == cost / speed (except for ``observed`` tasks, whose times were measured or
        predicted from a running task, as in rolling planning); no two tasks overlap on one
        (node, slot); a child starts no earlier than each parent's end plus the transfer time
        (size / bandwidth, free on the same node).
        """
        tasks = task_graph.tasks
        missing = [t for t in tasks if t not in self.placements]
        if missing:
            raise InvalidScheduleError(f"{len(missing)} task(s) not placed, e.g. {missing[:5]}")
        extra = [t for t in self.placements if t not in tasks]
        if extra:
            raise InvalidScheduleError(f"placement(s) for task(s) not in the task graph: {extra[:5]}")
        nodes = network.nodes
        for t, p in self.placements.items():
            spec = nodes.get(p.node)
            if spec is None:
                raise InvalidScheduleError(f"task {t!r} is placed on unknown node {p.node!r}")
            if not 0 <= p.slot < spec.slots:
                raise InvalidScheduleError(
                    f"task {t!r} is placed on slot {p.slot} of node {p.node!r}, which has {spec.slots} slot(s)"
                )
            if not (math.isfinite(p.start) and math.isfinite(p.end)):
                raise InvalidScheduleError(f"task {t!r} has a non-finite time: start={p.start} end={p.end}")
            expected = tasks[t] / spec.speed
            if t not in observed and abs(p.duration - expected) > _tol(p.end) + 1e-9 * expected:
                raise InvalidScheduleError(
                    f"task {t!r} on node {p.node!r} lasts {p.duration!r} s but cost {tasks[t]!r} / speed "
                    f"{spec.speed!r} = {expected!r} s"
                )
        for (node, slot), ps in self.by_slot().items():
            for a, b in pairwise(ps):
                if b.start < a.end - _tol(a.end):
                    raise InvalidScheduleError(
                        f"tasks {a.task!r} [{a.start!r}, {a.end!r}] and {b.task!r} [{b.start!r}, {b.end!r}] "
                        f"overlap on node {node!r} slot {slot}"
                    )
        for (parent, child), size in task_graph.dependencies.items():
            pp, pc = self.placements[parent], self.placements[child]
            transfer = 0.0 if pp.node == pc.node else size / network.bandwidth(pp.node, pc.node)
            ready = pp.end + transfer
            if pc.start < ready - _tol(ready):
                raise InvalidScheduleError(
                    f"task {child!r} starts at {pc.start!r} on {pc.node!r} before its input from {parent!r} "
                    f"(ends {pp.end!r} on {pp.node!r}, transfer {transfer!r} s) arrives at {ready!r}"
                )

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "scheduler": self.scheduler,
            "makespan": self.makespan,
            "portfolio": dict(self.portfolio),
            "placements": [asdict(p) for p in self.placements.values()],
        }

    def to_json(self, indent: int | None = None) -> str:
        """JSON text; floats are written with ``repr`` precision, so the round trip is exact."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise InvalidScheduleError(f"not a saga-graphs schedule (expected format {_FORMAT!r})")
        try:
            placements = [
                Placement(str(p["task"]), str(p["node"]), int(p["slot"]), float(p["start"]), float(p["end"]))
                for p in data["placements"]
            ]
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidScheduleError(f"malformed placement in schedule JSON: {e!r}") from e
        return cls.from_placements(
            placements, str(data.get("scheduler", "")), dict(data.get("portfolio", {}))
        )

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidScheduleError(f"schedule JSON does not parse: {e}") from e
        return cls.from_dict(data)


def lower_bound(task_graph: TaskGraph, network: Network) -> float:
    """A makespan no schedule can beat, measured from time 0.

    max(critical path on the fastest slot with free communication, total work / total speed), where
    total speed = sum over nodes of slots x speed.
    """
    network.validate()
    if len(task_graph) == 0:
        return 0.0
    fastest = max(n.speed for n in network.nodes.values())
    total_speed = sum(n.slots * n.speed for n in network.nodes.values())
    tasks = task_graph.tasks
    finish: dict[str, float] = {}
    for t in task_graph.topological_order():
        ready = max((finish[p] for p in task_graph.parents(t)), default=0.0)
        finish[t] = ready + tasks[t] / fastest
    return max(max(finish.values()), sum(tasks.values()) / total_speed)

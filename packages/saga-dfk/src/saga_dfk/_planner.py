"""The round planner: one SAGA call for the tasks not dispatched yet, around the work that is.

It is given everything it needs (the tasks, the network, the cost model, the clock reading) and returns
placements; it calls nothing back, tags nothing, releases nothing. The kernel decides when a round runs
(a burst of submissions settled, a node joined or was lost, the cluster drifted from the plan) and
applies the result.

A round's graph:

* the **batch** -- the tasks the round places: new held tasks, plus, in a round that exists to move
  work, the tasks not dispatched yet that it may move (all of them when a node joins; those of a lost or
  drifting node otherwise);
* **fixed work** -- every other planned, unfinished task, where its plan put it: the load the batch
  plans around (a round costs what its batch costs, not what the backlog does);
* **opted-out work** -- unfinished tasks that run under stock placement, when a batch task depends on
  them: in the graph so their children do not start early, placed nowhere (their node is not ours to
  choose);
* **pins** -- a caller's ``{"node": ...}`` is a constraint (``saga_graphs.plan(pinned=...)``).

:class:`Calibration` is what finished tasks taught: per node a slowdown factor and per function a cost
factor (actual over planned duration, fitted by alternating medians), applied to the next rounds, and
:func:`overdue_nodes` says which nodes are behind the plan by more than the drift thresholds.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import saga_graphs

from ._hints import resolve_cost, resolve_output_size
from ._log import kv
from ._records import PlannedTask, SampleRing

__all__ = ["Calibration", "RoundPlan", "overdue_nodes", "plan_round"]

log = logging.getLogger(__name__)

#: a factor closer to 1 than this is noise, not drift
_SIGNIFICANT = 1.2
#: observations a factor needs before it is trusted
_MIN_SAMPLES = 3


@dataclass
class RoundPlan:
    """What a round decided: ``placements`` by task id (batch tasks only), and how."""

    placements: dict[int, saga_graphs.Placement]
    scheduler: str
    predicted_makespan: float
    portfolio: dict[str, float | str]
    nodes: list[str]
    fixed: int
    seconds: float
    unplanned_pins: list[int] = field(default_factory=list)  # hard pins to nodes without a pool now


class Calibration:
    """Per node a slowdown, per function a cost factor, learned from finished tasks' real durations.

    Each observation is a task's *total* factor: its actual duration over the duration the plan gave it,
    times the factors already applied when it was planned (so what was learned is not learned twice).
    ``learn_functions=False`` leaves costs to a cost model that learns them itself (LearnedCostModel).
    Memory is bounded: the last ``window`` observations per node and per function.
    """

    def __init__(self, *, learn_functions: bool = True, window: int = 64) -> None:
        self.learn_functions = learn_functions
        self._lock = threading.Lock()
        self._samples = SampleRing(window * 16)
        self._node: dict[str, float] = {}
        self._func: dict[str, float] = {}
        self._dirty = False

    def observe(self, node: str, func: str, planned: float, actual: float, applied: float = 1.0) -> None:
        """One finished task: ``planned`` and ``actual`` seconds, ``applied`` the factor its plan already
        had (``node_factor * function_factor`` when it was planned, not now: else a refit in between
        would be counted twice)."""
        if planned <= 1e-6 or actual <= 0 or not math.isfinite(actual):
            return
        with self._lock:
            self._samples.append(node, func, applied * actual / planned)
            self._dirty = True

    def node_factor(self, node: str) -> float:
        """How many times slower than its declared speed the node runs (1.0: as declared)."""
        return self._node.get(node, 1.0)

    def function_factor(self, func: str) -> float:
        """How many times more work the function is than its cost says (1.0: as declared)."""
        return self._func.get(func, 1.0)

    @property
    def factors(self) -> dict[str, dict[str, float]]:
        return {"nodes": dict(self._node), "functions": dict(self._func)}

    def fit(self) -> bool:
        """Refit from the observations; True when a factor changed noticeably."""
        with self._lock:
            if not self._dirty:
                return False
            self._dirty = False
            samples = self._samples.items()
        node_f: dict[str, float] = defaultdict(lambda: 1.0)
        func_f: dict[str, float] = defaultdict(lambda: 1.0)
        by_func: dict[str, list[float]] = {}
        for _ in range(3):  # alternating medians: enough to separate "slow node" from "costly function"
            if self.learn_functions:
                by_func = defaultdict(list)
                for node, func, total in samples:
                    by_func[func].append(total / node_f[node])
                func_f = defaultdict(
                    lambda: 1.0,
                    {f: statistics.median(v) for f, v in by_func.items() if len(v) >= _MIN_SAMPLES},
                )
            by_node: dict[str, list[float]] = defaultdict(list)
            for node, func, total in samples:
                if self.learn_functions and len(by_func.get(func, ())) < _MIN_SAMPLES:
                    continue  # a function seen too rarely to tell its cost from its node's speed
                by_node[node].append(total / func_f[func])
            node_f = defaultdict(
                lambda: 1.0, {n: statistics.median(v) for n, v in by_node.items() if len(v) >= _MIN_SAMPLES}
            )
        new_node = {n: f for n, f in node_f.items() if max(f, 1 / f) >= _SIGNIFICANT}
        new_func = {k: f for k, f in func_f.items() if max(f, 1 / f) >= _SIGNIFICANT}
        changed = _changed(self._node, new_node) or _changed(self._func, new_func)
        self._node, self._func = new_node, new_func
        return changed


def _changed(old: Mapping[str, float], new: Mapping[str, float]) -> bool:
    for key in set(old) | set(new):
        a, b = old.get(key, 1.0), new.get(key, 1.0)
        if max(a / b, b / a) >= 1.1:
            return True
    return False


def overdue_nodes(
    tasks: Iterable[PlannedTask], now: float, *, relative: float, absolute: float
) -> dict[str, float]:
    """Nodes behind the plan: node -> seconds its most overdue unfinished task is past its planned end,
    beyond the lag every node has (a late start of the whole run, e.g. workers warming up after the plan
    clock started, is no reason to move work between nodes), when that is more than ``absolute`` seconds
    and more than ``relative`` times the task's planned duration (both must hold: a long task a little
    late and a short task a lot late are both fine)."""
    worst: dict[str, tuple[float, float]] = {}  # node -> (lag, planned duration of that task)
    for t in tasks:
        a = t.assignment
        if a is None or t.done or t.opted_out:
            continue
        lag = max(0.0, now - a.end)
        if a.node not in worst or lag > worst[a.node][0]:
            worst[a.node] = (lag, a.end - a.start)
    if len(worst) < 2:
        return {}  # one node (or none) with work: nowhere to move it
    common = min(lag for lag, _ in worst.values())
    behind: dict[str, float] = {}
    for node, (lag, duration) in worst.items():
        extra = lag - common
        if extra > absolute and extra > relative * max(duration, 1e-9):
            behind[node] = extra
    return behind


def _calibrated(network: saga_graphs.Network, calibration: Calibration) -> saga_graphs.Network:
    if not any(calibration.node_factor(n) != 1.0 for n in network):
        return network
    spec = network.to_spec()
    for node in spec["nodes"]:
        node["speed"] = float(node.get("speed", 1.0)) / calibration.node_factor(str(node["name"]))
    return saga_graphs.Network.from_spec(spec)


def plan_round(
    *,
    batch: Sequence[PlannedTask],
    fixed: Sequence[PlannedTask],
    lookup: Callable[[int], PlannedTask | None],
    network: saga_graphs.Network,
    cost_model: saga_graphs.CostModel,
    calibration: Calibration,
    scheduler: str | Sequence[str],
    time_budget: float,
    now: float,
) -> RoundPlan:
    """Plan ``batch`` on ``network`` from ``now`` on, around ``fixed`` (see the module docstring).
    Raises saga_graphs' errors (an empty network, a scheduler failure)."""
    started = time.perf_counter()
    net = _calibrated(network, calibration)
    nodes = net.nodes

    def cost(t: PlannedTask) -> float:
        return resolve_cost(cost_model, t.hints, t.func_name, t.tid) * calibration.function_factor(
            t.func_name
        )

    graph = saga_graphs.TaskGraph()
    # The load the batch plans around: each fixed task where its plan put it (those plans were made
    # around each other, so they never overlap), on nodes and slots that still exist.
    # Only the fixed parents of batch tasks are needed one by one (their data and finish times); the
    # rest is occupancy, merged per slot into busy blocks from now on, so a round costs what its batch
    # costs and not what the backlog does.
    parents_needed = {pid for t in batch for pid in t.parents}
    placed: dict[str, saga_graphs.Placement] = {}
    busy: dict[tuple[str, int], list[tuple[float, float, bool]]] = defaultdict(list)
    for t in fixed:
        a = t.assignment
        if a is None or t.done or a.node not in nodes or a.slot >= nodes[a.node].slots:
            continue
        if t.tid in parents_needed:
            placed[t.name] = saga_graphs.Placement(t.name, a.node, a.slot, a.start, a.end)
            busy[(a.node, a.slot)].append((a.start, a.end, True))
        elif a.end > now or t.dispatched:  # a dispatched task past its planned end still holds its slot
            busy[(a.node, a.slot)].append((a.start, max(a.end, now), False))
    for (node, slot), intervals in busy.items():
        blocks: list[list[float]] = []  # merged occupancy; an individual placement breaks a block
        open_block = False
        for start, end, individual in sorted(intervals):
            if individual:
                open_block = False
            elif open_block and start <= blocks[-1][1] + 1e-9:
                blocks[-1][1] = max(blocks[-1][1], end)
            else:
                blocks.append([start, end])
                open_block = True
        for start, end in blocks:
            name = f"saga-dfk-busy:{node}:{slot}:{len(placed)}"
            placed[name] = saga_graphs.Placement(name, node, slot, start, end)

    unplanned_pins: list[int] = []
    pinned: dict[str, str] = {}
    planned: list[PlannedTask] = []
    for t in batch:
        if t.pin is not None and t.pin.node not in nodes:
            if t.pin.hard:
                unplanned_pins.append(t.tid)  # its node has no pool now: the executor's affinity decides
                continue
        elif t.pin is not None:
            pinned[t.name] = t.pin.node
        graph.add_task(t.name, cost(t))
        planned.append(t)
    # dependencies: batch tasks on batch, fixed or opted-out parents (finished parents' data is there)
    for t in planned:
        for pid in t.parents:
            parent = lookup(pid)
            if parent is None or parent.done:
                continue
            if parent.name not in graph.tasks:
                p = placed.get(parent.name)
                if p is not None:  # a fixed parent: in the graph with the duration its plan gave it
                    graph.add_task(parent.name, (p.end - p.start) * net.speed(p.node))
                elif parent.opted_out:  # stock placement: in the graph, placed nowhere
                    graph.add_task(parent.name, cost(parent))
                else:
                    continue  # a hard pin left out, or a parent gone elsewhere: nothing to wait for here
            size = resolve_output_size(cost_model, parent.hints, parent.func_name, parent.tid)
            graph.add_dependency(parent.name, t.name, size=size)
    if not planned:
        return RoundPlan({}, "", 0.0, {}, list(net), len(placed), 0.0, unplanned_pins)
    schedule = saga_graphs.plan(
        graph,
        net,
        scheduler,
        time_budget=time_budget,
        fixed=saga_graphs.Schedule(placed, "fixed") if placed else None,
        min_start_time=now,
        pinned=pinned or None,
    )
    placements = {t.tid: schedule.placements[t.name] for t in planned}
    seconds = time.perf_counter() - started
    log.debug(
        "round.planned %s",
        kv(
            tasks=len(planned),
            fixed=len(fixed),
            nodes=len(net),
            pinned=len(pinned),
            seconds=round(seconds, 4),
        ),
    )
    portfolio: dict[str, Any] = dict(schedule.portfolio)
    return RoundPlan(
        placements,
        schedule.scheduler,
        float(schedule.makespan),
        portfolio,
        list(net),
        len(placed),
        seconds,
        unplanned_pins,
    )

"""Task graphs and networks with units, validated before anything reaches SAGA.

Units: a task's cost is seconds on a reference core of speed 1; a dependency's size is bytes; a node's
speed is relative to the reference core; a link's bandwidth is bytes per second. Transfers between two
tasks on the same node are free (the data never leaves the machine).

Both classes are built incrementally (``add_*``) and validated lazily by :meth:`validate` (which
:func:`saga_graphs.plan` calls): per-item checks (names, numbers, endpoints) happen at insertion, so the
error points at the offending call; whole-graph checks (cycles, connectivity) need the whole graph.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from saga_graphs._log import kv
from saga_graphs._spec import NetworkSpec, check_spec
from saga_graphs.errors import (
    CycleError,
    DisconnectedNetworkError,
    DuplicateNameError,
    EmptyNetworkError,
    GraphValidationError,
    InvalidBandwidthError,
    InvalidCostError,
    InvalidSizeError,
    InvalidSpeedError,
    ReservedNameError,
    UnknownNodeError,
    UnknownTaskError,
)

__all__ = ["Network", "Node", "TaskGraph", "to_name"]

log = logging.getLogger(__name__)


def to_name(value: Hashable) -> str:
    """Convert a task or node id to the string name saga_graphs uses.

    Why: SAGA (and JSON) only know string names, while networkx graphs often use ints or tuples.
    ``str(value)`` is predictable (``7 -> "7"``, ``("a", 1) -> "('a', 1)"``); two different ids that
    print the same are caught as duplicates instead of silently merged.
    """
    name = value if isinstance(value, str) else str(value)
    if name == "":
        raise GraphValidationError("a name must not be empty; got ''")
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        raise ReservedNameError(
            f"name {name!r} is reserved: names of the form '__x__' are used internally by SAGA "
            "('__super_source__', '__super_sink__') and saga_graphs"
        )
    return name


def _number(value: Any, what: str, error: type[GraphValidationError]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if isinstance(value, np.integer | np.floating):
                return float(value)
        except ImportError:  # pragma: no cover - numpy is a dependency of networkx users only
            pass
        raise error(f"{what} must be a number; got {value!r} of type {type(value).__name__}")
    return float(value)


def _check_cost(task: str, cost: Any) -> float:
    c = _number(cost, f"cost of task {task!r}", InvalidCostError)
    if not math.isfinite(c) or c < 0:
        raise InvalidCostError(
            f"cost of task {task!r} must be a finite number >= 0 (seconds on a speed-1 core); got {c!r}"
        )
    return c


def _check_size(parent: str, child: str, size: Any) -> float:
    s = _number(size, f"size of dependency {parent!r} -> {child!r}", InvalidSizeError)
    if not math.isfinite(s) or s < 0:
        raise InvalidSizeError(
            f"size of dependency {parent!r} -> {child!r} must be a finite number >= 0 (bytes); got {s!r}"
        )
    return s


def _check_slots(node: str, slots: Any) -> int:
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise InvalidSpeedError(f"slots of node {node!r} must be an integer >= 1; got {slots!r}")
    return slots


class TaskGraph:
    """A workflow DAG: task name -> cost (s on a speed-1 core); (parent, child) -> data size (bytes)."""

    def __init__(self) -> None:
        self._tasks: dict[str, float] = {}
        self._deps: dict[tuple[str, str], float] = {}
        self._parents: dict[str, list[str]] = {}
        self._children: dict[str, list[str]] = {}

    # -- building -------------------------------------------------------------------------------
    def add_task(self, name: Hashable, cost: float = 1.0) -> str:
        """Add a task; returns its string name. Duplicates raise :class:`DuplicateNameError`."""
        task = to_name(name)
        if task in self._tasks:
            raise DuplicateNameError(f"task {task!r} was already added")
        self._tasks[task] = _check_cost(task, cost)
        self._parents[task] = []
        self._children[task] = []
        return task

    def add_dependency(self, parent: Hashable, child: Hashable, size: float = 0.0) -> None:
        """Declare that ``child`` needs ``size`` bytes produced by ``parent`` (both must exist)."""
        p, c = to_name(parent), to_name(child)
        for t, role in ((p, "parent"), (c, "child")):
            if t not in self._tasks:
                raise UnknownTaskError(f"dependency {p!r} -> {c!r}: unknown {role} task {t!r}")
        if p == c:
            raise CycleError(f"task {p!r} cannot depend on itself")
        if (p, c) in self._deps:
            raise DuplicateNameError(f"dependency {p!r} -> {c!r} was already added")
        self._deps[(p, c)] = _check_size(p, c, size)
        self._children[p].append(c)
        self._parents[c].append(p)

    @classmethod
    def from_networkx(
        cls,
        graph: Any,
        cost_attr: str = "cost",
        size_attr: str = "size",
        default_cost: float | None = None,
    ) -> TaskGraph:
        """Build from a ``networkx.DiGraph``; node ids are converted with :func:`to_name`.

        A node without ``cost_attr`` gets ``default_cost`` or raises :class:`InvalidCostError`
        (silently assuming a cost hides mistakes in attribute names); an edge without ``size_attr``
        moves 0 bytes.
        """
        if not getattr(graph, "is_directed", lambda: False)():
            raise GraphValidationError(f"a task graph must be a directed graph; got {type(graph).__name__}")
        tg = cls()
        for node, data in graph.nodes(data=True):
            if cost_attr not in data and default_cost is None:
                raise InvalidCostError(
                    f"task {to_name(node)!r} has no {cost_attr!r} attribute and no default_cost was given"
                )
            tg.add_task(node, data.get(cost_attr, default_cost))
        for u, v, data in graph.edges(data=True):
            tg.add_dependency(u, v, data.get(size_attr, 0.0))
        return tg

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph`` with ``cost`` on nodes and ``size`` on edges."""
        import networkx as nx

        g = nx.DiGraph()
        for t, cost in self._tasks.items():
            g.add_node(t, cost=cost)
        for (p, c), size in self._deps.items():
            g.add_edge(p, c, size=size)
        return g

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (floats kept exactly; ``from_dict`` inverts it)."""
        return {
            "tasks": [{"name": t, "cost": c} for t, c in self._tasks.items()],
            "dependencies": [{"source": p, "target": c, "size": s} for (p, c), s in self._deps.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskGraph:
        """Inverse of :meth:`to_dict`; malformed entries raise :class:`GraphValidationError`."""
        tg = cls()
        try:
            tasks = data["tasks"]
            deps = data.get("dependencies", [])
        except (KeyError, TypeError, AttributeError) as e:
            raise GraphValidationError(f"a task graph dict needs a 'tasks' list; got {data!r:.200}") from e
        for item in tasks:
            if not isinstance(item, Mapping) or "name" not in item:
                raise GraphValidationError(f"a task entry needs a 'name'; got {item!r}")
            tg.add_task(item["name"], item.get("cost", 1.0))
        for item in deps:
            if not isinstance(item, Mapping) or "source" not in item or "target" not in item:
                raise GraphValidationError(f"a dependency entry needs 'source' and 'target'; got {item!r}")
            tg.add_dependency(item["source"], item["target"], item.get("size", 0.0))
        return tg

    # -- reading --------------------------------------------------------------------------------
    @property
    def tasks(self) -> Mapping[str, float]:
        """Task name -> cost (read-only view)."""
        return MappingProxyType(self._tasks)

    @property
    def dependencies(self) -> Mapping[tuple[str, str], float]:
        """(parent, child) -> size in bytes (read-only view)."""
        return MappingProxyType(self._deps)

    def parents(self, task: Hashable) -> tuple[str, ...]:
        """Tasks whose output ``task`` needs."""
        return tuple(self._parents[self._known(task)])

    def children(self, task: Hashable) -> tuple[str, ...]:
        """Tasks that need the output of ``task``."""
        return tuple(self._children[self._known(task)])

    def _known(self, task: Hashable) -> str:
        t = task if isinstance(task, str) else str(task)
        if t not in self._tasks:
            raise UnknownTaskError(f"unknown task {t!r}")
        return t

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, task: object) -> bool:
        return task in self._tasks

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskGraph):
            return NotImplemented
        return self._tasks == other._tasks and self._deps == other._deps

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"TaskGraph(tasks={len(self._tasks)}, dependencies={len(self._deps)})"

    def topological_order(self) -> list[str]:
        """Tasks in a deterministic topological order (Kahn, ties by insertion order).

        Raises :class:`CycleError` naming one cycle: a cycle means the workflow can never finish.
        """
        indeg = {t: len(ps) for t, ps in self._parents.items()}
        ready = [t for t in self._tasks if indeg[t] == 0]
        order: list[str] = []
        i = 0
        while i < len(ready):
            t = ready[i]
            i += 1
            order.append(t)
            for c in self._children[t]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
        if len(order) != len(self._tasks):
            raise CycleError(f"task graph has a cycle: {' -> '.join(self._find_cycle(indeg))}")
        return order

    def _find_cycle(self, indeg: Mapping[str, int]) -> list[str]:
        # Every task left with indeg > 0 has a parent also left: walk parents until one repeats.
        start = next(t for t, d in indeg.items() if d > 0)
        seen: dict[str, int] = {}
        path: list[str] = []
        t = start
        while t not in seen:
            seen[t] = len(path)
            path.append(t)
            t = next(p for p in self._parents[t] if indeg[p] > 0)
        cycle = path[seen[t] :]
        cycle.reverse()
        return [*cycle, cycle[0]]

    def validate(self) -> None:
        """Whole-graph checks (per-item checks ran at insertion): no cycle."""
        self.topological_order()


@dataclass(frozen=True)
class Node:
    """A network node: ``slots`` tasks run concurrently, each at ``speed`` x the reference core."""

    name: str
    slots: int = 1
    speed: float = 1.0


class Network:
    """Nodes (slots, speed) and undirected links (bandwidth in bytes/s) between them.

    A pair without an explicit link uses ``default_bandwidth``; without one, the widest multi-hop
    route (its bottleneck bandwidth) stands in, and a pair without any route makes the network
    invalid (:class:`DisconnectedNetworkError`).
    """

    def __init__(self, default_bandwidth: float | None = None) -> None:
        if default_bandwidth is not None:
            default_bandwidth = self._check_bandwidth("default_bandwidth", default_bandwidth)
        self.default_bandwidth = default_bandwidth
        self._nodes: dict[str, Node] = {}
        self._links: dict[tuple[str, str], float] = {}
        self._resolved: dict[tuple[str, str], float] | None = None

    @staticmethod
    def _check_bandwidth(what: str, value: Any) -> float:
        b = _number(value, f"bandwidth of {what}", InvalidBandwidthError)
        if math.isnan(b) or b <= 0:
            raise InvalidBandwidthError(f"bandwidth of {what} must be > 0 bytes/s (inf = free); got {b!r}")
        return b

    # -- building -------------------------------------------------------------------------------
    def add_node(self, name: Hashable, slots: int = 1, speed: float = 1.0) -> str:
        """Add a node with ``slots`` concurrent worker slots of relative ``speed``; returns its name."""
        node = to_name(name)
        if node in self._nodes:
            raise DuplicateNameError(f"node {node!r} was already added")
        _check_slots(node, slots)
        s = _number(speed, f"speed of node {node!r}", InvalidSpeedError)
        if not math.isfinite(s) or s <= 0:
            raise InvalidSpeedError(f"speed of node {node!r} must be a finite number > 0; got {s!r}")
        self._nodes[node] = Node(node, slots, s)
        self._resolved = None
        return node

    def set_bandwidth(self, a: Hashable, b: Hashable, bytes_per_s: float) -> None:
        """Set the bandwidth of the undirected link a-b (replaces an earlier value)."""
        x, y = to_name(a), to_name(b)
        for n in (x, y):
            if n not in self._nodes:
                raise UnknownNodeError(f"link {x!r} - {y!r}: unknown node {n!r}; add it first")
        if x == y:
            raise InvalidBandwidthError(
                f"link {x!r} - {y!r}: a node's link to itself is always free and cannot be set"
            )
        key = (x, y) if x < y else (y, x)
        self._links[key] = self._check_bandwidth(f"link {x!r} - {y!r}", bytes_per_s)
        self._resolved = None

    @classmethod
    def from_spec(cls, spec: NetworkSpec | Mapping[str, Any]) -> Network:
        """Build from a network spec (schema: :class:`NetworkSpec`, README "Network spec").

        Extra keys of a node or link entry (``zone``...) are ignored; an unknown top-level key, a
        malformed entry or a bad value raises the error ``add_node`` / ``set_bandwidth`` would, with
        a message naming the entry.
        """
        check_spec(spec)
        where = "default_bandwidth"
        try:
            net = cls(default_bandwidth=spec.get("default_bandwidth"))
            for i, item in enumerate(spec["nodes"]):
                where = f"nodes[{i}]"
                net.add_node(item["name"], item.get("slots", 1), item.get("speed", 1.0))
            for i, item in enumerate(spec.get("links") or ()):
                where = f"links[{i}]"
                net.set_bandwidth(item["source"], item["target"], item["bandwidth"])
        except GraphValidationError as err:  # same type, and the entry's position in the message
            raise type(err)(f"network spec {where}: {err}") from None
        return net

    def to_spec(self) -> NetworkSpec:
        """The network spec (JSON-able; ``from_spec`` inverts it): every node with its slots and
        speed, the explicit links, and ``default_bandwidth`` when there is one."""
        spec: NetworkSpec = {
            "nodes": [{"name": n.name, "slots": n.slots, "speed": n.speed} for n in self._nodes.values()],
            "links": [{"source": a, "target": b, "bandwidth": bw} for (a, b), bw in self._links.items()],
        }
        if self.default_bandwidth is not None:
            spec["default_bandwidth"] = self.default_bandwidth
        return spec

    # -- deriving -------------------------------------------------------------------------------
    def _copy(self, nodes: Iterable[Node]) -> Network:
        out = type(self).__new__(type(self))
        out.default_bandwidth = self.default_bandwidth
        out._nodes = {n.name: n for n in nodes}
        out._links = {k: bw for k, bw in self._links.items() if k[0] in out._nodes and k[1] in out._nodes}
        out._resolved = None
        return out

    def restrict(self, nodes: Iterable[Hashable]) -> Network:
        """A new network of only the given nodes (e.g. the live ones) and the links between them.

        Names that are not in this network are ignored (a pool may be connected that the configured
        network does not know); the node order and ``default_bandwidth`` are kept. The result may be
        empty or, without a default bandwidth, disconnected: :meth:`validate` says so.
        """
        if isinstance(nodes, str):  # iterating it would keep single-letter nodes
            raise GraphValidationError(
                f"restrict() takes a collection of node names, not one string; got {nodes!r}"
            )
        keep = {to_name(n) for n in nodes}
        return self._copy(n for name, n in self._nodes.items() if name in keep)

    def with_slots(self, slots: Mapping[Hashable, int]) -> Network:
        """A new network in which the named nodes have the given slot counts (e.g. the worker
        slots their pools really have); other nodes, speeds and links are unchanged.

        An unknown node raises :class:`UnknownNodeError`, a count that is not an integer >= 1
        :class:`InvalidSpeedError`.
        """
        counts: dict[str, int] = {}
        for name, count in slots.items():
            node = to_name(name)
            if node not in self._nodes:
                raise UnknownNodeError(
                    f"cannot set the slots of unknown node {node!r}; known: {sorted(self._nodes)}"
                )
            counts[node] = _check_slots(node, count)
        return self._copy(
            Node(n.name, counts[name], n.speed) if name in counts else n for name, n in self._nodes.items()
        )

    @classmethod
    def from_networkx(
        cls,
        graph: Any,
        slots_attr: str = "slots",
        speed_attr: str = "speed",
        bandwidth_attr: str = "bandwidth",
        default_bandwidth: float | None = None,
    ) -> Network:
        """Build from an undirected ``networkx.Graph`` (missing slots/speed default to 1)."""
        net = cls(default_bandwidth=default_bandwidth)
        for node, data in graph.nodes(data=True):
            net.add_node(node, data.get(slots_attr, 1), data.get(speed_attr, 1.0))
        for u, v, data in graph.edges(data=True):
            if u == v:
                continue
            if bandwidth_attr not in data:
                raise InvalidBandwidthError(f"link {to_name(u)!r} - {to_name(v)!r} has no {bandwidth_attr!r}")
            net.set_bandwidth(u, v, data[bandwidth_attr])
        return net

    # -- reading --------------------------------------------------------------------------------
    @property
    def nodes(self) -> Mapping[str, Node]:
        """Node name -> :class:`Node` (read-only view)."""
        return MappingProxyType(self._nodes)

    @property
    def links(self) -> Mapping[tuple[str, str], float]:
        """Explicit links, keyed by the sorted name pair (read-only view)."""
        return MappingProxyType(self._links)

    @property
    def total_slots(self) -> int:
        return sum(n.slots for n in self._nodes.values())

    def speed(self, node: Hashable) -> float:
        """The speed of ``node`` (a dict lookup); an unknown node raises :class:`UnknownNodeError`."""
        found = self._nodes.get(node if isinstance(node, str) else str(node))
        if found is None:
            raise UnknownNodeError(f"unknown node {node!r}; known: {sorted(self._nodes)}")
        return found.speed

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return (
            self._nodes == other._nodes
            and self._links == other._links
            and self.default_bandwidth == other.default_bandwidth
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Network(nodes={len(self._nodes)}, slots={self.total_slots}, links={len(self._links)})"

    def bandwidth(self, a: str, b: str) -> float:
        """Effective bandwidth a-b in bytes/s (``inf`` for the same node)."""
        for n in (a, b):
            if n not in self._nodes:
                raise UnknownNodeError(f"unknown node {n!r}; known: {sorted(self._nodes)}")
        if a == b:
            return math.inf
        return self._resolve()[(a, b) if a < b else (b, a)]

    def validate(self) -> None:
        """Whole-network checks: at least one node; every node pair reachable."""
        self._resolve()

    def _resolve(self) -> dict[tuple[str, str], float]:
        if self._resolved is not None:
            return self._resolved
        if not self._nodes:
            raise EmptyNetworkError("the network has no nodes; add at least one with add_node()")
        names = sorted(self._nodes)
        resolved: dict[tuple[str, str], float] = {}
        missing: list[tuple[str, str]] = []
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                bw = self._links.get((a, b), self.default_bandwidth)
                if bw is None:
                    missing.append((a, b))
                else:
                    resolved[(a, b)] = bw
        if missing:
            self._widest_paths(names, resolved, missing)
        self._resolved = resolved
        return resolved

    def _widest_paths(
        self, names: list[str], resolved: dict[tuple[str, str], float], missing: Iterable[tuple[str, str]]
    ) -> None:
        # Floyd-Warshall on (max, min): the best multi-hop route's bottleneck bandwidth.
        idx = {n: i for i, n in enumerate(names)}
        n = len(names)
        w = [[0.0] * n for _ in range(n)]
        for (a, b), bw in self._links.items():
            w[idx[a]][idx[b]] = w[idx[b]][idx[a]] = bw
        for k in range(n):
            wk = w[k]
            for i in range(n):
                wik = w[i][k]
                if wik <= 0:
                    continue
                wi = w[i]
                for j in range(n):
                    m = wik if wik < wk[j] else wk[j]
                    if m > wi[j]:
                        wi[j] = m
        unreachable = []
        for a, b in missing:
            bw = w[idx[a]][idx[b]]
            if bw <= 0:
                unreachable.append((a, b))
            else:
                resolved[(a, b)] = bw
                log.debug("network.multihop_bandwidth %s", kv(source=a, target=b, bandwidth=bw))
        if unreachable:
            shown = ", ".join(f"{a!r} - {b!r}" for a, b in unreachable[:5])
            more = f" (and {len(unreachable) - 5} more)" if len(unreachable) > 5 else ""
            raise DisconnectedNetworkError(
                f"no link or route between {shown}{more}; add links or a default_bandwidth"
            )

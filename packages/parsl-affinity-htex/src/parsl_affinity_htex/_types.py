"""Small value types exchanged with users of the executor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["AffinityStats", "ConnectedNode", "ExpectedNodes", "InputFetch", "NodeChange", "RunRecord"]


@dataclass(frozen=True)
class InputFetch:
    """How one argument of a task came from a node store (the data plane), measured on the worker.

    ``store``: the ProxyStore name of the node store that held it (``parsl-affinity-htex-node:<node>@<addr>``);
    ``key``: the result's key there (the producer's ``RunRecord.output_key``); ``nbytes``: bytes fetched;
    ``seconds``: how long the fetch took; ``local``: it came from the task's own node's store.
    """

    store: str
    key: str
    nbytes: int
    seconds: float
    local: bool


@dataclass(frozen=True)
class RunRecord:
    """Where and when a task really ran, measured on the worker.

    The project's one record of a run: executor futures carry it (``AffinityFuture.run_record``, times in
    wall-clock epoch seconds), saga-dfk's run reports keep it per task (moved onto their plan clock with
    :meth:`relative_to`) and saga_graphs' Gantt charts and ``span()`` read it (it has the ``node``,
    ``start`` and ``end`` of their ``TaskRun`` protocol). ``hostname`` differs from ``node`` when several
    node-labelled pools share one machine (the local virtual cluster) or when pods are named after nodes.

    ``output_bytes``: the size of the task's return value as Parsl's serializer encoded it for the trip back
    (``len(parsl.serialize.serialize(value))``), measured on the worker, which serializes it anyway -- so a
    planner's cost model can learn output sizes without the driver re-pickling every result on its own CPU.
    None when it could not be measured (a value Parsl cannot serialize; a record made elsewhere).

    With a data plane (``DataPlane``): ``output_store`` / ``output_key`` name the node store and key that
    keep the result (None: it went back through the driver, as in plain HTEx) and ``inputs`` says how each
    argument that was a stored result came to this task.
    """

    node: str
    hostname: str
    start: float
    end: float
    output_bytes: int | None = None
    output_store: str | None = None
    output_key: str | None = None
    inputs: tuple[InputFetch, ...] = ()

    @property
    def duration(self) -> float:
        """Seconds the task body took on the worker."""
        return self.end - self.start

    def relative_to(self, origin: float) -> RunRecord:
        """The same run on a clock whose zero is ``origin`` (e.g. a planner's first round)."""
        return replace(self, start=self.start - origin, end=self.end - origin)


def _check_names(value: object, what: str) -> frozenset[str]:
    """``value`` (a collection of node names) as a frozenset, or TypeError/ValueError naming the bad part."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(
            f"{what} must be a collection of node names (e.g. frozenset({{'node-a'}})), "
            f"got {type(value).__name__} {value!r}"
        )
    names = frozenset(value)
    for name in sorted(names, key=repr):
        if not isinstance(name, str):
            raise TypeError(f"{what}: node names must be strings, got {type(name).__name__} {name!r}")
        if not name or name.strip() != name:
            # A pool registers under a stripped, non-empty name (worker_pool.resolve_node_name), so such a
            # name could never connect and a planner waiting for it would wait forever.
            raise ValueError(
                f"{what}: node names must be non-empty without surrounding whitespace, got {name!r}"
            )
    return names


@dataclass(frozen=True)
class ExpectedNodes:
    """The nodes an executor expects to connect once its provider's blocks are up.

    A planner that must see the whole cluster before its first plan waits until :meth:`is_met_by` says so.
    ``names``: the nodes known by name. ``count``: how many distinct nodes are expected in total, at least
    ``len(names)``; more when some are expected but not named (a batch provider's N blocks land on nodes the
    batch system picks when the jobs run). ``count == 0``: nothing is expected up front (blocks only on demand).
    ``names`` may be given as any collection of strings; it is kept as a frozenset.
    """

    names: frozenset[str]
    count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", _check_names(self.names, "ExpectedNodes.names"))
        count = self.count
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(
                f"ExpectedNodes.count must be an int (distinct nodes expected), got {type(count).__name__} {count!r}"
            )
        if count < len(self.names):
            raise ValueError(
                f"ExpectedNodes.count = {count!r} is less than the {len(self.names)} named node(s) "
                f"{sorted(self.names)}; count includes the named nodes"
            )

    @property
    def unnamed(self) -> int:
        """How many of the expected nodes are not known by name."""
        return self.count - len(self.names)

    def is_met_by(self, connected: Iterable[str]) -> bool:
        """Whether ``connected`` (e.g. ``executor.connected_nodes()``) has every named node and ``count`` in all."""
        present = set(connected)
        return self.names <= present and len(present) >= self.count


@dataclass(frozen=True)
class ConnectedNode:
    """A node with at least one live worker pool: registered, active, accepted and with more than 0 workers.

    A draining pool keeps its node connected until its last task is done. ``stores``: the ``host:port`` of
    the node stores its pools advertised at registration (the data plane; empty without one).
    """

    name: str
    slots: int
    pools: int
    stores: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeChange:
    """A node gained its first live pool (``joined``) or lost its last one (``lost``).

    ``node`` is the ``ConnectedNode`` as last seen (for ``lost``: before it disappeared).
    """

    kind: Literal["joined", "lost"]
    node: ConnectedNode


@dataclass(frozen=True)
class AffinityStats:
    """What the affinity policy did since the interchange started, and the pools that cannot take work.

    ``stolen``: soft tasks run by an idle worker elsewhere after waiting the grace period on a busy node;
    ``fell_back``: soft tasks released to any node because theirs was missing for the grace period;
    ``failed_hard``: hard tasks failed with NodeUnavailable; ``requeued``: tasks re-queued after losing their
    pool; ``zero_worker_pools`` / ``rejected_pools``: ``"<manager>@<node>"`` of pools registered with 0 workers
    and of pools refused by ``allowed_nodes`` (with the reason); ``bytes_from_pools`` / ``bytes_to_pools``:
    bytes the interchange received from and sent to worker pools (results and tasks, heartbeats included):
    what crossed the driver's side.
    """

    stolen: int
    fell_back: int
    failed_hard: int
    requeued: int
    queued_tagged: int
    zero_worker_pools: tuple[str, ...]
    rejected_pools: tuple[str, ...]
    bytes_from_pools: int = 0
    bytes_to_pools: int = 0

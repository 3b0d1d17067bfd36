"""Small value types exchanged with users of the executor."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["AffinityStats", "ConnectedNode", "NodeChange", "RunRecord"]


@dataclass(frozen=True)
class RunRecord:
    """Where and when a task really ran, measured on the worker.

    The project's one record of a run: executor futures carry it (``AffinityFuture.run_record``, times in
    wall-clock epoch seconds), saga-dfk's run reports keep it per task (moved onto their plan clock with
    :meth:`relative_to`) and saga_graphs' Gantt charts and ``span()`` read it (it has the ``node``,
    ``start`` and ``end`` of their ``TaskRun`` protocol). ``hostname`` differs from ``node`` when several
    node-labelled pools share one machine (the local virtual cluster) or when pods are named after nodes.
    """

    node: str
    hostname: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Seconds the task body took on the worker."""
        return self.end - self.start

    def relative_to(self, origin: float) -> RunRecord:
        """The same run on a clock whose zero is ``origin`` (e.g. a planner's first round)."""
        return replace(self, start=self.start - origin, end=self.end - origin)


@dataclass(frozen=True)
class ConnectedNode:
    """A node with at least one live worker pool: registered, active, accepted and with more than 0 workers.

    A draining pool keeps its node connected until its last task is done.
    """

    name: str
    slots: int
    pools: int


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
    and of pools refused by ``allowed_nodes`` (with the reason).
    """

    stolen: int
    fell_back: int
    failed_hard: int
    requeued: int
    queued_tagged: int
    zero_worker_pools: tuple[str, ...]
    rejected_pools: tuple[str, ...]

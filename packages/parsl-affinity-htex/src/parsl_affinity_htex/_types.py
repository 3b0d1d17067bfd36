"""Small value types exchanged with users of the executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ConnectedNode", "NodeChange", "RunRecord"]


@dataclass(frozen=True)
class RunRecord:
    """Where and when a task really ran, measured on the worker (wall-clock epoch seconds).

    Planners compare these with their predicted placements; ``hostname`` differs from ``node`` when several
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


@dataclass(frozen=True)
class ConnectedNode:
    """A node with at least one live (registered, active, not draining) worker pool."""

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

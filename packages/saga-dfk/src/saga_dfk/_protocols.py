"""What saga-dfk needs from an executor, written down as Protocols.

``parsl_affinity_htex.AffinityHighThroughputExecutor`` satisfies all of them without importing saga-dfk
(structural typing); another executor can join by growing the same methods. The kernel checks each
capability separately, so an executor that only reports connected nodes is still plannable, just
without join/loss events or a start-up wait for the whole cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

__all__ = [
    "AnnouncesExpectedNodes",
    "ExpectedNodesLike",
    "NodeChangeLike",
    "NodeLike",
    "ReportsConnectedNodes",
    "ReportsNodeChanges",
    "RunRecordLike",
]


class NodeLike(Protocol):
    """A node with live worker pools (``parsl_affinity_htex.ConnectedNode``)."""

    @property
    def name(self) -> str: ...

    @property
    def slots(self) -> int: ...


class NodeChangeLike(Protocol):
    """A node gained its first live pool (``kind == "joined"``) or lost its last (``"lost"``)."""

    @property
    def kind(self) -> str: ...

    @property
    def node(self) -> NodeLike: ...


class ExpectedNodesLike(Protocol):
    """The nodes an executor expects to have: ``names`` it knows, ``count`` in total (>= len(names))."""

    @property
    def names(self) -> frozenset[str]: ...

    @property
    def count(self) -> int: ...


class RunRecordLike(Protocol):
    """Where and when a task ran (``parsl_affinity_htex.RunRecord``), carried by the executor's future as
    ``run_record``."""

    @property
    def node(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


@runtime_checkable
class ReportsConnectedNodes(Protocol):
    """The one capability a planned executor must have: the nodes it can run tasks on now."""

    def connected_nodes(self) -> Mapping[str, NodeLike]: ...


@runtime_checkable
class ReportsNodeChanges(Protocol):
    """Calls ``callback(change)`` whenever a node joins or is lost (from the executor's own thread)."""

    def add_node_listener(self, callback: Callable[[NodeChangeLike], object]) -> None: ...


@runtime_checkable
class AnnouncesExpectedNodes(Protocol):
    """Says which nodes will come, so the first round can wait for the whole cluster."""

    def expected_nodes(self) -> ExpectedNodesLike: ...

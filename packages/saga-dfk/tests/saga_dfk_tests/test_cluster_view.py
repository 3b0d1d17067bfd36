"""ClusterView with a static network spec: a node the executor says has no live pool is not planned on.

The executor here is a stand-in object with the two methods ClusterView calls (``connected_nodes`` and
``add_node_listener``); the real executor's events are exercised on real pools in test_node_loss and in
the multi-host tier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parsl_affinity_htex import ConnectedNode, NodeChange
from saga_dfk._network_source import ClusterView

SPEC = {
    "nodes": [{"name": n, "slots": 2} for n in ("node-a", "node-b", "node-c")],
    "default_bandwidth": 1e8,
}


@dataclass
class Pools:
    live: dict[str, int]
    listener: Callable[[NodeChange], None] | None = None

    def connected_nodes(self) -> dict[str, ConnectedNode]:
        return {n: ConnectedNode(name=n, slots=s, pools=1) for n, s in self.live.items()}

    def add_node_listener(self, callback: Callable[[NodeChange], None]) -> None:
        self.listener = callback

    def change(self, kind: Any, node: str) -> None:
        assert self.listener is not None
        self.listener(NodeChange(kind, ConnectedNode(name=node, slots=2, pools=1)))


def view(pools: Pools) -> ClusterView:
    cluster = ClusterView(pools, network_spec=SPEC, topology=None, source=None, default_bandwidth=1e8)
    cluster.start(lambda event: None)
    cluster.refresh()
    return cluster


def test_a_static_spec_is_planned_as_given_while_every_node_has_a_pool() -> None:
    assert sorted(view(Pools({"node-a": 2, "node-b": 2, "node-c": 2})).network()) == [
        "node-a",
        "node-b",
        "node-c",
    ]


def test_a_node_the_executor_lost_is_left_out_until_it_joins_again() -> None:
    pools = Pools({"node-a": 2, "node-b": 2, "node-c": 2})
    cluster = view(pools)
    del pools.live["node-b"]
    pools.change("lost", "node-b")
    assert sorted(cluster.network()) == ["node-a", "node-c"]
    pools.live["node-b"] = 2
    pools.change("joined", "node-b")
    assert sorted(cluster.network()) == ["node-a", "node-b", "node-c"]


def test_a_node_a_task_failed_on_for_want_of_a_pool_is_left_out_until_a_pool_is_seen() -> None:
    pools = Pools({"node-a": 2, "node-b": 2, "node-c": 2})
    cluster = view(pools)
    cluster.mark_gone("node-c")  # NodeUnavailable, before the executor's own loss event
    assert sorted(cluster.network()) == ["node-a", "node-b"] and not cluster.is_live("node-c")
    del pools.live["node-c"]
    cluster.refresh()
    assert "node-c" not in cluster.network()
    pools.live["node-c"] = 2
    cluster.refresh()  # a pool there again
    assert sorted(cluster.network()) == ["node-a", "node-b", "node-c"] and cluster.is_live("node-c")

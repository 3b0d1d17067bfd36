"""Network sources: what tells the kernel, besides its executor, that nodes joined, were lost or changed.

A network source only *reports*: it calls its subscribers with :class:`NetworkEvent` s and plans nothing.
``SagaDataFlowKernel`` subscribes when it starts (``SagaConfig(network_source=...)``), starts the source
and stops it in ``cleanup()``; a ``lost`` event starts exactly the re-plan that a worker pool leaving
starts (tasks planned on that node and not yet dispatched move to the remaining nodes; tasks already
running there keep running), ``joined`` makes the node plannable again, ``changed`` only means later
rounds see the new figures.

:class:`KubernetesNetworkSource` is the Kubernetes one: k8s-topology's node watch, where a node counts as
lost for planning when it is deleted, cordoned, NotReady or newly tainted (its pods may still run), and
whose live topology (nodes and bandwidths) is the one the kernel plans on.

:class:`ClusterView` is what the kernel plans on: the executor's live nodes (or a static network spec),
the topology's bandwidths, the source's verdicts, and the nodes the executor says will come.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import saga_graphs

from ._log import kv
from ._protocols import AnnouncesExpectedNodes, ReportsConnectedNodes, ReportsNodeChanges

if TYPE_CHECKING:
    from kubernetes import client

    from k8s_topology import NodeEvent, NodeFilter, NodeWatcher, Topology

__all__ = ["ClusterView", "KubernetesNetworkSource", "NetworkEvent", "NetworkListener", "NetworkSource"]

log = logging.getLogger(__name__)

NetworkEventKind = Literal["joined", "lost", "changed"]


@dataclass(frozen=True)
class NetworkEvent:
    """A node became plannable (``joined``), stopped being plannable (``lost``) or changed its figures
    (``changed``). ``node`` is the node name, ``reason`` says why in words (e.g. ``"cordoned
    (spec.unschedulable=true)"``), ``source`` names the source (``"kubernetes"``)."""

    kind: NetworkEventKind
    node: str
    reason: str = ""
    source: str = ""


NetworkListener = Callable[[NetworkEvent], object]


@runtime_checkable
class NetworkSource(Protocol):
    """What the kernel needs of a network source. ``start()`` begins reporting to the subscribers;
    ``stop()`` ends it (idempotent). A source that also has ``to_network_spec()`` is planned on as the
    topology when ``SagaConfig(topology=...)`` is not given."""

    def subscribe(self, listener: NetworkListener) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class KubernetesNetworkSource:
    """The Kubernetes nodes as a network source: a k8s-topology ``NodeWatcher`` turned into NetworkEvents.

    ``topology``: the Topology of an earlier ``k8s_topology.discover()`` to start from; without it, the
    nodes are discovered here (same ``node_filter``, ``allow_empty=True``). Either way the watch reports
    only what changed since. ``topology`` (the attribute) and ``to_network_spec()`` give the current
    usable nodes and their bandwidths. Credentials as in k8s-topology (``api_client``, ``kubeconfig``,
    ``context``); ``watch_options`` go to ``k8s_topology.NodeWatch`` (timeouts, backoff).
    """

    def __init__(
        self,
        api_client: client.ApiClient | None = None,
        *,
        node_filter: NodeFilter | None = None,
        topology: Topology | None = None,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        **watch_options: Any,
    ) -> None:
        import k8s_topology  # here, not at module import: saga_dfk stays importable without it

        self._api = k8s_topology.make_api_client(api_client, kubeconfig=kubeconfig, context=context)
        self.node_filter = node_filter if node_filter is not None else k8s_topology.NodeFilter()
        if topology is None:
            topology = k8s_topology.discover(self._api, node_filter=self.node_filter, allow_empty=True)
        self._initial = topology
        self._listeners: list[NetworkListener] = []
        self._lock = threading.Lock()
        self._watch_options = dict(watch_options)
        self._watcher: NodeWatcher | None = None
        self.error: BaseException | None = None

    # -- the source protocol -------------------------------------------------------------------------
    def subscribe(self, listener: NetworkListener) -> None:
        """Call ``listener(NetworkEvent)`` for every change (from the watch thread; exceptions are logged)."""
        if not callable(listener):
            raise TypeError(f"network listener must be callable, got {listener!r}")
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> None:
        """Start watching (once; later calls do nothing)."""
        import k8s_topology

        with self._lock:
            if self._watcher is not None:
                return
            self._watcher = k8s_topology.NodeWatcher(
                self._on_node_event,
                self._api,
                on_error=self._on_error,
                node_filter=self.node_filter,
                known=self._initial,
                **self._watch_options,
            ).start()
        log.info("network_source.started %s", kv(source="kubernetes", nodes=self._initial.names))

    def stop(self) -> None:
        """Stop watching (idempotent; safe from any thread)."""
        with self._lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.stop()

    @property
    def running(self) -> bool:
        return self._watcher is not None and self._watcher.running

    # -- the live topology ---------------------------------------------------------------------------
    @property
    def topology(self) -> Topology:
        """The usable nodes now (the starting topology until the watch has seen a change)."""
        watcher = self._watcher
        return watcher.topology if watcher is not None else self._initial

    @property
    def names(self) -> list[str]:
        return self.topology.names

    def to_network_spec(self, **options: Any) -> dict[str, Any]:
        """The current topology's network spec (``Topology.to_network_spec``); per-node overrides for
        nodes that are no longer usable are dropped instead of failing."""
        topology = self.topology  # one snapshot: names and spec agree
        names = set(topology.names)
        for key in ("slots", "speeds"):
            value = options.get(key)
            if isinstance(value, Mapping):
                options[key] = {n: v for n, v in value.items() if n in names}
        spec: dict[str, Any] = topology.to_network_spec(**options)
        return spec

    # -- internals -----------------------------------------------------------------------------------
    def _on_node_event(self, event: NodeEvent) -> None:
        converted = NetworkEvent(event.kind, event.node.name, event.reason, source="kubernetes")
        log.info(
            "network_source.event %s", kv(kind=converted.kind, node=converted.node, reason=converted.reason)
        )
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(converted)
            except Exception:
                log.exception(
                    "network_source.listener_failed %s", kv(kind=converted.kind, node=converted.node)
                )

    def _on_error(self, exc: BaseException) -> None:
        # 401/403: retrying cannot fix it. Planning goes on with the executor's view of the nodes.
        self.error = exc
        log.error("network_source.failed %s", kv(source="kubernetes", error=str(exc)))


class ClusterView:
    """The cluster as the planner sees it, from up to three parts: the executor (live nodes with their
    slots, join/loss events, the nodes it expects), a topology (``SagaConfig(topology=...)``, bandwidths
    and speeds, restricted to nodes with live pools) or a static network spec (``SagaConfig(network=...)``,
    planned on as given), and a network source (nodes the cluster itself took away: cordoned, NotReady).

    It reports and answers; it plans nothing. ``listener`` gets every :class:`NetworkEvent` (executor
    changes are converted), from the reporting part's thread.
    """

    def __init__(
        self,
        executor: object,
        *,
        network_spec: Mapping[str, Any] | None,
        topology: Any,
        source: NetworkSource | None,
        default_bandwidth: float,
    ) -> None:
        self._executor = executor
        self._spec = network_spec
        self._topology = topology
        self._source = source
        self._default_bandwidth = default_bandwidth
        self._lock = threading.Lock()
        self._live: dict[str, int] = {}  # node -> slots, as last seen (executor events and polls)
        self._source_lost: set[str] = set()
        # nodes the executor said have no live pool (lost, or a task failed for want of one), until it sees
        # a pool there again: a static spec is planned without them
        self._gone: set[str] = set()
        self._listener: NetworkListener | None = None

    def set_spec(self, spec: Mapping[str, Any]) -> None:
        """Plan on this static network spec from now on (it replaces the configured one)."""
        with self._lock:
            self._spec = spec

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self, listener: NetworkListener) -> None:
        self._listener = listener
        if isinstance(self._executor, ReportsNodeChanges):
            self._executor.add_node_listener(self._on_executor_change)
        if self._source is not None:
            self._source.subscribe(self._on_source_event)
            self._source.start()

    def stop(self) -> None:
        if self._source is not None:
            self._source.stop()

    # -- what is there -------------------------------------------------------------------------------
    @property
    def reports_nodes(self) -> bool:
        """True when the executor says which nodes have live pools (else the static spec is all there is)."""
        return isinstance(self._executor, ReportsConnectedNodes)

    def refresh(self) -> dict[str, int]:
        """Ask the executor for its live nodes now (a round trip to the interchange): node -> slots,
        without nodes the network source took away."""
        if not isinstance(self._executor, ReportsConnectedNodes):
            return self.live()
        try:
            nodes = {name: int(node.slots) for name, node in self._executor.connected_nodes().items()}
        except Exception as exc:  # an interchange that is gone has no nodes
            log.debug("cluster.refresh_failed %s", kv(error=repr(exc)))
            nodes = {}
        with self._lock:
            self._live = nodes
            self._gone -= {n for n, slots in nodes.items() if slots > 0}
        return self.live()

    def mark_gone(self, node: str) -> None:
        """The executor failed a task because ``node`` had no live pool: plan without it until a pool is seen
        there again (the executor's own loss event may come later)."""
        with self._lock:
            if self._live.get(node, 0) > 0:
                self._live.pop(node, None)
            self._gone.add(node)

    def live(self) -> dict[str, int]:
        """The live nodes as last seen (no round trip): node -> slots."""
        with self._lock:
            return {n: s for n, s in self._live.items() if n not in self._source_lost and s > 0}

    def is_live(self, node: str) -> bool:
        if not self.reports_nodes:
            return True
        with self._lock:
            return self._live.get(node, 0) > 0 and node not in self._source_lost

    def source_lost(self, node: str) -> bool:
        """True while the network source says the node is not plannable (cordoned, NotReady, deleted)."""
        with self._lock:
            return node in self._source_lost

    def expected(self) -> tuple[frozenset[str], int]:
        """The nodes that will come: names known in advance and how many in total."""
        names: set[str] = set()
        count = 0
        if isinstance(self._executor, AnnouncesExpectedNodes):
            try:
                exp = self._executor.expected_nodes()
                names |= set(exp.names)
                count = int(exp.count)
            except Exception as exc:
                log.debug("cluster.expected_failed %s", kv(error=repr(exc)))
        topo_names = self._topology_names()
        if topo_names and not names:
            names |= topo_names
        with self._lock:
            names -= self._source_lost
        return frozenset(names), max(count, len(names))

    def known_names(self) -> frozenset[str]:
        """Every node name this cluster has or will have (for checking a caller's pin)."""
        names = set(self.expected()[0]) | set(self.live()) | self._topology_names()
        if self._spec is not None:
            names |= {str(n["name"]) for n in self._spec.get("nodes", ()) if isinstance(n, Mapping)}
        return frozenset(names)

    def missing(self, min_nodes: int | None) -> list[str] | None:
        """What the first round still waits for: the expected nodes without a live pool (``["2 more
        nodes"]`` for unnamed ones), or None when there is enough (``min_nodes`` live nodes when given,
        else every expected node)."""
        live = self.live()
        if min_nodes is not None:
            return None if len(live) >= min_nodes else [f"{min_nodes - len(live)} more node(s)"]
        names, count = self.expected()
        missing = sorted(names - set(live))
        unnamed = count - len(names) - len(set(live) - names)
        if unnamed > 0:
            missing.append(f"{unnamed} more node(s)")
        if not live:
            missing = missing or ["a first node"]
        return missing or None

    def network(self) -> saga_graphs.Network:
        """The network to plan on now: only live nodes (a static spec is taken as given, minus the nodes
        the network source took away), with the slots their pools really have."""
        if self._spec is not None:
            network = saga_graphs.Network.from_spec(self._spec)
            with self._lock:
                lost = self._source_lost | self._gone
            return network.restrict(n for n in network if n not in lost)
        live = self.live()
        spec = self._topology_spec()
        if spec is not None:
            network = saga_graphs.Network.from_spec(spec)
            if not self.reports_nodes:  # nothing says which nodes have pools: the topology as given
                with self._lock:
                    lost = set(self._source_lost)
                return network.restrict(n for n in network if n not in lost)
            return network.restrict(live).with_slots({n: s for n, s in live.items() if n in network})
        network = saga_graphs.Network(default_bandwidth=self._default_bandwidth)
        for name, slots in sorted(live.items()):
            network.add_node(name, slots=slots)
        return network

    # -- internals -----------------------------------------------------------------------------------
    def _topology_spec(self) -> Mapping[str, Any] | None:
        if self._topology is None:
            return None
        spec: Mapping[str, Any] = self._topology.to_network_spec()
        return spec

    def _topology_names(self) -> set[str]:
        spec = self._topology_spec() if self._topology is not None else None
        if spec is None:
            return set()
        return {str(n["name"]) for n in spec.get("nodes", ()) if isinstance(n, Mapping)}

    def _emit(self, event: NetworkEvent) -> None:
        if self._listener is not None:
            self._listener(event)

    def _on_executor_change(self, change: Any) -> None:
        kind, node = getattr(change, "kind", None), getattr(change, "node", None)
        name = getattr(node, "name", node)
        if not isinstance(name, str) or kind not in ("joined", "lost"):
            return
        with self._lock:
            if kind == "joined":
                self._live[name] = int(getattr(node, "slots", 1) or 1)
                self._gone.discard(name)
            else:
                self._live.pop(name, None)
                self._gone.add(name)
            if name in self._source_lost:
                return  # the cluster took the node away: a pool coming or going changes nothing
        self._emit(
            NetworkEvent(
                kind, name, "worker pool " + ("registered" if kind == "joined" else "lost"), "executor"
            )
        )

    def _on_source_event(self, event: NetworkEvent) -> None:
        if event.kind in ("joined", "lost"):
            with self._lock:
                (self._source_lost.discard if event.kind == "joined" else self._source_lost.add)(event.node)
        self._emit(event)

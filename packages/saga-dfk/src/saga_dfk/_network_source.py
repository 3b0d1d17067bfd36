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
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ._log import kv

if TYPE_CHECKING:
    from kubernetes import client

    from k8s_topology import NodeEvent, NodeFilter, NodeWatcher, Topology

__all__ = ["KubernetesNetworkSource", "NetworkEvent", "NetworkListener", "NetworkSource"]

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

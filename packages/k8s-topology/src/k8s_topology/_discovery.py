"""Discovery: which nodes of the cluster may run worker pools.

Only ``list_node`` is used, never pods: when SAGA plans, the worker pods do not exist yet (the seed's
"Graph with 0 nodes" / StopIteration came from building the network from pods).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from kubernetes import client

from k8s_topology._client import host_of, list_nodes_raw, make_api_client
from k8s_topology._errors import NoUsableNodes
from k8s_topology._nodes import KubeNode, LabelSelector, node_from_dict
from k8s_topology._topology import Topology

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NodeFilter:
    """Which nodes count. Defaults: Ready, schedulable, untainted (NoSchedule/NoExecute) worker nodes.

    ``static_reasons`` covers what a node *is* (name, labels, role); ``reasons`` adds what a node's state
    *is now* (Ready, cordon, taints). The watch uses the first to decide membership and the second to
    report state transitions.
    """

    label_selector: str | None = None
    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    include_control_plane: bool = False
    tolerations: tuple[Mapping[str, Any], ...] = ()
    _selector: LabelSelector | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.label_selector:
            object.__setattr__(self, "_selector", LabelSelector(self.label_selector))

    @classmethod
    def build(
        cls,
        *,
        label_selector: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        include_control_plane: bool = False,
        tolerations: Sequence[Mapping[str, Any]] | None = None,
    ) -> NodeFilter:
        return cls(
            label_selector=label_selector or None,
            include=frozenset(include) if include is not None else None,
            exclude=frozenset(exclude or ()),
            include_control_plane=include_control_plane,
            tolerations=tuple(tolerations or ()),
        )

    def effective_tolerations(self, node: KubeNode) -> tuple[Mapping[str, Any], ...]:
        if self.include_control_plane and node.control_plane:
            # Asking for control-plane nodes means accepting their role taints too.
            return (*self.tolerations, *({"key": k, "operator": "Exists"} for k in _CONTROL_PLANE_TAINTS))
        return self.tolerations

    def static_reasons(self, node: KubeNode) -> list[str]:
        reasons: list[str] = []
        if node.name in self.exclude:
            reasons.append("in the exclude list")
        if self.include is not None and node.name not in self.include:
            reasons.append("not in the include list")
        if self._selector is not None and not self._selector.matches(node.labels):
            reasons.append(f"does not match label selector {self.label_selector!r}")
        if node.control_plane and not self.include_control_plane:
            reasons.append("control-plane node (pass include_control_plane=True to use it)")
        return reasons

    def state_reasons(self, node: KubeNode) -> list[str]:
        reasons: list[str] = []
        if not node.ready:
            reasons.append(f"NotReady ({node.ready_reason})")
        if node.unschedulable:
            reasons.append("cordoned (spec.unschedulable=true)")
        blocking = node.blocking_taints(self.effective_tolerations(node))
        if blocking:
            reasons.append("tainted " + ", ".join(str(t) for t in blocking))
        if node.cpu <= 0:
            reasons.append("reports no allocatable CPU")
        return reasons

    def reasons(self, node: KubeNode) -> list[str]:
        return self.static_reasons(node) + self.state_reasons(node)


_CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def topology_from_nodes(nodes: Iterable[KubeNode], node_filter: NodeFilter) -> Topology:
    """Split parsed nodes into usable ones and excluded ones (with reasons)."""
    usable: list[KubeNode] = []
    excluded: dict[str, str] = {}
    seen: set[str] = set()
    for node in nodes:
        seen.add(node.name)
        reasons = node_filter.reasons(node)
        if reasons:
            excluded[node.name] = "; ".join(reasons)
        else:
            usable.append(node)
    for missing in sorted((node_filter.include or frozenset()) - seen - node_filter.exclude):
        excluded[missing] = "in the include list but not found in the cluster"
    return Topology(usable, excluded)


def discover(
    api_client: client.ApiClient | None = None,
    *,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    label_selector: str | None = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    include_control_plane: bool = False,
    tolerations: Sequence[Mapping[str, Any]] | None = None,
    allow_empty: bool = False,
    request_timeout: float = 30.0,
) -> Topology:
    """List the cluster's nodes and return the usable ones as a :class:`Topology`.

    By default a node is usable when it is Ready, not cordoned, has no NoSchedule/NoExecute taint (that
    ``tolerations``, in pod-spec form, do not tolerate) and is not a control-plane node.
    ``label_selector`` (sent to the API server and re-checked here), ``include`` and ``exclude`` (node
    names) narrow the set further. Credentials: ``api_client`` if given, else ``kubeconfig``/``context``,
    else ``$KUBECONFIG``/``~/.kube/config``, else the in-cluster service account.

    Raises :class:`NoUsableNodes` (listing every filtered node and why) unless ``allow_empty``;
    :class:`KubernetesForbidden` ("list nodes: forbidden ..."), :class:`KubernetesUnauthorized`,
    :class:`KubernetesUnreachable`, and :class:`InvalidQuantity` for a malformed allocatable quantity.
    """
    node_filter = NodeFilter.build(
        label_selector=label_selector,
        include=include,
        exclude=exclude,
        include_control_plane=include_control_plane,
        tolerations=tolerations,
    )
    api = make_api_client(api_client, kubeconfig=kubeconfig, context=context)
    items, _rv = list_nodes_raw(api, label_selector=label_selector, request_timeout=request_timeout)
    topology = topology_from_nodes((node_from_dict(item) for item in items), node_filter)
    log.info(
        "k8s.discovered",
        host=host_of(api),
        listed=len(items),
        usable=topology.names,
        excluded=dict(topology.excluded),
    )
    if not topology.nodes and not allow_empty:
        raise NoUsableNodes.from_excluded(topology.excluded)
    return topology

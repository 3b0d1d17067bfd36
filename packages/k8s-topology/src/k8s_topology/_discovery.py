"""Discovery: which nodes of the cluster may run worker pools, and the one filter that says so.

Only ``list_node`` is used, never pods: when SAGA plans, the worker pods do not exist yet, so a network
built from pods would have no nodes (and planning on it fails with "Graph with 0 nodes" / StopIteration).

:class:`NodeFilter` is the single description of "which nodes count"; :func:`discover`, the watch
(:class:`~k8s_topology.NodeWatch`, :class:`~k8s_topology.NodeWatcher`) and the pinned provider all take it
as ``node_filter=``, so a cluster is narrowed the same way everywhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Never

from kubernetes import client

from k8s_topology._client import host_of, list_nodes_raw, make_api_client
from k8s_topology._log import kv
from k8s_topology._nodes import KubeNode, LabelSelector, node_from_dict
from k8s_topology._topology import Topology
from k8s_topology.errors import InvalidOverride, NoUsableNodes

log = logging.getLogger(__name__)

_CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
_TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
#: The keyword arguments that discover(), the watch and the provider took before NodeFilter.
_FILTER_KEYWORDS = ("label_selector", "include", "exclude", "include_control_plane", "tolerations")


def _names(what: str, value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):  # frozenset("w1") would be {"w", "1"}
        raise InvalidOverride(f"NodeFilter({what}={value!r}): expected a list of node names, got a string")
    return frozenset(value)


def _toleration(tol: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(tol, Mapping):
        raise InvalidOverride(f"toleration {tol!r} is not a mapping in pod-spec form")
    unknown = set(tol) - _TOLERATION_KEYS
    if unknown:
        raise InvalidOverride(
            f"toleration {dict(tol)!r} has unknown key(s) {sorted(unknown)}; expected {sorted(_TOLERATION_KEYS)}"
        )
    if tol.get("operator", "Equal") not in ("Equal", "Exists"):
        raise InvalidOverride(f"toleration {dict(tol)!r}: operator must be 'Equal' or 'Exists'")
    return dict(tol)


@dataclass(frozen=True, init=False)
class NodeFilter:
    """Which nodes count. Default (``NodeFilter()``): Ready, schedulable worker nodes without a
    NoSchedule/NoExecute taint.

    * ``label_selector``: Kubernetes syntax (``"tier=gpu,zone in (a,b)"``); sent to the API server and
      checked again here, so a server that ignores it gives the same result.
    * ``include`` / ``exclude``: node names (``include=None``: every node).
    * ``include_control_plane``: also use control-plane nodes (their role taints are then tolerated, and
      the provider's pods tolerate them too).
    * ``tolerations``: pod-spec tolerations; a node tainted only with tolerated taints counts, and the
      provider puts them on its pods.

    Invalid values (a selector that does not parse, a string where names are expected, a malformed
    toleration) raise at construction, before any API call.
    """

    label_selector: str | None
    include: frozenset[str] | None
    exclude: frozenset[str]
    include_control_plane: bool
    tolerations: tuple[Mapping[str, Any], ...]
    _selector: LabelSelector | None = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        *,
        label_selector: str | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        include_control_plane: bool = False,
        tolerations: Iterable[Mapping[str, Any]] | None = None,
    ) -> None:
        setattr_ = object.__setattr__  # frozen
        setattr_(self, "label_selector", label_selector or None)
        setattr_(self, "include", _names("include", include))
        setattr_(self, "exclude", _names("exclude", exclude) or frozenset())
        setattr_(self, "include_control_plane", bool(include_control_plane))
        setattr_(self, "tolerations", tuple(_toleration(t) for t in tolerations or ()))
        setattr_(self, "_selector", LabelSelector(label_selector) if label_selector else None)

    def pod_tolerations(self) -> tuple[Mapping[str, Any], ...]:
        """Tolerations a worker pod needs to land on every node this filter accepts."""
        if self.include_control_plane:
            # Asking for control-plane nodes means accepting their role taints too.
            return (*self.tolerations, *({"key": k, "operator": "Exists"} for k in _CONTROL_PLANE_TAINTS))
        return self.tolerations

    def reasons(self, node: KubeNode) -> list[str]:
        """Why ``node`` does not count (empty: it is usable), in words a user can act on."""
        reasons: list[str] = []
        if node.name in self.exclude:
            reasons.append("in the exclude list")
        if self.include is not None and node.name not in self.include:
            reasons.append("not in the include list")
        if self._selector is not None and not self._selector.matches(node.labels):
            reasons.append(f"does not match label selector {self.label_selector!r}")
        if node.control_plane and not self.include_control_plane:
            reasons.append("control-plane node (pass NodeFilter(include_control_plane=True) to use it)")
        if not node.ready:
            reasons.append(f"NotReady ({node.ready_reason})")
        if node.unschedulable:
            reasons.append("cordoned (spec.unschedulable=true)")
        tolerations = self.pod_tolerations() if node.control_plane else self.tolerations
        blocking = node.blocking_taints(tolerations)
        if blocking:
            reasons.append("tainted " + ", ".join(str(t) for t in blocking))
        if node.cpu <= 0:
            reasons.append("reports no allocatable CPU")
        return reasons

    def usable(self, node: KubeNode) -> bool:
        return not self.reasons(node)


def reject_removed_keywords(where: str, removed: Mapping[str, object]) -> None:
    """A clear TypeError for keyword arguments that moved into NodeFilter (or are gone)."""
    if not removed:
        return
    moved = [k for k in removed if k in _FILTER_KEYWORDS]
    if moved:
        args = ", ".join(f"{k}=..." for k in moved)
        raise TypeError(
            f"{where} no longer takes {', '.join(moved)}: pass node_filter=k8s_topology.NodeFilter({args})"
        )
    if "node_name_arg" in removed:
        raise TypeError(
            f"{where} no longer takes node_name_arg: the worker pool reads PARSL_NODE_NAME, which the pod "
            "gets from the downward API (spec.nodeName); the command is passed through unchanged"
        )
    raise TypeError(f"{where} got an unexpected keyword argument {next(iter(removed))!r}")


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
    node_filter: NodeFilter | None = None,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    allow_empty: bool = False,
    request_timeout: float = 30.0,
    **removed: Never,
) -> Topology:
    """List the cluster's nodes and return the usable ones (see :class:`NodeFilter`) as a :class:`Topology`.

    Credentials: ``api_client`` if given, else ``kubeconfig``/``context``, else
    ``$KUBECONFIG``/``~/.kube/config``, else the in-cluster service account.

    Raises :class:`~k8s_topology.errors.NoUsableNodes` (listing every filtered node and why) unless
    ``allow_empty``; ``KubernetesForbidden`` ("list nodes: forbidden ..."), ``KubernetesUnauthorized``,
    ``KubernetesUnreachable``, and ``InvalidQuantity`` for a malformed allocatable quantity (all in
    :mod:`k8s_topology.errors`).
    """
    reject_removed_keywords("discover()", removed)
    node_filter = node_filter if node_filter is not None else NodeFilter()
    api = make_api_client(api_client, kubeconfig=kubeconfig, context=context)
    items, _rv = list_nodes_raw(
        api, label_selector=node_filter.label_selector, request_timeout=request_timeout
    )
    topology = topology_from_nodes((node_from_dict(item) for item in items), node_filter)
    log.info(
        "k8s.discovered %s",
        kv(host=host_of(api), listed=len(items), usable=topology.names, excluded=dict(topology.excluded)),
    )
    if not topology.nodes and not allow_empty:
        raise NoUsableNodes.from_excluded(topology.excluded)
    return topology

"""k8s_topology: discover a Kubernetes cluster's nodes, watch them, and pin Parsl worker pods to them.

The result of discovery is a :class:`Topology`; its ``to_network_spec()`` is the plain dict that
saga-graphs turns into a network (this package never imports SAGA or saga_graphs).
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from k8s_topology._client import make_api_client
from k8s_topology._discovery import NodeFilter, discover
from k8s_topology._errors import (
    InvalidLabelSelector,
    InvalidOverride,
    InvalidQuantity,
    K8sTopologyError,
    KubeConfigError,
    KubernetesApiError,
    KubernetesForbidden,
    KubernetesUnauthorized,
    KubernetesUnreachable,
    NoNodeAvailable,
    NoUsableNodes,
)
from k8s_topology._nodes import BANDWIDTH_KEY, SLOTS_KEY, SPEED_KEY, KubeNode, Taint
from k8s_topology._topology import BandwidthTiers, Topology, locality_tier
from k8s_topology._watch import NodeEvent, NodeWatch, NodeWatcher, watch_nodes

if _TYPE_CHECKING:  # type checkers see the real class; at run time it is loaded lazily (below)
    from k8s_topology._provider import PinnedKubernetesProvider

__all__ = [
    "BANDWIDTH_KEY",
    "SLOTS_KEY",
    "SPEED_KEY",
    "BandwidthTiers",
    "InvalidLabelSelector",
    "InvalidOverride",
    "InvalidQuantity",
    "K8sTopologyError",
    "KubeConfigError",
    "KubeNode",
    "KubernetesApiError",
    "KubernetesForbidden",
    "KubernetesUnauthorized",
    "KubernetesUnreachable",
    "NoNodeAvailable",
    "NoUsableNodes",
    "NodeEvent",
    "NodeFilter",
    "NodeWatch",
    "NodeWatcher",
    "PinnedKubernetesProvider",
    "Taint",
    "Topology",
    "discover",
    "locality_tier",
    "make_api_client",
    "watch_nodes",
]


def __getattr__(name: str) -> object:
    # The provider imports parsl (heavy, ~1 s); load it only when asked for, so discovery and watching
    # stay light for callers that never start workers.
    if name == "PinnedKubernetesProvider":
        from k8s_topology._provider import PinnedKubernetesProvider

        return PinnedKubernetesProvider
    raise AttributeError(f"module 'k8s_topology' has no attribute {name!r}")

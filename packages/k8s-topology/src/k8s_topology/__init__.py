"""k8s_topology: discover a Kubernetes cluster's nodes, watch them, and pin Parsl worker pods to them.

* :func:`discover` -> :class:`Topology`, whose ``to_network_spec()`` is the plain dict saga-graphs turns
  into a network (this package never imports SAGA or saga_graphs);
* :class:`NodeWatch` (iterator) / :class:`NodeWatcher` (callback thread): ``joined`` / ``lost`` /
  ``changed`` :class:`NodeEvent` s;
* :class:`PinnedKubernetesProvider`: a Parsl provider with one pod per node (needs the ``parsl`` extra:
  ``pip install 'k8s-topology[parsl]'``; loaded only when first used).

All three take the same :class:`NodeFilter` as ``node_filter=``. Every error is in
:mod:`k8s_topology.errors` and derives from :class:`K8sTopologyError`.
"""

import logging as _std_logging
from importlib.metadata import distributions as _distributions
from typing import TYPE_CHECKING as _TYPE_CHECKING

from k8s_topology import errors
from k8s_topology._client import make_api_client
from k8s_topology._discovery import NodeFilter, discover
from k8s_topology._nodes import BANDWIDTH_KEY, SLOTS_KEY, SPEED_KEY, KubeNode
from k8s_topology._sidecar import NodeStoreSidecar
from k8s_topology._topology import BandwidthTiers, Topology
from k8s_topology._watch import NodeEvent, NodeWatch, NodeWatcher
from k8s_topology.errors import K8sTopologyError

if _TYPE_CHECKING:  # type checkers see the real class; at run time it is loaded lazily (below)
    from k8s_topology._provider import PinnedKubernetesProvider

__all__ = [
    "BANDWIDTH_KEY",
    "SLOTS_KEY",
    "SPEED_KEY",
    "BandwidthTiers",
    "K8sTopologyError",
    "KubeNode",
    "NodeEvent",
    "NodeFilter",
    "NodeStoreSidecar",
    "NodeWatch",
    "NodeWatcher",
    "PinnedKubernetesProvider",
    "Topology",
    "discover",
    "errors",
    "make_api_client",
]

#: The installed metadata's version (the one in k8s-topology's BUILD file); "0+unknown" without any.
__version__: str = next((d.version for d in _distributions(name="k8s-topology")), "0+unknown")
_std_logging.getLogger(__name__).addHandler(_std_logging.NullHandler())  # silent unless the app asks


def __getattr__(name: str) -> object:
    # The provider imports parsl (heavy, ~1 s, and an optional dependency); load it only when asked for,
    # so discovery and watching stay light and work without parsl installed.
    if name == "PinnedKubernetesProvider":
        from k8s_topology._provider import PinnedKubernetesProvider

        return PinnedKubernetesProvider
    hint = ""
    if name in errors.__all__:
        hint = f"; errors live in one namespace: k8s_topology.errors.{name}"
    elif name == "watch_nodes":
        hint = "; use k8s_topology.NodeWatch(...), the same iterator"
    raise AttributeError(f"module 'k8s_topology' has no attribute {name!r}{hint}")

"""parsl-affinity-htex: a Parsl HighThroughputExecutor that runs each task on the node it is told.

Tasks name a node in their resource specification (``{"node": "node-a", "affinity": "hard", "priority": 1}``);
the affinity interchange keeps a queue per node, falls back (soft) or fails (hard, NodeUnavailable) when a node
has no live pool for the grace period, and never lets a task hang.

Errors and warnings live in one namespace, :mod:`parsl_affinity_htex.errors`
(``except parsl_affinity_htex.errors.NodeUnavailable``).
"""

from parsl_affinity_htex import errors
from parsl_affinity_htex._children import child_pythonpath
from parsl_affinity_htex._cluster import LocalVirtualCluster, LocalVirtualClusterProvider
from parsl_affinity_htex._executor import AffinityFuture, AffinityHighThroughputExecutor
from parsl_affinity_htex._task import current_node
from parsl_affinity_htex._types import AffinityStats, ConnectedNode, NodeChange, RunRecord
from parsl_affinity_htex._version import distribution_version as _distribution_version

__all__ = [
    "AffinityFuture",
    "AffinityHighThroughputExecutor",
    "AffinityStats",
    "ConnectedNode",
    "LocalVirtualCluster",
    "LocalVirtualClusterProvider",
    "NodeChange",
    "RunRecord",
    "child_pythonpath",
    "current_node",
    "errors",
]

#: This package's version, from its installed metadata (the one version in its BUILD file); "0+unknown"
#: when run from a source tree without installed metadata.
__version__: str = _distribution_version()

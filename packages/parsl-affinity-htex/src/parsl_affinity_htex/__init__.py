"""parsl-affinity-htex: a Parsl HighThroughputExecutor that runs each task on the node it is told.

Tasks name a node in their resource specification (``{"node": "node-a", "affinity": "hard", "priority": 1}``);
the affinity interchange keeps a queue per node, falls back (soft) or fails (hard, NodeUnavailable) when a node
has no live pool for the grace period, and never lets a task hang.
"""

from parsl_affinity_htex._cluster import LocalVirtualCluster, LocalVirtualClusterProvider
from parsl_affinity_htex._errors import (
    AffinitySpecError,
    InsecureTransportWarning,
    InterchangeLost,
    NodeUnavailable,
    NotOnAffinityWorker,
)
from parsl_affinity_htex._executor import AffinityFuture, AffinityHighThroughputExecutor
from parsl_affinity_htex._task import current_node
from parsl_affinity_htex._types import AffinityStats, ConnectedNode, NodeChange, RunRecord

__all__ = [
    "AffinityFuture",
    "AffinityHighThroughputExecutor",
    "AffinitySpecError",
    "AffinityStats",
    "ConnectedNode",
    "InsecureTransportWarning",
    "InterchangeLost",
    "LocalVirtualCluster",
    "LocalVirtualClusterProvider",
    "NodeChange",
    "NodeUnavailable",
    "NotOnAffinityWorker",
    "RunRecord",
    "current_node",
]

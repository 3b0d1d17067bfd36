"""parsl-affinity-htex: a Parsl HighThroughputExecutor that runs each task on the node it is told.

Tasks name a node in their resource specification (``{"node": "node-a", "affinity": "hard", "priority": 1}``);
the affinity interchange keeps a queue per node, falls back (soft) or fails (hard, NodeUnavailable) when a node
has no live pool for the grace period, and never lets a task hang.

Errors and warnings live in one namespace, :mod:`parsl_affinity_htex.errors`
(``except parsl_affinity_htex.errors.NodeUnavailable``).
"""

import logging as _std_logging
from importlib.metadata import distributions as _distributions

from parsl_affinity_htex import errors
from parsl_affinity_htex._children import child_pythonpath
from parsl_affinity_htex._cluster import LocalVirtualCluster, LocalVirtualClusterProvider
from parsl_affinity_htex._executor import AffinityFuture, AffinityHighThroughputExecutor
from parsl_affinity_htex._node_store import DataPlane, plain_value, store_node
from parsl_affinity_htex._task import current_node
from parsl_affinity_htex._types import (
    AffinityStats,
    ConnectedNode,
    ExpectedNodes,
    InputFetch,
    NodeChange,
    RunRecord,
)

__all__ = [
    "AffinityFuture",
    "AffinityHighThroughputExecutor",
    "AffinityStats",
    "ConnectedNode",
    "DataPlane",
    "ExpectedNodes",
    "InputFetch",
    "LocalVirtualCluster",
    "LocalVirtualClusterProvider",
    "NodeChange",
    "RunRecord",
    "child_pythonpath",
    "current_node",
    "errors",
    "plain_value",
    "store_node",
]

#: The installed metadata's version (the one in parsl-affinity-htex's BUILD file); "0+unknown" without any.
__version__: str = next((d.version for d in _distributions(name="parsl-affinity-htex")), "0+unknown")
_std_logging.getLogger(__name__).addHandler(_std_logging.NullHandler())  # silent unless the app asks

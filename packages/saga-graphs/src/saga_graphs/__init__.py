"""saga_graphs: task graphs and networks with units, every working SAGA scheduler by name, and
schedules checked independently of SAGA. Knows nothing of Parsl or Kubernetes.

Errors live in one namespace, :mod:`saga_graphs.errors` (``except saga_graphs.errors.SagaGraphsError``
catches them all).
"""

from saga_graphs import errors
from saga_graphs._costs import CostModel, DeclaredCostModel, LearnedCostModel, UniformCostModel
from saga_graphs._gantt import gantt_html, gantt_png
from saga_graphs._graphs import Network, Node, TaskGraph
from saga_graphs._plan import plan
from saga_graphs._registry import available_schedulers
from saga_graphs._runs import TaskRun, span
from saga_graphs._schedule import Placement, Schedule, lower_bound
from saga_graphs._spec import DEFAULT_BANDWIDTH, LinkSpec, NetworkSpec, NodeSpec
from saga_graphs._version import distribution_version as _distribution_version

__all__ = [
    "DEFAULT_BANDWIDTH",
    "CostModel",
    "DeclaredCostModel",
    "LearnedCostModel",
    "LinkSpec",
    "Network",
    "NetworkSpec",
    "Node",
    "NodeSpec",
    "Placement",
    "Schedule",
    "TaskGraph",
    "TaskRun",
    "UniformCostModel",
    "available_schedulers",
    "errors",
    "gantt_html",
    "gantt_png",
    "lower_bound",
    "plan",
    "span",
]

#: This package's version, from its installed metadata (the one version in its BUILD file); "0+unknown"
#: when run from a source tree without installed metadata.
__version__: str = _distribution_version()

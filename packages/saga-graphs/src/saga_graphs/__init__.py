"""saga_graphs: task graphs and networks with units, every working SAGA scheduler by name, and
schedules checked independently of SAGA. Knows nothing of Parsl or Kubernetes.

Errors live in one namespace, :mod:`saga_graphs.errors` (``except saga_graphs.errors.SagaGraphsError``
catches them all).
"""

import logging as _std_logging
from importlib.metadata import distributions as _distributions

from saga_graphs import errors
from saga_graphs._costs import CostModel, DeclaredCostModel, LearnedCostModel, UniformCostModel
from saga_graphs._gantt import gantt_html, gantt_png
from saga_graphs._graphs import Network, Node, TaskGraph
from saga_graphs._plan import plan
from saga_graphs._registry import available_schedulers
from saga_graphs._runs import TaskRun, span
from saga_graphs._schedule import Placement, Schedule, lower_bound
from saga_graphs._spec import DEFAULT_BANDWIDTH, LinkSpec, NetworkSpec, NodeSpec

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

#: The installed metadata's version (the one in saga-graphs's BUILD file); "0+unknown" without any.
__version__: str = next((d.version for d in _distributions(name="saga-graphs")), "0+unknown")
_std_logging.getLogger(__name__).addHandler(_std_logging.NullHandler())  # silent unless the app asks

"""saga_graphs: task graphs and networks with units, every working SAGA scheduler by name, and
schedules checked independently of SAGA. Knows nothing of Parsl or Kubernetes."""

from saga_graphs._costs import CostModel, DeclaredCostModel, LearnedCostModel, UniformCostModel
from saga_graphs._errors import (
    CycleError,
    DisconnectedNetworkError,
    DuplicateNameError,
    EmptyNetworkError,
    GraphValidationError,
    InvalidBandwidthError,
    InvalidCostError,
    InvalidScheduleError,
    InvalidSizeError,
    InvalidSpeedError,
    ReservedNameError,
    SagaGraphsError,
    SchedulerFailedError,
    SchedulerTimeoutError,
    UnknownNodeError,
    UnknownSchedulerError,
    UnknownTaskError,
)
from saga_graphs._gantt import gantt_html, gantt_png
from saga_graphs._graphs import Network, NodeSpec, TaskGraph
from saga_graphs._plan import plan
from saga_graphs._registry import available_schedulers
from saga_graphs._schedule import Placement, Schedule, lower_bound

__all__ = [
    "CostModel",
    "CycleError",
    "DeclaredCostModel",
    "DisconnectedNetworkError",
    "DuplicateNameError",
    "EmptyNetworkError",
    "GraphValidationError",
    "InvalidBandwidthError",
    "InvalidCostError",
    "InvalidScheduleError",
    "InvalidSizeError",
    "InvalidSpeedError",
    "LearnedCostModel",
    "Network",
    "NodeSpec",
    "Placement",
    "ReservedNameError",
    "SagaGraphsError",
    "Schedule",
    "SchedulerFailedError",
    "SchedulerTimeoutError",
    "TaskGraph",
    "UniformCostModel",
    "UnknownNodeError",
    "UnknownSchedulerError",
    "UnknownTaskError",
    "available_schedulers",
    "gantt_html",
    "gantt_png",
    "lower_bound",
    "plan",
]

"""Every error saga_graphs raises, in one namespace: ``saga_graphs.errors.CycleError`` and so on.

Catch :class:`SagaGraphsError` for all of them: it is a ``ValueError``, because every one of them is
caused by a bad input or an input SAGA could not handle. All take a single message argument, so they
pickle across process boundaries (Parsl ships exceptions between processes, and our scheduler worker
process sends them back to the caller).
"""

__all__ = [
    "CycleError",
    "DisconnectedNetworkError",
    "DuplicateNameError",
    "EmptyNetworkError",
    "GraphValidationError",
    "InvalidBandwidthError",
    "InvalidCostError",
    "InvalidScheduleError",
    "InvalidSizeError",
    "InvalidSpeedError",
    "ReservedNameError",
    "SagaGraphsError",
    "SchedulerFailedError",
    "SchedulerTimeoutError",
    "UnknownNodeError",
    "UnknownSchedulerError",
    "UnknownTaskError",
]


class SagaGraphsError(ValueError):
    """Base class of every error raised by saga_graphs."""


class GraphValidationError(SagaGraphsError):
    """A task graph or network is not a valid scheduling problem."""


class CycleError(GraphValidationError):
    """The task graph has a dependency cycle (a workflow must be a DAG)."""


class UnknownTaskError(GraphValidationError):
    """A dependency or placement names a task that is not in the task graph."""


class UnknownNodeError(GraphValidationError):
    """A link, availability or placement names a node that is not in the network."""


class DuplicateNameError(GraphValidationError):
    """A task, node or dependency was added twice."""


class ReservedNameError(GraphValidationError):
    """A name collides with a name SAGA or saga_graphs uses internally (``__super_source__``...)."""


class InvalidCostError(GraphValidationError):
    """A task cost is NaN, infinite or negative."""


class InvalidSizeError(GraphValidationError):
    """A dependency's data size is NaN, infinite or negative."""


class InvalidSpeedError(GraphValidationError):
    """A node speed is not a positive finite number, or its slot count is not a positive integer."""


class InvalidBandwidthError(GraphValidationError):
    """A link bandwidth is not a positive number (infinite means 'free' and is allowed)."""


class EmptyNetworkError(GraphValidationError):
    """The network has no node, so nothing can run."""


class DisconnectedNetworkError(GraphValidationError):
    """Some pair of nodes has no link, no multi-hop route and there is no default bandwidth."""


class UnknownSchedulerError(SagaGraphsError):
    """No scheduler is registered under the requested name."""


class SchedulerTimeoutError(SagaGraphsError):
    """A scheduler did not return within its time budget and was stopped."""


class SchedulerFailedError(SagaGraphsError):
    """A scheduler crashed, returned an incomplete or invalid schedule, or cannot do what was asked."""


class InvalidScheduleError(SagaGraphsError):
    """A schedule breaks a rule: missing/unknown task, overlap, precedence, duration or slot."""

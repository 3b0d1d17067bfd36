"""Every error saga_dfk raises, in one namespace: ``saga_dfk.errors.EmptyTopologyError`` and so on.

Catch :class:`SagaDfkError` for all of them. The classes are defined in the package's private ``_errors``
module (their pickles, which cross Parsl's process boundary on task futures, name it); this module is the
place users import them from. Planning errors of saga_graphs (``saga_graphs.errors``) and executor errors
of parsl_affinity_htex (``parsl_affinity_htex.errors``) reach task futures unchanged.
"""

from ._errors import (
    EmptyTopologyError,
    InvalidReportError,
    InvalidSagaConfigError,
    InvalidTaskHintError,
    NoPlannableExecutorError,
    PlanningCancelledError,
    SagaDfkError,
    UnknownPinnedNodeError,
)

__all__ = [
    "EmptyTopologyError",
    "InvalidReportError",
    "InvalidSagaConfigError",
    "InvalidTaskHintError",
    "NoPlannableExecutorError",
    "PlanningCancelledError",
    "SagaDfkError",
    "UnknownPinnedNodeError",
]

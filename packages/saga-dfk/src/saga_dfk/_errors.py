"""Typed errors of saga-dfk.

Every error names the bad value and what was expected. They take one string argument so they survive
pickling across Parsl's process boundary (a planning error is delivered through the task's future).
"""

from __future__ import annotations

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


class SagaDfkError(Exception):
    """Base class of every error raised by saga-dfk itself."""


class InvalidSagaConfigError(SagaDfkError, ValueError):
    """A SagaConfig option has a wrong value (e.g. planning="sometimes")."""


class EmptyTopologyError(SagaDfkError):
    """There is no node to plan on: no pool connected in time, or the topology/network spec has no nodes.

    Raised instead of letting SAGA fail obscurely on an empty network; tasks of the failed planning round
    get this exception on their futures, exactly like any other launch failure in Parsl.
    """


class NoPlannableExecutorError(SagaDfkError):
    """The config names no executor that saga-dfk can place tasks on."""


class InvalidReportError(SagaDfkError, ValueError):
    """A file or row given as a run report is not one (``saga-dfk report``, ``load_report``)."""


class InvalidTaskHintError(SagaDfkError, ValueError):
    """A per-call planning hint (``parsl_resource_specification={"cost": ..., "output_size": ...}``) has a
    bad value: not a finite number >= 0. The message names the task, the key and the value; the task's
    future fails with this error (the task never runs)."""


class UnknownPinnedNodeError(SagaDfkError, ValueError):
    """A task is pinned (hard) to a node the cluster does not have: raised by the app call itself (at
    submit), naming the node and the known nodes, because such a task could never run."""


class PlanningCancelledError(SagaDfkError):
    """The kernel was cleaned up while the task was still waiting to be planned or dispatched; its
    future fails with this instead of never finishing."""

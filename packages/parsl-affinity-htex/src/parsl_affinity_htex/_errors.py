"""Typed errors of parsl-affinity-htex.

Every exception here may cross Parsl's process boundary (interchange -> executor, worker -> driver), so each
one is picklable and can be rebuilt from a single message argument; extra context travels in attributes that
``__reduce__`` carries along.
"""

from __future__ import annotations

from typing import Any

from parsl.executors.errors import InvalidResourceSpecification

__all__ = [
    "AffinitySpecError",
    "InsecureTransportWarning",
    "InterchangeLost",
    "InvalidClusterSpecError",
    "InvalidDataPlaneError",
    "NodeUnavailable",
    "NotOnAffinityWorker",
    "StoredResultLost",
]


class NodeUnavailable(Exception):
    """A hard-affinity task could not run because its node had no live worker pool.

    Raised (on the task's future) when the node had no pool for the whole grace period, or lost its pool while
    the task ran there. Upstream Parsl would keep such a task queued forever instead.
    """

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.node))


class InterchangeLost(RuntimeError):
    """The executor's interchange process died; outstanding and new tasks cannot complete.

    Upstream HTEx leaves every outstanding future pending forever and hangs in ``cleanup()`` in that case.
    """


class NotOnAffinityWorker(RuntimeError):
    """``current_node()`` was called outside a task run by a node-aware worker pool."""


class AffinitySpecError(InvalidResourceSpecification):
    """A task's resource specification has a bad key, type or value (raised at submit time).

    Subclasses Parsl's ``InvalidResourceSpecification`` so code that already handles that keeps working; the
    message names the offending key and value and says what was expected.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__({key} if key is not None else set(), message)
        self.key = key

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.key))


class InvalidClusterSpecError(ValueError):
    """A bad argument of ``LocalVirtualCluster`` / ``LocalVirtualClusterProvider`` (raised when it is given).

    The message names the argument, the bad value and what was expected (e.g. ``nodes`` must be a non-empty
    mapping of node name -> worker slots).
    """


class InsecureTransportWarning(UserWarning):
    """An executor was built with ``encrypted=False``: its ZeroMQ traffic is neither encrypted nor authenticated.

    Anyone who can reach the worker port can then register a pool, receive pickled tasks (code and arguments)
    and send back pickled results that the driver unpickles, i.e. run code in the driver.
    """


class InvalidDataPlaneError(ValueError):
    """A bad data-plane setting (``DataPlane``, a node store address) or a node store that cannot start.

    The message names the bad value and what was expected.
    """


class StoredResultLost(RuntimeError):
    """A task argument was a result kept in a node store that is gone or no longer has it.

    Raised in the task that needed it (the node that made the result was lost, or its store restarted), so
    the task fails instead of hanging; ``store`` and ``key`` name the result, ``producer_node`` its node.
    """

    def __init__(self, store: str, key: str, reason: str) -> None:
        super().__init__(f"result {key} in node store {store!r} is lost: {reason}")
        self.store = store
        self.key = key
        self.reason = reason

    @property
    def producer_node(self) -> str:
        """The node whose store held the result."""
        from parsl_affinity_htex._node_store import store_node

        return store_node(self.store)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.store, self.key, self.reason))

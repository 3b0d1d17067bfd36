"""Code that runs inside worker processes: the node name and the run-record task executor.

The worker pool exports its node name in ``NODE_ENV_VAR`` before it spawns workers, so tasks can ask where they
run. ``execute_with_record`` is plugged into upstream's ``context["task_executor"]`` hook (an importable
function the worker calls instead of ``execute_task``), so no user function is wrapped or re-serialised and task
exceptions propagate exactly as in plain Parsl.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Final

from parsl.executors.execute_task import execute_task

from parsl_affinity_htex._errors import NotOnAffinityWorker
from parsl_affinity_htex._types import RunRecord

__all__ = ["NODE_ENV_VAR", "TASK_EXECUTOR", "RecordedResult", "current_node", "execute_with_record"]

#: Set by ``python -m parsl_affinity_htex.worker_pool`` in its own environment, inherited by its workers. Not a
#: ``PARSL_<KEY>`` name a resource-spec key could overwrite (the executor only accepts its own four keys).
NODE_ENV_VAR: Final = "PARSL_AFFINITY_HTEX_NODE"
#: Dotted path the worker imports for ``context["task_executor"]["f"]``.
TASK_EXECUTOR: Final = "parsl_affinity_htex._task.execute_with_record"


def current_node() -> str:
    """Return the node name of the worker pool running the calling task.

    Raises NotOnAffinityWorker when called outside a task of a ``parsl_affinity_htex.worker_pool``.
    """
    node = os.environ.get(NODE_ENV_VAR)
    if not node:
        raise NotOnAffinityWorker(
            f"current_node() needs {NODE_ENV_VAR}, which only parsl_affinity_htex.worker_pool sets; "
            "call it inside a task run by AffinityHighThroughputExecutor"
        )
    return node


class RecordedResult:
    """A task's return value plus its RunRecord, as sent back by the worker; the executor unwraps it."""

    __slots__ = ("record", "value")

    def __init__(self, value: Any, record: RunRecord) -> None:
        self.value = value
        self.record = record

    def __reduce__(self) -> tuple[Any, ...]:
        return (RecordedResult, (self.value, self.record))


def execute_with_record(bufs: bytes) -> RecordedResult:
    """Run a task buffer with upstream's ``execute_task`` and time it; exceptions pass through untouched."""
    start = time.time()
    value = execute_task(bufs)
    end = time.time()
    hostname = platform.node()
    return RecordedResult(
        value,
        RunRecord(node=os.environ.get(NODE_ENV_VAR) or hostname, hostname=hostname, start=start, end=end),
    )

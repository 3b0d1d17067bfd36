"""Code that runs inside worker processes: the node name and the run-record task executor.

The worker pool exports its node name in ``NODE_ENV_VAR`` before it spawns workers, so tasks can ask where they
run. ``execute_with_record`` is plugged into upstream's ``context["task_executor"]`` hook (an importable
function the worker calls instead of ``execute_task``), so no user function is wrapped or re-serialised and task
exceptions propagate exactly as in plain Parsl.

The return value is serialized here, once, with Parsl's own ``serialize`` (what the worker would apply to it):
its length is the record's ``output_bytes``, and the RecordedResult carries those bytes, so the worker's
``serialize(RecordedResult)`` copies them instead of walking the value a second time, and the driver decodes
them with Parsl's ``deserialize`` as it would a plain result.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from typing import Any, Final

from parsl.executors.execute_task import execute_task
from parsl.serialize import deserialize, serialize

from parsl_affinity_htex._errors import NotOnAffinityWorker
from parsl_affinity_htex._log import kv
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


log = logging.getLogger(__name__)


class RecordedResult:
    """A task's return value plus its RunRecord, as sent back by the worker; the executor unwraps it.

    ``payload``: the value already serialized with Parsl's ``serialize`` (see the module docstring); it is
    what gets pickled then, and unpickling decodes it back into ``value``. Without it the value is pickled
    as is.
    """

    __slots__ = ("payload", "record", "value")

    def __init__(self, value: Any, record: RunRecord, payload: bytes | None = None) -> None:
        self.value = value
        self.record = record
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        if self.payload is not None:
            return (_from_payload, (self.payload, self.record))
        return (RecordedResult, (self.value, self.record))


def _from_payload(payload: bytes, record: RunRecord) -> RecordedResult:
    """Unpickling a RecordedResult that travelled with its serialized value (on the driver)."""
    return RecordedResult(deserialize(payload), record)


def _serialized(value: Any) -> bytes | None:
    """``value`` as Parsl's worker would serialize it, or None if it cannot be.

    No size warning here (``buffer_threshold``): the worker's own ``serialize`` of the RecordedResult that
    carries these bytes warns about a big result already. On failure the value travels as is, so the
    worker's ``serialize`` fails on it and the task gets Parsl's usual error.
    """
    try:
        return serialize(value, buffer_threshold=sys.maxsize)
    except Exception as e:
        log.debug("task.output_not_measured %s", kv(type=type(value).__name__, error=repr(e)))
        return None


def execute_with_record(bufs: bytes) -> RecordedResult:
    """Run a task buffer with upstream's ``execute_task``, time it and measure its serialized result.

    Exceptions pass through untouched. The end time is taken before serializing, as the task body's end.
    """
    start = time.time()
    value = execute_task(bufs)
    end = time.time()
    hostname = platform.node()
    payload = _serialized(value)
    record = RunRecord(
        node=os.environ.get(NODE_ENV_VAR) or hostname,
        hostname=hostname,
        start=start,
        end=end,
        output_bytes=None if payload is None else len(payload),
    )
    return RecordedResult(value, record, payload)

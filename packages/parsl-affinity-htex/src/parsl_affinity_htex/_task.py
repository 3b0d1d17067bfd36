"""Code that runs inside worker processes: the node name and the run-record task executor.

The worker pool exports its node name in ``NODE_ENV_VAR`` before it spawns workers, so tasks can ask where they
run. ``execute_with_record`` is plugged into upstream's ``context["task_executor"]`` hook (an importable
function the worker calls instead of ``execute_task``), so no user function is wrapped or re-serialised and task
exceptions propagate exactly as in plain Parsl.

The return value is serialized here, once, with Parsl's own ``serialize`` (what the worker would apply to it):
its length is the record's ``output_bytes``, and the RecordedResult carries those bytes, so the worker's
``serialize(RecordedResult)`` copies them instead of walking the value a second time, and the driver decodes
them with Parsl's ``deserialize`` as it would a plain result.

With a data plane (the executor passes ``store_threshold``), arguments that are node-store proxies are
fetched before the call (from the store that holds them, timed, recorded in ``RunRecord.inputs``) and a
serialized result of ``store_threshold`` bytes or more is put in this node's store: the RecordedResult then
carries the proxy, not the bytes.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from dataclasses import replace
from typing import Any, Final

from parsl.executors.execute_task import execute_task
from parsl.serialize import deserialize, serialize, unpack_apply_message

from parsl_affinity_htex._errors import NotOnAffinityWorker
from parsl_affinity_htex._log import kv
from parsl_affinity_htex._node_store import fetch_result, is_node_result, node_store, put_result
from parsl_affinity_htex._types import InputFetch, RunRecord

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


def _execute_fetching(bufs: bytes, own_store: str | None) -> tuple[Any, tuple[InputFetch, ...]]:
    """Upstream's ``execute_task`` (unpack, call), with node-store arguments fetched first.

    Top-level arguments, keyword arguments and the items of an ``inputs`` list are looked at, as Parsl
    looks at futures there.
    """
    f, args, kwargs = unpack_apply_message(bufs)
    fetched: list[InputFetch] = []

    def value_of(arg: Any) -> Any:
        if not is_node_result(arg):
            return arg
        value, how = fetch_result(arg, own_store)
        fetched.append(InputFetch(**how))
        return value

    args = tuple(value_of(a) for a in args)
    kwargs = {k: value_of(v) for k, v in kwargs.items()}
    if isinstance(kwargs.get("inputs"), list):
        kwargs["inputs"] = [value_of(v) for v in kwargs["inputs"]]
    return f(*args, **kwargs), tuple(fetched)


def execute_with_record(
    bufs: bytes, store_threshold: int | None = None, fetch_timeout: float = 30.0
) -> RecordedResult:
    """Run a task buffer with upstream's ``execute_task``, time it and measure its serialized result.

    Exceptions pass through untouched. The end time is taken before serializing, as the task body's end
    (fetching node-store arguments counts as part of the task: the planner's model puts transfers before it).
    """
    store = node_store(fetch_timeout) if store_threshold is not None else None
    start = time.time()
    inputs: tuple[InputFetch, ...] = ()
    if store_threshold is None:
        value = execute_task(bufs)
    else:
        value, inputs = _execute_fetching(bufs, None if store is None else store.name)
    end = time.time()
    hostname = platform.node()
    payload = _serialized(value)
    record = RunRecord(
        node=os.environ.get(NODE_ENV_VAR) or hostname,
        hostname=hostname,
        start=start,
        end=end,
        output_bytes=None if payload is None else len(payload),
        inputs=inputs,
    )
    if store is not None and payload is not None and len(payload) >= (store_threshold or 0):
        proxy, key = put_result(store, payload, type(value))
        return RecordedResult(proxy, replace(record, output_store=store.name, output_key=key))
    return RecordedResult(value, record, payload)

"""The run record the worker builds (``_task.execute_with_record``), exercised in this process: what the worker
does with a task buffer, then what the driver does with the result bytes -- Parsl's own serialize/deserialize.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest
from parsl.serialize import deserialize, pack_apply_message, serialize

from parsl_affinity_htex import RunRecord
from parsl_affinity_htex._task import RecordedResult, execute_with_record


def make_blob(size: int) -> bytes:
    return b"x" * size


class CountsPickling:
    """Counts how often it is pickled, to show the worker walks a result only once."""

    pickled = 0
    lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        with CountsPickling.lock:
            CountsPickling.pickled += 1
        return (CountsPickling, ())


def make_counter() -> CountsPickling:
    return CountsPickling()


def make_unpicklable() -> Any:
    return (i for i in range(3))  # a generator: neither pickle nor dill can serialize it


def run_on_worker(fn: Any, *args: Any) -> bytes:
    """What process_worker_pool.worker does: run the task executor, then ``serialize`` its result."""
    return serialize(execute_with_record(pack_apply_message(fn, args, {})), buffer_threshold=1000000)


def test_output_bytes_is_the_size_of_the_value_as_parsl_serializes_it() -> None:
    result = execute_with_record(pack_apply_message(make_blob, (100_000,), {}))
    assert result.value == b"x" * 100_000
    assert result.record.output_bytes == len(serialize(b"x" * 100_000))
    assert result.record.output_bytes > 100_000


def test_the_driver_gets_the_value_and_the_record_back() -> None:
    received = deserialize(run_on_worker(make_blob, 10))
    assert isinstance(received, RecordedResult)
    assert received.value == b"x" * 10
    assert received.record.output_bytes == len(serialize(b"x" * 10))
    assert received.record.start <= received.record.end
    assert received.payload is None  # the driver keeps the value, not its bytes


def test_the_worker_serializes_the_value_once() -> None:
    before = CountsPickling.pickled
    received = deserialize(run_on_worker(make_counter))
    assert CountsPickling.pickled - before == 1
    assert isinstance(received.value, CountsPickling)


def test_an_unserializable_value_fails_as_in_plain_parsl_and_is_not_measured() -> None:
    result = execute_with_record(pack_apply_message(make_unpicklable, (), {}))
    assert result.record.output_bytes is None
    with pytest.raises(TypeError, match="cannot pickle 'generator' object"):
        serialize(result)  # the worker's serialize: the task gets this error, as without a record


def test_relative_to_keeps_output_bytes() -> None:
    record = RunRecord(node="n", hostname="h", start=100.0, end=102.5, output_bytes=42)
    moved = record.relative_to(100.0)
    assert moved == RunRecord(node="n", hostname="h", start=0.0, end=2.5, output_bytes=42)
    assert moved.duration == 2.5


def test_records_made_without_output_bytes_still_work() -> None:
    """Constructors from before the field (e.g. saga-dfk reading a report back) keep working."""
    record = RunRecord("n", "h", 1.0, 2.0)
    assert record.output_bytes is None
    assert pickle.loads(pickle.dumps(record)) == record

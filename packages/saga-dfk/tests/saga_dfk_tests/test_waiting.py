"""Explicit mode: every documented way of waiting on a held task plans it; nothing waits forever.

Real worker pools (LocalVirtualCluster, two nodes) and real SAGA; each wait has its own timeout, far above
what it needs, so a hang fails the test instead of the run. On c6c897e, concurrent.futures.wait,
as_completed, done() polling and DataFuture.result() on held tasks waited forever, and a task submitted
from a done-callback after execute() was never planned.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl import File, python_app

from repo_support.waiting import wait_until
from saga_dfk import SagaDataFlowKernel

from .conftest import make_apps, running_kernel

NODES = {"node-a": 1, "node-b": 1}
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SagaDataFlowKernel]:
    with running_kernel(tmp_path_factory.mktemp("waiting"), NODES, planning="explicit") as dfk:
        yield dfk


@pytest.fixture(scope="module")
def apps() -> Any:
    return make_apps()


def _held(kernel: SagaDataFlowKernel, fut: Any) -> bool:
    record = kernel._records.get(fut.tid)
    return record is not None and not record.released


def test_futures_wait_plans_held_tasks(kernel: SagaDataFlowKernel, apps: Any) -> None:
    futures = [apps.add(i, 1) for i in range(3)]
    if not kernel._executed.is_set():
        assert all(_held(kernel, f) for f in futures)
    done, pending = concurrent.futures.wait(futures, timeout=120)
    assert not pending
    assert sorted(f.result() for f in done) == [1, 2, 3]


def test_as_completed_plans_held_tasks(kernel: SagaDataFlowKernel, apps: Any) -> None:
    futures = [apps.add(i, 2) for i in range(3)]
    got = sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=120))
    assert got == [2, 3, 4]


def test_done_polling_plans_held_tasks(kernel: SagaDataFlowKernel, apps: Any) -> None:
    fut = apps.add(5, 5)
    deadline = time.monotonic() + 120
    while not fut.done():
        assert time.monotonic() < deadline, "done() polled for 120 s"
        time.sleep(0.05)
    assert fut.result() == 10


def test_data_future_result_plans_its_task(kernel: SagaDataFlowKernel, tmp_path: Path) -> None:
    @python_app
    def write(text: str, outputs: list[File] = ()) -> str:  # type: ignore[assignment]
        with open(outputs[0].filepath, "w") as fh:
            fh.write(text)
        return text

    target = tmp_path / "out.txt"
    fut = write("hello", outputs=[File(str(target))])
    data = fut.outputs[0]
    assert data.result(timeout=120).filepath == str(target)
    assert target.read_text() == "hello"


def test_callback_after_execute_submits_planned_work(kernel: SagaDataFlowKernel, apps: Any) -> None:
    """A done-callback (an executor thread) submits a follow-up task after execute(): it is planned
    in a rolling round without any further execute()."""
    submitted: list[Any] = []
    ready = threading.Event()

    def follow_up(fut: Any) -> None:
        submitted.append(apps.add(fut.result(), 100))
        ready.set()

    first = apps.add(1, 1)
    first.add_done_callback(follow_up)
    kernel.execute()
    assert ready.wait(120), "the done-callback never ran"
    # planned without anybody waiting on it (no result() yet, no second execute())
    wait_until(lambda: submitted[0].tid in kernel.saga_assignments, 60, "the follow-up task to be planned")
    assert submitted[0].result(timeout=120) == 102
    assert submitted[0].tid in kernel.saga_assignments


def test_result_timeout_is_honoured_while_nothing_can_run(kernel: SagaDataFlowKernel, apps: Any) -> None:
    """A task waiting on a long task: result(timeout=0.5) returns after about 0.5 s (4.3 s on c6c897e)."""
    slow = apps.node_task(seconds=5.0)
    child = apps.node_task(slow)
    started = time.monotonic()
    with pytest.raises(concurrent.futures.TimeoutError):
        child.result(timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert child.result(timeout=120)[1] == 2

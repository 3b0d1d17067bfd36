"""Fixtures that run real AffinityHighThroughputExecutor clusters: a real DFK, the affinity interchange process and
one real node-labelled worker pool process per virtual node (no mocks). Every process is torn down, also when a
test fails: DFK cleanup under a deadline, then SIGKILL of every pool process group and of the interchange.

Nothing here exports PYTHONPATH: the executor and the virtual cluster hand the children this process's import
path themselves (parsl_affinity_htex.child_pythonpath), as they do for users.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import parsl
from parsl.config import Config
from parsl.dataflow.dflow import DataFlowKernel

from parsl_affinity_htex import (
    AffinityHighThroughputExecutor,
    LocalVirtualCluster,
    LocalVirtualClusterProvider,
    NodeChange,
)
from repo_support.waiting import wait_until

NODES: Mapping[str, int] = {"node-a": 2, "node-b": 2, "node-c": 1}
#: Pools need 10-20 s to register on a busy 2-core machine (spawning workers, scanning installed packages).
STARTUP_TIMEOUT_S = 150.0
GRACE_S = 3.0
HEARTBEAT_THRESHOLD_S = 6


@dataclass
class RunningCluster:
    dfk: DataFlowKernel
    executor: AffinityHighThroughputExecutor
    provider: LocalVirtualClusterProvider
    changes: list[NodeChange] = field(default_factory=list)


def _cleanup_with_deadline(dfk: DataFlowKernel, deadline_s: float) -> float:
    """Run ``dfk.cleanup()`` in a thread; return its duration, or raise if it does not return in time."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            dfk.cleanup()
        except BaseException as e:
            errors.append(e)

    start = time.monotonic()
    thread = threading.Thread(target=run, name="dfk-cleanup", daemon=True)
    thread.start()
    thread.join(deadline_s)
    if thread.is_alive():
        raise AssertionError(f"dfk.cleanup() did not return within {deadline_s}s")
    if errors:
        raise errors[0]
    return time.monotonic() - start


def kill_everything(executor: AffinityHighThroughputExecutor, provider: LocalVirtualClusterProvider) -> None:
    """Last-resort teardown: SIGKILL every pool process group and the interchange."""
    provider.kill_all()
    proc = executor.interchange_proc
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def running_cluster(
    run_dir: Path,
    nodes: Mapping[str, int] = NODES,
    config_options: Mapping[str, Any] | None = None,
    ready: Callable[[AffinityHighThroughputExecutor], bool] | None = None,
    what: str | None = None,
    **executor_kwargs: Any,
) -> Iterator[RunningCluster]:
    """Start a DFK on a LocalVirtualCluster and wait until every node has registered its pool.

    ``ready`` replaces that condition (a 0-worker pool's node, for one, never becomes live); ``what`` names
    it in the time-out message.
    """
    options: dict[str, Any] = {
        "affinity_grace_period": GRACE_S,
        "heartbeat_period": 1,
        "heartbeat_threshold": HEARTBEAT_THRESHOLD_S,
        "node_poll_period": 0.25,
        "watchdog_period": 0.25,
    }
    options.update(executor_kwargs)
    executor = LocalVirtualCluster(nodes).executor(label=f"aff-{uuid.uuid4().hex[:8]}", **options)
    provider = executor.provider
    assert isinstance(provider, LocalVirtualClusterProvider)
    changes: list[NodeChange] = []
    executor.add_node_listener(changes.append)
    dfk: DataFlowKernel | None = None
    try:
        dfk = parsl.load(
            Config(
                executors=[executor],
                strategy="none",
                strategy_period=0.5,
                run_dir=str(run_dir),
                **dict(config_options or {}),
            )
        )
        wait_until(
            (lambda: ready(executor)) if ready else (lambda: set(executor.connected_nodes()) == set(nodes)),
            STARTUP_TIMEOUT_S,
            what or f"pools of {sorted(nodes)} to register",
        )
        yield RunningCluster(dfk=dfk, executor=executor, provider=provider, changes=changes)
    finally:
        try:
            if dfk is not None and not dfk.cleanup_called:
                _cleanup_with_deadline(dfk, 90)
        finally:
            parsl.clear()
            kill_everything(executor, provider)


cleanup_with_deadline = _cleanup_with_deadline

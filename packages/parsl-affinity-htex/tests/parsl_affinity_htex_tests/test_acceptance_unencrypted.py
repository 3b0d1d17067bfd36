"""Acceptance tests on real processes with ``encrypted=False`` (the explicit test mode), ending with the
interchange watchdog: the interchange process is SIGKILLed mid-run; every outstanding future must fail with a
clear error and ``cleanup()`` must return within seconds (upstream hangs forever). Nothing is mocked.
"""

from __future__ import annotations

import os
import random
import signal
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl import python_app

from parsl_affinity_htex import AffinityHighThroughputExecutor
from parsl_affinity_htex.errors import InsecureTransportWarning, InterchangeLost
from repo_support.waiting import wait_until

from .conftest import (
    RunningCluster,
    cleanup_with_deadline,
    running_cluster,
)

pytestmark = pytest.mark.timeout(600)

NODES = {"node-x": 2, "node-y": 1}


@python_app
def where(parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006 - Parsl's convention
    from parsl_affinity_htex import current_node

    return current_node()


@python_app
def mark_nap(marker: str, seconds: float, parsl_resource_specification: dict[str, Any] = {}) -> None:  # noqa: B006
    import pathlib
    import time

    pathlib.Path(marker).touch()
    time.sleep(seconds)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    with running_cluster(tmp_path_factory.mktemp("plain"), NODES, encrypted=False) as running:
        yield running


def test_unencrypted_mode_warns_saying_what_it_exposes() -> None:
    """It used to be one structlog line on stdout that did not say what is open to whom."""
    with pytest.warns(InsecureTransportWarning) as caught:
        AffinityHighThroughputExecutor(label="plain", encrypted=False)
    insecure = [w for w in caught if issubclass(w.category, InsecureTransportWarning)]
    assert len(insecure) == 1
    message = str(insecure[0].message)
    assert "'plain'" in message
    for exposed in ("worker port", "register", "pickled tasks", "unpickles"):
        assert exposed in message
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureTransportWarning)
        AffinityHighThroughputExecutor(label="secret")


def test_the_unencrypted_warning_is_in_the_runs_parsl_log(cluster: RunningCluster) -> None:
    parsl_log = Path(cluster.dfk.run_dir) / "parsl.log"
    text = parsl_log.read_text()
    assert "encrypted=False" in text and "unpickles" in text


def test_tagged_tasks_run_on_their_node_unencrypted(cluster: RunningCluster) -> None:
    assert cluster.executor.encrypted is False and cluster.executor.cert_dir is None
    rng = random.Random(7)
    tags = [rng.choice(sorted(NODES)) for _ in range(120)]
    futures = [where(parsl_resource_specification={"node": t, "affinity": "hard"}) for t in tags]
    assert [f.result(timeout=180) for f in futures] == tags


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_interchange_killed_fails_futures_and_cleanup_returns(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    futures = [
        mark_nap(str(tmp_path / f"m{i}"), 60, parsl_resource_specification={"node": "node-x"})
        for i in range(2)
    ]
    futures += [
        mark_nap(str(tmp_path / "q"), 60, parsl_resource_specification={"node": "node-y"}) for _ in range(3)
    ]
    futures += [mark_nap(str(tmp_path / "u"), 60) for _ in range(3)]
    wait_until(
        lambda: (tmp_path / "m0").exists() and (tmp_path / "m1").exists(), 60, "tasks to start on node-x"
    )

    proc = cluster.executor.interchange_proc
    assert proc is not None
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)

    for fut in futures:
        with pytest.raises(InterchangeLost, match="interchange process .* exited"):
            fut.result(timeout=15)
    assert time.monotonic() - killed_at < 15
    # new work is refused with the same clear error instead of being queued forever
    with pytest.raises(InterchangeLost):
        where().result(timeout=15)

    pool_pids = [int(job["remote_pid"]) for job in cluster.provider.resources.values()]
    duration = cleanup_with_deadline(cluster.dfk, 30)
    assert duration < 20, f"cleanup() took {duration:.1f}s"
    # the pools were cancelled too (the DFK skips scale-in for a bad executor; the executor does it)
    wait_until(lambda: not any(_alive(pid) for pid in pool_pids), 15, "pool processes to exit")

"""LocalVirtualClusterProvider signals only pools it started and that still run.

A job's pid (its process group id) is reused by the kernel once the job ended; ``kill_node``/``kill_all``
used to signal that group blindly. Here a real unrelated process (its own session, so its own process group)
takes the place of an ended pool's pid; it must survive both calls.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from parsl_affinity_htex import LocalVirtualClusterProvider


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def assert_alive(proc: subprocess.Popen[bytes]) -> None:
    """A SIGKILL lands asynchronously: give it a second to show."""
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=1.0)


def test_a_recycled_pid_is_never_signalled(bystander: subprocess.Popen[bytes]) -> None:
    provider = LocalVirtualClusterProvider({"node-a": 1})
    # a pool that ran as this pid and ended: same pid, but not the process that was launched then
    provider.resources["job-1"] = {"job_id": "job-1", "remote_pid": bystander.pid, "status": None}
    provider.job_nodes["job-1"] = "node-a"
    provider._job_started["job-1"] = 1.0  # the launched process started long before the bystander
    with pytest.raises(ProcessLookupError, match="node-a"):
        provider.kill_node("node-a")
    provider.kill_all()
    assert_alive(bystander)


def test_a_pid_without_a_recorded_start_is_not_trusted(bystander: subprocess.Popen[bytes]) -> None:
    provider = LocalVirtualClusterProvider({"node-a": 1})
    provider.resources["job-2"] = {"job_id": "job-2", "remote_pid": bystander.pid, "status": None}
    provider.job_nodes["job-2"] = "node-a"
    provider.kill_all()
    assert_alive(bystander)

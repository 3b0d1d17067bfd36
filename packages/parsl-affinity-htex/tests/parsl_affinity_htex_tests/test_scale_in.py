"""Scale-in that knows about planned work: a block whose node has tagged tasks queued is not scaled in first.

Upstream's ``scale_in`` ranks blocks by idle time and running tasks only, so the strategy could pick the one
pool that planned work is waiting for. The executor here is real but not started: its command channel and
provider are replaced by recording stand-ins (no interchange or pool is needed to rank blocks), which keeps
the ranking itself under test; the real-pool behaviour of queued work is covered by the fault matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parsl.jobs.states import JobState, JobStatus
from parsl.providers import LocalProvider

from parsl_affinity_htex import AffinityHighThroughputExecutor
from parsl_affinity_htex._protocol import NODES_COMMAND


class FakeCommands:
    def __init__(self, nodes: dict[str, Any], managers: list[dict[str, Any]]) -> None:
        self.nodes = nodes
        self.managers = managers

    def run(self, message: Any, **_: Any) -> Any:
        if message == NODES_COMMAND:
            return self.nodes
        if message == "MANAGERS":
            return self.managers
        if isinstance(message, list) and message[0] == "HOLD_MANAGER":
            return None
        raise AssertionError(f"unexpected command {message!r}")


class RecordingProvider(LocalProvider):  # type: ignore[misc]
    """A real LocalProvider whose ``cancel`` only records (no job was ever started)."""

    def __init__(self) -> None:
        super().__init__(init_blocks=0, min_blocks=0, max_blocks=2)
        self.cancelled: list[str] = []

    def cancel(self, job_ids: Sequence[Any]) -> list[bool]:
        self.cancelled += [str(j) for j in job_ids]
        return [True] * len(job_ids)


def _executor(queued_on_b: int) -> tuple[AffinityHighThroughputExecutor, RecordingProvider]:
    provider = RecordingProvider()
    ex = AffinityHighThroughputExecutor(label="scale", provider=provider)
    blocks = {"0": "node-a", "1": "node-b"}
    for block_id in blocks:
        ex._status[block_id] = JobStatus(JobState.RUNNING)
        ex.blocks_to_job_id[block_id] = f"job-{block_id}"
        ex.job_ids_to_block[f"job-{block_id}"] = block_id
    managers = [
        # node-b's pool has been idle longest: upstream's first choice
        {"manager": "ma", "block_id": "0", "tasks": 0, "idle_duration": 5.0, "active": True},
        {"manager": "mb", "block_id": "1", "tasks": 0, "idle_duration": 50.0, "active": True},
    ]
    nodes = {
        "node-a": {"slots": 1, "pools": 1, "managers": ["ma"], "blocks": ["0"], "queued": 0},
        "node-b": {"slots": 1, "pools": 1, "managers": ["mb"], "blocks": ["1"], "queued": queued_on_b},
    }
    ex.command_client = FakeCommands(nodes, managers)  # type: ignore[assignment]
    return ex, provider


def test_without_queued_work_the_longest_idle_block_goes_first() -> None:
    ex, provider = _executor(queued_on_b=0)
    assert ex.scale_in(1, max_idletime=1.0) == ["1"]
    assert provider.cancelled == ["job-1"]


def test_a_block_with_queued_work_for_its_node_is_not_idle() -> None:
    ex, provider = _executor(queued_on_b=3)
    assert ex.scale_in(2, max_idletime=1.0) == ["0"]
    assert provider.cancelled == ["job-0"]


def test_a_forced_scale_in_takes_blocks_with_queued_work_last() -> None:
    ex, provider = _executor(queued_on_b=3)
    assert ex.scale_in(1) == ["0"]
    assert ex.scale_in(2) == ["0", "1"]

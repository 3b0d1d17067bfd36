"""Acceptance tests on real processes (encrypted, the default): a DFK, the affinity interchange and three
node-labelled worker pools of a LocalVirtualCluster. Nothing is mocked.

The tests share one cluster (start-up costs 10-20 s here); the destructive pool-kill test runs last.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl import python_app
from parsl.dataflow.futures import AppFuture
from parsl.serialize import serialize

from parsl_affinity_htex import AffinityFuture, NodeChange, RunRecord
from parsl_affinity_htex.errors import AffinitySpecError, NodeUnavailable
from repo_support.waiting import wait_until

from .conftest import GRACE_S, NODES, RunningCluster, running_cluster

pytestmark = pytest.mark.timeout(600)


@python_app
def where(parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006 - Parsl's convention
    from parsl_affinity_htex import current_node

    return current_node()


@python_app
def nap_where(seconds: float, parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006
    import time

    from parsl_affinity_htex import current_node

    time.sleep(seconds)
    return current_node()


@python_app
def mark_nap_where(marker: str, seconds: float, parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006
    import pathlib
    import time

    from parsl_affinity_htex import current_node

    pathlib.Path(marker).write_text(current_node())
    time.sleep(seconds)
    return current_node()


@python_app
def parsl_env(parsl_resource_specification: dict[str, Any] = {}) -> dict[str, str]:  # noqa: B006
    import os

    return {k: v for k, v in os.environ.items() if k.startswith("PARSL_")}


@python_app
def explode(message: str, parsl_resource_specification: dict[str, Any] = {}) -> None:  # noqa: B006
    raise KeyError(message)


def record_of(fut: AppFuture) -> RunRecord:
    exec_fu = fut.task_record["exec_fu"]
    assert isinstance(exec_fu, AffinityFuture)
    record = exec_fu.run_record
    assert isinstance(record, RunRecord)
    return record


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    with running_cluster(tmp_path_factory.mktemp("enc")) as running:
        yield running


def test_encryption_is_on_by_default(cluster: RunningCluster) -> None:
    assert cluster.executor.encrypted is True
    assert cluster.executor.cert_dir is not None and os.path.isdir(cluster.executor.cert_dir)


def test_connected_nodes_report_slots_and_pools(cluster: RunningCluster) -> None:
    nodes = cluster.executor.connected_nodes()
    assert {name: (n.slots, n.pools) for name, n in nodes.items()} == {
        name: (slots, 1) for name, slots in NODES.items()
    }
    wait_until(
        lambda: {c.node.name for c in cluster.changes if c.kind == "joined"} == set(NODES),
        10,
        "a 'joined' NodeChange per node",
    )


def test_300_tagged_tasks_run_on_their_node(cluster: RunningCluster) -> None:
    """Hard affinity: a soft task that waits a grace period on its busy node may be stolen by an idle one
    (330 tasks on 5 slots wait longer than this cluster's 3 s grace), which is not what this test is about."""
    rng = random.Random(4)
    tags = [rng.choice(sorted(NODES)) for _ in range(330)]
    futures = [where(parsl_resource_specification={"node": tag, "affinity": "hard"}) for tag in tags]
    reported = [f.result(timeout=240) for f in futures]
    misplaced = [(i, tag, got) for i, (tag, got) in enumerate(zip(tags, reported, strict=True)) if tag != got]
    assert misplaced == []
    assert [record_of(f).node for f in futures] == tags
    assert set(tags) == set(NODES)


def test_untagged_tasks_spread_over_nodes(cluster: RunningCluster) -> None:
    futures = [nap_where(0.1) for _ in range(60)]
    used = {f.result(timeout=120) for f in futures}
    assert used == set(NODES)


def test_run_record_is_measured_on_the_worker(cluster: RunningCluster) -> None:
    before = time.time()
    fut = nap_where(0.3, parsl_resource_specification={"node": "node-b"})
    assert fut.result(timeout=60) == "node-b"
    record = record_of(fut)
    assert record.node == "node-b"
    assert record.hostname
    assert before <= record.start < record.end <= time.time()
    assert record.duration >= 0.29
    assert record.output_bytes == len(serialize("node-b"))  # the return value as the worker serialized it


def test_within_a_node_tasks_run_in_priority_order(cluster: RunningCluster) -> None:
    # node-c has one slot: occupy it, queue tasks with shuffled priorities, then read their start order.
    blocker = nap_where(
        2.0, parsl_resource_specification={"node": "node-c", "affinity": "hard", "priority": -100}
    )
    priorities = [5, 1, 9, 3, 3, 0, 7, 2.5]
    queued = [
        nap_where(0.05, parsl_resource_specification={"node": "node-c", "affinity": "hard", "priority": p})
        for p in priorities
    ]
    assert blocker.result(timeout=60) == "node-c"
    assert {f.result(timeout=60) for f in queued} == {"node-c"}
    started = sorted(range(len(queued)), key=lambda i: record_of(queued[i]).start)
    # lower value first; equal priorities keep submission order (index 3 before 4)
    assert started == sorted(range(len(queued)), key=lambda i: (priorities[i], i))


def test_node_keys_never_reach_task_environments(cluster: RunningCluster) -> None:
    first = parsl_env(
        parsl_resource_specification={"_saga_node_affinity": "node-c", "affinity": "hard", "priority": 5}
    )
    second = parsl_env(parsl_resource_specification={"node": "node-c", "affinity": "hard"})
    later = [parsl_env(parsl_resource_specification={"node": "node-c"}) for _ in range(3)]
    envs = [first.result(timeout=60), second.result(timeout=60), *(f.result(timeout=60) for f in later)]
    # The mechanism that would leak is live (upstream exports resource_spec keys as PARSL_<KEY>) ...
    assert envs[0]["PARSL_PRIORITY"] == "5"
    # ... but the node and mode never travel in resource_spec, on the first task or on later ones.
    for env in envs:
        assert {"PARSL_NODE", "PARSL__SAGA_NODE_AFFINITY", "PARSL_AFFINITY"}.isdisjoint(env), env
        assert env["PARSL_AFFINITY_HTEX_NODE"] == "node-c"


def test_soft_task_for_absent_node_runs_elsewhere(cluster: RunningCluster) -> None:
    fut = where(parsl_resource_specification={"node": "node-z"})
    assert fut.result(timeout=60) in NODES


def test_hard_task_for_absent_node_fails_with_node_unavailable(cluster: RunningCluster) -> None:
    fut = where(parsl_resource_specification={"node": "node-z", "affinity": "hard"})
    with pytest.raises(NodeUnavailable, match="node-z") as info:
        fut.result(timeout=60)
    assert info.value.node == "node-z"


def test_task_exceptions_propagate_unchanged(cluster: RunningCluster) -> None:
    tagged = explode("tagged", parsl_resource_specification={"node": "node-a", "affinity": "hard"})
    untagged = explode("untagged")
    with pytest.raises(KeyError, match="tagged"):
        tagged.result(timeout=60)
    with pytest.raises(KeyError, match="untagged"):
        untagged.result(timeout=60)


def test_bad_specs_are_rejected_at_submit_and_never_reach_the_interchange(cluster: RunningCluster) -> None:
    with pytest.raises(AffinitySpecError, match="'priority' must be a number.*'high'"):
        cluster.executor.submit(len, {"priority": "high"}, [1])
    with pytest.raises(AffinitySpecError, match="nodes"):
        cluster.executor.submit(len, {"nodes": "node-a"}, [1])
    via_app = where(parsl_resource_specification={"node": "node-a", "affinity": "sometimes"})
    with pytest.raises(AffinitySpecError, match="sometimes"):
        via_app.result(timeout=60)
    # upstream's interchange dies on a non-numeric priority; ours never saw it and still serves tasks
    assert (
        where(parsl_resource_specification={"node": "node-a", "priority": 1}).result(timeout=60) == "node-a"
    )
    proc = cluster.executor.interchange_proc
    assert proc is not None and proc.poll() is None


def test_killing_a_pool_mid_run_hangs_nothing(cluster: RunningCluster, tmp_path: Path) -> None:
    """node-b's pool is SIGKILLed while two soft tasks run on it and more wait for it."""
    hard = {"node": "node-b", "affinity": "hard"}
    soft = {"node": "node-b"}
    running = [
        mark_nap_where(str(tmp_path / f"run{i}"), 4.0, parsl_resource_specification=soft) for i in range(2)
    ]
    queued_hard = [nap_where(0.1, parsl_resource_specification=hard) for _ in range(2)]
    queued_soft = [nap_where(0.1, parsl_resource_specification=soft) for _ in range(4)]
    wait_until(lambda: all((tmp_path / f"run{i}").exists() for i in range(2)), 60, "both soft tasks to start")
    assert {(tmp_path / f"run{i}").read_text() for i in range(2)} == {"node-b"}

    killed_at = time.monotonic()
    cluster.provider.kill_node("node-b")

    # soft tasks (running and queued) finish elsewhere once the node is gone for the grace period
    for fut in running + queued_soft:
        assert fut.result(timeout=90) in {"node-a", "node-c"}
    for fut in queued_hard:
        with pytest.raises(NodeUnavailable, match="node-b"):
            fut.result(timeout=90)
    assert time.monotonic() - killed_at < 60
    wait_until(
        lambda: NodeChange in {type(c) for c in cluster.changes}
        and any(c.kind == "lost" and c.node.name == "node-b" for c in cluster.changes),
        30,
        "a 'lost' NodeChange for node-b",
    )
    assert set(cluster.executor.connected_nodes()) == {"node-a", "node-c"}

    # later tasks for the lost node: soft ones run elsewhere, hard ones fail (the node is gone > grace)
    time.sleep(GRACE_S)
    assert where(parsl_resource_specification=soft).result(timeout=60) in {"node-a", "node-c"}
    with pytest.raises(NodeUnavailable):
        where(parsl_resource_specification=hard).result(timeout=60)

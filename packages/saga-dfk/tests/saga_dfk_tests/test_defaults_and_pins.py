"""Default settings on a real cluster: plan on every node, keep the caller's pins, free finished tasks,
leave memoization alone.

Real parsl_affinity_htex interchange and worker pools (a LocalVirtualCluster of three nodes), real SAGA;
no mocks. The kernel is built with defaults only (no min_nodes, planning mode, settle time), as the
README's example does. Figures measured on c6c897e, where each of these failed: the example planned on 2,
1 and 2 of 3 nodes in three runs; a hard pin to node-c was overridden and one to "node-x" ran on node-a;
200 results of 1 MiB stayed alive after the caller dropped them (200 MiB); a cached app's second call
was not a memo hit (the plan's tags were in its kwargs).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parsl import python_app

from saga_dfk import SagaDataFlowKernel
from saga_dfk.errors import UnknownPinnedNodeError

from .conftest import make_apps, stop_kernel

NODES = {"node-a": 2, "node-b": 2, "node-c": 1}
pytestmark = pytest.mark.timeout(400)


def _start_with_defaults(tmp: Path) -> tuple[SagaDataFlowKernel, Any]:
    import saga_dfk
    from parsl_affinity_htex import LocalVirtualCluster

    executor = LocalVirtualCluster(NODES).executor(
        label="vc", encrypted=False, heartbeat_period=1, heartbeat_threshold=4
    )
    config = saga_dfk.SagaConfig(
        executors=[executor], run_dir=str(tmp / "runinfo"), initialize_logging=False, strategy_period=0.5
    )
    return saga_dfk.load(config), executor.provider


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SagaDataFlowKernel]:
    dfk, provider = _start_with_defaults(tmp_path_factory.mktemp("defaults"))
    try:
        yield dfk
    finally:
        stop_kernel(dfk, provider)


@pytest.fixture(scope="module")
def apps() -> Any:
    return make_apps()


def test_defaults_plan_on_every_node_from_the_first_round(kernel: SagaDataFlowKernel, apps: Any) -> None:
    """Submitted right after load (no pool has registered yet): the first round waits for the three
    expected nodes, so the plan and the runs use all of them."""
    futures = [apps.node_task(seconds=0.2) for _ in range(15)]
    ran = Counter(f.result(timeout=240)[0] for f in futures)
    planned = Counter(kernel.saga_assignments[f.tid].node for f in futures)
    assert set(planned) == set(NODES), planned
    assert set(ran) == set(NODES), ran
    assert kernel.run_report()["rounds"][0]["nodes"] == sorted(NODES)


def test_a_hard_pin_is_kept_and_planned_around(kernel: SagaDataFlowKernel, apps: Any) -> None:
    pinned = [
        apps.pinned_task(seconds=0.1, parsl_resource_specification={"node": "node-c", "affinity": "hard"})
        for _ in range(4)
    ]
    others = [apps.node_task(seconds=0.1) for _ in range(6)]
    kernel.execute()
    assert [f.result(timeout=120) for f in pinned] == ["node-c"] * 4
    assert {kernel.saga_assignments[f.tid].node for f in pinned} == {"node-c"}
    for f in others:
        f.result(timeout=120)
    # the plan knows node-c is busy with the pinned work: the rest mostly goes elsewhere
    elsewhere = sum(kernel.saga_assignments[f.tid].node != "node-c" for f in others)
    assert elsewhere >= 3, [kernel.saga_assignments[f.tid].node for f in others]


def test_a_soft_pin_is_planned_on_its_node(kernel: SagaDataFlowKernel, apps: Any) -> None:
    fut = apps.pinned_task(parsl_resource_specification={"node": "node-b", "affinity": "soft"})
    assert fut.result(timeout=120) == "node-b"
    assert kernel.saga_assignments[fut.tid].node == "node-b"


def test_a_hard_pin_to_an_unknown_node_fails_at_submit(kernel: SagaDataFlowKernel, apps: Any) -> None:
    with pytest.raises(UnknownPinnedNodeError) as err:
        apps.pinned_task(parsl_resource_specification={"node": "node-x", "affinity": "hard"})
    message = str(err.value)
    assert "'node-x'" in message
    assert "['node-a', 'node-b', 'node-c']" in message


def test_finished_tasks_are_freed(kernel: SagaDataFlowKernel) -> None:
    """200 results of 1 MiB: once the caller drops its futures, they are gone (the records keep ids,
    nodes and times only)."""

    @python_app
    def mebibyte(i: int) -> bytes:
        return bytes(1 << 20)

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        futures = [mebibyte(i) for i in range(200)]
        tids = [f.tid for f in futures]
        assert all(len(f.result(timeout=240)) == 1 << 20 for f in futures)
        del futures
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 20 * (1 << 20), f"{(after - before) / (1 << 20):.1f} MiB still allocated"
    records = [kernel._records.get(t) for t in tids]
    assert all(r is not None and r.done and r.record is None for r in records)
    assert all(r is not None and r.actual is not None and r.output_bytes for r in records)


def test_memoization_hashes_what_the_caller_wrote(kernel: SagaDataFlowKernel, apps: Any) -> None:
    @python_app(cache=True)
    def cached_add(x: int, y: int, parsl_resource_specification: dict[str, Any] = {}) -> int:  # noqa: B006
        return x + y

    first = cached_add(20, 22)
    assert first.result(timeout=120) == 42
    second = cached_add(20, 22)
    assert second.result(timeout=120) == 42
    assert second.task_record["from_memo"] is True
    assert first.task_record["kwargs"]["parsl_resource_specification"] == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"node": 3}, "3"),
        ({"nod": "node-c"}, "'nod'"),
        ({"node": "node-c", "affinity": "medium"}, "'medium'"),
    ],
)
def test_a_malformed_pin_fails_at_the_call(
    kernel: SagaDataFlowKernel, apps: Any, spec: dict[str, Any], message: str
) -> None:
    """The executor's own validation, at submit (it used to pass silently or fail only at result())."""
    from parsl_affinity_htex.errors import AffinitySpecError

    with pytest.raises(AffinitySpecError, match=message):
        apps.pinned_task(parsl_resource_specification=spec)

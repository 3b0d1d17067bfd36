"""saga-dfk with the executor's data plane, on real pools (one real redis-server node store per virtual node).

A real SagaDataFlowKernel, the affinity interchange and one node-labelled pool per node, each with its own
node store. Bytes through the driver are counted at the interchange. Needs ``redis-server`` on PATH (CI
installs it); skips without.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from parsl_affinity_htex import AffinityHighThroughputExecutor, DataPlane, LocalVirtualClusterProvider
from saga_dfk import SagaDataFlowKernel

from .conftest import running_kernel

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="node stores need redis-server on PATH"),
]

NODES = {"node-a": 1, "node-b": 1}
BIG = 4 << 20


def make_data_apps() -> Any:
    """Apps built inside a function so Parsl serializes them by value."""
    from types import SimpleNamespace

    from parsl import python_app

    def produce(nbytes: int, seed: int, parsl_resource_specification: dict[str, Any] = {}) -> bytes:  # noqa: B006
        import random

        return random.Random(seed).randbytes(nbytes)

    def digest(*parts: bytes, seconds: float = 0.0, parsl_resource_specification: dict[str, Any] = {}) -> str:  # noqa: B006
        import hashlib
        import time

        time.sleep(seconds)
        h = hashlib.sha256()
        for part in parts:
            h.update(part)
        return h.hexdigest()

    def gate(seconds: float, parsl_resource_specification: dict[str, Any] = {}) -> bytes:  # noqa: B006
        import time

        time.sleep(seconds)
        return b""

    return SimpleNamespace(
        produce=python_app(produce, executors=["vc"]),
        digest=python_app(digest, executors=["vc"]),
        gate=python_app(gate, executors=["vc"]),
    )


def expected(nbytes: int, *seeds: int) -> str:
    import random

    h = hashlib.sha256()
    for seed in seeds:
        h.update(random.Random(seed).randbytes(nbytes))
    return h.hexdigest()


def on(node: str) -> dict[str, Any]:
    return {"node": node, "affinity": "hard"}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SagaDataFlowKernel]:
    with running_kernel(
        tmp_path_factory.mktemp("data-plane"),
        NODES,
        executor_options={"data_plane": DataPlane(threshold_bytes=64 * 1024, fetch_timeout=5.0)},
    ) as dfk:
        yield dfk


@pytest.fixture(scope="module")
def apps() -> Any:
    return make_data_apps()


def executor(dfk: SagaDataFlowKernel) -> AffinityHighThroughputExecutor:
    ex = dfk.executors["vc"]
    assert isinstance(ex, AffinityHighThroughputExecutor)
    return ex


def from_pools(dfk: SagaDataFlowKernel) -> int:
    return executor(dfk).affinity_stats().bytes_from_pools


def test_results_stay_on_their_nodes_and_the_report_says_how_each_edge_moved(
    kernel: SagaDataFlowKernel, apps: Any
) -> None:
    before = from_pools(kernel)
    a = apps.produce(BIG, 1, parsl_resource_specification=on("node-a"))
    b = apps.produce(BIG, 2, parsl_resource_specification=on("node-b"))
    both = apps.digest(a, b, parsl_resource_specification=on("node-a"))
    assert both.result(timeout=120) == expected(BIG, 1, 2)
    assert from_pools(kernel) - before < 64 * 1024, "no result bytes came through the driver"
    edges = {(e["parent"], e["child"]): e for e in kernel.run_report()["data_movement"]["edges"]}
    local, peer = edges[(a.tid, both.tid)], edges[(b.tid, both.tid)]
    assert local["via"] == "local" and local["bytes"] >= BIG and local["seconds"] >= 0
    assert peer["via"] == "peer" and peer["bytes"] >= BIG and peer["seconds"] > 0


def test_result_gives_the_plain_value_fetched_when_asked(kernel: SagaDataFlowKernel, apps: Any) -> None:
    before = from_pools(kernel)
    a = apps.produce(BIG, 3, parsl_resource_specification=on("node-b"))
    value = a.result(timeout=120)
    # type(), not isinstance(): a proxy passes isinstance() for its value's class; hashlib needs the object
    assert type(value) is bytes  # noqa: E721
    assert hashlib.sha256(value).hexdigest() == expected(BIG, 3)
    assert from_pools(kernel) - before < 64 * 1024, "the driver fetched it from the node store"


def test_small_results_travel_through_the_driver_as_before(kernel: SagaDataFlowKernel, apps: Any) -> None:
    a = apps.produce(100, 4, parsl_resource_specification=on("node-a"))
    child = apps.digest(a, parsl_resource_specification=on("node-b"))
    assert child.result(timeout=120) == expected(100, 4)
    edges = {(e["parent"], e["child"]): e for e in kernel.run_report()["data_movement"]["edges"]}
    assert edges[(a.tid, child.tid)]["via"] == "driver"


def test_a_result_lost_with_its_node_is_made_again_for_its_children(
    kernel: SagaDataFlowKernel, apps: Any
) -> None:
    """Runs last in this module: node-a's pool and store are killed."""
    parent = apps.produce(BIG, 5, parsl_resource_specification=on("node-a"))
    # the children wait for the gate too, so node-a is gone before they fetch the parent's result
    gate = apps.gate(8.0, parsl_resource_specification=on("node-b"))
    child = apps.digest(parent, gate, parsl_resource_specification=on("node-b"))
    grandchild = apps.digest(parent, parent, gate, parsl_resource_specification=on("node-b"))
    assert parent.exception(timeout=120) is None  # made and stored on node-a
    provider = executor(kernel).provider
    assert isinstance(provider, LocalVirtualClusterProvider)
    provider.kill_node("node-a")
    assert child.result(timeout=180) == expected(BIG, 5)
    assert grandchild.result(timeout=180) == expected(BIG, 5, 5)
    report = kernel.run_report()
    row = next(t for t in report["tasks"] if t["id"] == child.tid)
    assert row["outcome"] == "done"
    reasons = " ".join(str(r.get("reason")) for r in report["rounds"])
    assert f"task {child.tid}: an argument was made again" in reasons, reasons
    # the producer's row says where its result was made again (never on the node that lost it), and the
    # child's edge is the fetch of that copy
    producer = next(t for t in report["tasks"] if t["id"] == parent.tid)
    [remade] = producer["replanned"]
    assert remade["from"] == "node-a" and remade["to"] == "node-b", remade
    assert parent.tid in report["replanned_tasks"]
    edge = next(
        e for e in report["data_movement"]["edges"] if (e["parent"], e["child"]) == (parent.tid, child.tid)
    )
    assert edge["via"] == "local" and edge["bytes"] >= BIG, edge
    [fetch] = [f for f in row["actual"]["inputs"] if f["nbytes"] >= BIG]
    assert "node-a@" not in fetch["store"], f"fetched from the remade copy, not the lost node: {fetch}"

"""The data plane on real pools: results stay in their node's store (one real redis-server per virtual node).

A plain Parsl DFK, the affinity interchange and one node-labelled pool per node, each pool with its own node
store started by ``--start-node-store``. Bytes through the driver are counted at the interchange
(``affinity_stats().bytes_from_pools``). Needs ``redis-server`` on PATH (CI installs it); skips without.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from parsl import python_app

from parsl_affinity_htex import DataPlane, LocalVirtualCluster
from parsl_affinity_htex.errors import InvalidClusterSpecError, InvalidDataPlaneError, StoredResultLost
from repo_support.waiting import wait_until

from .conftest import RunningCluster, running_cluster

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="node stores need redis-server on PATH"),
]

BIG = 8 << 20  # 8 MiB
NODES = {"node-a": 1, "node-b": 1}


@python_app
def produce(nbytes: int, seed: int, parsl_resource_specification: dict[str, Any] | None = None) -> bytes:
    import random

    return random.Random(seed).randbytes(nbytes)


@python_app
def digest(data: bytes, parsl_resource_specification: dict[str, Any] | None = None) -> tuple[int, str]:
    import hashlib

    return len(data), hashlib.sha256(data).hexdigest()


def on(node: str) -> dict[str, Any]:
    return {"node": node, "affinity": "hard"}


def record(app_future: Any) -> Any:
    # the launch thread stores the executor future after submit returns: a fast task can finish first
    wait_until(lambda: app_future.task_record["exec_fu"] is not None, 30, "the task's executor future")
    return app_future.task_record["exec_fu"].run_record


def expected_digest(nbytes: int, seed: int) -> tuple[int, str]:
    import random

    data = random.Random(seed).randbytes(nbytes)
    return len(data), hashlib.sha256(data).hexdigest()


def store_keys(cluster: RunningCluster) -> dict[str, int]:
    """Keys held by each node's store, asked of the stores the pools advertised at registration."""
    sizes = {}
    for name, node in cluster.executor.connected_nodes().items():
        for address in node.stores:
            host, port = address.rsplit(":", 1)
            client = redis.StrictRedis(host=host, port=int(port), socket_timeout=5)
            sizes[f"{name}@{address}"] = int(client.dbsize())
            client.close()
    return sizes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    with running_cluster(
        tmp_path_factory.mktemp("data-plane"),
        NODES,
        encrypted=False,
        data_plane=DataPlane(threshold_bytes=64 * 1024, fetch_timeout=5.0),
    ) as running:
        yield running


def from_pools(cluster: RunningCluster) -> int:
    return cluster.executor.affinity_stats().bytes_from_pools


def test_a_result_held_at_shutdown_stays_readable_and_the_stores_are_emptied(tmp_path: Path) -> None:
    """Its own one-node cluster, before the module's (one DFK at a time)."""
    from proxystore.proxy import extract, is_resolved

    with running_cluster(tmp_path, {"node-a": 1}, encrypted=False, data_plane=DataPlane()) as running:
        held = produce(BIG, 5, parsl_resource_specification=on("node-a"))
        held.result(timeout=120)
        assert sum(store_keys(running).values()) == 1
        assert not is_resolved(held.result())
        stores = [a for n in running.executor.connected_nodes().values() for a in n.stores]
        running.dfk.cleanup()
        # the pool and its store are gone now; the value was fetched before they went
        assert hashlib.sha256(extract(held.result())).hexdigest() == expected_digest(BIG, 5)[1]
        assert running.executor._node_results is not None
        assert running.executor._node_results.evicted >= 1
    for address in stores:  # the store went with its pool (it may take a moment to exit)
        host, port = address.rsplit(":", 1)
        client = redis.StrictRedis(host=host, port=int(port), socket_connect_timeout=2)

        def gone(client: redis.StrictRedis = client) -> bool:
            try:
                client.ping()
            except redis.ConnectionError:
                return True
            return False

        wait_until(gone, 30, f"the node store at {address} to stop")


def test_every_node_advertises_its_own_store(cluster: RunningCluster) -> None:
    nodes = cluster.executor.connected_nodes()
    stores = {name: node.stores for name, node in nodes.items()}
    assert all(len(s) == 1 for s in stores.values()), stores
    assert len({s[0] for s in stores.values()}) == len(NODES), f"each node has a store of its own: {stores}"


def test_parent_and_child_on_one_node_move_no_result_bytes_through_the_driver(
    cluster: RunningCluster,
) -> None:
    before = from_pools(cluster)
    parent = produce(BIG, 1, parsl_resource_specification=on("node-a"))
    child = digest(parent, parsl_resource_specification=on("node-a"))
    assert child.result(timeout=120) == expected_digest(BIG, 1)
    moved = from_pools(cluster) - before
    # plain HTEx would have sent the 8 MiB result up to the driver (and back down to the child)
    assert moved < 64 * 1024, f"{moved} bytes came through the interchange for an 8 MiB result"
    produced, consumed = record(parent), record(child)
    assert produced.output_store is not None and "node-a@" in produced.output_store
    assert produced.output_bytes >= BIG
    [fetch] = consumed.inputs
    assert fetch.local and fetch.store == produced.output_store and fetch.key == produced.output_key
    assert fetch.nbytes == produced.output_bytes


def test_a_child_on_another_node_fetches_from_the_producers_store(cluster: RunningCluster) -> None:
    before = from_pools(cluster)
    parent = produce(BIG, 2, parsl_resource_specification=on("node-a"))
    child = digest(parent, parsl_resource_specification=on("node-b"))
    assert child.result(timeout=120) == expected_digest(BIG, 2)
    assert from_pools(cluster) - before < 64 * 1024
    [fetch] = record(child).inputs
    assert not fetch.local
    assert "node-a@" in fetch.store and fetch.store == record(parent).output_store
    assert fetch.nbytes >= BIG and fetch.seconds > 0


def test_the_driver_reads_a_stored_result_only_when_the_caller_uses_it(cluster: RunningCluster) -> None:
    from proxystore.proxy import extract, is_resolved

    before = from_pools(cluster)
    parent = produce(BIG, 3, parsl_resource_specification=on("node-b"))
    value = parent.result(timeout=120)
    assert not is_resolved(value), "result() alone must not fetch the bytes"
    assert len(value) == BIG  # using it fetches the bytes
    assert hashlib.sha256(extract(value)).hexdigest() == expected_digest(BIG, 3)[1]
    assert is_resolved(value)
    assert (
        from_pools(cluster) - before < 64 * 1024
    ), "the driver fetched from the node store, not via the pools"


def test_small_results_still_travel_through_the_driver_and_are_counted_there(cluster: RunningCluster) -> None:
    before = cluster.executor.affinity_stats()
    small = produce(60_000, 4, parsl_resource_specification=on("node-a"))  # below the 64 KiB threshold
    child = digest(small, parsl_resource_specification=on("node-b"))
    assert child.result(timeout=120) == expected_digest(60_000, 4)
    assert record(small).output_store is None and record(child).inputs == ()
    after = cluster.executor.affinity_stats()
    # up from node-a, then down to node-b inside the child's task: the counters see both trips
    assert after.bytes_from_pools - before.bytes_from_pools >= 60_000
    assert after.bytes_to_pools - before.bytes_to_pools >= 60_000


def test_a_stored_result_is_evicted_once_nothing_holds_it(
    cluster: RunningCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # pytest keeps every captured log record for its report, and Parsl's debug records carry the task's
    # futures as arguments: that would hold the results here (a program's own logging formats and drops them)
    caplog.set_level(logging.INFO, logger="parsl")
    parents = [produce(BIG // 4, 10 + i, parsl_resource_specification=on("node-a")) for i in range(3)]
    children = [digest(p, parsl_resource_specification=on("node-b")) for p in parents]
    sizes = [c.result(timeout=120)[0] for c in children]
    assert sizes == [BIG // 4] * 3
    keys = [record(p).output_key for p in parents]
    [address] = cluster.executor.connected_nodes()["node-a"].stores
    host, port = address.rsplit(":", 1)
    node_a = redis.StrictRedis(host=host, port=int(port), socket_timeout=5)
    assert node_a.exists(*keys) == 3, "results are kept while their futures are held"
    del parents, children
    # upstream HTEx's result thread holds the last future it completed until the next result arrives
    assert produce(10, 0, parsl_resource_specification=on("node-b")).result(timeout=60)
    gc.collect()
    wait_until(lambda: node_a.exists(*keys) == 0, 30, "the three results to be evicted")
    node_a.close()


def test_a_child_of_a_result_whose_node_is_lost_fails_with_stored_result_lost(
    cluster: RunningCluster,
) -> None:
    """Runs last in this module: it kills node-a's pool and store."""
    parent = produce(BIG, 6, parsl_resource_specification=on("node-a"))
    parent.result(timeout=120)  # produced and stored on node-a
    cluster.provider.kill_node("node-a")
    wait_until(lambda: "node-a" not in cluster.executor.connected_nodes(), 60, "node-a to be lost")
    child = digest(parent, parsl_resource_specification=on("node-b"))
    error = child.exception(timeout=60)
    assert isinstance(error, StoredResultLost), repr(error)
    assert error.producer_node == "node-a" and error.key == record(parent).output_key


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"threshold_bytes": 0}, "threshold_bytes"),
        ({"threshold_bytes": "1MB"}, "threshold_bytes"),
        ({"fetch_timeout": 0}, "fetch_timeout"),
        ({"fetch_timeout": float("inf")}, "fetch_timeout"),
    ],
)
def test_bad_data_plane_settings_are_named(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidDataPlaneError, match=named):
        DataPlane(**kwargs)


def test_data_plane_must_be_a_data_plane() -> None:
    with pytest.raises(TypeError, match="DataPlane"):
        LocalVirtualCluster({"n": 1}).executor(data_plane={"threshold_bytes": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidClusterSpecError, match="node_stores"):
        LocalVirtualCluster({"n": 1}).provider(node_stores="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("address", ["nohost", "host:", ":6379", "host:0", "host:70000", "host:port"])
def test_a_bad_store_address_is_named(address: str) -> None:
    from parsl_affinity_htex._node_store import parse_store_address

    with pytest.raises(InvalidDataPlaneError, match="host:port"):
        parse_store_address(address)


def test_a_node_store_that_never_answers_is_named() -> None:
    from parsl_affinity_htex._node_store import wait_for_store

    with pytest.raises(InvalidDataPlaneError, match="127.0.0.1:1 did not answer"):
        wait_for_store("127.0.0.1:1", 0.5)


def test_each_stored_result_is_evicted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results fetched before their store stops are evicted then, and not a second time when their proxies
    are collected (a real redis-server; no pool). The count said 6 for these 3 results before."""
    from parsl.serialize import serialize

    from parsl_affinity_htex._node_store import (
        STORE_ENV_VAR,
        NodeResults,
        NodeStoreServer,
        node_store,
        put_result,
    )

    server = NodeStoreServer("127.0.0.1")
    results = NodeResults(fetch_timeout=5.0)
    try:
        monkeypatch.setenv(STORE_ENV_VAR, server.address)
        store = node_store()
        assert store is not None
        proxies = [put_result(store, serialize(i), int)[0] for i in range(3)]
        for proxy in proxies:
            results.track(proxy)
        client = redis.StrictRedis(host=server.host, port=server.port)
        assert client.dbsize() == 3
        results.fetch_held({server.address})
        assert client.dbsize() == 0
        assert [plain for plain in proxies] == [0, 1, 2]  # fetched: readable without the store
        del proxies
        gc.collect()
        results.close()
        assert results.evicted == 3
        assert results.live() == 0
    finally:
        results.close()
        server.stop()

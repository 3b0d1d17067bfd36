"""Every bad argument of LocalVirtualCluster / LocalVirtualClusterProvider raises InvalidClusterSpecError (a
ValueError) naming the bad value and what was expected, before any process starts."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from parsl_affinity_htex import LocalVirtualCluster, LocalVirtualClusterProvider
from parsl_affinity_htex.errors import InvalidClusterSpecError

BAD_NODES: list[tuple[Any, str]] = [
    ({}, "non-empty mapping of node name -> worker slots (e.g. {'node-a': 2}), got {}, which names no node"),
    ([], "must be a mapping of node name -> worker slots"),
    ("node-a=2", "got str 'node-a=2'"),
    (None, "got NoneType"),
    ({"": 1}, "non-empty string without whitespace, got ''"),
    ({"node a": 1}, "got 'node a'"),
    ({3: 1}, "got 3"),
    ({"node-a": 0}, "slots of node 'node-a' must be an integer >= 1, got 0"),
    ({"node-a": 1.5}, "got 1.5"),
    ({"node-a": True}, "got True"),
    ({"node-a": "2"}, "got '2'"),
]

MAKERS: dict[str, Callable[[Any], object]] = {
    "LocalVirtualCluster": LocalVirtualCluster,
    "LocalVirtualClusterProvider": LocalVirtualClusterProvider,
}


@pytest.mark.parametrize("maker", sorted(MAKERS))
@pytest.mark.parametrize(("nodes", "needle"), BAD_NODES)
def test_bad_nodes(maker: str, nodes: Any, needle: str) -> None:
    with pytest.raises(InvalidClusterSpecError) as caught:
        MAKERS[maker](nodes)
    assert isinstance(caught.value, ValueError)
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"init_blocks": 2}, "init_blocks is fixed by LocalVirtualClusterProvider (one block per node)"),
        ({"min_blocks": 0}, "min_blocks=0"),
        ({"max_blocks": 9}, "max_blocks=9"),
        ({"nodes_per_block": 2}, "nodes_per_block=2"),
        ({"worker_int": "x"}, "unknown provider option(s) ['worker_int']"),
    ],
)
def test_bad_provider_options(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidClusterSpecError) as caught:
        LocalVirtualClusterProvider({"node-a": 1}, **options)
    assert needle in str(caught.value)
    with pytest.raises(InvalidClusterSpecError):
        LocalVirtualCluster({"node-a": 1}).provider(**options)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"label": ""}, "label must be a non-empty string, got ''"),
        ({"label": 7}, "got 7"),
        ({"provider": object()}, "makes its own provider; pass provider_options"),
        ({"provider_options": ["x"]}, "provider_options must be a mapping"),
        ({"provider_options": {"init_blocks": 1}}, "init_blocks is fixed"),
        ({"provider_options": {"nope": 1}}, "unknown provider option(s) ['nope']"),
    ],
)
def test_bad_executor_arguments(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidClusterSpecError) as caught:
        LocalVirtualCluster({"node-a": 1}).executor(**kwargs)
    assert needle in str(caught.value)


def test_unknown_node_and_bad_signal() -> None:
    provider = LocalVirtualClusterProvider({"node-a": 1, "node-b": 2})
    with pytest.raises(InvalidClusterSpecError, match=r"unknown virtual node 'node-z'; expected one of"):
        provider.jobs_of("node-z")
    with pytest.raises(InvalidClusterSpecError, match="unknown virtual node 'node-z'"):
        provider.kill_node("node-z")
    with pytest.raises(InvalidClusterSpecError, match="sig must be a signal number"):
        provider.kill_node("node-a", sig=-3)
    with pytest.raises(InvalidClusterSpecError, match="got 'KILL'"):
        provider.kill_node("node-a", sig="KILL")  # type: ignore[arg-type]
    with pytest.raises(ProcessLookupError):  # a valid call: the node just has no running pool
        provider.kill_node("node-a", sig=signal.SIGTERM)


def test_good_arguments_are_kept() -> None:
    cluster = LocalVirtualCluster({"node-a": 2, "node-b": 1})
    assert cluster.nodes == {"node-a": 2, "node-b": 1}
    provider = cluster.provider(worker_init="true")
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks) == (2, 2, 2)


def test_node_stores_without_redis_server_fail_when_the_cluster_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pools run on this machine: a missing redis-server is said at once, not as pools that never start."""
    from parsl_affinity_htex import DataPlane
    from parsl_affinity_htex.errors import InvalidDataPlaneError

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no redis-server
    with pytest.raises(InvalidDataPlaneError, match="redis-server on PATH"):
        LocalVirtualCluster({"n": 1}).executor(data_plane=DataPlane())

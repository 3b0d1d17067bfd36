"""``set_network``: the next rounds plan on a network measured after the pools started (real pools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import saga_graphs
from saga_graphs.errors import GraphValidationError

from .conftest import make_apps, start_kernel, stop_kernel

pytestmark = pytest.mark.timeout(300)


def test_the_next_round_plans_on_the_network_set_after_load(tmp_path: Path) -> None:
    dfk, provider = start_kernel(tmp_path, {"node-a": 1, "node-b": 1})
    try:
        apps: Any = make_apps()
        with pytest.raises(GraphValidationError):
            dfk.set_network({"nodes": [{"name": "node-a", "slots": 0}]})
        with pytest.raises(GraphValidationError, match="no link or route"):  # as a round would find it
            dfk.set_network({"nodes": [{"name": "node-a"}, {"name": "node-b"}]})
        # measured, say: node-a is ten times slower than node-b
        network = saga_graphs.Network.from_spec(
            {
                "nodes": [
                    {"name": "node-a", "slots": 1, "speed": 0.1},
                    {"name": "node-b", "slots": 1, "speed": 1.0},
                ],
                "default_bandwidth": 1e9,
            }
        )
        dfk.set_network(network)
        assert dfk.saga_config.network == network.to_spec()
        futures = [apps.node_task(seconds=0.0) for _ in range(2)]
        assert [f.result(timeout=120)[0] for f in futures] == ["node-b", "node-b"]
        assert {dfk.saga_assignments[f.tid].node for f in futures} == {"node-b"}
    finally:
        stop_kernel(dfk, provider)

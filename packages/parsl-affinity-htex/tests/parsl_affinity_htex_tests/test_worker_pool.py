"""The node-aware worker pool: node-name resolution order and its command line."""

from __future__ import annotations

import platform

import pytest

from parsl_affinity_htex import current_node
from parsl_affinity_htex.errors import NotOnAffinityWorker
from parsl_affinity_htex.worker_pool import NodeAwareManager, get_arg_parser, resolve_node_name


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        ("cli-node", {"PARSL_NODE_NAME": "parsl-node", "NODE_NAME": "k8s-node"}, "cli-node"),
        (None, {"PARSL_NODE_NAME": "parsl-node", "NODE_NAME": "k8s-node"}, "parsl-node"),
        (None, {"NODE_NAME": "k8s-node", "KUBERNETES_SERVICE_HOST": "10.96.0.1"}, "k8s-node"),
        (
            "",
            {"PARSL_NODE_NAME": " ", "NODE_NAME": "k8s-node", "KUBERNETES_SERVICE_HOST": "10.96.0.1"},
            "k8s-node",
        ),
        # outside Kubernetes NODE_NAME is somebody else's variable (CI runners set it): not a node name
        (None, {"NODE_NAME": "ci-runner-7"}, platform.node()),
        (None, {}, platform.node()),
    ],
)
def test_node_name_resolution_order(cli: str | None, env: dict[str, str], expected: str) -> None:
    assert resolve_node_name(cli, env) == expected


def test_arg_parser_is_upstreams_plus_node_name() -> None:
    args = get_arg_parser().parse_args(
        [
            "-a",
            "127.0.0.1",
            "--port",
            "5",
            "--cert_dir",
            "None",
            "--cpu-affinity",
            "none",
            "--node-name",
            "n7",
        ]
    )
    assert args.node_name == "n7"
    assert args.addresses == "127.0.0.1"


def test_registration_message_carries_the_node_name() -> None:
    # create_reg_message needs only these attributes; build the manager without connecting anywhere.
    manager = NodeAwareManager.__new__(NodeAwareManager)
    manager.node_name, manager.node_store = "node-q", None
    manager.worker_count, manager.uid, manager.block_id = 3, "uid1", "0"
    manager.start_time, manager.drain_time, manager.prefetch_capacity = 0.0, float("inf"), 0
    msg = manager.create_reg_message()
    assert msg["node_name"] == "node-q"
    assert msg["type"] == "registration" and msg["max_capacity"] == 3
    assert "node_store" not in msg
    manager.node_store = "10.0.0.5:6379"
    assert manager.create_reg_message()["node_store"] == "10.0.0.5:6379"


def test_current_node_outside_a_task_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARSL_AFFINITY_HTEX_NODE", raising=False)
    with pytest.raises(NotOnAffinityWorker, match="inside a task"):
        current_node()
    monkeypatch.setenv("PARSL_AFFINITY_HTEX_NODE", "node-q")
    assert current_node() == "node-q"

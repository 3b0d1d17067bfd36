"""Submit-time validation of resource specifications and of executor / cluster arguments."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from parsl.executors.errors import InvalidResourceSpecification

from parsl_affinity_htex import (
    AffinityHighThroughputExecutor,
    LocalVirtualCluster,
    LocalVirtualClusterProvider,
)
from parsl_affinity_htex._spec import TaskAffinity, parse_resource_spec
from parsl_affinity_htex.errors import AffinitySpecError, NodeUnavailable


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, TaskAffinity(None, False, None)),
        (None, TaskAffinity(None, False, None)),
        ({"priority": 3}, TaskAffinity(None, False, 3)),
        ({"priority": -1.5}, TaskAffinity(None, False, -1.5)),
        ({"node": "n1"}, TaskAffinity("n1", False, None)),
        ({"_saga_node_affinity": "n1"}, TaskAffinity("n1", False, None)),
        ({"node": "n1", "_saga_node_affinity": "n1", "affinity": "hard"}, TaskAffinity("n1", True, None)),
        ({"node": "n1", "affinity": "soft", "priority": 2}, TaskAffinity("n1", False, 2)),
    ],
)
def test_valid_specs(spec: dict[str, Any] | None, expected: TaskAffinity) -> None:
    assert parse_resource_spec(spec) == expected


def test_default_affinity_applies_to_tagged_tasks_only() -> None:
    assert parse_resource_spec({"node": "n1"}, "hard").hard is True
    assert parse_resource_spec({"node": "n1", "affinity": "soft"}, "hard").hard is False
    assert parse_resource_spec({"priority": 1}, "hard").hard is False


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"priority": "high"}, "'priority' must be a number, got str: 'high'"),
        ({"priority": True}, "'priority' must be a number, got bool"),
        ({"priority": None}, "'priority' must be a number, got NoneType"),
        ({"priority": math.nan}, "NaN"),
        ({"node": 3}, "'node' must be a non-empty node name (str), got 3"),
        ({"node": "  "}, "'node' must be a non-empty node name"),
        ({"_saga_node_affinity": ["a"]}, "'_saga_node_affinity' must be a non-empty node name"),
        ({"node": "a", "_saga_node_affinity": "b"}, "name different nodes"),
        ({"node": "a", "affinity": "HARD"}, "'affinity' must be 'soft' or 'hard', got 'HARD'"),
        ({"affinity": "hard"}, "without a 'node'"),
        ({"cores": 2, "node": "a"}, "unknown resource specification key(s) ['cores']"),
    ],
)
def test_invalid_specs_name_the_bad_value(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(AffinitySpecError) as info:
        parse_resource_spec(spec)
    assert fragment in str(info.value)
    assert isinstance(info.value, InvalidResourceSpecification)  # upstream's handlers still catch it


def test_spec_is_not_mutated() -> None:
    spec = {"node": "n1", "affinity": "hard", "priority": 1}
    parse_resource_spec(spec)
    assert spec == {"node": "n1", "affinity": "hard", "priority": 1}


@given(st.one_of(st.integers(), st.floats(allow_nan=False)))
def test_any_real_priority_is_accepted(priority: float) -> None:
    assert parse_resource_spec({"priority": priority}).priority == priority


@given(st.one_of(st.text(), st.binary(), st.lists(st.integers()), st.none(), st.booleans()))
def test_non_numeric_priority_is_always_rejected(priority: object) -> None:
    with pytest.raises(AffinitySpecError, match="priority"):
        parse_resource_spec({"priority": priority})


def test_errors_survive_pickling_across_processes() -> None:
    err = pickle.loads(pickle.dumps(NodeUnavailable("node x is gone", node="x")))
    assert (type(err), str(err), err.node) == (NodeUnavailable, "node x is gone", "x")
    one_arg = NodeUnavailable("only a message")
    assert str(pickle.loads(pickle.dumps(one_arg))) == "only a message"
    spec_err = pickle.loads(pickle.dumps(AffinitySpecError("bad 'priority'", key="priority")))
    assert (str(spec_err), spec_err.key) == ("bad 'priority'", "priority")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"affinity_grace_period": -1}, "affinity_grace_period must be a finite number >= 0"),
        ({"affinity_grace_period": math.inf}, "affinity_grace_period"),
        ({"affinity_grace_period": "30"}, "got '30'"),
        ({"node_poll_period": 0}, "node_poll_period"),
        ({"watchdog_period": None}, "watchdog_period"),
    ],
)
def test_executor_rejects_bad_arguments(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        AffinityHighThroughputExecutor(**kwargs)


def test_executor_rejects_bad_default_affinity() -> None:
    with pytest.raises(AffinitySpecError, match="default_affinity must be 'soft' or 'hard', got 'firm'"):
        AffinityHighThroughputExecutor(default_affinity="firm")  # type: ignore[arg-type]


def test_executor_launches_children_with_python_dash_m() -> None:
    import sys

    from parsl_affinity_htex import child_pythonpath

    ex = AffinityHighThroughputExecutor(affinity_grace_period=7.5)
    assert list(ex.interchange_launch_cmd) == [
        "env",
        f"PYTHONPATH={child_pythonpath()}",
        sys.executable,
        "-m",
        "parsl_affinity_htex.interchange",
        "--grace-period",
        "7.5",
    ]
    assert f" {sys.executable} -m parsl_affinity_htex.worker_pool " in ex.launch_cmd
    assert ex.launch_cmd.startswith("env PYTHONPATH=")  # upstream's default provider: a LocalProvider
    assert "{block_id}" in ex.launch_cmd  # still upstream's template
    assert ex.encrypted is True


@pytest.mark.parametrize(
    ("nodes", "fragment"),
    [
        ({}, "non-empty mapping"),
        ({"a": 0}, "slots of node 'a' must be an integer >= 1, got 0"),
        ({"a": 1.5}, "got 1.5"),
        ({"a": True}, "got True"),
        ({"": 1}, "node name must be a non-empty string"),
        ({"a b": 1}, "without whitespace, got 'a b'"),
    ],
)
def test_virtual_cluster_rejects_bad_nodes(nodes: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        LocalVirtualCluster(nodes)


def test_virtual_cluster_executor_has_one_block_per_node() -> None:
    ex = LocalVirtualCluster({"node-a": 2, "node-b": 3, "node-c": 1}).executor(label="x", encrypted=True)
    provider = ex.provider
    assert isinstance(provider, LocalVirtualClusterProvider)
    assert (provider.init_blocks, provider.min_blocks, provider.max_blocks) == (3, 3, 3)
    assert ex.address == "127.0.0.1"
    assert ex.max_workers_per_node == 3
    with pytest.raises(ValueError, match="makes its own provider"):
        LocalVirtualCluster({"a": 1}).executor(provider=provider)
    with pytest.raises(ValueError, match="max_blocks is fixed"):
        LocalVirtualCluster({"a": 1}).provider(max_blocks=4)

"""``AffinityHighThroughputExecutor.expected_nodes()``: which nodes a planner should wait for before its first plan.

Only the provider is asked, so nothing here starts an interchange or a pool.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from typing import Any

import pytest
from parsl.launchers import SrunLauncher
from parsl.providers import LocalProvider, SlurmProvider
from parsl.providers.base import ExecutionProvider

from parsl_affinity_htex import AffinityHighThroughputExecutor, ExpectedNodes, LocalVirtualCluster
from parsl_affinity_htex._node_name import resolve_node_name

NODES = {"node-a": 2, "node-b": 2, "node-c": 1}


@pytest.fixture(autouse=True)
def _no_node_name_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool on this machine would register under the hostname (what these tests expect, unless they set
    PARSL_NODE_NAME themselves)."""
    for name in ("PARSL_NODE_NAME", "NODE_NAME", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)


class BatchLike(ExecutionProvider):
    """The block settings of a batch provider, nothing else: expected_nodes() must not call anything."""

    def __init__(self, init_blocks: int, min_blocks: int, nodes_per_block: int) -> None:
        super().__init__()
        self.init_blocks = init_blocks
        self.min_blocks = min_blocks
        self.max_blocks = max(init_blocks, min_blocks)
        self.nodes_per_block = nodes_per_block

    def submit(self, command: str, tasks_per_node: int, job_name: str = "parsl.auto") -> object:
        raise AssertionError("expected_nodes() must not start blocks")

    def status(self, job_ids: Sequence[object]) -> list[Any]:
        raise AssertionError("expected_nodes() must not poll jobs")

    def cancel(self, job_ids: Sequence[object]) -> list[bool]:
        raise AssertionError("expected_nodes() must not cancel jobs")

    @property
    def status_polling_interval(self) -> int:
        return 60

    @property
    def label(self) -> str:
        return "batch-like"


class Naming(BatchLike):
    """A provider that knows its nodes by name (like k8s-topology's PinnedKubernetesProvider)."""

    def __init__(self, names: Any) -> None:
        super().__init__(init_blocks=1, min_blocks=0, nodes_per_block=1)
        self.names = names

    def expected_node_names(self) -> Any:
        return self.names


# ----- the value type ------------------------------------------------------------------------------------------
def test_expected_nodes_keeps_names_as_a_frozenset_and_counts_the_unnamed() -> None:
    expected = ExpectedNodes(names=["node-b", "node-a", "node-a"], count=4)  # type: ignore[arg-type]
    assert expected.names == frozenset({"node-a", "node-b"}) and expected.count == 4
    assert expected.unnamed == 2
    assert ExpectedNodes(frozenset(), 0).unnamed == 0
    with pytest.raises(AttributeError):
        expected.count = 5  # type: ignore[misc]


def test_is_met_by_wants_every_named_node_and_the_count() -> None:
    expected = ExpectedNodes(frozenset({"node-a"}), 2)
    assert not expected.is_met_by(["node-a"])
    assert not expected.is_met_by(["node-b", "node-c"])  # two nodes, but not the named one
    assert expected.is_met_by({"node-a": object(), "node-x": object()})  # e.g. connected_nodes()
    assert ExpectedNodes(frozenset(), 0).is_met_by([])


@pytest.mark.parametrize(
    ("names", "count", "error", "fragment"),
    [
        ("node-a", 1, TypeError, "names must be a collection of node names .*got str 'node-a'"),
        (None, 0, TypeError, "got NoneType None"),
        ({"node-a", 7}, 2, TypeError, "node names must be strings, got int 7"),
        ({""}, 1, ValueError, "non-empty without surrounding whitespace, got ''"),
        ({" node-a"}, 1, ValueError, "got ' node-a'"),
        ({"node-a"}, True, TypeError, "count must be an int .*got bool True"),
        ({"node-a"}, 1.0, TypeError, "got float 1.0"),
        ({"node-a", "node-b"}, 1, ValueError, r"count = 1 is less than the 2 named node\(s\)"),
        (frozenset(), -1, ValueError, "count = -1 is less than the 0 named"),
    ],
)
def test_expected_nodes_rejects_bad_values_naming_them(
    names: Any, count: Any, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        ExpectedNodes(names=names, count=count)


# ----- what executors expect -----------------------------------------------------------------------------------
def test_a_virtual_cluster_expects_every_virtual_node() -> None:
    executor = LocalVirtualCluster(NODES).executor(label="vc")
    assert executor.expected_nodes() == ExpectedNodes(frozenset(NODES), 3)
    assert executor.interchange_proc is None  # asked of the provider only: nothing was started


def test_a_local_provider_expects_this_machine_under_the_name_its_pools_register_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parsl_affinity_htex import worker_pool

    assert worker_pool.resolve_node_name is resolve_node_name  # one rule, for the pool and the prediction
    executor = AffinityHighThroughputExecutor(label="local", provider=LocalProvider(init_blocks=2))
    assert executor.expected_nodes() == ExpectedNodes(frozenset({platform.node()}), 1)
    monkeypatch.setenv("PARSL_NODE_NAME", "laptop")  # the pools inherit this process's environment
    assert executor.expected_nodes() == ExpectedNodes(frozenset({"laptop"}), 1)
    named = AffinityHighThroughputExecutor(
        label="named",
        launch_cmd="python -m parsl_affinity_htex.worker_pool --block_id={block_id} --node-name box-1",
    )
    assert named.expected_nodes() == ExpectedNodes(frozenset({"box-1"}), 1)
    assert (
        AffinityHighThroughputExecutor(label="default").expected_nodes().count == 1
    )  # upstream's LocalProvider


def test_no_block_up_front_expects_nothing() -> None:
    """Blocks then start only on demand, for tasks a planner that waits would never release."""
    idle_local = AffinityHighThroughputExecutor(
        label="l0", provider=LocalProvider(init_blocks=0, min_blocks=0)
    )
    assert idle_local.expected_nodes() == ExpectedNodes(frozenset(), 0)
    idle_batch = AffinityHighThroughputExecutor(label="b0", provider=BatchLike(0, 0, 4))
    assert idle_batch.expected_nodes() == ExpectedNodes(frozenset(), 0)


def test_a_batch_provider_expects_its_first_blocks_nodes_unnamed() -> None:
    slurm = SlurmProvider(nodes_per_block=4, init_blocks=2, min_blocks=1)  # constructed, never run
    assert AffinityHighThroughputExecutor(label="slurm", provider=slurm).expected_nodes() == ExpectedNodes(
        frozenset(), 8
    )
    kept = AffinityHighThroughputExecutor(
        label="min", provider=BatchLike(init_blocks=1, min_blocks=3, nodes_per_block=2)
    )
    assert kept.expected_nodes() == ExpectedNodes(frozenset(), 6)  # the strategy keeps min_blocks
    srun = LocalProvider(nodes_per_block=3, launcher=SrunLauncher())  # inside an allocation: other nodes
    assert AffinityHighThroughputExecutor(label="srun", provider=srun).expected_nodes() == ExpectedNodes(
        frozenset(), 3
    )


def test_a_provider_that_names_its_nodes_is_taken_at_its_word() -> None:
    executor = AffinityHighThroughputExecutor(label="k8s-like", provider=Naming(["w1", "w2", "w2"]))
    assert executor.expected_nodes() == ExpectedNodes(frozenset({"w1", "w2"}), 2)


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        ("w1", r"Naming.expected_node_names\(\) must be a collection of node names .*got str 'w1'"),
        (["w1", None], r"Naming.expected_node_names\(\): node names must be strings, got NoneType None"),
    ],
)
def test_a_bad_answer_from_the_provider_names_the_provider(names: Any, fragment: str) -> None:
    executor = AffinityHighThroughputExecutor(label="bad", provider=Naming(names))
    with pytest.raises(TypeError, match=fragment):
        executor.expected_nodes()


def test_allowed_nodes_narrow_named_nodes_and_warn_about_the_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    executor = LocalVirtualCluster(NODES).executor(label="vc", allowed_nodes=["node-a", "node-c", "node-x"])
    with caplog.at_level(logging.WARNING, logger="parsl_affinity_htex"):
        assert executor.expected_nodes() == ExpectedNodes(frozenset({"node-a", "node-c"}), 2)
    (warning,) = (r for r in caplog.records if r.getMessage().startswith("expected_nodes.not_allowed"))
    assert warning.args == {
        "label": "vc",
        "source": "provider",
        "refused": ["node-b"],
        "allowed": ["node-a", "node-c", "node-x"],
    }
    elsewhere = AffinityHighThroughputExecutor(label="local", allowed_nodes={"far-away": 1})
    assert elsewhere.expected_nodes() == ExpectedNodes(frozenset(), 0)  # this machine's pool would be refused


def test_allowed_nodes_name_the_unnamed_nodes_when_there_are_enough_of_them() -> None:
    allowed = ["cn-1", "cn-2", "cn-3"]
    enough = AffinityHighThroughputExecutor(label="many", provider=BatchLike(4, 0, 1), allowed_nodes=allowed)
    assert enough.expected_nodes() == ExpectedNodes(frozenset(allowed), 3)  # a 4th node would be refused
    exact = AffinityHighThroughputExecutor(label="exact", provider=BatchLike(3, 0, 1), allowed_nodes=allowed)
    assert exact.expected_nodes() == ExpectedNodes(frozenset(allowed), 3)
    # Two blocks land on two of the three listed nodes, which two is the batch system's choice.
    fewer = AffinityHighThroughputExecutor(label="few", provider=BatchLike(2, 0, 1), allowed_nodes=allowed)
    assert fewer.expected_nodes() == ExpectedNodes(frozenset(), 2)

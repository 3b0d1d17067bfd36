"""The public API is exactly __all__ (upstream Parsl is checked in test_upstream.py); the errors live in
one namespace, saga_dfk.errors, whose surface is its __all__."""

from __future__ import annotations

from pathlib import Path

import saga_dfk
from repo_support.surface import assert_errors_namespace, assert_errors_pickle_under_one_base
from repo_support.versions import assert_version_matches
from saga_dfk import errors

ERRORS = {
    "EmptyTopologyError",
    "InvalidReportError",
    "InvalidSagaConfigError",
    "InvalidTaskHintError",
    "NoPlannableExecutorError",
    "PlanningCancelledError",
    "SagaDfkError",
    "UnknownPinnedNodeError",
}


def test_public_api_is_all() -> None:
    public = {name for name in dir(saga_dfk) if not name.startswith("_")}
    assert public == set(saga_dfk.__all__)
    assert sorted(saga_dfk.__all__) == saga_dfk.__all__
    assert not ERRORS & set(saga_dfk.__all__), "errors are under saga_dfk.errors"
    assert "ActualRun" not in public, "a task's run is the executor's parsl_affinity_htex.RunRecord"


def test_errors_namespace_equals_its_all() -> None:
    assert_errors_namespace(saga_dfk, errors, ERRORS)


def test_errors_share_one_base_and_pickle() -> None:
    """Planning errors reach task futures, which Parsl may pickle."""
    assert_errors_pickle_under_one_base(errors, errors.SagaDfkError)
    assert issubclass(errors.InvalidSagaConfigError, ValueError)
    assert issubclass(errors.InvalidReportError, ValueError)


def test_errors_live_in_the_errors_namespace_only() -> None:
    """One place for the typed errors: ``saga_dfk.errors`` (they are not top-level names too)."""
    assert not hasattr(saga_dfk, "EmptyTopologyError")


def test_version_is_the_installed_metadata_or_the_build_files(tmp_path: Path) -> None:
    assert_version_matches(saga_dfk, "saga-dfk", Path(__file__).resolve().parents[2] / "BUILD", tmp_path)


def test_the_affinity_executor_satisfies_the_executor_protocols() -> None:
    """parsl-affinity-htex never imports saga-dfk; it has what saga-dfk needs by shape alone."""
    from parsl_affinity_htex import LocalVirtualCluster

    executor = LocalVirtualCluster({"node-a": 1}).executor(encrypted=False)
    assert isinstance(executor, saga_dfk.ReportsConnectedNodes)
    assert isinstance(executor, saga_dfk.ReportsNodeChanges)
    assert isinstance(executor, saga_dfk.AnnouncesExpectedNodes)
    expected = executor.expected_nodes()
    assert expected.names == frozenset({"node-a"}) and expected.count == 1

"""The public API is exactly __all__ (nothing private leaks, nothing listed is missing); the errors
live in one namespace, saga_graphs.errors."""

from pathlib import Path

import saga_graphs
from repo_support.surface import assert_errors_namespace, assert_errors_pickle_under_one_base
from repo_support.versions import assert_version_matches
from saga_graphs import errors

#: What a user calls or annotates with; errors are under saga_graphs.errors.
PUBLIC = {
    "TaskGraph", "Network", "Node", "NetworkSpec", "NodeSpec", "LinkSpec", "DEFAULT_BANDWIDTH",
    "Schedule", "Placement", "plan", "available_schedulers", "lower_bound",
    "CostModel", "UniformCostModel", "DeclaredCostModel", "LearnedCostModel", "gantt_html", "gantt_png",
    "TaskRun", "span", "errors",
}  # fmt: skip

ERRORS = {
    "SagaGraphsError", "GraphValidationError", "CycleError", "UnknownTaskError", "UnknownNodeError",
    "DuplicateNameError", "ReservedNameError", "InvalidCostError", "InvalidSizeError", "InvalidSpeedError",
    "InvalidBandwidthError", "EmptyNetworkError", "DisconnectedNetworkError", "UnknownSchedulerError",
    "SchedulerTimeoutError", "SchedulerFailedError", "InvalidScheduleError",
}  # fmt: skip


def test_public_names_equal_all() -> None:
    public = {n for n in dir(saga_graphs) if not n.startswith("_")}
    assert public == set(saga_graphs.__all__) == PUBLIC


def test_errors_namespace_equals_its_all() -> None:
    assert_errors_namespace(saga_graphs, errors, ERRORS)


def test_errors_are_value_errors_under_one_base_and_pickle() -> None:
    assert_errors_pickle_under_one_base(errors, errors.SagaGraphsError)
    for cls in (getattr(errors, name) for name in errors.__all__):
        assert issubclass(cls, ValueError), cls
        assert cls.__module__ == "saga_graphs.errors", cls  # what tracebacks and pickles show


def test_errors_live_in_the_errors_namespace_only() -> None:
    """One place for the typed errors: ``saga_graphs.errors`` (they are not top-level names too)."""
    assert not hasattr(saga_graphs, "CycleError")


def test_version_is_the_installed_metadata_or_the_build_files(tmp_path: Path) -> None:
    assert_version_matches(
        saga_graphs, "saga-graphs", Path(__file__).resolve().parents[2] / "BUILD", tmp_path
    )

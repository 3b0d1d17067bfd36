"""The public API is exactly __all__ (nothing private leaks, nothing listed is missing); the errors
live in one namespace, saga_graphs.errors."""

import pickle
from pathlib import Path

import pytest

import saga_graphs
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
    public = {n for n in dir(errors) if not n.startswith("_")}
    assert public == set(errors.__all__) == ERRORS
    assert saga_graphs.errors is errors


def test_errors_are_value_errors_under_one_base_and_pickle() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        assert isinstance(obj, type) and issubclass(obj, errors.SagaGraphsError), name
        assert issubclass(obj, ValueError)
        assert obj.__module__ == "saga_graphs.errors", name  # what tracebacks and pickles show
        err = pickle.loads(pickle.dumps(obj("message naming x")))
        assert type(err) is obj and str(err) == "message naming x"


def test_errors_live_in_the_errors_namespace_only() -> None:
    """One place for the typed errors: ``saga_graphs.errors`` (they are not top-level names too)."""
    assert not hasattr(saga_graphs, "CycleError")
    assert set(errors.__all__).isdisjoint(vars(saga_graphs))


def _build_version() -> str | None:
    """``python_artifact(version=...)`` of packages/saga-graphs/BUILD, or None where no BUILD file is (a Pants
    test sandbox holds none; .ci/check_wheels.sh then compares the built wheel with the BUILD file)."""
    import re

    build = Path(__file__).resolve().parents[2] / "BUILD"
    if not build.is_file():
        return None
    found = re.findall(r'^\s*version="([^"]+)",\s*$', build.read_text(), flags=re.MULTILINE)
    assert len(found) == 1, f"{build}: expected exactly one version=..., found {found}"
    return found[0]


def test_version_is_the_installed_metadata_or_a_clear_unknown() -> None:
    from importlib.metadata import PackageNotFoundError, version

    from saga_graphs import _version

    assert "__version__" not in saga_graphs.__all__
    assert (
        _version.distribution_version("no-such-distribution-anywhere")
        == _version.UNKNOWN_VERSION
        == "0+unknown"
    )
    try:
        installed = version("saga-graphs")
    except PackageNotFoundError:  # run from the source tree
        assert saga_graphs.__version__ == "0+unknown"
    else:
        assert saga_graphs.__version__ == installed
        build_version = _build_version()
        if build_version is not None:
            assert installed == build_version, "the installed saga-graphs is not the one in this source tree"


def test_version_with_metadata_is_the_build_files_version(tmp_path: Path) -> None:
    """Metadata like a wheel's, made from the BUILD file's version: ``__version__`` reports it exactly."""
    import os
    import subprocess
    import sys

    build_version = _build_version()
    if build_version is None:
        pytest.skip("no BUILD file here (Pants sandbox); .ci/check_wheels.sh checks the wheel instead")
    info = tmp_path / f"saga_graphs-{build_version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: saga-graphs\nVersion: {build_version}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", "import saga_graphs; print(saga_graphs.__version__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == build_version

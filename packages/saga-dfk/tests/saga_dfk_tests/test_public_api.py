"""The public API is exactly __all__ (upstream Parsl is checked in test_upstream.py); the errors live in
one namespace, saga_dfk.errors, whose surface is its __all__."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import saga_dfk
from saga_dfk import errors

ERRORS = {
    "EmptyTopologyError",
    "InvalidReportError",
    "InvalidSagaConfigError",
    "NoPlannableExecutorError",
    "SagaDfkError",
}


def test_public_api_is_all() -> None:
    public = {name for name in dir(saga_dfk) if not name.startswith("_")}
    assert public == set(saga_dfk.__all__)
    assert sorted(saga_dfk.__all__) == saga_dfk.__all__
    assert not ERRORS & set(saga_dfk.__all__), "errors are under saga_dfk.errors"
    assert "ActualRun" not in public, "a task's run is the executor's parsl_affinity_htex.RunRecord"


def test_errors_namespace_equals_its_all() -> None:
    public = {name for name in dir(errors) if not name.startswith("_")}
    assert public == set(errors.__all__) == ERRORS
    assert saga_dfk.errors is errors


def test_errors_share_one_base_and_pickle() -> None:
    """Planning errors reach task futures, which Parsl may pickle."""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert isinstance(cls, type) and issubclass(cls, errors.SagaDfkError), name
        err = pickle.loads(pickle.dumps(cls("message naming x")))
        assert type(err) is cls and str(err) == "message naming x"
    assert issubclass(errors.InvalidSagaConfigError, ValueError)
    assert issubclass(errors.InvalidReportError, ValueError)


def test_errors_live_in_the_errors_namespace_only() -> None:
    """One place for the typed errors: ``saga_dfk.errors`` (they are not top-level names too)."""
    assert not hasattr(saga_dfk, "EmptyTopologyError")
    assert set(errors.__all__).isdisjoint(vars(saga_dfk))


def _build_version() -> str | None:
    """``python_artifact(version=...)`` of packages/saga-dfk/BUILD, or None where no BUILD file is (a Pants
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

    from saga_dfk import _version

    assert "__version__" not in saga_dfk.__all__
    assert (
        _version.distribution_version("no-such-distribution-anywhere")
        == _version.UNKNOWN_VERSION
        == "0+unknown"
    )
    try:
        installed = version("saga-dfk")
    except PackageNotFoundError:  # run from the source tree
        assert saga_dfk.__version__ == "0+unknown"
    else:
        assert saga_dfk.__version__ == installed
        build_version = _build_version()
        if build_version is not None:
            assert installed == build_version, "the installed saga-dfk is not the one in this source tree"


def test_version_with_metadata_is_the_build_files_version(tmp_path: Path) -> None:
    """Metadata like a wheel's, made from the BUILD file's version: ``__version__`` reports it exactly."""
    import os
    import subprocess
    import sys

    build_version = _build_version()
    if build_version is None:
        pytest.skip("no BUILD file here (Pants sandbox); .ci/check_wheels.sh checks the wheel instead")
    info = tmp_path / f"saga_dfk-{build_version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: saga-dfk\nVersion: {build_version}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", "import saga_dfk; print(saga_dfk.__version__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == build_version

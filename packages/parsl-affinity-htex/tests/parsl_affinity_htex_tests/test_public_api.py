"""The package's public surface is exactly ``__all__`` (what other packages and users may rely on); its
errors and warnings live in one namespace, ``parsl_affinity_htex.errors``, whose surface is its ``__all__``."""

from __future__ import annotations

import pickle
import types
from pathlib import Path

import pytest

import parsl_affinity_htex
from parsl_affinity_htex import errors

#: The ``python -m`` entry points: attributes of the package once imported, not API names.
ENTRY_POINTS = {"interchange", "worker_pool"}

ERRORS = {
    "AffinitySpecError",
    "InsecureTransportWarning",
    "InterchangeLost",
    "InvalidClusterSpecError",
    "NodeUnavailable",
    "NotOnAffinityWorker",
}


def test_public_names_equal_dunder_all() -> None:
    public = {
        name
        for name, value in vars(parsl_affinity_htex).items()
        if not name.startswith("_") and not (isinstance(value, types.ModuleType) and name in ENTRY_POINTS)
    }
    assert public == set(parsl_affinity_htex.__all__)
    assert sorted(parsl_affinity_htex.__all__) == parsl_affinity_htex.__all__
    assert not ERRORS & set(parsl_affinity_htex.__all__), "errors are under parsl_affinity_htex.errors"


def test_contract_names_are_exported() -> None:
    assert {
        "AffinityHighThroughputExecutor",
        "errors",
        "current_node",
        "ConnectedNode",
        "NodeChange",
        "RunRecord",
        "LocalVirtualCluster",
    } <= set(parsl_affinity_htex.__all__)


def test_importing_the_package_does_not_import_the_entry_points() -> None:
    """``python -m`` of a module the package already imported makes runpy warn and run it twice."""
    import subprocess
    import sys

    code = (
        "import sys, parsl_affinity_htex; "
        "print(any(m in sys.modules for m in ('parsl_affinity_htex.interchange', 'parsl_affinity_htex.worker_pool')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": parsl_affinity_htex.child_pythonpath(), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "False"


def test_errors_namespace_equals_its_all() -> None:
    public = {name for name in dir(errors) if not name.startswith("_")}
    assert public == set(errors.__all__) == ERRORS
    assert parsl_affinity_htex.errors is errors


def test_errors_pickle_with_their_context() -> None:
    """They cross Parsl's process boundaries (interchange -> executor, worker -> driver)."""
    node_err = pickle.loads(pickle.dumps(errors.NodeUnavailable("node-x has no pool", node="node-x")))
    assert type(node_err) is errors.NodeUnavailable and node_err.node == "node-x"
    spec_err = pickle.loads(pickle.dumps(errors.AffinitySpecError("bad affinity 'x'", key="affinity")))
    assert type(spec_err) is errors.AffinitySpecError and spec_err.key == "affinity"
    assert str(spec_err) == "bad affinity 'x'"
    for name in ("InterchangeLost", "InvalidClusterSpecError", "NotOnAffinityWorker"):
        err = pickle.loads(pickle.dumps(getattr(errors, name)("message")))
        assert type(err) is getattr(errors, name) and str(err) == "message"
    assert issubclass(errors.InsecureTransportWarning, UserWarning)


def test_errors_live_in_the_errors_namespace_only() -> None:
    """One place for the typed errors: ``parsl_affinity_htex.errors`` (they are not top-level names too)."""
    assert not hasattr(parsl_affinity_htex, "NodeUnavailable")
    assert set(errors.__all__).isdisjoint(vars(parsl_affinity_htex))


def _build_version() -> str | None:
    """``python_artifact(version=...)`` of packages/parsl-affinity-htex/BUILD, or None where no BUILD file is (a Pants
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

    from parsl_affinity_htex import _version

    assert "__version__" not in parsl_affinity_htex.__all__
    assert (
        _version.distribution_version("no-such-distribution-anywhere")
        == _version.UNKNOWN_VERSION
        == "0+unknown"
    )
    try:
        installed = version("parsl-affinity-htex")
    except PackageNotFoundError:  # run from the source tree
        assert parsl_affinity_htex.__version__ == "0+unknown"
    else:
        assert parsl_affinity_htex.__version__ == installed
        build_version = _build_version()
        if build_version is not None:
            assert (
                installed == build_version
            ), "the installed parsl-affinity-htex is not the one in this source tree"


def test_version_with_metadata_is_the_build_files_version(tmp_path: Path) -> None:
    """Metadata like a wheel's, made from the BUILD file's version: ``__version__`` reports it exactly."""
    import os
    import subprocess
    import sys

    build_version = _build_version()
    if build_version is None:
        pytest.skip("no BUILD file here (Pants sandbox); .ci/check_wheels.sh checks the wheel instead")
    info = tmp_path / f"parsl_affinity_htex-{build_version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: parsl-affinity-htex\nVersion: {build_version}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", "import parsl_affinity_htex; print(parsl_affinity_htex.__version__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == build_version

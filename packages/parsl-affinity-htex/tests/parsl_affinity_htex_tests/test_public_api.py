"""The package's public surface is exactly ``__all__`` (what other packages and users may rely on); its
errors and warnings live in one namespace, ``parsl_affinity_htex.errors``, whose surface is its ``__all__``."""

from __future__ import annotations

import pickle
import types
from pathlib import Path

import parsl_affinity_htex
from parsl_affinity_htex import errors
from repo_support.surface import assert_errors_namespace
from repo_support.versions import assert_version_matches

#: The ``python -m`` entry points: attributes of the package once imported, not API names.
ENTRY_POINTS = {"interchange", "worker_pool"}

ERRORS = {
    "AffinitySpecError",
    "InsecureTransportWarning",
    "InterchangeLost",
    "InvalidClusterSpecError",
    "InvalidDataPlaneError",
    "NodeUnavailable",
    "NotOnAffinityWorker",
    "StoredResultLost",
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
        "ExpectedNodes",
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
    assert_errors_namespace(parsl_affinity_htex, errors, ERRORS)


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
    lost = pickle.loads(
        pickle.dumps(errors.StoredResultLost("parsl-affinity-htex-node:n1@h:1", "k1", "gone"))
    )
    assert (lost.store, lost.key, lost.reason, lost.producer_node) == (
        "parsl-affinity-htex-node:n1@h:1",
        "k1",
        "gone",
        "n1",
    )


def test_errors_live_in_the_errors_namespace_only() -> None:
    """One place for the typed errors: ``parsl_affinity_htex.errors`` (they are not top-level names too)."""
    assert not hasattr(parsl_affinity_htex, "NodeUnavailable")


def test_version_is_the_installed_metadata_or_the_build_files(tmp_path: Path) -> None:
    assert_version_matches(
        parsl_affinity_htex, "parsl-affinity-htex", Path(__file__).resolve().parents[2] / "BUILD", tmp_path
    )

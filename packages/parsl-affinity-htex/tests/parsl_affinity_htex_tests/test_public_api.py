"""The package's public surface is exactly ``__all__`` (what other packages and users may rely on)."""

from __future__ import annotations

import types

import parsl_affinity_htex


def test_public_names_equal_dunder_all() -> None:
    # submodules (the ``python -m`` entry points) appear as attributes once imported; they are not API names
    public = {
        name
        for name, value in vars(parsl_affinity_htex).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(parsl_affinity_htex.__all__)


def test_contract_names_are_exported() -> None:
    assert {
        "AffinityHighThroughputExecutor",
        "NodeUnavailable",
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
        env={"PYTHONPATH": ":".join(p for p in sys.path if p), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "False"

"""Import boundaries around saga-dfk, the package that may import all the others.

* none of saga-dfk's modules (src and tests) imports a private module or name of another package --
  it uses saga_graphs, parsl_affinity_htex and k8s_topology through their public surfaces only;
* neither do the repository's scripts that drive all four packages: ``benchmarks/*.py`` and
  ``infra/kind/e2e_tests/*.py`` (checked here because they have no package of their own to test them).

The scans read files next to ``saga_dfk/__init__.py``, next to this test and in those two directories.
Under Pants the BUILD file puts the whole package and the scripts (as plain files) into this test's
sandbox (test files are sandboxed one at a time).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import saga_dfk
from repo_support.imports import PROJECT_PACKAGES, assert_no_private_imports, imports, private_imports

pytestmark = pytest.mark.timeout(120)

OWN = {"saga_dfk", "saga_dfk_tests"}

SRC = Path(saga_dfk.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parents[3]  # packages/saga-dfk/tests/saga_dfk_tests -> the repository root
SCRIPT_DIRS = ("benchmarks", "infra/kind/e2e_tests")


def test_no_module_imports_a_private_module_of_another_package() -> None:
    assert_no_private_imports(SRC, TESTS, OWN)


def _scripts() -> list[Path]:
    files: list[Path] = []
    for name in SCRIPT_DIRS:
        folder = REPO / name
        found = sorted(folder.glob("*.py"))
        assert found, f"no {name}/*.py under {REPO}: the scan would pass vacuously (BUILD dependencies?)"
        files += found
    return files


def test_benchmarks_and_e2e_use_only_the_public_surface_of_our_packages() -> None:
    """``from saga_dfk._demo import x`` in a benchmark breaks whenever saga-dfk reorganizes its privates:
    each offence is named ``file:line: module`` (their own helpers, e.g. ``_common``, are theirs)."""
    offences = private_imports(_scripts(), own=(), only=PROJECT_PACKAGES, relative_to=REPO)
    assert offences == [], "private modules/names of our packages: " + "; ".join(offences)


def test_the_scans_flag_what_they_must(tmp_path: Path) -> None:
    """The scanner itself: private modules and names of our packages are caught once per import, with
    file and line; the script's own helpers, other libraries and public modules are not."""
    probe = tmp_path / "benchmarks" / "bench_probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "from __future__ import annotations\n"
        "from _common import format_table\n"
        "from saga_dfk._demo import fork_join_spec, diamond_spec\n"
        "import parsl_affinity_htex._spec\n"
        "from saga_graphs import _gantt, plan\n"
        "from k8s_topology import errors\n"
        "from parsl.executors.high_throughput import _private_thing\n"
        "import saga_dfk.errors\n"
    )
    assert private_imports([probe], own=(), only=PROJECT_PACKAGES, relative_to=tmp_path) == [
        "benchmarks/bench_probe.py:3: saga_dfk._demo",
        "benchmarks/bench_probe.py:4: parsl_affinity_htex._spec",
        "benchmarks/bench_probe.py:5: saga_graphs._gantt",
    ]
    assert "parsl.executors.high_throughput._private_thing" in {n for _, n in imports(probe)}
    own = [name for _, name in imports(SRC / "_dfk.py") if name.startswith("saga_dfk")]
    assert not own, "_dfk.py imports its own modules relatively (level > 0): the scan must not see them"
    assert any(n.startswith("parsl_affinity_htex") for _, n in imports(SRC / "_dfk.py"))

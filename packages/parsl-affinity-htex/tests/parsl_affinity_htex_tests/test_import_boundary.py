"""parsl-affinity-htex's import boundary: it is a Parsl executor and nothing more -- importing it (and its
``python -m`` entry points) never imports SAGA or the project's other packages, and none of its modules
(src and tests) imports another package's private module or name.

The source scan reads the files next to ``parsl_affinity_htex/__init__.py`` and next to this test: the
whole package and test directory in a plain pytest run; under Pants, the BUILD file makes the whole
package a dependency of this test (test files are sandboxed one at a time).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import parsl_affinity_htex
from repo_support.imports import (
    PROJECT_PACKAGES,
    assert_no_private_imports,
    imports,
    imports_of,
    modules_after,
    package_sources,
    private_imports,
)

pytestmark = pytest.mark.timeout(120)

OWN = {"parsl_affinity_htex", "parsl_affinity_htex_tests"}
#: Never imported by the executor, its entry points or its tests.
FORBIDDEN = {"saga", "saga_graphs", "saga_dfk", "k8s_topology"}

SRC = Path(parsl_affinity_htex.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent

_IMPORT_SCRIPT = """
import parsl_affinity_htex
import parsl_affinity_htex.errors
snapshot("package")
import parsl_affinity_htex.interchange
import parsl_affinity_htex.worker_pool
snapshot("entry_points")
"""


def test_a_clean_interpreter_importing_the_package_imports_neither_saga_nor_saga_graphs() -> None:
    seen = modules_after(_IMPORT_SCRIPT)
    assert not FORBIDDEN & set(seen["start"]), "the interpreter preloads them: inconclusive"
    assert "parsl_affinity_htex" in seen["package"]
    for label in ("package", "entry_points"):
        assert not FORBIDDEN & set(seen[label]), (label, sorted(FORBIDDEN & set(seen[label])))


def test_no_module_imports_a_private_module_of_another_package() -> None:
    assert_no_private_imports(SRC, TESTS, OWN)


def test_no_module_imports_saga_or_the_other_project_packages() -> None:
    assert imports_of(package_sources(SRC, TESTS), FORBIDDEN) == []
    assert PROJECT_PACKAGES - {"parsl_affinity_htex"} <= FORBIDDEN


def test_the_scan_flags_what_it_must(tmp_path: Path) -> None:
    """The scanner itself: another package's private module or name is caught (once per import), the
    package's own privates, dunder modules and relative imports are not."""
    probe = tmp_path / "pkg" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "from __future__ import annotations\n"
        "import saga_dfk._cli\n"
        "from parsl.dataflow import _internal\n"
        "from k8s_topology._client import a, b\n"
        "from parsl_affinity_htex._spec import parse\n"
        "from . import _sibling\n"
        "import parsl.executors.high_throughput.interchange\n"
    )
    assert private_imports([probe], OWN) == [
        "pkg/probe.py:2: saga_dfk._cli",
        "pkg/probe.py:3: parsl.dataflow._internal",
        "pkg/probe.py:4: k8s_topology._client",
    ]
    own = [name for _, name in imports(SRC / "_executor.py") if name.startswith("parsl_affinity_htex._")]
    assert own, "the scan must see the package's own private imports (allowed)"

"""saga-graphs' import boundary: it never imports Parsl (or the project's other packages), its HEFT
never imports SAGA, and none of its modules (src and tests) imports another package's private
module or name.

The source scan reads the files next to ``saga_graphs/__init__.py`` and next to this test: the whole
package and test directory in a plain pytest run; under Pants, the BUILD file makes the whole
``saga_graphs`` package a dependency of the tests (test files are sandboxed one at a time).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import saga_graphs
from repo_support.imports import assert_no_private_imports, imports, imports_of, is_private, modules_after

pytestmark = pytest.mark.timeout(120)

SRC = Path(saga_graphs.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent
OWN = {SRC.name, TESTS.name}  # saga_graphs, saga_graphs_tests
#: Never imported by saga_graphs itself (its tests may use SAGA; nothing here uses the others).
FORBIDDEN_IN_SRC = {"parsl", "parsl_affinity_htex", "k8s_topology", "saga_dfk"}

_IMPORT_SCRIPT = """
import saga_graphs as sg
snapshot("after_import")
tg = sg.TaskGraph()
tg.add_task("a", 1.0)
tg.add_task("b", 2.0)
tg.add_dependency("a", "b", 1e6)
net = sg.Network(default_bandwidth=sg.DEFAULT_BANDWIDTH)
net.add_node("n1", slots=2)
net.add_node("n2")
fixed = sg.Schedule({"a": sg.Placement("a", "n1", 0, 0.0, 1.0)})
sg.plan(tg, net, "HEFT")
sg.plan(tg, net, "HEFT", fixed=fixed, node_available_at={"n2": 0.5}, min_start_time=0.25)
snapshot("after_heft")
"""


def test_importing_saga_graphs_and_planning_with_heft_imports_neither_parsl_nor_saga() -> None:
    seen = modules_after(_IMPORT_SCRIPT)
    assert not {"parsl", "saga"} & set(seen["start"]), "the interpreter preloads them: inconclusive"
    assert not (FORBIDDEN_IN_SRC | {"saga"}) & set(seen["after_import"]), seen["after_import"]
    # The default HEFT (also rolling, with fixed tasks and node availability) runs on plain arrays.
    assert not (FORBIDDEN_IN_SRC | {"saga", "pydantic", "networkx"}) & set(seen["after_heft"]), seen[
        "after_heft"
    ]


def test_no_module_imports_a_private_module_of_another_package() -> None:
    assert_no_private_imports(SRC, TESTS, OWN)


def test_the_package_never_imports_parsl_or_the_other_project_packages() -> None:
    assert imports_of(sorted(SRC.glob("*.py")), FORBIDDEN_IN_SRC) == []


def test_the_scan_sees_imports_it_must_flag() -> None:
    """The scanner itself: private module paths and private names of other packages are caught,
    the package's own private modules and dunder modules are not."""
    assert is_private("saga_dfk._cli") and is_private("parsl.dataflow.dflow._internal")
    assert is_private("k8s_topology._client.call")  # from k8s_topology._client import call
    assert is_private("parsl_affinity_htex._spec")
    assert not is_private("__future__.annotations") and not is_private("saga.schedulers.heft")
    own = [name for _, name in imports(SRC / "_plan.py") if name.startswith("saga_graphs._")]
    assert own, "the scan must see the package's own private imports (allowed)"

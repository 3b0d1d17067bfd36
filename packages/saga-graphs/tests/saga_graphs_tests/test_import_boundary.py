"""saga-graphs' import boundary: it never imports Parsl (or the project's other packages), its HEFT
never imports SAGA, and none of its modules (src and tests) imports another package's private
module or name.

The source scan reads the files next to ``saga_graphs/__init__.py`` and next to this test: the whole
package and test directory in a plain pytest run; under Pants, the BUILD file makes the whole
``saga_graphs`` package a dependency of the tests (test files are sandboxed one at a time).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import saga_graphs

pytestmark = pytest.mark.timeout(120)

OWN = {"saga_graphs", "saga_graphs_tests"}
#: Never imported by saga_graphs itself (its tests may use SAGA; nothing here uses the others).
FORBIDDEN_IN_SRC = {"parsl", "parsl_affinity_htex", "k8s_topology", "saga_dfk"}

SRC = Path(saga_graphs.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent


def _fresh_python(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a new interpreter (clean ``sys.modules``); it prints a JSON dict last."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, list[str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


_IMPORT_SCRIPT = """
import json, sys
roots = lambda: sorted({m.split(".")[0] for m in sys.modules})
before = roots()
import saga_graphs as sg
after_import = roots()
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
print(json.dumps({"before": before, "after_import": after_import, "after_heft": roots()}))
"""


def test_importing_saga_graphs_and_planning_with_heft_imports_neither_parsl_nor_saga() -> None:
    seen = _fresh_python(_IMPORT_SCRIPT)
    assert not {"parsl", "saga"} & set(seen["before"]), "the interpreter preloads them: inconclusive"
    assert not (FORBIDDEN_IN_SRC | {"saga"}) & set(seen["after_import"]), seen["after_import"]
    # The default HEFT (also rolling, with fixed tasks and node availability) runs on plain arrays.
    assert not (FORBIDDEN_IN_SRC | {"saga", "pydantic", "networkx"}) & set(seen["after_heft"]), seen[
        "after_heft"
    ]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in ``path``: modules, and ``from m import name`` as
    ``m.name`` (the name may be a module too). Relative imports are the package's own."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            out.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return out


def _private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def _sources() -> list[Path]:
    files = sorted(SRC.glob("*.py")) + sorted(TESTS.glob("*.py"))
    assert SRC / "__init__.py" in files and Path(__file__).resolve() in files
    return files


def test_no_module_imports_a_private_module_of_another_package() -> None:
    offences = [
        f"{path.relative_to(path.parents[1])}:{line}: {name}"
        for path in _sources()
        for line, name in _imports(path)
        if name.split(".")[0] not in OWN and _private(name)
    ]
    assert offences == [], "private modules/names of other packages: " + "; ".join(offences)


def test_the_package_never_imports_parsl_or_the_other_project_packages() -> None:
    offences = [
        f"{path.name}:{line}: {name}"
        for path in sorted(SRC.glob("*.py"))
        for line, name in _imports(path)
        if name.split(".")[0] in FORBIDDEN_IN_SRC
    ]
    assert offences == [], offences


def test_the_scan_sees_imports_it_must_flag() -> None:
    """The scanner itself: private module paths and private names of other packages are caught,
    the package's own private modules and dunder modules are not."""
    assert _private("saga_dfk._cli") and _private("parsl.dataflow.dflow._internal")
    assert _private("k8s_topology._client.call")  # from k8s_topology._client import call
    assert _private("parsl_affinity_htex._spec")
    assert not _private("__future__.annotations") and not _private("saga.schedulers.heft")
    own = [name for line, name in _imports(SRC / "_plan.py") if name.startswith("saga_graphs._")]
    assert own, "the scan must see the package's own private imports (allowed)"

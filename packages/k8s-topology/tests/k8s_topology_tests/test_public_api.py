"""The public surface: exactly ``__all__``, one errors namespace, and the import boundaries of the contract.

k8s-topology never imports SAGA / saga_graphs; Parsl is its optional ``parsl`` extra, needed only by
``PinnedKubernetesProvider`` (loaded lazily); no module of it, source or test, imports another package's
``_private`` module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import k8s_topology
from repo_support.imports import imports
from repo_support.versions import assert_version_matches

PACKAGE = Path(__file__).resolve().parents[2]  # packages/k8s-topology
OTHER_PACKAGES = ("saga", "saga_graphs", "parsl", "parsl_affinity_htex", "saga_dfk")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    # -I would drop PYTHONPATH (the source roots); a fresh interpreter is the clean sys.modules.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_public_names_are_exactly_all() -> None:
    public = {
        n
        for n in dir(k8s_topology)
        # Public submodules other than errors (e.g. a test-support module) are modules, not API names.
        if not n.startswith("_")
        and not (isinstance(getattr(k8s_topology, n), types.ModuleType) and n != "errors")
    }
    public.add("PinnedKubernetesProvider")  # loaded lazily via module __getattr__ (it imports parsl)
    assert public == set(k8s_topology.__all__)
    for name in k8s_topology.__all__:
        assert getattr(k8s_topology, name) is not None


def test_every_error_is_in_the_errors_namespace_shares_a_base_and_pickles() -> None:
    import pickle

    from k8s_topology import errors

    assert set(errors.__all__) == {
        n for n, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, Exception)
    }
    assert k8s_topology.K8sTopologyError is errors.K8sTopologyError
    for name in errors.__all__:
        obj = getattr(errors, name)
        assert issubclass(obj, errors.K8sTopologyError)
        assert obj.__module__ == "k8s_topology.errors"
        err = obj("message naming the bad value")
        assert str(pickle.loads(pickle.dumps(err))) == "message naming the bad value"
    # Nothing raised on purpose lives elsewhere: every K8sTopologyError subclass is listed.
    stack, seen = [errors.K8sTopologyError], set()
    while stack:
        cls = stack.pop()
        seen.add(cls.__name__)
        stack.extend(cls.__subclasses__())
    assert seen <= set(errors.__all__)


def test_importing_k8s_topology_imports_neither_saga_nor_parsl() -> None:
    """A fresh interpreter: discovery, topology and watching load without Parsl; the provider loads it."""
    code = (
        "import sys, json, k8s_topology;"
        f"others = {OTHER_PACKAGES!r};"
        "core = sorted(m for m in sys.modules if m.split('.')[0] in others);"
        "k8s_topology.PinnedKubernetesProvider;"
        "full = sorted({m.split('.')[0] for m in sys.modules} & set(others));"
        "print(json.dumps([core, full]))"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    core, full = json.loads(out.stdout.strip().splitlines()[-1])
    assert core == []
    assert full == ["parsl"]


def test_without_parsl_installed_only_the_provider_fails_naming_the_extra() -> None:
    """Parsl made unimportable (as in ``pip install k8s-topology`` without ``[parsl]``)."""
    code = """
import sys
class NoParsl:
    def find_spec(self, name, path=None, target=None):
        if name == "parsl" or name.startswith("parsl."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoParsl())
import k8s_topology as kt
from k8s_topology import errors
kt.Topology([]).to_network_spec()
kt.NodeFilter(label_selector="a=b", tolerations=[{"key": "k", "operator": "Exists"}])
kt.NodeWatch  # the watch module is loaded at import already
try:
    kt.PinnedKubernetesProvider
except ImportError as exc:
    print("IMPORT-ERROR", exc)
"""
    out = _run(code)
    assert out.returncode == 0, out.stderr
    (line,) = (ln for ln in out.stdout.splitlines() if ln.startswith("IMPORT-ERROR"))
    assert "pip install 'k8s-topology[parsl]'" in line
    assert "PinnedKubernetesProvider needs Parsl" in line


@pytest.mark.parametrize("tree", ["src", "tests"])
def test_no_private_module_of_another_package_is_imported(tree: str) -> None:
    """Sources and tests use other first-party packages through their public names only (scanned with
    ast, so lazy imports inside functions count too); the sources never name SAGA."""
    own = ("k8s_topology", "k8s_topology_tests")
    bad: list[str] = []
    for path in sorted((PACKAGE / tree).rglob("*.py")):
        for lineno, name in imports(path):
            parts = name.split(".")
            where = f"{path.relative_to(PACKAGE)}:{lineno}: {name}"
            if parts[0] in own:
                continue
            if parts[0] in OTHER_PACKAGES and any(
                p.startswith("_") and not p.startswith("__") for p in parts[1:]
            ):
                bad.append(where)
            if tree == "src" and parts[0] in ("saga", "saga_graphs", "parsl_affinity_htex", "saga_dfk"):
                bad.append(where)
    assert bad == []


def test_parsl_is_imported_by_the_provider_module_only() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / "src").rglob("*.py")
        if any(name.split(".")[0] == "parsl" for _, name in imports(path))
    )
    assert users == ["src/k8s_topology/_provider.py"]


def test_names_that_moved_say_where_they_went() -> None:
    with pytest.raises(AttributeError, match=r"k8s_topology.errors.NoUsableNodes"):
        _ = k8s_topology.NoUsableNodes  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match=r"k8s_topology.NodeWatch"):
        _ = k8s_topology.watch_nodes  # type: ignore[attr-defined]


# ---------------------------------------------------------------- __version__ (a dunder, not in __all__)


def test_version_is_the_installed_metadata_or_the_build_files(tmp_path: Path) -> None:
    assert_version_matches(k8s_topology, "k8s-topology", PACKAGE / "BUILD", tmp_path)
